"""Routes of the dropout-control ledger (xueji/changes/ledger.py): /dropouts/ and
/api/dropouts.

Reading and adding a follow-up: the school holding the record and the authorities above it
(clerks and reviewers alike; out of scope 404). Closing a case with a reason: authorities
only — a school account is refused (403) whether or not the case is its own.
"""

from tests.authz.vocab import LIST, OBJECT, Policy, Sample
from xueji.accounts.models import UnitKind
from xueji.accounts.rules import Permission

V = Permission
AUTHORITIES = frozenset(kind for kind in UnitKind.values if kind != UnitKind.SCHOOL)


def _follow_up(world) -> dict:
    return {"on": "2025-06-02", "method": "phone", "result": "矩阵：电话联系家长"}


POLICY: dict[str, Policy] = {
    "dropouts:list": Policy(
        "dropouts/", V.DROPOUT_VIEW, LIST, sample=Sample("GET", "/dropouts/?state=")
    ),
    "dropouts:detail": Policy(
        "dropouts/<int:case_id>/",
        V.DROPOUT_VIEW,
        OBJECT,
        sample=Sample("GET", "/dropouts/{dropout_case}/"),
    ),
    "dropouts:follow_up": Policy(
        "dropouts/<int:case_id>/follow-up/",
        V.DROPOUT_FOLLOW_UP,
        OBJECT,
        methods=("POST",),
        sample=Sample(
            "POST", "/dropouts/{dropout_case}/follow-up/", _follow_up, multipart=True, ok=302
        ),
    ),
    "dropouts:close": Policy(
        "dropouts/<int:case_id>/close/",
        V.DROPOUT_FOLLOW_UP,
        OBJECT,
        levels=AUTHORITIES,
        methods=("POST",),
        sample=Sample(
            "POST",
            "/dropouts/{dropout_case}/close/",
            lambda w: {"reason": "矩阵：随家庭迁居境外"},
            multipart=True,
            ok=302,
        ),
    ),
    "api:list_dropout_cases": Policy(
        "api/dropouts", V.DROPOUT_VIEW, LIST, sample=Sample("GET", "/api/dropouts?state=")
    ),
    "api:search_dropout_cases": Policy(
        "api/dropouts/search",
        V.DROPOUT_VIEW,
        LIST,
        methods=("POST",),
        sample=Sample("POST", "/api/dropouts/search", lambda w: {"q": "", "state": ""}),
    ),
    "api:get_dropout_case": Policy(
        "api/dropouts/<int:case_id>",
        V.DROPOUT_VIEW,
        OBJECT,
        sample=Sample("GET", "/api/dropouts/{dropout_case}"),
    ),
    "api:add_dropout_follow_up": Policy(
        "api/dropouts/<int:case_id>/follow-ups",
        V.DROPOUT_FOLLOW_UP,
        OBJECT,
        methods=("POST",),
        sample=Sample("POST", "/api/dropouts/{dropout_case}/follow-ups", _follow_up, ok=201),
    ),
    "api:close_dropout_case": Policy(
        "api/dropouts/<int:case_id>/close",
        V.DROPOUT_FOLLOW_UP,
        OBJECT,
        levels=AUTHORITIES,
        methods=("POST",),
        sample=Sample(
            "POST", "/api/dropouts/{dropout_case}/close", lambda w: {"reason": "矩阵：迁居境外"}
        ),
    ),
}


def setup(world) -> dict:
    """An open case of school A's student. The row alone: the record keeps its state, so
    the other modules' samples meet the student they expect."""
    from datetime import date

    from xueji import clock
    from xueji.changes.models import DropoutCase

    record = world.student.record
    case = DropoutCase.objects.create(
        student=world.student,
        school=world.school,
        area_code=record.area_code,
        stage=record.stage,
        grade=record.grade,
        opened_on=date(2025, 1, 6),
        created_at=clock.now(),
    )
    return {"dropout_case": case.pk}
