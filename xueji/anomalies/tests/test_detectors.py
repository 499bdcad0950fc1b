"""Each detector finds what was planted, routes it to the unit that must act with its
evidence, finds nothing in a clean registry, and resolves its findings once they no
longer hold."""

from datetime import date, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.factories import SchoolFactory, authority_user, resident_id
from xueji.accounts.models import Unit, UnitKind
from xueji.accounts.services import unit_ensure_for_division, unit_ensure_national
from xueji.anomalies.models import AttendanceSighting, Finding
from xueji.anomalies.rules import FindingKind, FindingState, Resolution
from xueji.anomalies.services import detect_all, detector_run, finding_dismiss
from xueji.changes import services as changes
from xueji.changes.rules import ChangeType
from xueji.schools.rules import SchoolState, SchoolType
from xueji.students.models import Student
from xueji.verification.rules import Mark

from .planting import TODAY, campaign, clerk_of, hold, mark, pdf, register

pytestmark = pytest.mark.django_db


@pytest.fixture
def held(monkeypatch):
    return hold(monkeypatch)


def findings(kind: str, state: str = FindingState.OPEN) -> list[Finding]:
    return list(Finding.objects.filter(kind=kind, state=state).order_by("pk"))


def only(kind: str) -> Finding:
    found = findings(kind)
    assert len(found) == 1, found
    return found[0]


def county_unit(code: str) -> Unit:
    return unit_ensure_for_division(division_code=code)


# ----------------------------------------------------------------- a clean registry


def test_a_clean_registry_raises_nothing(held, school):
    # given: two schools, distinct students of the right age, all confirmed present
    neighbour = SchoolFactory(division_code="440106")
    students = [register(school) for _ in range(4)] + [register(neighbour) for _ in range(3)]
    autumn = campaign()
    for student in students:
        mark(autumn, student, student.record.school, Mark.PRESENT)
    # when
    counts = detect_all()
    # then
    assert Finding.objects.count() == 0
    assert {c.kind for c in counts} == set(FindingKind.values)
    assert all(c.found == 0 for c in counts)


# ----------------------------------------------------------------- duplicates


def test_same_name_birth_date_and_sex_without_a_second_id_is_a_duplicate(held, school):
    first = register(school, name="黄小明")
    second = register(school, name="黄小明", with_id=False)  # the same child, an L number
    register(school, name="黄小红")  # a classmate born the same day: not a duplicate
    detector_run(kind=FindingKind.DUPLICATE)
    finding = only(FindingKind.DUPLICATE)
    assert (finding.student_id, finding.other_student_id) == (first.pk, second.pk)
    assert finding.unit == school.unit  # both records at one school: the school acts
    assert finding.evidence["rule"]["reasons"] == ["birth_date_same", "name_same", "sex_same"]
    assert (finding.school_year, finding.semester) == (2025, 1)


def test_two_resident_id_holders_are_two_people(held, school):
    register(school, name="黄小明")
    register(school, name="黄小明")  # twins named alike, each with a checked ID
    detector_run(kind=FindingKind.DUPLICATE)
    assert findings(FindingKind.DUPLICATE) == []


def test_a_shared_guardian_and_birth_date_with_a_homophone_name_is_a_duplicate(held, school):
    guardian = resident_id("440106", date(1988, 1, 2), "2", seq=14)
    first = register(school, name="张子涵", guardian_id_number=guardian)
    second = register(school, name="张子晗", guardian_id_number=guardian, with_id=False)
    register(school, name="张一帆", guardian_id_number=guardian, with_id=False)  # a twin
    detector_run(kind=FindingKind.DUPLICATE)
    finding = only(FindingKind.DUPLICATE)
    assert (finding.student_id, finding.other_student_id) == (first.pk, second.pk)
    assert set(finding.evidence["rule"]["reasons"]) >= {"guardian_same", "name_similar"}


@pytest.mark.parametrize(
    ("division_a", "division_b", "expected"),
    [
        ("440106", "440106", ("county", "440106")),
        ("440106", "440104", ("city", "440100")),
        ("440106", "440303", ("province", "440000")),
        ("440106", "510104", ("national", "")),
    ],
)
def test_a_pair_goes_to_the_lowest_unit_covering_both_records(
    held, division_a, division_b, expected
):
    school_a = SchoolFactory(division_code=division_a)
    school_b = SchoolFactory(division_code=division_b)
    register(school_a, name="黄小明")
    register(school_b, name="黄小明", with_id=False)
    detector_run(kind=FindingKind.DUPLICATE)
    unit = only(FindingKind.DUPLICATE).unit
    assert (unit.kind, unit.division_code) == expected
    if expected[0] == "national":
        assert unit == unit_ensure_national()


