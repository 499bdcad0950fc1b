"""Named fixtures shared by every test: accounts at each level, schools in and out of scope."""

import pytest

from tests import factories


@pytest.fixture
def school(db):
    """A primary school in 广州市天河区 (440106)."""
    return factories.SchoolFactory(name="天河区第一实验小学", division_code="440106")


@pytest.fixture
def other_school(db):
    """A primary school in 成都市锦江区 (510104): another province."""
    return factories.SchoolFactory(name="锦江区实验小学", division_code="510104")


@pytest.fixture
def school_user(school):
    return factories.make_user(school.unit, username="clerk")


@pytest.fixture
def other_school_user(other_school):
    return factories.make_user(other_school.unit, username="clerk2")


@pytest.fixture
def county_user(db):
    return factories.authority_user("440106")


@pytest.fixture
def city_user(db):
    return factories.authority_user("440100")


@pytest.fixture
def province_user(db):
    return factories.authority_user("440000")


@pytest.fixture
def national_user(db):
    from xueji.accounts.services import unit_ensure_national

    return factories.make_user(unit_ensure_national(), roles=("reviewer",), username="national")


@pytest.fixture
def make_student(school_user):
    """Register a student through the service; returns the Student."""
    from xueji.students.services import student_register

    def make(school=None, actor=None, confirm_distinct=True, **overrides):
        # Faker draws from a small pool of names and every default birth date is the same:
        # two made students may look alike. Tests of the duplicate check pass False.
        target = school or school_user.unit.school
        result = student_register(
            actor=actor or school_user,
            data=factories.registration(target, **overrides),
            confirm_distinct=confirm_distinct,
        )
        return result.student

    return make


@pytest.fixture(autouse=True)
def reference_data(request):
    """Transactional tests flush every table afterwards, reference data included: reload it."""
    marker = request.node.get_closest_marker("django_db")
    by_marker = marker is not None and bool(
        marker.kwargs.get("transaction") or (marker.args and marker.args[0])
    )
    if not by_marker and not {"live_server", "transactional_db"} & set(request.fixturenames):
        return
    request.getfixturevalue("transactional_db")
    from xueji.divisions.models import Division
    from xueji.divisions.refdata import load_reference_data
    from xueji.divisions.selectors import clear_caches

    if not Division.objects.exists():
        load_reference_data()
        clear_caches()
    # The statutory calendar (2004–2026) is seeded by a migration too.
    from xueji.workdays.seeding import calendar_seed

    calendar_seed()
