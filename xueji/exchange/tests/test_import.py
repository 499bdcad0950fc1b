"""The bulk student import: files in, registry rows, error reports and templates out.

Files are written into ``tmp_path`` from ``registration(...)`` dicts under the Chinese
headers of ``STUDENT_COLUMNS``, then go through ``import_job_create`` and ``import_job_run``
exactly as the web page, the API and the command use them.
"""

import csv
import hashlib
import io
import os
import zipfile
from datetime import date, datetime, timedelta
from pathlib import Path

import openpyxl
import pytest
import xlsxwriter
from django.conf import settings
from django.core.files.base import File
from django.test import override_settings
from django_tasks import TaskResultStatus

from tests.factories import authority_user, registration, resident_id
from xueji.accounts.models import Role
from xueji.audit.models import AuditEvent
from xueji.enrolment.models import StatusEvent, StatusRecord
from xueji.errors import Forbidden, ValidationFailed
from xueji.exchange import reports
from xueji.exchange.columns import SCHOOL_COLUMNS, STUDENT_COLUMNS
from xueji.exchange.models import ImportJob, ImportKind, ImportRowError, ImportStatus
from xueji.exchange.services import import_job_create, import_job_run
from xueji.exchange.tasks import run_import_job
from xueji.schools.models import School
from xueji.students import identity
from xueji.students.models import Guardian, NonBasicInfo, Student, StudentNumber
from xueji.students.nonbasic import DEFAULT_SCHEMA_FIELDS
from xueji.students.rules import resident_id_check_char
from xueji.students.services import nonbasic_schema_file

pytestmark = pytest.mark.django_db

HEADERS = [c.header for c in STUDENT_COLUMNS]
KEYS = [c.key for c in STUDENT_COLUMNS]
RARE_NAME = "王𠇔"  # U+201D4, CJK Unified Ideographs Extension B


# -- writing import files -----------------------------------------------------------------


def table(
    rows: list[dict], headers: list[str] | None = None, extra: dict[str, str] | None = None
) -> list[list]:
    """Header row, then one list of cells per registration dict (missing keys empty).
    ``extra`` adds columns (key → header) after the template's."""
    keys = KEYS + list(extra or {})
    head = (headers or HEADERS) + list((extra or {}).values())
    return [head] + [[row.get(key, "") for key in keys] for row in rows]


def write_csv(
    path: Path,
    rows: list[dict],
    *,
    encoding: str = "utf-8",
    headers: list[str] | None = None,
    extra: dict[str, str] | None = None,
) -> Path:
    with path.open("w", encoding=encoding, newline="") as handle:
        csv.writer(handle).writerows(table(rows, headers, extra))
    return path


def write_xlsx(path: Path, rows: list[dict], *, numeric_ids: bool = False) -> Path:
    """An xlsx written like a clerk's Excel: strings as text cells; with ``numeric_ids``
    the ID column holds a NUMBER cell, as when the column was left as "General"."""
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet()
    id_column = KEYS.index("id_number")
    for r, cells in enumerate(table(rows)):
        for c, value in enumerate(cells):
            if numeric_ids and r > 0 and c == id_column:
                sheet.write_number(r, c, float(value))
            else:
                sheet.write_string(r, c, str(value))
    book.close()
    return path


