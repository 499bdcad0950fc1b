"""Background tasks (django-tasks). django-tasks runs tasks but schedules none: enqueue
``audit_daily`` once a day from cron or a systemd timer, or run ``audit_verify`` and
``audit_checkpoint`` (docs/security.md, "The audit trail")."""

import logging

from django.db import transaction
from django_tasks import task

from xueji.accounts.services import SystemActor

from . import context
from .events import AuditAction, ObjectType
from .services import audit_record
from .signing import checkpoint_create
from .verify import verify

logger = logging.getLogger("xueji.audit")
INTEGRITY_JOB = SystemActor(username="system:audit_daily")


@task()
def audit_daily() -> dict:
    """Verify every chain; when intact, sign a checkpoint of the heads. A broken chain is
    logged and recorded (``audit.verify_failed``) and not signed over."""
    token = context.bind(
        context.RequestContext(channel="task", request_id=context.new_request_id())
    )
    try:
        report = verify()
        if not report.intact:
            first = str(report.problems[0])
            logger.error("audit chain broken: %s", first)
            with transaction.atomic():
                audit_record(
                    actor=INTEGRITY_JOB,
                    action=AuditAction.AUDIT_VERIFY_FAILED,
                    object_type=ObjectType.AUDIT_TRAIL,
                    summary="审计链校验失败",
                    detail={"problems": [str(p) for p in report.problems[:20]]},
                )
            return {"intact": False, "rows": report.rows, "first_problem": first}
        checkpoint = checkpoint_create()
        return {"intact": True, "rows": report.rows, "checkpoint": checkpoint.pk}
    finally:
        context.reset(token)


@task()
def warnings_evaluate_task() -> dict:
    """The security warning rules over the trail since the last run (every few minutes)."""
    from .watch import warnings_evaluate

    report = warnings_evaluate()
    return {"findings": report.findings, "raised": report.raised, "by_rule": report.by_rule}
