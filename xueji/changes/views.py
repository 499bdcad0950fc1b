"""Change pages: the list, one request, starting a transfer, filing any other change, the
review queue with its two-tap approval, withdrawing and adding materials.

Each view parses its input, calls one selector or service, and renders. The approve and
refuse endpoints answer htmx with fragments (the confirm step, then the handled card) and
a plain browser with full pages (GET: the confirm page; POST: redirect), so the queue
works with and without JavaScript.
"""

from dataclasses import dataclass
from datetime import date
from typing import Any, cast

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from xueji import clock
from xueji.accounts.models import UnitKind, User
from xueji.accounts.permissions import has_permission, require_permission
from xueji.accounts.rules import Permission
from xueji.accounts.scope import scope_for
from xueji.audit.reads import ReadKind, note_read
from xueji.enrolment.models import Programme
from xueji.errors import Conflict, NotFound, ValidationFailed
from xueji.schools.models import School
from xueji.schools.rules import GRADES, SEPARATE_PREFIX, SchoolState, SchoolType
from xueji.schools.selectors import school_list
from xueji.students import identity
from xueji.students.forms import SCHOOL_SELECT_LIMIT
from xueji.students.permissions import access_student, may_see_full_number, students_in_scope
from xueji.web import search
from xueji.web.views import HtmxHttpRequest, page
from xueji.workdays.models import CalendarDay
from xueji.workdays.rules import CalendarMissing, workdays_between

from . import selectors, services
from .forms import (
    FILEABLE_TYPES,
    TYPE_FIELDS,
    ChangeForm,
    MaterialAddForm,
    RefuseForm,
    RequestFilterForm,
    TransferForm,
    WithdrawForm,
    place_errors,
)
from .models import ApprovalStep, ChangeRequest
from .rules import ChangeType, MaterialKind, Party, RequestState, StepState

PAGE_SIZE = 25


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _masked_name(name: str) -> str:
    """A guardian's name as lists show it: the first character only."""
    return f"{name[:1]}{'*' * max(len(name) - 1, 1)}" if name else ""


def _grade_name(code: str) -> str:
    grade = GRADES.get(code or "")
    return str(grade.name) if grade else code or ""


def _safe_next(request: HttpRequest, fallback: str) -> str:
    wanted = request.POST.get("next") or request.GET.get("next") or ""
    if wanted and url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return wanted
    return fallback


def _rule_info(in_force: services.RuleInForce) -> dict:
    """The rule in force as the forms show it: versions, steps with their days, materials."""
    rule = in_force.rule
    return {
        "national": in_force.national.version if in_force.national else None,
        "province": in_force.province.version if in_force.province else None,
        "chain": [(Party(party).label, rule.days_for(party)) for party in rule.chain],
        "materials": [MaterialKind(kind).label for kind in rule.materials],
        "enabled": rule.enabled,
    }


PAYLOAD_LABELS = {
    "grade": _lazy("年级"),
    "class_name": _lazy("班级"),
    "from": _lazy("缓学起始日期"),
    "until": _lazy("缓学截止日期"),
    "died_on": _lazy("死亡日期"),
    "programme": _lazy("培养类型"),
    "home_taught": _lazy("送教上门"),
}


def _payload_rows(payload: dict) -> list[tuple[str, str]]:
    rows = []
    for key, value in (payload or {}).items():
        if key == "grade":
            shown = _grade_name(str(value))
        elif key == "programme" and value in Programme.values:
            shown = str(Programme(value).label)
        elif key == "home_taught":
            shown = _("是") if value else _("否")
        else:
            shown = "" if value is None else str(value)
        rows.append((str(PAYLOAD_LABELS.get(key, key)), shown))
    return rows


def _conflict_link(user: User, conflict: Conflict) -> str:
    """A link to the open request behind a conflict, when the actor may see it."""
    request_id = conflict.detail.get("request_id")
    if not request_id:
        return ""
    try:
        services.access_request(user, request_id)
    except NotFound:
        return ""
    return reverse("changes:detail", args=[request_id])


# ---------------------------------------------------------------- deadlines


@dataclass(frozen=True)
class Countdown:
    """How a pending step stands against its deadline: working days left (0: due today)
    or late; ``approx`` when the calendar does not cover the span (calendar days then)."""

    left: int | None = None
    late: int | None = None
    approx: bool = False


