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
from django.db.models import Count, Q
from django.db.models.functions import Substr
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_htmx.middleware import HtmxDetails

from xueji.accounts.models import UnitKind, User
from xueji.accounts.permissions import has_permission
from xueji.accounts.rules import Permission
from xueji.accounts.scope import scope_for
from xueji.divisions.selectors import division_children, division_full_name
from xueji.enrolment.models import StatusRecord
from xueji.enrolment.rules import ON_ROLL, StatusState
from xueji.errors import DomainError, NotFound
from xueji.schools.rules import GRADES, SEPARATE_AREA_CODES, SEPARATE_PREFIX, SchoolType
from xueji.schools.selectors import schools_visible

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
        if unit.kind == UnitKind.SCHOOL and unit.school_id is not None:
            context.update(_school_summary(unit.school_id))
        elif unit.kind == UnitKind.COUNTY:
            context.update(_county_summary(user))
        else:
            context.update(_area_summary(user, unit))
    return render(request, "web/home.html", context)


def _total(rows: list[dict], *keys: str) -> dict:
    return {key: sum(row[key] for row in rows) for key in keys}


def _area_summary(user, unit) -> dict:
    """Schools and students per child division: two grouped queries, no per-row query."""
    children = _child_areas(unit)
    width = len(children[0][0]) if children else 2
    scope = scope_for(user)
    schools = dict(
        schools_visible(user)
        .annotate(key=Substr("area_code", 1, width))
        .values("key")
        .annotate(n=Count("pk"))
        .order_by()
        .values_list("key", "n")
    )
    students = {
        row["key"]: row
        for row in StatusRecord.objects.filter(scope.q(area_field="area_code"))
        .annotate(key=Substr("area_code", 1, width))
        .values("key")
        .annotate(
            on_roll=Count("pk", filter=Q(state__in=ON_ROLL)),
            enrolled=Count("pk", filter=Q(state=StatusState.ENROLLED)),
        )
        .order_by()
    }
    rows = []
    for prefix, name in children:
        counts = students.get(prefix, {})
        rows.append(
            {
                "prefix": prefix,
                "name": name,
                "schools": schools.get(prefix, 0),
                "on_roll": counts.get("on_roll", 0),
                "enrolled": counts.get("enrolled", 0),
            }
        )
    return {
        "area_rows": rows,
        "area_totals": _total(rows, "schools", "on_roll", "enrolled"),
        "child_label": _child_label(unit.kind),
    }


def _child_areas(unit) -> list[tuple[str, object]]:
    """(code prefix, name) of the divisions one level below the unit."""
    if unit.kind == UnitKind.NATIONAL:
        rows = [(d.prefix, d.name) for d in division_children(None)]
        return [*rows, (SEPARATE_PREFIX, _("单列管理学校"))]
    if unit.kind == UnitKind.SEPARATE:
        return [(code, SchoolType(kind).label) for kind, code in SEPARATE_AREA_CODES.items()]
    return [(d.prefix, d.name) for d in division_children(unit.division_code)]


def _child_label(kind: str) -> str:
    labels: dict[str, str] = {
        UnitKind.NATIONAL: _("省份"),
        UnitKind.PROVINCE: _("地市"),
        UnitKind.CITY: _("区县"),
        UnitKind.SEPARATE: _("类别"),
    }
    return labels.get(kind, _("区划"))


def _county_summary(user) -> dict:
    """A county's schools, each with its students: one grouped query."""
    rows = list(
        schools_visible(user)
        .values("pk", "code", "name", "state")
        .annotate(
            on_roll=Count("records", filter=Q(records__state__in=ON_ROLL)),
            enrolled=Count("records", filter=Q(records__state=StatusState.ENROLLED)),
        )
        .order_by("code")
    )
    for row in rows:
        row["schools"] = 1
    return {
        "school_rows": rows,
        "area_totals": _total(rows, "schools", "on_roll", "enrolled"),
        "area_name": division_full_name(user.unit.division_code),
    }


def _school_summary(school_id: int) -> dict:
    """Students on the school's roll by grade and class: one grouped query."""
    rows = list(
        StatusRecord.objects.filter(school_id=school_id, state__in=ON_ROLL)
        .values("grade", "class_name")
        .annotate(on_roll=Count("pk"), enrolled=Count("pk", filter=Q(state=StatusState.ENROLLED)))
        .order_by("grade", "class_name")
    )
    grades: list[dict] = []
    for row in rows:
        if not grades or grades[-1]["grade"] != row["grade"]:
            grade = GRADES.get(row["grade"])
            grades.append(
                {
                    "grade": row["grade"],
                    "name": grade.name if grade else row["grade"],
                    "classes": [],
                    "on_roll": 0,
                    "enrolled": 0,
                }
            )
        grades[-1]["classes"].append(row)
        grades[-1]["on_roll"] += row["on_roll"]
        grades[-1]["enrolled"] += row["enrolled"]
    return {"grades": grades, "school_totals": _total(grades, "on_roll", "enrolled")}
