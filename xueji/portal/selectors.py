"""Reads of the portal: the guardian's student, where the student can transfer to, the
student's transfer requests with their steps and deadlines, and the outbox.

Everything about a student is reached through the signed-in ``GuardianActor`` (its one
student); schools and divisions offered as destinations are public reference data.
"""

from dataclasses import dataclass
from datetime import date, datetime

from django.db.models import QuerySet

from xueji import clock
from xueji.changes.models import ApprovalStep, ChangeRequest, Material
from xueji.changes.rules import ChangeType, MaterialKind, RefusalReason, RequestState, StepState
from xueji.changes.services import change_offers, rule_in_force
from xueji.divisions.selectors import division_full_name, division_names
from xueji.enrolment.models import StatusRecord
from xueji.schools.models import School
from xueji.schools.rules import GRADES, SEPARATE_PREFIX, SchoolState, SchoolType, grade_allowed
from xueji.students.models import Student
from xueji.workdays.rules import CalendarMissing
from xueji.workdays.selectors import workdays_late

from . import rules
from .actor import GuardianActor
from .models import OutboxMessage
from .permissions import access_request, may_act_on, requests_of

OUTBOX_SHOWN = 50
# What a guardian may add to an application besides what the rule asks for (a school that
# finds the materials incomplete usually asks for one of these).
ADDABLE_KINDS = (
    MaterialKind.RESIDENCE,
    MaterialKind.GUARDIAN_ID,
    MaterialKind.LEARNING_RECORD,
    MaterialKind.OTHER,
)


# ----------------------------------------------------------------- the student


@dataclass(frozen=True)
class StudentView:
    number_masked: str
    name_masked: str
    school_name: str
    area_name: str
    grade_name: str
    state: str
    state_label: str
    open_request_id: int | None
    # Why a transfer cannot be applied for now (the student's state, a blocked period of
    # the rules in force in the student's province), known before any form is filled in.
    transfer_refusals: tuple[str, ...] = ()


def student_view(guardian: GuardianActor) -> StudentView:
    """The guardian's student as the portal shows it: no ID numbers, the name masked."""
    student = Student.objects.select_related("record", "record__school").get(pk=guardian.student_id)
    record = student.record
    grade = GRADES.get(record.grade)
    open_request = (
        requests_of(guardian).filter(state=RequestState.OPEN).values_list("pk", flat=True).first()
    )
    return StudentView(
        number_masked=student.number_masked,
        name_masked=rules.mask_name(student.name),
        school_name=record.school.name,
        area_name=_area_name(record.school.area_code),
        grade_name=str(grade.name) if grade else record.grade,
        state=record.state,
        state_label=str(record.get_state_display()),
        open_request_id=open_request,
        transfer_refusals=transfer_refusals(record),
    )


def transfer_refusals(record: StatusRecord) -> tuple[str, ...]:
    """The rules that refuse the student's transfer today, in words (empty: it may be
    applied for). Read under the rules in force in the student's own province; the
    application itself is checked again under the receiving province's."""
    (offer,) = change_offers(record, types=[ChangeType.TRANSFER])
    return tuple(dict.fromkeys(str(error.message) for error in offer.refusals))


def _area_name(code: str) -> str:
    return division_full_name(code) if code and not code.startswith(SEPARATE_PREFIX) else ""


# ----------------------------------------------------------------- destinations


@dataclass(frozen=True)
class Choice:
    value: str
    label: str


@dataclass(frozen=True)
class Destination:
    """The cascade province → city → county → school, each list given what is chosen
    above it; a choice that does not fit what is above it is dropped."""

    provinces: list[Choice]
    cities: list[Choice]
    counties: list[Choice]
    schools: list[Choice]
    province: str = ""
    city: str = ""
    county: str = ""
    school: str = ""

    @property
    def province_code(self) -> str:
        return self.province[:2]


def eligible_schools(record: StatusRecord) -> QuerySet[School]:
    """Open schools, other than the student's own, that offer the student's grade.
    Specialised schools (a placement, not a transfer) and the separately listed schools
    (outside the division tree) are not offered."""
    types = [
        school_type
        for school_type in SchoolType.values
        if school_type != SchoolType.SPECIALISED and grade_allowed(school_type, record.grade)
    ]
    return (
        School.objects.filter(state=SchoolState.OPEN, school_type__in=types)
        .exclude(pk=record.school_id)
        .exclude(area_code__startswith=SEPARATE_PREFIX)
    )


def destination_school(record: StatusRecord, school_id: int | str | None) -> School | None:
    if not school_id or not str(school_id).isdigit():
        return None
    return eligible_schools(record).filter(pk=int(school_id)).first()


