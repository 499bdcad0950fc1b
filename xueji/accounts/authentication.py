"""The sign-in pipeline: lockout → credentials → may this account work → second factor.

``sign_in`` is what the sign-in page calls; ``complete_sign_in`` opens the session once every
step has passed (the second-factor page calls it after checking the code). ``access_block_reason``
is shared with API tokens and with the session middleware, so an account that may not sign in
cannot keep working through an old session or a token either.

Every attempt, good or bad, is a ``LoginAttempt`` row (requirements §8: the early warning
reads failed logins and attempts on sealed accounts from there).
"""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from django.contrib.auth import login, logout, update_session_auth_hash
from django.contrib.auth.hashers import check_password, make_password
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from xueji import clock
from xueji.audit.events import AuditAction, ObjectType
from xueji.audit.services import audit_record

from . import rules, selectors, signin_rules, twofactor
from .lockout import failure_record, login_attempt_record, unknown_name_locked_until
from .models import Role, User
from .policy import security_policy

BACKEND = "xueji.accounts.backends.UnitAccountBackend"

# Session keys. The second-factor step reads PENDING_USER/PENDING_AT/PENDING_NEXT.
PENDING_USER = "xj_pending_user"
PENDING_AT = "xj_pending_at"
PENDING_NEXT = "xj_pending_next"
SIGNED_IN_AT = "xj_signed_in_at"  # epoch seconds: the absolute lifetime counts from here
ACTIVE_AT = "xj_active_at"  # epoch seconds of the last request: the idle timeout


class Reason(StrEnum):
    """``LoginAttempt.reason``: the outcome of one attempt."""

    OK = "ok"
    BAD_PASSWORD = "bad_password"  # noqa: S105 - a reason code, not a secret
    UNKNOWN_USER = "unknown_user"
    LOCKED = "locked"
    SEALED = "sealed"
    DISABLED = "disabled"
    UNTRAINED = "untrained"
    INACTIVE = "inactive"
    # API tokens (username "token:<prefix>")
    TOKEN_UNKNOWN = "token_unknown"  # noqa: S105 - a reason code, not a secret
    TOKEN_EXPIRED = "token_expired"  # noqa: S105 - a reason code, not a secret
    TOKEN_REVOKED = "token_revoked"  # noqa: S105 - a reason code, not a secret
    RATE_LIMITED = "rate_limited"


class Step(StrEnum):
    SIGNED_IN = "signed_in"
    SECOND_FACTOR = "second_factor"  # redirect to accounts:second_factor
    REFUSED = "refused"


@dataclass(frozen=True)
class SignInResult:
    step: Step
    user: User | None = None
    reason: str = ""
    message: str = ""

    @property
    def refused(self) -> bool:
        return self.step == Step.REFUSED


def bad_credentials_message() -> str:
    """The one refusal for an unknown user name, a wrong password and a locked account (a
    lock caused by wrong passwords; unknown names lock too): the answer does not tell
    whether an account of that name exists (issue 10, finding 7)."""
    policy = security_policy()
    if policy.lockout_threshold <= 0:
        return _("您的账号或密码不正确")
    return _(
        "您的账号或密码不正确。连续失败 %(n)d 次后将暂停登录 %(minutes)d 分钟，"
        "暂停期间即使密码正确也无法登录，请稍后再试。"
    ) % {"n": policy.lockout_threshold, "minutes": policy.lockout_minutes}


def locked_message(locked_until: datetime) -> str:
    """The lock with its end: only for whoever has proved the password (the second-factor
    step); the sign-in page answers a lock with ``bad_credentials_message``."""
    return _("账号已锁定，请于 %(time)s 后重试") % {
        "time": timezone.localtime(locked_until).strftime("%H:%M")
    }


def hash_work(password: str, encoded: str | None = None) -> None:
    """The hashing a real password check costs, for the answers that need none (an unknown
    name, a locked account): every refusal takes the same time class. The result is
    ignored; ``hashers.check_password`` writes no upgraded hash."""
    if encoded:
        check_password(password, encoded)
    else:
        make_password(password)


# ---------------------------------------------------------------- may this account work


def access_block_reason(
    user: User, *, now: datetime, check_training: bool = True
) -> tuple[str, str] | None:
    """Why this account may not work now, as (reason code, Chinese message), or None.

    Shared by sign-in, API tokens and open sessions. A dormant account is refused as sealed
    even before the nightly sealing job has marked it. ``check_training=False`` skips the
    one check that needs a query (the session middleware runs it once a minute).
    """
    if not user.is_active or user.unit_id is None:
        return Reason.INACTIVE, _("账号未启用，请联系系统管理员")
    if user.disabled_at is not None:
        return Reason.DISABLED, _("账号已停用")
    policy = security_policy()
    if user.sealed_at is not None or (
        policy.dormant_days > 0
        and rules.is_dormant(
            last_used=user.last_seen_at or user.date_joined,
            now=now,
            dormant_days=policy.dormant_days,
        )
    ):
        return Reason.SEALED, _("账号已封存，请联系上级安全管理员解封")
    if (
        check_training
        and Role.CLERK in user.role_set
        and not selectors.has_valid_training(user, today=timezone.localdate(now))
    ):
        return Reason.UNTRAINED, _("须完成学籍管理员培训后方可使用（先培训后上岗）")
    return None


