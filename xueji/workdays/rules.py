"""Working-day arithmetic and the rules of a year loaded from a State Council notice.

Pure: the calendar is passed in as a function ``is_workday(day) -> bool | None`` (``None``
for a day of a year that is not loaded), nothing here reads the database or the clock.

A deadline of *n* working days is the n-th working day **after** the start day; the start
day itself is never counted, whatever it is. A day of a year that is not loaded stops the
count with ``CalendarMissing``: a deadline is never computed by guessing.
"""

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from xueji.errors import DomainError, FieldError, ValidationFailed

IsWorkday = Callable[[date], bool | None]

ONE_DAY = timedelta(days=1)
# The name a make-up working day (a weekend day worked in exchange for a holiday) carries.
MAKEUP_NAME = "调休上班"  # stored data: always Chinese
# Years a notice may be loaded for: enough for history and the foreseeable future.
FIRST_YEAR = 1990
LAST_YEAR = 2100
NAME_MAX = 64

WEEKDAY_NAMES = (
    gettext_lazy("星期一"),
    gettext_lazy("星期二"),
    gettext_lazy("星期三"),
    gettext_lazy("星期四"),
    gettext_lazy("星期五"),
    gettext_lazy("星期六"),
    gettext_lazy("星期日"),
)


class CalendarMissing(DomainError):
    """A deadline (or a lateness) reaches a year whose calendar is not loaded."""

    def __init__(self, year: int) -> None:
        super().__init__(
            code="calendar.missing",
            message=_(
                "%(year)d 年工作日历未载入，无法按工作日计算期限。"
                "请国家级管理员依据国务院办公厅的节假日安排通知载入该年日历。"
            )
            % {"year": year},
            http_status=409,
            detail={"year": year},
        )
        self.year = year


# ---------------------------------------------------------------- deadline arithmetic


def add_workdays(start: date, n: int, is_workday: IsWorkday) -> date:
    """The n-th working day after ``start`` (``start`` itself not counted; ``n == 0``
    gives ``start``). Raises ``CalendarMissing`` on reaching a day of an unloaded year."""
    if n < 0:
        raise ValueError("n must not be negative")
    day = start
    counted = 0
    while counted < n:
        day += ONE_DAY
        flag = is_workday(day)
        if flag is None:
            raise CalendarMissing(day.year)
        if flag:
            counted += 1
    return day


def workdays_between(a: date, b: date, is_workday: IsWorkday) -> int:
    """How many working days lie after ``a`` up to and including ``b`` (0 when ``b <= a``).

    With ``a`` a due date and ``b`` today: how many working days a step is late.
    """
    count = 0
    day = a + ONE_DAY
    while day <= b:
        flag = is_workday(day)
        if flag is None:
            raise CalendarMissing(day.year)
        if flag:
            count += 1
        day += ONE_DAY
    return count


# ---------------------------------------------------------------- a year from a notice


@dataclass(frozen=True)
class DayRow:
    """One day of a loaded year, as stored."""

    date: date
    is_workday: bool
    name: str = ""

    @property
    def is_makeup(self) -> bool:
        return self.is_workday and self.date.weekday() >= 5

    @property
    def is_holiday(self) -> bool:
        """A day off of a statutory holiday period (weekend days inside it included)."""
        return not self.is_workday and bool(self.name)


@dataclass(frozen=True)
class HolidayRange:
    """A holiday period of the notice, both ends included; ``line`` numbers it in messages."""

    start: date
    end: date
    name: str
    line: int = 0


@dataclass(frozen=True)
class MakeupDay:
    """A weekend day the notice makes a working day; ``line`` numbers it in messages."""

    day: date
    line: int = 0


def _holiday_error(line: int, code: str, message: str, value: str = "") -> FieldError:
    return FieldError(
        "holidays",
        code,
        _("节假日第 %(line)d 行：%(message)s") % {"line": line, "message": message},
        value=value,
        row=line,
    )


def _makeup_error(line: int, code: str, message: str, value: str = "") -> FieldError:
    return FieldError(
        "makeup_days",
        code,
        _("调休上班日第 %(line)d 行：%(message)s") % {"line": line, "message": message},
        value=value,
        row=line,
    )


def _parse_date(text: str) -> date | None:
    # Strict YYYY-MM-DD (also YYYY/MM/DD): 2027-2-7 is refused rather than guessed at.
    if not re.fullmatch(r"\d{4}[-/]\d{2}[-/]\d{2}", text):
        return None
    try:
        return date.fromisoformat(text.replace("/", "-"))
    except ValueError:
        return None


def _bad_date(text: str) -> str:
    return _("“%(text)s”不是有效日期，应写作 YYYY-MM-DD（如 2027-01-01）。") % {"text": text}