def many_registrations(school, count: int, **overrides) -> list[dict]:
    """``count`` valid registrations with distinct IDs (boys, 400 per birth date)."""
    rows = []
    for index in range(count):
        born = date(2016, 9, 1) + timedelta(days=index // 400)
        number = resident_id("440106", born, "1", seq=(index % 400) * 2 + 1)
        rows.append(registration(school, id_number=number, born=born, sex_code="1", **overrides))
    return rows


def submit(actor, path: Path, mode: str = "all_or_nothing") -> ImportJob:
    with path.open("rb") as handle:
        return import_job_create(
            actor=actor, upload=File(handle, name=path.name), file_name=path.name, mode=mode
        )


def run_file(actor, path: Path, mode: str = "all_or_nothing") -> ImportJob:
    return import_job_run(job_id=submit(actor, path, mode).pk)


def errors_of(job: ImportJob) -> list[tuple[int, str, str, str]]:
    return list(
        job.row_errors.order_by("row", "pk").values_list("row", "column", "code", "message")
    )


def registry_counts() -> dict[str, int]:
    return {
        "students": Student.objects.count(),
        "records": StatusRecord.objects.count(),
        "numbers": StudentNumber.objects.count(),
        "events": StatusEvent.objects.count(),
        "guardians": Guardian.objects.count(),
        "student_audit": AuditEvent.objects.filter(object_type="students.student").count(),
    }


def only_error(job: ImportJob) -> tuple[int, str, str, str]:
    found = errors_of(job)
    assert len(found) == 1, found
    return found[0]


# -- happy paths --------------------------------------------------------------------------


def assert_loaded(job: ImportJob, rows: list[dict], actor) -> None:
    """Every row became a student with record, number, history, guardian, non-basic data
    and its own audit event, all tagged with the job."""
    assert job.status == ImportStatus.SUCCEEDED, job.message
    assert (job.created_count, job.skipped_count, job.error_count) == (len(rows), 0, 0)
    assert job.processed_rows == len(rows) and job.total_rows == len(rows)
    assert errors_of(job) == []
    for row in rows:
        student = Student.objects.get(identity.number_q("G" + row["id_number"]))
        assert student.name == row["name"]
        assert student.birth_date == date.fromisoformat(row["birth_date"])
        record = StatusRecord.objects.get(student=student)
        assert (record.grade, record.class_name, record.state, record.stage) == (
            row["grade"],
            row["class_name"],
            "enrolled",
            "1",
        )
        assert record.entry_date == date(2024, 9, 1)
        assert list(student.numbers.values_list("number", "kind")) == [(student.number, "G")]
        event = StatusEvent.objects.get(record=record)
        assert (event.kind, event.to_state, event.batch) == ("import", "enrolled", str(job.pk))
        assert event.actor_id == actor.pk and event.effective_date == date(2024, 9, 1)
        guardian = Guardian.objects.get(student=student)
        assert (guardian.name, guardian.relation, identity.read_id(guardian)) == (
            row["guardian_name"],
            "52",
            row["guardian_id_number"],
        )
        assert NonBasicInfo.objects.get(student=student).data["left_behind"] is False
        audit = AuditEvent.objects.get(object_type="students.student", object_id=str(student.pk))
        assert audit.action == "student.import" and audit.actor_id == actor.pk
        assert audit.detail == {"batch": str(job.pk)} and audit.channel == "task"
    assert AuditEvent.objects.filter(action="import.submit", object_id=str(job.pk)).count() == 1
    assert AuditEvent.objects.filter(action="import.students", object_id=str(job.pk)).count() == 1


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig"], ids=["utf8", "utf8-bom"])
def test_csv_utf8_with_and_without_bom_is_loaded(tmp_path, school, school_user, encoding):
    rows = [registration(school, name="李小龙"), registration(school, name="欧阳娜娜")]
    path = write_csv(tmp_path / "students.csv", rows, encoding=encoding)

    job = run_file(school_user, path)

    assert_loaded(job, rows, school_user)
    assert registry_counts()["students"] == 2


def test_csv_gb18030_with_chinese_names_is_loaded(tmp_path, school, school_user):
    rows = [
        registration(school, name="张伟", class_name="三班", address="广州市天河区体育西路"),
        registration(school, name="司马懿", guardian_name="司马防"),
        registration(school, name=RARE_NAME),
    ]
    path = write_csv(tmp_path / "students.csv", rows, encoding="gb18030")
    with pytest.raises(UnicodeDecodeError):
        path.read_bytes().decode("utf-8")  # really GB18030, not UTF-8 by accident

    job = run_file(school_user, path)

    assert_loaded(job, rows, school_user)
    assert Student.objects.get(name=RARE_NAME).name.encode("utf-8") == RARE_NAME.encode("utf-8")
    assert StatusRecord.objects.filter(class_name="三班").count() == 1


def test_xlsx_is_loaded(tmp_path, school, school_user):
    rows = [registration(school) for _ in range(3)]
    path = write_xlsx(tmp_path / "students.xlsx", rows)

    job = run_file(school_user, path)

    assert_loaded(job, rows, school_user)


def test_xlsx_date_and_number_cells_are_read(tmp_path, school, school_user):
    """Dates typed into Excel date cells and codes typed as numbers are understood."""
    row = registration(school)
    path = tmp_path / "students.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet()
    as_date = book.add_format({"num_format": "yyyy-mm-dd"})
    sheet.write_row(0, 0, HEADERS)
    for c, key in enumerate(KEYS):
        value = row.get(key, "")
        if key in ("birth_date",):
            sheet.write_datetime(1, c, datetime.fromisoformat(value), as_date)
        elif key == "entry_date":
            sheet.write_datetime(1, c, datetime(2024, 9, 1), as_date)
        elif key in ("school_code", "grade", "sex", "ethnicity", "birthplace_code"):
            sheet.write_number(1, c, int(value))
        else:
            sheet.write_string(1, c, str(value))
    book.close()

    job = run_file(school_user, path)

    assert job.status == ImportStatus.SUCCEEDED, errors_of(job)
    student = Student.objects.get()
    assert (student.birth_date, student.ethnicity, student.birthplace_code) == (
        date(2017, 3, 8),
        "01",
        "440106",
    )
    assert StatusRecord.objects.get().grade == "13"


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_rare_character_names_survive_exactly(tmp_path, school, school_user, kind):
    rows = [registration(school, name=RARE_NAME), registration(school, name="𪚥𠀀")]
    path = tmp_path / f"rare.{kind}"
    write_csv(path, rows) if kind == "csv" else write_xlsx(path, rows)

    job = run_file(school_user, path)

    assert job.status == ImportStatus.SUCCEEDED and job.created_count == 2
    names = set(Student.objects.values_list("name", flat=True))
    assert names == {RARE_NAME, "𪚥𠀀"}
    stored = Student.objects.get(identity.number_q("G" + rows[0]["id_number"])).name
    assert [hex(ord(ch)) for ch in stored] == ["0x738b", "0x201d4"]


def test_many_rows_over_several_chunks_are_loaded(tmp_path, school, school_user):
    # The test settings use chunks of 500 rows: 1,200 rows cross two chunk boundaries.
    rows = many_registrations(school, 1200)
    path = write_csv(tmp_path / "big.csv", rows)
    seen: list[int] = []

    job = import_job_run(
        job_id=submit(school_user, path).pk, progress=lambda o: seen.append(o.processed_rows)
    )

    assert job.status == ImportStatus.SUCCEEDED, job.message
    assert job.created_count == 1200 and Student.objects.count() == 1200
    assert seen == [500, 1000, 1200]
    assert StatusEvent.objects.filter(kind="import", batch=str(job.pk)).count() == 1200


def test_the_merge_appends_the_audit_trail_in_batches_on_one_chain(
    tmp_path, school, school_user, monkeypatch
):
    """A file's hundred thousand audit events were built as model objects at once (the
    largest allowed file peaked at 514 MB); they are appended a batch at a time, still one
    unbroken chain, and SQLite's page cache is what it was before the merge."""
    from django.db import connection

    from xueji.audit import verify
    from xueji.exchange import loader

    monkeypatch.setattr(loader, "AUDIT_BATCH_ROWS", 2)
    batches: list[int] = []
    append_raw = loader.append_raw

    def counting(using, events):
        batches.append(len(events))
        return append_raw(using, events)

    monkeypatch.setattr(loader, "append_raw", counting)
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size" if connection.vendor == "sqlite" else "SELECT 1")
        cache_before = cursor.fetchone()[0]
    rows = [registration(school) for _ in range(5)]

    job = run_file(school_user, write_csv(tmp_path / "students.csv", rows))

    assert job.created_count == 5
    assert batches == [2, 2, 1]
    assert verify.verify().problems == []
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size" if connection.vendor == "sqlite" else "SELECT 1")
        assert cursor.fetchone()[0] == cache_before


def test_importing_the_same_file_twice_creates_nothing_new(tmp_path, school, school_user):
    rows = [registration(school) for _ in range(4)]
    path = write_csv(tmp_path / "students.csv", rows)
    first = run_file(school_user, path)
    assert first.created_count == 4
    before = registry_counts()

    second = run_file(school_user, path)

    assert second.status == ImportStatus.SUCCEEDED
    assert (second.created_count, second.skipped_count, second.error_count) == (0, 4, 0)
    assert "新建 0 人，已存在跳过 4 人，错误 0 行" in second.message
    assert registry_counts() == before


def test_reimport_skips_students_without_id_by_name_birth_date_and_school(
    tmp_path, school, school_user
):
    rows = [registration(school, id_type="", id_number="", name="赵无证")]
    path = write_csv(tmp_path / "noid.csv", rows)
    first = run_file(school_user, path)
    assert first.created_count == 1
    assert Student.objects.get().number_kind == "L"

    second = run_file(school_user, path)

    assert (second.created_count, second.skipped_count) == (0, 1)
    assert Student.objects.count() == 1


# -- modes --------------------------------------------------------------------------------


def test_all_or_nothing_with_one_bad_row_is_rejected_and_changes_nothing(
    tmp_path, school, school_user
):
    good = [registration(school) for _ in range(3)]
    bad = registration(school, sex="3")
    path = write_csv(tmp_path / "students.csv", [good[0], bad, *good[1:]])
    before = registry_counts()

    job = run_file(school_user, path, mode="all_or_nothing")

    assert job.status == ImportStatus.REJECTED
    assert (job.created_count, job.error_count, job.processed_rows) == (0, 1, 4)
    assert only_error(job) == (3, "性别", "sex.invalid", "性别应为 1（男）或 2（女）")
    assert "发现 1 行错误" in job.message and "未导入任何数据" in job.message
    assert registry_counts() == before
    assert not AuditEvent.objects.filter(action="import.students").exists()
    report = reports.error_report_csv(job).decode("utf-8-sig")
    assert list(csv.reader(io.StringIO(report)))[1] == [
        "3",
        "性别",
        "3",
        "性别代码",  # the rule by its name: a report never shows a code (issue 11 #7)
        "性别应为 1（男）或 2（女）",
    ]


def test_valid_rows_mode_loads_good_rows_and_reports_bad_ones(tmp_path, school, school_user):
    good = [registration(school) for _ in range(3)]
    bad = registration(school, grade="99")
    path = write_csv(tmp_path / "students.csv", [good[0], bad, *good[1:]])

    job = run_file(school_user, path, mode="valid_rows")

    assert job.status == ImportStatus.SUCCEEDED
    assert (job.created_count, job.skipped_count, job.error_count) == (3, 0, 1)
    row, column, code, message = only_error(job)
    assert (row, column, code) == (3, "年级", "grade.unknown")
    assert message.startswith("年级代码不正确")
    assert set(Student.objects.values_list("number", flat=True)) == {
        "G" + r["id_number"] for r in good
    }
    assert not Student.objects.filter(identity.number_q("G" + bad["id_number"])).exists()


# -- bad files ----------------------------------------------------------------------------


def assert_file_rejected(job: ImportJob, code: str, *fragments: str) -> str:
    """The job was refused as a whole, with one file-level error (row 0, column 文件)."""
    assert job.status == ImportStatus.REJECTED
    assert job.created_count == 0
    row, column, found_code, message = only_error(job)
    assert (row, column, found_code) == (0, "文件", code), message
    for fragment in fragments:
        assert fragment in message, message
    assert job.message == message
    return message


def test_malformed_xlsx_is_rejected(tmp_path, school_user):
    path = tmp_path / "students.xlsx"
    path.write_bytes(os.urandom(4096))
    before = registry_counts()

    job = run_file(school_user, path)

    assert_file_rejected(job, "file.corrupt", "不是有效的 xlsx 文件")
    assert registry_counts() == before


def test_zip_that_is_not_a_workbook_is_rejected(tmp_path, school_user):
    path = tmp_path / "students.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("hello.txt", "不是工作簿")

    job = run_file(school_user, path)

    assert_file_rejected(job, "file.corrupt", "无法读取 xlsx 文件")


def test_truncated_xlsx_is_rejected(tmp_path, school, school_user):
    whole = write_xlsx(tmp_path / "whole.xlsx", [registration(school) for _ in range(200)])
    path = tmp_path / "students.xlsx"
    data = whole.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    before = registry_counts()

    job = run_file(school_user, path)

    assert_file_rejected(job, "file.corrupt", "xlsx")
    assert registry_counts() == before


def test_wrong_headers_name_the_missing_required_columns(tmp_path, school, school_user):
    headers = [h if h not in ("性别", "年级") else h + "代码" for h in HEADERS]
    path = write_csv(tmp_path / "students.csv", [registration(school)], headers=headers)
    before = registry_counts()

    job = run_file(school_user, path)

    message = assert_file_rejected(job, "file.header_missing", "表头缺少必填列：性别、年级")
    assert "性别代码" in message and "请使用下载的导入模板" in message
    assert registry_counts() == before


def test_a_foreign_file_gets_the_whole_header_message_in_the_report(tmp_path, school_user):
    path = tmp_path / "students.csv"
    headers = [f"第{n}列的某种很长的标题" for n in range(40)]
    path.write_text(",".join(headers) + "\n" + ",".join("x" * 40) + "\n", encoding="utf-8")

    job = run_file(school_user, path)

    message = assert_file_rejected(job, "file.header_missing", "学校标识码、姓名、性别")
    assert message.endswith("…。请使用下载的导入模板。") and len(message) <= 255


def test_header_marks_from_the_template_are_accepted(tmp_path, school, school_user):
    headers = [f"{c.header}*" if c.required else c.header for c in STUDENT_COLUMNS]
    path = write_csv(tmp_path / "students.csv", [registration(school)], headers=headers)

    job = run_file(school_user, path)

    assert job.status == ImportStatus.SUCCEEDED and job.created_count == 1


def test_id_stored_as_a_number_cell_in_xlsx_is_refused(tmp_path, school, school_user):
    candidates = (registration(school) for _ in range(20))
    rows = [row for row in candidates if row["id_number"].isdigit()][:2]  # no X: a number
    path = write_xlsx(tmp_path / "students.xlsx", rows, numeric_ids=True)
    before = registry_counts()

    job = run_file(school_user, path)

    assert job.status == ImportStatus.REJECTED and job.error_count == 2
    first = errors_of(job)[0]
    assert first[:3] == (2, "身份证件号", "id.numeric_cell")
    assert first[3] == (
        "身份证件号在表格中被存为数字，超过15位的数字已丢失精度；请将该列设为“文本”格式后重新填写"
    )
    assert registry_counts() == before


def test_wrong_check_character_is_refused(tmp_path, school, school_user):
    row = registration(school)
    good = row["id_number"]
    wrong = next(ch for ch in "0123456789X" if ch != good[-1])
    row["id_number"] = good[:-1] + wrong
    path = write_csv(tmp_path / "students.csv", [row])
    before = registry_counts()

    job = run_file(school_user, path)

    assert only_error(job) == (
        2,
        "身份证件号",
        "id.checksum",
        f"校验码错误：应为 {good[-1]}，实为 {wrong}",
    )
    assert job.row_errors.get().value == good[:-1] + wrong
    assert registry_counts() == before


def test_impossible_birth_date_is_refused(tmp_path, school, school_user):
    row = registration(school, birth_date="2017-02-30")
    path = write_csv(tmp_path / "students.csv", [row])
    before = registry_counts()

    job = run_file(school_user, path)

    assert only_error(job) == (
        2,
        "出生日期",
        "date.invalid",
        "出生日期不是有效日期（格式 YYYY-MM-DD）",
    )
    assert registry_counts() == before


def test_impossible_date_inside_the_id_is_refused(tmp_path, school, school_user):
    body = "440106" + "20170230" + "002"
    row = registration(school, id_number=body + resident_id_check_char(body), birth_date="")
    path = write_csv(tmp_path / "students.csv", [row])

    job = run_file(school_user, path)

    found = errors_of(job)
    assert found[0] == (
        2,
        "身份证件号",
        "id.date_invalid",
        "出生日期 20170230 不是真实存在的日期",
    )
    assert Student.objects.count() == 0


def test_future_birth_date_is_refused(tmp_path, school, school_user):
    born = date(2099, 1, 1)
    row = registration(school, born=born)
    path = write_csv(tmp_path / "students.csv", [row])
    before = registry_counts()

    job = run_file(school_user, path)

    found = {(r, col, code): message for r, col, code, message in errors_of(job)}
    assert found[(2, "出生日期", "date.future")] == "出生日期不能晚于今天"
    assert found[(2, "身份证件号", "id.date_future")].startswith("出生日期 20990101 晚于今天")
    assert job.status == ImportStatus.REJECTED and job.error_count == 1
    assert registry_counts() == before


def test_unknown_division_in_the_id_is_refused(tmp_path, school, school_user):
    row = registration(school, id_number=resident_id("999999", date(2017, 3, 8), "2"))
    path = write_csv(tmp_path / "students.csv", [row])
    before = registry_counts()

    job = run_file(school_user, path)

    assert only_error(job) == (
        2,
        "身份证件号",
        "id.area_unknown",
        "前 6 位地址码 999999 不是有效的行政区划代码",
    )
    assert registry_counts() == before


def test_unknown_birthplace_code_is_refused(tmp_path, school, school_user):
    row = registration(school, birthplace_code="000000")
    path = write_csv(tmp_path / "students.csv", [row])
    before = registry_counts()

    job = run_file(school_user, path)

    assert only_error(job) == (
        2,
        "出生地",
        "division.unknown",
        "出生地应为有效的6位行政区划代码",
    )
    assert job.row_errors.get().value == "000000"
    assert registry_counts() == before


def test_file_over_the_size_limit_is_refused_before_any_job(tmp_path, school, school_user):
    path = write_csv(tmp_path / "students.csv", [registration(school) for _ in range(5)])
    assert path.stat().st_size > 1024
    audit_before = AuditEvent.objects.count()

    small = override_settings(XUEJI={**settings.XUEJI, "IMPORT_MAX_BYTES": 1024})
    with small, pytest.raises(ValidationFailed) as caught:
        submit(school_user, path)

    [error] = caught.value.errors
    assert (error.field, error.code) == ("file", "file.too_large")
    assert "超过上限 0.0 MB" in error.message and "请分批导入" in error.message
    assert not ImportJob.objects.exists()
    assert AuditEvent.objects.count() == audit_before


def test_empty_file_is_refused_before_any_job(tmp_path, school_user):
    path = tmp_path / "students.csv"
    path.write_bytes(b"")

    with pytest.raises(ValidationFailed) as caught:
        submit(school_user, path)

    assert [(e.code, e.message) for e in caught.value.errors] == [("file.empty", "文件为空")]
    assert not ImportJob.objects.exists()


def test_unsupported_suffix_is_refused_before_any_job(tmp_path, school_user):
    path = tmp_path / "students.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0 old excel")

    with pytest.raises(ValidationFailed) as caught:
        submit(school_user, path)

    assert [e.code for e in caught.value.errors] == ["file.format"]


