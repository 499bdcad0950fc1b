"""Import error rows (issue 10, finding 1): the cell as typed is encrypted at rest, shown
masked on the page, in the API, the csv and xlsx reports, and goes with its import."""

import csv
import io
from datetime import date, timedelta

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse

from tests.factories import registration, resident_id
from xueji import clock
from xueji.accounts.services import api_token_issue
from xueji.audit.models import AuditEvent
from xueji.exchange import reports
from xueji.exchange.columns import STUDENT_COLUMNS
from xueji.exchange.models import ImportJob, ImportRowError, ImportStatus, masked_cell
from xueji.exchange.services import import_job_create, import_job_run

pytestmark = pytest.mark.django_db


def csv_upload(rows: list[dict]) -> SimpleUploadedFile:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([c.header for c in STUDENT_COLUMNS])
    for row in rows:
        writer.writerow([row.get(c.key, "") for c in STUDENT_COLUMNS])
    return SimpleUploadedFile("students.csv", out.getvalue().encode(), "text/csv")


@pytest.fixture
def rejected(school_user, school):
    """An import whose one row has a mistyped ID number (wrong check character)."""
    good = resident_id("440106", date(2016, 4, 1))
    typo = good[:-1] + ("0" if good[-1] != "0" else "1")
    row = registration(school, born=date(2016, 4, 1), id_number=typo)
    job = import_job_create(
        actor=school_user, upload=csv_upload([row]), file_name="s.csv", mode="all_or_nothing"
    )
    job = import_job_run(job_id=job.pk)
    assert job.status == ImportStatus.REJECTED
    return job, typo


def test_the_typed_cell_is_encrypted_at_rest(rejected):
    job, typo = rejected
    error = job.row_errors.get(code__startswith="id.")
    assert error.value == typo  # what Python reads: the cell as typed
    with connection.cursor() as cursor:
        cursor.execute("SELECT value FROM exchange_importrowerror WHERE job_id = %s", [job.pk.hex])
        stored = [row[0] for row in cursor.fetchall()]
    if not stored:  # PostgreSQL stores the uuid natively
        with connection.cursor() as cursor:
            cursor.execute("SELECT value FROM exchange_importrowerror WHERE job_id = %s", [job.pk])
            stored = [row[0] for row in cursor.fetchall()]
    assert stored and all(value.startswith("v1$") for value in stored if value)
    assert not any(typo in value for value in stored)


def test_the_cell_is_masked_on_the_page_in_the_api_and_the_reports(rejected, school_user):
    job, typo = rejected
    masked = typo[:6] + "********" + typo[-4:]
    client = Client()
    client.force_login(school_user)
    page = client.get(reverse("imports:detail", args=[job.pk])).content.decode()
    assert masked in page and typo not in page
    csv_text = client.get(reverse("imports:errors_csv", args=[job.pk])).content.decode("utf-8-sig")
    assert masked in csv_text and typo not in csv_text
    xlsx = client.get(reverse("imports:errors_xlsx", args=[job.pk])).content
    cells = [
        str(v)
        for row in openpyxl.load_workbook(io.BytesIO(xlsx)).active.iter_rows(values_only=True)
        for v in row
        if v is not None
    ]
    assert masked in cells and typo not in "".join(cells)
    secret = api_token_issue(actor=school_user, user=school_user, name="t", expires_at=None).secret
    api = Client(headers={"Authorization": f"Bearer {secret}"})
    answer = api.get(f"/api/imports/{job.pk}/errors")
    assert answer.status_code == 200
    assert masked in [item["value"] for item in answer.json()]
    assert typo not in answer.content.decode()
    api_csv = api.get(f"/api/imports/{job.pk}/errors.csv").content.decode("utf-8-sig")
    assert masked in api_csv and typo not in api_csv
    assert typo not in reports.error_report_csv(job).decode("utf-8-sig")


def test_masking_by_column():
    number = resident_id("440106", date(2016, 4, 1))
    assert masked_cell("身份证件号", number) == number[:6] + "********" + number[-4:]
    assert masked_cell("监护人电话", "13800138000") == "13" + "*" * 7 + "00"
    assert masked_cell("现住址", "广东省广州市天河区某路1号") == "广东省广州市******"
    assert masked_cell("孤儿", "是") == "***"
    # Another column with a number pasted into it: the number is masked.
    assert masked_cell("姓名", f"王{number}") == f"王{number[:6]}********{number[-4:]}"
    assert masked_cell("性别", "9") == "9"


def test_error_rows_go_with_their_import(rejected, school_user, school):
    old, _typo = rejected
    recent = import_job_run(
        job_id=import_job_create(
            actor=school_user,
            upload=csv_upload([registration(school, sex="9")]),
            file_name="t.csv",
            mode="all_or_nothing",
        ).pk
    )
    ImportJob.objects.filter(pk=old.pk).update(finished_at=clock.now() - timedelta(days=91))
    file_name = ImportJob.objects.get(pk=old.pk).file.name
    storage = old.file.storage
    assert storage.exists(file_name)
    out = io.StringIO()
    call_command("purge_imports", "--dry-run", stdout=out)
    assert ImportJob.objects.filter(pk=old.pk).exists() and "1" in out.getvalue()
    call_command("purge_imports", stdout=io.StringIO())
    assert not ImportJob.objects.filter(pk=old.pk).exists()
    assert not ImportRowError.objects.filter(job_id=old.pk).exists()
    assert not storage.exists(file_name)
    assert ImportJob.objects.filter(pk=recent.pk).exists()
    assert ImportRowError.objects.filter(job_id=recent.pk).exists()
    event = AuditEvent.objects.get(action="import.purge")
    assert event.detail["jobs"] == 1 and event.detail["errors"] >= 1
