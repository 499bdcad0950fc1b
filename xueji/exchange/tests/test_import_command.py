"""The ``import_students`` command: exit codes, summary, error table and report files.

The command runs in process (``call_command``) so that it sees the test database; a
subprocess would open another database, so it is used only for argument errors, which
are refused before the database is touched.
"""

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.test import override_settings

from tests.factories import make_user, registration
from xueji.accounts.models import Role
from xueji.audit.models import AuditEvent
from xueji.enrolment.models import StatusEvent, StatusRecord
from xueji.exchange.models import ImportJob, ImportStatus
from xueji.exchange.tests.test_import import RARE_NAME, registry_counts, write_csv, write_xlsx
from xueji.students.models import Student

ROOT = Path(settings.BASE_DIR)


def run(*args: str) -> tuple[int, str]:
    """Call the command in process; returns (exit code, output)."""
    out = io.StringIO()
    try:
        call_command("import_students", *args, stdout=out)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    except CommandError as exc:
        code = exc.returncode
        out.write(str(exc))
    return code, out.getvalue()


def run_process(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    env.pop("XUEJI_TEST_DATABASE_URL", None)  # argument errors never reach a database
    return subprocess.run(
        [sys.executable, "manage.py", "import_students", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# -- in process ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_clean_file_exits_0_and_prints_the_summary(tmp_path, school, school_user):
    rows = [registration(school, name=RARE_NAME), registration(school), registration(school)]
    path = write_csv(tmp_path / "students.csv", rows)

    code, output = run(str(path), "--user", "clerk")

    assert code == 0, output
    assert "导入结果：已完成" in output
    assert "新建 3 人，已存在跳过 0 人，错误 0 行（共处理 3 行）" in output
    assert "处理行数" in output and "3/3" in output
    assert "错误明细" not in output
    assert Student.objects.filter(name=RARE_NAME).exists()
    job = ImportJob.objects.get()
    assert (job.status, job.created_count, job.created_by_id) == ("succeeded", 3, school_user.pk)
    assert AuditEvent.objects.get(action="import.submit").channel == "cli"
    assert StatusEvent.objects.filter(kind="import", batch=str(job.pk)).count() == 3


@pytest.mark.django_db
def test_xlsx_in_valid_rows_mode_with_an_error_row_exits_1(tmp_path, school, school_user):
    rows = [registration(school), registration(school, grade="21"), registration(school)]
    path = write_xlsx(tmp_path / "students.xlsx", rows)

    code, output = run(str(path), "--user", "clerk", "--mode", "valid_rows")

    assert code == 1
    assert "新建 2 人，已存在跳过 0 人，错误 1 行" in output
    assert "错误明细" in output
    assert "grade.not_offered" in output and "不开设该年级" in output
    assert Student.objects.count() == 2


@pytest.mark.django_db
def test_rejected_file_exits_1_changes_nothing_and_writes_the_csv_report(
    tmp_path, school, school_user
):
    rows = [registration(school), registration(school, birthplace_code="000000")]
    path = write_csv(tmp_path / "students.csv", rows)
    report = tmp_path / "errors.csv"
    before = registry_counts()

    code, output = run(str(path), "--user", "clerk", "--errors", str(report))

    assert code == 1
    assert "导入结果：未导入（存在错误）" in output
    assert "按“全部正确才导入”模式未导入任何数据" in output
    assert "division.unknown" in output
    assert f"错误报告已写入 {report}" in output
    assert registry_counts() == before
    lines = list(csv.reader(io.StringIO(report.read_bytes().decode("utf-8-sig"))))
    assert lines == [
        ["行号", "列", "值", "规则", "说明"],
        ["3", "出生地", "000000", "行政区划代码无效", "出生地应为有效的6位行政区划代码"],
    ]


@pytest.mark.django_db
def test_error_report_as_xlsx(tmp_path, school, school_user):
    path = write_csv(tmp_path / "students.csv", [registration(school, sex="x")])
    report = tmp_path / "errors.xlsx"

    code, _output = run(str(path), "--user", "clerk", "--errors", str(report))

    assert code == 1
    rows = list(openpyxl.load_workbook(report).active.iter_rows(values_only=True))
    assert rows[1][:4] == (2, "性别", "x", "性别代码")


@pytest.mark.django_db
def test_only_the_first_20_errors_are_listed(tmp_path, school, school_user):
    rows = [registration(school, sex="9") for _ in range(25)]
    path = write_csv(tmp_path / "students.csv", rows)

    code, output = run(str(path), "--user", "clerk")

    assert code == 1
    assert output.count("sex.invalid") == 20
    assert "共 25 条错误，仅显示前 20 条" in output


@pytest.mark.django_db
def test_malformed_file_exits_1_with_the_file_error(tmp_path, school_user):
    path = tmp_path / "students.xlsx"
    path.write_bytes(b"\x00\x01 definitely not a workbook")

    code, output = run(str(path), "--user", "clerk")

    assert code == 1
    assert "file.corrupt" in output and "不是有效的 xlsx 文件" in output
    assert ImportJob.objects.get().status == ImportStatus.REJECTED


@pytest.mark.django_db
def test_importing_twice_exits_0_and_skips(tmp_path, school, school_user):
    path = write_csv(tmp_path / "students.csv", [registration(school), registration(school)])
    assert run(str(path), "--user", "clerk")[0] == 0
    before = registry_counts()

    code, output = run(str(path), "--user", "clerk")

    assert code == 0
    assert "新建 0 人，已存在跳过 2 人，错误 0 行" in output
    assert registry_counts() == before


@pytest.mark.django_db
def test_file_over_the_size_limit_exits_1_without_a_job(tmp_path, school, school_user):
    path = write_csv(tmp_path / "students.csv", [registration(school) for _ in range(5)])

    with override_settings(XUEJI={**settings.XUEJI, "IMPORT_MAX_BYTES": 512}):
        code, output = run(str(path), "--user", "clerk")

    assert code == 1
    assert "file.too_large" in output and "请分批导入" in output
    assert not ImportJob.objects.exists()


@pytest.mark.django_db
def test_failed_job_exits_1(tmp_path, school, school_user, monkeypatch):
    from xueji.exchange import loader

    def explode(self, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(loader.StudentStage, "merge", explode)
    path = write_csv(tmp_path / "students.csv", [registration(school)])

    code, output = run(str(path), "--user", "clerk")

    assert code == 1
    assert "导入结果：失败" in output and "未写入任何数据" in output
    assert Student.objects.count() == 0


@pytest.mark.django_db
def test_unknown_user_exits_2(tmp_path, school):
    path = write_csv(tmp_path / "students.csv", [registration(school)])

    code, output = run(str(path), "--user", "nobody")

    assert code == 2
    assert "没有名为“nobody”的有效账号" in output
    assert not ImportJob.objects.exists()


@pytest.mark.django_db
def test_inactive_user_exits_2(tmp_path, school, school_user):
    school_user.is_active = False
    school_user.save(update_fields=["is_active"])
    path = write_csv(tmp_path / "students.csv", [registration(school)])

    code, _output = run(str(path), "--user", "clerk")

    assert code == 2


@pytest.mark.django_db
def test_user_without_the_import_permission_exits_2(tmp_path, school):
    make_user(school.unit, roles=(Role.STATISTICIAN,), username="counter")
    path = write_csv(tmp_path / "students.csv", [registration(school)])

    code, output = run(str(path), "--user", "counter")

    assert code == 2
    assert "账号“counter”不能导入学生" in output
    assert not ImportJob.objects.exists()


@pytest.mark.django_db
def test_school_outside_the_user_scope_exits_1(tmp_path, school, school_user, other_school):
    path = write_csv(tmp_path / "students.csv", [registration(other_school)])

    code, output = run(str(path), "--user", "clerk")

    assert code == 1
    assert "school.unknown" in output
    assert StatusRecord.objects.count() == 0


def test_missing_file_exits_2_in_process(tmp_path):
    code, output = run(str(tmp_path / "nothing.csv"), "--user", "clerk")

    assert code == 2
    assert "找不到文件" in output


# -- argument errors, out of process -------------------------------------------------------


@pytest.mark.db_independent
def test_missing_file_exits_2(tmp_path):
    result = run_process(str(tmp_path / "nothing.csv"), "--user", "clerk")

    assert result.returncode == 2
    assert "找不到文件" in result.stderr


@pytest.mark.db_independent
def test_unknown_mode_exits_2(tmp_path):
    path = tmp_path / "students.csv"
    path.write_text("学校标识码\n", encoding="utf-8")

    result = run_process(str(path), "--user", "clerk", "--mode", "sometimes")

    assert result.returncode == 2
    assert "--mode" in result.stderr and "sometimes" in result.stderr


@pytest.mark.db_independent
def test_missing_user_option_exits_2(tmp_path):
    path = tmp_path / "students.csv"
    path.write_text("学校标识码\n", encoding="utf-8")

    result = run_process(str(path))

    assert result.returncode == 2
    assert "--user" in result.stderr


@pytest.mark.db_independent
def test_unknown_report_type_exits_2(tmp_path):
    path = tmp_path / "students.csv"
    path.write_text("学校标识码\n", encoding="utf-8")

    result = run_process(str(path), "--user", "clerk", "--errors", str(tmp_path / "out.pdf"))

    assert result.returncode == 2
    assert "错误报告只能写成 .csv 或 .xlsx 文件" in result.stderr