@pytest.mark.parametrize(
    ("content", "code", "fragment"),
    [
        (b"\xef\xbb\xbf", "file.empty", "文件中没有数据"),
        (b"\r\n\r\n", "file.empty", "文件中没有数据"),
        (",".join(HEADERS).encode() + b"\r\n", "file.empty", "只有表头"),
        (",".join(HEADERS).encode() + b"\r\n,,,\r\n", "file.empty", "只有表头"),
    ],
    ids=["bom-only", "blank-lines", "header-only", "header-and-blank-row"],
)
def test_file_without_data_rows_is_rejected(tmp_path, school_user, content, code, fragment):
    path = tmp_path / "students.csv"
    path.write_bytes(content)

    job = run_file(school_user, path)

    assert_file_rejected(job, code, fragment)


def test_empty_xlsx_is_rejected(tmp_path, school_user):
    path = tmp_path / "students.xlsx"
    book = xlsxwriter.Workbook(str(path))
    book.add_worksheet()
    book.close()

    job = run_file(school_user, path)

    assert_file_rejected(job, "file.empty", "文件中没有数据")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le"], ids=["with-bom", "without-bom"])
def test_csv_in_utf16_is_refused_as_an_encoding_error(tmp_path, school, school_user, encoding):
    path = write_csv(tmp_path / "students.csv", [registration(school)], encoding=encoding)
    before = registry_counts()

    job = run_file(school_user, path)

    assert_file_rejected(job, "file.encoding", "UTF-16", "UTF-8 或 GB18030")
    assert registry_counts() == before


