"""The one scope function, the ``access_*`` functions built on it, and ``covers`` against ``q``."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import factories
from xueji.accounts.models import Role, User
from xueji.accounts.scope import NOTHING, Scope, scope_for
from xueji.accounts.services import unit_ensure_separate
from xueji.errors import NotFound
from xueji.schools.models import School
from xueji.schools.permissions import access_school
from xueji.schools.rules import SchoolType
from xueji.schools.selectors import schools_visible
from xueji.students.permissions import access_student, students_in_scope

pytestmark = pytest.mark.django_db


def separate_school(school_type=SchoolType.OVERSEAS_CHINESE, **overrides):
    """A separately listed school (Art. 27): no division, a '99xxxx' area code."""
    area = {SchoolType.OVERSEAS_CHINESE: "990100", SchoolType.HKMO_MAINLAND_CURRICULUM: "990200"}[
        school_type
    ]
    return factories.SchoolFactory(
        school_type=school_type,
        division_code="",
        area_code=area,
        province_code="99",
        managing_level="national",
        listed_separately=True,
        **overrides,
    )


@pytest.fixture
def landscape(school, other_school):
    """Schools in two counties of one city, another city and province, and the separate list."""
    return {
        "tianhe": school,
        "tianhe_2": factories.SchoolFactory(division_code="440106"),
        "yuexiu": factories.SchoolFactory(division_code="440104"),
        "shenzhen": factories.SchoolFactory(division_code="440303"),
        "chengdu": other_school,
        "overseas": separate_school(SchoolType.OVERSEAS_CHINESE),
        "hkmo": separate_school(SchoolType.HKMO_MAINLAND_CURRICULUM),
    }


def visible_names(user, landscape) -> set[str]:
    ids = set(schools_visible(user).values_list("pk", flat=True))
    return {name for name, s in landscape.items() if s.pk in ids}


# ----------------------------------------------------------------- scope per unit kind


def test_national_sees_every_school_including_the_separately_listed(national_user, landscape):
    assert scope_for(national_user) == Scope(everything=True)
    assert visible_names(national_user, landscape) == set(landscape)


def test_separate_list_unit_sees_only_separately_listed_schools(landscape):
    user = factories.make_user(unit_ensure_separate(), roles=(Role.REVIEWER,))
    assert scope_for(user) == Scope(area_prefix="99")
    assert visible_names(user, landscape) == {"overseas", "hkmo"}


def test_separately_listed_schools_hang_under_the_separate_unit(landscape):
    overseas_unit = landscape["overseas"].unit
    assert overseas_unit.parent == unit_ensure_separate()
    assert overseas_unit.parent.parent.kind == "national"


def test_province_sees_its_prefix_only(province_user, landscape):
    assert scope_for(province_user) == Scope(area_prefix="44")
    assert visible_names(province_user, landscape) == {"tianhe", "tianhe_2", "yuexiu", "shenzhen"}


def test_city_sees_its_prefix_only(city_user, landscape):
    assert scope_for(city_user) == Scope(area_prefix="4401")
    assert visible_names(city_user, landscape) == {"tianhe", "tianhe_2", "yuexiu"}


def test_county_sees_its_prefix_only(county_user, landscape):
    assert scope_for(county_user) == Scope(area_prefix="440106")
    assert visible_names(county_user, landscape) == {"tianhe", "tianhe_2"}


def test_school_sees_itself_not_its_neighbour_in_the_same_county(school_user, landscape):
    assert scope_for(school_user) == Scope(school_id=landscape["tianhe"].pk)
    assert visible_names(school_user, landscape) == {"tianhe"}


def test_separately_listed_school_sees_itself(landscape):
    user = factories.make_user(landscape["hkmo"].unit)
    assert visible_names(user, landscape) == {"hkmo"}


def test_no_province_reaches_the_separate_list(landscape):
    """'99' is no province code: a province prefix can never cover a separately listed school."""
    for code in ("110000", "440000", "510000", "810000", "820000"):
        user = factories.authority_user(code)
        assert not {"overseas", "hkmo"} & visible_names(user, landscape), code


def test_account_without_unit_sees_nothing(landscape):
    user = User.objects.create(username="orphan")
    assert scope_for(user) is NOTHING and scope_for(user).empty
    assert visible_names(user, landscape) == set()


def test_inactive_account_sees_nothing(national_user, landscape):
    national_user.is_active = False
    national_user.save(update_fields=["is_active"])
    assert scope_for(national_user) is NOTHING
    assert visible_names(national_user, landscape) == set()


def test_anonymous_sees_nothing(landscape):
    assert scope_for(AnonymousUser()) is NOTHING
    assert visible_names(AnonymousUser(), landscape) == set()


def test_covers_area_lets_only_authorities_register_schools_in_their_area(
    school_user, county_user, national_user
):
    assert scope_for(national_user).covers_area("510104")
    assert scope_for(county_user).covers_area("440106")
    assert not scope_for(county_user).covers_area("440104")
    # A school sees itself but does not own its county.
    assert not scope_for(school_user).covers_area("440106")
    assert not NOTHING.covers_area("440106")


# ----------------------------------------------------------------- access_* functions


def same_refusal(a: NotFound, b: NotFound) -> bool:
    return (a.as_dict(), a.http_status) == (b.as_dict(), b.http_status)


@pytest.mark.parametrize("key", ["school_id", "code"])
def test_access_school_out_of_scope_and_missing_look_the_same(
    school_user, county_user, school, other_school, key
):
    def lookup(target) -> dict:
        return {"school_id": target.pk} if key == "school_id" else {"code": target.code}

    missing = {"school_id": 10**9} if key == "school_id" else {"code": "9999999999"}
    for user in (school_user, county_user):
        assert access_school(user, **lookup(school)) == school
        with pytest.raises(NotFound) as out_of_scope:
            access_school(user, **lookup(other_school))
        with pytest.raises(NotFound) as absent:
            access_school(user, **missing)
        assert same_refusal(out_of_scope.value, absent.value)
    with pytest.raises(NotFound):
        access_school(school_user)


def test_access_student_out_of_scope_and_missing_look_the_same(
    make_student, school_user, other_school_user, county_user, national_user
):
    mine = make_student()
    theirs = make_student(school=other_school_user.unit.school, actor=other_school_user)
    for user in (school_user, county_user):
        assert access_student(user, student_id=mine.pk) == mine
        assert access_student(user, number=mine.number.lower()) == mine
        with pytest.raises(NotFound) as out_of_scope:
            access_student(user, student_id=theirs.pk)
        with pytest.raises(NotFound) as by_number:
            access_student(user, number=theirs.number)
        with pytest.raises(NotFound) as absent:
            access_student(user, student_id=10**9)
        assert same_refusal(out_of_scope.value, absent.value)
        assert same_refusal(by_number.value, absent.value)
    assert access_student(national_user, student_id=theirs.pk) == theirs
    with pytest.raises(NotFound):
        access_student(school_user)


def test_student_scope_follows_the_status_record(make_student, school_user, city_user):
    """Students are scoped by where their record is, not by their birthplace or ID area."""
    student = make_student(birthplace_code="510104")
    assert set(students_in_scope(city_user)) == {student}
    assert set(students_in_scope(factories.authority_user("510000"))) == set()


def test_inactive_or_unitless_accounts_reach_no_single_object(school_user, make_student):
    student = make_student()
    school_user.is_active = False
    for user in (school_user, User.objects.create(username="nobody"), AnonymousUser()):
        with pytest.raises(NotFound):
            access_student(user, student_id=student.pk)
        with pytest.raises(NotFound):
            access_school(user, school_id=student.record.school_id)


# ----------------------------------------------------------------- covers == q (property)

# Few digits per level so that generated codes share prefixes often.
PROVINCES = ("11", "44", "51", "99")
MIDDLE = ("00", "01", "03")
LAST = ("00", "04", "06")
area_codes = st.builds(
    lambda p, c, d: p + c + d,
    st.sampled_from(PROVINCES),
    st.sampled_from(MIDDLE),
    st.sampled_from(LAST),
)
prefixes = st.one_of(
    st.sampled_from(PROVINCES),
    st.builds(str.__add__, st.sampled_from(PROVINCES), st.sampled_from(MIDDLE)),
    area_codes,
)
scope_shapes = st.one_of(
    st.just(("everything", None)),
    st.just(("nothing", None)),
    st.tuples(st.just("prefix"), prefixes),
    st.tuples(st.just("school"), st.integers(min_value=0, max_value=8)),
)


class _Rollback(Exception):
    pass


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(codes=st.lists(area_codes, min_size=1, max_size=8), shape=scope_shapes)
def test_covers_agrees_with_the_queryset_filter(db, codes, shape):
    """For any schools and any scope, a school is in ``filter(scope.q())`` iff
    ``scope.covers`` says so; both the school-table and the record-table spellings."""
    try:
        with transaction.atomic():
            School.objects.bulk_create(
                School(
                    code=f"{1200000000 + i}",
                    name=f"学校{i}",
                    school_type=SchoolType.PRIMARY,
                    operator="1",
                    division_code=code,
                    area_code=code,
                    province_code=code[:2],
                )
                for i, code in enumerate(codes)
            )
            schools = list(School.objects.order_by("pk"))
            kind, value = shape
            if kind == "everything":
                scope = Scope(everything=True)
            elif kind == "nothing":
                scope = NOTHING
            elif kind == "prefix":
                scope = Scope(area_prefix=value)
            else:
                # An index past the end stands for a school id that does not exist.
                scope = Scope(
                    school_id=schools[value].pk if value < len(schools) else 10**9 + value
                )
            filtered = set(
                School.objects.filter(
                    scope.q(area_field="area_code", school_field="pk")
                ).values_list("pk", flat=True)
            )
            covered = {s.pk for s in schools if scope.covers(area_code=s.area_code, school_id=s.pk)}
            assert filtered == covered
            raise _Rollback
    except _Rollback:
        pass


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    division=st.sampled_from(
        ["440000", "440100", "440106", "440104", "510000", "510104", "110000", "110101"]
    ),
    target=st.sampled_from(["440106", "440104", "440303", "510104", "110101"]),
)
def test_scope_of_a_real_unit_agrees_with_its_filter(db, division, target):
    """The same property through ``scope_for`` on authority units built from division codes."""
    try:
        with transaction.atomic():
            user = factories.authority_user(division)
            school = factories.SchoolFactory(division_code=target)
            scope = scope_for(user)
            in_filter = schools_visible(user).filter(pk=school.pk).exists()
            assert in_filter == scope.covers(area_code=school.area_code, school_id=school.pk)
            assert in_filter == target.startswith(user.unit.area_prefix)
            raise _Rollback
    except _Rollback:
        pass
