"""API tokens: ``xj_<prefix>_<secret>``; only the SHA-256 of the whole token is stored.

A token works while it is neither expired nor revoked and its account may work (the same
``access_block_reason`` as sign-in, and not locked); each token has a per-minute rate.
Every refusal is a ``LoginAttempt`` with the user name ``token:<prefix>``.
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.cache import cache
from django.db import transaction
from django.utils.translation import gettext as _

from xueji import clock
from xueji.audit.events import AuditAction, ObjectType
from xueji.audit.services import audit_record
from xueji.errors import DomainError

from . import signin_rules
from .authentication import Reason, access_block_reason, login_attempt_record
from .models import ApiToken, User
from .policy import security_policy


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def api_token_issue(
    *,
    actor: User,
    user: User,
    name: str,
    expires_at: datetime | None,
    rate_per_minute: int = 0,
) -> IssuedToken:
    prefix = secrets.token_hex(5)
    raw = f"xj_{prefix}_{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user,
            name=name,
            prefix=prefix,
            key_hash=_digest(raw),
            expires_at=expires_at,
            rate_per_minute=rate_per_minute,
        )
        audit_record(
            actor=actor,
            action=AuditAction.API_TOKEN_ISSUE,
            object_type=ObjectType.API_TOKEN,
            object_id=token.pk,
            summary=f"为 {user.username} 签发令牌 {name}",
        )
    return IssuedToken(token=token, secret=raw)


def api_token_revoke(*, actor: User, token: ApiToken) -> ApiToken:
    """Revoke a token (the caller has checked who may); a revoked token never works again."""
    now = clock.now()
    with transaction.atomic():
        ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=now)
        token.revoked_at = now
        audit_record(
            actor=actor,
            action=AuditAction.API_TOKEN_REVOKE,
            object_type=ObjectType.API_TOKEN,
            object_id=token.pk,
            summary=f"吊销 {token.user.username} 的令牌 {token.name}",
        )
    return token


class TokenRefused(DomainError):
    """401: the bearer token is unknown, forged, expired or revoked, or its account may not
    work. Details only once the secret matched: a guesser learns nothing."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(
            code="auth.token_refused",
            message=message or _("API 令牌无效。"),
            http_status=401,
        )


class RateLimited(DomainError):
    """429: the token used up its requests for this minute; ``retry_after`` in seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            code="rate_limited",
            message=_("请求过于频繁，请于 %(n)d 秒后重试。") % {"n": retry_after},
            http_status=429,
            detail={"retry_after": retry_after},
        )
        self.retry_after = retry_after


def _refused(
    token_label: str, user: User | None, reason: str, message: str | None = None
) -> TokenRefused:
    """Log the refusal; returns the error to raise."""
    with transaction.atomic():
        login_attempt_record(username=f"token:{token_label}", user=user, reason=reason)
    return TokenRefused(message)


def api_token_authenticate(raw: str) -> User:
    """The token's account when the token is known, live, within its rate, and its account
    may work (``access_block_reason``, and not locked). Raises ``TokenRefused`` (logged as
    a ``LoginAttempt`` of ``token:<prefix>``) or ``RateLimited``."""
    parts = raw.split("_", 2)
    label = parts[1][:12] if len(parts) == 3 and parts[0] == "xj" else "?"
    token = None
    if label != "?":
        token = ApiToken.objects.select_related("user", "user__unit").filter(prefix=label).first()
    if token is None or not secrets.compare_digest(token.key_hash, _digest(raw)):
        raise _refused(label, None if token is None else token.user, Reason.TOKEN_UNKNOWN)
    now = clock.now()
    user = token.user
    if token.revoked_at is not None:
        raise _refused(label, user, Reason.TOKEN_REVOKED, _("API 令牌已吊销。"))
    if token.expires_at is not None and token.expires_at <= now:
        raise _refused(label, user, Reason.TOKEN_EXPIRED, _("API 令牌已过期。"))
    blocked = access_block_reason(user, now=now)
    if blocked is None and signin_rules.is_locked(user.locked_until, now):
        blocked = (Reason.LOCKED, _("账号已锁定，暂不能使用 API 令牌。"))
    if blocked is not None:
        raise _refused(label, user, blocked[0], blocked[1])
    _rate_check(token, now)
    # One write per minute at most: neither table is a hot spot. Token use is use of the
    # account: it keeps the account from counting as dormant.
    if token.last_used_at is None or now - token.last_used_at >= timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        User.objects.filter(pk=user.pk).update(last_seen_at=now)
    return user


def _rate_check(token: ApiToken, now: datetime) -> None:
    """A fixed one-minute window per token, counted in the default cache.

    The default cache is per process (LocMemCache): with several server processes each
    counts on its own, so production should configure a shared cache (Redis, or Django's
    database cache) for the limit to hold across them.
    """
    limit = token.rate_per_minute or security_policy().api_rate_per_minute
    if limit <= 0:
        return
    window, retry_after = signin_rules.rate_window(now)
    key = f"xj:api-rate:{token.prefix}:{window}"
    cache.add(key, 0, timeout=120)
    try:
        count = cache.incr(key)
    except ValueError:  # evicted between add and incr
        cache.set(key, 1, timeout=120)
        count = 1
    if count > limit:
        if count == limit + 1:  # logged once per window, not once per excess request
            with transaction.atomic():
                login_attempt_record(
                    username=f"token:{token.prefix}", user=token.user, reason=Reason.RATE_LIMITED
                )
        raise RateLimited(retry_after)
