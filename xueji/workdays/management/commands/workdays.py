"""The working-day calendar from the command line.

    python manage.py workdays add START N
        The due date of N working days after START (START not counted), as YYYY-MM-DD.
        Exit 0; exit 1 with a message on stderr when a needed year is not loaded.

    python manage.py workdays show YEAR
        The year's holiday periods and make-up working days. Exit 1 if not loaded.

    python manage.py workdays load YEAR --user USERNAME --notice "国办发明电〔2026〕x号"
            [--holiday START:END:NAME ...] [--workday DATE ...] [--file FILE] [--replace]
        Load a year from the State Council notice, as the given national account (the same
        service as the page and the API). ``--file``: a .json file
        ``{"notice": "...", "holidays": [{"start": "...", "end": "...", "name": "..."}],
        "makeup_days": ["..."]}``, or a text file with one entry a line: ``START END NAME``
        (or ``START NAME``) for a holiday period, a date alone for a make-up working day,
        ``#`` starting a comment. Exit 0 when loaded, 1 when refused.

Bad arguments (a malformed date, an unknown user, a missing file) exit 2.
"""

import json
import re
from datetime import date
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from xueji.audit import context as audit_context
from xueji.errors import DomainError, FieldError
from xueji.workdays import rules, selectors
from xueji.workdays.services import calendar_year_load

BAD_ARGUMENTS = 2


