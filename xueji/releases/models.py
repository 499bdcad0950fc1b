"""Data releases (数据发布, Art. 24): the request, its review and approval, and the generated
de-identified file. Only ``xueji.releases.services`` writes these rows."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from .rules import (
    BasisKind,
    BirthGeneralisation,
    GovernmentLevel,
    IdentifierMethod,
    OutputFormat,
    ReleaseKind,
    ReleaseState,
)


class DataRelease(models.Model):
    """One request to let student data leave the system, from the request to the file.

    The population is the requesting unit's scope narrowed to ``scope_prefix`` (an area-code
    prefix) or ``scope_school``, and to the ``filters``. The approver and its unit are named
    on the release (谁批准谁负责).
    """

    reference = models.CharField(_("编号"), max_length=24, unique=True)
    unit = models.ForeignKey(
        "accounts.Unit", on_delete=models.PROTECT, related_name="+", verbose_name=_("申请单位")
    )
    state = models.CharField(
        _("状态"), max_length=16, choices=ReleaseState.choices, default=ReleaseState.SUBMITTED
    )
    purpose = models.TextField(_("用途"))
    # The legal basis: a law's article, or a county-or-above government's approval document.
    basis_kind = models.CharField(_("依据类别"), max_length=16, choices=BasisKind.choices)
    basis_law = models.CharField(_("法律条款"), max_length=255, blank=True, default="")
    basis_authority = models.CharField(_("批准机关"), max_length=128, blank=True, default="")
    basis_level = models.CharField(
        _("批准机关级别"), max_length=16, choices=GovernmentLevel.choices, blank=True, default=""
    )
    basis_document_no = models.CharField(_("批准文号"), max_length=64, blank=True, default="")
    basis_document = models.FileField(
        _("批准文件"), upload_to="releases/basis/%Y/%m/", max_length=255, blank=True
    )
    basis_document_type = models.CharField(max_length=64, blank=True, default="")
    basis_document_sha256 = models.CharField(max_length=64, blank=True, default="")
    # What is released and how it is de-identified.
    kind = models.CharField(_("发布形式"), max_length=8, choices=ReleaseKind.choices)
    fields = models.JSONField(_("字段"), default=list)
    scope_prefix = models.CharField(_("范围代码前缀"), max_length=6, blank=True, default="")
    scope_school = models.ForeignKey(
        "schools.School",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("范围学校"),
    )
    scope_label = models.CharField(_("范围"), max_length=128, blank=True, default="")
    # {"stages": [...], "grades": [...], "states": [...]}: empty lists mean "any".
    filters = models.JSONField(_("筛选条件"), default=dict, blank=True)
    identifiers = models.CharField(_("直接标识符"), max_length=16, choices=IdentifierMethod.choices)
    birth = models.CharField(_("出生日期泛化"), max_length=16, choices=BirthGeneralisation.choices)
    k = models.PositiveSmallIntegerField(_("k 匿名"))
    threshold = models.PositiveSmallIntegerField(_("小单元格抑制阈值"))
    output_format = models.CharField(_("文件格式"), max_length=8, choices=OutputFormat.choices)
    # The recipient: an organisation and one person's account; only that account downloads.
    recipient_organisation = models.CharField(_("接收单位"), max_length=128)
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="received_releases",
        verbose_name=_("接收人"),
    )
    expires_on = models.DateField(_("下载截止日期"))
    # The pipeline.
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(_("申请时间"))
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reviewed_at = models.DateTimeField(_("审核时间"), null=True, blank=True)
    review_note = models.CharField(_("审核意见"), max_length=255, blank=True, default="")
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # Named as they were when approving: the approver answers for the release.
    approver_name = models.CharField(_("批准人"), max_length=150, blank=True, default="")
    approver_unit = models.ForeignKey(
        "accounts.Unit",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("批准单位"),
    )
    approved_at = models.DateTimeField(_("批准时间"), null=True, blank=True)
    approval_note = models.CharField(_("批准意见"), max_length=255, blank=True, default="")
    rejected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    rejected_at = models.DateTimeField(_("退回时间"), null=True, blank=True)
    rejection_reason = models.CharField(_("不予通过的理由"), max_length=255, blank=True, default="")
    # The generated file and its keys: the salt derives the release's own key (rules.release_key).
    key_salt = models.CharField(max_length=32)
    file = models.FileField(_("发布文件"), upload_to="releases/files/%Y/%m/", blank=True)
    file_sha256 = models.CharField(max_length=64, blank=True, default="")
    row_count = models.PositiveIntegerField(_("发布行数"), null=True, blank=True)
    population_count = models.PositiveIntegerField(_("范围内人数"), null=True, blank=True)
    suppressed_count = models.PositiveIntegerField(_("抑制的人数或单元格"), null=True, blank=True)
    generated_at = models.DateTimeField(_("生成时间"), null=True, blank=True)
    failure = models.CharField(_("失败原因"), max_length=255, blank=True, default="")

    class Meta:
        verbose_name = _("数据发布")
        verbose_name_plural = _("数据发布")
        ordering = ["-requested_at", "-pk"]
        indexes = [
            models.Index(fields=["state"], name="release_state"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(k__gte=2) & models.Q(threshold__gte=2),
                name="release_k_threshold_positive",
            ),
        ]

    def __str__(self) -> str:
        return self.reference