def test_csv_mixing_utf8_and_gb18030_is_refused(tmp_path, school, school_user):
    header = write_csv(tmp_path / "head.csv", [registration(school, name="李雷")]).read_bytes()
    tail = write_csv(
        tmp_path / "tail.csv", [registration(school, name="韩梅梅")], encoding="gb18030"
    )
    path = tmp_path / "students.csv"
    path.write_bytes(header + tail.read_bytes().split(b"\r\n", 1)[1])
    before = registry_counts()

    job = run_file(school_user, path)

    assert_file_rejected(job, "file.encoding", "编码不一致", "UTF-8")
    assert registry_counts() == before


def test_csv_mixing_encodings_far_down_the_file_names_the_row(tmp_path, school, school_user):
    rows = many_registrations(school, 600, address="广州市天河区" * 5)
    utf8 = write_csv(tmp_path / "head.csv", rows).read_bytes()
    assert len(utf8) > 1 << 16  # beyond what the encoding sniffer reads
    tail = write_csv(
        tmp_path / "tail.csv", [registration(school, name="韩梅梅")], encoding="gb18030"
    )
    path = tmp_path / "students.csv"
    path.write_bytes(utf8 + tail.read_bytes().split(b"\r\n", 1)[1])

    job = run_file(school_user, path, mode="valid_rows")

    assert_file_rejected(job, "file.encoding", "第 602 行的字符无法按 UTF-8 解码", "编码不一致")
    assert Student.objects.count() == 0


