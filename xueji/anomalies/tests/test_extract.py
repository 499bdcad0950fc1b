"""The linkage input read from the registry: blind indexes, never ID numbers."""

from datetime import date

import pytest

from tests import factories
from xueji.anomalies.extract import SCHEMA, registry_table
from xueji.enrolment.models import StatusRecord
from xueji.students import identity

pytestmark = pytest.mark.django_db


def test_each_record_becomes_one_row_with_keys_and_no_id_number(make_student, school):
    """Student, record and first guardian in one row; cancelled records stay out."""
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
    assert one["guardian_key"] == two["guardian_key"] == identity.id_key("1", guardian_number)
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
