"""Races on one request or one student: the database decides, exactly once.

Real threads on real connections, so PostgreSQL only (SQLite serialises writers, which
proves nothing). Each test runs outside a test transaction (``transaction=True``); the
flush afterwards is limited to the apps written here (``available_apps``) so the reference
data and the working-day calendar loaded by migrations survive for the tests that follow.

Each race lines the two callers up at a barrier placed after their unlocked checks and
right before the row lock, so both have seen the request open (or the step pending) when
they go for it; the unsynchronised variants leave the interleaving to chance.
"""

import threading
from datetime import date

import pytest
from django.db import connection

from tests.factories import SchoolFactory, make_user
from xueji.archives.models import ArchiveBackup
from xueji.audit.models import AuditEvent, EarlyWarning
from xueji.changes import services
from xueji.changes.models import ApprovalStep, ChangeRequest
from xueji.changes.rules import RequestState, StepState
from xueji.enrolment.models import StatusEvent, StatusRecord
from xueji.errors import Conflict
from xueji.workdays.seeding import calendar_seed

from .transfers import approve_pending, file_transfer, handler_of, hold_clock

# Everything a test here writes; not divisions (reference data), the working-day calendar,
# auth or contenttypes.
WRITTEN_APPS = [
    "xueji.accounts",
    "xueji.audit",
    "xueji.schools",
    "xueji.students",
    "xueji.enrolment",
    "xueji.changes",
    "xueji.archives",
]

if connection.vendor != "postgresql":
    pytest.skip(
        "concurrency tests need PostgreSQL (set XUEJI_TEST_DATABASE_URL)", allow_module_level=True
    )

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, available_apps=WRITTEN_APPS),
]

TIMEOUT = 30
ROUNDS = range(4)


@pytest.fixture(autouse=True)
def calendar_and_clock(monkeypatch):
    """The 2026 calendar (a test elsewhere may have flushed it) and a Tuesday of the spring
    semester, 2026-03-10."""
    calendar_seed()
    return hold_clock(monkeypatch, date(2026, 3, 10))


def run_together(*calls):
    """Start every call at the same moment on its own thread and connection; return what
    each returned or raised, in order."""
    barrier = threading.Barrier(len(calls), timeout=TIMEOUT)
    results: list = [None] * len(calls)

    def worker(index: int, call) -> None:
        try:
            barrier.wait()
            results[index] = call()
        except BaseException as error:
            results[index] = error
        finally:
            connection.close()

    threads = [
        threading.Thread(target=worker, args=(index, call)) for index, call in enumerate(calls)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT * 2)
        assert not thread.is_alive(), "a thread hung (lock wait?)"
    return results


def gate_before(monkeypatch, owner: object, attribute: str, parties: int = 2) -> None:
    """Hold every caller of ``owner.attribute`` at one barrier until ``parties`` callers
    have reached it: each has passed its unlocked checks before any takes the lock."""
    gate = threading.Barrier(parties, timeout=TIMEOUT)
    real = getattr(owner, attribute)
    passed = threading.local()

    def gated(*args, **kwargs):
        if not getattr(passed, "done", False):  # once per thread: later calls go straight
            passed.done = True
            gate.wait()
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, attribute, gated)


def split(results) -> tuple[list, list]:
    unexpected = [
        r for r in results if isinstance(r, BaseException) and not isinstance(r, Conflict)
    ]
    assert not unexpected, unexpected
    won = [r for r in results if not isinstance(r, BaseException)]
    lost = [r for r in results if isinstance(r, Conflict)]
    return won, lost


@pytest.fixture
def transfer(make_student, other_school_user):
    """A cross-province transfer waiting for the receiving authority (成都市锦江区)."""
    return file_transfer(other_school_user, make_student())


# ----------------------------------------------------------------- (a) two approvals


def race_two_approvals(transfer) -> None:
    step = ApprovalStep.objects.select_related("unit").get(
        request=transfer, state=StepState.PENDING
    )
    first, second = handler_of(step), handler_of(step)
    # when
    results = run_together(
        lambda: services.step_handle(actor=first, step_id=step.pk, approve=True),
        lambda: services.step_handle(actor=second, step_id=step.pk, approve=True),
    )
    # then
    won, lost = split(results)
    assert len(won) == 1 and [c.code for c in lost] == ["step.not_pending"]
    step.refresh_from_db()
    assert step.state == StepState.APPROVED
    assert step.actor_username in (first.username, second.username)
    approvals = AuditEvent.objects.filter(
        action="change.step_approve", object_id=str(transfer.pk), detail__step=step.seq
    )
    assert approvals.count() == 1
    assert approvals.get().actor_username == step.actor_username
    following = ApprovalStep.objects.get(request=transfer, seq=step.seq + 1)
    assert following.state == StepState.PENDING
    assert following.activated_on == date(2026, 3, 10)
    assert ApprovalStep.objects.filter(request=transfer, state=StepState.PENDING).count() == 1


