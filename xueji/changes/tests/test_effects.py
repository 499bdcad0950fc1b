"""Every change type except the transfer, end to end through the services: filed, each step
handled by the unit the chain names, completed — and each one's refusals, which leave
nothing behind (no request row, no material file)."""

import itertools
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.factories import SchoolFactory, make_user
from xueji import clock
from xueji.accounts.models import Role, UnitKind
from xueji.archives.services import archive_add_document
from xueji.audit.models import AuditEvent, EarlyWarning
from xueji.changes import services
from xueji.changes.models import (
    ApprovalStep,
    ChangeRequest,
    DropoutCase,
    DropoutCaseState,
    Material,
    RuleSet,
)
from xueji.changes.rules import (
    ChangeType,
    MaterialKind,
    Party,
    RefusalReason,
    RequestState,
    StepState,
)
from xueji.enrolment.models import Programme, StatusEvent, StatusRecord
from xueji.enrolment.rules import EventKind, StatusState
from xueji.errors import Conflict, NotFound, ValidationFailed
from xueji.schools.rules import SchoolType

SHANGHAI = ZoneInfo("Asia/Shanghai")
PDF = b"%PDF-1.4\n% test material\n"
# A Tuesday of the spring semester; the 2026 calendar is loaded.
NOW = datetime(2026, 3, 10, 10, 0, tzinfo=SHANGHAI)
TODAY = NOW.date()


@pytest.fixture(autouse=True)
def at_2026(monkeypatch):
    monkeypatch.setattr(clock, "now", lambda: NOW)
    monkeypatch.setattr(clock, "today", lambda: TODAY)


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def stored_files(root: Path) -> list[Path]:
    return [p for p in Path(root).rglob("*") if p.is_file()] if Path(root).exists() else []


def pdf(name: str = "a.pdf") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, PDF, content_type="application/pdf")


def uploads(*kinds: str) -> list[tuple[str, SimpleUploadedFile]]:
    return [(kind, pdf(f"{kind}.pdf")) for kind in kinds]


class Handlers:
    """One account per unit that must handle a step (school clerk, authority reviewer)."""

    def __init__(self) -> None:
        self.by_unit: dict[int, object] = {}

    def for_unit(self, unit):
        if unit.pk not in self.by_unit:
            role = Role.CLERK if unit.kind == UnitKind.SCHOOL else Role.REVIEWER
            self.by_unit[unit.pk] = make_user(unit, roles=(role,))
        return self.by_unit[unit.pk]


@pytest.fixture
def handlers(db) -> Handlers:
    return Handlers()


def complete(request: ChangeRequest, handlers: Handlers) -> ChangeRequest:
    """Approve every pending step, each by an account of the step's own unit."""
    for _ in range(10):
        step = ApprovalStep.objects.filter(request=request, state=StepState.PENDING).first()
        if step is None:
            break
        services.step_handle(actor=handlers.for_unit(step.unit), step_id=step.pk, approve=True)
    request.refresh_from_db()
    assert request.state == RequestState.COMPLETED, request.state
    return request


def record_of(student) -> StatusRecord:
    return StatusRecord.objects.get(pk=student.pk)


def last_event(student) -> StatusEvent:
    return StatusEvent.objects.filter(record_id=student.pk).latest("pk")


def assert_history_continuous(student) -> None:
    events = list(StatusEvent.objects.filter(record_id=student.pk).order_by("pk"))
    for before, after in itertools.pairwise(events):
        assert after.from_state == before.to_state
    assert events[-1].to_state == record_of(student).state


def codes(error: ValidationFailed) -> set[tuple[str, str]]:
    return {(e.field, e.code) for e in error.errors}


def assert_nothing_written(student, media) -> None:
    assert not ChangeRequest.objects.filter(student=student).exists()
    assert not Material.objects.exists()
    assert stored_files(media) == []


def file(actor, student, change_type, *, materials=(), **kwargs) -> ChangeRequest:
    kwargs.setdefault("effective_date", TODAY)
    kwargs.setdefault("reason", "测试事由")
    return services.change_file(
        actor=actor,
        student_id=student.pk,
        change_type=change_type,
        uploads=uploads(*materials),
        **kwargs,
    )


@pytest.fixture
def senior(db):
    return SchoolFactory(
        name="天河区高级中学", school_type=SchoolType.SENIOR, division_code="440106"
    )


@pytest.fixture
def senior_clerk(senior):
    return make_user(senior.unit, username="senior-clerk")


@pytest.fixture
def senior_student(make_student, senior, senior_clerk):
    return make_student(school=senior, actor=senior_clerk, grade="32", entry_date="2024-09")


# ----------------------------------------------------------------- suspension and resumption