def _countdowns(due_dates: list[date], today: date) -> dict[date, Countdown]:
    """Countdowns for many due dates with one read of the working-day calendar."""
    dues = sorted(set(due_dates))
    if not dues:
        return {}
    first, last = min(dues[0], today), max(dues[-1], today)
    flags = dict(
        CalendarDay.objects.filter(date__range=(first, last)).values_list("date", "is_workday")
    )
    out = {}
    for due in dues:
        try:
            if due >= today:
                out[due] = Countdown(left=workdays_between(today, due, flags.get))
            else:
                out[due] = Countdown(late=workdays_between(due, today, flags.get))
        except CalendarMissing:
            days = (due - today).days
            out[due] = Countdown(
                left=days if days >= 0 else None, late=-days if days < 0 else None, approx=True
            )
    return out


def _with_pending(queryset):
    return queryset.prefetch_related(
        Prefetch(
            "steps",
            queryset=ApprovalStep.objects.filter(state=StepState.PENDING).select_related("unit"),
            to_attr="pending_steps",
        )
    )


# ---------------------------------------------------------------- list


@page
def request_list_view(request: HttpRequest) -> HttpResponse:
    """Requests visible to the unit (either side of a transfer), newest first, paginated."""
    user = _user(request)
    require_permission(user, Permission.CHANGE_VIEW)
    redirect, data = search.handle(request)  # the term never travels in the URL
    if redirect is not None:
        return redirect
    form = RequestFilterForm(data or None)
    filters = form.cleaned_data if form.is_bound and form.is_valid() else {}
    requests = selectors.request_list(
        user,
        state=filters.get("state", ""),
        change_type=filters.get("change_type", ""),
        q=filters.get("q", ""),
        step=filters.get("step", ""),
    )
    paginator = Paginator(_with_pending(requests), PAGE_SIZE)
    page_obj = paginator.get_page(request.GET.get("page"))
    note_read(user, [item.student_id for item in page_obj.object_list], kind=ReadKind.CHANGE)
    rows = [
        {"request": item, "step": next(iter(item.pending_steps), None)}
        for item in page_obj.object_list
    ]
    return render(
        request,
        "changes/list.html",
        {
            "form": form,
            "rows": rows,
            "page_obj": page_obj,
            "can_transfer": has_permission(user, Permission.CHANGE_FILE),
        },
    )


# ---------------------------------------------------------------- detail


def _may_withdraw(user: User, change: ChangeRequest) -> bool:
    """The unit that filed the request, or an authority above the holding school (the
    service decides again)."""
    if change.state != RequestState.OPEN or not has_permission(user, Permission.CHANGE_FILE):
        return False
    unit = user.unit
    if unit is None:
        return False
    if change.filed_by_unit_id == unit.pk:
        return True
    return unit.kind != UnitKind.SCHOOL and scope_for(user).covers(
        area_code=change.area_code, school_id=change.school_id
    )


def _detail_page(
    request: HttpRequest,
    request_id: int,
    *,
    withdraw_form: WithdrawForm | None = None,
    material_form: MaterialAddForm | None = None,
    status: int = 200,
) -> HttpResponse:
    user = _user(request)
    detail = selectors.request_detail(user, request_id=request_id)
    change = detail.request
    note_read(user, [change.student_id], kind=ReadKind.CHANGE, change_request=change.pk)
    today = clock.today()
    handleable = detail.handleable
    countdown = (
        _countdowns([handleable.due_date], today).get(handleable.due_date)
        if handleable is not None and handleable.due_date
        else None
    )
    student_visible = (
        has_permission(user, Permission.STUDENT_VIEW)
        and students_in_scope(user).filter(pk=change.student_id).exists()
    )
    open_ = change.state == RequestState.OPEN
    # The pending party of a transfer checks the student's identity: it sees the full
    # number here; the list, the queue and everyone else see it masked.
    number_shown = (
        identity.read_number(change.student)
        if may_see_full_number(user, change.student)
        else change.student.number_masked
    )
    return render(
        request,
        "changes/detail.html",
        {
            "change": change,
            "student": change.student,
            "student_visible": student_visible,
            "number_shown": number_shown,
            "steps": detail.steps,
            "materials": detail.materials,
            "handleable": handleable,
            "card": _card(handleable, countdown) if handleable is not None else None,
            "payload_rows": _payload_rows(change.payload),
            "applicant": _masked_name(change.applicant_name),
            "may_withdraw": _may_withdraw(user, change),
            "may_add_materials": open_
            and (
                has_permission(user, Permission.CHANGE_FILE)
                or has_permission(user, Permission.CHANGE_HANDLE)
            ),
            "withdraw_form": withdraw_form or WithdrawForm(),
            "material_form": material_form or MaterialAddForm(),
            "next": reverse("changes:detail", args=[change.pk]),
        },
        status=status,
    )


