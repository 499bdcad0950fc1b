"""Student pages: the list, one student's record, and registration with the duplicate check.

Each view parses its input, calls one selector or service, and renders. ID numbers are
shown masked (``identity.masked_id``) on every page here, and so are phones and addresses;
the "显示" button beside a masked value asks for a reason and shows the full value through
``student_reveal`` (audited).
"""

from collections.abc import Callable
from datetime import date
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from xueji.accounts.permissions import require_permission
from xueji.accounts.rules import Permission
from xueji.audit.reads import ReadKind, note_read
from xueji.divisions.models import CodeTable
from xueji.divisions.selectors import code_names, division_full_name
from xueji.enrolment.history import history_rows
from xueji.enrolment.models import Programme
from xueji.enrolment.rules import StatusState, is_frozen
from xueji.errors import Conflict, DomainError, NotFound, ValidationFailed
from xueji.schools.models import School
from xueji.schools.rules import GRADES, SEPARATE_PREFIX, Stage
from xueji.schools.selectors import school_list
from xueji.web import search
from xueji.web.views import HtmxHttpRequest, page

from . import identity
from .disclosure import OUTSIDE_CANDIDATES
from .forms import (
    SCHOOL_SELECT_LIMIT,
    CorrectionForm,
    RegistrationForm,
    StudentFilterForm,
    non_basic_fields_for,
)
from .models import NonBasicInfo, NumberKind, Sex
from .permissions import access_student, may_see_full_number
from .rules import IdType
from .selectors import StudentFilters, student_detail, student_list
from .services import (
    RevealCode,
    student_check_registration,
    student_correct,
    student_register,
    student_reveal,
)


def _label(choices, value: str) -> str:
    try:
        return str(choices(value).label)
    except ValueError:
        return value or ""


def _grade_name(code: str) -> str:
    grade = GRADES.get(code)
    return str(grade.name) if grade else code


def _schools_in_scope(user) -> list[School] | None:
    """The schools the filters and the registration form offer; ``None`` for a school account."""
    if user.unit is not None and user.unit.school_id is not None:
        return None
    return _first_schools(user)


def _first_schools(user) -> list[School]:
    """Enough schools to decide between a list and a code box (see ``SCHOOL_SELECT_LIMIT``)."""
    return list(school_list(user).only("pk", "code", "name", "state")[: SCHOOL_SELECT_LIMIT + 1])


# ---------------------------------------------------------------- list


@page
def student_list_view(request: HttpRequest) -> HttpResponse:
    """One page of students in scope; "下一页" follows the ``after`` cursor (keyset)."""
    require_permission(request.user, Permission.STUDENT_VIEW)
    # The search term never travels in the URL (xueji.web.search).
    redirect, data = search.handle(request)
    if redirect is not None:
        return redirect
    schools = _schools_in_scope(request.user)
    form = StudentFilterForm(data or None, user=request.user, schools=schools)
    filters = form.filters() if form.is_bound and form.is_valid() else StudentFilters()
    after = request.GET.get("after", "")
    result = student_list(
        request.user,
        filters=filters,
        after=int(after) if after.isdigit() else None,
        limit=settings.XUEJI["PAGE_SIZE"],
    )
    note_read(request.user, result.rows, kind=ReadKind.SEARCH if filters.q else ReadKind.LIST)
    rows = [
        {
            "student": student,
            "masked_id": identity.masked_id(student),
            "record": getattr(student, "record", None),
            "grade_name": _grade_name(student.record.grade) if hasattr(student, "record") else "",
        }
        for student in result.rows
    ]
    return render(
        request,
        "students/list.html",
        {
            "form": form,
            "rows": rows,
            "page": result,
            "paged": after.isdigit(),
            "area_name": division_full_name(filters.area_prefix.ljust(6, "0"))
            if filters.area_prefix
            else "",
            "show_school": schools is not None,
        },
    )


# ---------------------------------------------------------------- detail


