"""Pages of the dropout-control ledger (控辍保学台账): the open cases in scope, the longest
without contact first; one case with its follow-ups, a form to add one, and (for the
authority) a form to close the case with a reason."""

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from xueji import clock
from xueji.accounts.models import UnitKind
from xueji.accounts.permissions import require_permission
from xueji.accounts.rules import Permission
from xueji.audit.reads import ReadKind, note_read
from xueji.errors import Conflict, ValidationFailed
from xueji.schools.rules import GRADES
from xueji.web import search
from xueji.web.views import page

from . import ledger
from .forms_ledger import CaseFilterForm, CloseForm, FollowUpForm
from .models import DropoutCaseState

# Days without contact after which a case is shown as needing attention.
STALE_DAYS = 30


def _grade_name(code: str) -> str:
    grade = GRADES.get(code)
    return str(grade.name) if grade else code


@page
def case_list(request: HttpRequest) -> HttpResponse:
    """The cases in scope: open ones by default, the longest without contact first."""
    require_permission(request.user, Permission.DROPOUT_VIEW)
    redirect, data = search.handle(request)  # the term never travels in the URL
    if redirect is not None:
        return redirect
    if "state" not in data:
        data["state"] = DropoutCaseState.OPEN
    form = CaseFilterForm(data)
    state, q = DropoutCaseState.OPEN, ""
    if form.is_valid():
        state, q = form.cleaned_data["state"], form.cleaned_data["q"]
    cases = ledger.dropout_case_list(request.user, state=state, q=q)
    page_obj = Paginator(cases, settings.XUEJI["PAGE_SIZE"]).get_page(request.GET.get("page"))
    rows = ledger.dropout_case_rows(page_obj.object_list)
    note_read(request.user, [row.case.student_id for row in rows], kind=ReadKind.CHANGE)
    unit = getattr(request.user, "unit", None)
    return render(
        request,
        "changes/dropout_list.html",
        {
            "form": form,
            "page_obj": page_obj,
            "rows": [(row, _grade_name(row.case.grade)) for row in rows],
            "show_school": unit is not None and unit.kind != UnitKind.SCHOOL,
            "stale_days": STALE_DAYS,
        },
    )


def _detail_page(
    request: HttpRequest,
    case_id: int,
    *,
    follow_up_form: FollowUpForm | None = None,
    close_form: CloseForm | None = None,
    status: int = 200,
) -> HttpResponse:
    detail = ledger.dropout_case_detail(request.user, case_id=case_id)
    note_read(request.user, [detail.case.student_id], kind=ReadKind.CHANGE, dropout_case=case_id)
    return render(
        request,
        "changes/dropout_detail.html",
        {
            "detail": detail,
            "case": detail.case,
            "grade_name": _grade_name(detail.case.grade),
            "follow_up_form": follow_up_form or FollowUpForm(initial={"on": clock.today()}),
            "close_form": close_form or CloseForm(),
            "stale_days": STALE_DAYS,
        },
        status=status,
    )


@page
def case_detail(request: HttpRequest, case_id: int) -> HttpResponse:
    require_permission(request.user, Permission.DROPOUT_VIEW)
    return _detail_page(request, case_id)


@require_POST
@page
def follow_up_add(request: HttpRequest, case_id: int) -> HttpResponse:
    require_permission(request.user, Permission.DROPOUT_FOLLOW_UP)
    form = FollowUpForm(request.POST)
    if form.is_valid():
        try:
            ledger.dropout_follow_up_add(
                actor=request.user,
                case_id=case_id,
                on=form.cleaned_data["on"],
                method=form.cleaned_data["method"],
                result=form.cleaned_data["result"],
                next_step=form.cleaned_data["next_step"],
            )
        except ValidationFailed as error:
            form.add_field_errors(error.errors)
        except Conflict as conflict:
            form.add_error(None, str(conflict.message))
        else:
            messages.success(request, _("已登记跟进记录。"))
            return redirect("dropouts:detail", case_id=case_id)
    return _detail_page(request, case_id, follow_up_form=form, status=422)


@require_POST
@page
def case_close(request: HttpRequest, case_id: int) -> HttpResponse:
    require_permission(request.user, Permission.DROPOUT_FOLLOW_UP)
    ledger.require_may_close(request.user)  # a school is refused before its form is read
    form = CloseForm(request.POST)
    if form.is_valid():
        try:
            ledger.dropout_case_close(
                actor=request.user, case_id=case_id, reason=form.cleaned_data["reason"]
            )
        except ValidationFailed as error:
            form.add_field_errors(error.errors)
        except Conflict as conflict:
            form.add_error(None, str(conflict.message))
        else:
            messages.success(request, _("台账已销号。"))
            return redirect("dropouts:detail", case_id=case_id)
    return _detail_page(request, case_id, close_form=form, status=422)
