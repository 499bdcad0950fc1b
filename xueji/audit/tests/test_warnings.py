"""Early warnings: raising (idempotent, escalated), resolving, and who reads which."""

from datetime import date, timedelta
from unittest import mock

import pytest
from django.db.models import QuerySet

from tests import factories
from xueji import clock
from xueji.accounts.models import UnitKind
from xueji.accounts.services import unit_ensure_national
from xueji.audit.models import AuditEvent, EarlyWarning, WarningRole
from xueji.audit.warnings import (
    days_overdue,
    warning_count,
    warning_raise,
    warning_resolve,
    warnings_for,
    warnings_in_scope,
)

pytestmark = pytest.mark.django_db


def _raise(unit, subject_id=42, **overrides):
    args = {
        "kind": "transfer.step_overdue",
        "unit": unit,
        "subject_type": "changes.step",
        "subject_id": subject_id,
        "message": "转学审批步骤已超期",
        "due_date": date(2026, 3, 2),
    }
    args.update(overrides)
    return warning_raise(**args)


def test_raise_warns_the_party_and_the_level_above(school):
    party, above = _raise(school.unit)
    assert party.unit == school.unit and party.role == WarningRole.PARTY
    assert above.unit == school.unit.parent and above.role == WarningRole.ABOVE
    assert above.unit.kind == UnitKind.COUNTY
    assert party.subject_id == "42" and party.resolved_at is None
    assert party.raised_at == party.last_seen_at


def test_raise_is_idempotent_and_touches_the_open_warning(school):
    """A daily sweep raising the same warning again keeps one row per unit, seen later."""
    first = _raise(school.unit, now=clock.now() - timedelta(days=1))
    again = _raise(school.unit, message="转学审批步骤已超期 2 天", due_date=date(2026, 3, 3))
    assert [w.pk for w in again] == [w.pk for w in first]
    assert EarlyWarning.objects.count() == 2
    party = EarlyWarning.objects.get(pk=first[0].pk)
    assert party.last_seen_at > party.raised_at
    assert party.message == "转学审批步骤已超期 2 天"
    assert party.due_date == date(2026, 3, 3)
    # One audit event per new warning, none for the touch.
    assert AuditEvent.objects.filter(action="warning.raise").count() == 2


def test_raise_without_escalation_warns_the_party_only(school):
    assert len(_raise(school.unit, escalate=False)) == 1
    assert not EarlyWarning.objects.filter(unit=school.unit.parent).exists()


def test_raise_at_the_top_has_nobody_above(db):
    national = unit_ensure_national()
    warnings = _raise(national, kind="calendar.missing", subject_type="workdays.year")
    assert [w.role for w in warnings] == [WarningRole.PARTY]


def test_a_concurrent_insert_is_taken_over_not_duplicated(school):
    """When another sweep inserted the open row between the look-up and the insert, the
    partial unique constraint refuses the second and the existing row is touched."""
    _raise(school.unit)
    with mock.patch.object(QuerySet, "first", return_value=None):
        again = _raise(school.unit)
    assert len(again) == 2
    assert EarlyWarning.objects.count() == 2


def test_resolve_closes_both_units_and_a_new_one_can_follow(school, school_user):
    _raise(school.unit)
    _raise(school.unit, subject_id=43)
    assert (
        warning_resolve(
            subject_type="changes.step", subject_id=42, reason="已办理", actor=school_user
        )
        == 2
    )
    closed = EarlyWarning.objects.filter(subject_id="42")
    assert all(w.resolved_at is not None for w in closed)
    assert {w.resolved_by_username for w in closed} == {school_user.username}
    assert {w.resolved_reason for w in closed} == {"已办理"}
    assert EarlyWarning.objects.filter(subject_id="43", resolved_at__isnull=True).count() == 2
    assert AuditEvent.objects.filter(action="warning.resolve", object_id="42").count() == 1
    # Resolving again finds nothing open; raising again opens a fresh warning.
    assert warning_resolve(subject_type="changes.step", subject_id="42") == 0
    assert len(_raise(school.unit)) == 2
    assert EarlyWarning.objects.filter(subject_id="42").count() == 4


