"""The audit trail: one append-only row per write (and, later, per read of personal data)."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditEvent(models.Model):
    """Who did what, to which object, when and from where.

    Actor and unit are copied as plain values (not foreign keys) so that deleting or
    renaming an account can never rewrite history. Rows are only ever inserted:
    ``save`` refuses updates and ``delete`` is refused. A later hardening step adds a
    hash chain (``prev_hash``/``row_hash``) and a database trigger.
    """

    at = models.DateTimeField(_("时间"), db_index=True)
    actor_id = models.BigIntegerField(_("操作人ID"), null=True, blank=True)
    actor_username = models.CharField(_("操作人"), max_length=150, blank=True, default="")
    unit_id = models.BigIntegerField(_("单位ID"), null=True, blank=True)
    action = models.CharField(_("操作"), max_length=64, db_index=True)
    object_type = models.CharField(_("对象类型"), max_length=64, blank=True, default="")
    object_id = models.CharField(_("对象ID"), max_length=64, blank=True, default="")
    summary = models.CharField(_("摘要"), max_length=255, blank=True, default="")
    detail = models.JSONField(_("详情"), default=dict, blank=True)
    ip = models.GenericIPAddressField(_("来源IP"), null=True, blank=True)
    user_agent = models.CharField(_("客户端"), max_length=255, blank=True, default="")
    channel = models.CharField(_("渠道"), max_length=16, blank=True, default="")
    request_id = models.CharField(_("请求ID"), max_length=64, blank=True, default="")

    class Meta:
        verbose_name = _("审计事件")
        verbose_name_plural = _("审计事件")
        indexes = [
            models.Index(fields=["object_type", "object_id"], name="audit_object"),
            models.Index(fields=["actor_id", "at"], name="audit_actor_at"),
        ]

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None and not kwargs.get("force_insert"):
            raise RuntimeError("audit events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):  # type: ignore[override]
        raise RuntimeError("audit events are append-only")


class WarningRole(models.TextChoices):
    """Why a unit receives a warning: it must act, or it is the level above (escalation)."""

    PARTY = "party", _("责任单位")
    ABOVE = "above", _("上级单位")


class EarlyWarning(models.Model):
    """An early warning (预警): something overdue or missing that a unit must act on.

    One open row per (kind, subject, unit): raising again only touches ``last_seen_at``.
    A warning is raised for the unit that must act (``party``) and, escalated, for the level
    above (``above``); resolving the subject closes both. ``message`` is stored data (Chinese).
    Only ``xueji.audit.warnings`` writes these rows.
    """

    kind = models.CharField(_("预警类别"), max_length=48)
    unit = models.ForeignKey(
        "accounts.Unit", on_delete=models.PROTECT, related_name="warnings", verbose_name=_("单位")
    )
    role = models.CharField(_("角色"), max_length=8, choices=WarningRole.choices)
    subject_type = models.CharField(_("对象类型"), max_length=48)
    subject_id = models.CharField(_("对象ID"), max_length=64)
    message = models.CharField(_("内容"), max_length=255)
    detail = models.JSONField(_("详情"), default=dict, blank=True)
    due_date = models.DateField(_("办理期限"), null=True, blank=True)
    raised_at = models.DateTimeField(_("预警时间"))
    last_seen_at = models.DateTimeField(_("最近确认时间"))
    resolved_at = models.DateTimeField(_("解除时间"), null=True, blank=True)
    resolved_by_username = models.CharField(_("解除人"), max_length=150, blank=True, default="")
    resolved_reason = models.CharField(_("解除原因"), max_length=255, blank=True, default="")

    class Meta:
        verbose_name = _("预警")
        verbose_name_plural = _("预警")
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "subject_type", "subject_id", "unit"],
                condition=models.Q(resolved_at__isnull=True),
                name="warning_one_open",
            ),
        ]
        indexes = [
            models.Index(fields=["unit", "resolved_at"], name="warning_unit_open"),
            models.Index(fields=["subject_type", "subject_id"], name="warning_subject"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.subject_type}#{self.subject_id} → {self.unit_id}"