def test_csv_with_a_bom_and_gb18030_rows_names_the_row(tmp_path, school, school_user):
    head = write_csv(tmp_path / "head.csv", [registration(school)], encoding="utf-8-sig")
    tail = write_csv(
        tmp_path / "tail.csv", [registration(school, name="韩梅梅")], encoding="gb18030"
    )
    path = tmp_path / "students.csv"
    path.write_bytes(head.read_bytes() + tail.read_bytes().split(b"\r\n", 1)[1])

    job = run_file(school_user, path)

    assert_file_rejected(job, "file.encoding", "第 3 行的字符无法按 UTF-8 解码", "编码不一致")
    assert Student.objects.count() == 0


def test_blank_lines_above_the_header_keep_row_numbers(tmp_path, school, school_user):
    body = write_csv(tmp_path / "body.csv", [registration(school), registration(school, sex="7")])
    path = tmp_path / "students.csv"
    path.write_bytes(b"\r\n,,\r\n" + body.read_bytes())

    job = run_file(school_user, path)

    assert only_error(job)[:3] == (5, "性别", "sex.invalid")


def test_blank_rows_above_the_header_in_xlsx_keep_row_numbers(tmp_path, school, school_user):
    path = tmp_path / "students.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet()
    for r, cells in enumerate(table([registration(school), registration(school, sex="7")])):
        sheet.write_row(r + 2, 1, [str(c) for c in cells])  # header in B3
    book.close()

    job = run_file(school_user, path)

    assert only_error(job)[:3] == (5, "性别", "sex.invalid")
    assert job.total_rows == 2


def test_csv_with_old_mac_line_ends_is_read(tmp_path, school, school_user):
    rows = [registration(school), registration(school)]
    lines = ["\r".join(",".join(str(c) for c in cells) for cells in table(rows))]
    path = tmp_path / "students.csv"
    path.write_bytes(lines[0].encode("gb18030") + b"\r")

    job = run_file(school_user, path)

    assert job.status == ImportStatus.SUCCEEDED, errors_of(job)
    assert job.created_count == 2


# -- duplicates, scope, grades ------------------------------------------------------------


