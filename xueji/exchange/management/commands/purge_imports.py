"""Delete finished imports older than the retention, with their files and error rows.

    python manage.py purge_imports [--days N] [--dry-run]

An import keeps the uploaded file and, for each error, the cell as typed (encrypted, shown
masked): they are kept as long as the import itself, ``XUEJI["IMPORT_RETENTION_DAYS"]``
days after it finished (``--days`` overrides), then this command deletes the job, its file
and its error rows (``on_delete=CASCADE``). Jobs still queued or running are never touched.
One audit event per run says how many went. Run it daily (cron or a systemd timer, like
``seal_dormant_accounts``).
"""

from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.utils.translation import gettext as _

from xueji import clock
from xueji.audit import context as audit_context
from xueji.audit.events import AuditAction, ObjectType
from xueji.audit.services import audit_record
from xueji.exchange.models import ImportJob, ImportRowError


def purge_imports(*, days: int, dry_run: bool = False) -> tuple[int, int]:
    """Delete finished jobs older than ``days``; returns (jobs, error rows)."""
    cutoff = clock.now() - timedelta(days=days)
    jobs = ImportJob.objects.filter(finished_at__isnull=False, finished_at__lt=cutoff)
    count = jobs.count()
    errors = ImportRowError.objects.filter(job__in=jobs).count()
    if dry_run or not count:
        return count, errors
    files = [job.file for job in jobs.only("pk", "file") if job.file]
    with transaction.atomic():
        jobs.delete()
        audit_record(
            actor=None,
            action=AuditAction.IMPORT_PURGE,
            object_type=ObjectType.IMPORT_JOB,
            object_id="",
            summary=f"清除 {count} 个超过 {days} 天的导入任务及其 {errors} 条错误明细",
            detail={"jobs": count, "errors": errors, "days": days},
        )
    for stored in files:  # after the commit: a rolled-back purge keeps its files
        stored.storage.delete(stored.name)
    return count, errors


class Command(BaseCommand):
    help = _("删除超过保存期限的已完成导入任务，连同上传的文件和错误明细（每日运行）")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=None, help=_("保存天数（默认按配置）"))
        parser.add_argument("--dry-run", action="store_true", help=_("只统计，不删除"))

    def handle(self, *args, **options) -> None:
        days = options["days"]
        if days is None:
            days = int(settings.XUEJI["IMPORT_RETENTION_DAYS"])
        token = audit_context.bind(
            audit_context.RequestContext(channel="cli", request_id=audit_context.new_request_id())
        )
        try:
            jobs, errors = purge_imports(days=max(0, days), dry_run=options["dry_run"])
        finally:
            audit_context.reset(token)
        message = _("%(jobs)d 个导入任务、%(errors)d 条错误明细超过 %(days)d 天") % {
            "jobs": jobs,
            "errors": errors,
            "days": days,
        }
        self.stdout.write(message + ("" if options["dry_run"] else _("，已删除。")))