def test_suspension_is_filed_by_the_school_approved_by_its_county_and_resumed(
    make_student, school_user, county_user, handlers
):
    student = make_student()
    # when: the school files (its own step is the filing) …
    request = file(school_user, student, ChangeType.SUSPEND, materials=("application", "medical"))
    steps = list(request.steps.order_by("seq"))
    # then: the chain is the school, then the county authority, 10 working days
    assert [s.party for s in steps] == [Party.SCHOOL, Party.AUTHORITY]
    assert steps[0].unit_id == school_user.unit_id and steps[0].state == StepState.APPROVED
    assert steps[1].unit_id == county_user.unit_id and steps[1].state == StepState.PENDING
    assert steps[1].due_date == date(2026, 3, 24)  # 10 working days after 10 March
    # … another school's account cannot handle the county's step
    with pytest.raises(NotFound):
        services.step_handle(actor=school_user, step_id=steps[1].pk, approve=True)
    assert record_of(student).state == StatusState.ENROLLED
    services.step_handle(actor=county_user, step_id=steps[1].pk, approve=True)
    record = record_of(student)
    assert record.state == StatusState.SUSPENDED
    event = last_event(student)
    assert (event.kind, event.change_type, event.request_id) == (
        EventKind.CHANGE,
        ChangeType.SUSPEND,
        request.pk,
    )
    assert sorted(m["kind"] for m in event.materials) == ["application", "medical"]
    assert AuditEvent.objects.filter(action="change.complete", object_id=str(request.pk)).exists()
    # when: the student comes back
    resume = file(school_user, student, ChangeType.RESUME, materials=("application",))
    complete(resume, handlers)
    assert record_of(student).state == StatusState.ENROLLED
    assert_history_continuous(student)


def test_suspension_without_the_medical_proof_is_refused_and_leaves_nothing(
    make_student, school_user, media
):
    student = make_student()
    with pytest.raises(ValidationFailed) as refused:
        file(school_user, student, ChangeType.SUSPEND, materials=("application",))
    assert codes(refused.value) == {("materials.medical", "material.required")}
    assert_nothing_written(student, media)


def test_a_second_suspension_of_a_suspended_student_is_refused(
    make_student, school_user, handlers, media
):
    student = make_student()
    complete(
        file(school_user, student, ChangeType.SUSPEND, materials=("application", "medical")),
        handlers,
    )
    files_before = stored_files(media)
    with pytest.raises(ValidationFailed) as refused:
        file(school_user, student, ChangeType.SUSPEND, materials=("application", "medical"))
    assert codes(refused.value) == {("state", "change.state")}
    assert ChangeRequest.objects.filter(student=student).count() == 1
    assert stored_files(media) == files_before


def test_resumption_of_an_enrolled_student_is_refused(make_student, school_user, media):
    student = make_student()
    with pytest.raises(ValidationFailed) as refused:
        file(school_user, student, ChangeType.RESUME, materials=("application",))
    assert ("state", "change.state") in codes(refused.value)
    assert_nothing_written(student, media)


def test_a_student_has_at_most_one_open_request(make_student, school_user, media):
    student = make_student()
    first = file(school_user, student, ChangeType.REPEAT, materials=("application",))
    with pytest.raises(Conflict) as refused:
        file(school_user, student, ChangeType.SKIP, materials=("application",))
    assert refused.value.code == "change.already_open"
    assert refused.value.detail == {"request_id": first.pk}
    assert ChangeRequest.objects.filter(student=student).count() == 1
    assert Material.objects.count() == 1


# ----------------------------------------------------------------- deferral


def test_deferral_of_up_to_one_school_year_then_resumption(make_student, school_user, handlers):
    student = make_student()
    until = date(2027, 3, 10)  # 365 days after today
    request = file(
        school_user,
        student,
        ChangeType.DEFER,
        materials=("application",),
        payload={"until": until.isoformat()},
    )
    complete(request, handlers)
    assert record_of(student).state == StatusState.DEFERRED
    assert last_event(student).detail == {"until": "2027-03-10"}
    # the deferred student returns through a resumption, into a chosen grade
    complete(
        file(
            school_user,
            student,
            ChangeType.RESUME,
            materials=("application",),
            payload={"grade": "14"},
        ),
        handlers,
    )
    record = record_of(student)
    assert (record.state, record.grade) == (StatusState.ENROLLED, "14")
    assert last_event(student).detail == {"from_grade": "13", "to_grade": "14"}
    assert_history_continuous(student)


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({}, "defer.until_required"),
        ({"until": "not a date"}, "defer.until_required"),
        ({"until": "2027-03-11"}, "defer.too_long"),  # 366 days
        ({"until": "2026-03-10"}, "defer.too_long"),  # not after today
        ({"from": "2026-04-01", "until": "2027-04-02"}, "defer.too_long"),
    ],
)
def test_deferral_without_a_valid_end_within_the_year_is_refused(
    make_student, school_user, media, payload, code
):
    student = make_student()
    with pytest.raises(ValidationFailed) as refused:
        file(school_user, student, ChangeType.DEFER, materials=("application",), payload=payload)
    assert codes(refused.value) == {("payload.until", code)}
    assert_nothing_written(student, media)


def test_a_province_may_allow_a_longer_deferral(make_student, school_user, handlers):
    RuleSet.objects.create(
        province_code="44",
        version=1,
        effective_from=datetime(2026, 1, 1, tzinfo=SHANGHAI),
        rules={ChangeType.DEFER: {"options": {"max_days": 730}}},
        created_at=NOW,
    )
    student = make_student()
    request = file(
        school_user,
        student,
        ChangeType.DEFER,
        materials=("application",),
        payload={"until": "2027-09-01"},
    )
    assert request.province_ruleset is not None
    complete(request, handlers)
    assert record_of(student).state == StatusState.DEFERRED


