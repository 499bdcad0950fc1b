"""The daily sweep of approval steps: overdue steps warned to their unit and the level above,
idempotently; warnings resolved when the step is handled or the request closes; deadlines
recomputed once a missing year is loaded; the command, the listing and the task."""

from datetime import date
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django_tasks import TaskResultStatus

from tests.factories import authority_user
from xueji.accounts.models import UnitKind
from xueji.accounts.services import unit_ensure_for_division
from xueji.audit.models import AuditEvent, EarlyWarning, WarningRole
from xueji.audit.warnings import warning_count, warnings_for
from xueji.changes import services
from xueji.changes.models import ApprovalStep
from xueji.changes.rules import RefusalReason, StepState
from xueji.changes.tasks import sweep_changes_task
from xueji.workdays.rules import HolidayRange

from .transfers import Held, approve_pending, file_transfer, handler_of, hold_clock

pytestmark = pytest.mark.django_db

OVERDUE = "change.step_overdue"
# Filed Tuesday 2026-03-10: the receiving authority's step is due Tuesday 2026-03-24.
FILED = date(2026, 3, 10)
DUE = date(2026, 3, 24)


@pytest.fixture
def held(monkeypatch) -> Held:
    return hold_clock(monkeypatch, FILED)


@pytest.fixture
def transfer(held, make_student, other_school_user):
    """A cross-province transfer waiting for the receiving authority (成都市锦江区)."""
    return file_transfer(other_school_user, make_student())


def pending_step(request) -> ApprovalStep:
    return ApprovalStep.objects.select_related("unit").get(request=request, state=StepState.PENDING)


def open_warnings(**filters):
    return EarlyWarning.objects.filter(resolved_at__isnull=True, **filters)


def load_2027(national_user) -> None:
    from xueji.workdays.services import calendar_year_load

    calendar_year_load(
        actor=national_user,
        year=2027,
        holidays=[HolidayRange(date(2027, 1, 1), date(2027, 1, 1), "元旦")],
        makeup_days=[],
        notice="国办发明电〔2026〕1号",
    )


# ----------------------------------------------------------------- overdue steps


def test_a_step_is_not_overdue_on_its_due_date(held, transfer):
    step = pending_step(transfer)
    assert step.due_date == DUE
    held.go(DUE)
    assert services.steps_overdue_sweep() == {"overdue": 0, "calendar_missing": 0, "recomputed": 0}
    assert not EarlyWarning.objects.exists()


def test_an_overdue_step_warns_its_unit_and_the_level_above(held, transfer):
    step = pending_step(transfer)
    county = unit_ensure_for_division(division_code="510104")
    city = unit_ensure_for_division(division_code="510100")
    assert step.unit == county
    # when
    held.go(date(2026, 3, 25))
    counts = services.steps_overdue_sweep()
    # then
    assert counts == {"overdue": 1, "calendar_missing": 0, "recomputed": 0}
    warnings = {w.unit_id: w for w in open_warnings(kind=OVERDUE)}
    assert set(warnings) == {county.pk, city.pk}
    party, above = warnings[county.pk], warnings[city.pk]
    assert (party.role, above.role) == (WarningRole.PARTY, WarningRole.ABOVE)
    for warning in (party, above):
        assert (warning.subject_type, warning.subject_id) == ("changes.step", str(step.pk))
        assert warning.due_date == DUE
        assert warning.detail == {"request_id": transfer.pk, "step": 2}
        assert transfer.student.number_masked in warning.message
        assert "2026-03-24" in warning.message
    # the reviewers of both units see it
    assert [w.pk for w in warnings_for(authority_user("510104"))] == [party.pk]
    assert warning_count(authority_user("510100")) == 1


def test_a_schools_overdue_step_escalates_to_its_county(held, transfer, school, county_user):
    held.go(date(2026, 3, 11))
    approve_pending(transfer)  # the receiving authority: the sending school's turn
    step = pending_step(transfer)
    assert step.unit == school.unit and step.due_date == date(2026, 3, 25)
    held.go(date(2026, 3, 26))
    services.steps_overdue_sweep()
    assert {(w.unit_id, w.role) for w in open_warnings(kind=OVERDUE)} == {
        (school.unit.pk, WarningRole.PARTY),
        (county_user.unit_id, WarningRole.ABOVE),
    }


