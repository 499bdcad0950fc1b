"""Account pages: the second factor.

- ``second_factor``: the sign-in step after a correct password. The sign-in pipeline parks
  the account in the session (``xj_pending_user`` and ``xj_pending_at``, ISO time); this
  page asks for a TOTP code or a recovery code and finishes with
  ``authentication.complete_sign_in``. A parked sign-in older than five minutes is dropped.
- ``twofactor_enrol``: QR code and secret, confirmed with a current code; the recovery
  codes are shown once. Serves the parked account (first sign-in, or after a reset) and a
  signed-in account alike.
- ``twofactor_status``: the signed-in account's second factor; new recovery codes for a
  current code.
- ``twofactor_reset``: a security administrator above the account removes its second factor.

No page here shows a secret or codes from the cache (``never_cache``), and the QR code is
an SVG in a ``data:`` image: no inline script or style.
"""

import base64
import io
from datetime import UTC, datetime
from typing import cast

import qrcode
import qrcode.image.svg
from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.urls import path, reverse
from django.utils.dateparse import parse_datetime
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache

from xueji import clock
from xueji.accounts import twofactor
from xueji.accounts.authentication import (
    PENDING_AT,
    PENDING_NEXT,
    PENDING_USER,
    access_block_reason,
    complete_sign_in,
)
from xueji.accounts.models import User
from xueji.accounts.policy import security_policy
from xueji.errors import Conflict, ValidationFailed
from xueji.web.forms import StyledForm
from xueji.web.views import page

# PENDING_USER, PENDING_AT and PENDING_NEXT are the sign-in pipeline's: who waits for the
# second factor, since when, and where to go afterwards. This one is the enrolment's own:
# which enrolment this browser session was shown (a new session draws a new secret).
ENROL_MARK = "xj_totp_enrol"


class CodeForm(StyledForm):
    code = forms.CharField(
        label=gettext_lazy("验证码"),
        max_length=32,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "autocapitalize": "characters"}
        ),
    )


class TotpCodeForm(StyledForm):
    code = forms.CharField(
        label=gettext_lazy("验证器上的6位数字"),
        max_length=16,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "pattern": "[0-9 ]*"}
        ),
    )


class ResetForm(StyledForm):
    # Blank reasons reach the service, which refuses and audits them.
    reason = forms.CharField(
        label=gettext_lazy("重置原因"),
        max_length=200,
        required=False,
        help_text=gettext_lazy("例如：手机丢失、更换手机。原因记入审计日志。"),
    )
    marked_required = frozenset({"reason"})


# ---------------------------------------------------------------- the parked sign-in


def _pending_discard(request: HttpRequest) -> None:
    for key in (PENDING_USER, PENDING_AT, PENDING_NEXT, ENROL_MARK):
        request.session.pop(key, None)


def _pending_started(value) -> datetime | None:
    """When the password was checked: epoch seconds (the pipeline) or an ISO time."""
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    parsed = parse_datetime(str(value or ""))
    return parsed if parsed is not None and parsed.tzinfo is not None else None


def _pending_user(request: HttpRequest) -> User | None:
    """The password-checked account waiting for its second factor, if still fresh and
    still allowed to work (it may have been sealed or disabled meanwhile)."""
    pk = request.session.get(PENDING_USER)
    if pk is None:
        return None
    now = clock.now()
    if twofactor.pending_expired(_pending_started(request.session.get(PENDING_AT)), now):
        _pending_discard(request)
        messages.warning(request, _("登录等待时间过长，请重新输入用户名和密码。"))
        return None
    user = User.objects.select_related("unit").filter(pk=pk).first()
    blocked = access_block_reason(user, now=now) if user is not None else ("", "")
    if user is None or blocked is not None:
        _pending_discard(request)
        if blocked and blocked[1]:
            messages.error(request, blocked[1])
        return None
    return user


def _to_sign_in() -> HttpResponse:
    return redirect("web:login")


def _sign_in_done(request: HttpRequest, user: User) -> str:
    """Finish the sign-in through the pipeline; returns where to go next."""
    wanted = str(request.session.get(PENDING_NEXT) or "")
    _pending_discard(request)
    complete_sign_in(request, user)
    if wanted and url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return wanted
    return resolve_url(settings.LOGIN_REDIRECT_URL)


def _locked_out(request: HttpRequest, error: twofactor.AccountLocked) -> HttpResponse:
    _pending_discard(request)
    messages.error(request, str(error.message))
    return _to_sign_in()


@never_cache
def second_factor_view(request: HttpRequest) -> HttpResponse:
    """Sign-in, second step: a TOTP code or a recovery code."""
    user = _pending_user(request)
    if user is None:
        return _to_sign_in()
    if not twofactor.second_factor_status(user).enrolled:
        return redirect("accounts:twofactor_enrol")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            used = twofactor.second_factor_verify(
                user=user, code=form.cleaned_data["code"], now=clock.now()
            )
        except twofactor.AccountLocked as error:
            return _locked_out(request, error)
        except ValidationFailed as error:
            form.add_field_errors(error.errors)
        else:
            target = _sign_in_done(request, user)
            if used == "recovery":
                messages.warning(
                    request,
                    _(
                        "您使用了一个恢复码登录，该恢复码已作废。剩余恢复码不多时，请在“双因素认证”页面重新生成。"
                    ),
                )
            return redirect(target)
    return render(request, "accounts/twofactor/verify.html", {"form": form, "account": user})


