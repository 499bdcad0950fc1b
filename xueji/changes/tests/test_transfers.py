"""Transfers (Art. 15) through the services: who handles each step, the 10-working-day
deadlines against the 2026 calendar, completion, refusal, withdrawal and the filing checks.

The clock is held still at a chosen Shanghai date and moved by hand (``Held``); the 2026
calendar comes from the seeding migration (chinesecalendar), 2027 is not loaded.

2026 facts used below (State Council notice, as seeded):
Spring Festival off 02-15 … 02-23, make-up working days Sat 02-14 and Sat 02-28;
Mid-Autumn off 09-25 … 09-27, National Day off 10-01 … 10-07, make-up working days
Sun 09-20 and Sat 10-10.
"""

from datetime import date, time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from tests.factories import SchoolFactory, authority_user, make_user
from xueji.accounts.models import Unit, UnitKind
from xueji.accounts.services import unit_ensure_for_division, unit_ensure_separate
from xueji.audit.models import AuditEvent, EarlyWarning
from xueji.changes import services
from xueji.changes.models import ApprovalStep, ChangeRequest
from xueji.changes.rules import Party, RefusalReason, RequestState, StepState
from xueji.enrolment.models import StatusEvent, StatusRecord
from xueji.errors import Conflict, Forbidden, NotFound, ValidationFailed
from xueji.schools.rules import ManagingLevel, SchoolType
from xueji.students.permissions import access_student
from xueji.workdays.models import CalendarYear