def test_a_duplicate_no_longer_seen_is_resolved_by_the_detector(held, school):
    register(school, name="黄小明")
    second = register(school, name="黄小明", with_id=False)
    detector_run(kind=FindingKind.DUPLICATE)
    # when: the second record's name is corrected (a different child after all)
    Student.objects.filter(pk=second.pk).update(name="黄晓东", name_key="huangxiaodong")
    counts = detector_run(kind=FindingKind.DUPLICATE)
    # then
    assert counts.resolved == 1
    resolved = findings(FindingKind.DUPLICATE, FindingState.RESOLVED)[0]
    assert resolved.resolution == Resolution.AUTO
    assert resolved.resolved_at is not None


def test_a_second_run_keeps_one_open_finding_per_pair(held, school):
    register(school, name="黄小明")
    register(school, name="黄小明", with_id=False)
    first = detector_run(kind=FindingKind.DUPLICATE)
    second = detector_run(kind=FindingKind.DUPLICATE)
    assert (first.created, second.created, second.kept) == (1, 0, 1)
    assert Finding.objects.count() == 1


# ----------------------------------------------------------------- empty records


def test_absent_at_the_schools_signed_off_confirmation_is_an_empty_record(held, school):
    absent, present = register(school), register(school)
    autumn = campaign()
    mark(autumn, absent, school, Mark.ABSENT)
    mark(autumn, present, school, Mark.PRESENT)
    detector_run(kind=FindingKind.EMPTY_RECORD)
    finding = only(FindingKind.EMPTY_RECORD)
    assert finding.student_id == absent.pk
    assert finding.unit == school.unit
    evidence = finding.evidence["campaign"]["absent"]
    assert evidence["campaign_id"] == autumn.pk
    assert evidence["school_id"] == school.pk


def test_an_absence_counts_only_once_the_school_signed_off(held, school):
    student = register(school)
    mark(campaign(), student, school, Mark.ABSENT, signed_off=False)
    detector_run(kind=FindingKind.EMPTY_RECORD)
    assert findings(FindingKind.EMPTY_RECORD) == []


def test_present_at_a_later_campaign_of_the_same_school_clears_the_absence(held, school):
    student = register(school)
    mark(campaign(school_year=2024, semester=2, closed=True), student, school, Mark.ABSENT)
    detector_run(kind=FindingKind.EMPTY_RECORD)
    assert len(findings(FindingKind.EMPTY_RECORD)) == 1
    mark(campaign(), student, school, Mark.PRESENT)
    detector_run(kind=FindingKind.EMPTY_RECORD)
    assert findings(FindingKind.EMPTY_RECORD) == []
    assert findings(FindingKind.EMPTY_RECORD, FindingState.RESOLVED)[0].resolution == "auto"


def test_the_campaign_services_marks_feed_the_detector(held, school, national_user):
    """End to end with xueji.verification's own services: open, mark, sign off."""
    from xueji.verification import services as verification

    absent, present = register(school), register(school)
    opened = verification.campaign_open(
        actor=national_user,
        province_code="",
        school_year=2025,
        semester=1,
        deadline=date(2026, 1, 10),
    )
    clerk = clerk_of(school)
    verification.roll_open(actor=clerk, campaign_id=opened.pk)
    verification.roll_mark(
        actor=clerk,
        campaign_id=opened.pk,
        student_ids=[absent.pk],
        mark=Mark.ABSENT,
        note="长期未到校",
    )
    verification.roll_mark(
        actor=clerk, campaign_id=opened.pk, student_ids=[present.pk], mark=Mark.PRESENT
    )
    verification.school_sign_off(actor=clerk, campaign_id=opened.pk)
    detector_run(kind=FindingKind.EMPTY_RECORD)
    finding = only(FindingKind.EMPTY_RECORD)
    assert finding.student_id == absent.pk
    assert finding.evidence["campaign"]["absent"]["note"] == "长期未到校"


def test_no_sign_of_a_student_for_months_is_an_empty_record(held, school):
    held.go(TODAY - timedelta(days=430))
    silent = register(school)
    confirmed = register(school)
    held.go(TODAY - timedelta(days=40))
    mark(campaign(school_year=2025, semester=1), confirmed, school, Mark.PRESENT)
    held.go(TODAY)
    register(school)  # registered just now: a sign
    detector_run(kind=FindingKind.EMPTY_RECORD)
    finding = only(FindingKind.EMPTY_RECORD)
    assert finding.student_id == silent.pk
    assert finding.evidence["silence"]["months"] == 12
    assert finding.evidence["silence"]["last_present"] is None


# ----------------------------------------------------------------- separation


