"""The years 2004–2026 from the ``chinesecalendar`` package: the seed of the calendar.

The package transcribes the State Council's yearly notices (holidays and make-up working
days) from 2004 on. The seeding data migration writes these years once; later years come
from the notices themselves, loaded by the national level (``services.calendar_year_load``).
"""

from collections.abc import Iterable
from datetime import date, datetime

import chinese_calendar

from .rules import MAKEUP_NAME, ONE_DAY, DayRow

SEED_YEARS = range(2004, 2027)
SEED_USERNAME = "system"  # stored data

# The package names holidays in English; the calendar stores the usual Chinese names.
HOLIDAY_NAMES = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "National Day": "国庆节",
    "Mid-autumn Festival": "中秋节",
    "Anti-Fascist 70th Day": "抗战胜利70周年纪念日",
}


def library_days(year: int) -> list[DayRow]:
    """Every day of ``year`` as the package has it (its data must cover the year)."""
    holidays: dict[date, str] = chinese_calendar.holidays
    makeups: dict[date, str] = chinese_calendar.workdays
    rows = []
    day = date(year, 1, 1)
    while day.year == year:
        if day in holidays:
            rows.append(DayRow(day, False, HOLIDAY_NAMES.get(holidays[day], holidays[day])))
        elif day in makeups:
            rows.append(DayRow(day, True, MAKEUP_NAME))
        else:
            rows.append(DayRow(day, day.weekday() < 5, ""))
        day += ONE_DAY
    return rows


def seed_library_years(
    year_model, day_model, *, loaded_at: datetime, years: Iterable[int] = SEED_YEARS
) -> list[int]:
    """Write the package's years that are not loaded yet; returns the years written.

    Takes the models as arguments so that the data migration can pass its historical ones.
    """
    present = set(year_model.objects.filter(year__in=list(years)).values_list("year", flat=True))
    wanted = [year for year in years if year not in present]
    year_model.objects.bulk_create(
        [
            year_model(
                year=year,
                source="chinesecalendar",
                notice="",
                loaded_at=loaded_at,
                loaded_by_id=None,
                loaded_by_username=SEED_USERNAME,
            )
            for year in wanted
        ]
    )
    day_model.objects.bulk_create(
        [
            day_model(date=row.date, is_workday=row.is_workday, name=row.name)
            for year in wanted
            for row in library_days(year)
        ],
        batch_size=2000,
    )
    return wanted


def calendar_seed() -> list[int]:
    """Seed the package's years into the live tables (tests that flushed the database, and
    a database built without migrations, call this); years already loaded are kept."""
    from xueji import clock

    from .models import CalendarDay, CalendarYear

    return seed_library_years(CalendarYear, CalendarDay, loaded_at=clock.now())
