"""The student number at rest (issue 10, finding 1): encrypted like the ID number, found
through its keyed blind index, stored masked for lists; no table holds a full number."""

import importlib
from datetime import date

import pytest
from django.apps import apps
from django.core.exceptions import FieldError
from django.db import IntegrityError, connection, transaction

from tests.factories import registration, resident_id
from xueji import clock, fieldcrypto
from xueji.exchange.synthetic import DemoPlan, generate
from xueji.students import identity
from xueji.students.models import NumberKind, Student, StudentNumber
from xueji.students.numbering import NumberIssuer
from xueji.students.permissions import access_student
from xueji.students.rules import j_number
from xueji.students.selectors import StudentFilters, name_or_number, student_list
from xueji.students.services import student_register

pytestmark = pytest.mark.django_db

migration = importlib.import_module("xueji.students.migrations.0006_encrypt_student_numbers")


def raw(table: str, column: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def every_stored_text() -> str:
    """Every value of every table, as a stolen copy of the database would show it."""
    parts: list[str] = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            parts.extend(str(value) for row in cursor.fetchall() for value in row)
    return "\n".join(parts)


def test_a_registered_number_is_encrypted_indexed_and_masked(school_user, school):
    data = registration(school)
    student = student_register(actor=school_user, data=data).student
    number = "G" + data["id_number"]
    assert student.number == number  # the Python attribute is the plain number
    stored = raw("students_student", "number", student.pk)
    assert stored.startswith("v1$") and number not in stored
    assert fieldcrypto.decrypt(stored, context=identity.STUDENT_NUMBER_CONTEXT) == number
    assert raw("students_student", "number_key", student.pk) == identity.number_key(number)
    assert raw("students_student", "number_masked", student.pk) == (
        number[:7] + "********" + number[-4:]
    )
    issued = student.numbers.get()
    assert raw("students_studentnumber", "number", issued.pk).startswith("v1$")
    assert issued.number == number
    assert Student.objects.get(pk=student.pk).number == number


def test_no_table_holds_a_full_number(school_user, school):
    """Registration, the synthetic loader (bulk SQL) and a J student: raw SQL over every
    table finds neither the student number nor the bare ID number."""
    data = registration(school)
    student = student_register(actor=school_user, data=data).student
    generate(plan=DemoPlan(students=30, schools=2, provinces=("44",), seed=11))
    numbers = [student.number, *Student.objects.values_list("number", flat=True)[:30]]
    assert len(numbers) == 31 and all(n[0] in "GJL" and len(n) == 19 for n in numbers)
    dump = every_stored_text()
    for number in numbers:
        assert number not in dump
        if number.startswith("G"):
            assert number[1:] not in dump


def test_lookups_by_number_go_through_the_blind_index(school_user, school):
    data = registration(school)
    student = student_register(actor=school_user, data=data).student
    number = student.number
    found = student_list(school_user, filters=StudentFilters(q=number.lower())).rows
    assert [s.pk for s in found] == [student.pk]
    assert access_student(school_user, number=f" {number} ").pk == student.pk
    assert Student.objects.filter(name_or_number(number)).get().pk == student.pk
    # Part of the number as lists show it (division, last 4) still narrows a list.
    assert Student.objects.filter(name_or_number(number[-4:])).filter(pk=student.pk).exists()
    # A lookup on the encrypted column itself cannot silently match nothing: it fails.
    with pytest.raises(FieldError):
        list(Student.objects.filter(number=number))


def test_the_blind_index_keeps_a_number_unique(school_user, school):
    student = student_register(actor=school_user, data=registration(school)).student
    with pytest.raises(IntegrityError), transaction.atomic():
        StudentNumber.objects.create(
            number=student.number, student=student, kind=NumberKind.G, issued_at=clock.now()
        )


def test_j_sequences_continue_past_a_full_probe_window(school_user, school):
    """J numbers are issued in sequence per division and birth date; with the numbers
    encrypted the issuer probes the blind index window by window."""
    student = student_register(actor=school_user, data=registration(school)).student
    born = date(2016, 2, 3)
    for sequence in range(1, 24):
        StudentNumber.objects.create(
            number=j_number("440106", born, sequence),
            student=student,
            kind=NumberKind.J,
            issued_at=clock.now(),
            retired_at=clock.now(),
        )
    issuer = NumberIssuer()
    first = issuer.issue(kind=NumberKind.J, id_number="", division_code="440106", birth_date=born)
    assert first == j_number("440106", born, 24)
    assert issuer.issue(
        kind=NumberKind.J, id_number="", division_code="440106", birth_date=born
    ) == j_number("440106", born, 25)
    other = issuer.issue(
        kind=NumberKind.J, id_number="", division_code="440106", birth_date=date(2016, 2, 4)
    )
    assert other == j_number("440106", date(2016, 2, 4), 1)


class _Editor:
    def __init__(self) -> None:
        self.connection = connection


def test_the_data_migration_encrypts_plain_numbers_and_reverses(school_user, school, monkeypatch):
    monkeypatch.setattr(migration, "BATCH", 2)
    students = [
        student_register(
            actor=school_user, data=registration(school, born=date(2016, 6, day))
        ).student
        for day in (1, 2, 3)
    ]
    plain = {s.pk: s.number for s in students}
    # As before this migration: plain numbers, no index, no masked form.
    with connection.cursor() as cursor:
        for table in ("students_student", "students_studentnumber"):
            cursor.execute(f"UPDATE {table} SET number_key = NULL, number_masked = ''")
        for pk, number in plain.items():
            cursor.execute("UPDATE students_student SET number = %s WHERE id = %s", [number, pk])
            cursor.execute(
                "UPDATE students_studentnumber SET number = %s WHERE student_id = %s",
                [number, pk],
            )
    migration._encrypt(apps, _Editor())
    for pk, number in plain.items():
        assert raw("students_student", "number", pk).startswith("v1$")
        assert Student.objects.get(identity.number_q(number)).pk == pk
        assert StudentNumber.objects.get(identity.number_q(number)).student_id == pk
        assert Student.objects.get(pk=pk).number_masked == identity.mask_student_number(number)
    first = {pk: raw("students_student", "number", pk) for pk in plain}
    migration._encrypt(apps, _Editor())  # a second run finds nothing to do
    assert {pk: raw("students_student", "number", pk) for pk in plain} == first
    migration._decrypt(apps, _Editor())
    for pk, number in plain.items():
        assert raw("students_student", "number", pk) == number
        assert raw("students_student", "number_key", pk) is None


def test_an_upgraded_student_is_found_by_its_old_and_new_numbers(school_user, school):
    from xueji.students.services import student_attach_resident_id

    data = registration(school, id_type="", id_number="", born=date(2016, 7, 8))
    student = student_register(actor=school_user, data=data).student
    assert student.number_kind == NumberKind.L
    old = student.number
    new_id = resident_id("440106", date(2016, 7, 8))
    student_attach_resident_id(actor=school_user, student_id=student.pk, id_number=new_id)
    for number in (old, "G" + new_id):
        rows = student_list(school_user, filters=StudentFilters(q=number)).rows
        assert [s.pk for s in rows] == [student.pk]
    assert StudentNumber.objects.get(identity.number_q(old)).retired_at is not None
