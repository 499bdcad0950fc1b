"""The one guarded mutator of a status record: every change of state, school, grade, class or
programme goes through ``record_change``, which checks the declared transition table and
appends the history event. Callers own the transaction and the audit event."""

from datetime import date, datetime
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from xueji import clock
from xueji.errors import Conflict

from .models import StatusEvent, StatusRecord
from .rules import StatusState, can_transition

# Record fields a change may set besides the state.
CHANGEABLE = (
    "school",
    "area_code",
    "province_code",
    "stage",
    "grade",
    "class_name",
    "programme",
    "attendance",
    "placement_school",
    "home_taught",
)


class IllegalTransition(Conflict):
    """The declared table does not allow this state change."""

    def __init__(self, from_state: str, to_state: str) -> None:
        super().__init__(
            "status.illegal_transition",
            _("学籍状态不能从“%(from)s”变为“%(to)s”。") % {"from": from_state, "to": to_state},
            {"from_state": from_state, "to_state": to_state},
        )


def record_lock(*, student_id: int) -> StatusRecord:
    """The record, locked for the caller's transaction (``SELECT … FOR UPDATE``).

    Only the record's row: locking the joined school too would make two transfers crossing
    between two schools deadlock on their foreign-key checks, and would queue every write
    that refers to the school behind any change in progress there."""
    return (
        StatusRecord.objects.select_for_update(of=("self",))
        .select_related("school")
        .get(pk=student_id)
    )


def record_change(
    *,
    actor: Any,
    record: StatusRecord,
    kind: str,
    effective_date: date,
    to_state: str | None = None,
    change_type: str = "",
    request_id: int | None = None,
    reason: str = "",
    materials: list[dict] | None = None,
    detail: dict | None = None,
    batch: str = "",
    now: datetime | None = None,
    **fields: Any,
) -> StatusEvent:
    """Apply one change to a locked record and append its history event.

    ``fields`` are among ``CHANGEABLE``; a ``school`` also sets the area and province codes.
    Refuses a state change the table does not declare. Must run inside a transaction.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("record_change must run inside the change's transaction")
    unknown = set(fields) - set(CHANGEABLE)
    if unknown:
        raise TypeError(f"not changeable: {sorted(unknown)}")
    now = now or clock.now()
    from_state = record.state
    if from_state == StatusState.CANCELLED:
        # A cancelled record (death, a duplicate removed) is final: nothing changes it.
        raise IllegalTransition(from_state, to_state or from_state)
    if to_state is not None and to_state != from_state:
        if not can_transition(from_state, to_state):
            raise IllegalTransition(from_state, to_state)
        record.state = to_state
    school = fields.get("school")
    if school is not None:
        fields.setdefault("area_code", school.area_code)
        fields.setdefault("province_code", school.province_code)
    for name, value in fields.items():
        setattr(record, name, value)
    record.revision += 1
    record.updated_at = now
    update = ["state", "revision", "updated_at", *fields]
    record.save(update_fields=[f for f in dict.fromkeys(update)])
    return event_append(
        actor=actor,
        record=record,
        kind=kind,
        from_state=from_state,
        effective_date=effective_date,
        now=now,
        reason=reason,
        batch=batch,
        change_type=change_type,
        request_id=request_id,
        materials=materials or [],
        detail=detail or {},
    )


def event_append(
    *,
    actor: Any,
    record: StatusRecord,
    kind: str,
    from_state: str,
    effective_date: date,
    now: datetime,
    reason: str = "",
    **extra: Any,
) -> StatusEvent:
    """Append the history event of a record as it now stands (registration writes the
    first one; ``record_change`` every later one)."""
    return StatusEvent.objects.create(
        record=record,
        kind=kind,
        occurred_at=now,
        effective_date=effective_date,
        actor_id=getattr(actor, "pk", None),
        actor_username=getattr(actor, "username", "") or "",
        from_state=from_state,
        to_state=record.state,
        school_id=record.school_id,
        stage=record.stage,
        grade=record.grade,
        class_name=record.class_name,
        reason=reason[:255],
        **extra,
    )