def test_duplicate_id_inside_the_file_names_the_first_row(tmp_path, school, school_user):
    first = registration(school)
    again = registration(school, id_number=first["id_number"], name="另一个名字")
    path = write_csv(tmp_path / "students.csv", [registration(school), first, again])
    before = registry_counts()

    job = run_file(school_user, path)

    assert only_error(job) == (
        4,
        "身份证件号",
        "file.duplicate_id",
        "与本文件第 3 行的身份证件号重复",
    )
    assert registry_counts() == before

    valid = run_file(school_user, path, mode="valid_rows")
    assert (valid.created_count, valid.error_count) == (2, 1)
    assert Student.objects.get(identity.number_q("G" + first["id_number"])).name == first["name"]


def test_duplicate_id_across_chunks_is_found(tmp_path, school, school_user):
    rows = many_registrations(school, 600)
    rows.append(dict(rows[0]))
    path = write_csv(tmp_path / "students.csv", rows)

    job = run_file(school_user, path, mode="valid_rows")

    assert only_error(job) == (
        602,
        "身份证件号",
        "file.duplicate_id",
        "与本文件第 2 行的身份证件号重复",
    )
    assert job.created_count == 600


def test_id_registered_at_another_school_is_refused(
    tmp_path, school, school_user, other_school, other_school_user, make_student
):
    elsewhere = make_student(school=other_school, actor=other_school_user)
    row = registration(
        school, id_number=identity.read_id(elsewhere), birth_date=elsewhere.birth_date.isoformat()
    )
    row["sex"] = elsewhere.sex
    path = write_csv(tmp_path / "students.csv", [row])
    before = registry_counts()

    job = run_file(school_user, path)

    row_no, column, code, message = only_error(job)
    assert (row_no, column, code) == (2, "身份证件号", "student.duplicate_id")
    # Outside the clerk's scope: where the child is, never its number, name or state
    # (the disclosure module's wording, as one-by-one registration says it).
    assert message == (
        "该身份证件号已有学籍，一人只能有一个学籍。"
        "该学生已在锦江区实验小学（四川省成都市锦江区）有学籍，请向家长索取学籍号后办理转入。"
    )
    assert elsewhere.number_masked not in message and elsewhere.name not in message
    assert registry_counts() == before
    assert StatusRecord.objects.get(student=elsewhere).school_id == other_school.pk
    audit = AuditEvent.objects.get(action="student.duplicate_outside")
    assert (audit.object_type, audit.object_id) == ("exchange.import_job", str(job.pk))
    assert audit.detail == {"step": "import", "exact_ids": [elsewhere.pk], "candidate_ids": []}


def test_id_registered_at_another_school_in_scope_names_its_masked_number(
    tmp_path, school, make_student
):
    """A county clerk importing for a school of its county learns the masked number of a
    record it may read anyway."""
    from tests.factories import SchoolFactory

    county_clerk = authority_user("440106", roles=(Role.CLERK,))
    neighbour = SchoolFactory(name="天河区第二实验小学", division_code="440106")
    elsewhere = make_student(school=neighbour, actor=county_clerk)
    row = registration(
        school, id_number=identity.read_id(elsewhere), birth_date=elsewhere.birth_date.isoformat()
    )
    row["sex"] = elsewhere.sex
    job = run_file(county_clerk, write_csv(tmp_path / "students.csv", [row]))
    _row, _column, code, message = only_error(job)
    assert code == "student.duplicate_id"
    assert message.startswith(f"该身份证件号已有学籍（学籍号 {elsewhere.number_masked}）")
    assert not AuditEvent.objects.filter(action="student.duplicate_outside").exists()


def test_school_outside_the_actor_scope_is_unknown(tmp_path, school, school_user, other_school):
    row = registration(other_school)
    path = write_csv(tmp_path / "students.csv", [registration(school), row])
    before = registry_counts()

    job = run_file(school_user, path)

    assert only_error(job) == (
        3,
        "学校标识码",
        "school.unknown",
        "学校标识码不存在或不在您的管理范围内",
    )
    assert job.row_errors.get().value == other_school.code
    assert registry_counts() == before


def test_county_clerk_imports_for_schools_in_the_county(tmp_path, school):
    county_clerk = authority_user("440106", roles=(Role.CLERK,))
    rows = [registration(school) for _ in range(2)]

    job = run_file(county_clerk, write_csv(tmp_path / "students.csv", rows))

    assert job.status == ImportStatus.SUCCEEDED and job.created_count == 2


def test_grade_not_offered_by_the_school_is_refused(tmp_path, school, school_user):
    row = registration(school, grade="21")
    path = write_csv(tmp_path / "students.csv", [row])
    before = registry_counts()

    job = run_file(school_user, path)

    assert only_error(job) == (
        2,
        "年级",
        "grade.not_offered",
        f"{school.name}（小学）不开设该年级",
    )
    assert registry_counts() == before


def test_unknown_school_code_is_refused(tmp_path, school, school_user):
    path = write_csv(tmp_path / "students.csv", [registration(school, school_code="1999999999")])

    job = run_file(school_user, path)

    assert only_error(job)[:3] == (2, "学校标识码", "school.unknown")


def test_errors_name_the_exact_column(tmp_path, school, school_user):
    # 姓名拼音 (name_pinyin) starts like 姓名 (name): the report must not confuse them.
    path = write_csv(tmp_path / "students.csv", [registration(school, name_pinyin="li3 lei")])

    job = run_file(school_user, path)

    assert only_error(job) == (2, "姓名拼音", "pinyin.invalid", "姓名拼音只能包含字母和空格")


def test_non_basic_fields_of_the_default_schema_are_imported(tmp_path, school, school_user):
    row = registration(school, household_address="广东省广州市天河区", only_child="是")
    path = write_csv(
        tmp_path / "students.csv",
        [row],
        extra={"household_address": "户籍地址", "only_child": "独生子女"},
    )

    job = run_file(school_user, path)

    assert job.status == ImportStatus.SUCCEEDED, errors_of(job)
    data = NonBasicInfo.objects.get().data
    assert data["household_address"] == "广东省广州市天河区" and data["only_child"] is True


