"""Import jobs: accept a file, run it (in a background task or a command), report."""

import hashlib
import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.core.files.base import File
from django.db import DatabaseError, connection, transaction
from django.db.models import Q
from django.utils import translation
from django.utils.translation import gettext as _

from xueji import clock
from xueji.accounts.permissions import require_permission
from xueji.accounts.rules import Permission
from xueji.audit import context as audit_context
from xueji.audit.events import AuditAction, ObjectType
from xueji.audit.services import audit_record
from xueji.errors import FieldError, ValidationFailed

from .models import ImportJob, ImportKind, ImportMode, ImportRowError, ImportStatus
from .student_import import ImportOutcome, StudentImport

logger = logging.getLogger(__name__)
ALLOWED_SUFFIXES = (".xlsx", ".csv", ".txt")


def _check_upload(name: str, size: int) -> None:
    limit = settings.XUEJI["IMPORT_MAX_BYTES"]
    errors = []
    if size > limit:
        errors.append(
            FieldError(
                "file",
                "file.too_large",
                _("文件大小 %(size).1f MB 超过上限 %(limit).1f MB，请分批导入")
                % {"size": size / 1048576, "limit": limit / 1048576},
            )
        )
    if size == 0:
        errors.append(FieldError("file", "file.empty", _("文件为空")))
    if name.lower().endswith(".xls"):
        errors.append(
            FieldError(
                "file",
                "file.format",
                _("不支持旧版 Excel（.xls）文件：请在 Excel 中用“另存为”保存为 .xlsx 格式后再导入"),
                name,
            )
        )
    elif not name.lower().endswith(ALLOWED_SUFFIXES):
        errors.append(FieldError("file", "file.format", _("只接受 .xlsx 或 .csv 文件"), name))
    if errors:
        raise ValidationFailed(errors, message=_("文件未被接受"))


def import_job_create(
    *, actor, upload: File, file_name: str, mode: str, kind: str = ImportKind.STUDENTS
) -> ImportJob:
    """Accept an uploaded file and record the job (the caller enqueues or runs it)."""
    require_permission(
        actor, Permission.STUDENT_IMPORT if kind == ImportKind.STUDENTS else Permission.SCHOOL_EDIT
    )
    if mode not in ImportMode.values:
        raise ValidationFailed([FieldError("mode", "mode.unknown", _("未知的导入模式"), mode)])
    size = upload.size or 0
    _check_upload(file_name, size)
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    with transaction.atomic():
        job = ImportJob(
            kind=kind,
            mode=mode,
            file_name=file_name[:255],
            file_sha256=digest.hexdigest(),
            file_size=size,
            created_by=actor,
            unit=actor.unit,
        )
        job.file.save(Path(file_name).name[-80:], upload, save=False)
        job.save()
        audit_record(
            actor=actor,
            action=AuditAction.IMPORT_SUBMIT,
            object_type=ObjectType.IMPORT_JOB,
            object_id=str(job.pk),
            summary=f"提交导入 {file_name}",
            detail={"mode": mode, "kind": kind, "size": size, "sha256": job.file_sha256},
        )
    return job


class Heartbeat:
    """Calls ``beat`` every ``interval`` seconds from a thread while the block runs.

    The import's own progress reports only come between chunks; a thread keeps beating
    through a long chunk or the final merge, so only a dead worker falls silent.
    """

    def __init__(self, beat: Callable[[], None], interval: float) -> None:
        self.beat = beat
        self.interval = interval
        self.stopped = threading.Event()
        self.thread: threading.Thread | None = None

    def _run(self) -> None:
        try:
            while not self.stopped.wait(self.interval):
                try:
                    self.beat()
                except DatabaseError as exc:  # e.g. SQLite busy during the merge: next time
                    logger.warning("import heartbeat not written: %s", exc)
        finally:
            connection.close()  # this thread's own connection

    def __enter__(self) -> "Heartbeat":
        if self.interval > 0:
            self.thread = threading.Thread(target=self._run, name="import-heartbeat", daemon=True)
            self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stopped.set()
        if self.thread is not None:
            self.thread.join()


def _beat(job_id) -> None:
    ImportJob.objects.filter(pk=job_id, status=ImportStatus.RUNNING).update(
        heartbeat_at=clock.now()
    )