@page
def request_detail_view(request: HttpRequest, request_id: int) -> HttpResponse:
    return _detail_page(request, request_id)


@require_POST
@page
def withdraw(request: HttpRequest, request_id: int) -> HttpResponse:
    """The filer withdraws an open request; a reason is required."""
    form = WithdrawForm(request.POST)
    form.is_valid()
    try:
        services.change_withdraw(
            actor=request.user, request_id=request_id, reason=form.cleaned_data.get("reason", "")
        )
    except ValidationFailed as error:
        place_errors(form, error.errors)
        return _detail_page(request, request_id, withdraw_form=form, status=422)
    messages.success(request, _("申请已撤回。"))
    return redirect("changes:detail", request_id=request_id)


@require_POST
@page
def materials_add(request: HttpRequest, request_id: int) -> HttpResponse:
    """Add a material to an open request."""
    form = MaterialAddForm(request.POST, request.FILES)
    upload = form.cleaned_data.get("file") if form.is_valid() else None
    if form.is_valid() and upload is None:
        form.add_error("file", _("请选择要上传的文件"))
    if not form.is_valid() or upload is None:
        services.access_request(request.user, request_id)  # out of scope: 404 first
        return _detail_page(request, request_id, material_form=form, status=422)
    try:
        services.material_add(
            actor=request.user, request_id=request_id, uploads=[(form.cleaned_data["kind"], upload)]
        )
    except ValidationFailed as error:
        for item in error.errors:
            form.add_error("file", str(item.message))
        return _detail_page(request, request_id, material_form=form, status=422)
    messages.success(request, _("材料已上传。"))
    return redirect("changes:detail", request_id=request_id)


@never_cache  # personal documents stay out of browser and proxy caches
@page
def material_download(request: HttpRequest, material_id: int) -> HttpResponse:
    """A material of a visible request; every download is audited."""
    material, handle = services.material_open(actor=request.user, material_id=material_id)
    # Streamed from storage; typed as the ``HttpResponse`` that ``page`` views return.
    return cast(
        HttpResponse,
        FileResponse(
            handle,
            as_attachment=True,
            filename=material.name,
            content_type=material.content_type,
        ),
    )


# ---------------------------------------------------------------- starting a transfer


def _receiving_schools(user: User) -> list[School] | None:
    """The schools an authority may file for; ``None`` for a school's clerk (its own)."""
    if user.unit is None or user.unit.school_id is not None:
        return None
    return list(
        school_list(user, state=SchoolState.OPEN).only("pk", "code", "name", "province_code")[
            :SCHOOL_SELECT_LIMIT
        ]
    )


def _province_of_unit(user: User) -> str:
    prefix = user.unit.area_prefix if user.unit is not None else ""
    return prefix[:2] if len(prefix) >= 2 and not prefix.startswith(SEPARATE_PREFIX) else ""


@page
def transfer_new(request: HttpRequest) -> HttpResponse:
    """The receiving school starts a transfer (Art. 15): the student's number and name, the
    class it joins, the reason and the materials the rule in force asks for."""
    user = _user(request)
    require_permission(user, Permission.CHANGE_FILE)
    schools = _receiving_schools(user)
    own = user.unit.school if user.unit is not None and user.unit.school_id else None
    chosen = None
    if schools is not None:
        wanted = request.POST.get("school") or request.GET.get("school") or ""
        chosen = next((s for s in schools if str(s.pk) == wanted), None)
    receiving = own or chosen
    province = receiving.province_code if receiving else _province_of_unit(user)
    in_force = services.rule_in_force(ChangeType.TRANSFER, province_code=province, at=clock.now())
    data = (request.POST, request.FILES) if request.method == "POST" else (None,)
    form = TransferForm(*data, schools=schools, materials=in_force.rule.materials)
    context: dict[str, Any] = {
        "form": form,
        "rule_info": _rule_info(in_force),
        "receiving": receiving,
    }
    if request.method != "POST" or not form.is_valid():
        status = 422 if request.method == "POST" else 200
        return render(request, "changes/transfer_new.html", context, status=status)
    try:
        change = services.transfer_file(
            actor=user,
            student_number=form.cleaned_data["student_number"],
            student_name=form.cleaned_data["student_name"],
            effective_date=form.cleaned_data.get("effective_date"),
            reason=form.cleaned_data.get("reason", ""),
            payload=form.payload(),
            uploads=form.uploads(),
            target_school_id=form.school_id(),
        )
    except ValidationFailed as error:
        place_errors(form, error.errors, aliases={"target_school": "school"})
        context["failed"] = error.message
        return render(request, "changes/transfer_new.html", context, status=422)
    except NotFound as error:
        if error.detail.get("what") == "student":
            form.add_error("student_number", _("未找到学籍号与姓名相符的学生，请核对。"))
        else:
            form.add_error("school" if "school" in form.fields else None, str(error.message))
        return render(request, "changes/transfer_new.html", context, status=422)
    except Conflict as conflict:
        context.update(conflict=conflict, conflict_link=_conflict_link(user, conflict))
        return render(request, "changes/transfer_new.html", context, status=409)
    messages.success(request, _("转学申请已提交，等待下一环节办理。"))
    return redirect("changes:detail", request_id=change.pk)