def _date_argument(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(
            _("“%s”不是有效日期，应写作 YYYY-MM-DD。") % value, returncode=BAD_ARGUMENTS
        ) from None


def _add_parsed(parsed, items: list, errors: list[FieldError]) -> None:
    if isinstance(parsed, FieldError):
        errors.append(parsed)
    else:
        items.append(parsed)


class Command(BaseCommand):
    help = _(
        "工作日历：add 计算 N 个工作日后的期限（起算日不计入）；show 列出某年的节假日和调休上班日；"
        "load 由国家级账号按国务院办公厅通知载入某年的节假日安排。"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        add = actions.add_parser("add", help=_("START 之后第 N 个工作日（起算日不计入）"))
        add.add_argument("start", metavar="START", help=_("起算日 YYYY-MM-DD"))
        add.add_argument("n", metavar="N", type=int, help=_("工作日数"))

        show = actions.add_parser("show", help=_("列出某年的节假日和调休上班日"))
        show.add_argument("year", metavar="YEAR", type=int)

        load = actions.add_parser("load", help=_("按国务院办公厅通知载入某年的节假日安排"))
        load.add_argument("year", metavar="YEAR", type=int)
        load.add_argument("--user", required=True, metavar="USERNAME", help=_("国家级账号"))
        load.add_argument("--notice", default="", help=_("通知标题或文号"))
        load.add_argument(
            "--holiday",
            action="append",
            default=[],
            metavar="START:END:NAME",
            help=_("放假期间，可重复，如 2027-01-01:2027-01-03:元旦"),
        )
        load.add_argument(
            "--workday",
            action="append",
            default=[],
            metavar="DATE",
            help=_("调休上班日（周末上班），可重复"),
        )
        load.add_argument("--file", metavar="FILE", help=_("从 .json 或文本文件读取节假日安排"))
        load.add_argument("--replace", action="store_true", help=_("替换已载入的年度（记入审计）"))

    def handle(self, *args, **options) -> None:
        getattr(self, f"_{options['action']}")(options)

    def _fail(self, message: str) -> None:
        self.stderr.write(message)
        raise SystemExit(1)

    # ------------------------------------------------------------ add

    def _add(self, options: dict) -> None:
        start = _date_argument(options["start"])
        if options["n"] < 0:
            raise CommandError(_("N 不能为负数。"), returncode=BAD_ARGUMENTS)
        try:
            due = selectors.due_date(start, options["n"])
        except rules.CalendarMissing as missing:
            self._fail(str(missing.message))
            return
        self.stdout.write(due.isoformat())

    # ------------------------------------------------------------ show

    def _show(self, options: dict) -> None:
        year = options["year"]
        try:
            shown = selectors.year_calendar(year)
        except DomainError:
            self._fail(str(rules.CalendarMissing(year).message))
            return
        summary = shown.summary
        source = summary.source_label + (f"：{summary.notice}" if summary.notice else "")
        self.stdout.write(
            _(
                "%(year)d 年（%(source)s）：工作日 %(work)d 天，节假日 %(holidays)d 天，调休上班 %(makeup)d 天"
            )
            % {
                "year": year,
                "source": source,
                "work": summary.workdays,
                "holidays": summary.holidays,
                "makeup": summary.makeup_days,
            }
        )
        self.stdout.write(_("节假日："))
        for period in shown.holidays:
            length = (period.end - period.start).days + 1
            self.stdout.write(
                f"  {period.start.isoformat()} {period.end.isoformat()} {period.name}"
                + _("（%(days)d 天）") % {"days": length}
            )
        self.stdout.write(_("调休上班日："))
        for day in shown.makeup_days:
            self.stdout.write(f"  {day.isoformat()} {rules.WEEKDAY_NAMES[day.weekday()]}")

    # ------------------------------------------------------------ load

    def _load(self, options: dict) -> None:
        user = (
            get_user_model()
            .objects.select_related("unit")
            .filter(username=options["user"], is_active=True)
            .first()
        )
        if user is None:
            raise CommandError(
                _("没有名为“%s”的有效账号") % options["user"], returncode=BAD_ARGUMENTS
            )
        notice = options["notice"]
        holidays: list[rules.HolidayRange] = []
        makeups: list[rules.MakeupDay] = []
        errors: list[FieldError] = []
        if options["file"]:
            file_notice, holidays, makeups, errors = self._read_file(Path(options["file"]))
            notice = notice or file_notice
        for value in options["holiday"]:
            _add_parsed(
                rules.parse_holiday_fields(value.split(":", 2), len(holidays) + 1), holidays, errors
            )
        for value in options["workday"]:
            _add_parsed(rules.parse_makeup_value(value, len(makeups) + 1), makeups, errors)
        if errors:
            self._report(errors)
        token = audit_context.bind(
            audit_context.RequestContext(channel="cli", request_id=audit_context.new_request_id())
        )
        try:
            entry = calendar_year_load(
                actor=user,
                year=options["year"],
                holidays=holidays,
                makeup_days=makeups,
                notice=notice,
                replace=options["replace"],
            )
        except DomainError as error:
            self._report(error.errors, str(error.message))
            return
        finally:
            audit_context.reset(token)
        self.stdout.write(
            _("已载入 %(year)d 年工作日历（%(notice)s）。")
            % {"year": entry.year, "notice": entry.notice}
        )

    def _report(self, errors: list[FieldError], message: str = "") -> None:
        lines = [message] if message else []
        lines += [str(error.message) for error in errors]
        self._fail("\n".join(lines) or _("载入失败。"))

    def _read_file(
        self, path: Path
    ) -> tuple[str, list[rules.HolidayRange], list[rules.MakeupDay], list[FieldError]]:
        if not path.is_file():
            raise CommandError(_("找不到文件：%s") % path, returncode=BAD_ARGUMENTS)
        text = path.read_text(encoding="utf-8-sig")
        if path.suffix.lower() == ".json":
            return self._read_json(text)
        holiday_lines, makeup_lines = [], []
        for raw in text.splitlines():
            line = raw.split("#", 1)[0].strip()
            # A date alone is a make-up working day; a date followed by more, a holiday.
            is_makeup = bool(re.fullmatch(r"[\d/-]+", line))
            holiday_lines.append("" if is_makeup else line)
            makeup_lines.append(line if is_makeup else "")
        holidays, errors = rules.parse_holiday_lines("\n".join(holiday_lines))
        makeups, makeup_errors = rules.parse_makeup_lines("\n".join(makeup_lines))
        return "", holidays, makeups, errors + makeup_errors

    def _read_json(
        self, text: str
    ) -> tuple[str, list[rules.HolidayRange], list[rules.MakeupDay], list[FieldError]]:
        try:
            data = json.loads(text)
            holidays_in = data.get("holidays", [])
            makeups_in = data.get("makeup_days", [])
            notice = str(data.get("notice", ""))
        except (ValueError, AttributeError):
            raise CommandError(
                _("JSON 文件格式有误：应为含 holidays、makeup_days 和 notice 的对象。"),
                returncode=BAD_ARGUMENTS,
            ) from None
        holidays: list[rules.HolidayRange] = []
        makeups: list[rules.MakeupDay] = []
        errors: list[FieldError] = []
        for line, item in enumerate(holidays_in, start=1):
            if isinstance(item, dict):
                fields = [str(item.get(key, "")) for key in ("start", "end", "name")]
            elif isinstance(item, list):
                fields = [str(part) for part in item]
            else:
                fields = str(item).split(maxsplit=2)
            _add_parsed(rules.parse_holiday_fields(fields, line), holidays, errors)
        for line, item in enumerate(makeups_in, start=1):
            _add_parsed(rules.parse_makeup_value(str(item), line), makeups, errors)
        return notice, holidays, makeups, errors
