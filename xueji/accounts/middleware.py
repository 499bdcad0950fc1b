"""What every request of a signed-in account goes through, and the security headers.

``AccountSessionMiddleware`` (after authentication and messages) ends sessions that are
idle, too old, superseded by a newer sign-in (single-session policy) or whose account may
no longer work (sealed, disabled, untrained…); stamps ``last_seen_at`` at most once a
minute; and sends an account whose password must change to the change page (API calls
get 403 ``password.change_required``).

``SecurityHeadersMiddleware`` sets the Content-Security-Policy and the Permissions-Policy
on every response (X-Frame-Options, Referrer-Policy and Cross-Origin-Opener-Policy come
from Django's own middleware and settings).
"""

from collections.abc import Callable
from datetime import datetime, timedelta
from functools import cache

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _

from xueji import clock

from . import signin_rules
from .authentication import ACTIVE_AT, SIGNED_IN_AT, access_block_reason, sign_out
from .models import User
from .passwords import password_change_due
from .policy import security_policy

# last_seen_at is written at most this often (and the training check runs as often).
SEEN_EVERY = timedelta(minutes=1)

# Pages an account that must change its password may still open (URL names): the change
# page, sign-out, and the language switch in the page footer.
PASSWORD_CHANGE_OPEN = ("accounts:password_change", "web:logout", "set_language")


def _session_end_message(reason: str) -> str:
    return {
        signin_rules.SessionEnd.IDLE: _(
            "您已较长时间未操作，为保护数据安全已自动退出，请重新登录。"
        ),
        signin_rules.SessionEnd.ABSOLUTE: _("本次登录已超过最长使用时限，请重新登录。"),
        signin_rules.SessionEnd.SUPERSEDED: _("您的账号已在其他地方登录，本会话已结束。"),
    }[signin_rules.SessionEnd(reason)]


@cache
def _open_paths() -> frozenset[str]:
    return frozenset(reverse(name) for name in PASSWORD_CHANGE_OPEN)


@cache
def _api_prefix() -> str:
    return reverse("api:api-root")


def _is_api(request: HttpRequest) -> bool:
    return request.path_info.startswith(_api_prefix())


class AccountSessionMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if user.is_authenticated and isinstance(user, User):
            response = self._check(request, user)
            if response is not None:
                return response
        return self.get_response(request)

    def _check(self, request: HttpRequest, user: User) -> HttpResponse | None:
        now = clock.now()
        policy = security_policy()
        session = request.session
        stamp = now.timestamp()
        # A session opened without complete_sign_in (tests' force_login, sessions older
        # than this policy) starts its clocks at its first request.
        signed_in_at = session.setdefault(SIGNED_IN_AT, stamp)
        active_at = session.get(ACTIVE_AT, stamp)

        ended = signin_rules.session_end(
            signed_in_at=datetime.fromtimestamp(signed_in_at, now.tzinfo),
            active_at=datetime.fromtimestamp(active_at, now.tzinfo),
            now=now,
            idle_minutes=policy.session_idle_minutes,
            absolute_hours=policy.session_absolute_hours,
        )
        if (
            ended is None
            and policy.single_session
            and user.current_session_key
            and user.current_session_key != session.session_key
        ):
            ended = signin_rules.SessionEnd.SUPERSEDED
        if ended is not None:
            self._end(request, ended, _session_end_message(ended))
            return None

        due_for_seen = user.last_seen_at is None or now - user.last_seen_at >= SEEN_EVERY
        blocked = access_block_reason(user, now=now, check_training=due_for_seen)
        if blocked is not None:
            self._end(request, *blocked)
            return None
        if due_for_seen:
            User.objects.filter(pk=user.pk).update(last_seen_at=now)
            user.last_seen_at = now
        session[ACTIVE_AT] = stamp

        due = password_change_due(
            must_change=user.must_change_password,
            changed_at=user.password_changed_at,
            now=now,
            max_age_days=policy.password_max_age_days,
        )
        if due is not None and not self._open_while_change_due(request):
            return self._send_to_password_change(request)
        return None

    def _end(self, request: HttpRequest, reason: str, message: str) -> None:
        """Sign the session out; the request goes on as anonymous (pages send it to the
        sign-in page, where the message is shown; the API answers 401)."""
        sign_out(request, reason=reason, note=message)
        if not _is_api(request):
            messages.warning(request, message)

    @staticmethod
    def _open_while_change_due(request: HttpRequest) -> bool:
        path = request.path_info
        return path in _open_paths() or path.startswith(settings.STATIC_URL)

    @staticmethod
    def _send_to_password_change(request: HttpRequest) -> HttpResponse:
        if _is_api(request):
            return JsonResponse(
                {
                    "code": "password.change_required",
                    "message": _("须先修改密码后才能继续使用。请在页面上修改密码。"),
                    "errors": [],
                },
                status=403,
            )
        target = reverse("accounts:password_change")
        if request.headers.get("HX-Request") == "true":
            response = HttpResponse(status=204)
            response["HX-Redirect"] = target
            return response
        return redirect(target)


class SecurityHeadersMiddleware:
    """``settings.XUEJI_CSP`` on every response, unless a route-specific policy in
    ``settings.XUEJI_CSP_ROUTES`` (path prefix → policy) applies; and the Permissions-Policy."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        policy = settings.XUEJI_CSP
        for prefix, route_policy in getattr(settings, "XUEJI_CSP_ROUTES", {}).items():
            if request.path_info.startswith(prefix):
                policy = route_policy
                break
        if policy and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = policy
        permissions = getattr(settings, "XUEJI_PERMISSIONS_POLICY", "")
        if permissions and "Permissions-Policy" not in response:
            response["Permissions-Policy"] = permissions
        return response
