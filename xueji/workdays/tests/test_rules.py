"""Working-day arithmetic and the notice rules, without the database."""

from datetime import date, timedelta

import chinese_calendar
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from xueji.errors import ValidationFailed
from xueji.workdays import rules
from xueji.workdays.rules import (
    CalendarMissing,
    DayRow,
    HolidayRange,
    MakeupDay,
    add_workdays,
    workdays_between,
)
from xueji.workdays.seeding import library_days

BASE = date(2030, 1, 1)


def calendar_of(flags: list[bool]):
    """A synthetic calendar: ``flags[i]`` for BASE + i days; outside it, not loaded."""

    def is_workday(day: date) -> bool | None:
        offset = (day - BASE).days
        return flags[offset] if 0 <= offset < len(flags) else None

    return is_workday


calendars = st.lists(st.booleans(), min_size=1, max_size=120)


@st.composite
def calendar_and_start(draw) -> tuple[list[bool], int]:
    """A synthetic calendar and a start offset inside it."""
    flags = draw(calendars)
    return flags, draw(st.integers(0, len(flags) - 1))


def count_workdays(start: date, end: date, is_workday) -> int:
    return sum(
        bool(is_workday(start + timedelta(days=i))) for i in range(1, (end - start).days + 1)
    )


# No deadline on examples: tests make no timing assertions.
@settings(deadline=None)
@given(drawn=calendar_and_start(), n=st.integers(1, 40))
def test_deadline_is_a_working_day_strictly_after_start_with_exactly_n_before_it(drawn, n):
    """The n-th working day after start: a working day, after start, n working days in
    (start, result] — or CalendarMissing when the loaded days run out first."""
    flags, offset = drawn
    is_workday = calendar_of(flags)
    start = BASE + timedelta(days=offset)
    available = sum(flags[offset + 1 :])
    if available < n:
        with pytest.raises(CalendarMissing) as missing:
            add_workdays(start, n, is_workday)
        assert missing.value.year == (BASE + timedelta(days=len(flags))).year
        return
    due = add_workdays(start, n, is_workday)
    assert due > start
    assert is_workday(due) is True
    assert count_workdays(start, due, is_workday) == n
    assert workdays_between(start, due, is_workday) == n


@settings(deadline=None)
@given(drawn=calendar_and_start(), data=st.data())
def test_deadline_grows_with_n(drawn, data):
    flags, offset = drawn
    available = sum(flags[offset + 1 :])
    assume(available >= 1)
    n = data.draw(st.integers(0, available - 1))
    is_workday = calendar_of(flags)
    start = BASE + timedelta(days=offset)
    assert add_workdays(start, n + 1, is_workday) > add_workdays(start, n, is_workday)


@settings(deadline=None)
@given(drawn=calendar_and_start())
def test_zero_working_days_is_the_start_day_itself(drawn):
    flags, offset = drawn
    start = BASE + timedelta(days=offset)
    assert add_workdays(start, 0, calendar_of(flags)) == start


@settings(deadline=None)
@given(drawn=calendar_and_start(), data=st.data())
def test_workdays_between_counts_after_a_up_to_and_including_b(drawn, data):
    flags, a = drawn
    b = data.draw(st.integers(0, len(flags) - 1))
    is_workday = calendar_of(flags)
    first, last = BASE + timedelta(days=a), BASE + timedelta(days=b)
    expected = sum(flags[a + 1 : b + 1]) if b > a else 0
    assert workdays_between(first, last, is_workday) == expected


def _library(day: date) -> bool | None:
    return chinese_calendar.is_workday(day) if 2004 <= day.year <= 2026 else None


@settings(deadline=None)
@given(
    start=st.dates(min_value=date(2004, 1, 1), max_value=date(2026, 10, 31)),
    n=st.integers(1, 40),
)
def test_agrees_with_the_chinesecalendar_package(start, n):
    """Against the package's own search: the first working day on or after the day after
    start, then n - 1 more, is the n-th working day after start."""
    expected = chinese_calendar.find_workday(n - 1, start + timedelta(days=1))
    assert add_workdays(start, n, _library) == expected


def test_negative_n_is_refused():
    with pytest.raises(ValueError):
        add_workdays(BASE, -1, calendar_of([True]))


def test_calendar_missing_names_the_year_with_a_stable_code():
    error = CalendarMissing(2027)
    assert error.code == "calendar.missing"
    assert error.http_status == 409
    assert "2027 年工作日历未载入" in error.message
    assert error.as_dict()["detail"] == {"year": 2027}


# ---------------------------------------------------------------- the 2026 calendar, by hand


def library_2026(day: date) -> bool | None:
    return _library(day)


