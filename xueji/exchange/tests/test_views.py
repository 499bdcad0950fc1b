"""Import pages: upload, job progress (htmx polling), error table and downloads."""

import csv
import io
from datetime import date

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from tests.factories import registration
from xueji.exchange.columns import SCHOOL_COLUMNS, STUDENT_COLUMNS
from xueji.exchange.models import ImportJob, ImportKind, ImportMode, ImportStatus
from xueji.exchange.services import import_job_create
from xueji.students.models import Student

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def student_csv(rows: list[dict], name: str = "新生.csv") -> SimpleUploadedFile:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([c.header for c in STUDENT_COLUMNS])
    for row in rows:
        writer.writerow([row.get(c.key, "") for c in STUDENT_COLUMNS])
    return SimpleUploadedFile(name, out.getvalue().encode("utf-8"), content_type="text/csv")


@pytest.fixture
def clerk(client, school_user):
    client.force_login(school_user)
    return client


def test_upload_page_renders(clerk):
    response = clerk.get(reverse("imports:new"))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'enctype="multipart/form-data"' in html
    assert reverse("imports:template") in html
    assert "全部正确才导入" in html


def test_template_download(clerk):
    response = clerk.get(reverse("imports:template"))
    assert response.status_code == 200
    assert response["Content-Type"] == XLSX
    assert "attachment" in response["Content-Disposition"]
    assert response.content[:2] == b"PK"


def test_upload_runs_the_job_and_shows_the_result(clerk, school):
    rows = [registration(school, born=date(2016, 3, day)) for day in (1, 2)]
    response = clerk.post(
        reverse("imports:new"), {"file": student_csv(rows), "mode": ImportMode.ALL_OR_NOTHING}
    )
    assert response.status_code == 302
    job = ImportJob.objects.get()
    assert response["Location"] == reverse("imports:detail", args=[job.pk])
    # The test settings run tasks immediately.
    detail = clerk.get(response["Location"])
    assert detail.status_code == 200
    job.refresh_from_db()
    assert job.status == ImportStatus.SUCCEEDED
    assert Student.objects.count() == 2
    html = detail.content.decode()
    assert "已完成" in html
    assert "hx-trigger" not in html  # finished: no polling


def test_rejected_job_shows_errors_and_reports(clerk, school):
    bad = registration(school, born=date(2016, 4, 1), id_number="440106201604010000")
    response = clerk.post(
        reverse("imports:new"), {"file": student_csv([bad]), "mode": ImportMode.ALL_OR_NOTHING}
    )
    job = ImportJob.objects.get()
    detail = clerk.get(response["Location"])
    html = detail.content.decode()
    job.refresh_from_db()
    assert job.status == ImportStatus.REJECTED
    assert "错误明细" in html
    assert "440106201604010000" not in html  # ID values are masked on the page
    assert reverse("imports:errors_csv", args=[job.pk]) in html

    csv_report = clerk.get(reverse("imports:errors_csv", args=[job.pk]))
    assert csv_report.status_code == 200
    assert csv_report["Content-Type"].startswith("text/csv")
    assert "行号" in csv_report.content.decode("utf-8-sig")
    xlsx_report = clerk.get(reverse("imports:errors_xlsx", args=[job.pk]))
    assert xlsx_report.status_code == 200
    assert xlsx_report["Content-Type"] == XLSX
    assert not Student.objects.exists()


def test_upload_refuses_a_wrong_file(clerk):
    text = SimpleUploadedFile("notes.pdf", b"%PDF-1.4", content_type="application/pdf")
    response = clerk.post(reverse("imports:new"), {"file": text, "mode": ImportMode.VALID_ROWS})
    assert response.status_code == 200
    assert "只接受 .xlsx 或 .csv 文件" in " ".join(response.context["form"].errors["file"])
    missing = clerk.post(reverse("imports:new"), {"mode": ImportMode.VALID_ROWS})
    assert "请选择要导入的文件" in " ".join(missing.context["form"].errors["file"])
    assert not ImportJob.objects.exists()


def test_progress_polls_while_the_job_runs(clerk, school_user, school):
    """A queued job's fragment polls every second; it is a fragment, not a page."""
    job = import_job_create(
        actor=school_user,
        upload=student_csv([registration(school)]),
        file_name="排队.csv",
        mode=ImportMode.VALID_ROWS,
    )
    response = clerk.get(reverse("imports:progress", args=[job.pk]), headers=HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'hx-trigger="every 1s"' in html
    assert "<progress" in html
    assert "<html" not in html
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportStatus.RUNNING, total_rows=10, processed_rows=4
    )
    running = clerk.get(reverse("imports:progress", args=[job.pk]), headers=HTMX)
    assert 'value="40"' in running.content.decode()


def test_job_list_shows_the_units_jobs_only(
    clerk, client, school_user, other_school_user, school, other_school
):
    mine = import_job_create(
        actor=school_user, upload=student_csv([]), file_name="本校.csv", mode=ImportMode.VALID_ROWS
    )
    theirs = import_job_create(
        actor=other_school_user,
        upload=student_csv([], name="外校.csv"),
        file_name="外校.csv",
        mode=ImportMode.VALID_ROWS,
    )
    response = clerk.get(reverse("imports:jobs"))
    assert response.status_code == 200
    html = response.content.decode()
    assert mine.file_name in html and theirs.file_name not in html
    for name in ("imports:detail", "imports:progress", "imports:errors_csv", "imports:errors_xlsx"):
        assert clerk.get(reverse(name, args=[theirs.pk])).status_code == 404, name


def test_school_import_page_for_school_editors(client, county_user, school_user):
    client.force_login(county_user)
    response = client.get(reverse("imports:schools"))
    assert response.status_code == 200
    assert reverse("imports:school_template") in response.content.decode()
    template = client.get(reverse("imports:school_template"))
    assert template.status_code == 200 and template["Content-Type"] == XLSX

    client.force_login(school_user)  # a clerk registers students, does not maintain schools
    assert client.get(reverse("imports:schools")).status_code == 403


def test_school_import_creates_schools(client, county_user):
    client.force_login(county_user)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([c.header for c in SCHOOL_COLUMNS])
    writer.writerow(["1144010698", "天河区导入小学", "211", "1", "440106", "county", ""])
    upload = SimpleUploadedFile("学校.csv", out.getvalue().encode("utf-8"))
    response = client.post(
        reverse("imports:schools"), {"file": upload, "mode": ImportMode.ALL_OR_NOTHING}
    )
    assert response.status_code == 302
    job = ImportJob.objects.get()
    assert job.kind == ImportKind.SCHOOLS
    detail = client.get(response["Location"])
    assert detail.status_code == 200
    job.refresh_from_db()
    assert job.status == ImportStatus.SUCCEEDED, job.message
    assert job.created_count == 1


def test_authority_without_import_role_is_refused(client, county_user):
    client.force_login(county_user)
    assert client.get(reverse("imports:new")).status_code == 403
    assert client.get(reverse("imports:template")).status_code == 403
