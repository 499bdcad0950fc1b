"""The electronic status archive (学籍档案, Art. 6), the backups a sending school keeps after a
transfer, and the paper-archive register. Only ``xueji.archives.services`` writes these rows.

A document's file never changes once stored (there is no service that replaces or deletes
one), which is why a backup may keep a reference to the same file as its read-only copy.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _

from .rules import DocumentKind


class ArchiveDocument(models.Model):
    """One document of a student's archive, held by a school or, while the student is
    abroad, by an authority. Every document of a student has the same holder: the services
    move them together."""

    student = models.ForeignKey(
        "students.Student", on_delete=models.PROTECT, related_name="archive_documents"
    )
    holder = models.ForeignKey(
        "schools.School",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="archive_documents",
        verbose_name=_("保管学校"),
    )
    holder_unit = models.ForeignKey(
        "accounts.Unit",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="archive_documents",
        verbose_name=_("保管单位"),
    )
    kind = models.CharField(_("材料类别"), max_length=24, choices=DocumentKind.choices)
    title = models.CharField(_("材料名称"), max_length=128)
    file = models.FileField(_("文件"), upload_to="archives/%Y/%m/", max_length=255)
    file_name = models.CharField(_("原文件名"), max_length=255, blank=True, default="")
    content_type = models.CharField(_("文件类型"), max_length=64)
    size = models.PositiveIntegerField(_("大小（字节）"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    created_at = models.DateTimeField(_("上传时间"))
    created_by_username = models.CharField(_("上传人"), max_length=150, blank=True, default="")
    # The change request (changes.ChangeRequest) the document was filed with, if any.
    source_request_id = models.BigIntegerField(_("变动申请"), null=True, blank=True)

    class Meta:
        verbose_name = _("档案材料")
        verbose_name_plural = _("档案材料")
        ordering = ["created_at", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(holder__isnull=False, holder_unit__isnull=True)
                | models.Q(holder__isnull=True, holder_unit__isnull=False),
                name="archive_document_one_holder",
            ),
        ]
        indexes = [
            models.Index(fields=["student", "holder"], name="archive_doc_student_holder"),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.student_id})"


class ArchiveBackup(models.Model):
    """The read-only copy a sending school keeps after a transfer: which documents it held
    (references to the immutable files, with their SHA-256) and the date up to which it may
    read the student's history."""

    school = models.ForeignKey(
        "schools.School", on_delete=models.PROTECT, related_name="archive_backups"
    )
    student = models.ForeignKey(
        "students.Student", on_delete=models.PROTECT, related_name="archive_backups"
    )
    request_id = models.BigIntegerField(_("变动申请"))
    transferred_on = models.DateField(_("转出日期"))
    # [{"document_id", "kind", "title", "file", "file_name", "content_type", "size",
    #   "sha256", "created_at"}] as the documents stood when they left.
    documents = models.JSONField(_("档案材料"), default=list, blank=True)
    history_until = models.DateField(_("历史截止日期"))
    created_at = models.DateTimeField(_("备份时间"))
    created_by_username = models.CharField(_("操作人"), max_length=150, blank=True, default="")

    class Meta:
        verbose_name = _("档案备份")
        verbose_name_plural = _("档案备份")
        ordering = ["-transferred_on", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["school", "student", "request_id"], name="archive_backup_once"
            ),
        ]


class PaperArchiveEntry(models.Model):
    """The paper-archive register: where a student's paper archive (or a kept copy) is."""

    student = models.ForeignKey(
        "students.Student", on_delete=models.PROTECT, related_name="paper_archive_entries"
    )
    unit = models.ForeignKey(
        "accounts.Unit", on_delete=models.PROTECT, related_name="+", verbose_name=_("保管单位")
    )
    school = models.ForeignKey(
        "schools.School",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("保管学校"),
    )
    description = models.CharField(_("内容"), max_length=255)
    location = models.CharField(_("存放位置"), max_length=255)
    kept_copy = models.BooleanField(_("留存复印件"), default=False)
    registered_at = models.DateTimeField(_("登记时间"))
    registered_by_username = models.CharField(_("登记人"), max_length=150, blank=True, default="")

    class Meta:
        verbose_name = _("纸质档案登记")
        verbose_name_plural = _("纸质档案登记")
        ordering = ["-registered_at", "-pk"]
