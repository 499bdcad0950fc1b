"""Province rule sets through the services and selectors: defaults, merging, versions,
scheduling, validation, who may publish and who may read."""

from datetime import timedelta

import pytest

from tests.factories import authority_user
from xueji import clock
from xueji.audit.models import AuditEvent
from xueji.changes import rulesets
from xueji.changes.models import RuleSet
from xueji.changes.rules import (
    DEFAULT_RULES,
    TRANSFER_CHAIN,
    ChangeType,
    Party,
    validate_rule_overrides,
)
from xueji.changes.rulesets import (
    effective_rules,
    overrides_against,
    rules_diff,
    ruleset_history,
    ruleset_publish,
    rulesets_visible,
)
from xueji.changes.services import rule_in_force
from xueji.errors import Conflict, Forbidden, NotFound, ValidationFailed

pytestmark = pytest.mark.django_db

REORDERED = [
    Party.RECEIVING_SCHOOL,
    Party.SENDING_SCHOOL,
    Party.RECEIVING_AUTHORITY,
    Party.SENDING_AUTHORITY,
]


def publish(actor, province_code="44", rules=None, note="调整", **kwargs) -> RuleSet:
    return ruleset_publish(
        actor=actor,
        province_code=province_code,
        rules=rules if rules is not None else {"transfer": {"step_days": 8}},
        note=note,
        **kwargs,
    )


def codes(error: ValidationFailed) -> set[tuple[str, str]]:
    return {(e.field, e.code) for e in error.errors}


# ----------------------------------------------------------------- defaults and merging


def test_national_version_1_is_the_code_defaults():
    """The data migration publishes national v1 with no overrides, in force since 1970."""
    national = RuleSet.objects.get(province_code="", version=1)
    assert national.rules == {}
    assert national.effective_from.year == 1970


def test_defaults_apply_when_the_province_has_no_rule_set():
    effective = effective_rules("44", clock.now())
    assert effective.province is None
    assert effective.national is not None and effective.national.version == 1
    for item in effective.types:
        assert item.rule == DEFAULT_RULES[item.change_type]
        assert {s.layer for s in item.sources.values()} == {"default"}
    assert [t.change_type for t in effective.types] == list(ChangeType.values)


def test_defaults_apply_when_there_is_no_rule_set_at_all():
    RuleSet.objects.all().delete()
    effective = effective_rules("44", clock.now())
    assert effective.national is None and effective.province is None
    assert {t.change_type: t.rule for t in effective.types} == DEFAULT_RULES


def test_province_override_merges_over_national(national_user, province_user):
    national = publish(
        national_user,
        province_code="",
        rules={"transfer": {"step_days": 8, "materials": ["application", "residence"]}},
    )
    province = publish(province_user, rules={"transfer": {"chain": REORDERED, "step_days": 6}})
    # when
    guangdong = {t.change_type: t for t in effective_rules("44", clock.now()).types}
    sichuan = {t.change_type: t for t in effective_rules("51", clock.now()).types}
    # then: 广东 takes its own chain and days, the national materials, the default blocks
    transfer = guangdong["transfer"]
    assert list(transfer.rule.chain) == REORDERED
    assert transfer.rule.step_days == 6
    assert list(transfer.rule.materials) == ["application", "residence"]
    assert transfer.rule.blocked == DEFAULT_RULES["transfer"].blocked
    assert transfer.sources["chain"].layer == "province"
    assert transfer.sources["chain"].version == province.version
    assert transfer.sources["materials"].layer == "national"
    assert transfer.sources["materials"].version == national.version == 2
    assert transfer.sources["blocked"].layer == "default"
    assert transfer.sources["chain"].label == "广东省第1版"
    assert transfer.sources["materials"].label == "全国第2版"
    # 四川 has no set of its own: the national layer over the defaults
    assert list(sichuan["transfer"].rule.chain) == list(TRANSFER_CHAIN)
    assert sichuan["transfer"].rule.step_days == 8
    # the engine reads the same rule
    in_force = rule_in_force("transfer", province_code="44", at=clock.now())
    assert in_force.rule == transfer.rule
    assert in_force.province == province and in_force.national == national


def test_effective_rules_of_the_national_layer_alone(national_user, province_user):
    publish(province_user, rules={"suspend": {"step_days": 3}})
    effective = effective_rules("", clock.now())
    assert effective.province is None
    suspend = next(t for t in effective.types if t.change_type == "suspend")
    assert suspend.rule.step_days == 10


# ----------------------------------------------------------------- versions