@pytest.mark.parametrize(
    ("start", "n", "due"),
    [
        # Thu 12 Feb: 13 Fri, 14 Sat (make-up), [15–23 Spring Festival], 24, 25, 26, 27,
        # 28 Sat (make-up), 2 Mar, 3, 4 → the 10th is Wed 4 March.
        (date(2026, 2, 12), 10, date(2026, 3, 4)),
        # Starting on the make-up Saturday: it is not counted; next is Tue 24 Feb.
        (date(2026, 2, 14), 1, date(2026, 2, 24)),
        # Starting inside the holiday.
        (date(2026, 2, 15), 1, date(2026, 2, 24)),
        # Fri 18 Sep: 20 Sun (make-up), 21–24, [25–27 Mid-Autumn], 28, 29, 30,
        # [1–7 Oct National Day], 8, 9 → the 10th is Fri 9 October.
        (date(2026, 9, 18), 10, date(2026, 10, 9)),
        (date(2026, 9, 30), 1, date(2026, 10, 8)),
        # Sat 10 Oct is a make-up working day.
        (date(2026, 9, 30), 3, date(2026, 10, 10)),
        # New Year 2026: 1–3 Jan off, Sun 4 Jan worked.
        (date(2025, 12, 31), 1, date(2026, 1, 4)),
    ],
)
def test_2026_deadlines_across_the_holidays(start, n, due):
    assert add_workdays(start, n, library_2026) == due


def test_late_by_working_days_across_the_spring_festival():
    # Due Fri 13 Feb; on Tue 24 Feb the step is 2 working days late (14 Feb and 24 Feb).
    assert workdays_between(date(2026, 2, 13), date(2026, 2, 24), library_2026) == 2


def test_a_deadline_running_into_an_unloaded_year_is_not_guessed():
    # Thu 24 Dec 2026: 25, 28, 29, 30, 31 are five; the sixth would be in 2027.
    assert add_workdays(date(2026, 12, 24), 5, library_2026) == date(2026, 12, 31)
    with pytest.raises(CalendarMissing) as missing:
        add_workdays(date(2026, 12, 24), 10, library_2026)
    assert missing.value.year == 2027


# ---------------------------------------------------------------- the seed


def test_seed_rows_of_2026_mark_holidays_and_make_up_days():
    rows = {row.date: row for row in library_days(2026)}
    assert len(rows) == 365
    for makeup in (date(2026, 2, 14), date(2026, 2, 28), date(2026, 9, 20), date(2026, 10, 10)):
        assert rows[makeup] == DayRow(makeup, True, rules.MAKEUP_NAME)
        assert rows[makeup].is_makeup
    assert rows[date(2026, 2, 17)] == DayRow(date(2026, 2, 17), False, "春节")
    assert rows[date(2026, 10, 1)] == DayRow(date(2026, 10, 1), False, "国庆节")
    assert rows[date(2026, 9, 25)] == DayRow(date(2026, 9, 25), False, "中秋节")
    assert rows[date(2026, 3, 7)] == DayRow(date(2026, 3, 7), False, "")  # a plain Saturday
    assert all(row.is_workday == chinese_calendar.is_workday(day) for day, row in rows.items())


def test_holiday_ranges_group_the_days_off_of_each_holiday():
    ranges = rules.holiday_ranges(library_days(2026))
    assert [(r.start, r.end, r.name) for r in ranges] == [
        (date(2026, 1, 1), date(2026, 1, 3), "元旦"),
        (date(2026, 2, 15), date(2026, 2, 23), "春节"),
        (date(2026, 4, 4), date(2026, 4, 6), "清明节"),
        (date(2026, 5, 1), date(2026, 5, 5), "劳动节"),
        (date(2026, 6, 19), date(2026, 6, 21), "端午节"),
        (date(2026, 9, 25), date(2026, 9, 27), "中秋节"),
        (date(2026, 10, 1), date(2026, 10, 7), "国庆节"),
    ]
    assert rules.makeup_days_of(library_days(2026)) == [
        date(2026, 1, 4),
        date(2026, 2, 14),
        date(2026, 2, 28),
        date(2026, 5, 9),
        date(2026, 9, 20),
        date(2026, 10, 10),
    ]


# ---------------------------------------------------------------- a year from a notice

HOLIDAYS_2027 = """2027-01-01 2027-01-03 元旦

2027-02-06 2027-02-14 春节
2027-04-05 清明节
"""