def test_rows_follow_the_non_basic_schema_of_the_school_province(
    tmp_path, school, school_user, province_user
):
    filed = nonbasic_schema_file(
        actor=province_user,
        fields=[
            *DEFAULT_SCHEMA_FIELDS,
            {"key": "dialect", "label": "家庭常用语言", "type": "text", "required": True},
            {"key": "school_bus", "label": "乘坐校车", "type": "bool"},
        ],
    )
    extra = {"dialect": "家庭常用语言", "school_bus": "乘坐校车"}
    good = registration(school, dialect="粤语", school_bus="是")
    missing = registration(school)
    path = write_csv(tmp_path / "students.csv", [good, missing], extra=extra)

    job = run_file(school_user, path, mode="valid_rows")

    assert only_error(job) == (3, "家庭常用语言", "required", "家庭常用语言不能为空")
    info = NonBasicInfo.objects.get()
    assert info.schema_id == filed.pk
    assert info.data["dialect"] == "粤语" and info.data["school_bus"] is True


# -- reports and the template -------------------------------------------------------------


def test_error_reports_in_csv_and_xlsx_list_every_error(tmp_path, school, school_user):
    rows = [
        registration(school),
        registration(school, sex="9"),
        registration(school, birthplace_code="000000", grade="99"),
    ]
    job = run_file(school_user, write_csv(tmp_path / "students.csv", rows), mode="valid_rows")
    expected = [
        ["行号", "列", "值", "规则", "说明"],
        ["3", "性别", "9", "性别代码", "性别应为 1（男）或 2（女）"],
        ["4", "出生地", "000000", "行政区划代码无效", "出生地应为有效的6位行政区划代码"],
    ]

    raw = reports.error_report_csv(job)
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel opens UTF-8 csv only with the BOM
    lines = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert lines[:3] == expected
    assert [line[:4] for line in lines[3:]] == [["4", "年级", "99", "年级代码"]]

    sheet = openpyxl.load_workbook(io.BytesIO(reports.error_report_xlsx(job))).active
    cells = [
        [("" if v is None else str(v)) for v in row] for row in sheet.iter_rows(values_only=True)
    ]
    assert sheet.title == "错误报告"
    assert cells[:3] == expected
    assert cells[3][:4] == ["4", "年级", "99", "年级代码"]


def test_error_reports_keep_typed_values_inert(tmp_path, school, school_user):
    formula = '=HYPERLINK("http://example.invalid","点我")'
    path = write_csv(tmp_path / "students.csv", [registration(school, class_name=formula)])
    job = run_file(school_user, path)
    assert only_error(job)[:3] == (2, "班级", "class.invalid")

    lines = list(csv.reader(io.StringIO(reports.error_report_csv(job).decode("utf-8-sig"))))
    assert lines[1][2] == "'" + formula

    sheet = openpyxl.load_workbook(io.BytesIO(reports.error_report_xlsx(job))).active
    cell = sheet.cell(row=2, column=3)
    assert (cell.value, cell.data_type) == (formula, "s")


def test_error_report_of_a_rejected_file_has_the_file_error(tmp_path, school_user):
    path = tmp_path / "students.xlsx"
    path.write_bytes(b"not a workbook at all")
    job = run_file(school_user, path)

    lines = list(csv.reader(io.StringIO(reports.error_report_csv(job).decode("utf-8-sig"))))

    assert lines[1][:4] == ["", "文件", "", "文件损坏"]


def test_template_has_chinese_headers_text_id_columns_and_drop_downs(tmp_path):
    path = tmp_path / "template.xlsx"
    path.write_bytes(reports.build_template(STUDENT_COLUMNS))

    book = openpyxl.load_workbook(path)
    sheet = book.worksheets[0]

    assert sheet.title == "导入数据"
    headers = [cell.value for cell in sheet[1]]
    assert [h.rstrip("*") for h in headers] == HEADERS
    assert "姓名*" in headers and "身份证件号*" not in headers and "身份证件号" in headers
    for key in ("id_number", "guardian_id_number", "school_code"):
        letter = openpyxl.utils.get_column_letter(KEYS.index(key) + 1)
        assert sheet.column_dimensions[letter].number_format == "@", key
    validated = {str(v.sqref).split(":")[0] for v in sheet.data_validations.dataValidation}
    for key in ("ethnicity", "id_type", "grade"):
        letter = openpyxl.utils.get_column_letter(KEYS.index(key) + 1)
        assert f"{letter}2" in validated, key
    assert all(v.type == "list" for v in sheet.data_validations.dataValidation)
    assert "填写说明" in book.sheetnames
    codes = book["codes"]
    assert codes.sheet_state == "hidden"
    listed = {c.value for col in codes.iter_cols() for c in col}
    assert {"01", "CHN", "13"} <= listed  # 汉族, China, grade 3


def test_a_filled_template_imports(tmp_path, school, school_user):
    """The template itself, filled in with openpyxl as text, is a valid import file."""
    template = tmp_path / "template.xlsx"
    template.write_bytes(reports.build_template(STUDENT_COLUMNS))
    book = openpyxl.load_workbook(template)
    sheet = book.worksheets[0]
    rows = [registration(school, name=RARE_NAME), registration(school)]
    for r, row in enumerate(rows, start=2):
        for c, key in enumerate(KEYS, start=1):
            cell = sheet.cell(row=r, column=c, value=str(row.get(key, "")) or None)
            cell.number_format = "@"
    path = tmp_path / "filled.xlsx"
    book.save(path)

    job = run_file(school_user, path)

    assert job.status == ImportStatus.SUCCEEDED, errors_of(job)
    assert job.created_count == 2
    assert Student.objects.filter(name=RARE_NAME).exists()


