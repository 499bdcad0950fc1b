"""The ``idcheck`` management command: output lines and exit codes, in and out of process."""

import io
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

from django.conf import settings
from django.core.management import CommandError, call_command

from xueji.students.rules import resident_id_check_char

# 110105 (北京市朝阳区) and 440305 (深圳市南山区) are in every GB/T 2260 edition since 1990.
VALID_ID = "11010519491231002X"
VALID_ID_2 = "440305" + "20150304" + "011"
VALID_ID_2 += resident_id_check_char(VALID_ID_2)
VALID_PERMIT = "810000" + "20100101" + "001"
VALID_PERMIT += resident_id_check_char(VALID_PERMIT)
BAD_CHECK = "110105194912310025"
BAD_AREA = "999999" + "20100101" + "001"
BAD_AREA += resident_id_check_char(BAD_AREA)
FUTURE = "110105" + "20990101" + "001"
FUTURE += resident_id_check_char(FUTURE)


def run(*args: str, stdin: str | None = None) -> tuple[int, list[str]]:
    """Call the command in process; returns (exit code, stdout lines)."""
    out = io.StringIO()
    kwargs = {"stdout": out}
    if stdin is not None:
        kwargs["stdin"] = io.StringIO(stdin)
    try:
        call_command("idcheck", *args, **kwargs)
        code = 0
    except CommandError as exc:
        code = exc.returncode
    return code, out.getvalue().splitlines()


def test_all_valid_numbers_exit_0():
    code, lines = run(VALID_ID, VALID_ID_2, VALID_PERMIT)
    assert code == 0
    assert lines == [f"{VALID_ID}\tok", f"{VALID_ID_2}\tok", f"{VALID_PERMIT}\tok"]


def test_an_invalid_number_exits_1_with_its_reason():
    code, lines = run(VALID_ID, BAD_CHECK)
    assert code == 1
    assert lines == [f"{VALID_ID}\tok", f"{BAD_CHECK}\tinvalid\t校验码错误：应为 X，实为 5"]


def test_reasons_for_area_date_and_permit_prefix():
    bad_permit = "820000" + "20100101" + "001" + "1"
    expected_permit = resident_id_check_char(bad_permit[:17])
    assert expected_permit != "1"

    code, lines = run(BAD_AREA, FUTURE, bad_permit)

    assert code == 1
    area_line, future_line, permit_line = lines
    assert area_line == f"{BAD_AREA}\tinvalid\t前 6 位地址码 999999 不是有效的行政区划代码"
    assert future_line.startswith(f"{FUTURE}\tinvalid\t出生日期 20990101 晚于今天")
    # 82 prefix: checked as a residence permit, whose check character is wrong.
    assert permit_line == f"{bad_permit}\tinvalid\t校验码错误：应为 {expected_permit}，实为 1"


def test_input_is_echoed_stripped_but_not_normalised():
    """A lower-case x or a 15-digit number is printed as typed, minus surrounding spaces."""
    code, lines = run("  11010519491231002x ", "110105491231002")
    assert code == 0
    assert lines == ["11010519491231002x\tok", "110105491231002\tok"]


def test_reads_stdin_when_no_argument_skipping_blank_lines():
    stdin = f"{VALID_ID}\n\n   \n  {BAD_CHECK}  \n{VALID_PERMIT}\n"
    code, lines = run(stdin=stdin)
    assert code == 1
    assert lines == [
        f"{VALID_ID}\tok",
        f"{BAD_CHECK}\tinvalid\t校验码错误：应为 X，实为 5",
        f"{VALID_PERMIT}\tok",
    ]


def test_empty_stdin_is_success():
    assert run(stdin="\n\n") == (0, [])


def test_uses_today_from_the_local_date(monkeypatch):
    """The birth-date bound comes from django.utils.timezone.localdate()."""
    born_2030 = "110105" + "20300101" + "002"
    born_2030 += resident_id_check_char(born_2030)
    monkeypatch.setattr(
        "xueji.students.management.commands.idcheck.timezone.localdate",
        lambda: date(2031, 1, 1),
    )
    assert run(born_2030) == (0, [f"{born_2030}\tok"])


def test_needs_no_database():
    """Runs without the django_db mark: pytest-django makes any query raise here."""
    code, _lines = run(VALID_ID)
    assert code == 0


# --- out of process: the real manage.py ----------------------------------------------------


def manage(args: list[str], stdin: str = "") -> subprocess.CompletedProcess:
    base = Path(settings.BASE_DIR)
    venv_python = base / ".venv" / "bin" / "python"
    python = str(venv_python) if venv_python.exists() else sys.executable
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "PYTHONIOENCODING": "utf-8",
    }
    return subprocess.run(
        [python, "manage.py", "idcheck", *args],
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=base,
        env=env,
        timeout=120,
        check=False,
    )


def test_subprocess_stdin_mixed_exits_1():
    stdin = f"{VALID_ID}\n\n  11010519491231002x\n{BAD_CHECK}\n{VALID_PERMIT}\n{BAD_AREA}\n"

    result = manage([], stdin=stdin)

    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines() == [
        f"{VALID_ID}\tok",
        "11010519491231002x\tok",
        f"{BAD_CHECK}\tinvalid\t校验码错误：应为 X，实为 5",
        f"{VALID_PERMIT}\tok",
        f"{BAD_AREA}\tinvalid\t前 6 位地址码 999999 不是有效的行政区划代码",
    ]
    assert "2 个号码无效" in result.stderr


def test_subprocess_arguments_all_valid_exit_0():
    result = manage([VALID_ID, VALID_ID_2, VALID_PERMIT])

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"{VALID_ID}\tok",
        f"{VALID_ID_2}\tok",
        f"{VALID_PERMIT}\tok",
    ]
