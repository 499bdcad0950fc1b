"""The daily campaign sweep: schools not signed off after the deadline are warned, and so is
the level above; idempotent; sign-off and closing resolve the warnings; the command and
the task."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django_tasks import TaskResultStatus

from xueji.accounts.services import unit_ensure_for_division
from xueji.audit.models import AuditEvent, EarlyWarning, WarningRole
from xueji.verification import services
from xueji.verification.models import SchoolConfirmation
from xueji.verification.rules import CONFIRMATION_SUBJECT, OVERDUE_KIND
from xueji.verification.tasks import campaign_sweep_task

pytestmark = pytest.mark.django_db


def open_warnings(**filters):
    return EarlyWarning.objects.filter(kind=OVERDUE_KIND, resolved_at__isnull=True, **filters)


@pytest.fixture
def campaign(schools, enrol, open_campaign, clerk_of):
    """广东's campaign: 天河 1 signed off, 天河 2, 越秀 and 福田 not."""
    enrol(schools.tianhe, 1)
    campaign = open_campaign("44")
    services.roll_mark_all_present_except(actor=clerk_of(schools.tianhe), campaign_id=campaign.pk)
    services.school_sign_off(actor=clerk_of(schools.tianhe), campaign_id=campaign.pk)
    return campaign


def test_nothing_is_overdue_on_the_deadline(campaign):
    assert services.campaigns_overdue_sweep(today=campaign.deadline) == {
        "campaigns": 0,
        "overdue": 0,
    }
    assert not EarlyWarning.objects.exists()


def test_a_late_school_and_the_level_above_are_warned(campaign, schools):
    # when
    counts = services.campaigns_overdue_sweep(today=campaign.deadline + timedelta(days=1))
    # then the three schools that did not sign off are warned, each with its county above
    assert counts == {"campaigns": 1, "overdue": 3}
    late = SchoolConfirmation.objects.get(campaign=campaign, school=schools.tianhe2)
    warnings = open_warnings(subject_type=CONFIRMATION_SUBJECT, subject_id=str(late.pk))
    tianhe = unit_ensure_for_division(division_code="440106")
    assert {(w.unit_id, w.role) for w in warnings} == {
        (schools.tianhe2.unit.pk, WarningRole.PARTY),
        (tianhe.pk, WarningRole.ABOVE),
    }
    party = warnings.get(role=WarningRole.PARTY)
    assert party.due_date == campaign.deadline
    assert "天河区第二小学" in party.message
    assert party.detail["url"] == f"/verification/{campaign.pk}/schools/{schools.tianhe2.pk}/"
    # the signed-off school is not warned
    signed = SchoolConfirmation.objects.get(campaign=campaign, school=schools.tianhe)
    assert not open_warnings(subject_id=str(signed.pk)).exists()
    assert open_warnings().count() == 6


def test_the_sweep_is_idempotent(campaign):
    later = campaign.deadline + timedelta(days=1)
    services.campaigns_overdue_sweep(today=later)
    raised = AuditEvent.objects.filter(action="warning.raise").count()
    services.campaigns_overdue_sweep(today=later)
    services.campaigns_overdue_sweep(today=later + timedelta(days=3))
    assert open_warnings().count() == 6
    assert AuditEvent.objects.filter(action="warning.raise").count() == raised


def test_signing_off_late_resolves_the_warnings(campaign, schools, clerk_of):
    services.campaigns_overdue_sweep(today=campaign.deadline + timedelta(days=1))
    late = SchoolConfirmation.objects.get(campaign=campaign, school=schools.tianhe2)
    services.school_sign_off(actor=clerk_of(schools.tianhe2), campaign_id=campaign.pk)
    assert not open_warnings(subject_id=str(late.pk)).exists()
    assert open_warnings().count() == 4
    # and the next sweep leaves it alone
    services.campaigns_overdue_sweep(today=campaign.deadline + timedelta(days=2))
    assert open_warnings().count() == 4


def test_closing_the_campaign_resolves_its_warnings_and_stops_the_sweep(campaign, province_user):
    services.campaigns_overdue_sweep(today=campaign.deadline + timedelta(days=1))
    services.campaign_close(actor=province_user, campaign_id=campaign.pk)
    assert not open_warnings().exists()
    assert services.campaigns_overdue_sweep(today=campaign.deadline + timedelta(days=2)) == {
        "campaigns": 0,
        "overdue": 0,
    }


def test_the_command_sweeps_for_a_given_day(campaign):
    out = StringIO()
    call_command(
        "campaign_sweep", today=(campaign.deadline + timedelta(days=1)).isoformat(), stdout=out
    )
    assert "3" in out.getvalue()
    assert open_warnings().count() == 6
    with pytest.raises(CommandError):
        call_command("campaign_sweep", today="2026-13-01")


def test_the_task_runs_the_sweep_for_today(campaign, monkeypatch):
    from xueji import clock

    monkeypatch.setattr(clock, "today", lambda: campaign.deadline + timedelta(days=1))
    result = campaign_sweep_task.enqueue()
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == {"campaigns": 1, "overdue": 3}
    assert open_warnings().count() == 6
