"""API tokens: ``xj_<prefix>_<secret>``; only the SHA-256 of the whole token is stored."""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from xueji import clock
from xueji.audit.services import audit_record

from .models import ApiToken, User


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def api_token_issue(
    *, actor: User, user: User, name: str, expires_at: datetime | None
) -> IssuedToken:
    prefix = secrets.token_hex(5)
    raw = f"xj_{prefix}_{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user, name=name, prefix=prefix, key_hash=_digest(raw), expires_at=expires_at
        )
        audit_record(
            actor=actor,
            action="api_token.issue",
            object_type="api_token",
            object_id=token.pk,
            summary=f"为 {user.username} 签发令牌 {name}",
        )
    return IssuedToken(token=token, secret=raw)


def api_token_authenticate(raw: str) -> User | None:
    """The token's user when the token is known, live, and its user may sign in."""
    parts = raw.split("_", 2)
    if len(parts) != 3 or parts[0] != "xj":
        return None
    token = ApiToken.objects.select_related("user", "user__unit").filter(prefix=parts[1]).first()
    if token is None or not secrets.compare_digest(token.key_hash, _digest(raw)):
        return None
    now = clock.now()
    if token.revoked_at is not None or (token.expires_at is not None and token.expires_at <= now):
        return None
    user = token.user
    if not user.is_active or user.unit_id is None:
        return None
    # One write per minute at most: the token table is not a hot spot.
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return user
