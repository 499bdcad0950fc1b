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
