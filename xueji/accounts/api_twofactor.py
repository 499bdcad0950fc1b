"""The second factor over the API: a security administrator above an account resets it."""

from django.http import HttpRequest
from ninja import Router, Schema

from xueji.i18n import gettext_lazy_str as _

from .twofactor import totp_reset

router = Router(tags=[_("账号")])


class SecondFactorResetIn(Schema):
    reason: str


class SecondFactorResetOut(Schema):
    user_id: int
    username: str
    enrolled: bool


@router.post(
    "/accounts/{int:user_id}/second-factor/reset",
    response=SecondFactorResetOut,
    summary=_("重置账号的双因素认证（上级单位安全管理员）"),
)
def reset_second_factor(request: HttpRequest, user_id: int, payload: SecondFactorResetIn):
    """Removes the account's authenticator and recovery codes; it enrols again at next
    sign-in. Refusals (role, scope, missing reason) are audited."""
    user = totp_reset(actor=request.auth, user_id=user_id, reason=payload.reason)  # type: ignore[attr-defined]
    return SecondFactorResetOut(user_id=user.pk, username=user.username, enrolled=False)
