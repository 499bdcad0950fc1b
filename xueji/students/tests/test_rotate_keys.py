"""``rotate_field_keys``: every encrypted value moves to the current key version, batch by
batch, resumably; ``--dry-run`` counts; ``--reindex`` recomputes the blind index."""

import io
from datetime import date

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import override_settings

from tests.factories import registration
from xueji import clock, fieldcrypto
from xueji.accounts.models import TotpDevice, User
from xueji.audit.models import AuditEvent
from xueji.students import identity
from xueji.students.models import Guardian, NonBasicInfo, Student, StudentNumber
from xueji.students.selectors import StudentFilters, student_list
from xueji.students.services import student_register

pytestmark = pytest.mark.django_db

OLD, NEW = fieldcrypto.new_key(), fieldcrypto.new_key()
KEY_1 = {"XUEJI_FIELD_KEYS": {"1": OLD}, "XUEJI_FIELD_KEY_CURRENT": "1"}
KEYS_1_2 = {"XUEJI_FIELD_KEYS": {"1": OLD, "2": NEW}, "XUEJI_FIELD_KEY_CURRENT": "2"}
TOTP_CONTEXT = "accounts.totp_secret"
TOTP_SECRET = "JBSWY3DPEHPK3PXP"


def stored(table: str, column: str = "id_number") -> list[str]:
    """Every non-empty value of a column as the database holds it."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE {column} <> '' ORDER BY id")
        return [row[0] for row in cursor.fetchall()]


def versions() -> list[str | None]:
    values = stored("students_student") + stored("students_guardian")
    values += stored("students_student", "number") + stored("students_studentnumber", "number")
    values += stored("students_guardian", "phone") + stored("students_nonbasicinfo", "data")
    values += stored("accounts_totpdevice", "secret")
    return [fieldcrypto.version_of(v) for v in values]


def rotate(*args: str) -> str:
    out = io.StringIO()
    call_command("rotate_field_keys", *args, stdout=out)
    return out.getvalue()


@pytest.fixture(autouse=True)
def key_1_outside_the_overrides():
    """Key 1 is the deployment's key around each test (loading a student decrypts its
    number, so reads outside an override need a key that opens what was written)."""
    with override_settings(**KEY_1):
        yield


@pytest.fixture
def written_under_key_1(school_user, school):
    """Three students (with a guardian each) and a TOTP secret, all sealed with key 1.

    Returns the plaintexts to compare with after the rotation."""
    with override_settings(**KEY_1):
        for day in (1, 2, 3):
            data = registration(school, born=date(2016, 5, day))
            student_register(actor=school_user, data=data)
        TotpDevice.objects.create(
            user=school_user,
            secret=fieldcrypto.encrypt(TOTP_SECRET, context=TOTP_CONTEXT),
            created_at=clock.now(),
        )
        return plaintexts()


def plaintexts() -> dict:
    return {
        "students": {s.pk: identity.read_id(s) for s in Student.objects.all()},
        "guardians": {g.pk: identity.read_id(g) for g in Guardian.objects.all()},
        "numbers": {s.pk: s.number for s in Student.objects.all()},
        "issued": {n.pk: n.number for n in StudentNumber.objects.all()},
        "phones": {g.pk: g.phone for g in Guardian.objects.all()},
        "non_basic": {i.pk: i.data for i in NonBasicInfo.objects.all()},
        "totp": [
            fieldcrypto.decrypt(d.secret, context=TOTP_CONTEXT) for d in TotpDevice.objects.all()
        ],
    }


def test_rotation_moves_every_value_to_the_current_key(written_under_key_1):
    # 3 × (ID, guardian ID, number, issued number, guardian phone, non-basic) + TOTP.
    assert set(versions()) == {"1"} and len(versions()) == 19
    with override_settings(**KEYS_1_2):
        output = rotate()
        assert set(versions()) == {"2"}
        assert plaintexts() == written_under_key_1
    with override_settings(XUEJI_FIELD_KEYS={"2": NEW}, XUEJI_FIELD_KEY_CURRENT="2"):
        # Key 1 can go: nothing needs it any more.
        assert plaintexts() == written_under_key_1
        # Lookups by number still work: the blind index does not depend on the field key.
        for pk, number in written_under_key_1["numbers"].items():
            assert Student.objects.get(identity.number_q(number)).pk == pk
    assert "学生身份证件号" in output and "学籍号" in output and "TOTP" in output
    assert "监护人联系电话" in output and "非基础信息" in output
    events = AuditEvent.objects.filter(action="field_keys.rotate")
    assert sorted(e.detail["done"] for e in events) == [1, 3, 3, 3, 3, 3, 3]
    assert all(e.channel == "cli" for e in events)


def test_an_interrupted_rotation_resumes_where_it_stopped(written_under_key_1):
    with override_settings(**KEYS_1_2):
        output = rotate("--batch-size", "2", "--limit", "3")
        assert sorted(versions(), key=str).count("2") == 3
        # The first three rows in pk order went first: the students.
        assert {fieldcrypto.version_of(v) for v in stored("students_student")} == {"2"}
        assert "--limit" in output
        rotate("--batch-size", "2")
        assert set(versions()) == {"2"}
        assert plaintexts() == written_under_key_1
        # A third run finds nothing to do and writes nothing.
        before = stored("students_student")
        rotate()
        assert stored("students_student") == before


def test_dry_run_counts_and_writes_nothing(written_under_key_1):
    with override_settings(**KEYS_1_2):
        output = rotate("--dry-run")
        assert set(versions()) == {"1"}
    assert "需要处理的记录" in output
    line = next(line for line in output.splitlines() if "学生身份证件号" in line)
    assert line.split("│")[2].strip() == "3"
    assert not AuditEvent.objects.filter(action__startswith="field_keys.").exists()


def test_plain_id_numbers_are_encrypted_and_plain_totp_secrets_only_counted(
    written_under_key_1, school_user
):
    student = Student.objects.order_by("pk").first()
    number = written_under_key_1["students"][student.pk]
    Student.objects.filter(pk=student.pk).update(id_number=number)
    TotpDevice.objects.filter(user=school_user).update(secret=TOTP_SECRET)
    with override_settings(**KEYS_1_2):
        rotate()
        student.refresh_from_db()
        assert fieldcrypto.version_of(student.id_number) == "2"
        assert identity.read_id(student) == number
    assert stored("accounts_totpdevice", "secret") == [TOTP_SECRET]


def test_plain_student_numbers_left_behind_are_encrypted(written_under_key_1):
    """A number written in plain text (by hand, or a half-run migration) is encrypted by the
    rotation and reads back the same."""
    student = Student.objects.order_by("pk").first()
    number = written_under_key_1["numbers"][student.pk]
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE students_student SET number = %s WHERE id = %s", [number, student.pk]
        )
    assert number in stored("students_student", "number")
    with override_settings(**KEYS_1_2):
        rotate()
        assert number not in stored("students_student", "number")
        assert Student.objects.get(pk=student.pk).number == number
        assert {fieldcrypto.version_of(v) for v in stored("students_student", "number")} == {"2"}


def test_a_value_under_a_missing_key_is_reported_and_left(written_under_key_1):
    """Key 1 removed too early: its values cannot be read, the command says so (exit 1)."""
    only_key_2 = override_settings(XUEJI_FIELD_KEYS={"2": NEW}, XUEJI_FIELD_KEY_CURRENT="2")
    with only_key_2, pytest.raises(SystemExit) as exited:
        rotate()
    assert exited.value.code == 1
    assert set(versions()) == {"1"}


def test_reindex_after_a_new_blind_index_key(written_under_key_1):
    student = Student.objects.order_by("pk").first()
    number = written_under_key_1["students"][student.pk]
    user = User.objects.get(username="clerk")
    with override_settings(XUEJI_BLIND_INDEX_KEY="a-new-blind-index-key", **KEY_1):
        # Before re-indexing, exact search misses: the stored index is under the old key.
        assert student_list(user, filters=StudentFilters(q=number)).rows == []
        dry = rotate("--reindex", "--dry-run")
        assert "盲索引" in dry
        assert Student.objects.get(pk=student.pk).id_key == student.id_key
        rotate("--reindex", "--batch-size", "2")
        found = student_list(user, filters=StudentFilters(q=number)).rows
        assert [s.pk for s in found] == [student.pk]
        assert all(
            g.id_key == identity.id_key(g.id_type, identity.read_id(g))
            for g in Guardian.objects.all()
        )
        # Student numbers: found again through their re-computed index.
        g_number = student.number
        assert Student.objects.get(identity.number_q(g_number)).pk == student.pk
        assert StudentNumber.objects.get(identity.number_q(g_number)).student_id == student.pk
    assert AuditEvent.objects.filter(action="field_keys.reindex").count() == 4
