"""The security page (the security admin): locked, sealed, disabled, password-expiring,
untrained and second-factor-less accounts of the unit's subtree, recent failed sign-ins;
and the security admin's actions: unseal and unlock (only on accounts strictly below)."""

from datetime import timedelta
from typing import cast

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, path, reverse
from django.utils.translation import gettext as _

from xueji import clock
from xueji.accounts import selectors, services
from xueji.accounts.models import Role, User
from xueji.accounts.permissions import require_permission
from xueji.accounts.policy import security_policy
from xueji.accounts.rules import (
    PASSWORD_EXPIRY_WARNING_DAYS,
    Permission,
    manage_refusal,
    password_expires_at,
)
from xueji.errors import Conflict, ValidationFailed
from xueji.web.views import page

from .admin import ReasonForm, action_page

# Rows shown per list; the count above each list is the full number.
LIST_ROWS = 50
FAILURE_DAYS = 7
LOCKOUT_DAYS = 30


def _security_admin(request: HttpRequest) -> User:
    user = cast(User, request.user)
    require_permission(user, Permission.SECURITY_MANAGE)
    return user


def _acts_on(actor: User, target: User) -> bool:
    """Whether the actor, as security admin, may unseal or unlock this account."""
    return (
        manage_refusal(
            duty=Role.SECURITY_ADMIN,
            actor_id=actor.pk,
            actor_unit=actor.unit,
            actor_roles=actor.role_set,
            target_id=target.pk,
            target_unit=target.unit,
            target_roles=selectors.roles_of(target),
            strictly_below=True,
        )
        is None
    )


def _twofactor_reset_url(user_id: int) -> str:
    """The two-factor reset page, when that page exists."""
    try:
        return reverse("accounts:twofactor_reset", kwargs={"user_id": user_id})
    except NoReverseMatch:
        return ""


@page
def security_view(request: HttpRequest) -> HttpResponse:
    actor = _security_admin(request)
    now = clock.now()
    policy = security_policy()
    overview = selectors.security_overview(actor, now=now)

    def section(key: str, title: str, qs, action: str = "") -> dict:
        rows = list(qs.prefetch_related("role_grants")[:LIST_ROWS])
        items = []
        for user in rows:
            item: dict = {"user": user, "action_url": "", "action_label": ""}
            if action == "unseal" and _acts_on(actor, user):
                item["action_url"] = reverse("accounts:unseal", kwargs={"user_id": user.pk})
                item["action_label"] = _("解封")
            elif action == "unlock" and _acts_on(actor, user):
                item["action_url"] = reverse("accounts:unlock", kwargs={"user_id": user.pk})
                item["action_label"] = _("解除锁定")
                item["twofactor_url"] = _twofactor_reset_url(user.pk)
            if key == "password_expiring":
                item["expires_at"] = (
                    password_expires_at(
                        changed_at=user.password_changed_at,
                        max_age_days=policy.password_max_age_days,
                    )
                    if user.password_changed_at
                    else None
                )
            items.append(item)
        return {"key": key, "title": title, "count": qs.count(), "items": items}

    sections = [
        section("locked", _("锁定中的账号"), overview.locked, "unlock"),
        section("sealed", _("已封存的账号"), overview.sealed, "unseal"),
        section("disabled", _("已停用的账号"), overview.disabled),
        section(
            "password_expiring",
            _("密码已过期或 %(n)d 天内到期") % {"n": PASSWORD_EXPIRY_WARNING_DAYS},
            overview.password_expiring,
        ),
        section("untrained", _("未完成有效培训的学籍管理员"), overview.untrained),
        section(
            "without_second_factor", _("须双因素认证但未绑定验证器"), overview.without_second_factor
        ),
    ]
    since = now - timedelta(days=FAILURE_DAYS)
    failures = selectors.login_failures_recent(actor, since=since)
    lockouts = selectors.lockouts_in_scope(actor, now=now, days=LOCKOUT_DAYS).recent
    context = {
        "sections": sections,
        "lockouts": list(lockouts[:LIST_ROWS]),
        "lockout_count": lockouts.count(),
        "lockout_days": LOCKOUT_DAYS,
        "failures": list(failures[:LIST_ROWS]),
        "failure_count": failures.count(),
        "failure_days": FAILURE_DAYS,
        "policy": policy,
        "now": now,
    }
    return render(request, "accounts/security/overview.html", context)


def _security_action(request: HttpRequest, user_id: int, *, unseal: bool) -> HttpResponse:
    actor = _security_admin(request)
    target = selectors.access_account(actor, user_id=user_id)
    form = ReasonForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        service = services.account_unseal if unseal else services.account_unlock
        try:
            service(actor=actor, user_id=target.pk, reason=form.cleaned_data["reason"])
        except ValidationFailed as error:
            form.add_field_errors(error.errors)
        except Conflict as conflict:
            form.add_error(None, str(conflict.message))
        else:
            done = _("已解封账号 %s。") if unseal else _("已解除账号 %s 的锁定。")
            messages.success(request, done % target.username)
            return redirect("accounts:security")
    if unseal:
        title, submit = _("解封账号"), _("解封")
        explanation = _(
            "封存原因：%(reason)s。解封须说明原因，并核实账号持有人仍在岗；解封后该账号从现在起重新计算未使用天数。"
        ) % {"reason": target.sealed_reason or "—"}
    else:
        title, submit = _("解除锁定"), _("解除锁定")
        explanation = _(
            "账号因连续登录失败被锁定。解除前请核实是否为本人操作；如怀疑密码泄露，请联系系统管理员重置密码。"
        )
    return action_page(
        request,
        target=target,
        form=form,
        title=title,
        explanation=explanation,
        submit=submit,
        danger=False,
        back_url=reverse("accounts:security"),
    )


@page
def unseal_view(request: HttpRequest, user_id: int) -> HttpResponse:
    return _security_action(request, user_id, unseal=True)


@page
def unlock_view(request: HttpRequest, user_id: int) -> HttpResponse:
    return _security_action(request, user_id, unseal=False)


urlpatterns = [
    path("security/", security_view, name="security"),
    path("security/<int:user_id>/unseal/", unseal_view, name="unseal"),
    path("security/<int:user_id>/unlock/", unlock_view, name="unlock"),
]
