"""A request follows the rule-set version in force when it was filed: a version published
afterwards changes new requests only.

The clock is held at Tuesday 2026-03-10 (spring semester, no holiday within 10 working
days), so the deadlines below are plain weekdays of the seeded 2026 calendar.
"""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.factories import SchoolFactory, make_user
from xueji import clock
from xueji.accounts.models import Role, UnitKind
from xueji.changes import services
from xueji.changes.models import ApprovalStep, ChangeRequest
from xueji.changes.rules import TRANSFER_CHAIN, Party, StepState
from xueji.changes.rulesets import ruleset_publish
from xueji.errors import ValidationFailed

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
REORDERED = [
    Party.RECEIVING_SCHOOL,
    Party.SENDING_SCHOOL,
    Party.RECEIVING_AUTHORITY,
    Party.SENDING_AUTHORITY,
]


@pytest.fixture
def held(monkeypatch):
    moment = {"now": datetime.combine(date(2026, 3, 10), time(10, 0), tzinfo=SHANGHAI)}
    monkeypatch.setattr(clock, "now", lambda: moment["now"])
    monkeypatch.setattr(clock, "today", lambda: moment["now"].date())
    return moment


@pytest.fixture
def receiving():
    return SchoolFactory(name="天河区第二小学", division_code="440106")


def file_transfer(receiving, student) -> ChangeRequest:
    return services.transfer_file(
        actor=make_user(receiving.unit),
        student_number=student.number,
        student_name=student.name,
        reason="随父母工作调动转学",
        uploads=[
            ("application", SimpleUploadedFile("申请表.pdf", b"%PDF-1.4\n", "application/pdf"))
        ],
    )


def steps_of(request: ChangeRequest) -> list[ApprovalStep]:
    return list(ApprovalStep.objects.filter(request=request).order_by("seq"))


def approve_pending(request: ChangeRequest) -> None:
    step = ApprovalStep.objects.select_related("unit").get(request=request, state=StepState.PENDING)
    role = Role.CLERK if step.unit.kind == UnitKind.SCHOOL else Role.REVIEWER
    services.step_handle(actor=make_user(step.unit, roles=(role,)), step_id=step.pk, approve=True)


def test_a_request_keeps_its_version_after_a_new_one_is_published(
    held, province_user, make_student, receiving
):
    # given: 广东 v1 gives each transfer step 8 working days
    v1 = ruleset_publish(
        actor=province_user,
        province_code="44",
        rules={"transfer": {"step_days": 8}},
        note="转学每步 8 个工作日",
    )
    old = file_transfer(receiving, make_student())
    assert old.province_ruleset == v1
    assert old.national_ruleset is not None and old.national_ruleset.version == 1
    assert [s.days for s in steps_of(old)] == [8, 8, 8, 8]
    # when: v2 reorders the chain and shortens the steps, an hour later
    held["now"] += timedelta(hours=1)
    v2 = ruleset_publish(
        actor=province_user,
        province_code="44",
        rules={"transfer": {"step_days": 5, "chain": REORDERED}},
        note="转出学校先核办，每步 5 个工作日",
    )
    approve_pending(old)  # the receiving authority's step, under v1
    # then: the old request follows its snapshot (v1's chain and days)
    old.refresh_from_db()
    assert old.province_ruleset == v1
    assert old.rule["step_days"] == 8
    assert old.rule["chain"] == list(TRANSFER_CHAIN)
    steps = steps_of(old)
    assert [s.party for s in steps] == list(TRANSFER_CHAIN)
    assert [s.days for s in steps] == [8, 8, 8, 8]
    third = steps[2]
    assert (third.party, third.state) == (Party.SENDING_SCHOOL, StepState.PENDING)
    assert third.due_date == date(2026, 3, 20)  # 8 working days after Tue 03-10
    # and a new request follows v2
    new = file_transfer(receiving, make_student())
    assert new.province_ruleset == v2
    assert new.rule["step_days"] == 5
    assert new.rule["chain"] == REORDERED
    steps = steps_of(new)
    assert [s.party for s in steps] == REORDERED
    assert [s.days for s in steps] == [5, 5, 5, 5]
    second = steps[1]
    assert (second.party, second.state) == (Party.SENDING_SCHOOL, StepState.PENDING)
    assert second.due_date == date(2026, 3, 17)  # 5 working days after Tue 03-10


def test_a_scheduled_version_applies_to_requests_filed_from_its_time(
    held, province_user, make_student, receiving
):
    start = held["now"]
    scheduled = ruleset_publish(
        actor=province_user,
        province_code="44",
        rules={"transfer": {"step_days": 6}},
        note="下周起每步 6 个工作日",
        effective_from=start + timedelta(days=7),
    )
    before = file_transfer(receiving, make_student())
    assert before.province_ruleset is None
    assert {s.days for s in steps_of(before)} == {10}
    held["now"] = start + timedelta(days=7)
    after = file_transfer(receiving, make_student())
    assert after.province_ruleset == scheduled
    assert {s.days for s in steps_of(after)} == {6}


def test_a_disabled_type_refuses_new_filings(held, province_user, make_student, receiving):
    ruleset_publish(
        actor=province_user,
        province_code="44",
        rules={"transfer": {"enabled": False}},
        note="暂停办理转学",
    )
    with pytest.raises(ValidationFailed) as caught:
        file_transfer(receiving, make_student())
    assert "change.disabled" in {e.code for e in caught.value.errors}
