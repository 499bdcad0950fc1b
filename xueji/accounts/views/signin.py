"""Account pages: the password change (voluntary, or forced at first sign-in and on expiry).

The sign-in and sign-out pages themselves are ``web:login`` and ``web:logout``
(xueji/web/views.py); both go through ``accounts.authentication``.
"""

from typing import cast

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters

from xueji import clock
from xueji.accounts.authentication import keep_session_after_password_change
from xueji.accounts.models import User
from xueji.accounts.passwords import (
    PasswordHistoryValidator,
    PasswordPolicyValidator,
    password_change,
    password_change_due,
)
from xueji.accounts.policy import security_policy
from xueji.errors import ValidationFailed
from xueji.web.forms import StyledForm
from xueji.web.views import page


def _password_input(autocomplete: str) -> forms.PasswordInput:
    return forms.PasswordInput(attrs={"autocomplete": autocomplete})


class PasswordChangeForm(StyledForm):
    old_password = forms.CharField(
        label=gettext_lazy("原密码"), strip=False, widget=_password_input("current-password")
    )
    new_password = forms.CharField(
        label=gettext_lazy("新密码"), strip=False, widget=_password_input("new-password")
    )
    confirm = forms.CharField(
        label=gettext_lazy("再次输入新密码"), strip=False, widget=_password_input("new-password")
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["new_password"].help_text = " ".join(
            (PasswordPolicyValidator().get_help_text(), PasswordHistoryValidator().get_help_text())
        )

    def clean(self):
        cleaned = super().clean() or {}
        if (
            cleaned.get("new_password")
            and cleaned.get("confirm")
            and cleaned["new_password"] != cleaned["confirm"]
        ):
            self.add_error("confirm", _("两次输入的新密码不一致。"))
        return cleaned


@sensitive_post_parameters("old_password", "new_password", "confirm")
@never_cache
@page
def password_change_view(request: HttpRequest) -> HttpResponse:
    """Change one's own password; the only page open while a change is due."""
    user = cast(User, request.user)
    due = password_change_due(
        must_change=user.must_change_password,
        changed_at=user.password_changed_at,
        now=clock.now(),
        max_age_days=security_policy().password_max_age_days,
    )
    form = PasswordChangeForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        try:
            password_change(
                actor=user,
                user=user,
                old_password=form.cleaned_data["old_password"],
                new_password=form.cleaned_data["new_password"],
            )
        except ValidationFailed as error:
            form.add_field_errors(error.errors)
        else:
            keep_session_after_password_change(request, user)
            messages.success(request, _("密码已修改。"))
            return redirect("web:home")
    context = {
        "form": form,
        "due": due,
        "max_age_days": security_policy().password_max_age_days,
    }
    return render(request, "accounts/signin/password_change.html", context)


urlpatterns = [
    path("password/", password_change_view, name="password_change"),
]
