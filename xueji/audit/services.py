"""Writing the audit trail. Callers run inside the transaction of the write they record."""

from collections.abc import Iterable
from typing import Any

from django.db import transaction

from xueji import clock

from . import context
from .models import AuditEvent


def audit_record(
    *,
    actor: Any,
    action: str,
    object_type: str = "",
    object_id: str | int = "",
    summary: str = "",
    detail: dict | None = None,
) -> AuditEvent:
    """Append one audit event in the caller's transaction.

    Refuses to run outside a transaction: an audit event must commit or roll back together
    with the write it describes.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit_record must run inside the write's transaction")
    origin = context.current()
    actor_pk = getattr(actor, "pk", None)
    event = AuditEvent(
        at=clock.now(),
        actor_id=actor_pk,
        actor_username=getattr(actor, "username", "") or "",
        unit_id=getattr(actor, "unit_id", None),
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        summary=summary[:255],
        detail=detail or {},
        ip=origin.ip,
        user_agent=origin.user_agent,
        channel=origin.channel,
        request_id=origin.request_id,
    )
    event.save(force_insert=True)
    return event


def audit_record_many(*, actor: Any, events: Iterable[dict]) -> int:
    """Append many events at once (bulk paths); same guarantees as ``audit_record``."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit_record_many must run inside the write's transaction")
    origin = context.current()
    at = clock.now()
    rows = [
        AuditEvent(
            at=at,
            actor_id=getattr(actor, "pk", None),
            actor_username=getattr(actor, "username", "") or "",
            unit_id=getattr(actor, "unit_id", None),
            ip=origin.ip,
            user_agent=origin.user_agent,
            channel=origin.channel,
            request_id=origin.request_id,
            **event,
        )
        for event in events
    ]
    AuditEvent.objects.bulk_create(rows, batch_size=2000)
    return len(rows)