def test_notice_lines_parse_with_their_own_line_numbers():
    holidays, errors = rules.parse_holiday_lines(HOLIDAYS_2027)
    assert errors == []
    assert holidays == [
        HolidayRange(date(2027, 1, 1), date(2027, 1, 3), "元旦", 1),
        HolidayRange(date(2027, 2, 6), date(2027, 2, 14), "春节", 3),
        HolidayRange(date(2027, 4, 5), date(2027, 4, 5), "清明节", 4),
    ]
    makeups, errors = rules.parse_makeup_lines("2027-02-20\n\n2027-02-21\n")
    assert errors == []
    assert makeups == [MakeupDay(date(2027, 2, 20), 1), MakeupDay(date(2027, 2, 21), 3)]


def test_notice_days_cover_the_whole_year():
    holidays, _ = rules.parse_holiday_lines(HOLIDAYS_2027)
    days = rules.notice_days(2027, holidays, [MakeupDay(date(2027, 2, 20))])
    assert len(days) == 365
    by_date = {d.date: d for d in days}
    assert by_date[date(2027, 1, 1)] == DayRow(date(2027, 1, 1), False, "元旦")
    assert by_date[date(2027, 2, 20)] == DayRow(date(2027, 2, 20), True, rules.MAKEUP_NAME)
    assert by_date[date(2027, 2, 15)] == DayRow(date(2027, 2, 15), True, "")
    assert by_date[date(2027, 2, 27)] == DayRow(date(2027, 2, 27), False, "")
    assert len(rules.notice_days(2028, [], [])) == 366


@pytest.mark.parametrize(
    ("holidays", "makeups", "field", "code", "words"),
    [
        ("2027-13-01 2027-13-02 元旦", "", "holidays", "calendar.date_invalid", "第 1 行"),
        ("\n2027-01-01 2027-01-03", "", "holidays", "calendar.holiday_name_missing", "第 2 行"),
        ("2027-01-01 2027-1-3 元旦", "", "holidays", "calendar.date_invalid", "2027-1-3"),
        ("", "2027-02-31", "makeup_days", "calendar.date_invalid", "调休上班日第 1 行"),
    ],
)
def test_malformed_lines_are_named(holidays, makeups, field, code, words):
    _, holiday_errors = rules.parse_holiday_lines(holidays)
    _, makeup_errors = rules.parse_makeup_lines(makeups)
    [error] = holiday_errors + makeup_errors
    assert (error.field, error.code) == (field, code)
    assert words in error.message


def _errors(holidays: str, makeups: str, year: int = 2027):
    parsed_holidays, parse_errors = rules.parse_holiday_lines(holidays)
    parsed_makeups, makeup_errors = rules.parse_makeup_lines(makeups)
    assert parse_errors == makeup_errors == []
    return rules.notice_errors(year, parsed_holidays, parsed_makeups)


@pytest.mark.parametrize(
    ("holidays", "makeups", "code", "words"),
    [
        (
            "2026-12-31 2027-01-02 元旦",
            "",
            "calendar.date_outside_year",
            "2026-12-31 不在 2027 年内",
        ),
        ("2027-01-03 2027-01-01 元旦", "", "calendar.range_reversed", "早于开始日期"),
        (
            "2027-02-06 2027-02-14 春节\n2027-02-14 2027-02-15 重复",
            "",
            "calendar.holiday_overlap",
            "节假日第 2 行：2027-02-14 已在第 1 行（春节）中",
        ),
        ("", "2027-02-22", "calendar.makeup_not_weekend", "2027-02-22 是星期一"),
        (
            "2027-02-06 2027-02-14 春节",
            "2027-02-13",
            "calendar.makeup_on_holiday",
            "第 1 行（春节）",
        ),
        ("", "2027-02-20\n2027-02-20", "calendar.makeup_duplicate", "调休上班日第 2 行"),
        ("", "2028-01-01", "calendar.date_outside_year", "不在 2027 年内"),
    ],
)
def test_notice_rules_name_the_line_and_the_rule(holidays, makeups, code, words):
    [error] = _errors(holidays, makeups)
    assert error.code == code
    assert words in error.message


def test_year_out_of_range_is_refused():
    [error] = rules.notice_errors(1800, [], [])
    assert (error.field, error.code) == ("year", "calendar.year_range")


def test_notice_days_refuse_a_broken_notice():
    with pytest.raises(ValidationFailed) as failed:
        rules.notice_days(2027, [], [MakeupDay(date(2027, 3, 3))])
    assert [e.code for e in failed.value.errors] == ["calendar.makeup_not_weekend"]


def test_days_changed_lists_the_dates_that_differ():
    old = rules.notice_days(2027, [], [])
    new = rules.notice_days(2027, [HolidayRange(date(2027, 1, 1), date(2027, 1, 3), "元旦")], [])
    # Fri 1 Jan turns a day off; Sat 2 and Sun 3 gain a name.
    assert rules.days_changed(old, new) == [date(2027, 1, 1), date(2027, 1, 2), date(2027, 1, 3)]
