"""School pages: the list, one school, and the create and edit forms."""

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from xueji.accounts.permissions import has_permission, require_permission
from xueji.accounts.rules import Permission
from xueji.accounts.scope import scope_for
from xueji.divisions.selectors import division_full_name
from xueji.enrolment.selectors import school_grade_counts
from xueji.errors import Conflict, ValidationFailed
from xueji.web.views import page

from .forms import SchoolCreateForm, SchoolEditForm, SchoolFilterForm
from .permissions import access_school
from .rules import SchoolState
from .selectors import school_list
from .services import school_create, school_update


def _place(school) -> str:
    return division_full_name(school.division_code) if school.division_code else _("单列管理")


@page
def school_list_view(request: HttpRequest) -> HttpResponse:
    require_permission(request.user, Permission.SCHOOL_VIEW)
    form = SchoolFilterForm(request.GET or None)
    data = form.cleaned_data if form.is_bound and form.is_valid() else {}
    schools = school_list(
        request.user,
        search=data.get("q", ""),
        area_prefix=data.get("area") or "",
        school_type=data.get("school_type", ""),
        state=data.get("state", ""),
        with_counts=True,
    )
    paginator = Paginator(schools, settings.XUEJI["PAGE_SIZE"])
    page_obj = paginator.get_page(request.GET.get("page"))
    rows = [{"school": school, "place": _place(school)} for school in page_obj.object_list]
    area = data.get("area") or ""
    return render(
        request,
        "schools/list.html",
        {
            "form": form,
            "rows": rows,
            "page_obj": page_obj,
            "area_name": division_full_name(area.ljust(6, "0")) if area else "",
        },
    )


@page
def school_detail_view(request: HttpRequest, school_id: int) -> HttpResponse:
    require_permission(request.user, Permission.SCHOOL_VIEW)
    school = access_school(request.user, school_id=school_id)
    counts = school_grade_counts(school.pk)
    return render(
        request,
        "schools/detail.html",
        {
            "school": school,
            "place": _place(school),
            "grade_rows": counts,
            "totals": {
                "on_roll": sum(r["on_roll"] for r in counts),
                "enrolled": sum(r["enrolled"] for r in counts),
            },
            "can_register_here": school.state == SchoolState.OPEN
            and has_permission(request.user, Permission.STUDENT_REGISTER),
        },
    )


@page
def school_create_view(request: HttpRequest) -> HttpResponse:
    require_permission(request.user, Permission.SCHOOL_EDIT)
    scope = scope_for(request.user)
    form = SchoolCreateForm(request.POST or None, scope=scope)
    if request.method == "POST" and form.is_valid():
        try:
            school = school_create(actor=request.user, data=form.cleaned_data)
        except ValidationFailed as error:
            form.add_field_errors(error.errors)
        except Conflict as conflict:
            form.add_error("code", str(conflict.message))
        else:
            messages.success(request, _("已新建学校 %s。") % school.name)
            return redirect("schools:detail", school_id=school.pk)
    return render(request, "schools/form.html", {"form": form, "creating": True})


@page
def school_edit_view(request: HttpRequest, school_id: int) -> HttpResponse:
    require_permission(request.user, Permission.SCHOOL_EDIT)
    school = access_school(request.user, school_id=school_id)
    initial = {f: getattr(school, f) for f in ("name", "operator", "managing_level", "address")}
    form = SchoolEditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            school = school_update(actor=request.user, school_id=school.pk, data=form.cleaned_data)
        except ValidationFailed as error:
            form.add_field_errors(error.errors)
        else:
            messages.success(request, _("已保存学校信息。"))
            return redirect("schools:detail", school_id=school.pk)
    return render(
        request,
        "schools/form.html",
        {"form": form, "school": school, "place": _place(school), "creating": False},
    )
