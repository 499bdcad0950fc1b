"""Status changes through the API: a complete cross-province transfer, filing in JSON and in
multipart, refusing, withdrawing, the queue, and what each unit may see and do."""

import json
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.factories import SchoolFactory, authority_user, make_user
from xueji import clock
from xueji.audit.models import AuditEvent
from xueji.changes.models import ApprovalStep, ChangeRequest
from xueji.changes.rules import Party, RequestState, StepState
from xueji.enrolment.models import StatusRecord

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
# Tuesday 2026-03-10, spring semester: transfers of grade 3 are open; 2026 is loaded.
NOW = datetime.combine(date(2026, 3, 10), time(10, 0), tzinfo=SHANGHAI).astimezone(UTC)
TODAY = date(2026, 3, 10)
PDF = b"%PDF-1.4\n% change material\n"


@pytest.fixture(autouse=True)
def at_2026(monkeypatch):
    monkeypatch.setattr(clock, "now", lambda: NOW)
    monkeypatch.setattr(clock, "today", lambda: TODAY)


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def pdf(name: str = "申请表.pdf") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, PDF, content_type="application/pdf")


def client_of(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def post_json(client: Client, path: str, body: dict | None = None):
    return client.post(path, json.dumps(body or {}), content_type="application/json")


def file_transfer(receiver, student, **fields):
    """The receiving school's clerk files through the API (multipart with the form)."""
    data = {
        "student_number": student.number,
        "student_name": student.name,
        "reason": "随父母工作调动转学",
        "payload": json.dumps({"class_name": "3班"}),
        "application": pdf(),
        **fields,
    }
    return client_of(receiver).post("/api/changes/transfers", data)


def pending_step(request_id: int) -> ApprovalStep:
    return ApprovalStep.objects.select_related("unit").get(
        request_id=request_id, state=StepState.PENDING
    )


def test_a_cross_province_transfer_runs_end_to_end_through_the_api(
    make_student, school, school_user, other_school, other_school_user, county_user
):
    """成都锦江 (510104) receives a student of 广州天河 (440106): the receiving school files,
    the 510104 county, the sending school and the 440106 county approve from their queues;
    the record moves, history shows it, and the sending school loses the record."""
    # given
    student = make_student(name="跨省转学生")
    receiving_authority = authority_user("510104")
    # when the receiving school files
    response = file_transfer(other_school_user, student)
    # then its own step is done by filing; the receiving authority's is pending
    assert response.status_code == 201, response.content
    filed = response.json()
    request_id = filed["id"]
    assert filed["change_type"] == "transfer" and filed["state"] == "open"
    assert (filed["school_id"], filed["target_school_id"]) == (school.pk, other_school.pk)
    assert [s["party"] for s in filed["steps"]] == [
        Party.RECEIVING_SCHOOL,
        Party.RECEIVING_AUTHORITY,
        Party.SENDING_SCHOOL,
        Party.SENDING_AUTHORITY,
    ]
    assert [s["state"] for s in filed["steps"]] == ["approved", "pending", "waiting", "waiting"]
    assert [s["days"] for s in filed["steps"]] == [10, 10, 10, 10]
    assert filed["steps"][1]["due_date"] == "2026-03-24"  # the 10th working day after 03-10
    assert [m["kind"] for m in filed["materials"]] == ["application"]
    assert filed["payload"] == {"class_name": "3班"}

    # each of the three other parties finds the step in its queue and approves it
    for reviewer, party in (
        (receiving_authority, Party.RECEIVING_AUTHORITY),
        (school_user, Party.SENDING_SCHOOL),
        (county_user, Party.SENDING_AUTHORITY),
    ):
        client = client_of(reviewer)
        queue = client.get("/api/changes/queue").json()
        assert [(i["request"]["id"], i["step"]["party"]) for i in queue] == [(request_id, party)]
        step_id = queue[0]["step"]["id"]
        response = client.post(f"/api/changes/steps/{step_id}/approve")
        assert response.status_code == 200, response.content
        assert client.get("/api/changes/queue").json() == []

    # then the request is complete and the record is at the receiving school
    done = client_of(other_school_user).get(f"/api/changes/{request_id}").json()
    assert done["state"] == "completed" and done["closed_at"]
    assert [s["state"] for s in done["steps"]] == ["approved"] * 4
    record = StatusRecord.objects.get(pk=student.pk)
    assert record.school_id == other_school.pk
    assert record.class_name == "3班"
    seen = client_of(other_school_user).get(f"/api/students/{student.pk}")
    assert seen.status_code == 200
    assert seen.json()["school_id"] == other_school.pk
    assert any(e["school_id"] == other_school.pk for e in seen.json()["history"])
    # the sending school can no longer read the record, but still reads the request
    assert client_of(school_user).get(f"/api/students/{student.pk}").status_code == 404
    assert client_of(school_user).get(f"/api/changes/{request_id}").status_code == 200
    assert AuditEvent.objects.filter(action="change.complete", object_id=str(request_id)).exists()


def test_a_transfer_filed_in_json_without_the_required_form_is_refused(
    make_student, other_school_user
):
    student = make_student()
    response = post_json(
        client_of(other_school_user),
        "/api/changes/transfers",
        {"student_number": student.number, "student_name": student.name, "reason": "转学"},
    )
    assert response.status_code == 422
    assert {(e["field"], e["code"]) for e in response.json()["errors"]} == {
        ("materials.application", "material.required")
    }
    assert not ChangeRequest.objects.exists()


def test_a_number_with_another_name_reads_as_not_found(make_student, other_school_user):
    student = make_student(name="王小明")
    response = file_transfer(other_school_user, student, student_name="王小红")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_an_authority_files_a_transfer_for_a_school_in_its_scope_only(make_student, other_school):
    student = make_student()
    chengdu = client_of(authority_user("510104"))
    response = chengdu.post(
        "/api/changes/transfers",
        {
            "student_number": student.number,
            "student_name": student.name,
            "reason": "转学",
            "target_school_id": other_school.pk,
            "application": pdf(),
        },
    )
    assert response.status_code == 201, response.content
    assert response.json()["channel"] == "authority"
    outside = SchoolFactory(division_code="440104")
    response = chengdu.post(
        "/api/changes/transfers",
        {
            "student_number": student.number,
            "student_name": student.name,
            "reason": "转学",
            "target_school_id": outside.pk,
        },
    )
    assert response.status_code == 404


def test_other_changes_are_filed_in_json_or_in_multipart_with_materials(make_student, school_user):
    """Suspension needs an application and a medical proof: JSON cannot carry them, the
    same fields in multipart with one file per kind can."""
    student = make_student()
    client = client_of(school_user)
    body = {"student_id": student.pk, "change_type": "suspend", "reason": "因病休学"}
    # when JSON
    response = post_json(client, "/api/changes", body)
    # then the missing materials are named
    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} == {
        "materials.application",
        "materials.medical",
    }
    # when multipart with both files
    response = client.post(
        "/api/changes",
        {**body, "effective_date": "", "application": pdf(), "medical": pdf("诊断.pdf")},
    )
    # then
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["effective_date"] == "2026-03-10"  # empty: today
    assert sorted(m["kind"] for m in data["materials"]) == ["application", "medical"]
    # the school's own step is done by filing; the county's is pending
    assert [s["state"] for s in data["steps"]] == ["approved", "pending"]


