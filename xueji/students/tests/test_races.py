"""Concurrent registration and import of one person: the database decides, exactly once.

Real threads on real connections, so PostgreSQL only (SQLite serialises writers, which
proves nothing). Each test runs outside a test transaction (``transaction=True``); the
flush afterwards is limited to the registry's apps (``available_apps``) so the reference
data loaded by migrations survive for the tests that follow.
"""

import csv
import io
import threading
from datetime import date

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from tests.factories import make_user, registration, resident_id
from xueji.audit.models import AuditEvent
from xueji.enrolment.models import StatusEvent, StatusRecord
from xueji.enrolment.rules import StatusState
from xueji.errors import Conflict
from xueji.exchange import student_import
from xueji.exchange.columns import STUDENT_COLUMNS
from xueji.exchange.models import ImportStatus
from xueji.exchange.services import import_job_create, import_job_run
from xueji.students import identity, services
from xueji.students.models import NonBasicInfo, NonBasicSchema, Student, StudentNumber

# Everything a test here writes; not divisions (reference data), auth or contenttypes.
REGISTRY_APPS = [
    "xueji.accounts",
    "xueji.audit",
    "xueji.schools",
    "xueji.students",
    "xueji.enrolment",
    "xueji.exchange",
]

if connection.vendor != "postgresql":
    pytest.skip(
        "concurrency tests need PostgreSQL (set XUEJI_TEST_DATABASE_URL)", allow_module_level=True
    )

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, available_apps=REGISTRY_APPS),
]

TIMEOUT = 30


def run_together(*calls):
    """Start every call at the same moment on its own thread and connection; return what
    each returned or raised, in order."""
    barrier = threading.Barrier(len(calls), timeout=TIMEOUT)
    results: list = [None] * len(calls)

    def worker(index: int, call) -> None:
        try:
            barrier.wait()
            results[index] = call()
        except BaseException as error:
            results[index] = error
        finally:
            connection.close()

    threads = [
        threading.Thread(target=worker, args=(index, call)) for index, call in enumerate(calls)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT * 2)
        assert not thread.is_alive(), "a thread hung (lock wait?)"
    return results


def gate_before(monkeypatch, *targets: tuple[object, str], parties: int = 2) -> None:
    """Hold every caller of the ``(owner, attribute)`` targets at one barrier until
    ``parties`` callers have reached it, so each has passed its checks before any writes."""
    gate = threading.Barrier(parties, timeout=TIMEOUT)
    for owner, attribute in targets:
        real = getattr(owner, attribute)

        def gated(*args, _real=real, **kwargs):
            gate.wait()
            return _real(*args, **kwargs)

        monkeypatch.setattr(owner, attribute, gated)


@pytest.fixture
def second_clerk(school):
    return make_user(school.unit, username="clerk_b")


def registration_of_one_person(school) -> dict:
    born = date(2016, 11, 11)
    return registration(
        school, name="并发注册", born=born, id_number=resident_id("440106", born, "2", seq=64)
    )


def assert_one_person(id_number: str) -> Student:
    assert Student.objects.count() == 1
    student = Student.objects.get()
    assert identity.read_id(student) == id_number
    assert StatusRecord.objects.filter(student=student).count() == 1
    assert StatusRecord.objects.count() == 1
    assert StudentNumber.objects.count() == 1
    assert StatusEvent.objects.count() == 1
    return student


def split(results) -> tuple[list, list]:
    unexpected = [
        r for r in results if isinstance(r, BaseException) and not isinstance(r, Conflict)
    ]
    assert not unexpected, unexpected
    won = [r for r in results if not isinstance(r, BaseException)]
    lost = [r for r in results if isinstance(r, Conflict)]
    return won, lost


# ----------------------------------------------------------------- one by one


def test_two_clerks_registering_one_id_at_once_make_one_record(
    monkeypatch, school, school_user, second_clerk
):
    """Both pass the duplicate check before either inserts: the unique index decides, and
    the loser gets the same Conflict as a sequential duplicate, not an IntegrityError."""
    data = registration_of_one_person(school)
    gate_before(monkeypatch, (services, "_create"))
    # when
    results = run_together(
        lambda: services.student_register(actor=school_user, data=dict(data)),
        lambda: services.student_register(actor=second_clerk, data=dict(data)),
    )
    # then
    won, lost = split(results)
    assert len(won) == 1 and len(lost) == 1
    assert lost[0].code == "student.duplicate_id"
    assert lost[0].http_status == 409
    student = assert_one_person(data["id_number"])
    assert won[0].student.pk == student.pk
    assert lost[0].detail["student_id"] == student.pk
    assert AuditEvent.objects.filter(action="student.register").count() == 1


@pytest.mark.parametrize("round_", range(3))
def test_unsynchronised_race_also_makes_one_record(round_, school, school_user, second_clerk):
    """Without forcing the interleaving: whichever path the loser takes (the check or the
    index), the outcome is the same."""
    data = registration_of_one_person(school)
    results = run_together(
        lambda: services.student_register(actor=school_user, data=dict(data)),
        lambda: services.student_register(actor=second_clerk, data=dict(data)),
    )
    won, lost = split(results)
    assert len(won) == 1 and [c.code for c in lost] == ["student.duplicate_id"]
    assert_one_person(data["id_number"])