# ----------------------------------------------------------------- abroad and return


def test_abroad_sends_the_archive_to_the_authority_and_the_return_marks_the_time_abroad(
    make_student, school_user, county_user, handlers, monkeypatch
):
    student = make_student()
    document = archive_add_document(
        actor=school_user, student=student, kind="material", title="学籍登记表", upload=pdf()
    )
    request = file(
        school_user,
        student,
        ChangeType.ABROAD,
        materials=("application", "travel_document"),
        effective_date=date(2026, 3, 12),
    )
    complete(request, handlers)
    assert record_of(student).state == StatusState.ABROAD
    document.refresh_from_db()
    # the archive is held by the county authority while the student is abroad
    assert document.holder_id is None
    assert document.holder_unit_id == county_user.unit_id
    # a year later the student comes back into the grade the learning record fits
    back = datetime(2027, 3, 16, 10, 0, tzinfo=SHANGHAI)
    monkeypatch.setattr(clock, "now", lambda: back)
    monkeypatch.setattr(clock, "today", lambda: back.date())
    returned = file(
        school_user,
        student,
        ChangeType.RETURN,
        materials=("application", "learning_record"),
        payload={"grade": "15"},
        effective_date=back.date(),
    )
    _complete_without_calendar(returned, handlers)
    record = record_of(student)
    assert (record.state, record.grade) == (StatusState.ENROLLED, "15")
    event = last_event(student)
    assert event.detail == {
        "from_grade": "13",
        "to_grade": "15",
        "abroad_from": "2026-03-12",
        "abroad_until": "2027-03-16",
    }
    document.refresh_from_db()
    assert (document.holder_id, document.holder_unit_id) == (record.school_id, None)
    assert_history_continuous(student)


def _complete_without_calendar(request: ChangeRequest, handlers: Handlers) -> None:
    # 2027 is not loaded: the steps are flagged, never guessed, and can still be handled.
    step = ApprovalStep.objects.get(request=request, state=StepState.PENDING)
    assert step.calendar_missing and step.due_date is None
    complete(request, handlers)


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ({}, ("payload.grade", "grade.required")),
        ({"grade": "31"}, ("payload.grade", "grade.not_offered")),  # a primary school
        ({"grade": "99"}, ("payload.grade", "grade.not_offered")),
    ],
)
def test_a_return_needs_a_grade_the_school_offers(
    make_student, school_user, handlers, media, payload, error
):
    student = make_student()
    complete(
        file(school_user, student, ChangeType.ABROAD, materials=("application", "travel_document")),
        handlers,
    )
    files_before = stored_files(media)
    with pytest.raises(ValidationFailed) as refused:
        file(
            school_user,
            student,
            ChangeType.RETURN,
            materials=("application", "learning_record"),
            payload=payload,
        )
    assert codes(refused.value) == {error}
    assert ChangeRequest.objects.filter(student=student).count() == 1
    assert stored_files(media) == files_before


def test_a_return_of_a_student_who_never_left_is_refused(make_student, school_user, media):
    student = make_student()
    with pytest.raises(ValidationFailed) as refused:
        file(
            school_user,
            student,
            ChangeType.RETURN,
            materials=("application", "learning_record"),
            payload={"grade": "13"},
        )
    assert codes(refused.value) == {("state", "change.state")}
    assert_nothing_written(student, media)


# ----------------------------------------------------------------- repeat, skip, demotion


def test_repeat_moves_down_and_skip_moves_up_one_grade(make_student, school_user, handlers):
    student = make_student()
    complete(file(school_user, student, ChangeType.REPEAT, materials=("application",)), handlers)
    assert record_of(student).grade == "12"
    assert last_event(student).detail == {"from_grade": "13", "to_grade": "12"}
    complete(file(school_user, student, ChangeType.SKIP, materials=("application",)), handlers)
    complete(file(school_user, student, ChangeType.SKIP, materials=("application",)), handlers)
    record = record_of(student)
    assert (record.state, record.grade) == (StatusState.ENROLLED, "14")
    assert_history_continuous(student)


@pytest.mark.parametrize(("grade", "change_type"), [("11", "repeat"), ("16", "skip")])
def test_no_repeat_below_or_skip_beyond_the_stage(
    make_student, school_user, media, grade, change_type
):
    student = make_student(grade=grade)
    with pytest.raises(ValidationFailed) as refused:
        file(school_user, student, change_type, materials=("application",))
    assert codes(refused.value) == {("grade", "grade.out_of_stage")}
    assert_nothing_written(student, media)


def test_demotion_is_refused_for_a_student_outside_special_education(
    make_student, school_user, media
):
    student = make_student()
    with pytest.raises(ValidationFailed) as refused:
        file(school_user, student, ChangeType.DEMOTE, materials=("application", "medical"))
    assert codes(refused.value) == {("change_type", "demote.special_only")}
    assert_nothing_written(student, media)