# ---------------------------------------------------------------- every other change


@page
def change_new(request: HttpRequest) -> HttpResponse:
    """File a change other than a transfer for a student in scope. Without a type: the
    list of change types to choose from."""
    user = _user(request)
    require_permission(user, Permission.CHANGE_FILE)
    student_id = request.GET.get("student", "")
    if not student_id.isdigit():
        raise NotFound("student")
    student = access_student(user, student_id=int(student_id))
    note_read(user, [student], kind=ReadKind.CHANGE)
    record = student.record
    change_type = request.GET.get("type", "")
    context: dict[str, Any] = {
        "student": student,
        "record": record,
        "grade_name": _grade_name(record.grade),
        "open_request": selectors.open_request_of(student.pk),
    }
    # Only the changes the student's state, stage and grade and the province's rules allow
    # now are offered; the others are listed with the rule that excludes them.
    offers = services.change_offers(record, types=FILEABLE_TYPES)
    context["offers"] = [offer for offer in offers if offer.offered]
    context["excluded"] = [offer for offer in offers if not offer.offered]
    chosen = next((offer for offer in offers if offer.change_type == change_type), None)
    if chosen is None or not chosen.offered:
        context["refused"] = chosen
        return render(request, "changes/change_types.html", context)
    province = record.school.province_code
    in_force = services.rule_in_force(change_type, province_code=province, at=clock.now())
    specialised = None
    if change_type == ChangeType.SPECIALISED:
        # Placement schools are reference data (names and codes), listed for the province.
        specialised = list(
            School.objects.filter(
                school_type=SchoolType.SPECIALISED, state=SchoolState.OPEN, province_code=province
            ).order_by("code")[:SCHOOL_SELECT_LIMIT]
        )
    data = (request.POST, request.FILES) if request.method == "POST" else (None,)
    form = ChangeForm(
        *data,
        change_type=change_type,
        materials=in_force.rule.materials,
        specialised_schools=specialised,
        initial={"effective_date": clock.today()},
    )
    context.update(
        {
            "form": form,
            "rule_info": _rule_info(in_force),
            "change_type": ChangeType(change_type),
            "type_fields": TYPE_FIELDS.get(change_type, ()),
        }
    )
    if request.method != "POST" or not form.is_valid():
        status = 422 if request.method == "POST" else 200
        return render(request, "changes/change_new.html", context, status=status)
    try:
        change = services.change_file(
            actor=user,
            student_id=student.pk,
            change_type=change_type,
            effective_date=form.cleaned_data.get("effective_date") or clock.today(),
            reason=form.cleaned_data.get("reason", ""),
            payload=form.payload(),
            target_school_id=form.target_school_id(),
            uploads=form.uploads(),
        )
    except ValidationFailed as error:
        place_errors(form, error.errors)
        context["failed"] = error.message
        return render(request, "changes/change_new.html", context, status=422)
    except Conflict as conflict:
        context.update(conflict=conflict, conflict_link=_conflict_link(user, conflict))
        return render(request, "changes/change_new.html", context, status=409)
    messages.success(request, _("%(type)s申请已提交。") % {"type": ChangeType(change_type).label})
    return redirect("changes:detail", request_id=change.pk)


# ---------------------------------------------------------------- the review queue


def _card(step: ApprovalStep, countdown: Countdown | None) -> dict:
    change = step.request
    return {
        "step": step,
        "change": change,
        "student": change.student,
        "from_school": change.school,
        "to_school": change.target_school,
        "countdown": countdown,
    }