def test_resolve_by_kind_leaves_other_kinds_open(school):
    _raise(school.unit)
    _raise(school.unit, kind="transfer.step_due_soon")
    assert (
        warning_resolve(subject_type="changes.step", subject_id=42, kind="transfer.step_overdue")
        == 2
    )
    still_open = EarlyWarning.objects.filter(resolved_at__isnull=True)
    assert {w.kind for w in still_open} == {"transfer.step_due_soon"}


def test_warnings_for_reads_the_own_unit_only(
    school, other_school, school_user, other_school_user, county_user
):
    _raise(school.unit)
    _raise(other_school.unit, subject_id=99)
    assert [w.subject_id for w in warnings_for(school_user)] == ["42"]
    assert [w.subject_id for w in warnings_for(other_school_user)] == ["99"]
    # The county is the level above school A: the escalated copy is its own.
    mine = list(warnings_for(county_user))
    assert [(w.subject_id, w.role) for w in mine] == [("42", WarningRole.ABOVE)]
    assert warning_count(school_user) == 1 and warning_count(county_user) == 1


def test_warnings_for_orders_most_urgent_first_and_filters_resolved(school, school_user):
    _raise(school.unit, subject_id=1, due_date=date(2026, 3, 10))
    _raise(school.unit, subject_id=2, due_date=date(2026, 3, 1))
    _raise(school.unit, subject_id=3, due_date=None)
    assert [w.subject_id for w in warnings_for(school_user)] == ["2", "1", "3"]
    warning_resolve(subject_type="changes.step", subject_id=1)
    assert [w.subject_id for w in warnings_for(school_user)] == ["2", "3"]
    assert [w.subject_id for w in warnings_for(school_user, resolved_only=True)] == ["1"]
    assert len(warnings_for(school_user, open_only=False)) == 3


def test_subtree_overview_shows_each_problem_at_its_party(
    school, other_school, county_user, city_user, province_user, national_user, school_user
):
    neighbour = factories.SchoolFactory(division_code="440106")
    _raise(school.unit, subject_id=1)
    _raise(neighbour.unit, subject_id=2)
    _raise(other_school.unit, subject_id=3)
    _raise(county_user.unit, subject_id=4, kind="death.overdue")

    def seen(user):
        return sorted(w.subject_id for w in warnings_in_scope(user))

    assert seen(county_user) == ["1", "2", "4"]
    assert seen(city_user) == ["1", "2", "4"]
    assert seen(province_user) == ["1", "2", "4"]
    assert seen(national_user) == ["1", "2", "3", "4"]
    # A school's subtree is itself: never another school's warnings.
    assert seen(school_user) == ["1"]
    assert all(w.role == WarningRole.PARTY for w in warnings_in_scope(national_user))
    assert seen(factories.authority_user("510104")) == ["3"]


def test_an_account_without_unit_reads_nothing(school):
    _raise(school.unit)
    nobody = factories.make_user(school.unit, roles=("reviewer",))
    nobody.unit, nobody.unit_id = None, None
    assert list(warnings_for(nobody)) == []
    assert list(warnings_in_scope(nobody)) == []


def test_days_overdue_counts_calendar_days_after_the_due_date():
    due = date(2026, 3, 2)
    assert days_overdue(due, date(2026, 3, 1)) == 0
    assert days_overdue(due, due) == 0
    assert days_overdue(due, date(2026, 3, 5)) == 3
    assert days_overdue(None, date(2026, 3, 5)) == 0


def test_a_warning_never_stores_a_full_number(school):
    """Warnings are read in lists by every clerk and reviewer of the subtree: a full student
    or ID number given by the caller is stored masked, in the message, detail and audit."""
    number = "G440106201608080886"
    raised = _raise(
        school.unit,
        message=f"学生（{number}）转学步骤超期",
        detail={"numbers": [number, "440106201608080886"]},
    )
    assert len(raised) == 2
    for warning in EarlyWarning.objects.order_by("pk"):
        assert number not in warning.message and "G440106********0886" in warning.message
        assert warning.detail == {"numbers": ["G440106********0886", "440106********0886"]}
    for event in AuditEvent.objects.filter(action="warning.raise").order_by("pk"):
        assert "201608080886" not in event.summary
