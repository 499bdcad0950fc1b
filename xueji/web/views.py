"""Sign-in, sign-out, the home page of each level, and what every page view shares.

``page`` is the decorator of every htmx page: sign-in required, and a ``DomainError``
raised by a selector or service becomes a page carrying its Chinese message (``NotFound``
the 404 page), so view bodies stay parse → call one service → render.
"""

from collections.abc import Callable
from functools import wraps
from typing import cast

from django import forms
from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST
from django_htmx.middleware import HtmxDetails

from xueji.accounts.authentication import PENDING_NEXT, Step, sign_in, sign_out
from xueji.accounts.models import User
from xueji.accounts.permissions import has_permission
from xueji.accounts.rules import Permission
from xueji.enrolment.selectors import roll_summary
from xueji.errors import DomainError, NotFound

from .dashboard import dashboard

# ---------------------------------------------------------------- shared by every page


class HtmxHttpRequest(HttpRequest):
    """A request as the pages see it: django-htmx adds ``request.htmx``."""

    htmx: HtmxDetails


def domain_error_response(request: HtmxHttpRequest, error: DomainError) -> HttpResponse:
    """The page (or, for htmx, the fragment) that shows a refusal in Chinese."""
    if isinstance(error, NotFound) and not request.htmx:
        return render(request, "404.html", status=404)
    context = {"error_message": str(error.message), "error_code": error.code}
    template = "web/_error_alert.html" if request.htmx else "web/error.html"
    return render(request, template, context, status=error.http_status)


def page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Sign-in required; domain errors rendered with their Chinese message."""

    @wraps(view)
    def wrapper(request: HtmxHttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            if request.htmx:
                # A fragment must not swap the sign-in page into itself: send the browser there.
                response = HttpResponse(status=204)
                response["HX-Redirect"] = reverse("web:login")
                return response
            return redirect_to_login(request.get_full_path())
        try:
            return view(request, *args, **kwargs)
        except DomainError as error:
            return domain_error_response(request, error)

    return wrapper


# ---------------------------------------------------------------- sign-in and sign-out


class SignInForm(forms.Form):
    """User name and password. Whatever goes wrong, the page says only what the sign-in
    pipeline says (one message for a wrong password and an unknown user name)."""

    username = forms.CharField(
        label=gettext_lazy("用户名"),
        max_length=150,
        widget=forms.TextInput(
            attrs={
                "class": "form-control",
                "autocomplete": "username",
                "autocapitalize": "none",
                "autofocus": True,
            }
        ),
    )
    password = forms.CharField(
        label=gettext_lazy("密码"),
        strip=False,
        widget=forms.PasswordInput(
            attrs={"class": "form-control", "autocomplete": "current-password"}
        ),
    )


def _next_url(request: HttpRequest) -> str:
    """Where to go after signing in: the ``next`` parameter when it stays on this site."""
    wanted = request.POST.get("next") or request.GET.get("next") or ""
    if wanted and url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return wanted
    return ""


@sensitive_post_parameters("password")
@csrf_protect
@never_cache
def login_view(request: HttpRequest) -> HttpResponse:
    """Sign-in through the pipeline (lockout, attempt log, second factor)."""
    next_url = _next_url(request)
    if request.user.is_authenticated:
        return redirect(next_url or resolve_url(settings.LOGIN_REDIRECT_URL))
    form = SignInForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        result = sign_in(request, form.cleaned_data["username"], form.cleaned_data["password"])
        if result.step == Step.SIGNED_IN:
            return redirect(next_url or resolve_url(settings.LOGIN_REDIRECT_URL))
        if result.step == Step.SECOND_FACTOR:
            request.session[PENDING_NEXT] = next_url
            return redirect("accounts:second_factor")
        form.add_error(None, result.message)
    return render(request, "web/login.html", {"form": form, "next": next_url})


# POST only: a link or an image cannot sign anyone out.
@require_POST
@csrf_protect
def logout_view(request: HttpRequest) -> HttpResponse:
    """Sign out (audited) and go to the sign-in page."""
    sign_out(request)
    return redirect(settings.LOGOUT_REDIRECT_URL)


# ---------------------------------------------------------------- home page


@page
def home(request: HttpRequest) -> HttpResponse:
    """The start page of the signed-in unit: what waits for it and its subtree (the
    dashboard), then the counts of its area, or of its school."""
    user = cast(User, request.user)
    unit = user.unit
    sees_counts = has_permission(user, Permission.STUDENT_VIEW) or has_permission(
        user, Permission.STATISTICS_VIEW
    )
    context: dict = {"unit": unit, "sees_counts": sees_counts, "board": dashboard(user)}
    if unit is not None and sees_counts:
        context.update(roll_summary(user))
        # Divisions without a school are named in one line under the table, not listed as
        # rows of zeros (the nation's table was 31 rows, most of them empty).
        context["empty_areas"] = [
            str(row["name"])
            for row in context.get("area_rows") or []
            if not row["schools"] and not row["on_roll"]
        ]
    if unit is not None and has_permission(user, Permission.AUDIT_VIEW):
        from xueji.audit.trail import home_summary

        context["audit_home"] = home_summary(user)
    return render(request, "web/home.html", context)