def parse_holiday_fields(parts: Sequence[str], line: int) -> HolidayRange | FieldError:
    """``[START, END, NAME…]`` or ``[START, NAME…]`` (one day) → a holiday range."""
    parts = [p for p in (part.strip() for part in parts) if p]
    if not parts:
        return _holiday_error(line, "calendar.holiday_empty", _("请填写起止日期和节日名称。"))
    start = _parse_date(parts[0])
    if start is None:
        return _holiday_error(line, "calendar.date_invalid", _bad_date(parts[0]), parts[0])
    rest = parts[1:]
    end = start
    if rest and re.fullmatch(r"[\d/-]+", rest[0]):
        parsed = _parse_date(rest[0])
        if parsed is None:
            return _holiday_error(line, "calendar.date_invalid", _bad_date(rest[0]), rest[0])
        end, rest = parsed, rest[1:]
    name = " ".join(rest)
    if not name:
        return _holiday_error(
            line, "calendar.holiday_name_missing", _("请在日期后填写节日名称（如 春节）。")
        )
    return HolidayRange(start=start, end=end, name=name, line=line)


def parse_holiday_lines(text: str) -> tuple[list[HolidayRange], list[FieldError]]:
    """One holiday period a line: ``2027-02-06 2027-02-14 春节`` (or ``2027-01-01 元旦``
    for one day). Blank lines are skipped; line numbers are the text's own."""
    holidays: list[HolidayRange] = []
    errors: list[FieldError] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        parsed = parse_holiday_fields(re.split(r"[\s,，]+", raw.strip(), maxsplit=2), number)
        if isinstance(parsed, FieldError):
            errors.append(parsed)
        else:
            holidays.append(parsed)
    return holidays, errors


def parse_makeup_value(value: str, line: int) -> MakeupDay | FieldError:
    """``2027-02-20`` → a make-up working day."""
    value = value.strip()
    parsed = _parse_date(value)
    if parsed is None:
        return _makeup_error(line, "calendar.date_invalid", _bad_date(value), value)
    return MakeupDay(day=parsed, line=line)


def parse_makeup_lines(text: str) -> tuple[list[MakeupDay], list[FieldError]]:
    """One make-up working day a line: ``2027-02-20``. Blank lines are skipped."""
    days: list[MakeupDay] = []
    errors: list[FieldError] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        parsed = parse_makeup_value(raw, number)
        if isinstance(parsed, FieldError):
            errors.append(parsed)
        else:
            days.append(parsed)
    return days, errors


def as_makeup_days(items: Sequence[MakeupDay | date]) -> list[MakeupDay]:
    """Make-up days given as plain dates too (numbered by position)."""
    return [
        item if isinstance(item, MakeupDay) else MakeupDay(item, index)
        for index, item in enumerate(items, start=1)
    ]


def _numbered_holidays(holidays: Sequence[HolidayRange]) -> list[HolidayRange]:
    return [
        h if h.line else HolidayRange(h.start, h.end, h.name, index)
        for index, h in enumerate(holidays, start=1)
    ]


def _numbered_makeups(days: Sequence[MakeupDay]) -> list[MakeupDay]:
    return [d if d.line else MakeupDay(d.day, index) for index, d in enumerate(days, start=1)]


