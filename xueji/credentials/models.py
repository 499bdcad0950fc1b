"""Issued credentials, the status lists that revoke them, and the registered relying parties.

The credential itself lives with its holder; the registry keeps what it needs to revoke it
(its status list and index), to re-issue it, and to hold the portal's custodial holder key.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class CredentialState(models.TextChoices):
    VALID = "valid", _("有效")
    SUSPENDED = "suspended", _("暂停")
    REVOKED = "revoked", _("已吊销")


class StatusList(models.Model):
    """One Token Status List (published at ``/credentials/status/<number>``): two bits per
    credential, derived from the credentials' states; ``token`` is the last signed JWT,
    re-signed when ``dirty``."""

    number = models.PositiveIntegerField(_("编号"), unique=True)
    size = models.PositiveIntegerField(_("容量"))
    next_index = models.PositiveIntegerField(_("下一个序号"), default=0)
    token = models.TextField(_("已签名列表"), blank=True, default="")
    signed_at = models.DateTimeField(_("签名时间"), null=True, blank=True)
    dirty = models.BooleanField(_("待重签"), default=True)

    class Meta:
        verbose_name = _("状态列表")
        verbose_name_plural = _("状态列表")

    def __str__(self) -> str:
        return f"status list {self.number}"


class Credential(models.Model):
    """One issued enrolment credential (SD-JWT VC)."""

    jti = models.CharField(_("凭证标识"), max_length=64, unique=True)
    student = models.ForeignKey(
        "students.Student", on_delete=models.PROTECT, related_name="credentials"
    )
    school = models.ForeignKey("schools.School", on_delete=models.PROTECT, related_name="+")
    status_list = models.ForeignKey(StatusList, on_delete=models.PROTECT, related_name="+")
    status_index = models.PositiveIntegerField(_("状态序号"))
    kid = models.CharField(_("签名密钥"), max_length=64)
    alg = models.CharField(_("签名算法"), max_length=16)
    holder_thumbprint = models.CharField(_("持有人公钥指纹"), max_length=64)
    holder_jwk = models.JSONField(_("持有人公钥"), default=dict)
    # What the credential states (rules.EnrolmentFacts): a change of any of them re-issues.
    facts = models.JSONField(_("凭证内容"), default=dict)
    # The portal's custodial holder key (encrypted, xueji.fieldcrypto); blank when the
    # holder brought its own key.
    holder_key_sealed = models.TextField(blank=True, default="")
    # The issued SD-JWT (issuer-signed JWT and every disclosure), for the holder's download.
    issued = models.TextField(_("凭证"), blank=True, default="")
    issued_at = models.DateTimeField(_("签发时间"))
    expires_at = models.DateTimeField(_("有效期至"))
    state = models.CharField(
        _("状态"), max_length=16, choices=CredentialState.choices, default=CredentialState.VALID
    )
    state_changed_at = models.DateTimeField(_("状态变更时间"), null=True, blank=True)
    state_reason = models.CharField(_("状态变更原因"), max_length=64, blank=True, default="")
    replaced_by = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("身份凭证")
        verbose_name_plural = _("身份凭证")
        constraints = [
            models.UniqueConstraint(
                fields=["status_list", "status_index"], name="credential_status_slot"
            )
        ]
        indexes = [models.Index(fields=["student", "state"], name="credential_student_state")]

    def __str__(self) -> str:
        return self.jti


class RelyingParty(models.Model):
    """A registered relying system: what it may ask to see, under which audience, how
    often. It authenticates with a bearer token ``rp_<prefix>_<secret>``; only the secret's
    SHA-256 is stored."""

    name = models.CharField(_("名称"), max_length=128)
    purpose = models.CharField(_("用途"), max_length=255)
    # Claim paths (rules.DISCLOSABLE) it may receive; a presentation disclosing more is refused.
    allowed_disclosures = models.JSONField(_("允许披露的信息"), default=list)
    audience = models.CharField(_("受众标识"), max_length=255, unique=True)
    rate_per_minute = models.PositiveIntegerField(_("每分钟次数上限"), default=60)
    token_prefix = models.CharField(max_length=16, unique=True)
    token_hash = models.CharField(max_length=64)
    active = models.BooleanField(_("启用"), default=True)
    created_at = models.DateTimeField(_("登记时间"))
    created_by = models.CharField(_("登记人"), max_length=150, blank=True, default="")

    class Meta:
        verbose_name = _("依赖方")
        verbose_name_plural = _("依赖方")

    def __str__(self) -> str:
        return self.name


class VerificationWindow(models.Model):
    """Requests of one relying party in one minute (the rate limit)."""

    party = models.ForeignKey(RelyingParty, on_delete=models.CASCADE, related_name="+")
    minute = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["party", "minute"], name="verification_window")
        ]
