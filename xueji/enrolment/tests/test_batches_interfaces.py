"""The batch pages, API and commands call the same services: a walk through each."""

from datetime import date
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from tests.factories import authority_user
from xueji.enrolment.models import BatchRun, BatchState, StatusEvent, StatusRecord
from xueji.enrolment.rules import StatusState

from .test_batches import enrol, grades_of

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_page_flow_dry_run_report_confirm_progress(school, school_user):
    """Form → dry-run report (nothing moved) → confirm → the task runs → done page."""
    ids = enrol(school, "12", 3)
    enrol(school, "21", 1)  # a conflict at a primary school
    client = client_for(school_user)

    page = client.get("/batches/promote/")
    assert page.status_code == 200
    assert school.code in page.content.decode()

    response = client.post("/batches/promote/", {"school_year": 2026, "cutoff": "2026-08-31"})
    assert response.status_code == 302
    run = BatchRun.objects.get()
    assert run.school_id == school.pk  # a school clerk's scope is its school, whatever posted
    report = client.get(response["Location"]).content.decode()
    assert "确认执行" in report and "二年级" in report and "三年级" in report
    assert "学校不设该学段" in report
    assert grades_of(ids) == {"12"}

    # The immediate task backend of the tests runs the batch inside the request.
    confirmed = client.post(f"/batches/{run.pk}/confirm/")
    assert confirmed.status_code == 302
    run.refresh_from_db()
    assert run.state == BatchState.DONE
    assert grades_of(ids) == {"13"}
    progress = client.get(f"/batches/{run.pk}/progress/").content.decode()
    assert "hx-trigger" not in progress  # finished: polling stops
    assert "升级完成" in progress
    listing = client.get("/batches/").content.decode()
    assert run.batch_key in listing


def test_page_refuses_a_repeat_with_its_message(school, school_user):
    enrol(school, "11", 1)
    client = client_for(school_user)
    client.post("/batches/promote/", {"school_year": 2026, "cutoff": "2026-08-31"})
    client.post(f"/batches/{BatchRun.objects.get().pk}/confirm/")
    again = client.post("/batches/promote/", {"school_year": 2026, "cutoff": "2026-08-31"})
    assert again.status_code == 200
    assert "不能重复升级" in again.content.decode()


def test_running_page_polls_and_failed_page_offers_resume(school, school_user):
    enrol(school, "11", 1)
    client = client_for(school_user)
    client.post("/batches/promote/", {"school_year": 2026, "cutoff": "2026-08-31"})
    run = BatchRun.objects.get()
    BatchRun.objects.filter(pk=run.pk).update(state=BatchState.RUNNING)
    assert "hx-trigger" in client.get(f"/batches/{run.pk}/progress/").content.decode()
    BatchRun.objects.filter(pk=run.pk).update(state=BatchState.FAILED)
    page = client.get(f"/batches/{run.pk}/").content.decode()
    assert "继续执行" in page
    client.post(f"/batches/{run.pk}/resume/")
    run.refresh_from_db()
    assert run.state == BatchState.DONE


def test_graduation_page(school, school_user):
    ids = enrol(school, "16", 2)
    client = client_for(school_user)
    response = client.post("/batches/graduate/", {"cutoff": "2026-07-01"})
    assert response.status_code == 302
    run = BatchRun.objects.get()
    assert "毕业" in client.get(response["Location"]).content.decode()
    client.post(f"/batches/{run.pk}/confirm/")
    assert set(StatusRecord.objects.filter(pk__in=ids).values_list("state", flat=True)) == {
        StatusState.GRADUATED
    }


def test_api_flow(school, county_user):
    ids = enrol(school, "31", 2, stage="3")
    from xueji.schools.models import School

    School.objects.filter(pk=school.pk).update(school_type="342")
    client = client_for(county_user)

    created = client.post(
        "/api/batches/promotions",
        {"scope": "440106", "school_year": 2026, "cutoff": "2026-08-31"},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["state"] == "planned"
    assert body["report"]["totals"]["promote"] == 2
    run_id = body["id"]

    confirmed = client.post(f"/api/batches/{run_id}/confirm")
    assert confirmed.status_code == 202
    got = client.get(f"/api/batches/{run_id}").json()
    assert got["state"] == "done" and got["changed_count"] == 2
    assert got["counts"]["by_key"] == {"32": 2}
    assert grades_of(ids) == {"32"}
    assert [r["id"] for r in client.get("/api/batches").json()] == [run_id]

    again = client.post(f"/api/batches/{run_id}/confirm")
    assert again.status_code == 409
    assert again.json()["code"] == "batch.not_planned"


def test_api_refuses_out_of_scope(school, other_school, school_user):
    client = client_for(school_user)
    response = client.post(
        "/api/batches/promotions",
        {"scope": other_school.code, "school_year": 2026, "cutoff": "2026-08-31"},
        content_type="application/json",
    )
    assert response.status_code == 404
    area = client.post(
        "/api/batches/graduations",
        {"school": "510104", "cutoff": "2026-07-01"},
        content_type="application/json",
    )
    assert area.status_code == 422


def test_promote_command_dry_run_then_resume(school, school_user):
    ids = enrol(school, "14", 2)
    out = StringIO()
    call_command(
        "promote",
        "--scope",
        "440106",
        "--school-year",
        "2026",
        "--cutoff",
        "2026-08-31",
        "--dry-run",
        stdout=out,
    )
    run = BatchRun.objects.get()
    assert run.state == BatchState.PLANNED
    assert "试运行" in out.getvalue() and f"--resume {run.pk}" in out.getvalue()
    assert grades_of(ids) == {"14"}

    out = StringIO()
    call_command("promote", "--resume", str(run.pk), stdout=out)
    run.refresh_from_db()
    assert run.state == BatchState.DONE
    assert grades_of(ids) == {"15"}
    assert "已完成" in out.getvalue()
    assert StatusEvent.objects.filter(batch=run.batch_key).count() == 2


def test_promote_command_runs_as_a_user_and_refuses_a_repeat(school, school_user):
    enrol(school, "11", 1)
    args = ["--scope", school.code, "--cutoff", "2026-08-31", "--user", school_user.username]
    call_command("promote", *args, stdout=StringIO())
    assert BatchRun.objects.get().state == BatchState.DONE
    out = StringIO()
    with pytest.raises(SystemExit) as exit_status:
        call_command("promote", *args, stdout=out)
    assert exit_status.value.code == 1
    assert "batch.repeat" in out.getvalue()


def test_graduate_command(school):
    ids = enrol(school, "16", 2)
    reviewer = authority_user("440106")
    call_command(
        "graduate",
        "--school",
        school.code,
        "--cutoff",
        "2026-07-01",
        "--user",
        reviewer.username,
        stdout=StringIO(),
    )
    assert set(StatusRecord.objects.filter(pk__in=ids).values_list("state", flat=True)) == {
        StatusState.GRADUATED
    }
    assert BatchRun.objects.get().cutoff == date(2026, 7, 1)