def test_two_different_students_registered_at_once_both_succeed(
    monkeypatch, school, school_user, second_clerk
):
    """Concurrency must not turn distinct students into conflicts."""
    first = registration(school, name="甲并发", born=date(2016, 1, 2))
    second = registration(school, name="乙并发", born=date(2016, 7, 9))
    gate_before(monkeypatch, (services, "_create"))
    results = run_together(
        lambda: services.student_register(actor=school_user, data=first),
        lambda: services.student_register(actor=second_clerk, data=second),
    )
    won, lost = split(results)
    assert len(won) == 2 and not lost
    assert Student.objects.count() == StatusRecord.objects.count() == 2


def test_two_clerks_reactivating_one_student_at_once_reactivate_once(
    monkeypatch, school, school_user, second_clerk
):
    """The record row lock serialises them: the second finds the student back on the roll."""
    data = registration_of_one_person(school)
    student = services.student_register(actor=school_user, data=dict(data)).student
    StatusRecord.objects.filter(pk=student.pk).update(state=StatusState.DROPPED_OUT)
    gate_before(monkeypatch, (services, "_reactivate"))
    # when
    results = run_together(
        lambda: services.student_register(actor=school_user, data=dict(data), reactivate=True),
        lambda: services.student_register(actor=second_clerk, data=dict(data), reactivate=True),
    )
    # then
    won, lost = split(results)
    assert len(won) == 1 and won[0].reactivated
    assert [c.code for c in lost] == ["student.duplicate_id"]
    assert StatusRecord.objects.get(pk=student.pk).state == StatusState.ENROLLED
    assert StatusEvent.objects.filter(record_id=student.pk, kind="reactivate").count() == 1


def test_first_registrations_without_a_default_schema_create_it_once(
    monkeypatch, school, school_user, second_clerk
):
    """The default non-basic schema is created on first use when missing; two first
    registrations racing to create it must both succeed and leave one schema."""
    NonBasicSchema.objects.all().delete()
    gate_before(monkeypatch, (NonBasicSchema.objects, "create"))
    first = registration(school, name="丙并发", born=date(2016, 2, 3))
    second = registration(school, name="丁并发", born=date(2016, 8, 10))
    # when
    results = run_together(
        lambda: services.student_register(actor=school_user, data=first),
        lambda: services.student_register(actor=second_clerk, data=second),
    )
    # then
    won, lost = split(results)
    assert len(won) == 2 and not lost
    assert NonBasicSchema.objects.filter(province_code="").count() == 1
    assert NonBasicInfo.objects.filter(schema__province_code="").count() == 2


# ----------------------------------------------------------------- bulk imports


def csv_upload(name: str, rows: list[dict]) -> SimpleUploadedFile:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([c.header for c in STUDENT_COLUMNS])
    for row in rows:
        writer.writerow([row.get(c.key, "") for c in STUDENT_COLUMNS])
    return SimpleUploadedFile(name, buffer.getvalue().encode("utf-8"), "text/csv")


def submit(actor, upload: SimpleUploadedFile):
    return import_job_create(
        actor=actor, upload=upload, file_name=upload.name, mode="all_or_nothing"
    )


def test_two_imports_of_the_same_student_at_once_make_one_student(
    monkeypatch, school, school_user, second_clerk
):
    """Both files pass the registry check before either merges; the second merge meets
    the unique index, is rolled back whole and reports the race."""
    person = registration_of_one_person(school)
    other = registration(school, name="只在乙文件", born=date(2015, 3, 3))
    job_a = submit(school_user, csv_upload("a.csv", [person]))
    job_b = submit(second_clerk, csv_upload("b.csv", [person, other]))
    gate_before(monkeypatch, (student_import.StudentImport, "_merge"))
    # when
    results = run_together(
        lambda: import_job_run(job_id=job_a.pk),
        lambda: import_job_run(job_id=job_b.pk),
    )
    # then
    assert not [r for r in results if isinstance(r, BaseException)], results
    jobs = sorted(results, key=lambda job: job.status)
    assert [job.status for job in jobs] == [ImportStatus.REJECTED, ImportStatus.SUCCEEDED]
    rejected, succeeded = jobs
    assert succeeded.created_count == (1 if succeeded.pk == job_a.pk else 2)
    assert rejected.created_count == 0
    assert list(rejected.row_errors.values_list("code", flat=True)) == ["import.race"]
    assert Student.objects.filter(id_key=identity.id_key("1", person["id_number"])).count() == 1
    assert Student.objects.count() == StatusRecord.objects.count() == succeeded.created_count
    assert StudentNumber.objects.count() == StatusEvent.objects.count() == Student.objects.count()


def test_import_racing_a_clerk_registering_the_same_student_makes_one_student(
    monkeypatch, school, school_user, second_clerk
):
    """The import and the form both check, then both write: one of them wins, the other
    is refused as a duplicate (the form) or rolled back as a race (the import)."""
    person = registration_of_one_person(school)
    job = submit(school_user, csv_upload("a.csv", [person]))
    gate_before(monkeypatch, (student_import.StudentImport, "_merge"), (services, "_create"))
    # when
    imported, registered = run_together(
        lambda: import_job_run(job_id=job.pk),
        lambda: services.student_register(actor=second_clerk, data=dict(person)),
    )
    # then
    assert not isinstance(imported, BaseException), imported
    assert_one_person(person["id_number"])
    if isinstance(registered, BaseException):
        assert isinstance(registered, Conflict) and registered.code == "student.duplicate_id"
        assert (imported.status, imported.created_count) == (ImportStatus.SUCCEEDED, 1)
    else:
        assert imported.status == ImportStatus.REJECTED
        assert list(imported.row_errors.values_list("code", flat=True)) == ["import.race"]