@pytest.mark.parametrize("round_", ROUNDS)
def test_two_reviewers_approving_one_step_at_once_approve_it_once(round_, monkeypatch, transfer):
    """Both have read the step as pending; the request's row lock lets one through and
    the other finds the step handled."""
    gate_before(monkeypatch, ChangeRequest.objects, "select_for_update")
    race_two_approvals(transfer)


@pytest.mark.parametrize("round_", ROUNDS)
def test_unsynchronised_approvals_also_approve_once(round_, transfer):
    race_two_approvals(transfer)


def test_two_approvals_of_the_last_step_complete_once(monkeypatch, nearly_done, other_school):
    """Racing on the last step: one completion, one transfer event, one archive backup."""
    transfer = nearly_done
    step = ApprovalStep.objects.select_related("unit").get(
        request=transfer, state=StepState.PENDING
    )
    first, second = handler_of(step), handler_of(step)
    gate_before(monkeypatch, ChangeRequest.objects, "select_for_update")
    results = run_together(
        lambda: services.step_handle(actor=first, step_id=step.pk, approve=True),
        lambda: services.step_handle(actor=second, step_id=step.pk, approve=True),
    )
    won, lost = split(results)
    assert len(won) == 1 and [c.code for c in lost] == ["step.not_pending"]
    assert ChangeRequest.objects.get(pk=transfer.pk).state == RequestState.COMPLETED
    record = StatusRecord.objects.get(pk=transfer.student_id)
    assert record.school_id == other_school.pk
    assert StatusEvent.objects.filter(record=record, change_type="transfer").count() == 1
    assert ArchiveBackup.objects.filter(student_id=transfer.student_id).count() == 1
    assert AuditEvent.objects.filter(action="change.complete").count() == 1


# ----------------------------------------------------------------- (b) two filings


def race_two_filings(make_student, school):
    student = make_student()
    receivers = [
        make_user(SchoolFactory(name=f"锦江区第{n}小学", division_code="510104").unit)
        for n in (2, 3)
    ]
    results = run_together(*(lambda r=r: file_transfer(r, student) for r in receivers))
    won, lost = split(results)
    # The loser, outside the student's scope, is not told of the winner's request (issue
    # 10, finding 2): "not possible now", and the refusal is audited.
    assert len(won) == 1 and [c.code for c in lost] == ["transfer.not_possible"]
    request = ChangeRequest.objects.get(student=student)
    assert request.pk == won[0].pk
    assert lost[0].detail == {}
    assert AuditEvent.objects.filter(action="change.file_refused_outside").count() == 1
    assert request.state == RequestState.OPEN
    assert ApprovalStep.objects.filter(request=request).count() == 4
    assert ApprovalStep.objects.count() == 4
    assert AuditEvent.objects.filter(action="change.file").count() == 1
    record = StatusRecord.objects.get(pk=student.pk)
    assert record.school_id == school.pk


@pytest.mark.parametrize("round_", ROUNDS)
def test_two_schools_filing_for_one_student_at_once_open_one_request(
    round_, monkeypatch, make_student, school
):
    """Both have found the student by number and name; the record's row lock and the
    one-open-request constraint let one request through, the other is a Conflict (not a
    database error)."""
    gate_before(monkeypatch, services, "record_lock")
    race_two_filings(make_student, school)


@pytest.mark.parametrize("round_", ROUNDS)
def test_unsynchronised_filings_also_open_one_request(round_, make_student, school):
    race_two_filings(make_student, school)


# ----------------------------------------------------------------- (c) approval vs withdrawal


@pytest.fixture
def nearly_done(transfer):
    """The transfer with every step approved but the sending authority's."""
    approve_pending(transfer)
    approve_pending(transfer)
    return transfer


