"""Campaign pages: the list and the opening form (authorities), the progress roll-up with
its chart (reviewers), and a school's roll (the clerk marks it on a phone and signs off).

Each view parses its input, calls one selector or service, and renders. Marking answers
htmx with the student's row and the counts (out of band); a plain browser gets a
redirect back to the roll, so the page also works without JavaScript.
"""

from typing import Any, cast
from urllib.parse import urlencode

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from xueji import clock
from xueji.accounts.models import UnitKind, User
from xueji.accounts.permissions import has_permission, require_permission
from xueji.accounts.rules import Permission
from xueji.audit.reads import ReadKind, note_read
from xueji.divisions.models import Division, DivisionLevel
from xueji.errors import Conflict, DomainError, Forbidden, ValidationFailed
from xueji.schools.rules import GRADES, SEPARATE_PREFIX
from xueji.web import search as web_search
from xueji.web.views import HtmxHttpRequest, page

from . import selectors, services
from .forms import CampaignOpenForm, RollFilterForm, SignOffForm
from .models import Campaign, RollMark, SchoolConfirmation
from .permissions import own_school_id
from .rules import SCHOOLS, CampaignState, ConfirmationState, Mark, semester_label

ROLL_PAGE_SIZE = 100
LIST_PAGE_SIZE = 25


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _safe_next(request: HttpRequest, fallback: str) -> str:
    wanted = request.POST.get("next") or request.GET.get("next") or ""
    if wanted and url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return wanted
    return fallback


def _may_manage(user: User) -> bool:
    unit = user.unit
    return (
        has_permission(user, Permission.CAMPAIGN_MANAGE)
        and unit is not None
        and unit.kind in (UnitKind.NATIONAL, UnitKind.PROVINCE)
    )


def _may_close(user: User, campaign: Campaign) -> bool:
    unit = user.unit
    if not _may_manage(user) or unit is None or campaign.state != CampaignState.OPEN:
        return False
    return unit.kind == UnitKind.NATIONAL or campaign.province_code == unit.area_prefix[:2]


# ---------------------------------------------------------------- list and opening


@page
def campaign_list_view(request: HtmxHttpRequest) -> HttpResponse:
    user = _user(request)
    campaigns = selectors.campaign_list(user)
    page_obj = Paginator(campaigns, LIST_PAGE_SIZE).get_page(request.GET.get("page"))
    mine = selectors.school_confirmations(user, [c.pk for c in page_obj.object_list])
    rows = [
        {
            "campaign": campaign,
            "scope": services.scope_name(campaign.province_code),
            "semester": semester_label(campaign.school_year, campaign.semester),
            "confirmation": mine.get(campaign.pk),
        }
        for campaign in page_obj.object_list
    ]
    return render(
        request,
        "verification/list.html",
        {
            "rows": rows,
            "page_obj": page_obj,
            "can_open": _may_manage(user),
            "school_id": own_school_id(user),
        },
    )


def _scopes(user: User) -> list[tuple[str, str]]:
    """What the user may open a campaign for: the nation or any province (national), or
    its own province."""
    unit = user.unit
    assert unit is not None
    if unit.kind == UnitKind.PROVINCE:
        code = unit.area_prefix[:2]
        return [(code, services.scope_name(code))]
    provinces = Division.objects.filter(
        level=DivisionLevel.PROVINCE, valid_to__isnull=True
    ).order_by("code")
    return [
        ("", _("全国")),
        *[(d.code[:2], d.name) for d in provinces],
        (SEPARATE_PREFIX, _("单列管理学校")),
    ]


@page
def campaign_open_view(request: HtmxHttpRequest) -> HttpResponse:
    user = _user(request)
    require_permission(user, Permission.CAMPAIGN_MANAGE)
    if not _may_manage(user):
        raise Forbidden(_("只有国家级或省级学籍主管部门可以发起核准活动。"))
    form = CampaignOpenForm(
        request.POST if request.method == "POST" else None, scopes=_scopes(user)
    )
    failed = ""
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            campaign = services.campaign_open(
                actor=user,
                province_code=data["province_code"] or "",
                school_year=data["school_year"],
                semester=data["semester"],
                deadline=data["deadline"],
                title=data["title"],
            )
        except ValidationFailed as error:
            form.add_field_errors(error.errors)
            failed = str(error.message)
        except Conflict as conflict:
            failed = str(conflict.message)
        else:
            messages.success(
                request,
                _("已发起“%(title)s”，%(schools)d 所学校参加。")
                % {"title": campaign.title, "schools": campaign.schools_total},
            )
            return redirect("verification:progress", campaign.pk)
    return render(request, "verification/open.html", {"form": form, "failed": failed})


# ---------------------------------------------------------------- progress


