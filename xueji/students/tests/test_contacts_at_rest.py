"""Guardians' phones and the non-basic information at rest (issue 10, item 1): encrypted
like the ID number (students.0007), readable through the models, never searchable, and
still feeding the duplicate linkage's keyed contact indexes."""

import importlib
import json
from datetime import date

import pytest
from cryptography.exceptions import InvalidTag
from django.apps import apps
from django.core.exceptions import FieldError
from django.db import connection

from tests.factories import registration
from xueji import fieldcrypto
from xueji.anomalies.extract import contact_keys, registry_table
from xueji.exchange.synthetic import DemoPlan, generate
from xueji.students import identity
from xueji.students.models import Guardian, NonBasicInfo, Student
from xueji.students.services import student_register

pytestmark = pytest.mark.django_db

migration = importlib.import_module("xueji.students.migrations.0007_encrypt_phones_and_non_basic")

PHONE = "13912345678"
STUDENT_PHONE = "020-87654321"
ADDRESS = "广东省广州市天河区体育西路一百零一号三栋"
HOUSEHOLD = "广东省广州市越秀区中山五路二十二号"


def raw(table: str, column: str, pk: int):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def sensitive(school, **overrides) -> dict:
    return registration(
        school,
        guardian_phone=PHONE,
        phone=STUDENT_PHONE,
        address=ADDRESS,
        household_address=HOUSEHOLD,
        left_behind="是",
        orphan="是",
        migrant="是",
        disability="1",
        regular_class="是",
        **overrides,
    )


def test_phones_addresses_and_flags_are_encrypted_in_the_database(school_user, school):
    student = student_register(actor=school_user, data=sensitive(school)).student
    guardian = Guardian.objects.get(student=student)
    info = NonBasicInfo.objects.get(student=student)

    stored_phone = raw("students_guardian", "phone", guardian.pk)
    stored_data = raw("students_nonbasicinfo", "data", info.pk)
    assert stored_phone.startswith("v1$") and PHONE not in stored_phone
    assert isinstance(stored_data, str) and stored_data.startswith("v1$")
    for clear in (STUDENT_PHONE, ADDRESS, HOUSEHOLD, "orphan", "left_behind", "disability"):
        assert clear not in stored_data
    # Bound to their columns: neither opens under another column's associated data.
    assert fieldcrypto.decrypt(stored_phone, context=identity.GUARDIAN_PHONE_CONTEXT) == PHONE
    with pytest.raises(InvalidTag):
        fieldcrypto.decrypt(stored_phone, context=identity.STUDENT_ID_CONTEXT)
    # The models read the plain values.
    assert guardian.phone == PHONE
    assert info.data["address"] == ADDRESS and info.data["household_address"] == HOUSEHOLD
    assert info.data["phone"] == STUDENT_PHONE
    assert (info.data["orphan"], info.data["left_behind"], info.data["migrant"]) == (
        True,
        True,
        True,
    )
    assert info.data["disability"] == "1" and info.data["only_child"] is False


def test_the_bulk_loader_encrypts_them_too(db):
    """The set-based load (synthetic data, the import's path): no clear phone or flag."""
    generate(plan=DemoPlan(students=20, schools=2, provinces=("44",), seed=7))
    phones = list(Guardian.objects.order_by("pk").values_list("pk", "phone"))
    assert len(phones) >= 20 and all(len(phone) == 11 for _pk, phone in phones)
    for pk, phone in phones:
        assert raw("students_guardian", "phone", pk).startswith("v1$")
        assert phone not in raw("students_guardian", "phone", pk)
    infos = list(NonBasicInfo.objects.order_by("pk"))
    assert len(infos) == Student.objects.count() >= 20
    assert all("left_behind" in info.data for info in infos)
    for info in infos:
        stored = raw("students_nonbasicinfo", "data", info.pk)
        assert stored.startswith("v1$") and "left_behind" not in stored


def test_nothing_filters_on_the_encrypted_values(school_user, school):
    student = student_register(actor=school_user, data=sensitive(school)).student
    with pytest.raises(FieldError):
        list(Guardian.objects.filter(phone=PHONE))
    with pytest.raises(FieldError):
        list(Guardian.objects.filter(phone__contains="1391"))
    with pytest.raises(FieldError):
        list(NonBasicInfo.objects.filter(data__orphan=True))
    with pytest.raises(FieldError):
        list(NonBasicInfo.objects.filter(data__contains="orphan"))
    # "Has a phone on file" still works ('' is stored as '').
    assert list(Guardian.objects.exclude(phone="").values_list("student_id", flat=True)) == [
        student.pk
    ]


def test_the_linkage_still_compares_phones_and_addresses(school_user, school):
    student = student_register(actor=school_user, data=sensitive(school)).student
    table = registry_table()
    row = table.to_pylist()[[r["unique_id"] for r in table.to_pylist()].index(student.pk)]
    assert sorted(row["contact_keys"]) == sorted(
        contact_keys([PHONE, STUDENT_PHONE], [ADDRESS, HOUSEHOLD])
    )


class _Editor:
    def __init__(self) -> None:
        self.connection = connection


def test_the_data_migration_encrypts_plain_rows_and_reverses(school_user, school, monkeypatch):
    monkeypatch.setattr(migration, "BATCH", 2)
    students = [
        student_register(actor=school_user, data=sensitive(school, born=date(2016, 6, day))).student
        for day in (1, 2, 3)
    ]
    guardians = {g.pk: g.phone for g in Guardian.objects.filter(student__in=students)}
    infos = {i.pk: i.data for i in NonBasicInfo.objects.filter(student__in=students)}
    # As before this migration: plain phones and plain JSON.
    with connection.cursor() as cursor:
        for pk, phone in guardians.items():
            cursor.execute("UPDATE students_guardian SET phone = %s WHERE id = %s", [phone, pk])
        for pk, data in infos.items():
            cursor.execute(
                "UPDATE students_nonbasicinfo SET data = %s WHERE id = %s",
                [json.dumps(data, ensure_ascii=False), pk],
            )
    assert raw("students_guardian", "phone", next(iter(guardians))) == PHONE

    migration.encrypt(apps, _Editor())
    for pk, phone in guardians.items():
        assert raw("students_guardian", "phone", pk).startswith("v1$")
        assert Guardian.objects.get(pk=pk).phone == phone
    for pk, data in infos.items():
        stored = raw("students_nonbasicinfo", "data", pk)
        assert stored.startswith("v1$") and ADDRESS not in stored
        assert NonBasicInfo.objects.get(pk=pk).data == data
    first = {pk: raw("students_guardian", "phone", pk) for pk in guardians}
    migration.encrypt(apps, _Editor())  # a second run finds nothing to do
    assert {pk: raw("students_guardian", "phone", pk) for pk in guardians} == first

    migration.decrypt(apps, _Editor())
    for pk, phone in guardians.items():
        assert raw("students_guardian", "phone", pk) == phone
    for pk, data in infos.items():
        assert json.loads(raw("students_nonbasicinfo", "data", pk)) == data


def test_a_student_read_everywhere_shows_the_values_masked(school_user, school, client):
    """Encryption changes nothing the pages show: the detail masks phone and address."""
    student = student_register(actor=school_user, data=sensitive(school)).student
    client.force_login(school_user)
    html = client.get(f"/students/{student.pk}/").content.decode()
    assert PHONE not in html and ADDRESS not in html
    assert identity.mask_number(PHONE) in html
    assert Student.objects.get(pk=student.pk).non_basic.data["address"] == ADDRESS
