"""The pure rules behind the detectors, without the database: the age band of a grade
agrees with counting ages one pupil at a time, months go back by the calendar, pairs are
stored ordered, the survivor a merge suggests, the lowest common unit."""

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xueji.anomalies.rules import (
    age_band,
    age_in_line,
    age_on,
    lowest_common,
    months_before,
    ordered_pair,
    semester_start,
    suggest_survivor,
)
from xueji.changes.rules import semester_of
from xueji.schools.rules import GRADES

days = st.dates(min_value=date(1995, 1, 1), max_value=date(2030, 12, 31))


@given(
    born=days,
    grade=st.sampled_from(sorted(GRADES)),
    reference=st.dates(min_value=date(2005, 1, 1), max_value=date(2030, 12, 31)),
    below=st.integers(min_value=0, max_value=4),
    above=st.integers(min_value=0, max_value=4),
)
def test_the_band_of_birth_dates_is_the_band_of_ages(born, grade, reference, below, above):
    usual = GRADES[grade].usual_entry_age
    by_age = max(usual - below, 0) <= age_on(born, reference) <= usual + above
    assert age_in_line(born, grade, reference=reference, below=below, above=above) == by_age


def test_the_band_of_grade_three_in_autumn_2025():
    band = age_band("13", reference=date(2025, 9, 1), below=2, above=3)
    assert band is not None
    assert (band.earliest, band.latest) == (date(2013, 9, 2), date(2019, 9, 1))


@given(day=days, months=st.integers(min_value=0, max_value=60))
def test_months_before_goes_back_by_the_calendar(day, months):
    earlier = months_before(day, months)
    assert (day.year * 12 + day.month) - (earlier.year * 12 + earlier.month) == months
    assert earlier.day == day.day or (
        earlier.day < day.day and (earlier + timedelta(days=1)).day == 1
    )


@given(day=days)
def test_a_semester_starts_on_or_before_every_day_in_it(day):
    year, semester = semester_of(day)
    start = semester_start(year, semester)
    assert start <= day  # January belongs to the autumn semester begun in September
    assert semester_of(start) == (year, semester)


@given(a=st.integers(min_value=1), b=st.integers(min_value=1))
def test_a_pair_is_stored_smaller_first(a, b):
    if a == b:
        with pytest.raises(ValueError):
            ordered_pair(a, b)
    else:
        low, high = ordered_pair(a, b)
        assert low < high and {low, high} == {a, b}


def test_the_survivor_is_the_formal_number_then_on_roll_then_older():
    g = {"id": 2, "number_kind": "G", "on_roll": False, "registered_at": date(2024, 9, 1)}
    l_number = {"id": 1, "number_kind": "L", "on_roll": True, "registered_at": date(2020, 9, 1)}
    assert suggest_survivor([l_number, g]) == 2
    j_on = {"id": 3, "number_kind": "J", "on_roll": True, "registered_at": date(2024, 9, 1)}
    j_off = {"id": 4, "number_kind": "J", "on_roll": False, "registered_at": date(2020, 9, 1)}
    assert suggest_survivor([j_off, j_on]) == 3


def test_the_lowest_common_unit():
    school_a, school_b, county, city, nation = 10, 11, 3, 2, 1
    assert (
        lowest_common([school_a, county, city, nation], [school_b, county, city, nation]) == county
    )
    assert lowest_common([school_a, county], [school_a, county]) == school_a
    assert lowest_common([school_a], [school_b]) is None
