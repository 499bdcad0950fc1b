"""The linkage input read from the registry: blind indexes, never ID numbers."""

from datetime import UTC, date, datetime

import pytest

from tests import factories
from xueji.anomalies.extract import SCHEMA, address_text, phone_digits, registry_table
from xueji.enrolment.models import StatusRecord
from xueji.students import identity
from xueji.students.models import Guardian
from xueji.verification.models import Campaign, RollMark
from xueji.verification.rules import CampaignState, Mark

pytestmark = pytest.mark.django_db


def test_each_record_becomes_one_row_with_keys_and_no_id_number(make_student, school):
    """Student, record and guardians in one row; cancelled records stay out."""
    # given
    guardian_number = factories.resident_id("440106", date(1985, 6, 1), "1")
    first = make_student(name="张子轩", born=date(2016, 4, 9), guardian_id_number=guardian_number)
    again = make_student(
        name="章子宣",
        born=date(2016, 9, 4),
        id_type="",
        id_number="",
        guardian_id_number=guardian_number,
    )
    gone = make_student(name="李明", born=date(2015, 1, 20))
    StatusRecord.objects.filter(student=gone).update(state="cancelled")

    # when
    table = registry_table()

    # then
    assert table.schema == SCHEMA
    rows = {row["unique_id"]: row for row in table.to_pylist()}
    assert set(rows) == {first.pk, again.pk}
    one, two = rows[first.pk], rows[again.pk]
    assert (one["surname"], one["given"], one["surname_key"], one["given_key"]) == (
        "张",
        "子轩",
        "zhang",
        "zixuan",
    )
    assert (two["surname_key"], two["given_key"]) == ("zhang", "zixuan")
    assert one["id_key"] == first.id_key and one["id_type"] == "1"
    assert two["id_key"] is None and two["id_type"] is None and two["number_kind"] == "L"
    assert one["guardian_keys"] == two["guardian_keys"] == [identity.id_key("1", guardian_number)]
    assert one["attendance"] is None and two["attendance"] is None  # no campaign yet
    assert one["school_id"] == two["school_id"] == school.pk
    assert one["birth_date"] == date(2016, 4, 9) and two["birth_date"] == date(2016, 9, 4)
    assert one["birth_date_pair"] == two["birth_date_pair"]
    assert (one["area_code"], one["province_code"]) == (school.area_code, school.province_code)
    # Neither the ID number nor the student number (a G number holds the ID) leaves.
    flat = repr(table.to_pylist())
    assert first.number[1:] not in flat and first.number not in flat


def test_limit_reads_the_first_students_only(make_student):
    students = [make_student(born=date(2016, 1, day)) for day in (3, 4, 5)]

    table = registry_table(limit=2, chunk_rows=1)

    assert table.column("unique_id").to_pylist() == [s.pk for s in students[:2]]


def test_every_guardian_with_an_id_is_a_key(make_student):
    father = factories.resident_id("440106", date(1983, 3, 3), "1")
    mother = factories.resident_id("440106", date(1985, 5, 5), "2")
    student = make_student(guardian_id_number=father)
    Guardian.objects.create(
        student=student,
        relation="52",
        name="母亲",
        id_type="1",
        id_number="",
        id_key=identity.id_key("1", mother),
    )
    Guardian.objects.create(student=student, relation="70", name="外祖母")  # no ID

    (row,) = registry_table().to_pylist()

    assert row["guardian_keys"] == [identity.id_key("1", father), identity.id_key("1", mother)]


def _campaign(opened_at: datetime, *, semester: int) -> Campaign:
    return Campaign.objects.create(
        school_year=2025,
        semester=semester,
        title=f"2025-{semester}",
        deadline=opened_at.date(),
        state=CampaignState.CLOSED,
        opened_at=opened_at,
    )


