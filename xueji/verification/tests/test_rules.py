"""The pure rules of the campaigns: scopes, deadlines, percentages, roll-up levels, sign-off."""

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from xueji.verification.rules import (
    campaign_errors,
    child_level,
    default_title,
    is_overdue,
    parent_areas,
    progress_percent,
    scopes_overlap,
    semester_label,
    sign_off_refusal,
    valid_area,
)

TODAY = date(2026, 11, 27)
provinces = st.sampled_from(["", "11", "44", "51", "99"])


@given(provinces, provinces)
def test_overlap_is_symmetric_and_national_overlaps_everything(a, b):
    assert scopes_overlap(a, b) == scopes_overlap(b, a)
    assert scopes_overlap("", b)
    assert scopes_overlap(a, b) == (not a or not b or a == b)


def test_campaign_errors():
    ok = campaign_errors(school_year=2026, semester=1, deadline=TODAY, today=TODAY)
    assert ok == []
    codes = {
        e.code
        for e in campaign_errors(
            school_year=1990, semester=0, deadline=TODAY - timedelta(days=1), today=TODAY
        )
    }
    assert codes == {"campaign.school_year", "campaign.semester", "campaign.deadline_past"}
    late = campaign_errors(school_year=2026, semester=2, deadline=date(2027, 9, 1), today=TODAY)
    assert [e.code for e in late] == ["campaign.deadline_after_year"]
    missing = campaign_errors(school_year=2026, semester=2, deadline=None, today=TODAY)
    assert [e.code for e in missing] == ["campaign.deadline_missing"]


@given(st.dates(), st.integers(-5, 5), st.booleans())
def test_overdue_from_the_day_after_the_deadline_until_signed_off(deadline, offset, signed):
    try:
        today = deadline + timedelta(days=offset)
    except OverflowError:
        return
    assert is_overdue(deadline=deadline, today=today, signed_off=signed) == (
        not signed and offset > 0
    )


@given(st.integers(0, 10_000), st.integers(0, 10_000), st.integers(0, 50), st.integers(0, 50))
def test_percent_stays_in_range_and_is_100_only_when_everyone_is_marked(
    marked, students, schools, signed
):
    marked = min(marked, students)
    signed = min(signed, schools)
    value = progress_percent(marked=marked, students=students, schools=schools, signed_off=signed)
    assert 0 <= value <= 100
    if students:
        assert (value == 100) == (marked == students)
    else:
        assert value == (100 if schools and signed == schools else 0)


def test_levels_of_the_roll_up():
    assert [child_level(a).kind for a in ("", "44", "4401", "440106")] == [
        "province",
        "city",
        "county",
        "schools",
    ]
    assert child_level("99").kind == "schools"
    assert [valid_area(a) for a in ("", "44", "4401", "440106", "4", "44x", "4401061")] == [
        True,
        True,
        True,
        True,
        False,
        False,
        False,
    ]
    assert parent_areas("440106") == ["", "44", "4401"]
    assert parent_areas("44") == [""]
    assert parent_areas("") == []
    assert parent_areas("99") == [""]


def test_sign_off_refusals_name_what_is_missing():
    assert sign_off_refusal(unmarked=0, unexplained=0) is None
    assert sign_off_refusal(unmarked=3, unexplained=1).code == "confirmation.unmarked"
    assert sign_off_refusal(unmarked=0, unexplained=2).code == "confirmation.data_wrong_unexplained"


def test_labels_and_titles():
    assert semester_label(2026, 1) == "2026–2027 学年秋季学期"
    assert default_title(school_year=2026, semester=2, scope_name="广东省") == (
        "广东省2026–2027学年春季学期学籍核准"
    )
