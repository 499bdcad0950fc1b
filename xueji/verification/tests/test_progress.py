"""The progress roll-up: county → city → province → nation add up; each level's rows; scope
of the drill-down; overdue schools; a constant number of queries."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import SchoolFactory
from xueji.errors import NotFound
from xueji.verification import selectors, services
from xueji.verification.models import SchoolConfirmation
from xueji.verification.selectors import SUMMED

pytestmark = pytest.mark.django_db


@pytest.fixture
def marked(schools, enrol, open_campaign, clerk_of):
    """A national campaign over 天河 (2 schools), 越秀, 福田 and 锦江, each school at a
    different stage: signed off, half marked, not started."""
    t1 = enrol(schools.tianhe, 3)
    enrol(schools.tianhe2, 2)
    y = enrol(schools.yuexiu, 2)
    enrol(schools.futian, 1)
    j = enrol(schools.jinjiang, 2)
    campaign = open_campaign("")
    # 天河 1: all present but one absent, signed off
    services.roll_mark_all_present_except(
        actor=clerk_of(schools.tianhe), campaign_id=campaign.pk, except_ids={t1[0].pk: "absent"}
    )
    services.school_sign_off(actor=clerk_of(schools.tianhe), campaign_id=campaign.pk)
    # 越秀: one data wrong (explained), one unmarked
    services.roll_mark(
        actor=clerk_of(schools.yuexiu),
        campaign_id=campaign.pk,
        student_ids=[y[0].pk],
        mark="data_wrong",
        note="民族代码有误",
    )
    # 锦江: both present, not signed off
    services.roll_mark(
        actor=clerk_of(schools.jinjiang),
        campaign_id=campaign.pk,
        student_ids=[s.pk for s in j],
        mark="present",
    )
    return campaign


def _as_tuple(row) -> tuple:
    return tuple(getattr(row, name) for name in SUMMED)


def test_roll_ups_add_up_across_county_city_province_nation(marked, national_user):
    # the nation's provinces
    nation = selectors.campaign_progress(national_user, marked.pk)
    assert nation.level == "province" and nation.area == ""
    assert [r.key for r in nation.rows] == ["44", "51"]
    # each level's total is its parent's row for it, all the way down to the schools
    for province in nation.rows:
        cities = selectors.campaign_progress(national_user, marked.pk, area=province.key)
        assert _as_tuple(cities.total) == _as_tuple(province)
        for city in cities.rows:
            counties = selectors.campaign_progress(national_user, marked.pk, area=city.key)
            assert counties.level == "county"
            assert _as_tuple(counties.total) == _as_tuple(city)
            for county in counties.rows:
                school_rows = selectors.campaign_progress(national_user, marked.pk, area=county.key)
                assert school_rows.level == "schools"
                assert _as_tuple(school_rows.total) == _as_tuple(county)
    # and the figures themselves
    guangdong = nation.rows[0]
    assert (guangdong.schools, guangdong.signed_off, guangdong.students) == (4, 1, 8)
    assert (guangdong.present, guangdong.absent, guangdong.data_wrong) == (2, 1, 1)
    assert guangdong.marked == 4 and guangdong.percent == 50
    assert nation.total.students == 10 and nation.total.marked == 6


def test_each_level_starts_at_its_own_unit(
    marked, province_user, city_user, county_user, school_user
):
    assert [r.key for r in selectors.campaign_progress(province_user, marked.pk).rows] == [
        "4401",
        "4403",
    ]
    city = selectors.campaign_progress(city_user, marked.pk)
    assert [r.key for r in city.rows] == ["440104", "440106"]
    assert [a for a, _name in city.trail] == []
    county = selectors.campaign_progress(county_user, marked.pk)
    assert county.level == "schools"
    rows = {r.name: r for r in county.rows}
    assert (
        rows["天河区第一实验小学"].percent == 100
        and rows["天河区第一实验小学"].state == "signed_off"
    )
    assert rows["天河区第二小学"].percent == 0
    # a school sees its own row only
    own = selectors.campaign_progress(school_user, marked.pk)
    assert [r.school_id for r in own.rows] == [school_user.unit.school_id]
    assert own.total.name == "天河区第一实验小学"


def test_the_drill_down_stays_inside_the_scope(marked, province_user, county_user):
    with pytest.raises(NotFound):
        selectors.campaign_progress(province_user, marked.pk, area="51")
    with pytest.raises(NotFound):
        selectors.campaign_progress(province_user, marked.pk, area="")
    with pytest.raises(NotFound):
        selectors.campaign_progress(county_user, marked.pk, area="4401")
    with pytest.raises(NotFound):
        selectors.campaign_progress(province_user, marked.pk, area="44x")
    trail = selectors.campaign_progress(province_user, marked.pk, area="440106").trail
    assert [a for a, _name in trail] == ["44", "4401"]


def test_schools_not_signed_off_are_overdue_after_the_deadline(marked, county_user, national_user):
    before = selectors.campaign_progress(county_user, marked.pk, today=marked.deadline)
    assert before.total.overdue == 0
    after = selectors.campaign_progress(
        county_user, marked.pk, today=marked.deadline + timedelta(days=1)
    )
    assert after.total.overdue == 1
    assert [r.name for r in after.rows if r.overdue] == ["天河区第二小学"]
    nation = selectors.campaign_progress(
        national_user, marked.pk, today=marked.deadline + timedelta(days=1)
    )
    assert nation.total.overdue == 4  # 天河 2, 越秀, 福田 and 锦江 never signed off


def test_a_province_campaign_is_invisible_to_other_provinces(
    schools, open_campaign, other_school_user
):
    campaign = open_campaign("44")
    with pytest.raises(NotFound):
        selectors.campaign_progress(other_school_user, campaign.pk)
    assert not selectors.campaign_list(other_school_user).exists()


def test_progress_takes_the_same_queries_for_more_schools(
    schools, open_campaign, county_user, province_user
):
    campaign = open_campaign("44")

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            selectors.campaign_progress(county_user, campaign.pk)
        return len(captured)

    queries()  # the division names are cached for the process after the first read
    few = queries()
    for _i in range(5):
        SchoolFactory(division_code="440106")
    services.campaign_close(actor=province_user, campaign_id=campaign.pk)
    campaign = open_campaign("44")
    assert SchoolConfirmation.objects.filter(campaign=campaign, area_code="440106").count() == 7
    assert queries() == few


def test_above_the_schools_the_overdue_schools_are_listed(marked, county_user, national_user):
    late = marked.deadline + timedelta(days=1)
    on_time = selectors.campaign_progress(national_user, marked.pk, today=marked.deadline)
    assert on_time.overdue_schools == []
    nation = selectors.campaign_progress(national_user, marked.pk, today=late)
    # the four schools never signed off, by county code (越秀 440104 before 天河 440106 …),
    # each with its county's name
    assert [(r.name, r.place) for r in nation.overdue_schools] == [
        ("越秀区第一小学", "越秀区"),
        ("天河区第二小学", "天河区"),
        ("福田区第一小学", "福田区"),
        ("锦江区实验小学", "锦江区"),
    ]
    assert len(nation.overdue_schools) == nation.total.overdue
    # at the schools' own level the table already says which: no second list
    county = selectors.campaign_progress(county_user, marked.pk, today=late)
    assert county.level == "schools" and county.overdue_schools == []


def test_the_overdue_list_is_capped(marked, national_user, monkeypatch):
    monkeypatch.setattr(selectors, "OVERDUE_LISTED", 2)
    nation = selectors.campaign_progress(
        national_user, marked.pk, today=marked.deadline + timedelta(days=1)
    )
    assert len(nation.overdue_schools) == 2 and nation.total.overdue == 4
