"""Units (who an account belongs to), accounts, their roles, and API tokens."""

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _


class UnitKind(models.TextChoices):
    NATIONAL = "national", _("国家级")
    PROVINCE = "province", _("省级")
    CITY = "city", _("地市级")
    COUNTY = "county", _("县区级")
    SCHOOL = "school", _("学校")
    # Art. 27: overseas Chinese schools and mainland-curriculum schools in HK/Macau,
    # registered nationally but listed outside every province.
    SEPARATE = "separate", _("单列管理")


class Unit(models.Model):
    """A division authority or a school: the owner of accounts and the root of a scope.

    ``area_prefix`` is what the unit sees: '' (the nation), a 2/4/6-digit division-code
    prefix (province/city/county), '99' for the separately listed schools, or the school's
    own area code for a school unit (whose scope is narrowed to ``school_id``).
    """

    kind = models.CharField(_("类别"), max_length=16, choices=UnitKind.choices)
    name = models.CharField(_("名称"), max_length=128)
    parent = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="children"
    )
    area_prefix = models.CharField(_("辖区代码前缀"), max_length=6, blank=True, default="")
    division_code = models.CharField(_("行政区划代码"), max_length=6, blank=True, default="")
    school = models.OneToOneField(
        "schools.School", on_delete=models.PROTECT, null=True, blank=True, related_name="unit"
    )

    class Meta:
        verbose_name = _("单位")
        verbose_name_plural = _("单位")
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "division_code"],
                condition=models.Q(kind__in=["province", "city", "county"]),
                name="unit_one_authority_per_division",
            ),
            models.CheckConstraint(
                condition=models.Q(kind="school", school__isnull=False)
                | (~models.Q(kind="school") & models.Q(school__isnull=True)),
                name="unit_school_iff_school_kind",
            ),
        ]
        indexes = [models.Index(fields=["area_prefix"], name="unit_area_prefix")]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    """What an account may do inside its unit's scope (see accounts.rules for permissions)."""

    CLERK = "clerk", _("学籍管理员")
    REVIEWER = "reviewer", _("学籍审核员")
    STATISTICIAN = "statistician", _("统计人员")
    SYSTEM_ADMIN = "system_admin", _("系统管理员")
    SECURITY_ADMIN = "security_admin", _("安全管理员")
    AUDIT_ADMIN = "audit_admin", _("审计管理员")


class User(AbstractUser):
    """An account. Every account belongs to exactly one unit."""

    unit = models.ForeignKey(
        Unit, on_delete=models.PROTECT, related_name="users", null=True, blank=True
    )
    full_name = models.CharField(_("姓名"), max_length=64, blank=True, default="")
    phone = models.CharField(_("联系电话"), max_length=32, blank=True, default="")
    # Security state (requirements §8). Every change goes through accounts.services.
    password_changed_at = models.DateTimeField(_("密码修改时间"), null=True, blank=True)
    must_change_password = models.BooleanField(_("须修改密码"), default=True)
    failed_logins = models.PositiveSmallIntegerField(_("连续登录失败次数"), default=0)
    locked_until = models.DateTimeField(_("锁定至"), null=True, blank=True)
    last_seen_at = models.DateTimeField(_("最近使用时间"), null=True, blank=True)
    sealed_at = models.DateTimeField(_("封存时间"), null=True, blank=True)
    sealed_reason = models.CharField(_("封存原因"), max_length=255, blank=True, default="")
    disabled_at = models.DateTimeField(_("停用时间"), null=True, blank=True)
    disabled_reason = models.CharField(_("停用原因"), max_length=255, blank=True, default="")
    # The one live session when the policy allows a single session per account.
    current_session_key = models.CharField(max_length=40, blank=True, default="")

    class Meta:
        verbose_name = _("账号")
        verbose_name_plural = _("账号")

    @property
    def is_sealed(self) -> bool:
        return self.sealed_at is not None

    @property
    def role_set(self) -> frozenset[str]:
        cached = getattr(self, "_role_cache", None)
        if cached is None:
            cached = (
                frozenset(self.role_grants.values_list("role", flat=True))
                if self.pk
                else frozenset()
            )
            self._role_cache = cached
        return cached


class RoleGrant(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="role_grants")
    role = models.CharField(_("角色"), max_length=32, choices=Role.choices)
    granted_at = models.DateTimeField(_("授予时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("角色授予")
        verbose_name_plural = _("角色授予")
        constraints = [models.UniqueConstraint(fields=["user", "role"], name="role_grant_unique")]


class ApiToken(models.Model):
    """A machine token for API clients. Only a hash is stored; the secret is shown once."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("名称"), max_length=64)
    prefix = models.CharField(_("前缀"), max_length=12, unique=True)
    key_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    expires_at = models.DateTimeField(_("到期时间"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("吊销时间"), null=True, blank=True)
    # Requests per minute this client may make (0: the policy default).
    rate_per_minute = models.PositiveIntegerField(_("每分钟请求上限"), default=0)
    last_used_at = models.DateTimeField(_("最近使用"), null=True, blank=True)

    class Meta:
        verbose_name = _("API 令牌")
        verbose_name_plural = _("API 令牌")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix})"


class PasswordHistory(models.Model):
    """Hashes of an account's earlier passwords: the last few may not be reused."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="password_history")
    password = models.CharField(max_length=128)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-pk"]


class LoginAttempt(models.Model):
    """Every sign-in attempt, good or bad: lockouts and odd patterns are read from here."""

    username = models.CharField(_("用户名"), max_length=150, db_index=True)
    user = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    at = models.DateTimeField(_("时间"), db_index=True)
    ip = models.GenericIPAddressField(_("来源IP"), null=True, blank=True)
    user_agent = models.CharField(max_length=255, blank=True, default="")
    success = models.BooleanField(_("成功"))
    reason = models.CharField(_("结果"), max_length=32)

    class Meta:
        verbose_name = _("登录尝试")
        verbose_name_plural = _("登录尝试")
        ordering = ["-at"]


class TotpDevice(models.Model):
    """The account's authenticator (RFC 6238). The secret is encrypted at rest."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="totp")
    secret = models.CharField(max_length=255)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    # The last accepted time step: a code is good once (no replay).
    last_step = models.BigIntegerField(default=0)
    created_at = models.DateTimeField()


class RecoveryCode(models.Model):
    """One-time recovery codes for a lost authenticator; only hashes are kept."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="recovery_codes")
    code_hash = models.CharField(max_length=128)
    created_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)


class TrainingRecord(models.Model):
    """先培训后上岗: a status clerk's account works only while a valid record is on file."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="trainings")
    course = models.CharField(_("培训课程"), max_length=128)
    completed_on = models.DateField(_("培训日期"))
    certificate_no = models.CharField(_("证书编号"), max_length=64)
    expires_on = models.DateField(_("有效期至"), null=True, blank=True)
    recorded_by = models.CharField(_("登记人"), max_length=150, blank=True, default="")
    recorded_at = models.DateTimeField(_("登记时间"))

    class Meta:
        verbose_name = _("培训记录")
        verbose_name_plural = _("培训记录")
        ordering = ["-completed_on", "-pk"]
