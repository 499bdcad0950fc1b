"""Account administration pages (the system admin): accounts of the unit's subtree, their
roles, disabling, password resets, training records and API tokens; every account's own
tokens; the clerks' workload.

Views parse a form, call one service or selector and render. The services check the admin
duty, the subtree and the grant rules, and audit every refusal; a refusal the form can
place (a field error) is shown next to its field, any other by the ``page`` decorator.
"""

import csv
from datetime import timedelta
from typing import cast

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from xueji import clock
from xueji.accounts import selectors, services
from xueji.accounts.models import Role, User
from xueji.accounts.permissions import require_permission
from xueji.accounts.rules import (
    TOKEN_MAX_DAYS,
    TOKEN_MAX_RATE,
    Permission,
    grant_refusal,
    manage_refusal,
    training_valid,
)
from xueji.errors import Conflict, Forbidden, NotFound, ValidationFailed
from xueji.web.forms import StyledForm
from xueji.web.views import page

# ---------------------------------------------------------------- forms

_ANY = ("", gettext_lazy("全部"))
STATE_CHOICES = [
    _ANY,
    ("active", gettext_lazy("正常")),
    ("locked", gettext_lazy("锁定中")),
    ("sealed", gettext_lazy("已封存")),
    ("disabled", gettext_lazy("已停用")),
]


class RoleChoiceForm(StyledForm):
    """A form with the roles as a list of check boxes."""

    roles = forms.MultipleChoiceField(
        label=gettext_lazy("角色"),
        required=False,
        choices=Role.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text=gettext_lazy(
            "系统管理员、安全管理员、审计管理员三员分立：一个账号只能担任其中一种，且不能兼任业务角色。"
        ),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["roles"].widget.attrs["class"] = "form-check-input"


class AccountFilterForm(StyledForm):
    q = forms.CharField(
        label=gettext_lazy("查找"),
        required=False,
        max_length=64,
        widget=forms.TextInput(
            attrs={
                "type": "search",
                "placeholder": gettext_lazy("用户名、姓名或单位"),
                "autocomplete": "off",
            }
        ),
    )
    role = forms.ChoiceField(
        label=gettext_lazy("角色"), required=False, choices=[_ANY, *Role.choices]
    )
    state = forms.ChoiceField(label=gettext_lazy("状态"), required=False, choices=STATE_CHOICES)


class AccountCreateForm(RoleChoiceForm):
    marked_required = frozenset({"username", "roles"})

    unit_code = forms.CharField(
        label=gettext_lazy("单位代码"),
        required=False,
        max_length=20,
        widget=forms.TextInput(
            attrs={"autofocus": True, "inputmode": "numeric", "autocomplete": "off"}
        ),
        help_text=gettext_lazy("6位行政区划代码（教育行政部门）或10位学校标识码；留空为本单位。"),
    )
    username = forms.CharField(
        label=gettext_lazy("用户名"),
        required=False,
        max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    full_name = forms.CharField(label=gettext_lazy("姓名"), required=False, max_length=64)
    phone = forms.CharField(
        label=gettext_lazy("联系电话"),
        required=False,
        max_length=32,
        widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "off"}),
    )

    field_order = ["unit_code", "username", "full_name", "phone", "roles"]


class ReasonForm(StyledForm):
    marked_required = frozenset({"reason"})

    reason = forms.CharField(
        label=gettext_lazy("原因"),
        required=False,
        max_length=255,
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "off"}),
    )


class OptionalReasonForm(StyledForm):
    reason = forms.CharField(
        label=gettext_lazy("说明"),
        required=False,
        max_length=255,
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "off"}),
    )


