"""What a warning reads like on the 预警 page and in GET /api/warnings: a Chinese title for
its kind (never the raw code), its change request named and linked (not the step), and the
days past its due date."""

from datetime import date, timedelta

import pytest
from django.test import Client

from tests.factories import make_user
from xueji.accounts.models import Role
from xueji.accounts.services import unit_ensure_national
from xueji.audit.models import EarlyWarning
from xueji.audit.warnings import WarningKind, kind_title, warning_raise
from xueji.changes import services
from xueji.changes.models import ApprovalStep
from xueji.changes.rules import StepState
from xueji.changes.tests.transfers import file_transfer, hold_clock
from xueji.verification.rules import OVERDUE_KIND

pytestmark = pytest.mark.django_db

FILED = date(2026, 3, 10)
DUE = date(2026, 3, 24)  # the receiving authority's step: ten working days


@pytest.fixture
def held(monkeypatch):
    return hold_clock(monkeypatch, FILED)


@pytest.fixture
def overdue(held, make_student, other_school_user):
    """A transfer whose pending step (成都市锦江区) is five days past its deadline, swept."""
    request = file_transfer(other_school_user, make_student())
    held.go(DUE + timedelta(days=5))
    services.steps_overdue_sweep()
    step = ApprovalStep.objects.select_related("unit").get(request=request, state=StepState.PENDING)
    return request, step


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_every_kind_the_registry_raises_has_a_title():
    for kind in (services.STEP_OVERDUE, services.CALENDAR_MISSING, OVERDUE_KIND):
        assert kind in WarningKind.values
        assert kind_title(kind) != kind
    assert kind_title("something.new") == "其他预警"


def test_the_page_shows_the_title_the_request_link_and_the_days(overdue):
    request, step = overdue
    reviewer = make_user(step.unit, roles=(Role.REVIEWER,))
    response = _client(reviewer).get("/warnings/")
    body = response.content.decode()
    assert "change.step_overdue" not in body
    assert "变动环节超过办理期限" in body
    assert f'href="/changes/{request.pk}/"' in body
    assert f"/changes/steps/{step.pk}" not in body
    [row] = response.context["rows"]
    assert row["subject"] == f"变动申请 #{request.pk}"
    assert row["days_overdue"] == 5


def test_the_level_above_gets_the_same_link(overdue):
    request, step = overdue
    above = make_user(step.unit.parent, roles=(Role.REVIEWER,))
    [row] = _client(above).get("/warnings/").context["rows"]
    assert row["url"] == f"/changes/{request.pk}/"
    assert row["warning"].role == "above"


def test_an_older_step_warning_without_the_request_id_still_links_the_request(overdue):
    request, step = overdue
    EarlyWarning.objects.update(detail={})
    reviewer = make_user(step.unit, roles=(Role.REVIEWER,))
    [row] = _client(reviewer).get("/warnings/").context["rows"]
    assert row["url"] == f"/changes/{request.pk}/"


def test_the_api_answers_the_same(overdue):
    request, step = overdue
    reviewer = make_user(step.unit, roles=(Role.REVIEWER,))
    answer = _client(reviewer).get("/api/warnings").json()
    [item] = answer["items"]
    assert item["kind"] == "change.step_overdue"
    assert item["title"] == "变动环节超过办理期限"
    assert item["subject"] == f"变动申请 #{request.pk}"
    assert item["url"] == f"/changes/{request.pk}/"
    assert item["days_overdue"] == 5


def test_a_missing_calendar_links_its_request_and_has_no_days(
    held, make_student, other_school_user
):
    # Filed on 2026-12-28: ten working days run into 2027, whose calendar is not loaded.
    held.go(date(2026, 12, 28))
    request = file_transfer(other_school_user, make_student())
    [warning] = EarlyWarning.objects.filter(kind=WarningKind.CALENDAR_MISSING)
    # The account is made on the held clock: it was seen "just now", not weeks ago.
    national = make_user(unit_ensure_national(), roles=(Role.REVIEWER,))
    response = _client(national).get("/warnings/")
    assert response.status_code == 200, response
    [row] = response.context["rows"]
    assert row["warning"] == warning
    assert row["title"] == "缺少工作日历，办理期限无法计算"
    assert row["url"] == f"/changes/{request.pk}/"
    assert row["days_overdue"] is None
    assert "calendar.missing" not in response.content.decode()


def test_a_warning_not_yet_past_due_shows_zero_days(held, school_user, school):
    warning_raise(
        kind=WarningKind.CAMPAIGN_OVERDUE,
        unit=school.unit,
        subject_type="verification.confirmation",
        subject_id=1,
        message="核准逾期",
        due_date=FILED + timedelta(days=3),
        detail={"url": "/verification/1/schools/1/"},
    )
    [row] = _client(school_user).get("/warnings/").context["rows"]
    assert (row["title"], row["days_overdue"], row["url"]) == (
        "学期核准逾期未签报",
        0,
        "/verification/1/schools/1/",
    )
