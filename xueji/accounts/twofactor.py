"""The second factor: TOTP (RFC 6238) authenticators and one-time recovery codes.

Requirements §8 and issue 3 item 4: a second factor for every account above school level
and for every administrator; enrolment by QR code, confirmed with a current code; one-time
recovery codes; a used code is never accepted again; a reset only by a security
administrator of a unit above the account's.

Contract used by the sign-in pipeline (xueji/accounts/authentication.py):
``second_factor_required(user) -> bool``. After a correct password such an account is
parked in the session (``xj_pending_user``, ``xj_pending_at``) and sent to the page
``accounts:second_factor`` (xueji/accounts/views/twofactor.py), which finishes with
``authentication.complete_sign_in``.

The module holds the pure rules first (time passed in), then the services (the only
writers of devices and recovery codes), then the reads the pages need.
"""

import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
from django.contrib.auth.hashers import check_password, make_password
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from xueji import fieldcrypto
from xueji.audit.events import AuditAction, ObjectType
from xueji.audit.services import audit_record
from xueji.errors import Conflict, DomainError, FieldError, Forbidden, NotFound, ValidationFailed

from . import signin_rules
from .lockout import failure_record, login_attempt_record
from .models import RecoveryCode, TotpDevice, Unit, UnitKind, User
from .permissions import require_permission
from .policy import security_policy
from .rules import ADMIN_ROLES, Permission

# ----------------------------------------------------------------- pure rules

STEP_SECONDS = 30
DIGITS = 6
# One step either side absorbs a phone clock that is up to 30 s off (RFC 6238 §5.2).
DRIFT_STEPS = 1
# A password-checked account waits this long at most for its second factor.
PENDING_MAX_AGE = timedelta(minutes=5)
SECRET_CONTEXT = "accounts.totp_secret"  # noqa: S105 - the column's name, not a secret
# LoginAttempt.reason of a wrong, stale or replayed code.
BAD_SECOND_FACTOR = "bad_second_factor"

# 31 symbols, without 0/O and 1/I/L: easy to read off paper and type back.
RECOVERY_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
RECOVERY_LENGTH = 10  # about 49 bits each
RECOVERY_GROUP = 5

AUTHORITY_KINDS = frozenset(
    {UnitKind.NATIONAL, UnitKind.PROVINCE, UnitKind.CITY, UnitKind.COUNTY, UnitKind.SEPARATE}
)


def second_factor_rule(*, unit_kind: str | None, roles: Iterable[str]) -> bool:
    """TOTP is required above school level and for every administrator at any level."""
    return unit_kind in AUTHORITY_KINDS or bool(ADMIN_ROLES & set(roles))


def second_factor_required(user) -> bool:
    """Whether this account must pass a second factor to sign in."""
    if getattr(user, "is_superuser", False) or getattr(user, "is_staff", False):
        return True
    unit = getattr(user, "unit", None)
    return second_factor_rule(unit_kind=unit.kind if unit else None, roles=user.role_set)


