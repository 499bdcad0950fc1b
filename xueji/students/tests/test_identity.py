"""ID numbers at rest: encrypted, still searchable and unique; masking and reveal names."""

import csv
import importlib
import io
from datetime import date

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, connection, transaction
from django.test import override_settings
from hypothesis import given
from hypothesis import strategies as st

from tests.factories import registration, resident_id
from xueji import fieldcrypto
from xueji.errors import Conflict
from xueji.exchange.columns import STUDENT_COLUMNS
from xueji.exchange.services import import_job_create, import_job_run
from xueji.exchange.synthetic import DemoPlan, generate
from xueji.students import identity
from xueji.students.models import Guardian, Student
from xueji.students.selectors import StudentFilters, student_list
from xueji.students.services import student_register

migration = importlib.import_module("xueji.students.migrations.0003_encrypt_id_numbers")


def column(table: str, pk: int) -> str:
    """The stored ``id_number`` as the database holds it, past every model method."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id_number FROM {table} WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def csv_upload(rows: list[dict]) -> SimpleUploadedFile:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([c.header for c in STUDENT_COLUMNS])
    for row in rows:
        writer.writerow([row.get(c.key, "") for c in STUDENT_COLUMNS])
    return SimpleUploadedFile("students.csv", buffer.getvalue().encode(), "text/csv")


# ---------------------------------------------------------------- at rest


def test_registered_numbers_are_encrypted_in_the_database(school_user, school):
    data = registration(school)
    student = student_register(actor=school_user, data=data).student
    guardian = student.guardians.get()

    stored = column("students_student", student.pk)
    stored_guardian = column("students_guardian", guardian.pk)

    assert stored.startswith("v1$") and data["id_number"] not in stored
    assert stored_guardian.startswith("v1$") and data["guardian_id_number"] not in stored_guardian
    assert identity.read_id(student) == data["id_number"]
    assert identity.read_id(guardian) == data["guardian_id_number"]


def test_a_guardians_value_does_not_decrypt_as_a_students(school_user, school):
    """The column is bound into the ciphertext: copying a value across columns fails."""
    student = student_register(actor=school_user, data=registration(school)).student
    guardian = student.guardians.get()
    student.id_number = guardian.id_number
    with pytest.raises(Exception):  # noqa: B017 - InvalidTag from cryptography
        identity.read_id(student)


def test_stored_value_matches_write_id_for_each_column():
    number = resident_id("440106", date(2016, 1, 2), "1")
    as_student = identity.stored_value("1", number)
    as_guardian = identity.stored_value("1", number, guardian=True)
    assert identity.read_id(Student(id_number=as_student)) == number
    assert identity.read_id(Guardian(id_number=as_guardian)) == number
    assert identity.stored_value("1", "") == ""


def test_a_value_stored_before_encryption_still_reads():
    assert identity.read_id(Student(id_number="440106201601020011")) == "440106201601020011"


def test_search_by_id_still_finds_the_student(school_user, school):
    data = registration(school)
    student = student_register(actor=school_user, data=data).student
    for typed in (data["id_number"], f" {data['id_number'].lower()} "):
        page = student_list(school_user, filters=StudentFilters(q=typed))
        assert [s.pk for s in page.rows] == [student.pk]


def test_one_record_per_id_is_still_enforced(school_user, school):
    data = registration(school)
    student_register(actor=school_user, data=data)
    with pytest.raises(Conflict) as refused:
        student_register(actor=school_user, data={**data, "name": "另一个人"})
    assert refused.value.code == "student.duplicate_id"
    # The unique index holds on its own, whatever the ciphertext (a fresh nonce each time).
    twin = Student.objects.get()
    twin.pk = None
    twin.number = "L440106201703080001"
    identity.write_id(twin, "1", data["id_number"])
    with pytest.raises(IntegrityError), transaction.atomic():
        twin.save(force_insert=True)


def test_bulk_import_stores_encrypted_numbers(school_user, school):
    rows = [registration(school, born=date(2016, 3, day)) for day in (1, 2)]
    job = import_job_create(
        actor=school_user, upload=csv_upload(rows), file_name="s.csv", mode="all_or_nothing"
    )
    import_job_run(job_id=job.pk)
    for row in rows:
        student = Student.objects.get(identity.number_q("G" + row["id_number"]))
        guardian = student.guardians.get()
        assert column("students_student", student.pk).startswith("v1$")
        assert row["id_number"] not in column("students_student", student.pk)
        assert column("students_guardian", guardian.pk).startswith("v1$")
        assert identity.read_id(student) == row["id_number"]
        assert identity.read_id(guardian) == row["guardian_id_number"]
        assert student.id_key == identity.id_key("1", row["id_number"])


def test_synthetic_generator_stores_encrypted_numbers(db):
    generate(plan=DemoPlan(students=40, schools=2, provinces=("44",), seed=5))
    students = Student.objects.exclude(id_number="")
    guardians = Guardian.objects.exclude(id_number="")
    assert students.exists() and guardians.exists()
    for model, table in ((Student, "students_student"), (Guardian, "students_guardian")):
        for row in model.objects.exclude(id_number="")[:20]:
            assert column(table, row.pk).startswith("v1$")
            number = identity.read_id(row)
            assert number and row.id_key == identity.blind_index(row.id_type, number)


# ---------------------------------------------------------------- the data migration


def test_data_migration_encrypts_plain_numbers_and_reverses(school_user, school):
    data = registration(school)
    student = student_register(actor=school_user, data=data).student
    guardian = student.guardians.get()
    # As before encryption: plain numbers in both columns.
    Student.objects.filter(pk=student.pk).update(id_number=data["id_number"])
    Guardian.objects.filter(pk=guardian.pk).update(id_number=data["guardian_id_number"])
    from django.apps import apps

    migration.encrypt_numbers(apps, None)
    first = column("students_student", student.pk)
    assert first.startswith("v1$")
    assert column("students_guardian", guardian.pk).startswith("v1$")
    student.refresh_from_db()
    guardian.refresh_from_db()
    assert identity.read_id(student) == data["id_number"]
    assert identity.read_id(guardian) == data["guardian_id_number"]

    migration.encrypt_numbers(apps, None)  # a second run changes nothing
    assert column("students_student", student.pk) == first

    migration.decrypt_numbers(apps, None)
    assert column("students_student", student.pk) == data["id_number"]
    assert column("students_guardian", guardian.pk) == data["guardian_id_number"]


def test_data_migration_works_in_batches(school_user, school, monkeypatch):
    monkeypatch.setattr(migration, "BATCH", 2)
    from django.apps import apps

    numbers = []
    for day in range(1, 6):
        data = registration(school, born=date(2016, 4, day))
        student = student_register(actor=school_user, data=data).student
        Student.objects.filter(pk=student.pk).update(id_number=data["id_number"])
        numbers.append((student.pk, data["id_number"]))
    migration.encrypt_numbers(apps, None)
    for pk, number in numbers:
        assert identity.read_id(Student.objects.get(pk=pk)) == number
        assert column("students_student", pk).startswith("v1$")


# ---------------------------------------------------------------- the blind index key


def test_a_new_blind_index_key_changes_every_index():
    number = resident_id("440106", date(2016, 1, 2), "1")
    before = identity.id_key("1", number)
    with override_settings(XUEJI_BLIND_INDEX_KEY="another-index-key"):
        assert identity.id_key("1", number) != before
    assert identity.id_key("1", number) == before


def test_a_new_field_key_leaves_the_index_alone():
    number = resident_id("440106", date(2016, 1, 2), "1")
    before = identity.id_key("1", number)
    with override_settings(XUEJI_FIELD_KEYS={"7": fieldcrypto.new_key()}):
        student = Student()
        identity.write_id(student, "1", number)
        assert student.id_number.startswith("v7$") and student.id_key == before


# ---------------------------------------------------------------- masking (pure)


def test_mask_number_keeps_region_and_tail():
    assert identity.mask_number("440106201703080024") == "440106********0024"
    assert identity.mask_number("13800138000") == "13*******00"
    assert identity.mask_number("") == ""


def test_mask_address_hides_the_detail_and_the_length():
    assert identity.mask_address("广东省广州市天河区体育西路1号") == "广东省广州市******"
    assert identity.mask_address("天河路1号") == "天河******"
    assert identity.mask_address("") == ""


@pytest.mark.parametrize(
    ("key", "field_type", "sensitive"),
    [
        ("phone", "phone", True),
        ("mother_phone", "text", True),
        ("emergency", "phone", True),
        ("address", "text", True),
        ("household_address", "text", True),
        ("left_behind", "bool", False),
        ("disability", "choice", False),
    ],
)
def test_sensitive_non_basic_fields(key, field_type, sensitive):
    assert identity.is_sensitive_non_basic(key, field_type) is sensitive


def test_mask_non_basic_leaves_other_values_alone():
    assert identity.mask_non_basic("phone", "13800138000") == "13*******00"
    assert identity.mask_non_basic("address", "广州市天河区体育西路") == "广州市天河******"
    assert identity.mask_non_basic("left_behind", True) is True
    assert identity.mask_non_basic("note", "随便") == "随便"


@given(st.text(max_size=80))
def test_masked_address_never_holds_its_second_half(text):
    masked = identity.mask_address(text)
    keep = min(6, len(text) // 2)
    assert masked == ("" if not text else text[:keep] + "******")


# ---------------------------------------------------------------- reveal field names (pure)


@given(st.integers(min_value=1, max_value=10**17), st.sampled_from(["id_number", "phone"]))
def test_guardian_field_names_round_trip(guardian_id, name):
    field = identity.RevealField(name, guardian_id)
    assert identity.parse_reveal_field(str(field)) == field


@pytest.mark.parametrize("text", ["id_number", "phone", "address", "household_address"])
def test_plain_field_names_parse(text):
    assert identity.parse_reveal_field(text) == identity.RevealField(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "guardian:1:name",
        "guardian:x:phone",
        "guardian:0:phone",
        "guardian:1",
        "guardian:１:phone",
        "ID_NUMBER",
        "id-number",
        "a" * 41,
        "phone; drop",
    ],
)
def test_other_field_names_are_refused(text):
    assert identity.parse_reveal_field(text) is None


@given(st.text(max_size=12))
def test_reason_needs_four_characters_after_trimming(reason):
    assert identity.reveal_reason_ok(reason) is (len(reason.strip()) >= 4)