# ---------------------------------------------------------------- enrolment


def _qr_data_uri(text: str) -> str:
    """The QR code of ``text`` as an SVG ``data:`` URI (no Pillow, no inline markup)."""
    image = qrcode.make(
        text,
        image_factory=qrcode.image.svg.SvgPathImage,
        box_size=10,
        border=2,
        error_correction=qrcode.constants.ERROR_CORRECT_M,
    )
    buffer = io.BytesIO()
    image.save(buffer)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _grouped(secret: str) -> str:
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def _enrol_page(request: HttpRequest, user: User, form: forms.Form, *, parked: bool):
    enrolment = twofactor.totp_enrolment_begin(
        user=user, now=clock.now(), resume=str(request.session.get(ENROL_MARK) or "")
    )
    request.session[ENROL_MARK] = enrolment.mark
    uri = twofactor.totp_provisioning_uri(
        secret=enrolment.secret, username=user.username, issuer=security_policy().totp_issuer
    )
    return render(
        request,
        "accounts/twofactor/enrol.html",
        {
            "form": form,
            "account": user,
            "parked": parked,
            "qr_src": _qr_data_uri(uri),
            "secret": _grouped(enrolment.secret),
            "issuer": security_policy().totp_issuer,
        },
    )


@never_cache
def twofactor_enrol_view(request: HttpRequest) -> HttpResponse:
    """Bind an authenticator: scan, type the current code, keep the recovery codes."""
    user = _pending_user(request)
    parked = user is not None
    if user is None and request.user.is_authenticated:
        user = cast(User, request.user)
    if user is None:
        return _to_sign_in()
    if twofactor.second_factor_status(user).enrolled:
        if parked:
            return redirect("accounts:second_factor")
        messages.info(request, _("您的账号已绑定验证器。"))
        return redirect("accounts:twofactor_status")
    form = TotpCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            codes = twofactor.totp_device_confirm(
                user=user, code=form.cleaned_data["code"], now=clock.now()
            )
        except twofactor.AccountLocked as error:
            if parked:
                return _locked_out(request, error)
            messages.error(request, str(error.message))
            return redirect("accounts:twofactor_status")
        except ValidationFailed as error:
            form.add_field_errors(error.errors)
        except Conflict as error:
            messages.error(request, str(error.message))
            return redirect("accounts:twofactor_enrol")
        else:
            request.session.pop(ENROL_MARK, None)
            target = (
                _sign_in_done(request, user) if parked else reverse("accounts:twofactor_status")
            )
            return _recovery_codes_page(request, codes, target=target, first=True)
    return _enrol_page(request, user, form, parked=parked)


def _recovery_codes_page(
    request: HttpRequest, codes: list[str], *, target: str, first: bool
) -> HttpResponse:
    return render(
        request,
        "accounts/twofactor/recovery_codes.html",
        {"codes": codes, "target": target, "first": first},
    )


# ---------------------------------------------------------------- the signed-in account


@never_cache
@page
def twofactor_status_view(request: HttpRequest) -> HttpResponse:
    """The account's second factor; POST with a current code: new recovery codes."""
    user = cast(User, request.user)
    form = TotpCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            codes = twofactor.recovery_codes_regenerate(
                user=user, code=form.cleaned_data["code"], now=clock.now()
            )
        except ValidationFailed as error:
            form.add_field_errors(error.errors)
        else:
            return _recovery_codes_page(
                request, codes, target=reverse("accounts:twofactor_status"), first=False
            )
    return render(
        request,
        "accounts/twofactor/status.html",
        {"status": twofactor.second_factor_status(user), "form": form},
    )


@never_cache
@page
def twofactor_reset_view(request: HttpRequest, user_id: int) -> HttpResponse:
    """A security administrator above the account removes its authenticator."""
    actor = cast(User, request.user)
    form = ResetForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        # The service checks access itself and audits a refusal; ``page`` shows it.
        try:
            target = twofactor.totp_reset(
                actor=actor, user_id=user_id, reason=form.cleaned_data["reason"]
            )
        except ValidationFailed as error:
            form.add_field_errors(error.errors)
        else:
            messages.success(
                request,
                _("已重置账号 %(username)s 的双因素认证；该账号下次登录时须重新绑定验证器。")
                % {"username": target.username},
            )
            return redirect("accounts:twofactor_reset", user_id=target.pk)
    target = twofactor.access_account_for_second_factor_reset(actor, user_id=user_id)
    return render(
        request,
        "accounts/twofactor/reset.html",
        {"target": target, "status": twofactor.second_factor_status(target), "form": form},
    )


urlpatterns = [
    path("second-factor/", second_factor_view, name="second_factor"),
    path("second-factor/enrol/", twofactor_enrol_view, name="twofactor_enrol"),
    path("me/second-factor/", twofactor_status_view, name="twofactor_status"),
    path("<int:user_id>/second-factor/reset/", twofactor_reset_view, name="twofactor_reset"),
]