def test_demotion_of_a_special_education_student(make_student, handlers):
    special = SchoolFactory(school_type=SchoolType.SPECIAL_EDUCATION, division_code="440106")
    clerk = make_user(special.unit)
    student = make_student(school=special, actor=clerk, grade="22")
    complete(
        file(clerk, student, ChangeType.DEMOTE, materials=("application", "medical")), handlers
    )
    assert record_of(student).grade == "21"


def test_home_taught_student_is_taught_at_home_and_may_then_demote(
    make_student, school_user, handlers
):
    student = make_student()
    request = file(
        school_user,
        student,
        ChangeType.HOME_TAUGHT,
        materials=("medical",),
        payload={"home_taught": True},
    )
    complete(request, handlers)
    record = record_of(student)
    assert record.home_taught and record.school_id == school_user.unit.school_id
    assert record.state == StatusState.ENROLLED
    complete(
        file(school_user, student, ChangeType.DEMOTE, materials=("application", "medical")),
        handlers,
    )
    assert record_of(student).grade == "12"
    # and back to school
    complete(
        file(
            school_user,
            student,
            ChangeType.HOME_TAUGHT,
            materials=("medical",),
            payload={"home_taught": False},
        ),
        handlers,
    )
    assert not record_of(student).home_taught


def test_home_taught_needs_a_yes_or_no(make_student, school_user, media):
    student = make_student()
    with pytest.raises(ValidationFailed) as refused:
        file(
            school_user,
            student,
            ChangeType.HOME_TAUGHT,
            materials=("medical",),
            payload={"home_taught": "yes"},
        )
    assert codes(refused.value) == {("payload.home_taught", "home_taught.invalid")}
    assert_nothing_written(student, media)


# ----------------------------------------------------------------- dropout


def test_dropout_in_compulsory_education_keeps_the_record_and_opens_a_ledger_case(
    make_student, school_user, handlers
):
    student = make_student()
    request = file(school_user, student, ChangeType.DROPOUT)
    assert not DropoutCase.objects.exists()  # not before completion
    complete(request, handlers)
    record = record_of(student)
    assert record.state == StatusState.DROPPED_OUT
    assert record.school_id == school_user.unit.school_id  # the record stays
    case = DropoutCase.objects.get(student=student)
    assert case.state == DropoutCaseState.OPEN
    assert (case.school_id, case.area_code, case.request_id) == (
        record.school_id,
        "440106",
        request.pk,
    )
    assert (case.stage, case.grade, case.opened_on) == ("1", "13", TODAY)
    assert AuditEvent.objects.filter(action="dropout.case_open", object_id=str(case.pk)).exists()


def test_withdrawal_is_refused_in_compulsory_education_even_after_a_dropout(
    make_student, school_user, handlers, media
):
    student = make_student()
    with pytest.raises(ValidationFailed) as refused:
        file(school_user, student, ChangeType.WITHDRAW, materials=("application",))
    assert codes(refused.value) == {("stage", "change.senior_only")}
    complete(file(school_user, student, ChangeType.DROPOUT), handlers)
    with pytest.raises(ValidationFailed) as refused:
        file(school_user, student, ChangeType.WITHDRAW, materials=("application",))
    assert codes(refused.value) == {("stage", "change.senior_only")}
    assert ChangeRequest.objects.filter(student=student).count() == 1
    assert record_of(student).state == StatusState.DROPPED_OUT
    assert stored_files(media) == []


def test_resumption_after_a_dropout_closes_the_ledger_case(make_student, school_user, handlers):
    student = make_student()
    complete(file(school_user, student, ChangeType.DROPOUT), handlers)
    resume = complete(
        file(school_user, student, ChangeType.RESUME, materials=("application",)), handlers
    )
    case = DropoutCase.objects.get(student=student)
    assert case.state == DropoutCaseState.RETURNED
    assert (case.closed_on, case.closed_request_id) == (TODAY, resume.pk)
    assert record_of(student).state == StatusState.ENROLLED


def test_a_senior_dropout_opens_no_ledger_case_and_may_then_withdraw(
    senior_student, senior_clerk, handlers
):
    complete(file(senior_clerk, senior_student, ChangeType.DROPOUT), handlers)
    assert record_of(senior_student).state == StatusState.DROPPED_OUT
    assert not DropoutCase.objects.exists()
    complete(
        file(senior_clerk, senior_student, ChangeType.WITHDRAW, materials=("application",)),
        handlers,
    )
    assert record_of(senior_student).state == StatusState.WITHDRAWN
    assert_history_continuous(senior_student)


# ----------------------------------------------------------------- withdrawal and expulsion


def test_withdrawal_and_expulsion_in_senior_high(make_student, senior, senior_clerk, handlers):
    first = make_student(school=senior, actor=senior_clerk, grade="31")
    second = make_student(school=senior, actor=senior_clerk, grade="33")
    complete(file(senior_clerk, first, ChangeType.WITHDRAW, materials=("application",)), handlers)
    complete(
        file(senior_clerk, second, ChangeType.EXPEL, materials=("disciplinary_decision",)),
        handlers,
    )
    assert record_of(first).state == StatusState.WITHDRAWN
    assert record_of(second).state == StatusState.EXPELLED
    # an expelled student can no longer be suspended, say
    with pytest.raises(ValidationFailed) as refused:
        file(senior_clerk, second, ChangeType.SUSPEND, materials=("application", "medical"))
    assert codes(refused.value) == {("state", "change.state")}


