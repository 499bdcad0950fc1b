"""Reading the working-day calendar: deadlines, lateness, and the loaded years.

The calendar is national reference data, the same for every unit, so these reads take no
actor; who may open the calendar's pages and API is decided in ``permissions``.

The rest of the system computes deadlines through ``due_date`` and ``workdays_late``;
both raise ``rules.CalendarMissing`` (code ``calendar.missing``) rather than guess across
a year that is not loaded.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import Count, Q
from django.db.models.functions import ExtractYear

from xueji.errors import NotFound

from . import rules
from .models import CalendarDay, CalendarYear

# Extra days fetched beyond twice the working days asked for: the longest holiday run
# (Spring Festival, about nine days) fits with room to spare, so one query is the rule.
WINDOW_MARGIN = 30


class _DayWindow:
    """``is_workday`` over the table, fetched one date range at a time."""

    def __init__(self, first: date, span: int) -> None:
        self.span = max(span, 1)
        self.flags: dict[date, bool] = {}
        self.first = first
        self.last = first - rules.ONE_DAY  # nothing fetched yet

    def _fetch(self, first: date) -> None:
        last = first + timedelta(days=self.span - 1)
        self.flags = dict(
            CalendarDay.objects.filter(date__range=(first, last)).values_list("date", "is_workday")
        )
        self.first, self.last = first, last

    def __call__(self, day: date) -> bool | None:
        if not self.first <= day <= self.last:
            self._fetch(day)
        return self.flags.get(day)


def due_date(start: date, n: int) -> date:
    """The n-th working day after ``start`` (``start`` not counted).

    Raises ``CalendarMissing`` when the count reaches a year that is not loaded.
    """
    window = _DayWindow(start + rules.ONE_DAY, n * 2 + WINDOW_MARGIN)
    return rules.add_workdays(start, n, window)


def workdays_late(due: date, today: date) -> int:
    """How many working days ``today`` is past ``due``: the working days after ``due`` up to
    and including ``today`` (0 on or before the due date)."""
    if today <= due:
        return 0
    window = _DayWindow(due + rules.ONE_DAY, (today - due).days)
    return rules.workdays_between(due, today, window)


def is_workday(day: date) -> bool | None:
    """Whether ``day`` is a working day; ``None`` when its year is not loaded."""
    return CalendarDay.objects.filter(date=day).values_list("is_workday", flat=True).first()


def loaded_years() -> list[int]:
    """The loaded years, ascending."""
    return list(CalendarYear.objects.order_by("year").values_list("year", flat=True))


@dataclass(frozen=True)
class YearSummary:
    year: int
    source: str
    source_label: str
    notice: str
    loaded_at: datetime
    loaded_by_username: str
    days: int
    workdays: int
    holidays: int
    makeup_days: int


def _counts_by_year() -> dict[int, dict[str, int]]:
    rows = (
        CalendarDay.objects.annotate(year=ExtractYear("date"))
        .values("year")
        .annotate(
            days=Count("date"),
            workdays=Count("date", filter=Q(is_workday=True)),
            # Only make-up working days carry a name among working days, and only
            # holiday days off among days off (rules.DayRow.is_makeup / is_holiday).
            makeup_days=Count("date", filter=Q(is_workday=True) & ~Q(name="")),
            holidays=Count("date", filter=Q(is_workday=False) & ~Q(name="")),
        )
        .order_by("year")
    )
    return {row.pop("year"): row for row in rows}


def _summary(entry: CalendarYear, counts: dict[str, int]) -> YearSummary:
    return YearSummary(
        year=entry.year,
        source=entry.source,
        source_label=str(entry.get_source_display()),
        notice=entry.notice,
        loaded_at=entry.loaded_at,
        loaded_by_username=entry.loaded_by_username,
        days=counts.get("days", 0),
        workdays=counts.get("workdays", 0),
        holidays=counts.get("holidays", 0),
        makeup_days=counts.get("makeup_days", 0),
    )


def year_summaries() -> list[YearSummary]:
    """Every loaded year with its counts of working days, holiday days and make-up days,
    newest first (two queries)."""
    counts = _counts_by_year()
    return [
        _summary(entry, counts.get(entry.year, {}))
        for entry in CalendarYear.objects.order_by("-year")
    ]


@dataclass(frozen=True)
class YearCalendar:
    summary: YearSummary
    days: list[rules.DayRow]
    holidays: list[rules.HolidayRange]
    makeup_days: list[date]


def year_calendar(year: int) -> YearCalendar:
    """One loaded year day by day, with its holiday periods and make-up working days;
    ``NotFound`` when the year is not loaded."""
    entry = CalendarYear.objects.filter(year=year).first()
    if entry is None:
        raise NotFound("calendar_year")
    days = year_days(year)
    counts = {
        "days": len(days),
        "workdays": sum(d.is_workday for d in days),
        "holidays": sum(d.is_holiday for d in days),
        "makeup_days": sum(d.is_makeup for d in days),
    }
    return YearCalendar(
        summary=_summary(entry, counts),
        days=days,
        holidays=rules.holiday_ranges(days),
        makeup_days=rules.makeup_days_of(days),
    )


def year_days(year: int) -> list[rules.DayRow]:
    """The stored rows of ``year`` (empty when it is not loaded)."""
    return [
        rules.DayRow(day, flag, name)
        for day, flag, name in CalendarDay.objects.filter(
            date__range=(date(year, 1, 1), date(year, 12, 31))
        )
        .order_by("date")
        .values_list("date", "is_workday", "name")
    ]
