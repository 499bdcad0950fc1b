"""The demo's activity: every demo account meets real work, created through the services."""

from datetime import datetime

import pytest

from xueji.accounts.models import User
from xueji.anomalies.models import Finding
from xueji.anomalies.rules import FindingKind, FindingState
from xueji.changes.models import ApprovalStep, ChangeRequest
from xueji.changes.rules import ChangeType, RequestState, StepState
from xueji.exchange.demo_accounts import ensure_demo_accounts
from xueji.exchange.demo_activity import ensure_demo_activity
from xueji.exchange.synthetic import DemoPlan, generate
from xueji.students.models import Student
from xueji.verification.models import Campaign, RollMark
from xueji.verification.rules import Mark

pytestmark = pytest.mark.django_db


def test_demo_activity_gives_the_county_a_queue_and_opens_a_campaign(settings, monkeypatch):
    # given a small synthetic registry and the demo accounts, on a day no rule blocks
    monkeypatch.setattr(
        "xueji.clock.now",
        lambda: datetime.fromisoformat("2026-11-10T10:00:00+08:00"),
    )
    monkeypatch.setattr("xueji.clock.today", lambda: datetime(2026, 11, 10).date())
    generate(plan=DemoPlan(students=600, schools=12))
    accounts = {a.username: a for a in ensure_demo_accounts()}
    assert "demo-county" in accounts

    # when
    created = ensure_demo_activity()

    # then: transfers into the demo school wait at its county, filed with their materials
    transfers = ChangeRequest.objects.filter(change_type=ChangeType.TRANSFER)
    assert transfers.exists()
    for request in transfers:
        assert request.state == RequestState.OPEN
        assert request.materials.exists()
        pending = ApprovalStep.objects.get(request=request, state=StepState.PENDING)
        assert pending.unit.kind == "county"
    assert Campaign.objects.count() == 1
    # the demo school began its roll: two pupils absent with the reason; the rest wait
    # for the demo clerk, so the school has not signed off
    absent = RollMark.objects.filter(mark=Mark.ABSENT)
    assert absent.count() == 2 and all(m.note for m in absent)
    unit = User.objects.get(username="demo-school").unit
    assert unit is not None and unit.school_id is not None
    school_id = unit.school_id
    assert {m.school_id for m in absent} == {school_id}
    assert RollMark.objects.filter(school_id=school_id, mark=Mark.UNMARKED).exists()
    # children registered again (same name, or a homophone) wait in the review queues
    registered = [c for c in created if c.startswith("重复注册")]
    assert registered
    # The report names them by masked number (it is printed): L numbers, all different.
    numbers = [line.split("→")[1].strip() for line in registered]
    again = [s for s in Student.objects.order_by("pk") if s.number_masked in numbers]
    assert len(again) == len(registered) and all(s.number_kind == "L" for s in again)
    duplicates = Finding.objects.filter(kind=FindingKind.DUPLICATE, state=FindingState.OPEN)
    paired = {s.pk for f in duplicates for s in (f.student, f.other_student)}
    assert {s.pk for s in again} <= paired
    # the nightly linkage ran too: its probability and reasons are on those findings
    linked = [f for f in duplicates if f.evidence.get("linkage")]
    assert {s.pk for s in again} <= {s.pk for f in linked for s in (f.student, f.other_student)}
    assert all(f.evidence["linkage"]["reasons"] for f in linked)
    assert created
    # Running the demo again adds nothing.
    assert ensure_demo_activity() == []
    assert ChangeRequest.objects.count() == len([c for c in created if "申请" in c])
    assert Finding.objects.filter(kind=FindingKind.DUPLICATE).count() == duplicates.count()