def test_versions_are_only_added_and_audited_with_a_diff(province_user):
    first = publish(province_user, rules={"transfer": {"step_days": 8}}, note="第一次")
    second = publish(
        province_user,
        rules={"transfer": {"step_days": 5}, "suspend": {"enabled": False}},
        note="第二次",
    )
    assert (first.version, second.version) == (1, 2)
    first.refresh_from_db()
    assert first.rules == {"transfer": {"step_days": 8}}  # untouched
    assert second.created_by_username == province_user.username
    event = AuditEvent.objects.filter(action="ruleset.publish", object_id=str(second.pk)).get()
    assert event.detail["version"] == 2
    assert event.detail["changes"] == [
        {"path": "transfer.step_days", "before": 8, "after": 5},
        {"path": "suspend.enabled", "before": None, "after": False},
    ]
    assert "第2版" in event.summary


def test_each_layer_numbers_its_own_versions(national_user, province_user):
    assert publish(province_user).version == 1
    assert publish(national_user, province_code="51").version == 1
    assert publish(national_user, province_code="").version == 2  # after the migration's v1


def test_the_latest_version_replaces_the_layer_as_a_whole(province_user):
    publish(province_user, rules={"transfer": {"step_days": 8}, "suspend": {"step_days": 3}})
    publish(province_user, rules={"suspend": {"step_days": 3}})
    transfer = rule_in_force("transfer", province_code="44", at=clock.now()).rule
    assert transfer.step_days == 10


def test_identical_content_is_not_published_again(province_user):
    publish(province_user, rules={"transfer": {"step_days": 8}})
    with pytest.raises(ValidationFailed) as caught:
        publish(province_user, rules={"transfer": {"step_days": 8}})
    assert ("rules", "ruleset.unchanged") in codes(caught.value)


def test_empty_type_entries_are_left_out(province_user):
    ruleset = publish(province_user, rules={"transfer": {"step_days": 8}, "suspend": {}})
    assert ruleset.rules == {"transfer": {"step_days": 8}}


def test_a_racing_publisher_gets_the_next_number(province_user, monkeypatch):
    """Another publisher takes version 2 between our read of the newest version and our
    insert: the unique constraint refuses ours, and the retry takes version 3."""
    publish(province_user, rules={"transfer": {"step_days": 8}})
    check = rulesets._against_latest
    raced: list[RuleSet] = []

    def racing_check(latest, content, effective_from):
        if not raced:
            raced.append(
                RuleSet.objects.create(
                    province_code="44",
                    version=latest.version + 1,
                    effective_from=latest.effective_from,
                    rules={"skip": {"step_days": 2}},
                    note="别人",
                    created_at=clock.now(),
                )
            )
        return check(latest, content, effective_from)

    monkeypatch.setattr(rulesets, "_against_latest", racing_check)
    ruleset = publish(province_user, rules={"transfer": {"step_days": 5}})
    assert ruleset.version == 3
    versions = RuleSet.objects.filter(province_code="44").values_list("version", "note")
    assert sorted(versions) == [(1, "调整"), (2, "别人"), (3, "调整")]


def test_a_publisher_that_keeps_losing_gets_a_conflict(province_user, monkeypatch):
    create = RuleSet.objects.create

    def always_taken(**kwargs):
        create(**{**kwargs, "note": "别人"})
        return create(**kwargs)

    monkeypatch.setattr(RuleSet.objects, "create", always_taken)
    with pytest.raises(Conflict) as caught:
        publish(province_user)
    assert caught.value.code == "ruleset.concurrent_publish"


# ----------------------------------------------------------------- scheduling


def test_a_scheduled_version_is_not_in_force_before_its_time(province_user):
    now = clock.now()
    later = now + timedelta(days=10)
    ruleset = publish(province_user, rules={"transfer": {"step_days": 5}}, effective_from=later)
    # before its time
    assert effective_rules("44", now).province is None
    assert rule_in_force("transfer", province_code="44", at=now).rule.step_days == 10
    assert (
        rule_in_force("transfer", province_code="44", at=later - timedelta(seconds=1)).province
        is None
    )
    # from its time on
    at_time = effective_rules("44", later)
    assert at_time.province == ruleset
    transfer = next(t for t in at_time.types if t.change_type == "transfer")
    assert transfer.rule.step_days == 5
    assert rulesets.ruleset_status(ruleset, in_force=None, now=now) == "scheduled"


