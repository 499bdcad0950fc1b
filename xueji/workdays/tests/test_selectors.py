"""Deadlines read from the table: the seeded 2026 calendar, one query, missing years."""

from datetime import date, timedelta

import chinese_calendar
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xueji.workdays import selectors
from xueji.workdays.models import CalendarDay, CalendarYear
from xueji.workdays.rules import CalendarMissing
from xueji.workdays.seeding import SEED_YEARS


def test_the_migration_seeds_every_day_of_2004_to_2026(calendar):
    assert selectors.loaded_years() == list(SEED_YEARS)
    assert CalendarDay.objects.count() == sum(366 if year % 4 == 0 else 365 for year in SEED_YEARS)
    assert set(CalendarYear.objects.values_list("source", flat=True)) == {"chinesecalendar"}


@pytest.mark.parametrize(
    ("start", "n", "due"),
    [
        (date(2026, 2, 12), 10, date(2026, 3, 4)),
        (date(2026, 2, 13), 1, date(2026, 2, 14)),  # the make-up Saturday counts
        (date(2026, 2, 14), 1, date(2026, 2, 24)),
        (date(2026, 2, 27), 1, date(2026, 2, 28)),  # and so does the second one
        (date(2026, 9, 18), 10, date(2026, 10, 9)),
        (date(2026, 9, 19), 1, date(2026, 9, 20)),  # Sun 20 Sep is worked
        (date(2026, 9, 30), 3, date(2026, 10, 10)),
        (date(2025, 12, 31), 1, date(2026, 1, 4)),
        (date(2026, 12, 17), 10, date(2026, 12, 31)),
        (date(2026, 3, 2), 0, date(2026, 3, 2)),
    ],
)
def test_due_date_in_2026(calendar, start, n, due):
    assert selectors.due_date(start, n) == due


def test_due_date_reads_the_table_once(calendar):
    with CaptureQueriesContext(connection) as queries:
        assert selectors.due_date(date(2026, 2, 12), 10) == date(2026, 3, 4)
    assert len(queries) == 1


def test_a_long_deadline_fetches_more_days_when_needed(calendar):
    # 200 working days from 1 Jan 2025: found without a gap, whatever the window's size.
    expected = chinese_calendar.find_workday(199, date(2025, 1, 2))
    assert selectors.due_date(date(2025, 1, 1), 200) == expected


def test_a_deadline_running_into_2027_raises_calendar_missing(calendar):
    with pytest.raises(CalendarMissing) as missing:
        selectors.due_date(date(2026, 12, 24), 10)
    assert missing.value.year == 2027
    assert missing.value.code == "calendar.missing"


def test_a_year_with_a_gap_is_missing_not_guessed(calendar):
    """A deleted year in the middle is reported, not skipped."""
    CalendarDay.objects.filter(date__year=2015).delete()
    CalendarYear.objects.filter(year=2015).delete()
    with pytest.raises(CalendarMissing) as missing:
        selectors.due_date(date(2014, 12, 30), 5)
    assert missing.value.year == 2015


def test_is_workday(calendar):
    assert selectors.is_workday(date(2026, 2, 14)) is True
    assert selectors.is_workday(date(2026, 2, 16)) is False
    assert selectors.is_workday(date(2026, 3, 7)) is False
    assert selectors.is_workday(date(2027, 1, 4)) is None


def test_workdays_late(calendar):
    assert selectors.workdays_late(date(2026, 2, 13), date(2026, 2, 24)) == 2
    assert selectors.workdays_late(date(2026, 2, 13), date(2026, 2, 13)) == 0
    assert selectors.workdays_late(date(2026, 2, 13), date(2026, 2, 1)) == 0
    # Due Wed 30 Sep; on Fri 9 Oct: 8 and 9 Oct only.
    assert selectors.workdays_late(date(2026, 9, 30), date(2026, 10, 9)) == 2
    with pytest.raises(CalendarMissing):
        selectors.workdays_late(date(2026, 12, 30), date(2027, 1, 6))


def test_year_summaries_count_working_holiday_and_make_up_days(calendar):
    summaries = {s.year: s for s in selectors.year_summaries()}
    s2026 = summaries[2026]
    assert (s2026.days, s2026.workdays, s2026.holidays, s2026.makeup_days) == (365, 248, 33, 6)
    assert s2026.workdays == len(
        chinese_calendar.get_workdays(date(2026, 1, 1), date(2026, 12, 31))
    )


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    start=st.dates(min_value=date(2004, 1, 1), max_value=date(2026, 10, 31)),
    n=st.integers(1, 40),
)
def test_due_date_agrees_with_the_package(calendar, start, n):
    assert selectors.due_date(start, n) == chinese_calendar.find_workday(
        n - 1, start + timedelta(days=1)
    )
