"""Routes of the province rule sets (xueji/changes: rulesets, views_rulesets, api_rulesets).

Reading (``change.view``): every unit reads the national layer and its own province's; the
samples name 广东 (44), so the 成都 actors get 404 like a missing row. Editing and
publishing (``ruleset.edit``): the province and national levels only, so the matrix's
county reviewers and school clerks get 403; the allowed cases (a province editing its own,
the national level any) are in xueji/changes/tests/test_rulesets_*.
"""

from tests.authz.vocab import AUTHORITY, LIST, NONE, OBJECT, Policy, Sample
from xueji.accounts.rules import Permission


def _publish(world) -> dict:
    return {
        "province_code": "44",
        "rules": {"transfer": {"step_days": 8}},
        "note": "矩阵测试",
    }


POLICY: dict[str, Policy] = {
    "api:get_effective_rules": Policy(
        "api/rules",
        Permission.CHANGE_VIEW,
        OBJECT,
        sample=Sample("GET", "/api/rules?province=44"),
    ),
    "api:list_rule_versions": Policy(
        "api/rules/versions",
        Permission.CHANGE_VIEW,
        OBJECT,
        sample=Sample("GET", "/api/rules/versions?province=44"),
    ),
    "api:publish_rule_version": Policy(
        "api/rules/versions",
        Permission.RULESET_EDIT,
        NONE,
        levels=AUTHORITY,
        methods=("POST",),
        sample=Sample("POST", "/api/rules/versions", _publish, ok=201),
    ),
    "rulesets:overview": Policy(
        "rules/", Permission.CHANGE_VIEW, LIST, sample=Sample("GET", "/rules/")
    ),
    "rulesets:version": Policy(
        "rules/versions/<int:ruleset_id>/",
        Permission.CHANGE_VIEW,
        OBJECT,
        sample=Sample("GET", "/rules/versions/{ruleset}/"),
    ),
    "rulesets:edit": Policy(
        "rules/<str:layer>/edit/",
        Permission.RULESET_EDIT,
        OBJECT,
        levels=AUTHORITY,
        methods=("GET", "POST"),
        sample=Sample("GET", "/rules/44/edit/"),
    ),
}


def setup(world) -> dict:
    """A published 广东 version for the version page's sample."""
    from tests.factories import authority_user
    from xueji.changes.rulesets import ruleset_publish

    province = authority_user("440000")
    ruleset = ruleset_publish(
        actor=province,
        province_code="44",
        rules={"suspend": {"step_days": 7}},
        note="矩阵：广东休学时限",
    )
    return {"ruleset": ruleset.pk}