def test_expulsion_is_refused_outside_senior_high(make_student, school_user, media):
    student = make_student()
    with pytest.raises(ValidationFailed) as refused:
        file(school_user, student, ChangeType.EXPEL, materials=("disciplinary_decision",))
    assert codes(refused.value) == {("stage", "change.senior_only")}
    assert_nothing_written(student, media)


# ----------------------------------------------------------------- death (Art. 21)


def test_death_is_cancelled_with_every_step_due_60_working_days_after_the_date_of_death(
    make_student, county_user, handlers
):
    student = make_student()
    # given: the county reports the death (the school's step comes first)
    request = file(
        county_user,
        student,
        ChangeType.DEATH,
        materials=("death_proof",),
        payload={"died_on": "2026-01-20"},
    )
    steps = list(request.steps.order_by("seq"))
    assert [s.state for s in steps] == [StepState.PENDING, StepState.WAITING]
    # 60 working days from Tue 20 January 2026, across the Spring Festival (16–23 February
    # off; Saturdays 14 and 28 February worked) and Qingming (6 April off): 21 April.
    assert steps[0].days == 60
    assert steps[0].due_date == date(2026, 4, 21)
    services.step_handle(actor=handlers.for_unit(steps[0].unit), step_id=steps[0].pk, approve=True)
    steps[1].refresh_from_db()
    assert steps[1].state == StepState.PENDING
    assert steps[1].due_date == date(2026, 4, 21)  # the date of death, not the activation
    complete(request, handlers)
    record = record_of(student)
    assert record.state == StatusState.CANCELLED
    assert last_event(student).detail == {"died_on": "2026-01-20"}


def test_death_filed_today_is_due_60_working_days_after_the_date_of_death(
    make_student, school_user
):
    student = make_student()
    request = file(
        school_user,
        student,
        ChangeType.DEATH,
        materials=("death_proof",),
        payload={"died_on": "2026-01-20"},
        effective_date=TODAY,
    )
    authority = request.steps.get(party=Party.AUTHORITY)
    assert authority.due_date == date(2026, 4, 21)


def test_an_overdue_death_case_is_warned_to_the_authority_and_the_level_above(
    make_student, school_user, county_user
):
    student = make_student()
    request = file(
        school_user,
        student,
        ChangeType.DEATH,
        materials=("death_proof",),
        payload={"died_on": "2026-01-20"},
    )
    step = request.steps.get(party=Party.AUTHORITY)
    assert services.steps_overdue_sweep(today=date(2026, 4, 21))["overdue"] == 0
    assert services.steps_overdue_sweep(today=date(2026, 4, 22))["overdue"] == 1
    warned = EarlyWarning.objects.filter(subject_type="changes.step", subject_id=str(step.pk))
    assert {w.unit_id for w in warned} == {county_user.unit_id, county_user.unit.parent_id}


@pytest.mark.parametrize(
    ("payload", "code"),
    [({}, "death.date_required"), ({"died_on": "2026-03-11"}, "death.future")],
)
def test_death_needs_a_past_date_of_death(make_student, school_user, media, payload, code):
    student = make_student()
    with pytest.raises(ValidationFailed) as refused:
        file(school_user, student, ChangeType.DEATH, materials=("death_proof",), payload=payload)
    assert codes(refused.value) == {("payload.died_on", code)}
    assert_nothing_written(student, media)


def test_a_cancelled_record_takes_no_further_change(make_student, school_user, handlers):
    student = make_student()
    complete(
        file(
            school_user,
            student,
            ChangeType.DEATH,
            materials=("death_proof",),
            payload={"died_on": "2026-03-01"},
        ),
        handlers,
    )
    for change_type, materials in [
        (ChangeType.DEATH, ("death_proof",)),
        (ChangeType.RESUME, ("application",)),
        (ChangeType.REPEAT, ("application",)),
    ]:
        with pytest.raises(ValidationFailed) as refused:
            file(
                school_user,
                student,
                change_type,
                materials=materials,
                payload={"died_on": "2026-03-01"},
            )
        assert ("state", "change.state") in codes(refused.value)
    assert record_of(student).state == StatusState.CANCELLED


def test_death_of_a_dropped_out_student_closes_the_ledger_case(make_student, school_user, handlers):
    student = make_student()
    complete(file(school_user, student, ChangeType.DROPOUT), handlers)
    complete(
        file(
            school_user,
            student,
            ChangeType.DEATH,
            materials=("death_proof",),
            payload={"died_on": "2026-03-09"},
        ),
        handlers,
    )
    case = DropoutCase.objects.get(student=student)
    assert case.state == DropoutCaseState.CLOSED_OTHER
    assert record_of(student).state == StatusState.CANCELLED


# ----------------------------------------------------------------- completion and leaving