def test_absent_here_and_present_elsewhere_in_the_semester_is_a_separation(held, school):
    elsewhere = SchoolFactory(division_code="440104")  # another county of the city
    student = register(school)
    first = campaign(closed=True)
    mark(first, student, school, Mark.ABSENT)
    second = campaign()  # reopened later in the same semester
    mark(second, student, elsewhere, Mark.PRESENT)
    detect_all(kinds=[FindingKind.SEPARATION, FindingKind.EMPTY_RECORD])
    finding = only(FindingKind.SEPARATION)
    assert finding.student_id == student.pk
    assert (finding.unit.kind, finding.unit.division_code) == ("city", "440100")
    (item,) = finding.evidence["campaign"]["elsewhere"]
    assert (item["type"], item["school_id"]) == ("present_elsewhere", elsewhere.pk)
    assert findings(FindingKind.EMPTY_RECORD) == []  # a separation, not an empty record


def test_absent_here_and_applying_to_another_school_is_a_separation(held, school):
    receiving = SchoolFactory(division_code="440106")
    student = register(school)
    mark(campaign(), student, school, Mark.ABSENT)
    changes.transfer_file(
        actor=clerk_of(receiving),
        student_number=student.number,
        student_name=student.name,
        reason="随父母迁居",
        uploads=[("application", pdf())],
    )
    detector_run(kind=FindingKind.SEPARATION)
    finding = only(FindingKind.SEPARATION)
    assert finding.unit == county_unit("440106")
    (item,) = finding.evidence["campaign"]["elsewhere"]
    assert (item["type"], item["school_id"]) == ("transfer_elsewhere", receiving.pk)


def test_a_recent_attendance_sighting_at_another_school_is_a_separation(held, school):
    elsewhere = SchoolFactory(division_code="440106")
    seen, old, home = register(school), register(school), register(school)
    for student, where, days in ((seen, elsewhere, 10), (old, elsewhere, 300), (home, school, 5)):
        AttendanceSighting.objects.create(
            student=student,
            school_id=where.pk,
            seen_on=TODAY - timedelta(days=days),
            source="考勤系统",
            imported_at=held.now,
        )
    detector_run(kind=FindingKind.SEPARATION)
    finding = only(FindingKind.SEPARATION)
    assert finding.student_id == seen.pk
    assert finding.evidence["sighting"]["sightings"][0]["school_id"] == elsewhere.pk


def test_the_attendance_import_feeds_the_separation_detector(held, school, county_user):
    from xueji.anomalies.services import sightings_import

    elsewhere = SchoolFactory(division_code="440106")
    student = register(school)
    content = (
        "学籍号,学校标识码,在校日期,姓名\n"
        f"{student.number},{elsewhere.code},{(TODAY - timedelta(days=3)).isoformat()},{student.name}\n"
        f"G000000000000000000,{elsewhere.code},{TODAY.isoformat()},\n"
        f"{student.number},9999999999,{TODAY.isoformat()},\n"
        f"{student.number},{elsewhere.code},2025-13-01,\n"
    ).encode()
    result = sightings_import(
        actor=county_user, upload=SimpleUploadedFile("名单.csv", content, "text/csv")
    )
    assert result.imported == 1
    assert [(e.row, e.code) for e in result.errors] == [
        (3, "sighting.student_unknown"),
        (4, "sighting.school_unknown"),
        (5, "sighting.date_invalid"),
    ]
    detector_run(kind=FindingKind.SEPARATION)
    assert only(FindingKind.SEPARATION).student_id == student.pk


# ----------------------------------------------------------------- the change engine


def test_a_pending_step_past_its_due_date_is_overdue(held, school):
    late, fresh = register(school), register(school)
    held.go(TODAY - timedelta(days=40))
    changes.change_file(
        actor=clerk_of(school),
        student_id=late.pk,
        change_type=ChangeType.LEAVE,
        effective_date=held.today(),
        reason="家长申请",
    )
    held.go(TODAY)
    changes.change_file(
        actor=clerk_of(school),
        student_id=fresh.pk,
        change_type=ChangeType.LEAVE,
        effective_date=TODAY,
        reason="家长申请",
    )
    detector_run(kind=FindingKind.STEP_OVERDUE)
    finding = only(FindingKind.STEP_OVERDUE)
    assert finding.student_id == late.pk
    # The filing school's own step is done at filing: the county's is the late one.
    assert finding.unit == county_unit("440106")
    evidence = finding.evidence["step"]
    assert evidence["change_type"] == ChangeType.LEAVE
    assert evidence["days_late"] > 0