def test_a_version_may_not_take_effect_before_the_scheduled_one(province_user):
    now = clock.now()
    publish(
        province_user, rules={"transfer": {"step_days": 5}}, effective_from=now + timedelta(days=10)
    )
    with pytest.raises(ValidationFailed) as caught:
        publish(province_user, rules={"transfer": {"step_days": 6}})
    assert ("effective_from", "ruleset.before_latest") in codes(caught.value)
    # replacing it at the same time is allowed, and the newer version wins
    replacement = publish(
        province_user, rules={"transfer": {"step_days": 6}}, effective_from=now + timedelta(days=10)
    )
    in_force = rule_in_force("transfer", province_code="44", at=now + timedelta(days=11))
    assert in_force.province == replacement and in_force.rule.step_days == 6


def test_effective_from_may_not_lie_in_the_past(province_user):
    with pytest.raises(ValidationFailed) as caught:
        publish(province_user, effective_from=clock.now() - timedelta(days=1))
    assert ("effective_from", "ruleset.backdated") in codes(caught.value)


def test_effective_from_defaults_to_now(province_user):
    before = clock.now()
    ruleset = publish(province_user)
    assert before <= ruleset.effective_from <= clock.now()


# ----------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "rules, field, code",
    [
        ({"teleport": {"step_days": 3}}, "teleport", "rule.type_unknown"),
        ({"transfer": {"chain": ["school", "authority"]}}, "transfer.chain", "rule.chain_invalid"),
        (
            {"transfer": {"chain": ["receiving_school", "receiving_school", "sending_school"]}},
            "transfer.chain",
            "rule.chain_invalid",
        ),
        (
            {"transfer": {"chain": ["receiving_school", "receiving_authority", "sending_school"]}},
            "transfer.chain",
            "rule.chain_incomplete",
        ),
        ({"suspend": {"chain": ["receiving_school"]}}, "suspend.chain", "rule.chain_invalid"),
        ({"suspend": {"chain": []}}, "suspend.chain", "rule.chain_invalid"),
        ({"transfer": {"step_days": 11}}, "transfer.step_days", "rule.days_invalid"),
        ({"transfer": {"step_days": 0}}, "transfer.step_days", "rule.days_invalid"),
        ({"transfer": {"step_days": True}}, "transfer.step_days", "rule.days_invalid"),
        ({"death": {"step_days": 61}}, "death.step_days", "rule.days_invalid"),
        (
            {"transfer": {"deadlines": {"sending_school": 12}}},
            "transfer.deadlines.sending_school",
            "rule.days_invalid",
        ),
        (
            {"suspend": {"deadlines": {"sending_school": 5}}},
            "suspend.deadlines.sending_school",
            "rule.party_unknown",
        ),
        (
            {"transfer": {"blocked": [{"from_md": "13-01"}]}},
            "transfer.blocked[0].from_md",
            "rule.md_invalid",
        ),
        (
            {"transfer": {"blocked": [{"semester": 1}, {"to_md": "02-30"}]}},
            "transfer.blocked[1].to_md",
            "rule.md_invalid",
        ),
        (
            {"transfer": {"blocked": [{"grades": ["99"]}]}},
            "transfer.blocked[0].grades",
            "rule.grade_unknown",
        ),
        (
            {"transfer": {"blocked": [{"semester": 3}]}},
            "transfer.blocked[0].semester",
            "rule.semester_invalid",
        ),
        (
            {"transfer": {"blocked": [{"from_md": 101}]}},
            "transfer.blocked[0].from_md",
            "rule.md_invalid",
        ),
        ({"transfer": {"blocked": "always"}}, "transfer.blocked", "rule.block_invalid"),
        (
            {"transfer": {"materials": ["application", "passport"]}},
            "transfer.materials[1]",
            "rule.material_unknown",
        ),
        (
            {"transfer": {"materials": ["application", "application"]}},
            "transfer.materials[1]",
            "rule.material_repeated",
        ),
        ({"transfer": {"enabled": "no"}}, "transfer.enabled", "rule.enabled_invalid"),
        ({"transfer": {"colour": "blue"}}, "transfer.colour", "rule.key_unknown"),
        ({"transfer": {"options": []}}, "transfer.options", "rule.options_invalid"),
        ({"transfer": "off"}, "transfer", "rule.invalid"),
    ],
)
def test_invalid_rules_are_refused_with_their_path(province_user, rules, field, code):
    with pytest.raises(ValidationFailed) as caught:
        publish(province_user, rules=rules)
    assert (field, code) in codes(caught.value)
    assert not RuleSet.objects.filter(province_code="44").exists()