def _chart(progress: selectors.Progress) -> dict[str, Any]:
    return {
        "labels": [row.name for row in progress.rows],
        "percent": [row.percent for row in progress.rows],
        "signed": [row.signed_percent for row in progress.rows],
        "overdue": [row.overdue > 0 for row in progress.rows],
        "names": {
            "percent": _("已标记学生（%）"),
            "signed": _("已签报学校（%）"),
        },
    }


# Lazy: translated for each request's language, not once at import.
LEVEL_LABELS = {
    "province": gettext_lazy("省份"),
    "city": gettext_lazy("地市"),
    "county": gettext_lazy("区县"),
    SCHOOLS: gettext_lazy("学校"),
}


@page
def progress_view(request: HtmxHttpRequest, campaign_id: int) -> HttpResponse:
    user = _user(request)
    area = request.GET.get("area")
    progress = selectors.campaign_progress(user, campaign_id, area=area)
    campaign = progress.campaign
    return render(
        request,
        "verification/progress.html",
        {
            "progress": progress,
            "campaign": campaign,
            "scope": services.scope_name(campaign.province_code),
            "semester": semester_label(campaign.school_year, campaign.semester),
            "level_label": LEVEL_LABELS[progress.level],
            "chart": _chart(progress),
            "can_close": _may_close(user, campaign),
            "can_roll": has_permission(user, Permission.STUDENT_VIEW),
            "late": progress.today is not None and progress.today > campaign.deadline,
        },
    )


@require_POST
@page
def campaign_close_view(request: HtmxHttpRequest, campaign_id: int) -> HttpResponse:
    campaign = services.campaign_close(actor=_user(request), campaign_id=campaign_id)
    messages.success(request, _("已结束“%s”。") % campaign.title)
    return redirect("verification:progress", campaign.pk)


# ---------------------------------------------------------------- the roll


def _roll_url(campaign_id: int, school_id: int, query: dict[str, str] | None = None) -> str:
    url = reverse("verification:roll", args=[campaign_id, school_id])
    wanted = {k: v for k, v in (query or {}).items() if v}
    return f"{url}?{urlencode(wanted)}" if wanted else url


def _may_mark(user: User, confirmation: SchoolConfirmation, campaign: Campaign) -> bool:
    return (
        has_permission(user, Permission.CAMPAIGN_CONFIRM)
        and own_school_id(user) == confirmation.school_id
        and campaign.state == CampaignState.OPEN
        and confirmation.state != ConfirmationState.SIGNED_OFF
    )


def _row(mark: RollMark, *, unexplained: set[int]) -> dict[str, Any]:
    record = mark.student.record
    grade = GRADES.get(record.grade)
    return {
        "mark": mark,
        "student": mark.student,
        "grade": grade.name if grade else record.grade,
        "class_name": record.class_name,
        "unexplained": mark.student_id in unexplained,
    }


def _unexplained_among(campaign: Campaign, school_id: int, marks: list[RollMark]) -> set[int]:
    wrong = [m.student_id for m in marks if m.mark == Mark.DATA_WRONG and not m.note]
    if not wrong:
        return set()
    return set(
        services.unexplained_marks(campaign, school_id)
        .filter(student_id__in=wrong)
        .values_list("student_id", flat=True)
    )


def _row_context(user: User, roll: selectors.Roll) -> dict[str, Any]:
    return {
        "campaign": roll.campaign,
        "confirmation": roll.confirmation,
        "can_mark": _may_mark(user, roll.confirmation, roll.campaign),
        "can_change": has_permission(user, Permission.CHANGE_FILE),
        "can_correct": has_permission(user, Permission.STUDENT_REGISTER),
    }


@never_cache  # the roll carries personal data
@page
def roll_view(request: HtmxHttpRequest, campaign_id: int, school_id: int) -> HttpResponse:
    user = _user(request)
    redirect, data = web_search.handle(request)  # the term never travels in the URL
    if redirect is not None:
        return redirect
    query = {key: data.get(key, "") for key in ("grade", "class_name", "mark")}
    search = data.get("q", "").strip()[:64]
    # Students registered since the roll was opened are on it (unmarked) before it is shown.
    services.roll_refresh(actor=user, campaign_id=campaign_id, school_id=school_id)
    roll = selectors.school_roll(user, campaign_id, school_id, **query, search=search)
    form = RollFilterForm(data or None, grades=roll.grades, classes=roll.classes)
    page_obj = Paginator(roll.marks, ROLL_PAGE_SIZE).get_page(request.GET.get("page"))
    marks = list(page_obj.object_list)
    note_read(
        user,
        [m.student_id for m in marks],
        kind=ReadKind.SEARCH if search else ReadKind.ROLL,
        campaign=campaign_id,
    )
    unexplained = _unexplained_among(roll.campaign, school_id, marks)
    here = _roll_url(
        campaign_id,
        school_id,
        {**query, "s": request.GET.get("s", ""), "page": request.GET.get("page", "")},
    )
    confirmation = roll.confirmation
    return render(
        request,
        "verification/roll.html",
        {
            **_row_context(user, roll),
            "rows": [_row(m, unexplained=unexplained) for m in marks],
            "page_obj": page_obj,
            "form": form,
            "query": query,
            "here": here,
            "sign_off_form": SignOffForm(),
            "semester": semester_label(roll.campaign.school_year, roll.campaign.semester),
            "late": confirmation.state != ConfirmationState.SIGNED_OFF
            and clock.today() > roll.campaign.deadline,
            "filtered": any(query.values()) or bool(search),
            # "All present" applies to the grade or class shown, never to a mark or a search.
            "scoped": bool(query["grade"] or query["class_name"]),
        },
    )