@pytest.mark.parametrize(
    ("change_type", "state"),
    [(ChangeType.COMPLETE, StatusState.COMPLETED), (ChangeType.LEAVE, StatusState.LEFT)],
)
def test_completion_and_leaving(make_student, school_user, handlers, change_type, state):
    student = make_student(grade="16")
    complete(file(school_user, student, change_type), handlers)
    assert record_of(student).state == state
    assert_history_continuous(student)


def test_leaving_a_suspended_student_is_refused(make_student, school_user, handlers):
    student = make_student()
    complete(
        file(school_user, student, ChangeType.SUSPEND, materials=("application", "medical")),
        handlers,
    )
    with pytest.raises(ValidationFailed) as refused:
        file(school_user, student, ChangeType.LEAVE)
    assert codes(refused.value) == {("state", "change.state")}


# ----------------------------------------------------------------- specialised schools


@pytest.fixture
def specialised(db):
    return SchoolFactory(
        name="天河区专门学校", school_type=SchoolType.SPECIALISED, division_code="440106"
    )


def test_placement_in_a_specialised_school_keeps_the_record_here_by_default(
    make_student, school_user, handlers, specialised
):
    junior = SchoolFactory(school_type=SchoolType.JUNIOR, division_code="440106")
    clerk = make_user(junior.unit)
    student = make_student(school=junior, actor=clerk, grade="22")
    complete(
        file(
            clerk,
            student,
            ChangeType.SPECIALISED,
            materials=("placement_decision",),
            target_school_id=specialised.pk,
        ),
        handlers,
    )
    record = record_of(student)
    assert (record.school_id, record.placement_school_id) == (junior.pk, specialised.pk)
    assert record.state == StatusState.ENROLLED
    assert last_event(student).detail == {
        "placement_school": specialised.code,
        "placement_school_name": specialised.name,
    }


def test_placement_moves_the_record_when_the_province_says_so(make_student, handlers, specialised):
    RuleSet.objects.create(
        province_code="44",
        version=1,
        effective_from=datetime(2026, 1, 1, tzinfo=SHANGHAI),
        rules={ChangeType.SPECIALISED: {"options": {"move_record": True}}},
        created_at=NOW,
    )
    junior = SchoolFactory(school_type=SchoolType.JUNIOR, division_code="440106")
    clerk = make_user(junior.unit)
    student = make_student(school=junior, actor=clerk, grade="22", class_name="3班")
    complete(
        file(
            clerk,
            student,
            ChangeType.SPECIALISED,
            materials=("placement_decision",),
            target_school_id=specialised.pk,
        ),
        handlers,
    )
    record = record_of(student)
    assert (record.school_id, record.placement_school_id) == (specialised.pk, None)
    assert (record.area_code, record.class_name) == (specialised.area_code, "")


def test_placement_needs_a_specialised_school(make_student, school_user, media, specialised):
    student = make_student()
    with pytest.raises(ValidationFailed) as refused:
        file(school_user, student, ChangeType.SPECIALISED, materials=("placement_decision",))
    assert codes(refused.value) == {("target_school", "target.required")}
    ordinary = SchoolFactory(division_code="440106")
    with pytest.raises(ValidationFailed) as refused:
        file(
            school_user,
            student,
            ChangeType.SPECIALISED,
            materials=("placement_decision",),
            target_school_id=ordinary.pk,
        )
    assert codes(refused.value) == {("target_school", "specialised.not_specialised")}
    assert_nothing_written(student, media)


# ----------------------------------------------------------------- general and vocational (Art. 28)


def test_a_senior_student_moves_from_general_to_vocational_and_back(
    senior_student, senior_clerk, handlers
):
    assert record_of(senior_student).programme == Programme.GENERAL
    complete(
        file(
            senior_clerk,
            senior_student,
            ChangeType.PROGRAMME,
            materials=("application",),
            payload={"programme": "vocational"},
        ),
        handlers,
    )
    assert record_of(senior_student).programme == Programme.VOCATIONAL
    assert last_event(senior_student).detail == {
        "from_programme": "general",
        "to_programme": "vocational",
    }
    complete(
        file(
            senior_clerk,
            senior_student,
            ChangeType.PROGRAMME,
            materials=("application",),
            payload={"programme": "general"},
        ),
        handlers,
    )
    assert record_of(senior_student).programme == Programme.GENERAL


@pytest.mark.parametrize(
    ("payload", "code"),
    [({"programme": "general"}, "programme.same"), ({"programme": "art"}, "programme.invalid")],
)
def test_a_programme_move_needs_another_known_programme(
    senior_student, senior_clerk, media, payload, code
):
    with pytest.raises(ValidationFailed) as refused:
        file(
            senior_clerk,
            senior_student,
            ChangeType.PROGRAMME,
            materials=("application",),
            payload=payload,
        )
    assert codes(refused.value) == {("payload.programme", code)}
    assert_nothing_written(senior_student, media)