# ---------------------------------------------------------------- the attempt log


def _refuse(username: str, user: User | None, reason: str, message: str) -> SignInResult:
    with transaction.atomic():
        login_attempt_record(username=username, user=user, reason=reason)
    return SignInResult(Step.REFUSED, user=user, reason=reason, message=message)


# ---------------------------------------------------------------- the pipeline


def sign_in(request: HttpRequest, username: str, password: str) -> SignInResult:
    """Check one sign-in attempt and, when it passes, open the session or hand over to the
    second factor. Refusals carry the Chinese message to show."""
    now = clock.now()
    user = User.objects.select_related("unit").filter(username=username).first()
    if user is None:
        # The same hashing work as a real check, so timing does not reveal unknown names;
        # an unknown name locks after as many failures as an account does.
        hash_work(password)
        if unknown_name_locked_until(username, now=now) is not None:
            return _refuse(username, None, Reason.LOCKED, bad_credentials_message())
        return _refuse(username, None, Reason.UNKNOWN_USER, bad_credentials_message())
    if signin_rules.is_locked(user.locked_until, now):
        hash_work(password, user.password)
        return _refuse(username, user, Reason.LOCKED, bad_credentials_message())
    if not user.check_password(password):
        until = failure_record(
            username=username, user=user, now=now, reason=Reason.BAD_PASSWORD, what="密码错误"
        )
        reason = Reason.LOCKED if until is not None else Reason.BAD_PASSWORD
        return SignInResult(Step.REFUSED, user, reason, bad_credentials_message())
    blocked = access_block_reason(user, now=now)
    if blocked is not None:
        return _refuse(username, user, *blocked)
    if twofactor.second_factor_required(user):
        # Not signed in yet: the second-factor page finishes with complete_sign_in.
        request.session[PENDING_USER] = user.pk
        request.session[PENDING_AT] = now.timestamp()
        return SignInResult(Step.SECOND_FACTOR, user)
    complete_sign_in(request, user)
    return SignInResult(Step.SIGNED_IN, user, Reason.OK)


def complete_sign_in(request: HttpRequest, user: User) -> None:
    """Open the session of an account that passed every step: Django's login (new session
    key), the lifetime stamps, the single-session key, last use, the failure count reset,
    the attempt row and the audit event."""
    now = clock.now()
    policy = security_policy()
    login(request, user, backend=BACKEND)
    session = request.session
    for key in (PENDING_USER, PENDING_AT, PENDING_NEXT):
        session.pop(key, None)
    session[SIGNED_IN_AT] = now.timestamp()
    session[ACTIVE_AT] = now.timestamp()
    session.set_expiry(policy.session_idle_minutes * 60)
    if session.session_key is None:
        session.save()
    session_key = session.session_key or ""
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(
            failed_logins=0, locked_until=None, last_seen_at=now, current_session_key=session_key
        )
        login_attempt_record(username=user.username, user=user, reason=Reason.OK, now=now)
        audit_record(
            actor=user,
            action=AuditAction.ACCOUNT_SIGN_IN,
            object_type=ObjectType.USER,
            object_id=user.pk,
            summary=f"{user.username} 登录",
        )
    user.failed_logins, user.locked_until, user.last_seen_at = 0, None, now
    user.current_session_key = session_key


def sign_out(request: HttpRequest, *, reason: str = "user", note: str = "") -> None:
    """End the session (audited when an account was signed in). ``reason``: ``user`` (the
    sign-out button), or why the server ended it (a ``signin_rules.SessionEnd`` or an
    ``access_block_reason`` code), with ``note`` saying so in Chinese."""
    user = request.user
    if user.is_authenticated:
        assert isinstance(user, User)
        with transaction.atomic():
            if user.current_session_key and user.current_session_key == request.session.session_key:
                User.objects.filter(pk=user.pk).update(current_session_key="")
            audit_record(
                actor=user,
                action=AuditAction.ACCOUNT_SIGN_OUT,
                object_type=ObjectType.USER,
                object_id=user.pk,
                summary=f"{user.username} 退出登录" + (f"：{note}" if note else ""),
                detail={"reason": reason},
            )
    logout(request)


def keep_session_after_password_change(request: HttpRequest, user: User) -> None:
    """The password change invalidates every other session (Django's session hash); this
    one continues under a new key, which becomes the account's current session."""
    update_session_auth_hash(request, user)
    session_key = request.session.session_key or ""
    User.objects.filter(pk=user.pk).update(current_session_key=session_key)
    user.current_session_key = session_key
