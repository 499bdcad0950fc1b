"""Reading the read-audit rows back in tests: always in the order they were written."""

from xueji.audit.events import AuditAction, ObjectType
from xueji.audit.models import AuditEvent


def read_events(*, action: AuditAction = AuditAction.STUDENT_READ, **filters):
    """The read events (``student.read`` unless told), oldest first (explicit ``order_by``)."""
    return AuditEvent.objects.filter(action=action.value, **filters).order_by("pk")


def read_ids(*, action: AuditAction = AuditAction.STUDENT_READ, **filters) -> list[int]:
    """The student ids the read events name, in the order written (the order shown)."""
    return [
        int(event.object_id)
        for event in read_events(action=action, object_type=ObjectType.STUDENT.value, **filters)
    ]


def last_request_ids(*, action: AuditAction = AuditAction.STUDENT_READ) -> list[int]:
    """The student ids read by the newest request that read anything."""
    newest = read_events(action=action).last()
    if newest is None:
        return []
    return read_ids(action=action, request_id=newest.request_id)
