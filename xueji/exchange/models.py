"""Bulk import jobs and their per-row error reports."""

import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _

from xueji.students.fields import EncryptedNumberField


class ImportKind(models.TextChoices):
    STUDENTS = "students", _("学生")
    SCHOOLS = "schools", _("学校")


class ImportMode(models.TextChoices):
    ALL_OR_NOTHING = "all_or_nothing", _("全部正确才导入")
    VALID_ROWS = "valid_rows", _("导入正确的行，报告错误行")


class ImportStatus(models.TextChoices):
    QUEUED = "queued", _("排队中")
    RUNNING = "running", _("处理中")
    SUCCEEDED = "succeeded", _("已完成")
    REJECTED = "rejected", _("未导入（存在错误）")
    FAILED = "failed", _("失败")


class ImportJob(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(_("类别"), max_length=16, choices=ImportKind.choices)
    mode = models.CharField(_("模式"), max_length=16, choices=ImportMode.choices)
    status = models.CharField(
        _("状态"), max_length=16, choices=ImportStatus.choices, default=ImportStatus.QUEUED
    )
    file = models.FileField(_("文件"), upload_to="imports/%Y/%m/", max_length=255)
    file_name = models.CharField(_("文件名"), max_length=255)
    file_sha256 = models.CharField(max_length=64, db_index=True)
    file_size = models.PositiveBigIntegerField(default=0)
    created_by = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, related_name="import_jobs"
    )
    unit = models.ForeignKey("accounts.Unit", on_delete=models.PROTECT, related_name="+")
    total_rows = models.PositiveIntegerField(_("总行数"), default=0)
    processed_rows = models.PositiveIntegerField(_("已处理"), default=0)
    created_count = models.PositiveIntegerField(_("新建"), default=0)
    skipped_count = models.PositiveIntegerField(_("已存在（跳过）"), default=0)
    error_count = models.PositiveIntegerField(_("错误行"), default=0)
    message = models.TextField(_("说明"), blank=True, default="")
    created_at = models.DateTimeField(_("提交时间"), auto_now_add=True)
    started_at = models.DateTimeField(_("开始时间"), null=True, blank=True)
    finished_at = models.DateTimeField(_("结束时间"), null=True, blank=True)
    # Written by the worker while it runs the job; a running job whose heartbeat stopped
    # belongs to a worker that died (services.import_jobs_fail_stale).
    heartbeat_at = models.DateTimeField(_("最近心跳"), null=True, blank=True)

    class Meta:
        verbose_name = _("导入任务")
        verbose_name_plural = _("导入任务")
        ordering = ["-created_at"]

    @property
    def percent(self) -> int:
        if not self.total_rows:
            return 100 if self.finished_at else 0
        return min(100, int(self.processed_rows * 100 / self.total_rows))

    @property
    def finished(self) -> bool:
        return self.status in (ImportStatus.SUCCEEDED, ImportStatus.REJECTED, ImportStatus.FAILED)


# The associated data of the encrypted cell values (never change: stored values depend on it).
ERROR_VALUE_CONTEXT = "exchange.import_error_value"


class ImportRowError(models.Model):
    """One rule a row of an import broke. The cell as typed (``value``, up to 255
    characters) is encrypted at rest: a mistyped ID number is still nearly an ID number. It
    goes with its import (``on_delete=CASCADE``; ``purge_imports``) and is shown only masked
    (``value_masked``): on the page, in the API, the csv and xlsx reports and the command."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="row_errors")
    row = models.PositiveIntegerField(_("行号"))
    column = models.CharField(_("列"), max_length=64)
    value = EncryptedNumberField(
        _("值"),
        max_length=1200,
        blank=True,
        default="",
        context=ERROR_VALUE_CONTEXT,
        lenient=True,
    )
    code = models.CharField(_("规则"), max_length=64)
    message = models.CharField(_("说明"), max_length=255)

    class Meta:
        verbose_name = _("导入错误")
        verbose_name_plural = _("导入错误")
        ordering = ["row", "pk"]

    @property
    def value_masked(self) -> str:
        return masked_cell(self.column, self.value)


def masked_cell(column: str, value: str) -> str:
    """A cell of an import file as error reports show it: ID and student numbers and phone
    numbers masked (``mask_number``), addresses cut to their region, the sensitive flags
    (left-behind, orphan, disability…) hidden; any other cell with a full ID or student
    number in it has that number masked. ``column`` is the column's header or key."""
    from xueji.masking import mask_number, mask_numbers_in_text, mask_student_number
    from xueji.students.identity import mask_address

    from .columns import sensitive_kind

    if not value:
        return ""
    kind = sensitive_kind(column)
    if kind == "number":
        return mask_student_number(value) if value[:1].upper() in "GJL" else mask_number(value)
    if kind == "address":
        return mask_address(value)
    if kind == "flag":
        return "***"
    return mask_numbers_in_text(value)