def test_programme_moves_are_for_senior_high_only(make_student, school_user, media):
    student = make_student()
    with pytest.raises(ValidationFailed) as refused:
        file(
            school_user,
            student,
            ChangeType.PROGRAMME,
            materials=("application",),
            payload={"programme": "vocational"},
        )
    assert codes(refused.value) == {("stage", "change.senior_only")}
    assert_nothing_written(student, media)


# ----------------------------------------------------------------- province rules, refusals


def test_a_blocked_period_refuses_the_filing(make_student, school_user, media):
    RuleSet.objects.create(
        province_code="44",
        version=1,
        effective_from=datetime(2026, 1, 1, tzinfo=SHANGHAI),
        rules={
            ChangeType.SUSPEND: {
                "blocked": [{"grades": ["13"], "semester": 2, "note": "三年级下学期不办理休学"}]
            }
        },
        created_at=NOW,
    )
    student = make_student()
    with pytest.raises(ValidationFailed) as refused:
        file(school_user, student, ChangeType.SUSPEND, materials=("application", "medical"))
    assert codes(refused.value) == {("effective_date", "change.blocked_period")}
    assert "三年级下学期不办理休学" in refused.value.errors[0].message
    assert_nothing_written(student, media)
    # another grade is not blocked
    other = make_student(grade="14")
    file(school_user, other, ChangeType.SUSPEND, materials=("application", "medical"))


def test_a_type_the_province_disabled_is_refused(make_student, school_user, media):
    RuleSet.objects.create(
        province_code="44",
        version=1,
        effective_from=datetime(2026, 1, 1, tzinfo=SHANGHAI),
        rules={ChangeType.SKIP: {"enabled": False}},
        created_at=NOW,
    )
    student = make_student()
    with pytest.raises(ValidationFailed) as refused:
        file(school_user, student, ChangeType.SKIP, materials=("application",))
    assert codes(refused.value) == {("change_type", "change.disabled")}
    assert_nothing_written(student, media)


def test_every_broken_rule_is_reported_at_once(make_student, school_user, media):
    student = make_student()
    with pytest.raises(ValidationFailed) as refused:
        file(school_user, student, ChangeType.EXPEL, reason="  ")
    assert codes(refused.value) == {
        ("stage", "change.senior_only"),
        ("reason", "reason.required"),
        ("materials.disciplinary_decision", "material.required"),
    }
    assert_nothing_written(student, media)


def test_a_material_that_is_no_pdf_or_image_is_refused(make_student, school_user, media):
    student = make_student()
    fake = SimpleUploadedFile("m.pdf", b"MZ\x90\x00 not a pdf", content_type="application/pdf")
    with pytest.raises(ValidationFailed) as refused:
        services.change_file(
            actor=school_user,
            student_id=student.pk,
            change_type=ChangeType.SUSPEND,
            effective_date=TODAY,
            reason="病",
            uploads=[(MaterialKind.APPLICATION, pdf()), (MaterialKind.MEDICAL, fake)],
        )
    assert codes(refused.value) == {("materials.medical", "material.type")}
    assert_nothing_written(student, media)


def test_a_refused_step_closes_the_request_and_leaves_the_record(
    make_student, school_user, county_user
):
    student = make_student()
    request = file(school_user, student, ChangeType.SKIP, materials=("application",))
    step = request.steps.get(party=Party.AUTHORITY)
    with pytest.raises(ValidationFailed) as refused:
        services.step_handle(actor=county_user, step_id=step.pk, approve=False)
    assert codes(refused.value) == {
        ("refusal_reason", "refusal.reason_required"),
        ("comment", "refusal.text_required"),
    }
    services.step_handle(
        actor=county_user,
        step_id=step.pk,
        approve=False,
        refusal_reason=RefusalReason.CONDITIONS_NOT_MET,
        comment="成绩未达到跳级条件",
    )
    request.refresh_from_db()
    assert request.state == RequestState.REFUSED
    record = record_of(student)
    assert (record.state, record.grade) == (StatusState.ENROLLED, "13")
    assert list(
        StatusEvent.objects.filter(record_id=student.pk).values_list("kind", flat=True)
    ) == [EventKind.REGISTER]
    # a new request may follow
    file(school_user, student, ChangeType.SKIP, materials=("application",))


def test_a_withdrawn_request_changes_nothing(make_student, school_user, county_user):
    student = make_student()
    request = file(school_user, student, ChangeType.DROPOUT)
    services.change_withdraw(actor=school_user, request_id=request.pk, reason="家长已送回学校")
    request.refresh_from_db()
    assert request.state == RequestState.WITHDRAWN
    step = request.steps.get(party=Party.AUTHORITY)
    assert step.state == StepState.CANCELLED
    with pytest.raises(Conflict):
        services.step_handle(actor=county_user, step_id=step.pk, approve=True)
    assert record_of(student).state == StatusState.ENROLLED
    assert not DropoutCase.objects.exists()


def test_an_authority_files_for_a_school_in_its_scope_only(
    make_student, county_user, handlers, other_school_user
):
    student = make_student()
    outsider = make_user(other_school_user.unit.parent, roles=(Role.REVIEWER,))
    with pytest.raises(NotFound):
        file(outsider, student, ChangeType.DROPOUT)
    request = file(county_user, student, ChangeType.DROPOUT)
    first = request.steps.get(seq=1)
    # the school's step is pending for the school itself, not skipped
    assert (first.party, first.state) == (Party.SCHOOL, StepState.PENDING)
    complete(request, handlers)
    assert record_of(student).state == StatusState.DROPPED_OUT