def test_running_the_sweep_again_does_not_duplicate(held, transfer):
    held.go(date(2026, 3, 25))
    services.steps_overdue_sweep()
    raised = AuditEvent.objects.filter(action="warning.raise").count()
    first_seen = {w.pk: w.last_seen_at for w in open_warnings()}
    # when: twice more, the same day and the next
    services.steps_overdue_sweep()
    held.go(date(2026, 3, 26))
    assert services.steps_overdue_sweep()["overdue"] == 1
    # then
    assert open_warnings().count() == EarlyWarning.objects.count() == 2
    assert AuditEvent.objects.filter(action="warning.raise").count() == raised == 2
    assert all(w.last_seen_at > first_seen[w.pk] for w in open_warnings())


def test_handling_the_step_resolves_its_warnings(held, transfer):
    held.go(date(2026, 3, 25))
    services.steps_overdue_sweep()
    step = pending_step(transfer)
    # when
    services.step_handle(actor=handler_of(step), step_id=step.pk, approve=True)
    # then
    assert not open_warnings().exists()
    resolved = EarlyWarning.objects.filter(subject_id=str(step.pk))
    assert resolved.count() == 2
    assert {w.resolved_reason for w in resolved} == {"handled"}
    # the next step started today and is not overdue: the next sweep raises nothing
    assert services.steps_overdue_sweep()["overdue"] == 0
    assert not open_warnings().exists()


def test_a_refusal_resolves_its_warnings(held, transfer):
    held.go(date(2026, 3, 25))
    services.steps_overdue_sweep()
    step = pending_step(transfer)
    services.step_handle(
        actor=handler_of(step),
        step_id=step.pk,
        approve=False,
        refusal_reason=RefusalReason.MATERIALS_MISSING,
        comment="缺户籍证明",
    )
    assert not open_warnings().exists()


def test_a_withdrawal_resolves_its_warnings(held, transfer, other_school_user):
    held.go(date(2026, 3, 25))
    services.steps_overdue_sweep()
    services.change_withdraw(actor=other_school_user, request_id=transfer.pk, reason="不转了")
    assert not open_warnings().exists()
    assert services.steps_overdue_sweep()["overdue"] == 0


def handle_the_other_first(request_a, request_b):
    """Which step the sweep reaches first depends on its listing order: whichever it is,
    the other one is handled (by its unit) at that moment."""
    steps = {step.pk: step for step in (pending_step(request_a), pending_step(request_b))}
    handlers = {pk: handler_of(step) for pk, step in steps.items()}
    handled: list[int] = []

    def at(step_id: int) -> None:
        if handled:
            return
        (other,) = set(steps) - {int(step_id)}
        handled.append(other)
        services.step_handle(actor=handlers[other], step_id=other, approve=True)

    return at, handled


def test_a_step_handled_while_the_sweep_runs_is_not_warned(
    held, make_student, other_school_user, monkeypatch
):
    """The sweep lists two overdue steps; one is handled while the other is being warned.
    The sweep must not then warn about the handled step: that warning would stay open for
    ever, since nothing resolves it any more."""
    first = file_transfer(other_school_user, make_student())
    second = file_transfer(other_school_user, make_student())
    at, handled = handle_the_other_first(first, second)
    held.go(date(2026, 3, 25))
    real = services.warning_raise

    def raise_then_handle(**kwargs):
        warnings = real(**kwargs)
        at(kwargs["subject_id"])
        return warnings

    monkeypatch.setattr(services, "warning_raise", raise_then_handle)
    # when
    counts = services.steps_overdue_sweep()
    # then
    assert counts["overdue"] == 1
    assert not open_warnings(subject_id=str(handled[0])).exists()
    assert open_warnings(kind=OVERDUE).count() == 2
    assert ApprovalStep.objects.get(pk=handled[0]).state == StepState.APPROVED


# ----------------------------------------------------------------- missing calendars


def test_a_missing_calendar_is_counted_then_recomputed_and_audited(
    held, make_student, other_school_user, national_user
):
    held.go(date(2026, 12, 28))
    request = file_transfer(other_school_user, make_student())
    step = pending_step(request)
    warning = EarlyWarning.objects.get(kind="calendar.missing")
    assert warning.unit.kind == UnitKind.NATIONAL and warning.role == WarningRole.PARTY
    assert EarlyWarning.objects.count() == 1  # not escalated: the nation has no level above
    held.go(date(2026, 12, 31))
    assert services.steps_overdue_sweep() == {
        "overdue": 0,
        "calendar_missing": 1,
        "recomputed": 0,
    }
    # when 2027 is loaded, the sweep on 2027-01-13 recomputes the deadline (2027-01-12)
    # from the original start and, the day being past, warns about it at once
    load_2027(national_user)
    held.go(date(2027, 1, 13))
    counts = services.steps_overdue_sweep()
    # then
    assert counts == {"overdue": 1, "calendar_missing": 0, "recomputed": 1}
    step.refresh_from_db()
    assert (step.due_date, step.calendar_missing) == (date(2027, 1, 12), False)
    assert not open_warnings(kind="calendar.missing").exists()
    assert open_warnings(kind=OVERDUE).count() == 2
    event = AuditEvent.objects.get(action="change.step_deadline")
    assert event.actor_username == "system:sweep_changes"
    assert event.object_id == str(request.pk)
    assert event.detail == {"step": 2, "due_date": "2027-01-12"}