def test_a_change_without_materials_in_its_rule_is_filed_in_json(make_student, school_user):
    student = make_student()
    response = post_json(
        client_of(school_user),
        "/api/changes",
        {
            "student_id": student.pk,
            "change_type": "leave",
            "effective_date": "2026-03-10",
            "reason": "肄业",
        },
    )
    assert response.status_code == 201, response.content
    assert response.json()["change_type"] == "leave"


def test_filing_rejects_malformed_bodies_with_field_errors(make_student, school_user):
    student = make_student()
    client = client_of(school_user)
    response = post_json(client, "/api/changes", {"student_id": "x", "change_type": "leave"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "student_id"
    response = client.post(
        "/api/changes",
        {"student_id": student.pk, "change_type": "leave", "reason": "x", "payload": "{oops"},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "payload.invalid"
    response = client.post("/api/changes", "not json", content_type="application/json")
    assert response.status_code == 422


def test_a_student_out_of_scope_cannot_be_filed_for(make_student, other_school_user):
    student = make_student()
    response = post_json(
        client_of(other_school_user),
        "/api/changes",
        {"student_id": student.pk, "change_type": "leave", "reason": "肄业"},
    )
    assert response.status_code == 404
    assert not ChangeRequest.objects.exists()


@pytest.fixture
def open_transfer(make_student, other_school_user):
    """A transfer from 天河 (440106) to 锦江 (510104), pending at the 510104 county."""
    student = make_student(name="待办学生")
    response = file_transfer(other_school_user, student)
    assert response.status_code == 201, response.content
    return ChangeRequest.objects.get(pk=response.json()["id"])


def test_the_request_is_seen_from_either_side_and_not_from_outside(
    open_transfer, school_user, other_school_user, county_user, city_user
):
    for user in (school_user, other_school_user, county_user, city_user):
        response = client_of(user).get(f"/api/changes/{open_transfer.pk}")
        assert response.status_code == 200, user
    elsewhere = make_user(SchoolFactory(division_code="440106").unit)
    for user in (elsewhere, authority_user("440104"), authority_user("510105")):
        response = client_of(user).get(f"/api/changes/{open_transfer.pk}")
        assert response.status_code == 404
        listed = client_of(user).get("/api/changes").json()
        assert listed["items"] == []


def test_only_the_step_unit_handles_it(open_transfer, school_user, county_user):
    step = pending_step(open_transfer.pk)
    assert step.party == Party.RECEIVING_AUTHORITY
    for outsider in (school_user, county_user):
        response = client_of(outsider).post(f"/api/changes/steps/{step.pk}/approve")
        assert response.status_code == 404
    step.refresh_from_db()
    assert step.state == StepState.PENDING


def test_a_refusal_needs_a_reason_from_the_list_and_a_text(open_transfer):
    step = pending_step(open_transfer.pk)
    client = client_of(authority_user("510104"))
    response = post_json(
        client, f"/api/changes/steps/{step.pk}/refuse", {"refusal_reason": "", "comment": " "}
    )
    assert response.status_code == 422
    assert {e["code"] for e in response.json()["errors"]} == {
        "refusal.reason_required",
        "refusal.text_required",
    }
    response = post_json(
        client,
        f"/api/changes/steps/{step.pk}/refuse",
        {"refusal_reason": "no_place", "comment": "三年级学位已满"},
    )
    assert response.status_code == 200
    data = response.json()
    assert data["state"] == RequestState.REFUSED
    refused = data["steps"][1]
    assert (refused["state"], refused["refusal_reason"], refused["comment"]) == (
        "refused",
        "no_place",
        "三年级学位已满",
    )
    assert [s["state"] for s in data["steps"][2:]] == ["cancelled", "cancelled"]
    # a second decision on the same step conflicts
    response = client.post(f"/api/changes/steps/{step.pk}/approve")
    assert response.status_code == 409
    assert response.json()["code"] == "step.not_pending"


def test_the_filer_withdraws_with_a_reason(open_transfer, other_school_user, school_user):
    client = client_of(other_school_user)
    response = post_json(client, f"/api/changes/{open_transfer.pk}/withdraw", {"reason": ""})
    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "reason.required"
    # the sending school did not file it
    response = post_json(
        client_of(school_user), f"/api/changes/{open_transfer.pk}/withdraw", {"reason": "不转了"}
    )
    assert response.status_code == 403
    response = post_json(
        client, f"/api/changes/{open_transfer.pk}/withdraw", {"reason": "家长撤回"}
    )
    assert response.status_code == 200
    assert response.json()["state"] == RequestState.WITHDRAWN
    assert response.json()["closed_reason"] == "家长撤回"


def test_materials_are_added_in_multipart(open_transfer, other_school_user, school_user):
    client = client_of(other_school_user)
    response = client.post(
        f"/api/changes/{open_transfer.pk}/materials", {"residence": pdf("居住证.pdf")}
    )
    assert response.status_code == 201, response.content
    assert [m["kind"] for m in response.json()] == ["residence"]
    assert response.json()[0]["name"] == "居住证.pdf"
    response = client.post(f"/api/changes/{open_transfer.pk}/materials", {})
    assert response.status_code == 422
    response = client.post(
        f"/api/changes/{open_transfer.pk}/materials",
        {"residence": SimpleUploadedFile("x.txt", b"hello", "text/plain")},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "material.type"
    outsider = make_user(SchoolFactory(division_code="440104").unit)
    response = client_of(outsider).post(
        f"/api/changes/{open_transfer.pk}/materials", {"residence": pdf()}
    )
    assert response.status_code == 404


def test_the_list_filters_and_pages_by_cursor(make_student, school_user):
    client = client_of(school_user)
    students = [make_student(name=f"学生{c}") for c in "甲乙丙"]
    for student in students:
        response = post_json(
            client,
            "/api/changes",
            {"student_id": student.pk, "change_type": "leave", "reason": "肄业"},
        )
        assert response.status_code == 201
    first = client.get("/api/changes?limit=2").json()
    assert [i["student_name"] for i in first["items"]] == ["学生丙", "学生乙"]
    assert first["items"][0]["current_step"]["party"] == Party.AUTHORITY
    second = client.get(f"/api/changes?limit=2&after={first['next_cursor']}").json()
    assert [i["student_name"] for i in second["items"]] == ["学生甲"]
    assert second["next_cursor"] is None
    assert [i["student_name"] for i in client.get("/api/changes?q=学生乙").json()["items"]] == [
        "学生乙"
    ]
    # A number goes in the body of the search endpoint; in the URL it is refused.
    found = client.post(
        "/api/changes/search", {"q": students[0].number}, content_type="application/json"
    )
    assert found.json()["items"][0]["student_id"] == students[0].pk
    refused = client.get(f"/api/changes?q={students[0].number}")
    assert refused.status_code == 422 and refused.json()["errors"][0]["code"] == (
        "search.number_in_url"
    )
    assert client.get("/api/changes?change_type=transfer").json()["items"] == []
    assert client.get("/api/changes?state=completed").json()["items"] == []


def test_the_list_reads_in_a_fixed_number_of_queries(make_student, school_user):
    client = client_of(school_user)

    def file_one(name):
        student = make_student(name=name)
        post_json(
            client,
            "/api/changes",
            {"student_id": student.pk, "change_type": "leave", "reason": "肄业"},
        )

    file_one("甲")
    client.get("/api/changes")  # the session's first request stamps it
    with CaptureQueriesContext(connection) as one:
        client.get("/api/changes")
    for name in ("乙", "丙", "丁"):
        file_one(name)
    with CaptureQueriesContext(connection) as four:
        assert len(client.get("/api/changes").json()["items"]) == 4
    assert len(four.captured_queries) == len(one.captured_queries)


def test_anonymous_callers_are_refused(open_transfer):
    assert Client().get("/api/changes").status_code == 401
    assert Client().get(f"/api/changes/{open_transfer.pk}").status_code == 401