def import_jobs_fail_stale(*, now: datetime | None = None) -> int:
    """Mark failed the running jobs whose worker fell silent; returns how many.

    A worker killed mid-import (out of memory, a restart) leaves its job "处理中" for ever.
    Nothing was written by it (the load is one transaction), or, if it died after the
    commit, the students are there and a second import skips them: resubmitting the file
    is safe either way, and the message says so. Called by the ``sweep_imports`` command
    and task, and before the import pages and endpoints read jobs.
    """
    now = now or clock.now()
    minutes = settings.XUEJI["IMPORT_STALE_MINUTES"]
    cutoff = now - timedelta(minutes=minutes)
    silent = (
        Q(heartbeat_at__lt=cutoff)
        | Q(heartbeat_at__isnull=True, started_at__lt=cutoff)
        | Q(heartbeat_at__isnull=True, started_at__isnull=True, created_at__lt=cutoff)
    )
    stale = ImportJob.objects.filter(silent, status=ImportStatus.RUNNING)
    if not stale.exists():
        return 0
    # Stored once, in the site's language, like the worker's own messages.
    with translation.override(settings.LANGUAGE_CODE):
        message = _(
            "导入任务已中断：处理进程超过 %(minutes)d 分钟没有响应（可能已被重启或终止）。"
            "请重新提交同一文件：已导入的学生会被跳过，不会重复导入。"
        ) % {"minutes": minutes}
    count = stale.update(status=ImportStatus.FAILED, finished_at=now, message=message)
    if count:
        logger.warning("%d import job(s) without a heartbeat since %s marked failed", count, cutoff)
    return count


def import_job_run(*, job_id, progress=None) -> ImportJob:
    """Run a queued job to the end. Safe to call from a task worker or a command."""
    job = ImportJob.objects.select_related("created_by", "created_by__unit").get(pk=job_id)
    if job.finished:
        return job
    actor = job.created_by
    started = clock.now()
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportStatus.RUNNING, started_at=started, heartbeat_at=started
    )

    def report(outcome: ImportOutcome) -> None:
        ImportJob.objects.filter(pk=job.pk).update(
            total_rows=max(outcome.total_rows, outcome.processed_rows),
            processed_rows=outcome.processed_rows,
            error_count=outcome.error_rows,
            skipped_count=outcome.skipped,
            heartbeat_at=clock.now(),
        )
        if progress:
            progress(outcome)

    token = audit_context.bind(audit_context.RequestContext(channel="task", request_id=str(job.pk)))
    heartbeat = Heartbeat(lambda: _beat(job.pk), settings.XUEJI["IMPORT_HEARTBEAT_SECONDS"])
    try:
        with heartbeat:
            if job.kind == ImportKind.STUDENTS:
                outcome = StudentImport(
                    actor=actor, mode=job.mode, batch=str(job.pk), progress=report
                ).run(Path(job.file.path), job.file_name)
            else:
                from .school_import import SchoolImport

                outcome = SchoolImport(actor=actor, mode=job.mode, batch=str(job.pk)).run(
                    Path(job.file.path), job.file_name
                )
    except Exception:
        logger.exception("import job %s failed", job.pk)
        ImportJob.objects.filter(pk=job.pk).update(
            status=ImportStatus.FAILED,
            finished_at=clock.now(),
            message=_("导入过程中发生系统错误，未写入任何数据。请联系管理员。"),
        )
        return ImportJob.objects.get(pk=job.pk)
    finally:
        audit_context.reset(token)
    _finish(job, outcome)
    return ImportJob.objects.get(pk=job.pk)


def _finish(job: ImportJob, outcome: ImportOutcome) -> None:
    ImportRowError.objects.filter(job=job).delete()
    ImportRowError.objects.bulk_create(
        [
            ImportRowError(
                job=job,
                row=e.row,
                column=e.column[:64],
                value=e.value[:255],
                code=e.code[:64],
                message=e.message[:255],
            )
            for e in outcome.errors
        ],
        batch_size=2000,
    )
    if outcome.file_error:
        message = outcome.file_error
    elif outcome.rejected:
        message = (
            _(
                "发现 %d 行错误，按“全部正确才导入”模式未导入任何数据。请下载错误报告修改后重新导入。"
            )
            % outcome.error_rows
        )
    else:
        message = _("新建 %(created)d 人，已存在跳过 %(skipped)d 人，错误 %(errors)d 行。") % {
            "created": outcome.created,
            "skipped": outcome.skipped,
            "errors": outcome.error_rows,
        }
    if outcome.warnings:
        message = "\n".join([*outcome.warnings, message])
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportStatus.REJECTED if outcome.rejected else ImportStatus.SUCCEEDED,
        total_rows=outcome.total_rows,
        processed_rows=outcome.processed_rows,
        created_count=outcome.created,
        skipped_count=outcome.skipped,
        error_count=outcome.error_rows,
        finished_at=clock.now(),
        message=message,
    )