@page
def student_detail_view(request: HttpRequest, student_id: int) -> HttpResponse:
    require_permission(request.user, Permission.STUDENT_VIEW)
    detail = student_detail(request.user, student_id=student_id)
    student = detail.student
    note_read(request.user, [student], kind=ReadKind.DETAIL)
    record = student.record
    names: dict[str, dict[str, str]] = {
        table: code_names(table)
        for table in (
            CodeTable.ETHNICITY,
            CodeTable.COUNTRY,
            CodeTable.HMT,
            CodeTable.HOUSEHOLD_TYPE,
            CodeTable.HEALTH,
            CodeTable.ENTRY_MODE,
            CodeTable.ATTENDANCE,
            CodeTable.RELATION,
            CodeTable.DISABILITY,
        )
    }

    def coded(table: str, code: str) -> str:
        return names[table].get(code, code) if code else ""

    def place(code: str) -> str:
        return f"{division_full_name(code)}（{code}）" if code else ""

    # (label, value shown, reveal field): the ID number is masked and can be revealed.
    identity_rows = _with_reveal(
        [
            (_("姓名"), student.name),
            (_("曾用名"), student.former_name),
            (_("姓名拼音"), student.name_pinyin),
            (_("性别"), _label(Sex, student.sex)),
            (_("出生日期"), student.birth_date.isoformat()),
            (_("民族"), coded(CodeTable.ETHNICITY, student.ethnicity)),
            (_("国籍/地区"), coded(CodeTable.COUNTRY, student.nationality)),
            (_("身份证件类型"), _label(IdType, student.id_type)),
            (_("身份证件号"), identity.masked_id(student), "id_number"),
            (
                _("证件有效期至"),
                student.id_valid_until.isoformat() if student.id_valid_until else "",
            ),
            (_("港澳台侨外"), coded(CodeTable.HMT, student.hmt_code)),
            (_("出生地"), place(student.birthplace_code)),
            (_("籍贯"), place(student.native_place_code)),
            (_("户口所在地"), place(student.household_place_code)),
            (_("户口性质"), coded(CodeTable.HOUSEHOLD_TYPE, student.household_type)),
            (_("健康状况"), coded(CodeTable.HEALTH, student.health)),
        ]
    )
    # The full number for the current school's clerk and a transfer's pending party;
    # everyone else sees it masked, with a "显示" button (reason, audited).
    full_number = may_see_full_number(request.user, student)
    number_shown = identity.read_number(student) if full_number else student.number_masked
    school_rows = _with_reveal(
        [
            (_("学籍号"), number_shown, "" if full_number else identity.NUMBER_FIELD),
            (_("学籍号类别"), _label(NumberKind, student.number_kind)),
            (_("学校"), record.school.name),
            (_("学段"), _label(Stage, record.stage)),
            (_("年级"), _grade_name(record.grade)),
            (_("班级"), record.class_name),
            (_("入学年月"), record.entry_date.strftime("%Y-%m")),
            (_("入学方式"), coded(CodeTable.ENTRY_MODE, record.entry_mode)),
            (_("就读方式"), coded(CodeTable.ATTENDANCE, record.attendance)),
            (_("培养类型"), _label(Programme, record.programme)),
        ]
    )
    guardians = [
        {
            "name": guardian.name,
            "relation": coded(CodeTable.RELATION, guardian.relation),
            "id_type": _label(IdType, guardian.id_type),
            "masked_id": identity.masked_id(guardian),
            # Phones are sensitive (requirements §8): masked; "显示" reveals with a reason.
            "phone": identity.mask_number(guardian.phone),
            "reveal_id": f"guardian:{guardian.pk}:id_number",
            "reveal_phone": f"guardian:{guardian.pk}:phone",
            "is_guardian": guardian.is_guardian,
        }
        for guardian in student.guardians.all()
    ]
    events = history_rows(detail.events)
    return render(
        request,
        "students/detail.html",
        {
            "student": student,
            "record": record,
            "state_label": _label(StatusState, record.state),
            "identity_rows": identity_rows,
            "school_rows": school_rows,
            "guardians": guardians,
            "non_basic_rows": _non_basic_rows(student, names[CodeTable.DISABILITY]),
            "events": events,
            "number_shown": number_shown,
            "numbers": [
                {
                    "number": n,
                    "shown": identity.read_number(n) if full_number else n.number_masked,
                    "kind": _label(NumberKind, n.kind),
                }
                for n in detail.numbers
            ],
            "revisions": detail.revisions,
        },
    )


def _with_reveal(rows: list[tuple[str, ...]]) -> list[tuple[str, str, str]]:
    return [(row[0], row[1], row[2] if len(row) > 2 else "") for row in rows]


def _non_basic_rows(student, disability_names: dict[str, str]) -> list[tuple[str, str, str]]:
    """The non-basic data labelled by the schema they were filed under: (label, value shown,
    the reveal field name when the value is masked)."""
    try:
        info = student.non_basic
    except NonBasicInfo.DoesNotExist:
        return []
    rows = []
    for spec in info.schema.fields:
        value = info.data.get(spec["key"])
        reveal = ""
        if spec.get("type") == "bool":
            shown = _("是") if value else _("否")
        elif spec.get("type") == "choice" and spec.get("code_table") == CodeTable.DISABILITY:
            shown = disability_names.get(str(value), str(value)) if value else ""
        elif value and identity.is_sensitive_non_basic(spec["key"], spec.get("type", "")):
            shown = identity.mask_non_basic(spec["key"], str(value), spec.get("type", ""))
            reveal = spec["key"]
        else:
            shown = "" if value is None else str(value)
        rows.append((spec.get("label", spec["key"]), shown, reveal))
    return rows