from .transfers import (
    Held,
    application,
    approve_pending,
    complete_transfer,
    file_transfer,
    handler_of,
    hold_clock,
    steps_of,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def held(monkeypatch) -> Held:
    """The clock at Thursday 2026-02-12, the eve of the Spring Festival make-up Saturday."""
    return hold_clock(monkeypatch, date(2026, 2, 12))


def assert_chain(request: ChangeRequest, units: list[Unit]) -> None:
    steps = steps_of(request)
    assert [s.party for s in steps] == [
        Party.RECEIVING_SCHOOL,
        Party.RECEIVING_AUTHORITY,
        Party.SENDING_SCHOOL,
        Party.SENDING_AUTHORITY,
    ]
    assert [s.unit_id for s in steps] == [u.pk for u in units]
    assert [s.days for s in steps] == [10, 10, 10, 10]


# ----------------------------------------------------------------- who handles each step


def test_transfer_within_one_county_goes_to_that_county_twice(held, make_student, school):
    """Both schools in 天河区: the county authority is the receiving and the sending
    authority; the receiving school's step is approved by filing it."""
    student = make_student()
    receiving = SchoolFactory(name="天河区第二小学", division_code="440106")
    receiver = make_user(receiving.unit)
    county = unit_ensure_for_division(division_code="440106")
    # when
    request = file_transfer(receiver, student)
    # then
    assert_chain(request, [receiving.unit, county, school.unit, county])
    first, second, third, fourth = steps_of(request)
    assert first.state == StepState.APPROVED
    assert first.actor_username == receiver.username
    assert first.activated_on == date(2026, 2, 12)
    assert second.state == StepState.PENDING
    assert (third.state, fourth.state) == (StepState.WAITING, StepState.WAITING)
    assert request.state == RequestState.OPEN
    assert (request.school_id, request.target_school_id) == (school.pk, receiving.pk)
    assert request.target_area_code == "440106"


def test_transfer_across_counties_goes_to_each_county(held, make_student, school):
    student = make_student()
    receiving = SchoolFactory(name="越秀区第一小学", division_code="440104")
    request = file_transfer(make_user(receiving.unit), student)
    assert_chain(
        request,
        [
            receiving.unit,
            unit_ensure_for_division(division_code="440104"),
            school.unit,
            unit_ensure_for_division(division_code="440106"),
        ],
    )


def test_transfer_across_provinces_goes_to_each_county(
    held, make_student, school, other_school, other_school_user
):
    student = make_student()
    request = file_transfer(other_school_user, student)
    assert_chain(
        request,
        [
            other_school.unit,
            unit_ensure_for_division(division_code="510104"),
            school.unit,
            unit_ensure_for_division(division_code="440106"),
        ],
    )
    assert (request.province_code, request.target_province_code) == ("44", "51")


def test_a_city_managed_school_is_handled_by_the_city(held, make_student, school):
    """The status authority of a school managed at city level is the city unit (广州市),
    not the county the school lies in."""
    student = make_student()
    receiving = SchoolFactory(
        name="广州市第一中学附属小学", division_code="440106", managing_level=ManagingLevel.CITY
    )
    request = file_transfer(make_user(receiving.unit), student)
    city = unit_ensure_for_division(division_code="440100")
    assert services.authority_unit_for(receiving) == city
    assert_chain(
        request,
        [receiving.unit, city, school.unit, unit_ensure_for_division(division_code="440106")],
    )


def test_a_separately_listed_school_is_handled_by_the_separate_unit(held, make_student, school):
    """A school listed separately (Art. 27) answers to the unit of the separately listed
    schools under the national level."""
    student = make_student()
    overseas = SchoolFactory(
        name="迪拜中国学校",
        school_type=SchoolType.OVERSEAS_CHINESE,
        division_code="",
        area_code="990100",
        province_code="99",
        managing_level=ManagingLevel.NATIONAL,
        listed_separately=True,
    )
    request = file_transfer(make_user(overseas.unit), student)
    separate = unit_ensure_separate()
    assert services.authority_unit_for(overseas) == separate
    assert_chain(
        request,
        [overseas.unit, separate, school.unit, unit_ensure_for_division(division_code="440106")],
    )


def test_an_authority_files_for_a_school_in_its_scope(held, make_student, school, other_school):
    """The receiving authority files for a school under it: the receiving school's step is
    then the first to handle, the authority's own comes after."""
    student = make_student()
    county = authority_user("510104")
    request = file_transfer(county, student, target_school_id=other_school.pk)
    first, second, *_rest = steps_of(request)
    assert first.state == StepState.PENDING and first.unit_id == other_school.unit.pk
    assert second.state == StepState.WAITING
    assert request.channel == "authority"


def test_an_authority_cannot_file_for_a_school_outside_its_scope(held, make_student, other_school):
    student = make_student()
    with pytest.raises(NotFound):
        file_transfer(authority_user("440106"), student, target_school_id=other_school.pk)
    assert not ChangeRequest.objects.exists()


# ----------------------------------------------------------------- deadlines


def test_each_step_is_due_ten_working_days_after_it_starts(
    held, make_student, school, other_school, other_school_user
):
    """Deadlines across the Spring Festival and National Day, counted by hand:

    - activated Thu 02-12: 02-13 (1), Sat 02-14 make-up (2), 02-15…23 off, 02-24…27 (3–6),
      Sat 02-28 make-up (7), 03-02, 03-03, 03-04 (8–10) → **2026-03-04**;
    - activated Mon 09-28: 09-29, 09-30 (1–2), 10-01…07 off, 10-08, 10-09 (3–4), Sat 10-10
      make-up (5), 10-12…10-16 (6–10) → **2026-10-16**;
    - activated Fri 09-18: Sun 09-20 make-up (1), 09-21…24 (2–5), 09-25…27 off, 09-28…30
      (6–8), 10-01…07 off, 10-08, 10-09 (9–10) → **2026-10-09**.
    """
    student = make_student()
    request = file_transfer(other_school_user, student)
    first, second, third, fourth = steps_of(request)
    assert (first.activated_on, first.due_date) == (date(2026, 2, 12), None)
    assert (second.activated_on, second.due_date) == (date(2026, 2, 12), date(2026, 3, 4))
    assert not second.calendar_missing
    # when: the receiving authority handles it on Friday 2026-09-18 (late, but allowed)
    held.go(date(2026, 9, 18))
    approve_pending(request)
    third.refresh_from_db()
    assert (third.state, third.activated_on) == (StepState.PENDING, date(2026, 9, 18))
    assert third.due_date == date(2026, 10, 9)
    # and the sending school on Monday 2026-09-28
    held.go(date(2026, 9, 28))
    approve_pending(request)
    fourth.refresh_from_db()
    assert (fourth.activated_on, fourth.due_date) == (date(2026, 9, 28), date(2026, 10, 16))


def test_a_deadline_in_an_unloaded_year_is_flagged_not_guessed(
    held, make_student, other_school_user, national_user
):
    """Activated 2026-12-28, 10 working days reach into 2027, which is not loaded: no due
    date, the step is flagged and the national level is warned. Once 2027 is loaded the
    sweep computes the due date from the original start day."""
    from xueji.workdays.rules import HolidayRange
    from xueji.workdays.services import calendar_year_load

    assert not CalendarYear.objects.filter(year=2027).exists()
    student = make_student()
    held.go(date(2026, 12, 28))
    request = file_transfer(other_school_user, student)
    step = ApprovalStep.objects.get(request=request, state=StepState.PENDING)
    assert step.calendar_missing is True
    assert step.due_date is None
    assert step.activated_on == date(2026, 12, 28)
    warning = EarlyWarning.objects.get(
        kind="calendar.missing", subject_type="changes.step", subject_id=str(step.pk)
    )
    assert warning.unit.kind == UnitKind.NATIONAL
    assert warning.resolved_at is None
    assert "2027" in warning.message
    # the sweep the next day: still missing, nothing recomputed, the warning kept (not doubled)
    held.go(date(2026, 12, 29))
    counts = services.steps_overdue_sweep()
    assert counts == {"overdue": 0, "calendar_missing": 1, "recomputed": 0}
    assert EarlyWarning.objects.filter(kind="calendar.missing").count() == 1
    # when: the national level loads 2027 (New Year's Day off 01-01)
    calendar_year_load(
        actor=national_user,
        year=2027,
        holidays=[HolidayRange(date(2027, 1, 1), date(2027, 1, 1), "元旦")],
        makeup_days=[],
        notice="国办发明电〔2026〕1号",
    )
    counts = services.steps_overdue_sweep()
    # then: 12-29, 12-30, 12-31 (1–3), 2027-01-01 off, 01-04…01-08 (4–8), 01-11, 01-12 (9–10)
    step.refresh_from_db()
    assert counts == {"overdue": 0, "calendar_missing": 0, "recomputed": 1}
    assert step.calendar_missing is False
    assert step.due_date == date(2027, 1, 12)
    assert step.activated_on == date(2026, 12, 28)
    warning.refresh_from_db()
    assert warning.resolved_at is not None


# ----------------------------------------------------------------- completion


def test_completion_moves_the_record_in_one_event(
    held, make_student, school, school_user, other_school, other_school_user
):
    """籍随人走: the last approval moves the record (school, area, province) and writes one
    transfer event; the sending school loses the student but keeps the archive backup."""
    from xueji.archives.models import ArchiveBackup, ArchiveDocument
    from xueji.archives.selectors import backup_detail, backups_of_school
    from xueji.archives.services import archive_add_document

    student = make_student()
    document = archive_add_document(
        actor=school_user,
        student=student,
        kind="material",
        title="学籍登记表",
        upload=SimpleUploadedFile("登记表.pdf", b"%PDF-1.4\n", "application/pdf"),
    )
    before = StatusRecord.objects.get(pk=student.pk)
    events_before = StatusEvent.objects.filter(record_id=student.pk).count()
    request = file_transfer(other_school_user, student, payload={"class_name": "3班"})
    # when
    held.go(date(2026, 2, 13))
    complete_transfer(request)
    # then
    request.refresh_from_db()
    assert request.state == RequestState.COMPLETED
    assert request.closed_at == held.now
    assert [s.state for s in steps_of(request)] == [StepState.APPROVED] * 4
    record = StatusRecord.objects.get(pk=student.pk)
    assert (record.school_id, record.area_code, record.province_code) == (
        other_school.pk,
        "510104",
        "51",
    )
    assert (record.grade, record.state) == (before.grade, before.state)
    assert record.class_name == "3班"
    assert record.revision == before.revision + 1
    events = StatusEvent.objects.filter(record_id=student.pk).order_by("pk")
    assert events.count() == events_before + 1
    event = events.last()
    assert event.change_type == "transfer"
    assert event.request_id == request.pk
    assert event.school_id == other_school.pk
    assert event.effective_date == date(2026, 2, 13)
    assert event.detail == {
        "from_school": school.code,
        "from_school_name": school.name,
        "to_school": other_school.code,
        "to_school_name": other_school.name,
    }
    assert [m["kind"] for m in event.materials] == ["application"]
    assert AuditEvent.objects.filter(action="change.complete", object_id=str(request.pk)).count()
    # the sending school no longer sees the student; the receiving school does
    with pytest.raises(NotFound):
        access_student(school_user, student_id=student.pk)
    assert access_student(other_school_user, student_id=student.pk).pk == student.pk
    # the archive moved with the record; the sending school keeps a read-only backup of it
    # and of the history up to the transfer
    assert ArchiveDocument.objects.get(pk=document.pk).holder_id == other_school.pk
    backup = ArchiveBackup.objects.get(school=school, student=student)
    assert backup.request_id == request.pk
    assert backup.history_until == date(2026, 2, 13)
    assert [d["document_id"] for d in backup.documents] == [document.pk]
    assert list(backups_of_school(school_user)) == [backup]
    detail = backup_detail(school_user, backup_id=backup.pk)
    assert [e.pk for e in detail.events] == [
        e.pk for e in StatusEvent.objects.filter(record_id=student.pk).order_by("pk")
    ]
    assert not backups_of_school(other_school_user).exists()


def test_a_transfer_completed_in_the_small_hours_takes_the_shanghai_date(
    held, make_student, school, other_school_user
):
    """07:30 in Shanghai is still the previous day in UTC: the event, the archive backup and
    the history cut-off carry the Shanghai date."""
    from xueji.archives.models import ArchiveBackup

    student = make_student()
    request = file_transfer(other_school_user, student)
    held.go(date(2026, 2, 13), at=time(7, 30))
    complete_transfer(request)
    event = StatusEvent.objects.filter(record_id=student.pk, change_type="transfer").get()
    assert event.effective_date == date(2026, 2, 13)
    backup = ArchiveBackup.objects.get(school=school, student=student)
    assert (backup.transferred_on, backup.history_until) == (date(2026, 2, 13), date(2026, 2, 13))


def test_a_student_who_graduated_meanwhile_is_not_transferred(
    held, make_student, school, other_school_user
):
    """The record left the states a transfer starts from while the request was open (a
    graduation batch): the last approval is refused, nothing moves, and the request can
    still be refused."""
    student = make_student()
    request = file_transfer(other_school_user, student)
    approve_pending(request)
    approve_pending(request)
    StatusRecord.objects.filter(pk=student.pk).update(state="graduated")
    last = ApprovalStep.objects.select_related("unit").get(request=request, state=StepState.PENDING)
    handler = handler_of(last)
    with pytest.raises(Conflict) as caught:
        services.step_handle(actor=handler, step_id=last.pk, approve=True)
    assert caught.value.code == "change.state_changed"
    assert ApprovalStep.objects.get(pk=last.pk).state == StepState.PENDING
    record = StatusRecord.objects.get(pk=student.pk)
    assert (record.school_id, record.state) == (school.pk, "graduated")
    services.step_handle(
        actor=handler,
        step_id=last.pk,
        approve=False,
        refusal_reason=RefusalReason.CONDITIONS_NOT_MET,
        comment="学生已毕业",
    )
    assert ChangeRequest.objects.get(pk=request.pk).state == RequestState.REFUSED


def test_the_sending_school_gets_404_from_the_api_after_the_transfer(
    held, make_student, school_user, other_school_user
):
    student = make_student()
    request = file_transfer(other_school_user, student)
    client = Client()
    client.force_login(school_user)
    assert client.get(f"/api/students/{student.pk}").status_code == 200
    complete_transfer(request)
    assert client.get(f"/api/students/{student.pk}").status_code == 404


def test_the_transfer_target_grade_and_programme_are_applied(held, make_student, other_school_user):
    """A receiving school may place the student in another grade of its offer."""
    student = make_student()
    request = file_transfer(other_school_user, student, payload={"grade": "14"})
    complete_transfer(request)
    record = StatusRecord.objects.get(pk=student.pk)
    assert (record.grade, record.stage) == ("14", "1")


# ----------------------------------------------------------------- refusal


@pytest.mark.parametrize("refusing_seq", [2, 3, 4])
def test_a_refusal_closes_the_request_and_leaves_the_record(
    held, make_student, other_school_user, refusing_seq
):
    student = make_student()
    before = StatusRecord.objects.get(pk=student.pk)
    events_before = StatusEvent.objects.filter(record_id=student.pk).count()
    request = file_transfer(other_school_user, student)
    for _seq in range(2, refusing_seq):
        approve_pending(request)
    step = ApprovalStep.objects.get(request=request, state=StepState.PENDING)
    assert step.seq == refusing_seq
    # when
    services.step_handle(
        actor=handler_of(step),
        step_id=step.pk,
        approve=False,
        refusal_reason=RefusalReason.NO_PLACE,
        comment="本年级学位已满",
    )
    # then
    request.refresh_from_db()
    assert request.state == RequestState.REFUSED
    assert request.closed_reason == "本年级学位已满"
    states = [s.state for s in steps_of(request)]
    assert states[refusing_seq - 1] == StepState.REFUSED
    assert set(states[: refusing_seq - 1]) == {StepState.APPROVED}
    assert set(states[refusing_seq:]) <= {StepState.CANCELLED}
    refused = ApprovalStep.objects.get(pk=step.pk)
    assert (refused.refusal_reason, refused.comment) == (RefusalReason.NO_PLACE, "本年级学位已满")
    record = StatusRecord.objects.get(pk=student.pk)
    assert (record.school_id, record.revision) == (before.school_id, before.revision)
    assert StatusEvent.objects.filter(record_id=student.pk).count() == events_before
    # a new transfer may be filed afterwards
    assert file_transfer(other_school_user, student).state == RequestState.OPEN


@pytest.mark.parametrize(
    ("reason", "comment", "codes"),
    [
        ("", "没有理由", {"refusal.reason_required"}),
        ("not_a_reason", "没有理由", {"refusal.reason_required"}),
        (RefusalReason.NO_PLACE, "  ", {"refusal.text_required"}),
        ("", "", {"refusal.reason_required", "refusal.text_required"}),
    ],
)
def test_a_refusal_needs_a_listed_reason_and_a_text(
    held, make_student, other_school_user, reason, comment, codes
):
    student = make_student()
    request = file_transfer(other_school_user, student)
    step = ApprovalStep.objects.get(request=request, state=StepState.PENDING)
    with pytest.raises(ValidationFailed) as caught:
        services.step_handle(
            actor=handler_of(step),
            step_id=step.pk,
            approve=False,
            refusal_reason=reason,
            comment=comment,
        )
    assert {e.code for e in caught.value.errors} == codes
    step.refresh_from_db()
    assert step.state == StepState.PENDING
    assert ChangeRequest.objects.get(pk=request.pk).state == RequestState.OPEN


def test_only_the_steps_unit_handles_it(
    held, make_student, school_user, other_school_user, county_user
):
    """The sending school cannot act before its turn, nor another unit at all: not found."""
    student = make_student()
    request = file_transfer(other_school_user, student)
    pending = ApprovalStep.objects.get(request=request, state=StepState.PENDING)
    waiting = ApprovalStep.objects.get(request=request, seq=3)
    for actor, step in [(school_user, pending), (county_user, pending)]:
        with pytest.raises(NotFound):
            services.step_handle(actor=actor, step_id=step.pk, approve=True)
    with pytest.raises(Conflict) as caught:
        services.step_handle(actor=school_user, step_id=waiting.pk, approve=True)
    assert caught.value.code == "step.not_pending"


def test_a_handled_step_cannot_be_handled_again(held, make_student, other_school_user):
    student = make_student()
    request = file_transfer(other_school_user, student)
    step = approve_pending(request)
    with pytest.raises(Conflict) as caught:
        services.step_handle(actor=handler_of(step), step_id=step.pk, approve=True)
    assert caught.value.code == "step.not_pending"
    assert (
        AuditEvent.objects.filter(action="change.step_approve", object_id=str(request.pk)).count()
        == 2  # the filing (step 1) and this one
    )


# ----------------------------------------------------------------- withdrawal


def test_withdrawal_before_completion_leaves_nothing_in_force(
    held, make_student, other_school_user
):
    student = make_student()
    before = StatusRecord.objects.get(pk=student.pk)
    events_before = StatusEvent.objects.filter(record_id=student.pk).count()
    request = file_transfer(other_school_user, student)
    approve_pending(request)
    approve_pending(request)  # the sending school agreed; only its authority remains
    # when
    services.change_withdraw(actor=other_school_user, request_id=request.pk, reason="家长改变主意")
    # then
    request.refresh_from_db()
    assert request.state == RequestState.WITHDRAWN
    assert request.closed_reason == "家长改变主意"
    assert [s.state for s in steps_of(request)] == [
        StepState.APPROVED,
        StepState.APPROVED,
        StepState.APPROVED,
        StepState.CANCELLED,
    ]
    record = StatusRecord.objects.get(pk=student.pk)
    assert (record.school_id, record.revision) == (before.school_id, before.revision)
    assert StatusEvent.objects.filter(record_id=student.pk).count() == events_before
    # the withdrawn step cannot be handled any more
    last = ApprovalStep.objects.get(request=request, seq=4)
    with pytest.raises(Conflict):
        services.step_handle(actor=handler_of(last), step_id=last.pk, approve=True)


def test_withdrawal_needs_a_reason_and_the_right_unit(
    held, make_student, school_user, other_school_user
):
    student = make_student()
    request = file_transfer(other_school_user, student)
    with pytest.raises(ValidationFailed):
        services.change_withdraw(actor=other_school_user, request_id=request.pk, reason=" ")
    # the sending school sees the request but did not file it
    with pytest.raises(Forbidden):
        services.change_withdraw(actor=school_user, request_id=request.pk, reason="不想让他走")
    assert ChangeRequest.objects.get(pk=request.pk).state == RequestState.OPEN


def test_withdrawal_after_completion_is_refused(held, make_student, other_school_user):
    student = make_student()
    request = file_transfer(other_school_user, student)
    complete_transfer(request)
    with pytest.raises(Conflict) as caught:
        services.change_withdraw(actor=other_school_user, request_id=request.pk, reason="晚了")
    assert caught.value.code == "change.closed"
    assert ChangeRequest.objects.get(pk=request.pk).state == RequestState.COMPLETED
    assert StatusRecord.objects.get(pk=student.pk).school_id == other_school_user.unit.school_id


# ----------------------------------------------------------------- filing checks


def test_a_student_has_at_most_one_open_request(
    held, make_student, school, other_school_user, national_user
):
    student = make_student()
    first = file_transfer(other_school_user, student)
    third_school = SchoolFactory(name="越秀区第三小学", division_code="440104")
    # The nation sees the student and the request: the precise conflict.
    with pytest.raises(Conflict) as caught:
        file_transfer(national_user, student, target_school_id=third_school.pk)
    assert caught.value.code == "change.already_open"
    assert caught.value.detail == {"request_id": first.pk}
    # A third school, outside the student's scope, is not told of another school's request.
    with pytest.raises(Conflict) as caught:
        file_transfer(make_user(third_school.unit), student)
    assert caught.value.code == "transfer.not_possible" and caught.value.detail == {}
    assert ChangeRequest.objects.filter(student=student).count() == 1


def test_an_open_transfer_blocks_every_other_change(
    held, make_student, school_user, other_school_user
):
    """一人一事: while the transfer is open, the holding school cannot file a suspension."""
    student = make_student()
    transfer = file_transfer(other_school_user, student)
    with pytest.raises(Conflict) as caught:
        services.change_file(
            actor=school_user,
            student_id=student.pk,
            change_type="suspend",
            effective_date=date(2026, 2, 12),
            reason="病休",
            uploads=[
                *application(),
                ("medical", SimpleUploadedFile("诊断.pdf", b"%PDF-1.4\n", "application/pdf")),
            ],
        )
    assert caught.value.code == "change.already_open"
    assert caught.value.detail == {"request_id": transfer.pk}


def test_the_name_must_match_the_number(held, make_student, other_school_user):
    student = make_student()
    with pytest.raises(NotFound):
        file_transfer(other_school_user, student, student_name=student.name + "某")
    with pytest.raises(NotFound):
        file_transfer(other_school_user, student, student_number="G" + "0" * 18)
    assert not ChangeRequest.objects.exists()


def test_a_transfer_to_the_same_school_is_refused(held, make_student, school_user):
    student = make_student()
    with pytest.raises(ValidationFailed) as caught:
        file_transfer(school_user, student)
    assert [e.code for e in caught.value.errors] == ["transfer.same_school"]


def test_the_target_school_must_offer_the_grade(held, make_student, school):
    """A junior middle school does not take a primary grade-3 pupil."""
    student = make_student()
    junior = SchoolFactory(name="天河中学", division_code="440106", school_type=SchoolType.JUNIOR)
    county = authority_user("440106")  # covers both schools: the precise refusal
    with pytest.raises(ValidationFailed) as caught:
        file_transfer(county, student, target_school_id=junior.pk)
    assert [e.code for e in caught.value.errors] == ["transfer.grade_not_offered"]
    # The junior school's clerk does not see the student: its grade is not told.
    with pytest.raises(ValidationFailed) as caught:
        file_transfer(make_user(junior.unit), student)
    assert [e.code for e in caught.value.errors] == ["transfer.not_possible"]
    assert not ChangeRequest.objects.exists()


def test_the_application_form_is_required(held, make_student, other_school_user):
    student = make_student()
    with pytest.raises(ValidationFailed) as caught:
        file_transfer(other_school_user, student, uploads=[])
    assert "material.required" in {e.code for e in caught.value.errors}


def test_a_reason_is_required(held, make_student, other_school_user):
    student = make_student()
    with pytest.raises(ValidationFailed) as caught:
        file_transfer(other_school_user, student, reason="  ")
    assert "reason.required" in {e.code for e in caught.value.errors}


@pytest.mark.parametrize(
    ("grade", "today", "blocked"),
    [
        ("11", date(2026, 10, 15), True),  # entry grade, first semester
        ("11", date(2027, 1, 20), True),  # January still belongs to the first semester
        ("11", date(2026, 3, 16), False),  # entry grade, second semester
        ("16", date(2026, 3, 16), True),  # graduating grade, second semester
        ("16", date(2026, 10, 15), False),  # graduating grade, first semester
        ("13", date(2026, 10, 15), False),
    ],
)
def test_blocked_periods(
    held, make_student, other_school, other_school_user, national_user, grade, today, blocked
):
    held.go(today)
    student = make_student(grade=grade, entry_date="2020-09" if grade == "16" else "2025-09")
    if not blocked:
        assert file_transfer(other_school_user, student).state == RequestState.OPEN
        return
    with pytest.raises(ValidationFailed) as caught:
        file_transfer(national_user, student, target_school_id=other_school.pk)
    assert [e.code for e in caught.value.errors] == ["change.blocked_period"]
    with pytest.raises(ValidationFailed) as caught:  # the receiving school: no grade told
        file_transfer(other_school_user, student)
    assert [e.code for e in caught.value.errors] == ["transfer.not_possible"]
    assert not ChangeRequest.objects.exists()