def notice_errors(
    year: int, holidays: Sequence[HolidayRange], makeup_days: Sequence[MakeupDay]
) -> list[FieldError]:
    """Everything wrong with a notice's year: dates outside the year, reversed ranges,
    missing names, overlapping holidays, make-up days that are not weekend days or that
    fall on a holiday. Items without a line are numbered by position."""
    if not FIRST_YEAR <= year <= LAST_YEAR:
        return [
            FieldError(
                "year",
                "calendar.year_range",
                _("年份须在 %(first)d 到 %(last)d 之间。")
                % {"first": FIRST_YEAR, "last": LAST_YEAR},
                value=str(year),
            )
        ]
    errors: list[FieldError] = []
    taken: dict[date, HolidayRange] = {}
    for holiday in _numbered_holidays(holidays):
        line = holiday.line
        outside = [d for d in (holiday.start, holiday.end) if d.year != year]
        if outside:
            errors.append(
                _holiday_error(
                    line,
                    "calendar.date_outside_year",
                    _("%(day)s 不在 %(year)d 年内；每一行的日期都须在所载年份之内。")
                    % {"day": outside[0].isoformat(), "year": year},
                    outside[0].isoformat(),
                )
            )
            continue
        if holiday.end < holiday.start:
            errors.append(
                _holiday_error(
                    line,
                    "calendar.range_reversed",
                    _("结束日期 %(end)s 早于开始日期 %(start)s。")
                    % {"end": holiday.end.isoformat(), "start": holiday.start.isoformat()},
                )
            )
            continue
        if not holiday.name.strip():
            errors.append(
                _holiday_error(line, "calendar.holiday_name_missing", _("请填写节日名称。"))
            )
            continue
        if len(holiday.name) > NAME_MAX:
            errors.append(
                _holiday_error(
                    line,
                    "calendar.holiday_name_long",
                    _("节日名称最多 %(max)d 个字。") % {"max": NAME_MAX},
                )
            )
            continue
        day = holiday.start
        while day <= holiday.end:
            earlier = taken.get(day)
            if earlier is not None:
                errors.append(
                    _holiday_error(
                        line,
                        "calendar.holiday_overlap",
                        _("%(day)s 已在第 %(other)d 行（%(name)s）中。")
                        % {"day": day.isoformat(), "other": earlier.line, "name": earlier.name},
                        day.isoformat(),
                    )
                )
                break
            taken[day] = holiday
            day += ONE_DAY
    seen: dict[date, int] = {}
    for makeup in _numbered_makeups(makeup_days):
        line, day = makeup.line, makeup.day
        if day.year != year:
            errors.append(
                _makeup_error(
                    line,
                    "calendar.date_outside_year",
                    _("%(day)s 不在 %(year)d 年内。") % {"day": day.isoformat(), "year": year},
                    day.isoformat(),
                )
            )
        elif day in seen:
            errors.append(
                _makeup_error(
                    line,
                    "calendar.makeup_duplicate",
                    _("%(day)s 与第 %(other)d 行重复。")
                    % {"day": day.isoformat(), "other": seen[day]},
                    day.isoformat(),
                )
            )
        elif day.weekday() < 5:
            errors.append(
                _makeup_error(
                    line,
                    "calendar.makeup_not_weekend",
                    _("%(day)s 是%(weekday)s，本来就是工作日；调休上班日应为星期六或星期日。")
                    % {"day": day.isoformat(), "weekday": str(WEEKDAY_NAMES[day.weekday()])},
                    day.isoformat(),
                )
            )
        elif day in taken:
            errors.append(
                _makeup_error(
                    line,
                    "calendar.makeup_on_holiday",
                    _("%(day)s 在节假日第 %(other)d 行（%(name)s）中，不能同时是调休上班日。")
                    % {
                        "day": day.isoformat(),
                        "other": taken[day].line,
                        "name": taken[day].name,
                    },
                    day.isoformat(),
                )
            )
        seen.setdefault(day, line)
    return errors


def notice_days(
    year: int, holidays: Sequence[HolidayRange], makeup_days: Sequence[MakeupDay]
) -> list[DayRow]:
    """Every day of ``year`` (365 or 366 rows): holiday days off, make-up working days,
    and otherwise Monday to Friday worked. Raises ``ValidationFailed`` listing every
    problem ``notice_errors`` finds."""
    errors = notice_errors(year, holidays, makeup_days)
    if errors:
        raise ValidationFailed(errors, message=_("节假日安排有误，请按提示逐行更正。"))
    names = {
        day: holiday.name.strip()
        for holiday in holidays
        for day in _days(holiday.start, holiday.end)
    }
    makeups = {m.day for m in makeup_days}
    rows = []
    for day in _days(date(year, 1, 1), date(year, 12, 31)):
        if day in names:
            rows.append(DayRow(day, False, names[day]))
        elif day in makeups:
            rows.append(DayRow(day, True, MAKEUP_NAME))
        else:
            rows.append(DayRow(day, day.weekday() < 5, ""))
    return rows


def _days(first: date, last: date) -> Iterable[date]:
    day = first
    while day <= last:
        yield day
        day += ONE_DAY


# ---------------------------------------------------------------- reading a year back


def holiday_ranges(days: Iterable[DayRow]) -> list[HolidayRange]:
    """The holiday periods of a year's rows: runs of consecutive days off under one name."""
    ranges: list[HolidayRange] = []
    for row in days:
        if not row.is_holiday:
            continue
        last = ranges[-1] if ranges else None
        if last is not None and last.name == row.name and last.end + ONE_DAY == row.date:
            ranges[-1] = HolidayRange(last.start, row.date, last.name)
        else:
            ranges.append(HolidayRange(row.date, row.date, row.name))
    return ranges


def makeup_days_of(days: Iterable[DayRow]) -> list[date]:
    return [row.date for row in days if row.is_makeup]


def days_changed(old: Iterable[DayRow], new: Iterable[DayRow]) -> list[date]:
    """The dates whose working status or name differ between two versions of a year."""
    before = {row.date: (row.is_workday, row.name) for row in old}
    return sorted(row.date for row in new if before.get(row.date) != (row.is_workday, row.name))
