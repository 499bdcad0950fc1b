"""The guardian's sign-in codes and the embedded sender's outbox.

A one-time code is stored only as a keyed hash (``rules``/``services``); the phone it went
to only masked. The outbox holds what the embedded sender would have texted: development
and demonstrations only (docs/portal.md).
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class CodeChannel(models.TextChoices):
    SMS = "sms", _("短信")


class OneTimeCode(models.Model):
    """One code sent to a guardian's phone on file: valid for ten minutes, once, and
    dead after five wrong tries."""

    student = models.ForeignKey(
        "students.Student", on_delete=models.CASCADE, related_name="+", verbose_name=_("学生")
    )
    guardian = models.ForeignKey(
        "students.Guardian", on_delete=models.CASCADE, related_name="+", verbose_name=_("监护人")
    )
    # "<salt>$<HMAC-SHA256 hex>": never the code itself.
    code_hash = models.CharField(_("验证码摘要"), max_length=128)
    channel = models.CharField(
        _("发送方式"), max_length=8, choices=CodeChannel.choices, default=CodeChannel.SMS
    )
    sent_to = models.CharField(_("发送至"), max_length=32)  # masked phone number
    created_at = models.DateTimeField(_("发送时间"))
    expires_at = models.DateTimeField(_("失效时间"))
    attempts = models.PositiveSmallIntegerField(_("错误次数"), default=0)
    used_at = models.DateTimeField(_("使用时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("一次性验证码")
        verbose_name_plural = _("一次性验证码")
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["student", "guardian", "created_at"], name="portal_code_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.student_id}/{self.guardian_id} {self.created_at:%Y-%m-%d %H:%M}"


class OutboxMessage(models.Model):
    """A message the embedded sender "sent": shown on the outbox page (DEBUG, or masked to
    the national security administrators) and printed to the console."""

    to = models.CharField(_("收件人"), max_length=32)  # masked phone number
    body = models.TextField(_("内容"))
    created_at = models.DateTimeField(_("时间"), db_index=True)
    channel = models.CharField(
        _("发送方式"), max_length=8, choices=CodeChannel.choices, default=CodeChannel.SMS
    )

    class Meta:
        verbose_name = _("待发消息")
        verbose_name_plural = _("待发消息")
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.to} {self.created_at:%Y-%m-%d %H:%M}"
