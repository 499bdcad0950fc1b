"""Retention of the audit trail: kept ``XUEJI["AUDIT_RETENTION_DAYS"]`` days (at least 183,
six months), then purged by ``python manage.py audit_purge``.

A purge cuts each partition's chain at its start: the oldest links, all older than the
cutoff, go; an ``AuditPurge`` record keeps where the chain now starts (the last deleted
link's sequence number and hash), so ``audit_verify`` still walks an unbroken chain from
there. The database deletes a trail row only when it is older than 183 days by its own
clock and a purge record covers its link (migration 0007), so a purge can never reach
younger rows. A chain that does not verify is not purged (that would destroy evidence). The
purge itself is an audit event (``audit.purge``) written in the same transaction.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction

from xueji import clock

from .chain import RETENTION_FLOOR_DAYS
from .events import AuditAction, ObjectType


class PurgeRefused(Exception):
    pass


@dataclass
class PurgeResult:
    cutoff: datetime
    deleted: int = 0
    partitions: dict[int, tuple[int, int]] = field(default_factory=dict)  # p -> (through, n)


def retention_days() -> int:
    """The configured retention, never under the legal floor of 183 days."""
    return max(RETENTION_FLOOR_DAYS, int(settings.XUEJI.get("AUDIT_RETENTION_DAYS", 365)))


def audit_purge(*, actor, now: datetime | None = None) -> PurgeResult:
    """Delete the links older than the retention from the start of every chain."""
    from .models import AuditChainHead, AuditEvent, AuditPurge
    from .services import audit_record
    from .verify import verify

    report = verify()
    if not report.intact:
        raise PurgeRefused(
            "the audit chain does not verify; nothing was purged: " + str(report.problems[0])
        )
    now = now or clock.now()
    result = PurgeResult(cutoff=now - timedelta(days=retention_days()))
    with transaction.atomic():
        heads = list(AuditChainHead.objects.select_for_update().order_by("partition"))
        anchors: dict[int, int] = {}
        for purge in AuditPurge.objects.order_by("partition", "through_seq"):
            anchors[purge.partition] = purge.through_seq
        for head in heads:
            start = anchors.get(head.partition, 0)
            first_kept = (
                AuditEvent.objects.filter(partition=head.partition, at__gte=result.cutoff)
                .order_by("seq")
                .values_list("seq", flat=True)
                .first()
            )
            through = (first_kept - 1) if first_kept is not None else head.seq
            if through <= start:
                continue
            through_hash = (
                AuditEvent.objects.filter(partition=head.partition, seq=through)
                .values_list("row_hash", flat=True)
                .get()
            )
            AuditPurge.objects.create(
                at=now,
                partition=head.partition,
                through_seq=through,
                through_hash=through_hash,
                cutoff=result.cutoff,
                deleted=through - start,
                actor_username=getattr(actor, "username", "") or "",
            )
            table = AuditEvent._meta.db_table
            with connection.cursor() as cursor:
                cursor.execute(
                    f"DELETE FROM {table} WHERE partition = %s AND seq > %s AND seq <= %s",
                    [head.partition, start, through],
                )
                deleted = cursor.rowcount
            result.partitions[head.partition] = (through, deleted)
            result.deleted += deleted
        audit_record(
            actor=actor,
            action=AuditAction.AUDIT_PURGE,
            object_type=ObjectType.AUDIT_TRAIL,
            summary=f"清理 {result.cutoff:%Y-%m-%d} 之前的审计日志 {result.deleted} 条",
            detail={
                "cutoff": result.cutoff.isoformat(),
                "retention_days": retention_days(),
                "deleted": result.deleted,
                "partitions": {str(p): list(v) for p, v in result.partitions.items()},
            },
        )
    return result
