"""Sign-in, sign-out, the home page of each level, and what every page view shares.

``page`` is the decorator of every htmx page: sign-in required, and a ``DomainError``
raised by a selector or service becomes a page carrying its Chinese message (``NotFound``
the 404 page), so view bodies stay parse → call one service → render.
"""

from collections.abc import Callable
from functools import wraps
from typing import cast

from django import forms
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext_lazy
from django_htmx.middleware import HtmxDetails

from xueji.accounts.models import User
from xueji.accounts.permissions import has_permission
from xueji.accounts.rules import Permission
from xueji.enrolment.selectors import roll_summary
from xueji.errors import DomainError, NotFound

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


class SignInForm(AuthenticationForm):
    """Django's sign-in form with Chinese labels and one message for every failure, so the
    page never says whether the user name exists."""

    error_messages = {
        "invalid_login": gettext_lazy("您的账号或密码不正确"),
        "inactive": gettext_lazy("您的账号或密码不正确"),
    }

    def __init__(self, request=None, *args, **kwargs) -> None:
        super().__init__(request, *args, **kwargs)
        self.fields["username"].label = gettext_lazy("用户名")
        self.fields["username"].widget.attrs.update(
            {"class": "form-control", "autocomplete": "username", "autofocus": True}
        )
        self.fields["password"].label = gettext_lazy("密码")
        self.fields["password"].widget = forms.PasswordInput(
            attrs={"class": "form-control", "autocomplete": "current-password"}
        )


login_view = auth_views.LoginView.as_view(
    template_name="web/login.html",
    authentication_form=SignInForm,
    redirect_authenticated_user=True,
)

# POST only (Django 5): a link or an image cannot sign anyone out.
logout_view = auth_views.LogoutView.as_view()


# ---------------------------------------------------------------- home page


@page
def home(request: HttpRequest) -> HttpResponse:
    """The start page of the signed-in unit: counts of its area, or of its school."""
    user = cast(User, request.user)
    unit = user.unit
    sees_counts = has_permission(user, Permission.STUDENT_VIEW) or has_permission(
        user, Permission.STATISTICS_VIEW
    )
    context: dict = {"unit": unit, "sees_counts": sees_counts}
    if unit is not None and sees_counts:
        context.update(roll_summary(user))
    return render(request, "web/home.html", context)