def test_attendance_is_the_latest_campaigns_mark(make_student, school):
    """present and "data wrong" (the student is there) read as present; absent as
    absent; not marked, or never in a campaign, as nothing. Latest by school year and
    semester, as the detectors count it, not by when a campaign was opened."""
    earlier = _campaign(datetime(2026, 4, 1, tzinfo=UTC), semester=1)  # opened late
    latest = _campaign(datetime(2026, 3, 1, tzinfo=UTC), semester=2)
    marks = {
        "present": ("absent", Mark.PRESENT),
        "data_wrong": ("absent", Mark.DATA_WRONG),
        "absent": ("present", Mark.ABSENT),
        "unmarked": ("absent", Mark.UNMARKED),
    }
    students = {label: make_student(born=date(2016, 1, i + 1)) for i, label in enumerate(marks)}
    never = make_student(born=date(2016, 2, 1))
    for label, (before, now) in marks.items():
        for campaign, mark in ((earlier, before), (latest, now)):
            RollMark.objects.create(
                campaign=campaign,
                school=school,
                student=students[label],
                area_code=school.area_code,
                province_code=school.province_code,
                mark=mark,
            )

    rows = {row["unique_id"]: row["attendance"] for row in registry_table().to_pylist()}

    assert {label: rows[student.pk] for label, student in students.items()} == {
        "present": "present",
        "data_wrong": "present",
        "absent": "absent",
        "unmarked": None,
    }
    assert rows[never.pk] is None


def test_phones_and_addresses_become_keyed_indexes_only(make_student):
    """The guardians' phones, the student's phone and addresses: keyed indexes, each once;
    an address written with full-width digits and spaces is the same address."""
    assert phone_digits("+86 138-0013-8000") == phone_digits("13800138000") == "13800138000"
    assert phone_digits("12345") == "" and address_text("1号") == ""
    # given
    first = make_student(
        name="王小明",
        born=date(2016, 5, 6),
        guardian_phone="13800138000",
        address="广州市天河区体育西路1号",
    )
    again = make_student(
        name="王晓明",
        born=date(2016, 5, 6),
        id_type="",
        id_number="",
        guardian_id_number=factories.resident_id("440106", date(1986, 2, 3), "2"),
        guardian_phone="13900139000",
        address="广州市天河区 体育西路１号",
    )

    # when
    rows = {row["unique_id"]: row for row in registry_table().to_pylist()}

    # then
    one, two = rows[first.pk]["contact_keys"], rows[again.pk]["contact_keys"]
    address = identity.blind_index("address", "广州市天河区体育西路1号")
    assert sorted(one) == sorted([identity.blind_index("phone", "13800138000"), address])
    assert sorted(two) == sorted([identity.blind_index("phone", "13900139000"), address])
    flat = repr(rows)
    assert "13800138000" not in flat and "13900139000" not in flat and "体育西路" not in flat


def test_the_previous_school_named_becomes_that_schools_id(make_student, school):
    """原就读学校 by code or by full name (full-width, spaces) is the registry's school; an
    unknown school, an ambiguous name or the record's own school is none."""
    # given
    first_school = factories.SchoolFactory(name="天河区第一小学", code="4401060001")
    twin_named = [factories.SchoolFactory(name="同名小学") for _ in range(2)]
    by_code = make_student(
        name="王小明", born=date(2016, 5, 6), previous_school="４４０１０６０００１"
    )
    by_name = make_student(name="王晓明", born=date(2016, 5, 7), previous_school="天河区 第一小学")
    unknown = make_student(name="王晓敏", born=date(2016, 5, 8), previous_school="不存在的学校")
    ambiguous = make_student(name="王小敏", born=date(2016, 5, 9), previous_school="同名小学")
    own = make_student(name="王敏", born=date(2016, 5, 10), previous_school=school.code)
    nothing = make_student(name="王明", born=date(2016, 5, 11))
    assert twin_named[0].name == twin_named[1].name

    # when
    rows = {row["unique_id"]: row for row in registry_table().to_pylist()}

    # then
    assert rows[by_code.pk]["previous_schools"] == [str(first_school.pk)]
    assert rows[by_name.pk]["previous_schools"] == [str(first_school.pk)]
    assert rows[by_code.pk]["school_trail"] == sorted([str(first_school.pk), str(school.pk)])
    for student in (unknown, ambiguous, own, nothing):
        assert rows[student.pk]["previous_schools"] is None
        assert rows[student.pk]["school_trail"] == [str(school.pk)]