def test_every_error_is_listed_at_once(province_user):
    with pytest.raises(ValidationFailed) as caught:
        publish(
            province_user,
            rules={
                "transfer": {"chain": ["receiving_school"], "step_days": 30},
                "death": {"materials": ["nothing"]},
                "bogus": {},
            },
            note="",
        )
    assert {
        ("transfer.chain", "rule.chain_incomplete"),
        ("transfer.step_days", "rule.days_invalid"),
        ("death.materials[0]", "rule.material_unknown"),
        ("bogus", "rule.type_unknown"),
        ("note", "ruleset.note_required"),
    } <= codes(caught.value)


def test_death_allows_up_to_sixty_working_days(province_user):
    ruleset = publish(province_user, rules={"death": {"step_days": 60}})
    assert ruleset.rules == {"death": {"step_days": 60}}


def test_a_transfer_chain_in_another_order_of_all_four_is_valid():
    assert validate_rule_overrides({"transfer": {"chain": REORDERED}}, national=False) == []


def test_a_rule_set_that_is_not_an_object_is_refused():
    errors = validate_rule_overrides(["transfer"], national=True)  # type: ignore[arg-type]
    assert [(e.field, e.code) for e in errors] == [("rules", "rule.invalid")]


def test_an_unknown_province_is_refused(national_user):
    with pytest.raises(ValidationFailed) as caught:
        publish(national_user, province_code="77")
    assert ("province_code", "ruleset.province_unknown") in codes(caught.value)


# ----------------------------------------------------------------- who may publish


def test_county_and_city_reviewers_are_refused(county_user, city_user):
    for actor in (county_user, city_user):
        with pytest.raises(Forbidden):
            publish(actor)
    assert not RuleSet.objects.filter(province_code="44").exists()


def test_school_clerks_are_refused(school_user):
    with pytest.raises(Forbidden):
        publish(school_user)


def test_a_province_edits_only_its_own_rules(province_user):
    assert publish(province_user, province_code="44").province_code == "44"
    with pytest.raises(NotFound):
        publish(province_user, province_code="51")
    with pytest.raises(Forbidden):
        publish(province_user, province_code="")


def test_the_national_level_edits_every_layer(national_user):
    assert publish(national_user, province_code="").province_code == ""
    assert publish(national_user, province_code="44").province_code == "44"
    assert publish(national_user, province_code="51").province_code == "51"
    assert publish(national_user, province_code="99").province_code == "99"


# ----------------------------------------------------------------- who may read


def test_rule_sets_are_visible_nationally(national_user, province_user):
    publish(province_user)
    publish(national_user, province_code="51")
    visible = set(rulesets_visible(national_user).values_list("province_code", "version"))
    assert {("", 1), ("44", 1), ("51", 1)} <= visible
    assert [r.province_code for r in ruleset_history(national_user, "44")] == ["44"]


def test_a_province_and_its_lower_units_see_their_own_and_the_national(
    national_user, province_user, county_user, school_user
):
    publish(province_user)
    publish(national_user, province_code="51")
    for actor in (province_user, county_user, school_user):
        visible = set(rulesets_visible(actor).values_list("province_code", flat=True))
        assert visible == {"", "44"}
        assert len(ruleset_history(actor, "44")) == 1
        assert len(ruleset_history(actor, "")) == 1
        with pytest.raises(NotFound):
            ruleset_history(actor, "51")


def test_readers_without_change_view_are_refused(db):
    statistician = authority_user("440000", roles=("statistician",))
    with pytest.raises(Forbidden):
        rulesets_visible(statistician)


# ----------------------------------------------------------------- pure helpers


def test_overrides_keep_only_what_differs_from_the_layer_below():
    below = {"transfer": DEFAULT_RULES["transfer"].as_json()}
    wanted = {
        "transfer": {
            **DEFAULT_RULES["transfer"].as_json(),
            "step_days": 7,
            # same materials, listed differently: not a change
            "materials": ["application"],
        }
    }
    assert overrides_against(below, wanted) == {"transfer": {"step_days": 7}}


def test_the_diff_names_each_changed_key():
    before = {"transfer": {"step_days": 8}, "suspend": {"enabled": False}}
    after = {"transfer": {"step_days": 8, "materials": ["residence"]}}
    assert [(c.path, c.before, c.after) for c in rules_diff(before, after)] == [
        ("transfer.materials", None, ["residence"]),
        ("suspend.enabled", False, None),
    ]