# ---------------------------------------------------------------- registration


def _candidate_rows(candidates) -> list[dict]:
    """Candidates from a check (objects) or a Conflict's detail (dicts), ready to show.

    A candidate may sit outside the clerk's scope: its student number (a G number carries
    the ID number) is masked like an ID.
    """
    rows = []
    for candidate in candidates:
        get: Callable[[str], Any] = (
            candidate.get if isinstance(candidate, dict) else candidate.__getattribute__
        )
        birth = get("birth_date")
        rows.append(
            {
                "number": get("number_masked"),
                "name": get("name"),
                "birth_date": birth.isoformat() if isinstance(birth, date) else birth,
                "sex": _label(Sex, get("sex")),
                "school_name": get("school_name"),
                "state": _label(StatusState, get("state")),
                "score": get("score"),
                "reasons": list(get("reasons") or []),
            }
        )
    return rows


def _registration_page(request: HtmxHttpRequest, form: RegistrationForm, **context) -> HttpResponse:
    template = "students/_register_form.html" if request.htmx else "students/register.html"
    return render(request, template, {"form": form, **context})


def _registration_form(request: HtmxHttpRequest) -> RegistrationForm:
    data = request.POST if request.method == "POST" else None
    school = request.GET.get("school", "")
    initial = {"school_code": school} if school else {}
    return RegistrationForm(
        data,
        initial=initial,
        schools=_first_schools(request.user),
        non_basic_fields=non_basic_fields_for(_province_of(request.user)),
    )


def _province_of(user) -> str:
    """The province whose non-basic schema applies: the unit's own; none for the nation and
    the separately listed schools (they get the national default)."""
    prefix = user.unit.area_prefix if user.unit is not None else ""
    return prefix[:2] if len(prefix) >= 2 and not prefix.startswith(SEPARATE_PREFIX) else ""


_SCHOOL_UNKNOWN = gettext_lazy("未找到该学校，或不在您的管理范围内")


@page
def register(request: HtmxHttpRequest) -> HttpResponse:
    """Register a new student; on a duplicate warning the clerk confirms or reactivates."""
    require_permission(request.user, Permission.STUDENT_REGISTER)
    form = _registration_form(request)
    if request.method != "POST" or not form.is_valid():
        return _registration_page(request, form)
    try:
        result = student_register(
            actor=request.user,
            data=form.registration_data(),
            confirm_distinct=form.cleaned_data["confirm_distinct"],
            reactivate=form.cleaned_data["reactivate"],
        )
    except ValidationFailed as error:
        form.add_field_errors(error.errors)
        return _registration_page(request, form, failed=error.message, failed_errors=error.errors)
    except NotFound:
        form.add_error("school_code", str(_SCHOOL_UNKNOWN))
        return _registration_page(request, form)
    except Conflict as conflict:
        return _registration_page(
            request,
            form,
            conflict={
                "code": conflict.code,
                "message": conflict.message,
                "candidates": _candidate_rows(conflict.detail.get("candidates", [])),
            },
        )
    student = result.student
    if result.reactivated:
        messages.success(
            request, _("已恢复 %(name)s 的原学籍（学籍号 %(number)s）。") % _names(student)
        )
    else:
        messages.success(request, _("已注册 %(name)s，学籍号 %(number)s。") % _names(student))
    return redirect("students:detail", student_id=student.pk)


def _names(student) -> dict:
    # Masked even for the registering clerk: a flash message may be kept in the session.
    return {"name": student.name, "number": student.number_masked}


@require_POST
@page
def register_check(request: HtmxHttpRequest) -> HttpResponse:
    """The "校验" button: validation and the duplicate check, nothing saved."""
    require_permission(request.user, Permission.STUDENT_REGISTER)
    form = _registration_form(request)
    check = None
    if form.is_valid():
        try:
            result = student_check_registration(actor=request.user, data=form.registration_data())
        except NotFound:
            form.add_error("school_code", str(_SCHOOL_UNKNOWN))
        else:
            form.add_field_errors(result.errors)
            shown = [result.existing.pk] if result.existing else []
            shown += [candidate.student_id for candidate in result.candidates]
            if shown:
                note_read(request.user, shown, kind=ReadKind.CHECK)
            check = {
                "ok": result.ok,
                "errors": result.errors,
                "number_kind": _label(NumberKind, result.number_kind),
                "existing_action": result.existing_action,
                "existing": _existing_summary(result),
                "candidates": _candidate_rows(result.candidates),
                # Candidates outside the clerk's scope are never listed (disclosure).
                "outside": str(OUTSIDE_CANDIDATES) if result.outside_candidates else "",
            }
    return _registration_page(request, form, check=check, checked=True)


