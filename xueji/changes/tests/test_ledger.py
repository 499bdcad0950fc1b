"""The dropout-control ledger (控辍保学台账): cases opened by completed dropouts, follow-ups
by the school and its authority, closing by a resumption or by the authority with a reason;
its pages and its API."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from tests.factories import SchoolFactory, make_user
from xueji import clock
from xueji.accounts.models import Role
from xueji.audit.models import AuditEvent
from xueji.changes import ledger, services
from xueji.changes.models import (
    ApprovalStep,
    DropoutCase,
    DropoutCaseState,
    DropoutFollowUp,
    FollowUpMethod,
)
from xueji.changes.rules import ChangeType, StepState
from xueji.enrolment.models import StatusRecord
from xueji.enrolment.rules import StatusState
from xueji.errors import Conflict, Forbidden, NotFound, ValidationFailed

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 3, 10, 10, 0, tzinfo=SHANGHAI)
TODAY = NOW.date()


@pytest.fixture(autouse=True)
def at_2026(monkeypatch):
    monkeypatch.setattr(clock, "now", lambda: NOW)
    monkeypatch.setattr(clock, "today", lambda: TODAY)


def drop_out(student, school_user, county_user, *, on: date = TODAY) -> DropoutCase:
    """File a dropout at the school and approve it at the county: the ledger opens a case."""
    request = services.change_file(
        actor=school_user,
        student_id=student.pk,
        change_type=ChangeType.DROPOUT,
        effective_date=on,
        reason="连续旷课，家长不送学",
    )
    step = ApprovalStep.objects.get(request=request, state=StepState.PENDING)
    services.step_handle(actor=county_user, step_id=step.pk, approve=True)
    return DropoutCase.objects.get(student=student, state=DropoutCaseState.OPEN)


@pytest.fixture
def case(make_student, school_user, county_user) -> DropoutCase:
    return drop_out(make_student(), school_user, county_user)


def follow(actor, case, **overrides) -> DropoutFollowUp:
    data = {"on": TODAY, "method": FollowUpMethod.HOME_VISIT, "result": "家访，家长同意送学"}
    data.update(overrides)
    return ledger.dropout_follow_up_add(actor=actor, case_id=case.pk, **data)


# ----------------------------------------------------------------- services


def test_the_school_and_its_authority_add_follow_ups(case, school_user, county_user):
    first = follow(school_user, case, on=date(2026, 3, 10), method=FollowUpMethod.PHONE)
    second = follow(county_user, case, next_step="联系村委会协助劝返")
    assert [f.pk for f in case.follow_ups.order_by("pk")] == [first.pk, second.pk]
    assert (second.by_username, second.by_unit_id) == (county_user.username, county_user.unit_id)
    assert second.next_step == "联系村委会协助劝返"
    assert (
        AuditEvent.objects.filter(action="dropout.follow_up", object_id=str(case.pk)).count() == 2
    )


def test_a_follow_up_is_checked(case, school_user):
    with pytest.raises(ValidationFailed) as refused:
        follow(school_user, case, on=date(2026, 3, 11), method="fax", result=" ")
    assert {(e.field, e.code) for e in refused.value.errors} == {
        ("on", "follow_up.future"),
        ("method", "follow_up.method"),
        ("result", "follow_up.result_required"),
    }
    with pytest.raises(ValidationFailed) as refused:
        follow(school_user, case, on=date(2026, 3, 9))
    assert [e.code for e in refused.value.errors] == ["follow_up.before_case"]
    assert not DropoutFollowUp.objects.exists()


def test_a_case_outside_the_scope_is_not_found(case, other_school_user):
    other_authority = make_user(other_school_user.unit.parent, roles=(Role.REVIEWER,))
    for actor in (other_school_user, other_authority):
        with pytest.raises(NotFound):
            follow(actor, case)
        with pytest.raises(NotFound):
            ledger.dropout_case_detail(actor, case_id=case.pk)
        assert not ledger.dropout_case_list(actor).exists()
    # a neighbouring school in the same county sees nothing either
    neighbour = make_user(SchoolFactory(division_code="440106").unit)
    with pytest.raises(NotFound):
        follow(neighbour, case)


def test_the_authority_closes_a_case_with_a_reason_the_school_cannot(
    case, school_user, county_user, city_user
):
    with pytest.raises(Forbidden):
        ledger.dropout_case_close(actor=school_user, case_id=case.pk, reason="迁居")
    with pytest.raises(ValidationFailed):
        ledger.dropout_case_close(actor=county_user, case_id=case.pk, reason=" ")
    closed = ledger.dropout_case_close(actor=city_user, case_id=case.pk, reason="随父母迁居境外")
    assert closed.state == DropoutCaseState.CLOSED_OTHER
    assert (closed.closed_on, closed.closed_reason) == (TODAY, "随父母迁居境外")
    assert closed.closed_by_username == city_user.username
    # the record itself stays as it was
    assert StatusRecord.objects.get(pk=case.student_id).state == StatusState.DROPPED_OUT
    with pytest.raises(Conflict) as refused:
        follow(school_user, case)
    assert refused.value.code == "dropout.closed"
    with pytest.raises(Conflict):
        ledger.dropout_case_close(actor=county_user, case_id=case.pk, reason="再次")


def test_a_second_dropout_after_a_return_opens_a_new_case(
    case, school_user, county_user, handlers_resume
):
    handlers_resume(case.student)
    assert DropoutCase.objects.get(pk=case.pk).state == DropoutCaseState.RETURNED
    again = drop_out(case.student, school_user, county_user)
    assert again.pk != case.pk
    assert DropoutCase.objects.filter(student=case.student).count() == 2


@pytest.fixture
def handlers_resume(school_user, county_user):
    def resume(student):
        from django.core.files.uploadedfile import SimpleUploadedFile

        request = services.change_file(
            actor=school_user,
            student_id=student.pk,
            change_type=ChangeType.RESUME,
            effective_date=TODAY,
            reason="劝返复学",
            uploads=[("application", SimpleUploadedFile("a.pdf", b"%PDF-1.4\n"))],
        )
        step = ApprovalStep.objects.get(request=request, state=StepState.PENDING)
        services.step_handle(actor=county_user, step_id=step.pk, approve=True)

    return resume


def test_the_list_puts_the_longest_without_contact_first(
    make_student, school_user, county_user, monkeypatch
):
    early = drop_out(make_student(), school_user, county_user)
    late = drop_out(make_student(), school_user, county_user)
    followed = drop_out(make_student(), school_user, county_user)
    DropoutCase.objects.filter(pk=early.pk).update(opened_on=date(2026, 1, 5))
    DropoutCase.objects.filter(pk=late.pk).update(opened_on=date(2026, 2, 2))
    DropoutCase.objects.filter(pk=followed.pk).update(opened_on=date(2025, 12, 1))
    follow(school_user, followed, on=date(2026, 3, 1))
    rows = ledger.dropout_case_rows(ledger.dropout_case_list(county_user))
    assert [(r.case.pk, r.days_since, r.follow_up_count) for r in rows] == [
        (early.pk, 64, 0),
        (late.pk, 36, 0),
        (followed.pk, 9, 1),
    ]
    assert rows[2].last_follow_up == date(2026, 3, 1)


# ----------------------------------------------------------------- pages


def test_the_list_page_shows_open_cases_with_days_since_the_last_contact(case, school_user):
    DropoutCase.objects.filter(pk=case.pk).update(opened_on=date(2026, 1, 5))
    client = Client()
    client.force_login(school_user)
    page = client.get("/dropouts/")
    html = page.content.decode()
    assert page.status_code == 200
    assert case.student.name in html and ">64<" in html
    assert f"/dropouts/{case.pk}/" in html
    # closed cases are listed on request
    assert client.get("/dropouts/?state=returned").content.decode().count(case.student.name) == 0


def test_the_detail_page_records_a_follow_up_and_the_authority_closes(
    case, school_user, county_user
):
    clerk = Client()
    clerk.force_login(school_user)
    page = clerk.get(f"/dropouts/{case.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "登记跟进" in html and f"/dropouts/{case.pk}/close/" not in html
    bad = clerk.post(f"/dropouts/{case.pk}/follow-up/", {"on": "2026-03-10", "method": "phone"})
    assert bad.status_code == 422
    done = clerk.post(
        f"/dropouts/{case.pk}/follow-up/",
        {"on": "2026-03-10", "method": "phone", "result": "电话联系，家长答应下周送学"},
    )
    assert done.status_code == 302 and done["Location"] == f"/dropouts/{case.pk}/"
    assert "电话联系，家长答应下周送学" in clerk.get(f"/dropouts/{case.pk}/").content.decode()
    assert clerk.post(f"/dropouts/{case.pk}/close/", {"reason": "迁居"}).status_code == 403
    reviewer = Client()
    reviewer.force_login(county_user)
    assert f"/dropouts/{case.pk}/close/" in reviewer.get(f"/dropouts/{case.pk}/").content.decode()
    closed = reviewer.post(f"/dropouts/{case.pk}/close/", {"reason": "已在境外就读"})
    assert closed.status_code == 302
    assert DropoutCase.objects.get(pk=case.pk).state == DropoutCaseState.CLOSED_OTHER


# ----------------------------------------------------------------- API


def test_the_api_lists_reads_and_adds_follow_ups(case, county_user, other_school_user):
    client = Client()
    client.force_login(county_user)
    listed = client.get("/api/dropouts").json()
    assert listed["count"] == 1
    item = listed["items"][0]
    assert (item["id"], item["state"], item["days_since_contact"]) == (case.pk, "open", 0)
    added = client.post(
        f"/api/dropouts/{case.pk}/follow-ups",
        {"on": "2026-03-10", "method": "home_visit", "result": "家访", "next_step": "再访"},
        content_type="application/json",
    )
    assert added.status_code == 201, added.content
    assert added.json()["by"] == county_user.username
    detail = client.get(f"/api/dropouts/{case.pk}").json()
    assert [f["result"] for f in detail["follow_ups"]] == ["家访"]
    assert detail["last_follow_up"] == "2026-03-10"
    refused = client.post(
        f"/api/dropouts/{case.pk}/follow-ups",
        {"on": "2026-03-10", "method": "fax", "result": "x"},
        content_type="application/json",
    )
    assert refused.status_code == 422 and refused.json()["errors"][0]["code"] == "follow_up.method"
    closed = client.post(
        f"/api/dropouts/{case.pk}/close", {"reason": "迁居境外"}, content_type="application/json"
    )
    assert closed.status_code == 200 and closed.json()["state"] == "closed_other"
    assert client.get("/api/dropouts").json()["count"] == 0
    assert client.get("/api/dropouts?state=").json()["count"] == 1
    outsider = Client()
    outsider.force_login(other_school_user)
    assert outsider.get(f"/api/dropouts/{case.pk}").status_code == 404
    assert outsider.get("/api/dropouts?state=").json()["count"] == 0


def test_a_dropped_out_student_registered_again_closes_the_case(case, school_user, school):
    from tests.factories import registration
    from xueji.students import identity
    from xueji.students.services import student_register

    student = case.student
    data = registration(
        school,
        name=student.name,
        born=student.birth_date,
        sex_code=student.sex,
        id_number=identity.read_id(student),
    )
    result = student_register(actor=school_user, data=data, reactivate=True)
    assert result.reactivated
    assert StatusRecord.objects.get(pk=student.pk).state == StatusState.ENROLLED
    closed = DropoutCase.objects.get(pk=case.pk)
    assert (closed.state, closed.closed_on) == (DropoutCaseState.RETURNED, TODAY)


def test_the_case_closes_on_the_local_day_of_the_return(case, handlers_resume, monkeypatch):
    """07:30 in Shanghai is 23:30 the day before in UTC, as the clock answers in production."""
    from datetime import UTC

    monkeypatch.setattr(clock, "now", lambda: datetime(2026, 3, 9, 23, 30, tzinfo=UTC))
    handlers_resume(case.student)
    assert DropoutCase.objects.get(pk=case.pk).closed_on == date(2026, 3, 10)