# -- the services and the task -------------------------------------------------------------


def test_import_job_create_records_the_file_and_an_audit_event(tmp_path, school, school_user):
    path = write_csv(tmp_path / "学生名单.csv", [registration(school)])

    job = submit(school_user, path, mode="valid_rows")

    assert job.status == ImportStatus.QUEUED
    assert (job.file_name, job.mode, job.kind) == ("学生名单.csv", "valid_rows", "students")
    assert job.file_size == path.stat().st_size
    assert job.file_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert Path(job.file.path).read_bytes() == path.read_bytes()
    audit = AuditEvent.objects.get(action="import.submit")
    assert audit.object_id == str(job.pk) and audit.actor_id == school_user.pk
    assert Student.objects.count() == 0


def test_import_job_create_refuses_an_unknown_mode(tmp_path, school, school_user):
    path = write_csv(tmp_path / "students.csv", [registration(school)])

    with pytest.raises(ValidationFailed) as caught:
        submit(school_user, path, mode="sometimes")

    assert [e.code for e in caught.value.errors] == ["mode.unknown"]


def test_import_job_create_needs_the_import_permission(tmp_path, school, county_user):
    path = write_csv(tmp_path / "students.csv", [registration(school)])

    with pytest.raises(Forbidden):
        submit(county_user, path)  # a county reviewer checks, a clerk imports

    assert not ImportJob.objects.exists()


def test_finished_job_is_not_run_again(tmp_path, school, school_user):
    job = run_file(school_user, write_csv(tmp_path / "students.csv", [registration(school)]))
    before = registry_counts()

    again = import_job_run(job_id=job.pk)

    assert again.status == ImportStatus.SUCCEEDED and again.created_count == 1
    assert registry_counts() == before


def test_unexpected_failure_marks_the_job_failed_and_writes_nothing(
    tmp_path, school, school_user, monkeypatch
):
    from xueji.exchange import loader

    def explode(self, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(loader.StudentStage, "merge", explode)
    before = registry_counts()

    job = run_file(school_user, write_csv(tmp_path / "students.csv", [registration(school)]))

    assert job.status == ImportStatus.FAILED
    assert job.message == "导入过程中发生系统错误，未写入任何数据。请联系管理员。"
    assert registry_counts() == before


def test_progress_is_stored_on_the_job(tmp_path, school, school_user):
    rows = [registration(school) for _ in range(3)]
    job = submit(school_user, write_csv(tmp_path / "students.csv", rows))
    snapshots: list[tuple] = []

    def watch(outcome):
        stored = ImportJob.objects.get(pk=job.pk)
        snapshots.append((stored.status, stored.processed_rows, stored.total_rows))

    import_job_run(job_id=job.pk, progress=watch)

    assert snapshots == [(ImportStatus.RUNNING, 3, 3)]


def test_task_runs_the_job(tmp_path, school, school_user):
    rows = [registration(school) for _ in range(2)]
    job = submit(school_user, write_csv(tmp_path / "students.csv", rows))

    result = run_import_job.enqueue(str(job.pk))

    job.refresh_from_db()
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert job.status == ImportStatus.SUCCEEDED and job.created_count == 2
    assert StatusEvent.objects.filter(batch=str(job.pk), kind="import").count() == 2


def test_task_records_a_rejected_file(tmp_path, school_user):
    path = tmp_path / "students.csv"
    path.write_bytes("学校标识码,姓名\r\n1144000001,张三\r\n".encode("utf-16"))
    job = submit(school_user, path)

    run_import_job.enqueue(str(job.pk))

    job.refresh_from_db()
    assert job.status == ImportStatus.REJECTED
    assert ImportRowError.objects.get(job=job).code == "file.encoding"


# -- schools --------------------------------------------------------------------------------


def write_school_xlsx(path: Path, rows: list[list]) -> Path:
    """Schools as a clerk's Excel holds them: codes typed into General cells are numbers."""
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, [c.header for c in SCHOOL_COLUMNS])
    for r, cells in enumerate(rows, start=1):
        sheet.write_row(r, 0, cells)  # write() keeps numbers as NUMBER cells
    book.close()
    return path


def submit_schools(actor, path: Path, mode: str = "all_or_nothing") -> ImportJob:
    with path.open("rb") as handle:
        job = import_job_create(
            actor=actor,
            upload=File(handle, name=path.name),
            file_name=path.name,
            mode=mode,
            kind=ImportKind.SCHOOLS,
        )
    return import_job_run(job_id=job.pk)


def test_school_codes_typed_as_numbers_import_and_reimport(tmp_path, county_user):
    rows = [
        [4401060001, "天河区第二实验小学", 211, 1, 440106, "county", "体育西路1号"],
        [4401060002, "天河区第三中学", 311, 1, 440106, "", ""],
    ]
    path = write_school_xlsx(tmp_path / "schools.xlsx", rows)

    first = submit_schools(county_user, path)
    second = submit_schools(county_user, path)

    assert first.status == ImportStatus.SUCCEEDED, errors_of(first)
    assert first.created_count == 2
    assert School.objects.get(code="4401060001").school_type == "211"
    assert (second.status, second.created_count, second.skipped_count) == (
        ImportStatus.SUCCEEDED,
        0,
        2,
    )


def test_school_outside_the_actor_division_is_refused(tmp_path, county_user):
    path = write_school_xlsx(
        tmp_path / "schools.xlsx", [["5101040009", "锦江区某小学", "211", "1", "510104", "", ""]]
    )

    job = submit_schools(county_user, path)

    assert job.status == ImportStatus.REJECTED
    assert only_error(job) == (2, "所在区县", "scope.outside", "该区县不在您的管理范围内")
    assert not School.objects.filter(code="5101040009").exists()