def test_the_event_takes_effect_on_the_local_day_of_filing_at_the_earliest(
    make_student, school_user, handlers, monkeypatch
):
    """Filed at 07:00 in Shanghai (23:00 the day before in UTC) with an earlier effective
    date: the history says the change took effect on the day it was filed, local time."""
    early = datetime(2026, 3, 10, 7, 0, tzinfo=SHANGHAI)
    monkeypatch.setattr(clock, "now", lambda: early)
    student = make_student()
    request = file(
        school_user,
        student,
        ChangeType.SUSPEND,
        materials=("application", "medical"),
        effective_date=date(2026, 3, 2),
    )
    complete(request, handlers)
    assert last_event(student).effective_date == date(2026, 3, 10)


def test_every_change_type_but_the_transfer_has_an_end_to_end_test_here():
    covered = {
        ChangeType.SUSPEND,
        ChangeType.RESUME,
        ChangeType.DEFER,
        ChangeType.ABROAD,
        ChangeType.RETURN,
        ChangeType.REPEAT,
        ChangeType.SKIP,
        ChangeType.DEMOTE,
        ChangeType.DROPOUT,
        ChangeType.WITHDRAW,
        ChangeType.EXPEL,
        ChangeType.DEATH,
        ChangeType.COMPLETE,
        ChangeType.LEAVE,
        ChangeType.SPECIALISED,
        ChangeType.HOME_TAUGHT,
        ChangeType.PROGRAMME,
    }
    assert covered | {ChangeType.TRANSFER} == set(ChangeType.values)


# ----------------------------------------------------------------- the record "as of" a date


def test_the_record_reads_as_of_any_date_between_changes(
    make_student, school_user, county_user, handlers, specialised, monkeypatch
):
    from xueji.students.selectors import status_as_of

    RuleSet.objects.create(
        province_code="44",
        version=1,
        effective_from=datetime(2026, 1, 1, tzinfo=SHANGHAI),
        rules={ChangeType.SPECIALISED: {"options": {"move_record": True}}},
        created_at=NOW,
    )
    junior = SchoolFactory(school_type=SchoolType.JUNIOR, division_code="440106")
    clerk = make_user(junior.unit)
    student = make_student(school=junior, actor=clerk, grade="22", entry_date="2024-09")

    def on(day: date) -> None:
        moment = datetime(day.year, day.month, day.day, 10, 0, tzinfo=SHANGHAI)
        monkeypatch.setattr(clock, "now", lambda: moment)
        monkeypatch.setattr(clock, "today", lambda: day)

    on(date(2026, 3, 10))
    complete(
        file(clerk, student, ChangeType.SUSPEND, materials=("application", "medical")), handlers
    )
    on(date(2026, 4, 15))
    complete(file(clerk, student, ChangeType.RESUME, materials=("application",)), handlers)
    on(date(2026, 5, 12))
    complete(
        file(
            clerk,
            student,
            ChangeType.SPECIALISED,
            materials=("placement_decision",),
            target_school_id=specialised.pk,
        ),
        handlers,
    )

    def as_of(day: date):
        event = status_as_of(county_user, student_id=student.pk, on=day)
        return None if event is None else (event.to_state, event.school_id, event.grade)

    enrolled_here = (StatusState.ENROLLED, junior.pk, "22")
    assert as_of(date(2024, 8, 31)) is None  # before the entry
    assert as_of(date(2024, 9, 1)) == enrolled_here
    assert as_of(date(2026, 3, 9)) == enrolled_here
    assert as_of(date(2026, 3, 10)) == (StatusState.SUSPENDED, junior.pk, "22")
    assert as_of(date(2026, 4, 14)) == (StatusState.SUSPENDED, junior.pk, "22")
    assert as_of(date(2026, 4, 15)) == enrolled_here
    assert as_of(date(2026, 5, 11)) == enrolled_here
    assert as_of(date(2026, 5, 12)) == (StatusState.ENROLLED, specialised.pk, "22")
    assert as_of(date(2030, 1, 1)) == (StatusState.ENROLLED, specialised.pk, "22")
    # the school the record left reads it no more; its new holder does
    with pytest.raises(NotFound):
        status_as_of(clerk, student_id=student.pk, on=date(2026, 3, 10))


def test_a_province_chain_of_the_school_alone_completes_at_filing(make_student, school_user):
    RuleSet.objects.create(
        province_code="44",
        version=1,
        effective_from=datetime(2026, 1, 1, tzinfo=SHANGHAI),
        rules={ChangeType.DROPOUT: {"chain": ["school"]}},
        created_at=NOW,
    )
    student = make_student()
    request = file(school_user, student, ChangeType.DROPOUT)
    assert request.state == RequestState.COMPLETED
    assert record_of(student).state == StatusState.DROPPED_OUT
    assert DropoutCase.objects.get(student=student).request_id == request.pk
