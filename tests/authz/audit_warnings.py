"""Routes of the early warnings (xueji/audit: the 预警 page and GET /api/warnings).

Read by those who read student records (clerks and reviewers); each sees its own unit's
warnings, an authority also its subtree's (``tab=area``). The sample warning names school
A's student, so the matrix also checks that no out-of-scope actor ever reads it.
"""

from tests.authz.vocab import LIST, Policy, Sample
from xueji.accounts.rules import Permission
from xueji.audit.warnings import warning_raise


def setup(world) -> dict:
    warning_raise(
        kind="transfer.step_overdue",
        unit=world.school.unit,
        subject_type="changes.step",
        subject_id=1,
        message=f"矩阵预警：{world.student.name}（{world.student.number}）转学步骤超期",
    )
    return {}


POLICY: dict[str, Policy] = {
    "warnings:list": Policy(
        "warnings/", Permission.WARNING_VIEW, LIST, sample=Sample("GET", "/warnings/?tab=area")
    ),
    "api:list_warnings": Policy(
        "api/warnings",
        Permission.WARNING_VIEW,
        LIST,
        sample=Sample("GET", "/api/warnings?tab=area"),
    ),
}
