"""API authentication (session cookie or bearer token) and the caller's own account."""

from django.http import HttpRequest
from ninja import Router, Schema
from ninja.security import HttpBearer, SessionAuth

from xueji.i18n import gettext_lazy_str as _

from .tokens import api_token_authenticate


class ApiTokenAuth(HttpBearer):
    """``Authorization: Bearer xj_<prefix>_<secret>`` for API clients.

    A presented token that fails is final (401 ``auth.token_refused``, or 429
    ``rate_limited``): the request does not fall back to a session cookie.
    """

    def authenticate(self, request: HttpRequest, token: str):
        user = api_token_authenticate(token)
        request.user = user
        return user


class UnitSession(SessionAuth):
    """The page session, for accounts that belong to a unit."""

    def authenticate(self, request: HttpRequest, key):
        user = super().authenticate(request, key)
        if user is not None and getattr(user, "unit_id", None) is None:
            return None
        return user


router = Router(tags=[_("账号")])


class MeOut(Schema):
    username: str
    full_name: str
    unit_id: int | None
    unit_name: str
    unit_kind: str
    roles: list[str]


@router.get("/me", response=MeOut, summary=_("当前账号"))
def me(request: HttpRequest):
    user = request.auth  # type: ignore[attr-defined]
    return MeOut(
        username=user.username,
        full_name=user.full_name,
        unit_id=user.unit_id,
        unit_name=user.unit.name if user.unit else "",
        unit_kind=user.unit.kind if user.unit else "",
        roles=sorted(user.role_set),
    )