def race_last_approval_and_withdrawal(transfer, school, other_school, other_school_user):
    last = ApprovalStep.objects.select_related("unit").get(
        request=transfer, state=StepState.PENDING
    )
    handler = handler_of(last)
    events_before = StatusEvent.objects.filter(record_id=transfer.student_id).count()
    # when
    approved, withdrawn = run_together(
        lambda: services.step_handle(actor=handler, step_id=last.pk, approve=True),
        lambda: services.change_withdraw(
            actor=other_school_user, request_id=transfer.pk, reason="家长改变主意"
        ),
    )
    # then: exactly one of them happened, and everything agrees with it
    won, lost = split([approved, withdrawn])
    assert len(won) == 1 and len(lost) == 1
    request = ChangeRequest.objects.get(pk=transfer.pk)
    record = StatusRecord.objects.get(pk=transfer.student_id)
    events = StatusEvent.objects.filter(record_id=transfer.student_id)
    last.refresh_from_db()
    if isinstance(withdrawn, Conflict):
        assert withdrawn.code == "change.closed"
        assert request.state == RequestState.COMPLETED
        assert last.state == StepState.APPROVED
        assert (record.school_id, record.area_code) == (other_school.pk, "510104")
        assert events.count() == events_before + 1
        assert ArchiveBackup.objects.filter(student_id=transfer.student_id).count() == 1
        assert not AuditEvent.objects.filter(action="change.withdraw").exists()
    else:
        assert isinstance(approved, Conflict) and approved.code == "step.not_pending"
        assert request.state == RequestState.WITHDRAWN
        assert last.state == StepState.CANCELLED
        assert (record.school_id, record.area_code) == (school.pk, "440106")
        assert events.count() == events_before
        assert not ArchiveBackup.objects.exists()
        assert not AuditEvent.objects.filter(action="change.complete").exists()
    assert not ApprovalStep.objects.filter(request=request, state=StepState.PENDING).exists()


@pytest.mark.parametrize("round_", ROUNDS)
def test_the_last_approval_racing_a_withdrawal_does_one_or_the_other(
    round_, monkeypatch, nearly_done, school, other_school, other_school_user
):
    """Both have seen the request open; the request's row lock orders them, and the second
    finds it closed: completed (the withdrawal is refused) or withdrawn (the approval is)."""
    gate_before(monkeypatch, ChangeRequest.objects, "select_for_update")
    race_last_approval_and_withdrawal(nearly_done, school, other_school, other_school_user)


@pytest.mark.parametrize("round_", ROUNDS)
def test_unsynchronised_approval_and_withdrawal_do_one_or_the_other(
    round_, nearly_done, school, other_school, other_school_user
):
    race_last_approval_and_withdrawal(nearly_done, school, other_school, other_school_user)


# ----------------------------------------------------------------- the sweep vs an approval


@pytest.mark.parametrize("round_", ROUNDS)
def test_the_sweep_racing_an_approval_leaves_no_stale_warning(round_, calendar_and_clock, transfer):
    """The daily sweep and a reviewer handling the overdue step at the same moment: no
    deadlock, and no open warning left on a step that is no longer pending."""
    step = ApprovalStep.objects.select_related("unit").get(
        request=transfer, state=StepState.PENDING
    )
    handler = handler_of(step)
    calendar_and_clock.go(date(2026, 3, 25))  # due 2026-03-24
    results = run_together(
        lambda: services.steps_overdue_sweep(),
        lambda: services.step_handle(actor=handler, step_id=step.pk, approve=True),
    )
    assert not [r for r in results if isinstance(r, BaseException)], results
    step.refresh_from_db()
    assert step.state == StepState.APPROVED
    assert not EarlyWarning.objects.filter(
        subject_id=str(step.pk), resolved_at__isnull=True
    ).exists()


# ----------------------------------------------------------------- crossing transfers


def test_two_crossing_transfers_completing_at_once_both_complete(
    monkeypatch, make_student, school, school_user, other_school, other_school_user
):
    """One student moves 天河 → 锦江 while another moves 锦江 → 天河, and the last steps of
    both are approved at the same moment, each completion holding its own record's lock.
    Different students: both must complete (no deadlock between the two schools)."""
    going = make_student()
    coming = make_student(school=other_school, actor=other_school_user)
    out = file_transfer(other_school_user, going)
    back = file_transfer(school_user, coming)
    for request in (out, back):
        approve_pending(request)
        approve_pending(request)
    lasts = [
        ApprovalStep.objects.select_related("unit").get(request=r, state=StepState.PENDING)
        for r in (out, back)
    ]
    handlers = [handler_of(step) for step in lasts]
    gate = threading.Barrier(2, timeout=TIMEOUT)
    real = services.record_lock

    def locked_then_wait(**kwargs):
        record = real(**kwargs)
        gate.wait()  # both records (and whatever else the lock takes) are held now
        return record

    monkeypatch.setattr(services, "record_lock", locked_then_wait)
    # when
    results = run_together(
        *(
            lambda h=h, s=s: services.step_handle(actor=h, step_id=s.pk, approve=True)
            for h, s in zip(handlers, lasts, strict=True)
        )
    )
    # then
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert StatusRecord.objects.get(pk=going.pk).school_id == other_school.pk
    assert StatusRecord.objects.get(pk=coming.pk).school_id == school.pk
