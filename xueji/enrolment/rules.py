"""The status life cycle (requirements §3) as a declared table. Pure: no database, no clock."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class StatusState(models.TextChoices):
    ENROLLED = "enrolled", _("在籍在校")
    DEFERRED = "deferred", _("缓学")
    SUSPENDED = "suspended", _("休学")
    ABROAD = "abroad", _("出境学习")
    DROPPED_OUT = "dropped_out", _("辍学")
    WITHDRAWN = "withdrawn", _("退学")
    EXPELLED = "expelled", _("开除")
    GRADUATED = "graduated", _("毕业")
    COMPLETED = "completed", _("结业")
    LEFT = "left", _("肄业")
    CANCELLED = "cancelled", _("注销")


class EventKind(models.TextChoices):
    REGISTER = "register", _("新生注册")
    REACTIVATE = "reactivate", _("恢复学籍")
    IMPORT = "import", _("批量导入注册")
    CORRECT = "correct", _("信息更正")
    CHANGE = "change", _("学籍变动")
    TRANSFER_OUT = "transfer_out", _("转出")
    TRANSFER_IN = "transfer_in", _("转入")
    PROMOTE = "promote", _("升级")
    GRADUATE = "graduate", _("毕业")
    BATCH_COMPLETE = "batch_complete", _("结业（批量）")
    BATCH_LEAVE = "batch_leave", _("肄业（批量）")


# States that still occupy a place at a school: the student is on its roll.
ON_ROLL = frozenset(
    {StatusState.ENROLLED, StatusState.DEFERRED, StatusState.SUSPENDED, StatusState.DROPPED_OUT}
)

# A student known to the registry in one of these states who turns up to register again
# is reactivated on the same record (一人一籍), never registered anew.
REACTIVATABLE = frozenset(
    {
        StatusState.DROPPED_OUT,
        StatusState.WITHDRAWN,
        StatusState.LEFT,
        StatusState.COMPLETED,
        StatusState.ABROAD,
        StatusState.GRADUATED,
    }
)

# The declared transition table: only services move a record, and only along these edges
# (xueji.enrolment.services.record_change refuses anything else).
TRANSITIONS: dict[str, frozenset[str]] = {
    StatusState.ENROLLED: frozenset(
        {
            StatusState.DEFERRED,
            StatusState.SUSPENDED,
            StatusState.ABROAD,
            StatusState.DROPPED_OUT,
            StatusState.WITHDRAWN,
            StatusState.EXPELLED,
            StatusState.GRADUATED,
            StatusState.COMPLETED,
            StatusState.LEFT,
            StatusState.CANCELLED,
        }
    ),
    StatusState.DEFERRED: frozenset(
        {StatusState.ENROLLED, StatusState.DROPPED_OUT, StatusState.CANCELLED}
    ),
    StatusState.SUSPENDED: frozenset(
        {
            StatusState.ENROLLED,
            StatusState.DROPPED_OUT,
            StatusState.WITHDRAWN,
            StatusState.CANCELLED,
        }
    ),
    StatusState.ABROAD: frozenset({StatusState.ENROLLED, StatusState.CANCELLED}),
    StatusState.DROPPED_OUT: frozenset(
        {StatusState.ENROLLED, StatusState.WITHDRAWN, StatusState.CANCELLED}
    ),
    StatusState.WITHDRAWN: frozenset({StatusState.ENROLLED, StatusState.CANCELLED}),
    StatusState.EXPELLED: frozenset({StatusState.CANCELLED}),
    StatusState.GRADUATED: frozenset({StatusState.ENROLLED, StatusState.CANCELLED}),
    StatusState.COMPLETED: frozenset({StatusState.ENROLLED, StatusState.CANCELLED}),
    StatusState.LEFT: frozenset({StatusState.ENROLLED, StatusState.CANCELLED}),
    StatusState.CANCELLED: frozenset(),
}


def can_transition(from_state: str, to_state: str) -> bool:
    return to_state in TRANSITIONS.get(from_state, frozenset())


def is_frozen(record) -> bool:
    """Basic data of a graduated student are frozen (requirements §5): corrections refuse."""
    return record.state == StatusState.GRADUATED