def totp_step(at_unix: float) -> int:
    """The RFC 6238 time step (T) of a Unix time."""
    return int(at_unix // STEP_SECONDS)


def totp_code_at(secret: str, step: int) -> str:
    """The code of one time step (HMAC-SHA1, six digits: what authenticator apps show)."""
    return pyotp.HOTP(secret, digits=DIGITS).at(step)


def totp_check(secret: str, code: str, *, at_unix: float, last_step: int) -> int | None:
    """The time step ``code`` belongs to, or None when it is wrong, too old or used.

    Accepts the current step and one either side (clock drift). A step at or before
    ``last_step`` — the last one accepted for this device — is never accepted again, so a
    code cannot be replayed, even inside its own 30 seconds.
    """
    code = "".join(code.split())
    if len(code) != DIGITS or not code.isascii() or not code.isdigit():
        return None
    current = totp_step(at_unix)
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if step <= last_step or step < 0:
            continue
        if hmac.compare_digest(totp_code_at(secret, step), code):
            return step
    return None


def totp_secret_new() -> str:
    """A fresh 160-bit secret, base32 (RFC 4226 recommends 160 bits)."""
    return pyotp.random_base32(32)


def totp_provisioning_uri(*, secret: str, username: str, issuer: str) -> str:
    """The ``otpauth://`` URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=issuer)


def recovery_code_normalize(text: str) -> str:
    """What the account typed, without spaces or dashes, in capitals."""
    return "".join(ch for ch in text.upper() if ch.isalnum())


def recovery_code_format(raw: str) -> str:
    return "-".join(raw[i : i + RECOVERY_GROUP] for i in range(0, len(raw), RECOVERY_GROUP))


def recovery_code_new() -> str:
    return "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_LENGTH))


def looks_like_totp(text: str) -> bool:
    code = "".join(text.split())
    return len(code) == DIGITS and code.isascii() and code.isdigit()


def pending_expired(started_at: datetime | None, now: datetime) -> bool:
    """Whether a password-checked sign-in waited too long for its second factor."""
    if started_at is None:
        return True
    age = now - started_at
    return age < timedelta(0) or age > PENDING_MAX_AGE


def reset_permitted(
    *,
    actor_id: int,
    actor_unit_id: int | None,
    actor_unit_kind: str | None,
    target_id: int,
    target_unit_id: int | None,
    target_unit_kind: str | None,
    target_ancestor_ids: Iterable[int],
) -> bool:
    """Whether the actor's unit stands strictly above the target's (the security-admin
    role is checked separately). National accounts have nobody above them: another
    national account (never oneself) may reset them."""
    if actor_unit_id is None or target_unit_id is None:
        return False
    if target_unit_kind == UnitKind.NATIONAL:
        return actor_unit_kind == UnitKind.NATIONAL and actor_id != target_id
    return actor_unit_id in set(target_ancestor_ids) and actor_unit_id != target_unit_id


# ----------------------------------------------------------------- errors


class AccountLocked(DomainError):
    """Too many failures in a row: the account waits until ``locked_until``."""

    def __init__(self, until: datetime) -> None:
        local = timezone.localtime(until)
        super().__init__(
            code="account.locked",
            message=_("连续失败次数过多，账号已锁定，请于 %(time)s 后再试。")
            % {"time": f"{local:%H:%M}"},
            http_status=403,
        )


def _bad_code() -> ValidationFailed:
    return ValidationFailed(
        [
            FieldError(
                "code",
                "second_factor.bad_code",
                _(
                    "验证码不正确、已过期或已使用过，请输入验证器上当前显示的6位数字或一个未用过的恢复码。"
                ),
            )
        ],
        message=_("第二因素验证未通过。"),
    )


# ----------------------------------------------------------------- failures and lockout


def _attempt_record(*, user: User, now: datetime, reason: str) -> None:
    login_attempt_record(username=user.username, user=user, reason=reason, now=now)


def _refuse_if_locked(user: User, now: datetime) -> None:
    user.refresh_from_db(fields=["locked_until", "failed_logins"])
    if signin_rules.is_locked(user.locked_until, now):
        assert user.locked_until is not None
        with transaction.atomic():
            _attempt_record(user=user, now=now, reason="locked")
        raise AccountLocked(user.locked_until)


def _failure_record(*, user: User, now: datetime) -> None:
    """Log a wrong second factor; it counts towards the same lockout as wrong passwords."""
    failure_record(
        username=user.username,
        user=user,
        now=now,
        reason=BAD_SECOND_FACTOR,
        what="第二因素验证失败",
    )


def _refused(*, user: User, now: datetime) -> ValidationFailed:
    _failure_record(user=user, now=now)
    return _bad_code()


# ----------------------------------------------------------------- services


def _secret_of(device: TotpDevice) -> str:
    return fieldcrypto.decrypt(device.secret, context=SECRET_CONTEXT)


def _recovery_codes_replace(*, user: User, now: datetime) -> list[str]:
    """New recovery codes (shown once; only hashes kept); earlier ones stop working."""
    raw = [recovery_code_new() for _ in range(security_policy().recovery_codes)]
    RecoveryCode.objects.filter(user=user).delete()
    RecoveryCode.objects.bulk_create(
        [RecoveryCode(user=user, code_hash=make_password(code), created_at=now) for code in raw]
    )
    return [recovery_code_format(code) for code in raw]


@dataclass(frozen=True)
class Enrolment:
    """An enrolment in progress: the device (not yet confirmed), its secret, and a mark
    naming this enrolment (the page keeps it in the session to resume it)."""

    device: TotpDevice
    secret: str
    mark: str


def _enrolment_mark(device: TotpDevice) -> str:
    return f"{device.pk}:{device.created_at.timestamp():.6f}"


def totp_enrolment_begin(*, user: User, now: datetime, resume: str = "") -> Enrolment:
    """The unconfirmed device of the account, with a new secret unless ``resume`` names it.

    Each new enrolment session draws its own secret, so a secret shown to an earlier,
    abandoned session (another browser, another person who knew the password) never
    becomes the account's factor.
    """
    with transaction.atomic():
        device = TotpDevice.objects.select_for_update().filter(user=user).first()
        if device is not None and device.confirmed_at is not None:
            raise Conflict("second_factor.enrolled", _("该账号已绑定验证器。"))
        if device is None or not resume or _enrolment_mark(device) != resume:
            device = device or TotpDevice(user=user)
            device.secret = fieldcrypto.encrypt(totp_secret_new(), context=SECRET_CONTEXT)
            device.created_at = now
            device.last_step = 0
            device.save()
    return Enrolment(device=device, secret=_secret_of(device), mark=_enrolment_mark(device))


def totp_device_confirm(*, user: User, code: str, now: datetime) -> list[str]:
    """Activate the enrolment with a current code; returns the recovery codes (shown once)."""
    _refuse_if_locked(user, now)
    with transaction.atomic():
        device = TotpDevice.objects.select_for_update().filter(user=user).first()
        if device is None:
            raise Conflict("second_factor.no_enrolment", _("绑定已失效，请重新扫描二维码。"))
        if device.confirmed_at is not None:
            raise Conflict("second_factor.enrolled", _("该账号已绑定验证器。"))
        step = totp_check(
            _secret_of(device), code, at_unix=now.timestamp(), last_step=device.last_step
        )
        if step is not None:
            device.confirmed_at = now
            device.last_step = step
            device.save(update_fields=["confirmed_at", "last_step"])
            codes = _recovery_codes_replace(user=user, now=now)
            audit_record(
                actor=user,
                action=AuditAction.ACCOUNT_TOTP_ENROL,
                object_type=ObjectType.USER,
                object_id=user.pk,
                summary=f"账号 {user.username} 绑定验证器并生成 {len(codes)} 个恢复码",
            )
            return codes
    raise _refused(user=user, now=now)


def totp_device_install(*, user: User, secret: str, now: datetime, actor: User | None = None):
    """Give the account a confirmed authenticator with a known secret (demo accounts).

    Not reachable from any page or API: only the demo setup calls it.
    """
    pyotp.TOTP(secret).now()  # refuses a secret that is not base32
    with transaction.atomic():
        device = TotpDevice.objects.select_for_update().filter(user=user).first()
        if device is not None and device.confirmed_at is not None and _secret_of(device) == secret:
            return device
        if device is None:
            device = TotpDevice(user=user)
        device.secret = fieldcrypto.encrypt(secret, context=SECRET_CONTEXT)
        device.created_at = now
        device.confirmed_at = now
        device.last_step = 0
        device.save()
        audit_record(
            actor=actor,
            action=AuditAction.ACCOUNT_TOTP_INSTALL,
            object_type=ObjectType.USER,
            object_id=user.pk,
            summary=f"为演示账号 {user.username} 预置验证器",
        )
    return device


def totp_verify(*, user: User, code: str, now: datetime) -> int:
    """Accept a current TOTP code once; returns its time step.

    Wrong, stale (more than one step off) and replayed codes are refused with a Chinese
    message, logged as a failed sign-in attempt and counted towards the lockout.
    """
    _refuse_if_locked(user, now)
    with transaction.atomic():
        device = (
            TotpDevice.objects.select_for_update()
            .filter(user=user, confirmed_at__isnull=False)
            .first()
        )
        step = None
        if device is not None:
            step = totp_check(
                _secret_of(device), code, at_unix=now.timestamp(), last_step=device.last_step
            )
        # Compare-and-set as well as the row lock: of two requests with one code, exactly
        # one moves last_step forward, even where select_for_update is a no-op (SQLite).
        if (
            device is not None
            and step is not None
            and TotpDevice.objects.filter(pk=device.pk, last_step__lt=step).update(last_step=step)
        ):
            return step
    raise _refused(user=user, now=now)


def recovery_code_use(*, user: User, code: str, now: datetime) -> int:
    """Accept an unused recovery code once; returns how many are left."""
    _refuse_if_locked(user, now)
    typed = recovery_code_normalize(code)
    with transaction.atomic():
        unused = list(
            RecoveryCode.objects.select_for_update().filter(user=user, used_at__isnull=True)
        )
        match = None
        if len(typed) == RECOVERY_LENGTH:
            match = next((rc for rc in unused if check_password(typed, rc.code_hash)), None)
        if match is not None and RecoveryCode.objects.filter(
            pk=match.pk, used_at__isnull=True
        ).update(used_at=now):
            left = len(unused) - 1
            audit_record(
                actor=user,
                action=AuditAction.ACCOUNT_RECOVERY_CODE_USE,
                object_type=ObjectType.USER,
                object_id=user.pk,
                summary=f"账号 {user.username} 使用恢复码登录，剩余 {left} 个",
                detail={"left": left},
            )
            return left
    raise _refused(user=user, now=now)


def second_factor_verify(*, user: User, code: str, now: datetime) -> str:
    """Six digits are a TOTP code, anything else a recovery code. Returns which was used."""
    if looks_like_totp(code):
        totp_verify(user=user, code=code, now=now)
        return "totp"
    recovery_code_use(user=user, code=code, now=now)
    return "recovery"


def recovery_codes_regenerate(*, user: User, code: str, now: datetime) -> list[str]:
    """New recovery codes for a signed-in account that proves it holds the authenticator."""
    totp_verify(user=user, code=code, now=now)
    with transaction.atomic():
        codes = _recovery_codes_replace(user=user, now=now)
        audit_record(
            actor=user,
            action=AuditAction.ACCOUNT_RECOVERY_CODES_REGENERATE,
            object_type=ObjectType.USER,
            object_id=user.pk,
            summary=f"账号 {user.username} 重新生成 {len(codes)} 个恢复码",
        )
    return codes


def _unit_ancestor_ids(unit_id: int) -> list[int]:
    """The units above ``unit_id``, nearest first (at most five levels)."""
    found: list[int] = []
    parent_id = Unit.objects.filter(pk=unit_id).values_list("parent_id", flat=True).first()
    while parent_id is not None and parent_id not in found:
        found.append(parent_id)
        parent_id = Unit.objects.filter(pk=parent_id).values_list("parent_id", flat=True).first()
    return found


def access_account_for_second_factor_reset(actor, *, user_id: int) -> User:
    """The account whose second factor ``actor`` may reset.

    Only a security administrator (Forbidden otherwise); an account outside its unit's
    subtree reads as "not found", like a missing one; an account of its own unit (or its
    own account) is refused: the reset needs an administrator above.
    """
    require_permission(actor, Permission.SECURITY_MANAGE)
    target = User.objects.select_related("unit").filter(pk=user_id).first()
    actor_unit = actor.unit
    target_unit = target.unit if target is not None else None
    if target is None or actor_unit is None or target_unit is None:
        raise NotFound("user")
    ancestors = _unit_ancestor_ids(target_unit.pk)
    if actor_unit.pk != target_unit.pk and actor_unit.pk not in ancestors:
        raise NotFound("user")
    if not reset_permitted(
        actor_id=actor.pk,
        actor_unit_id=actor_unit.pk,
        actor_unit_kind=actor_unit.kind,
        target_id=target.pk,
        target_unit_id=target_unit.pk,
        target_unit_kind=target_unit.kind,
        target_ancestor_ids=ancestors,
    ):
        raise Forbidden(_("只有上级单位的安全管理员可以重置该账号的双因素认证。"))
    return target


def totp_reset(*, actor: User, user_id: int, reason: str) -> User:
    """Remove an account's authenticator and recovery codes; it enrols again at next sign-in.

    Refusals are audited too: a reset is a sensitive act and attempts at it are signals.
    """
    reason = reason.strip()
    try:
        target = access_account_for_second_factor_reset(actor, user_id=user_id)
        if not reason:
            raise ValidationFailed([FieldError("reason", "reason.required", _("请填写重置原因。"))])
    except DomainError as error:
        with transaction.atomic():
            audit_record(
                actor=actor,
                action=AuditAction.ACCOUNT_TOTP_RESET_REFUSED,
                object_type=ObjectType.USER,
                object_id=user_id,
                summary=f"重置双因素认证被拒绝：{error.code}",
                detail={"code": error.code, "reason": reason[:255]},
            )
        raise
    with transaction.atomic():
        # Lock the account row: a reset and a sign-in on the same account queue up.
        User.objects.select_for_update().filter(pk=target.pk).first()
        had_device = TotpDevice.objects.filter(user=target).delete()[0] > 0
        codes_removed = RecoveryCode.objects.filter(user=target).delete()[0]
        audit_record(
            actor=actor,
            action=AuditAction.ACCOUNT_TOTP_RESET,
            object_type=ObjectType.USER,
            object_id=target.pk,
            summary=f"重置账号 {target.username} 的双因素认证：{reason}"[:255],
            detail={
                "reason": reason,
                "had_device": had_device,
                "recovery_codes_removed": codes_removed,
            },
        )
    return target


# ----------------------------------------------------------------- reads


@dataclass(frozen=True)
class SecondFactorStatus:
    required: bool
    enrolled: bool
    confirmed_at: datetime | None
    recovery_codes_left: int


def second_factor_status(user: User) -> SecondFactorStatus:
    device = TotpDevice.objects.filter(user=user, confirmed_at__isnull=False).first()
    left = RecoveryCode.objects.filter(user=user, used_at__isnull=True).count() if device else 0
    return SecondFactorStatus(
        required=second_factor_required(user),
        enrolled=device is not None,
        confirmed_at=device.confirmed_at if device else None,
        recovery_codes_left=left,
    )


def totp_device_holds(user: User, secret: str) -> bool:
    """Whether the account's confirmed authenticator uses ``secret`` (the demo's check)."""
    device = TotpDevice.objects.filter(user=user, confirmed_at__isnull=False).first()
    return device is not None and hmac.compare_digest(_secret_of(device), secret)
