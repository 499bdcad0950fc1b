"""Campaign tests' world: schools in two counties of 广州 (天河 440106, 越秀 440104), one in
深圳 (福田 440304), one in 成都 (锦江 510104), a closed school in 天河; their clerks, and
students registered through the service."""

from dataclasses import dataclass
from datetime import date, timedelta

import pytest

from tests.factories import SchoolFactory, make_user
from xueji import clock
from xueji.changes.rules import semester_of
from xueji.schools.models import School
from xueji.schools.rules import SchoolState
from xueji.verification import services


@dataclass
class Schools:
    tianhe: School  # the root conftest's ``school`` (440106)
    tianhe2: School
    yuexiu: School
    futian: School
    jinjiang: School  # the root conftest's ``other_school`` (510104)
    closed: School


@pytest.fixture
def schools(school, other_school) -> Schools:
    closed = SchoolFactory(name="天河区已撤销小学", division_code="440106")
    School.objects.filter(pk=closed.pk).update(state=SchoolState.CLOSED, closed_on=date(2024, 7, 1))
    return Schools(
        tianhe=school,
        tianhe2=SchoolFactory(name="天河区第二小学", division_code="440106"),
        yuexiu=SchoolFactory(name="越秀区第一小学", division_code="440104"),
        futian=SchoolFactory(name="福田区第一小学", division_code="440304"),
        jinjiang=other_school,
        closed=closed,
    )


@pytest.fixture
def clerk_of(school_user, other_school_user):
    """The clerk of a school (the root conftest's for 天河 and 锦江; a new one otherwise)."""
    made: dict[int, object] = {
        school_user.unit.school_id: school_user,
        other_school_user.unit.school_id: other_school_user,
    }

    def clerk(school):
        if school.pk not in made:
            made[school.pk] = make_user(school.unit)
        return made[school.pk]

    return clerk


@pytest.fixture
def enrol(make_student, clerk_of):
    """``enrol(school, n, **overrides)``: n students registered at the school."""

    def enrol(school, n=1, **overrides):
        return [make_student(school=school, actor=clerk_of(school), **overrides) for _i in range(n)]

    return enrol


def deadline(days: int = 30) -> date:
    return clock.today() + timedelta(days=days)


@pytest.fixture
def open_campaign(province_user, national_user):
    """``open_campaign(province_code='44', **overrides)``: a campaign for this semester."""

    def open_(province_code="44", **overrides):
        actor = overrides.pop("actor", None) or (
            national_user if not province_code else province_user
        )
        school_year, semester = semester_of(clock.today())
        arguments = {
            "actor": actor,
            "province_code": province_code,
            "school_year": school_year,
            "semester": semester,
            "deadline": deadline(),
            "title": "",
        }
        arguments.update(overrides)
        return services.campaign_open(**arguments)

    return open_