def destination(
    record: StatusRecord, *, province: str = "", city: str = "", county: str = "", school: str = ""
) -> Destination:
    """The choices of each level: only areas with a school the student could move to."""
    eligible = eligible_schools(record)
    areas = set(eligible.values_list("area_code", flat=True).distinct())
    names = division_names()

    def choices(codes: set[str]) -> list[Choice]:
        return [Choice(code, names.get(code, code)) for code in sorted(codes)]

    provinces = {area[:2] + "0000" for area in areas}
    province = province if province in provinces else ""
    cities = {area[:4] + "00" for area in areas if province and area[:2] == province[:2]}
    city = city if city in cities else ""
    # A school directly under a city without counties carries the city's own code.
    counties = {area for area in areas if city and area[:4] == city[:4]}
    county = county if county in counties else ""
    schools = (
        [
            Choice(str(pk), name)
            for pk, name in eligible.filter(area_code=county)
            .order_by("name")
            .values_list("pk", "name")
        ]
        if county
        else []
    )
    school = school if school in {c.value for c in schools} else ""
    return Destination(
        provinces=choices(provinces),
        cities=choices(cities),
        counties=choices(counties),
        schools=schools,
        province=province,
        city=city,
        county=county,
        school=school,
    )


def materials_required(province_code: str, *, at: datetime | None = None) -> list[Choice]:
    """The materials the transfer rule in force in the target province asks for."""
    if not province_code:
        return []
    rule = rule_in_force(
        ChangeType.TRANSFER, province_code=province_code, at=at or clock.now()
    ).rule
    return [Choice(kind, str(MaterialKind(kind).label)) for kind in rule.materials]


# ----------------------------------------------------------------- requests


@dataclass(frozen=True)
class RequestRow:
    pk: int
    filed_at: datetime
    from_school: str
    to_school: str
    state: str
    state_label: str
    online: bool


def transfer_requests(guardian: GuardianActor) -> list[RequestRow]:
    """The student's transfer requests, newest first."""
    rows = requests_of(guardian).select_related("school", "target_school").order_by("-filed_at")
    return [
        RequestRow(
            pk=request.pk,
            filed_at=request.filed_at,
            from_school=request.school.name,
            to_school=request.target_school.name if request.target_school else "",
            state=request.state,
            state_label=str(request.get_state_display()),
            online=may_act_on(request),
        )
        for request in rows
    ]


@dataclass(frozen=True)
class StepRow:
    seq: int
    party_label: str
    unit_name: str
    state: str
    state_label: str
    current: bool
    days: int  # working days the step has
    due_date: date | None
    calendar_missing: bool
    days_left: int | None  # working days after today up to the due date (current step)
    days_late: int | None  # working days past the due date (current step)
    acted_at: datetime | None
    refusal_reason_label: str
    comment: str


@dataclass(frozen=True)
class RequestStatus:
    request: ChangeRequest
    state_label: str
    steps: list[StepRow]
    current: StepRow | None
    materials: list[Material]
    can_withdraw: bool
    can_add_materials: bool
    material_kinds: list[Choice]


def _deadline_counts(step: ApprovalStep, today: date) -> tuple[int | None, int | None]:
    if step.state != StepState.PENDING or step.due_date is None:
        return None, None
    try:
        if today <= step.due_date:
            # The working days after today up to and including the due date: the same
            # count as a lateness measured from today to the due date.
            return workdays_late(today, step.due_date), None
        return None, workdays_late(step.due_date, today)
    except CalendarMissing:
        return None, None


def _step_row(step: ApprovalStep, today: date) -> StepRow:
    days_left, days_late = _deadline_counts(step, today)
    return StepRow(
        seq=step.seq,
        party_label=str(step.get_party_display()),
        unit_name=step.unit.name,
        state=step.state,
        state_label=str(step.get_state_display()),
        current=step.state == StepState.PENDING,
        days=step.days,
        due_date=step.due_date,
        calendar_missing=step.calendar_missing,
        days_left=days_left,
        days_late=days_late,
        acted_at=step.acted_at,
        refusal_reason_label=(
            str(RefusalReason(step.refusal_reason).label) if step.refusal_reason else ""
        ),
        comment=step.comment,
    )


def request_status(
    guardian: GuardianActor, request_id: int, *, today: date | None = None
) -> RequestStatus:
    """One of the student's transfer requests with each step, its deadline and decision.
    Another student's request is not found."""
    request = access_request(guardian, request_id)
    today = today or clock.today()
    steps = [
        _step_row(step, today) for step in request.steps.select_related("unit").order_by("seq")
    ]
    is_open = request.state == RequestState.OPEN
    own = may_act_on(request)
    kinds = list(dict.fromkeys([*request.rule.get("materials", []), *ADDABLE_KINDS]))
    return RequestStatus(
        request=request,
        state_label=str(request.get_state_display()),
        steps=steps,
        current=next((step for step in steps if step.current), None),
        materials=list(request.materials.all()),
        can_withdraw=is_open and own,
        can_add_materials=is_open and own,
        material_kinds=[Choice(kind, str(MaterialKind(kind).label)) for kind in kinds],
    )


# ----------------------------------------------------------------- the outbox


@dataclass(frozen=True)
class OutboxRow:
    created_at: datetime
    to: str
    channel_label: str
    body: str


def outbox_latest(*, reveal_codes: bool, limit: int = OUTBOX_SHOWN) -> list[OutboxRow]:
    """The newest messages of the embedded sender; codes masked unless ``reveal_codes``."""
    return [
        OutboxRow(
            created_at=message.created_at,
            to=message.to,
            channel_label=str(message.get_channel_display()),
            body=message.body if reveal_codes else rules.mask_codes(message.body),
        )
        for message in OutboxMessage.objects.order_by("-created_at", "-pk")[:limit]
    ]