@page
def queue_view(request: HttpRequest) -> HttpResponse:
    """The steps waiting for the unit, most urgent first, as cards (stacked on a phone)."""
    user = _user(request)
    steps = list(selectors.review_queue(user))
    note_read(user, [step.request.student_id for step in steps], kind=ReadKind.CHANGE)
    today = clock.today()
    countdowns = _countdowns([s.due_date for s in steps if s.due_date], today)
    cards = [_card(s, countdowns.get(s.due_date) if s.due_date else None) for s in steps]
    return render(
        request,
        "changes/queue.html",
        {"cards": cards, "today": today, "next": reverse("changes:queue")},
    )


def _my_pending_step(user: User, step_id: int) -> ApprovalStep:
    """A pending step of the actor's own unit; anything else is not found."""
    step = selectors.review_queue(user).filter(pk=step_id).first()
    if step is None:
        raise NotFound("step")
    return step


def _handled(request: HtmxHttpRequest, step_id: int, message: str, change: ChangeRequest):
    """After a decision: in the queue (htmx), the handled card in place of the pending one;
    anywhere else (the request's page shows its state, steps and materials, all changed by
    the decision) the page the reviewer came from is loaded again, so nothing on it is
    stale: an htmx redirect, or a plain one without JavaScript."""
    queue = reverse("changes:queue")
    next_url = _safe_next(request, queue)
    if request.htmx and next_url.split("?", 1)[0] == queue:
        return render(
            request,
            "changes/_step_done.html",
            {"step_id": step_id, "message": message, "change": change},
        )
    messages.success(request, message)
    if request.htmx:
        response = HttpResponse()
        response["HX-Redirect"] = next_url
        return response
    return redirect(next_url)


def _one_card(user: User, step_id: int) -> dict:
    step = _my_pending_step(user, step_id)
    countdown = (
        _countdowns([step.due_date], clock.today()).get(step.due_date) if step.due_date else None
    )
    return _card(step, countdown)


@page
def step_approve(request: HtmxHttpRequest, step_id: int) -> HttpResponse:
    """Tap 1 (GET): the confirm step; tap 2 (POST): approved."""
    user = _user(request)
    require_permission(user, Permission.CHANGE_HANDLE)
    next_url = _safe_next(request, reverse("changes:queue"))
    if request.method != "POST":
        card = _one_card(user, step_id)
        if request.htmx:
            template = (
                "changes/_step_actions.html"
                if request.GET.get("cancel")
                else "changes/_approve_confirm.html"
            )
            return render(request, template, {"card": card, "next": next_url})
        return render(
            request, "changes/step_confirm.html", {"card": card, "next": next_url, "approve": True}
        )
    change = services.step_handle(actor=user, step_id=step_id, approve=True)
    message = (
        _("已同意。该申请已办结。")
        if change.state == RequestState.COMPLETED
        else _("已同意，已转下一环节办理。")
    )
    return _handled(request, step_id, message, change)


@page
def step_refuse(request: HtmxHttpRequest, step_id: int) -> HttpResponse:
    """Tap 1 (GET): the reason form; tap 2 (POST): refused, with a reason and a text."""
    user = _user(request)
    require_permission(user, Permission.CHANGE_HANDLE)
    next_url = _safe_next(request, reverse("changes:queue"))
    # Ids unique per card: several cards of the queue may show this form at once.
    form = RefuseForm(
        request.POST if request.method == "POST" else None, auto_id=f"step{step_id}_%s"
    )
    if request.method != "POST":
        context = {"card": _one_card(user, step_id), "form": form, "next": next_url}
        template = "changes/_refuse_form.html" if request.htmx else "changes/step_confirm.html"
        return render(request, template, context)
    form.is_valid()
    try:
        change = services.step_handle(
            actor=user,
            step_id=step_id,
            approve=False,
            refusal_reason=form.cleaned_data.get("refusal_reason", ""),
            comment=form.cleaned_data.get("comment", ""),
        )
    except ValidationFailed as error:
        place_errors(form, error.errors)
        context = {"card": _one_card(user, step_id), "form": form, "next": next_url}
        if request.htmx:
            response = render(request, "changes/_refuse_form.html", context, status=422)
            # The form stays in the card's action area; the card itself is kept.
            response["HX-Retarget"] = f"#step-{step_id}-actions"
            response["HX-Reswap"] = "innerHTML"
            return response
        return render(request, "changes/step_confirm.html", context, status=422)
    return _handled(request, step_id, _("已提交不同意意见，该申请未通过。"), change)
