"""Loading a year from the State Council notice: who may, what is checked, what is audited."""

from datetime import date

import pytest

from tests.factories import make_user
from xueji.accounts.services import unit_ensure_national
from xueji.audit.models import AuditEvent
from xueji.errors import Conflict, Forbidden, ValidationFailed
from xueji.workdays import selectors
from xueji.workdays.models import CalendarDay, CalendarYear
from xueji.workdays.rules import MAKEUP_NAME, CalendarMissing, HolidayRange, MakeupDay
from xueji.workdays.services import calendar_year_load

NOTICE = "国务院办公厅关于2027年部分节假日安排的通知（测试）"
# An illustrative 2027 (not the real notice): New Year 1–3 Jan, Spring Festival 6–14 Feb
# with Sat 20 Feb worked.
HOLIDAYS = [
    HolidayRange(date(2027, 1, 1), date(2027, 1, 3), "元旦"),
    HolidayRange(date(2027, 2, 6), date(2027, 2, 14), "春节"),
]
MAKEUPS = [MakeupDay(date(2027, 2, 20))]


def load_2027(actor, **overrides):
    arguments = {
        "actor": actor,
        "year": 2027,
        "holidays": HOLIDAYS,
        "makeup_days": MAKEUPS,
        "notice": NOTICE,
    }
    return calendar_year_load(**{**arguments, **overrides})


def test_national_reviewer_loads_2027_and_deadlines_run_into_it(calendar, national_user):
    # given: 2027 not loaded, a deadline running into it is missing
    with pytest.raises(CalendarMissing):
        selectors.due_date(date(2026, 12, 24), 10)
    # when
    entry = load_2027(national_user)
    # then: 25, 28, 29, 30, 31 Dec, [1–3 Jan off], 4, 5, 6, 7, 8 Jan
    assert (entry.year, entry.source, entry.notice) == (2027, "notice", NOTICE)
    assert entry.loaded_by_username == "national"
    assert selectors.due_date(date(2026, 12, 24), 10) == date(2027, 1, 8)
    # Fri 5 Feb: 6–14 off, 15–19 worked, Sat 20 worked → the 6th is Sat 20 Feb.
    assert selectors.due_date(date(2027, 2, 5), 6) == date(2027, 2, 20)
    assert CalendarDay.objects.filter(date__year=2027).count() == 365
    assert CalendarDay.objects.get(date=date(2027, 2, 20)).name == MAKEUP_NAME
    assert 2027 in selectors.loaded_years()
    event = AuditEvent.objects.get(action="calendar.year_load")
    assert (event.object_type, event.object_id) == ("workdays.year", "2027")
    assert event.detail["makeup_days"] == ["2027-02-20"]


def test_a_loaded_year_is_replaced_only_on_request_and_the_change_is_counted(
    calendar, national_user
):
    load_2027(national_user)
    with pytest.raises(Conflict) as conflict:
        load_2027(national_user, holidays=HOLIDAYS[:1], makeup_days=[])
    assert conflict.value.code == "calendar.year_loaded"
    # when: replaced without the Spring Festival
    load_2027(national_user, holidays=HOLIDAYS[:1], makeup_days=[], replace=True, notice="更正")
    # then: 6–14 Feb (5 weekdays become worked, 4 weekend days lose the name) and 20 Feb.
    event = AuditEvent.objects.get(action="calendar.year_replace")
    assert event.detail["changed_days"] == 10
    assert event.detail["replaced"] == {"source": "notice", "notice": NOTICE}
    assert CalendarYear.objects.get(year=2027).notice == "更正"
    assert CalendarDay.objects.filter(date__year=2027).count() == 365
    assert selectors.is_workday(date(2027, 2, 8)) is True


def test_a_seeded_year_can_be_corrected_from_the_notice(calendar, national_user):
    holidays = [HolidayRange(date(2026, 1, 1), date(2026, 1, 3), "元旦")]
    load_2027(national_user, year=2026, holidays=holidays, makeup_days=[], replace=True)
    assert CalendarYear.objects.get(year=2026).source == "notice"
    # Every other holiday of 2026 is gone in this (deliberately short) correction.
    assert selectors.is_workday(date(2026, 2, 16)) is True


def test_validation_errors_name_the_lines(calendar, national_user):
    with pytest.raises(ValidationFailed) as failed:
        load_2027(
            national_user,
            holidays=[HolidayRange(date(2027, 2, 6), date(2027, 2, 14), "春节", line=3)],
            makeup_days=[MakeupDay(date(2027, 2, 22), line=2)],
            notice=" ",
        )
    errors = {(e.field, e.code): e for e in failed.value.errors}
    assert set(errors) == {
        ("notice", "calendar.notice_missing"),
        ("makeup_days", "calendar.makeup_not_weekend"),
    }
    assert "调休上班日第 2 行" in errors["makeup_days", "calendar.makeup_not_weekend"].message
    assert not CalendarYear.objects.filter(year=2027).exists()
    assert not AuditEvent.objects.filter(action__startswith="calendar.").exists()


def test_only_the_national_level_loads_a_year(calendar, county_user, province_user, school_user):
    """Authority reviewers hold calendar.manage; below the nation the level refuses them."""
    for actor in (county_user, province_user, school_user):
        with pytest.raises(Forbidden):
            load_2027(actor)
    # A national account without calendar.manage (a statistician) is refused too.
    statistician = make_user(unit_ensure_national(), roles=("statistician",))
    with pytest.raises(Forbidden):
        load_2027(statistician)
    assert not CalendarYear.objects.filter(year=2027).exists()


def test_make_up_days_may_be_given_as_plain_dates(calendar, national_user):
    load_2027(national_user, makeup_days=[date(2027, 2, 20)])
    assert selectors.is_workday(date(2027, 2, 20)) is True
    with pytest.raises(ValidationFailed) as failed:
        load_2027(national_user, year=2028, holidays=[], makeup_days=[date(2028, 3, 1)])
    [error] = failed.value.errors
    assert error.row == 1