def test_a_step_handled_while_its_deadline_is_recomputed_stays_handled(
    held, make_student, other_school_user, national_user, monkeypatch
):
    """Two steps wait for 2027; one is approved while the other's deadline is recomputed.
    The sweep must not write the approved one back to pending from the copy it listed."""
    held.go(date(2026, 12, 28))
    first = file_transfer(other_school_user, make_student())
    second = file_transfer(other_school_user, make_student())
    at, handled = handle_the_other_first(first, second)
    load_2027(national_user)
    real = services._activate

    def handle_then_activate(step, **kwargs):
        at(step.pk)
        return real(step, **kwargs)

    monkeypatch.setattr(services, "_activate", handle_then_activate)
    # when
    counts = services.steps_overdue_sweep()
    # then
    approved = ApprovalStep.objects.get(pk=handled[0])
    assert approved.state == StepState.APPROVED
    for request in (first, second):
        assert ApprovalStep.objects.filter(request=request, state=StepState.PENDING).count() == 1
    assert pending_step(approved.request).seq == 3
    assert counts == {"overdue": 0, "calendar_missing": 0, "recomputed": 1}
    recomputed = [pending_step(r) for r in (first, second) if r.pk != approved.request_id]
    assert recomputed[0].due_date == date(2027, 1, 12)


# ----------------------------------------------------------------- command and task


def test_the_command_prints_the_counts(held, transfer):
    out = StringIO()
    call_command("sweep_changes", "--today", "2026-03-25", stdout=out)
    assert "逾期环节 1 个" in out.getvalue()
    assert "仍缺工作日历 0 个" in out.getvalue()
    assert "已补算期限 0 个" in out.getvalue()
    assert open_warnings(kind=OVERDUE).count() == 2
    event = AuditEvent.objects.filter(action="warning.raise").first()
    assert event is not None and event.channel == "cli"


def test_the_command_defaults_to_today(held, transfer):
    out = StringIO()
    call_command("sweep_changes", stdout=out)
    assert "逾期环节 0 个" in out.getvalue()
    held.go(date(2026, 3, 25))
    call_command("sweep_changes", stdout=out)
    assert "逾期环节 1 个" in out.getvalue()


def test_the_command_refuses_a_bad_date(held):
    with pytest.raises(CommandError):
        call_command("sweep_changes", "--today", "2026-13-01")


def test_the_listing_shows_overdue_and_missing_steps(
    held, transfer, make_student, other_school_user
):
    held.go(date(2026, 12, 28))
    waiting = file_transfer(other_school_user, make_student())
    out, err = StringIO(), StringIO()
    with pytest.raises(SystemExit) as exit_status:
        call_command("changes_overdue", "--today", "2026-12-28", stdout=out, stderr=err)
    assert exit_status.value.code == 1
    lines = [line.split("\t") for line in out.getvalue().splitlines()]
    assert [line[0] for line in lines] == [str(waiting.pk), str(transfer.pk)]
    assert lines[0][6:] == ["-", "-"]
    # 2026-03-25 … 2026-12-28: every working day after the due date
    assert lines[1][2] == transfer.student.number_masked
    assert lines[1][5:7] == ["2026-03-10", "2026-03-24"]
    assert int(lines[1][7]) > 180
    assert "共 2 个环节" in err.getvalue()


def test_the_listing_is_quiet_when_nothing_is_late(held, transfer):
    out, err = StringIO(), StringIO()
    call_command("changes_overdue", "--today", "2026-03-24", stdout=out, stderr=err)
    assert out.getvalue() == ""


def test_the_task_runs_the_same_sweep(held, transfer):
    held.go(date(2026, 3, 25))
    result = sweep_changes_task.enqueue()
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == {"overdue": 1, "calendar_missing": 0, "recomputed": 0}
    assert open_warnings(kind=OVERDUE).count() == 2
    event = AuditEvent.objects.filter(action="warning.raise").first()
    assert event is not None and event.channel == "task"