class TrainingForm(StyledForm):
    marked_required = frozenset({"course", "completed_on", "certificate_no", "expires_on"})

    course = forms.CharField(
        label=gettext_lazy("培训课程"),
        required=False,
        max_length=128,
        widget=forms.TextInput(attrs={"autofocus": True}),
    )
    completed_on = forms.DateField(
        label=gettext_lazy("培训日期"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    certificate_no = forms.CharField(label=gettext_lazy("证书编号"), required=False, max_length=64)
    expires_on = forms.DateField(
        label=gettext_lazy("有效期至"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )


class TokenForm(StyledForm):
    marked_required = frozenset({"name", "days"})

    name = forms.CharField(
        label=gettext_lazy("令牌名称"),
        required=False,
        max_length=64,
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "off"}),
        help_text=gettext_lazy("用途或调用方系统，例如“省级数据交换接口”。"),
    )
    days = forms.IntegerField(
        label=gettext_lazy("有效期（天）"),
        required=False,
        initial=90,
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
        help_text=gettext_lazy("必填，最长 %(n)d 天。") % {"n": TOKEN_MAX_DAYS},
    )
    rate_per_minute = forms.IntegerField(
        label=gettext_lazy("每分钟请求上限"),
        required=False,
        initial=0,
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
        help_text=gettext_lazy("0 表示采用系统默认值；最大 %(n)d。") % {"n": TOKEN_MAX_RATE},
    )


class PeriodForm(StyledForm):
    date_from = forms.DateField(
        label=gettext_lazy("开始日期"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    date_to = forms.DateField(
        label=gettext_lazy("结束日期"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )


# ---------------------------------------------------------------- presentation


def account_state(user: User) -> tuple[str, str]:
    """(code, Chinese label) of an account's state, the most serious first."""
    if not user.is_active or user.disabled_at is not None:
        return "disabled", _("已停用")
    if user.sealed_at is not None:
        return "sealed", _("已封存")
    if user.locked_until is not None and user.locked_until > clock.now():
        return "locked", _("锁定中")
    if user.must_change_password:
        return "must_change", _("待修改密码")
    return "active", _("正常")


def role_labels(user: User) -> list[str]:
    return [str(Role(r).label) for r in selectors.roles_of(user)]


def masked_phone(phone: str) -> str:
    if len(phone) < 7:
        return "*" * len(phone)
    return f"{phone[:3]}{'*' * (len(phone) - 7)}{phone[-4:]}"


def _manage_note(actor: User, target: User) -> str:
    """Why the actor may not manage this account ('' when it may)."""
    refusal = manage_refusal(
        duty=Role.SYSTEM_ADMIN,
        actor_id=actor.pk,
        actor_unit=actor.unit,
        actor_roles=actor.role_set,
        target_id=target.pk,
        target_unit=target.unit,
        target_roles=selectors.roles_of(target),
    )
    return refusal.message if refusal is not None else ""


def _grantable(actor: User, target_unit) -> list[str]:
    """Roles the actor may grant on ``target_unit`` (each alone), to grey out the others."""
    assert actor.unit is not None
    return [
        role
        for role in Role.values
        if grant_refusal(actor_unit=actor.unit, target_unit=target_unit, roles=[role]) is None
    ]


def _admin(request: HttpRequest) -> User:
    user = cast(User, request.user)
    require_permission(user, Permission.ACCOUNT_MANAGE)
    return user


def _secret_page(request: HttpRequest, context: dict) -> HttpResponse:
    """A secret shown once (its views are ``never_cache``); never stored in clear."""
    return render(request, "accounts/admin/secret.html", context)


# ---------------------------------------------------------------- accounts


@page
def admin_list_view(request: HttpRequest) -> HttpResponse:
    actor = _admin(request)
    form = AccountFilterForm(request.GET or None)
    data = form.cleaned_data if form.is_bound and form.is_valid() else {}
    accounts = selectors.account_list(
        actor, search=data.get("q", ""), role=data.get("role", ""), state=data.get("state", "")
    )
    page_obj = Paginator(accounts, settings.XUEJI["PAGE_SIZE"]).get_page(request.GET.get("page"))
    rows = [
        {"user": u, "roles": role_labels(u), "state": account_state(u)}
        for u in page_obj.object_list
    ]
    return render(
        request, "accounts/admin/list.html", {"form": form, "rows": rows, "page_obj": page_obj}
    )


@never_cache
@page
def admin_create_view(request: HttpRequest) -> HttpResponse:
    actor = _admin(request)
    form = AccountCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            created = services.account_create(
                actor=actor,
                unit_code=data["unit_code"],
                username=data["username"],
                roles=data["roles"],
                full_name=data["full_name"],
                phone=data["phone"],
            )
        except ValidationFailed as error:
            form.add_field_errors(error.errors)
        except NotFound:
            form.add_error("unit_code", _("该单位不存在，或不在您的管理范围内。"))
        else:
            return _secret_page(
                request,
                {
                    "title": _("已创建账号"),
                    "target": created.user,
                    "label": _("初始密码"),
                    "secret": created.initial_password,
                    "note": _(
                        "请通过安全渠道交给账号持有人；首次登录须修改密码。此密码只显示这一次。"
                    ),
                },
            )
    return render(
        request,
        "accounts/admin/create.html",
        # The unit is chosen on the form: the service judges the roles against it.
        {"form": form, "grantable": Role.values, "own_unit": actor.unit},
    )


@page
def admin_detail_view(request: HttpRequest, user_id: int) -> HttpResponse:
    actor = _admin(request)
    target = selectors.access_account(actor, user_id=user_id)
    today = clock.today()
    trainings = [
        {
            "record": r,
            "valid": training_valid(
                completed_on=r.completed_on, expires_on=r.expires_on, today=today
            ),
        }
        for r in selectors.trainings_of(target)[:5]
    ]
    return render(
        request,
        "accounts/admin/detail.html",
        {
            "target": target,
            "roles": role_labels(target),
            "state": account_state(target),
            "phone": masked_phone(target.phone),
            "manage_note": _manage_note(actor, target),
            "trainings": trainings,
            "tokens": selectors.tokens_of(target)[:5],
            "roles_form": RoleChoiceForm(initial={"roles": selectors.roles_of(target)}),
            "grantable": _grantable(actor, target.unit),
        },
    )


@page
def admin_roles_view(request: HttpRequest, user_id: int) -> HttpResponse:
    actor = _admin(request)
    target = selectors.access_account(actor, user_id=user_id)
    form = RoleChoiceForm(request.POST or None, initial={"roles": selectors.roles_of(target)})
    if request.method == "POST" and form.is_valid():
        try:
            services.account_update_roles(
                actor=actor, user_id=target.pk, roles=form.cleaned_data["roles"]
            )
        except ValidationFailed as error:
            form.add_field_errors(error.errors)
        else:
            messages.success(request, _("已修改账号 %s 的角色。") % target.username)
            return redirect("accounts:admin_detail", user_id=target.pk)
    return render(
        request,
        "accounts/admin/roles.html",
        {"target": target, "form": form, "grantable": _grantable(actor, target.unit)},
    )


def action_page(
    request: HttpRequest,
    *,
    target: User,
    form: StyledForm,
    title: str,
    explanation: str,
    submit: str,
    danger: bool,
    back_url: str,
) -> HttpResponse:
    """A confirmation page for one action on one account, with its form."""
    return render(
        request,
        "accounts/admin/action.html",
        {
            "target": target,
            "form": form,
            "title": title,
            "explanation": explanation,
            "submit": submit,
            "danger": danger,
            "back_url": back_url,
            "state": account_state(target),
            "roles": role_labels(target),
        },
    )


@page
def admin_disable_view(request: HttpRequest, user_id: int) -> HttpResponse:
    actor = _admin(request)
    target = selectors.access_account(actor, user_id=user_id)
    form = ReasonForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.account_disable(
                actor=actor, user_id=target.pk, reason=form.cleaned_data["reason"]
            )
        except ValidationFailed as error:
            form.add_field_errors(error.errors)
        except Conflict as conflict:
            form.add_error(None, str(conflict.message))
        else:
            messages.success(request, _("已停用账号 %s。") % target.username)
            return redirect("accounts:admin_detail", user_id=target.pk)
    return action_page(
        request,
        target=target,
        form=form,
        title=_("停用账号"),
        explanation=_("账号持有人离岗时停用其账号：立即不能登录，API 令牌随之失效。停用可以撤销。"),
        submit=_("停用"),
        danger=True,
        back_url=reverse("accounts:admin_detail", kwargs={"user_id": target.pk}),
    )


@page
def admin_enable_view(request: HttpRequest, user_id: int) -> HttpResponse:
    actor = _admin(request)
    target = selectors.access_account(actor, user_id=user_id)
    form = OptionalReasonForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.account_enable(
                actor=actor, user_id=target.pk, reason=form.cleaned_data["reason"]
            )
        except Conflict as conflict:
            form.add_error(None, str(conflict.message))
        else:
            if user.sealed_at is not None:
                messages.warning(
                    request,
                    _("已启用账号 %s；该账号超过规定天数未使用，已被封存，须由上级安全管理员解封。")
                    % target.username,
                )
            else:
                messages.success(request, _("已启用账号 %s。") % target.username)
            return redirect("accounts:admin_detail", user_id=target.pk)
    return action_page(
        request,
        target=target,
        form=form,
        title=_("启用账号"),
        explanation=_(
            "重新启用已停用的账号。长期未使用的账号启用后仍为封存状态，须由上级安全管理员解封。"
        ),
        submit=_("启用"),
        danger=False,
        back_url=reverse("accounts:admin_detail", kwargs={"user_id": target.pk}),
    )


@never_cache
@page
def admin_password_reset_view(request: HttpRequest, user_id: int) -> HttpResponse:
    actor = _admin(request)
    target = selectors.access_account(actor, user_id=user_id)
    # Nothing to fill in: a POST is the confirmation.
    form = StyledForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        password = services.account_password_reset(actor=actor, user_id=target.pk)
        return _secret_page(
            request,
            {
                "title": _("已重置密码"),
                "target": target,
                "label": _("临时密码"),
                "secret": password,
                "note": _("请通过安全渠道交给账号持有人；下次登录须修改密码。此密码只显示这一次。"),
            },
        )
    return action_page(
        request,
        target=target,
        form=form,
        title=_("重置密码"),
        explanation=_("生成一个随机临时密码，原密码立即失效；账号持有人下次登录须修改密码。"),
        submit=_("重置密码"),
        danger=True,
        back_url=reverse("accounts:admin_detail", kwargs={"user_id": target.pk}),
    )


# ---------------------------------------------------------------- training records


@page
def admin_training_view(request: HttpRequest, user_id: int) -> HttpResponse:
    actor = _admin(request)
    target = selectors.access_account(actor, user_id=user_id)
    form = TrainingForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.training_record_create(
                actor=actor,
                user_id=target.pk,
                course=data["course"],
                completed_on=data["completed_on"],
                certificate_no=data["certificate_no"],
                expires_on=data["expires_on"],
            )
        except ValidationFailed as error:
            form.add_field_errors(error.errors)
        else:
            messages.success(request, _("已登记 %s 的培训记录。") % target.username)
            return redirect("accounts:admin_training", user_id=target.pk)
    today = clock.today()
    records = [
        {
            "record": r,
            "valid": training_valid(
                completed_on=r.completed_on, expires_on=r.expires_on, today=today
            ),
        }
        for r in selectors.trainings_of(target)
    ]
    return render(
        request,
        "accounts/admin/training.html",
        {
            "target": target,
            "form": form,
            "records": records,
            "trained": any(r["valid"] for r in records),
            "is_clerk": Role.CLERK in selectors.roles_of(target),
        },
    )


# ---------------------------------------------------------------- API tokens


@never_cache
@page
def admin_tokens_view(request: HttpRequest, user_id: int) -> HttpResponse:
    actor = _admin(request)
    target = selectors.access_account(actor, user_id=user_id)
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        days = data["days"]
        try:
            issued = services.account_token_issue(
                actor=actor,
                user_id=target.pk,
                name=data["name"],
                expires_at=clock.now() + timedelta(days=days) if days else None,
                rate_per_minute=data["rate_per_minute"] or 0,
            )
        except ValidationFailed as error:
            for field_error in error.errors:
                if field_error.field == "expires_at":
                    field_error.field = "days"
            form.add_field_errors(error.errors)
        except (Forbidden, Conflict) as refusal:
            form.add_error(None, str(refusal.message))
        else:
            return _secret_page(
                request,
                {
                    "title": _("已签发 API 令牌"),
                    "target": target,
                    "label": _("令牌"),
                    "secret": issued.secret,
                    "note": _(
                        "请立即复制并交给调用方系统的管理员，按密码的要求保管。令牌明文只显示这一次，系统只保存其摘要。"
                    ),
                    "expires_at": issued.token.expires_at,
                },
            )
    return render(
        request,
        "accounts/admin/tokens.html",
        {
            "target": target,
            "form": form,
            "tokens": selectors.tokens_of(target),
            "now": clock.now(),
            "manage_note": _manage_note(actor, target),
        },
    )


@page
def my_tokens_view(request: HttpRequest) -> HttpResponse:
    """Every account sees and may revoke its own tokens."""
    user = cast(User, request.user)
    return render(
        request,
        "accounts/admin/my_tokens.html",
        {"tokens": selectors.tokens_of(user), "now": clock.now()},
    )


@page
@require_POST
def token_revoke_view(request: HttpRequest, token_id: int) -> HttpResponse:
    actor = cast(User, request.user)
    token = services.account_token_revoke(actor=actor, token_id=token_id)
    messages.success(request, _("已吊销令牌 %s。") % token.name)
    if request.POST.get("back") == "admin" and token.user_id != actor.pk:
        return redirect("accounts:admin_tokens", user_id=token.user_id)
    return redirect("accounts:my_tokens")


# ---------------------------------------------------------------- workload


def _workload(request: HttpRequest) -> tuple[PeriodForm, dict]:
    actor = cast(User, request.user)
    selectors.require_workload_access(actor)
    form = PeriodForm(request.GET or None)
    data = form.cleaned_data if form.is_bound and form.is_valid() else {}
    date_from, date_to = selectors.workload_period(
        date_from=data.get("date_from"), date_to=data.get("date_to"), today=clock.today()
    )
    rows = selectors.clerk_workload(actor, date_from=date_from, date_to=date_to)
    return form, {"rows": rows, "date_from": date_from, "date_to": date_to}


@page
def workload_view(request: HttpRequest) -> HttpResponse:
    form, context = _workload(request)
    rows = context["rows"]
    context.update(
        {
            "form": form,
            "total_students": sum(r.students for r in rows),
            "total_operations": sum(r.operations for r in rows),
            "query": request.GET.urlencode(),
        }
    )
    return render(request, "accounts/admin/workload.html", context)


@page
def workload_csv_view(request: HttpRequest) -> HttpResponse:
    """The workload table as csv (UTF-8 with a BOM, so spreadsheet programs read it)."""
    _form, context = _workload(request)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    name = f"workload-{context['date_from']:%Y%m%d}-{context['date_to']:%Y%m%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response.write("\ufeff")
    writer = csv.writer(response)
    writer.writerow(
        [
            _("单位"),
            _("用户名"),
            _("姓名"),
            _("在籍学生数"),
            _("期间操作数"),
            _("培训有效"),
            _("开始日期"),
            _("结束日期"),
        ]
    )
    for row in context["rows"]:
        writer.writerow(
            [
                _csv_safe(row.user.unit.name if row.user.unit else ""),
                _csv_safe(row.user.username),
                _csv_safe(row.user.full_name),
                row.students,
                row.operations,
                _("是") if row.trained else _("否"),
                context["date_from"].isoformat(),
                context["date_to"].isoformat(),
            ]
        )
    return response


def _csv_safe(text: str) -> str:
    """Text a spreadsheet will not run as a formula."""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


urlpatterns = [
    path("admin/", admin_list_view, name="admin_list"),
    path("admin/new/", admin_create_view, name="admin_create"),
    path("admin/<int:user_id>/", admin_detail_view, name="admin_detail"),
    path("admin/<int:user_id>/roles/", admin_roles_view, name="admin_roles"),
    path("admin/<int:user_id>/disable/", admin_disable_view, name="admin_disable"),
    path("admin/<int:user_id>/enable/", admin_enable_view, name="admin_enable"),
    path("admin/<int:user_id>/password/", admin_password_reset_view, name="admin_password_reset"),
    path("admin/<int:user_id>/training/", admin_training_view, name="admin_training"),
    path("admin/<int:user_id>/tokens/", admin_tokens_view, name="admin_tokens"),
    path("me/tokens/", my_tokens_view, name="my_tokens"),
    path("tokens/<int:token_id>/revoke/", token_revoke_view, name="token_revoke"),
    path("workload/", workload_view, name="workload"),
    path("workload.csv", workload_csv_view, name="workload_csv"),
]