def _back_to_roll(request: HttpRequest, campaign_id: int) -> str:
    school_id = own_school_id(request.user)
    fallback = (
        _roll_url(campaign_id, school_id) if school_id is not None else reverse("verification:list")
    )
    return _safe_next(request, fallback)


@require_POST
@page
def roll_open_view(request: HtmxHttpRequest, campaign_id: int) -> HttpResponse:
    confirmation = services.roll_open(actor=_user(request), campaign_id=campaign_id)
    messages.success(request, _("名册已打开，共 %d 名学生。") % confirmation.total)
    return redirect(_back_to_roll(request, campaign_id))


@require_POST
@page
def mark_view(request: HtmxHttpRequest, campaign_id: int) -> HttpResponse:
    """One student's mark (and note). htmx gets the row back with the counts out of band;
    a refusal comes back inside the row, so the list stays whole."""
    user = _user(request)
    student_id = request.POST.get("student_id", "")
    mark = request.POST.get("mark", "")
    note = request.POST.get("note", "")
    error = ""
    status = 200
    try:
        services.roll_mark(
            actor=user, campaign_id=campaign_id, student_ids=[student_id], mark=mark, note=note
        )
    except DomainError as refusal:
        if not request.htmx:
            raise
        error, status = str(refusal.message), refusal.http_status
    if not request.htmx:
        return redirect(_back_to_roll(request, campaign_id))
    school_id = own_school_id(user)
    if school_id is None or not student_id.isdigit():
        raise Forbidden()
    roll = selectors.school_roll(user, campaign_id, school_id)
    found = list(roll.marks.filter(student_id=int(student_id)))
    if not found:
        return render(
            request,
            "web/_error_alert.html",
            {"error_message": error or _("未找到该学生。")},
            status=404,
        )
    unexplained = _unexplained_among(roll.campaign, school_id, found)
    return render(
        request,
        "verification/_mark_response.html",
        {
            **_row_context(user, roll),
            "row": _row(found[0], unexplained=unexplained),
            "error": error,
            "here": _safe_next(request, _roll_url(campaign_id, school_id)),
        },
        status=status,
    )


@require_POST
@page
def all_present_view(request: HtmxHttpRequest, campaign_id: int) -> HttpResponse:
    grade = request.POST.get("grade", "")
    class_name = request.POST.get("class_name", "")
    confirmation = services.roll_mark_all_present_except(
        actor=_user(request),
        campaign_id=campaign_id,
        except_ids={},
        grade=grade,
        class_name=class_name,
    )
    messages.success(
        request,
        _("已将未标记的学生标为在校。现有在校 %(present)d 人，未标记 %(unmarked)d 人。")
        % {"present": confirmation.present, "unmarked": confirmation.unmarked},
    )
    return redirect(_back_to_roll(request, campaign_id))


@require_POST
@page
def sign_off_view(request: HtmxHttpRequest, campaign_id: int) -> HttpResponse:
    form = SignOffForm(request.POST)
    note = form.cleaned_data.get("note", "") if form.is_valid() else ""
    user = _user(request)
    try:
        services.school_sign_off(actor=user, campaign_id=campaign_id, note=note)
    except Conflict as refusal:
        messages.error(request, str(refusal.message))
        # Straight to what is missing: the unmarked students, or the "data wrong" ones.
        school_id = own_school_id(user)
        missing = {
            "confirmation.unmarked": Mark.UNMARKED,
            "confirmation.data_wrong_unexplained": Mark.DATA_WRONG,
        }.get(refusal.code)
        if school_id is not None and missing is not None:
            return redirect(_roll_url(campaign_id, school_id, {"mark": missing}))
    else:
        messages.success(request, _("本校已签报，学籍核准完成。"))
    return redirect(_back_to_roll(request, campaign_id))
