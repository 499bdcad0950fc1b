"""Writing the audit trail. Callers run inside the transaction of the write they record."""

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.utils.functional import Promise

from xueji import clock
from xueji.masking import mask_numbers_in, mask_numbers_in_text

from . import context
from .events import AuditAction, ObjectType, stored_text
from .models import AuditEvent


def _checked(action: object, object_type: object) -> tuple[AuditAction, ObjectType]:
    """Only the vocabulary is accepted: a free string is a programming error."""
    if not isinstance(action, AuditAction):
        raise TypeError(f"audit action must be an AuditAction, not {action!r}")
    if not isinstance(object_type, ObjectType):
        raise TypeError(f"audit object type must be an ObjectType, not {object_type!r}")
    return action, object_type


def audit_record(
    *,
    actor: Any,
    action: AuditAction,
    object_type: ObjectType = ObjectType.NONE,
    object_id: str | int = "",
    summary: str | Promise = "",
    detail: dict | None = None,
) -> AuditEvent:
    """Append one audit event in the caller's transaction.

    Refuses to run outside a transaction: an audit event must commit or roll back together
    with the write it describes. ``action`` and ``object_type`` come from
    ``xueji.audit.events``; a lazy ``summary`` (``format_lazy`` over choice labels) is stored
    in Chinese whatever the session's language. A full student number or ID number in
    ``summary`` or ``detail`` (a reason typed with one, say) is stored masked: the trail
    never holds one.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit_record must run inside the write's transaction")
    action, object_type = _checked(action, object_type)
    origin = context.current()
    actor_pk = getattr(actor, "pk", None)
    event = AuditEvent(
        at=clock.now(),
        actor_id=actor_pk,
        actor_username=getattr(actor, "username", "") or "",
        unit_id=getattr(actor, "unit_id", None),
        action=action.value,
        object_type=object_type.value,
        object_id=str(object_id),
        summary=mask_numbers_in_text(stored_text(summary))[:255],
        detail=mask_numbers_in(detail or {}),
        ip=origin.ip,
        user_agent=origin.user_agent,
        channel=origin.channel,
        request_id=origin.request_id,
    )
    event.save(force_insert=True)
    return event


def audit_record_many(*, actor: Any, events: Iterable[dict]) -> int:
    """Append many events at once (bulk paths); same guarantees as ``audit_record``.

    Each event is a dict of ``action`` and ``object_type`` (from the vocabulary) and
    optionally ``object_id``, ``summary`` and ``detail``."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit_record_many must run inside the write's transaction")
    origin = context.current()
    at = clock.now()
    rows = []
    for event in events:
        action, object_type = _checked(event["action"], event["object_type"])
        rows.append(
            AuditEvent(
                at=at,
                actor_id=getattr(actor, "pk", None),
                actor_username=getattr(actor, "username", "") or "",
                unit_id=getattr(actor, "unit_id", None),
                action=action.value,
                object_type=object_type.value,
                object_id=str(event.get("object_id", "")),
                summary=mask_numbers_in_text(stored_text(event.get("summary", "")))[:255],
                detail=mask_numbers_in(event.get("detail") or {}),
                ip=origin.ip,
                user_agent=origin.user_agent,
                channel=origin.channel,
                request_id=origin.request_id,
            )
        )
    AuditEvent.objects.bulk_create(rows, batch_size=2000)
    return len(rows)