def _existing_summary(result) -> dict | None:
    """The exact match as the check shows it: in the clerk's scope in full (name, masked
    number, school, state); outside only the school and county (``disclosure.Holder``)."""
    student = result.existing
    if student is None:
        return None
    if result.holder is not None:
        return {"outside": True, "message": result.holder.message}
    record = getattr(student, "record", None)
    return {
        "name": student.name,
        "number": student.number_masked,
        "school_name": record.school.name if record else "",
        "state": _label(StatusState, record.state) if record else "",
    }


# ---------------------------------------------------------------- revealing a masked value


@never_cache  # a revealed value must not stay in a browser or proxy cache
@page
def reveal(request: HtmxHttpRequest, student_id: int) -> HttpResponse:
    """The "显示" button beside a masked value: GET asks for the reason, POST shows the full
    value through ``student_reveal`` (audited; refused without a reason). With htmx the
    answer replaces the masked text in place; without, it is a small page of its own."""
    require_permission(request.user, Permission.STUDENT_VIEW)
    data = request.POST if request.method == "POST" else request.GET
    context: dict[str, Any] = {"student_id": student_id, "field": data.get("field", "")}
    if request.method != "POST":
        # Out of scope: 404 already here, as on the detail page.
        student = access_student(request.user, student_id=student_id)
        if request.htmx:
            template = (
                "students/_reveal_button.html"
                if data.get("cancel")
                else "students/_reveal_form.html"
            )
            return render(request, template, context)
        return render(request, "students/reveal.html", {**context, "student": student})
    context["reason"] = data.get("reason", "")
    try:
        context["value"] = student_reveal(
            actor=request.user,
            student_id=student_id,
            field=context["field"],
            reason=context["reason"],
        )
    except DomainError as error:
        if error.code != RevealCode.REASON_REQUIRED:
            raise
        context["error"] = error.message
        if request.htmx:
            return render(request, "students/_reveal_form.html", context, status=422)
        context["student"] = access_student(request.user, student_id=student_id)
        return render(request, "students/reveal.html", context, status=422)
    if request.htmx:
        response = render(request, "students/_reveal_value.html", context)
        # The value takes the place of the masked text, not only of the form.
        response["HX-Retarget"] = "closest .xj-reveal"
        response["HX-Reswap"] = "outerHTML"
        return response
    context["student"] = access_student(request.user, student_id=student_id)
    return render(request, "students/reveal.html", {**context, "revealed": True})


# ---------------------------------------------------------------- correcting basic information


def _stored_basic(student) -> dict[str, str]:
    """The stored basic fields as the correction form shows them (no ID number)."""
    return {
        "name": student.name,
        "former_name": student.former_name,
        "name_pinyin": student.name_pinyin,
        "sex": student.sex,
        "birth_date": student.birth_date.isoformat(),
        "ethnicity": student.ethnicity,
        "nationality": student.nationality,
        "id_type": student.id_type,
        "id_valid_until": student.id_valid_until.isoformat() if student.id_valid_until else "",
        "hmt_code": student.hmt_code,
        "birthplace_code": student.birthplace_code,
        "native_place_code": student.native_place_code,
        "household_place_code": student.household_place_code,
        "household_type": student.household_type,
        "health": student.health,
    }


@never_cache  # the form carries personal data
@page
def correct(request: HtmxHttpRequest, student_id: int) -> HttpResponse:
    """Correct basic information with a reason (``student_correct``); after graduation the
    page says the data are frozen and offers no form."""
    require_permission(request.user, Permission.STUDENT_REGISTER)
    student = access_student(request.user, student_id=student_id)
    form = CorrectionForm(
        request.POST if request.method == "POST" else None,
        stored=_stored_basic(student),
        masked_id=identity.masked_id(student),
    )
    note_read(request.user, [student], kind=ReadKind.DETAIL)
    context: dict[str, Any] = {
        "student": student,
        "form": form,
        "frozen": is_frozen(student.record),
        "cancelled": student.record.state == StatusState.CANCELLED,
    }
    if request.method == "POST" and form.is_valid():
        try:
            student_correct(
                actor=request.user,
                student_id=student.pk,
                changes=form.changes(),
                reason=form.cleaned_data["reason"],
            )
        except ValidationFailed as error:
            form.add_field_errors(error.errors)
            context["failed"] = error.message
        except Conflict as conflict:
            context["failed"] = conflict.message
        else:
            messages.success(request, _("已更正 %s 的基础信息。") % student.name)
            return redirect("students:detail", student_id=student.pk)
        return render(request, "students/correct.html", context, status=422)
    return render(request, "students/correct.html", context)