def test_a_death_not_cancelled_within_60_working_days_is_overdue(held, school):
    dead, recent = register(school), register(school)
    for student, died_on in ((dead, date(2025, 6, 2)), (recent, TODAY - timedelta(days=3))):
        changes.change_file(
            actor=clerk_of(school),
            student_id=student.pk,
            change_type=ChangeType.DEATH,
            effective_date=died_on,
            reason="病故",
            payload={"died_on": died_on.isoformat()},
            uploads=[("death_proof", pdf())],
        )
    detect_all(kinds=[FindingKind.DEATH_OVERDUE, FindingKind.STEP_OVERDUE])
    finding = only(FindingKind.DEATH_OVERDUE)
    assert finding.student_id == dead.pk
    assert finding.unit == county_unit("440106")  # the pending step's unit
    assert finding.evidence["death"]["died_on"] == "2025-06-02"
    assert finding.evidence["death"]["death_due"] < TODAY.isoformat()
    assert findings(FindingKind.STEP_OVERDUE) == []  # deaths have their own kind


# ----------------------------------------------------------------- the record itself


def test_an_age_out_of_line_with_the_grade_is_found(held, school):
    # Grade 3 (三年级): usual age 8 on 1 September 2025; the band is 6 to 11.
    oldest_in_line = register(school, born=date(2014, 3, 8))  # 11
    much_older = register(school, born=date(2013, 3, 8))  # 12
    too_young = register(school, born=date(2019, 9, 2))  # 5: six only on 2 September
    detector_run(kind=FindingKind.AGE_GRADE)
    found = {f.student_id: f for f in findings(FindingKind.AGE_GRADE)}
    assert set(found) == {much_older.pk, too_young.pk}
    assert oldest_in_line.pk not in found
    assert found[much_older.pk].evidence["age"] == {
        "grade": "13",
        "birth_date": "2013-03-08",
        "age": 12,
        "usual_age": 8,
        "band": [6, 11],
        "reference": "2025-09-01",
    }


def test_special_education_schools_are_exempt_from_the_age_check(held):
    special = SchoolFactory(division_code="440106", school_type=SchoolType.SPECIAL_EDUCATION)
    register(special, born=date(2012, 3, 8))
    detector_run(kind=FindingKind.AGE_GRADE)
    assert findings(FindingKind.AGE_GRADE) == []


def test_a_temporary_number_older_than_the_limit_is_found(held, school):
    held.go(TODAY - timedelta(days=200))
    old = register(school, with_id=False)
    held.go(TODAY)
    register(school, with_id=False)  # a new L number: not yet
    register(school)  # a G number
    detector_run(kind=FindingKind.TEMPORARY_NUMBER)
    finding = only(FindingKind.TEMPORARY_NUMBER)
    assert finding.student_id == old.pk
    assert finding.evidence["number"]["number"].startswith("L")
    assert finding.evidence["number"]["age_days"] == 200


def test_students_of_a_closed_school_go_to_its_authority(held, school):
    students = [register(school), register(school)]
    school.state, school.closed_on = SchoolState.CLOSED, date(2025, 8, 31)
    school.save()
    detector_run(kind=FindingKind.CLOSED_SCHOOL)
    found = findings(FindingKind.CLOSED_SCHOOL)
    assert {f.student_id for f in found} == {s.pk for s in students}
    assert {f.unit for f in found} == {county_unit("440106")}
    # when: the school reopens, the findings resolve themselves
    school.state, school.closed_on = SchoolState.OPEN, None
    school.save()
    counts = detector_run(kind=FindingKind.CLOSED_SCHOOL)
    assert counts.resolved == 2
    assert findings(FindingKind.CLOSED_SCHOOL) == []


def test_a_dismissed_finding_is_not_raised_again_this_semester(held, school):
    student = register(school, born=date(2013, 3, 8))
    detector_run(kind=FindingKind.AGE_GRADE)
    finding_dismiss(
        actor=authority_user("440106"),
        finding_id=only(FindingKind.AGE_GRADE).pk,
        reason="随班就读，经评估留级",
    )
    counts = detector_run(kind=FindingKind.AGE_GRADE)
    assert counts.suppressed == 1
    assert findings(FindingKind.AGE_GRADE) == []
    # next semester it is looked at again
    held.go(date(2026, 3, 2))
    detector_run(kind=FindingKind.AGE_GRADE)
    assert only(FindingKind.AGE_GRADE).student_id == student.pk


def test_unit_kinds_are_what_the_routing_expects(held):
    """The unit tree the routing walks: school → county → city → province → nation."""
    school = SchoolFactory(division_code="440106")
    chain = []
    unit = school.unit
    while unit is not None:
        chain.append(unit.kind)
        unit = unit.parent
    assert chain == [
        UnitKind.SCHOOL,
        UnitKind.COUNTY,
        UnitKind.CITY,
        UnitKind.PROVINCE,
        UnitKind.NATIONAL,
    ]
