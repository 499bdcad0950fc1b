"""python manage.py workdays add / show / load."""

import io
import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from xueji.audit.models import AuditEvent
from xueji.workdays import selectors
from xueji.workdays.models import CalendarYear


def run(*args) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("workdays", *args, stdout=out, stderr=err)
    except SystemExit as exit_:
        return int(exit_.code or 0), out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


def test_add_prints_the_due_date(calendar):
    assert run("add", "2026-02-12", "10") == (0, "2026-03-04\n", "")
    assert run("add", "2026-09-18", "10")[1] == "2026-10-09\n"


def test_add_into_an_unloaded_year_exits_1_with_the_message_on_stderr(calendar):
    code, out, err = run("add", "2026-12-24", "10")
    assert (code, out) == (1, "")
    assert "2027 年工作日历未载入" in err


def test_add_refuses_a_malformed_date(calendar):
    with pytest.raises(CommandError) as error:
        run("add", "2026-02-30", "10")
    assert error.value.returncode == 2


def test_show_lists_holidays_and_make_up_days(calendar):
    code, out, _ = run("show", "2026")
    assert code == 0
    assert "2026-02-15 2026-02-23 春节（9 天）" in out
    assert "2026-10-10 星期六" in out
    assert "2026-09-20 星期日" in out
    assert "工作日 248 天，节假日 33 天，调休上班 6 天" in out
    code, _, err = run("show", "2031")
    assert code == 1
    assert "2031 年工作日历未载入" in err


def test_load_from_options_then_compute(calendar, national_user):
    code, out, err = run(
        "load",
        "2027",
        "--user",
        "national",
        "--notice",
        "国办发明电〔2026〕测试号",
        "--holiday",
        "2027-01-01:2027-01-03:元旦",
        "--holiday",
        "2027-02-06:2027-02-14:春节",
        "--workday",
        "2027-02-20",
    )
    assert (code, err) == (0, "")
    assert "已载入 2027 年工作日历" in out
    assert run("add", "2026-12-24", "10")[1] == "2027-01-08\n"
    assert AuditEvent.objects.get(action="calendar.year_load").channel == "cli"


def test_load_from_a_text_file(calendar, national_user, tmp_path):
    notice = tmp_path / "2027.txt"
    notice.write_text(
        "# 2027 年节假日安排\n2027-01-01 2027-01-03 元旦\n2027-02-06 2027-02-14 春节\n2027-02-20\n",
        encoding="utf-8",
    )
    code, _, err = run(
        "load", "2027", "--user", "national", "--file", str(notice), "--notice", "测试通知"
    )
    assert (code, err) == (0, "")
    assert selectors.is_workday(date(2027, 2, 20)) is True


def test_load_from_a_json_file_reports_the_bad_line(calendar, national_user, tmp_path):
    notice = tmp_path / "2027.json"
    notice.write_text(
        json.dumps(
            {
                "notice": "测试通知",
                "holidays": [{"start": "2027-01-01", "end": "2027-01-03", "name": "元旦"}],
                "makeup_days": ["2027-02-20", "2027-02-22"],
            }
        ),
        encoding="utf-8",
    )
    code, _, err = run("load", "2027", "--user", "national", "--file", str(notice))
    assert code == 1
    assert "调休上班日第 2 行：2027-02-22 是星期一" in err
    assert not CalendarYear.objects.filter(year=2027).exists()


def test_load_by_a_county_account_is_refused(calendar, county_user):
    code, _, err = run(
        "load",
        "2027",
        "--user",
        county_user.username,
        "--notice",
        "x",
        "--holiday",
        "2027-01-01:元旦",
    )
    assert code == 1
    assert "国家级" in err


def test_load_of_a_loaded_year_needs_replace(calendar, national_user):
    arguments = [
        "load",
        "2026",
        "--user",
        "national",
        "--notice",
        "更正",
        "--holiday",
        "2026-01-01:元旦",
    ]
    code, _, err = run(*arguments)
    assert code == 1
    assert "已载入" in err
    assert run(*arguments, "--replace")[0] == 0
    assert AuditEvent.objects.filter(action="calendar.year_replace").count() == 1


@pytest.mark.db_independent
def test_the_command_line_exit_codes(tmp_path):
    """Through a real process against a migrated database file: 0 and the date, 1 and the
    message on stderr."""
    database = tmp_path / "cli.sqlite3"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.dev",
        "DATABASE_URL": f"sqlite:///{database}",
        "XUEJI_DATA_DIR": str(tmp_path),
    }
    manage = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py")]
    migrate = subprocess.run(
        [*manage, "migrate", "workdays", "--noinput"], env=env, capture_output=True, text=True
    )
    assert migrate.returncode == 0, migrate.stderr
    ok = subprocess.run(
        [*manage, "workdays", "add", "2026-02-12", "10"], env=env, capture_output=True, text=True
    )
    assert (ok.returncode, ok.stdout) == (0, "2026-03-04\n")
    missing = subprocess.run(
        [*manage, "workdays", "add", "2026-12-24", "10"], env=env, capture_output=True, text=True
    )
    assert (missing.returncode, missing.stdout) == (1, "")
    assert "2027 年工作日历未载入" in missing.stderr
