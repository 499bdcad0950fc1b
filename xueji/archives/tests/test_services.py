"""Archive services: filing documents, moving the archive with a transfer (and the sending
school's backup), to an authority and back, and the paper register."""

import hashlib
from datetime import date
from pathlib import Path
from unittest import mock

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction

from tests import factories
from xueji.accounts.services import unit_ensure_for_division
from xueji.archives import services
from xueji.archives.models import ArchiveBackup, ArchiveDocument, PaperArchiveEntry
from xueji.archives.permissions import access_archive, access_archive_write, access_document
from xueji.archives.rules import ARCHIVE_MAX_BYTES
from xueji.archives.selectors import archive_documents, backup_detail, backups_of_school
from xueji.audit.models import AuditEvent
from xueji.errors import Conflict, Forbidden, NotFound, ValidationFailed

from .conftest import JPG, PDF, PNG, add_event, move_record, upload

pytestmark = pytest.mark.django_db


def _stored_files() -> list[Path]:
    root = Path(settings.MEDIA_ROOT) / "archives"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def _add(actor, student, content=PDF, **overrides):
    args = {
        "actor": actor,
        "student": student,
        "kind": "registration_form",
        "title": "学籍登记表",
        "upload": upload(content),
    }
    args.update(overrides)
    return services.archive_add_document(**args)


def _codes(error: ValidationFailed) -> dict[str, str]:
    return {e.field: e.code for e in error.errors}


# ---------------------------------------------------------------- filing a document


def test_add_document_stores_the_file_at_the_students_school(school, school_user, make_student):
    student = make_student()
    document = _add(school_user, student, source_request_id=5)
    assert document.holder == school and document.holder_unit is None
    assert document.content_type == "application/pdf" and document.size == len(PDF)
    assert document.sha256 == hashlib.sha256(PDF).hexdigest()
    assert document.file.name.startswith("archives/") and document.file.name.endswith(".pdf")
    assert document.file_name == "登记表.pdf"
    assert document.created_by_username == school_user.username
    assert document.source_request_id == 5
    with document.file.open("rb") as handle:
        assert handle.read() == PDF
    event = AuditEvent.objects.get(action="archive.add")
    assert event.object_id == str(document.pk) and event.actor_id == school_user.pk


@pytest.mark.parametrize(
    ("content", "content_type", "extension"),
    [(PNG, "image/png", ".png"), (JPG, "image/jpeg", ".jpg")],
)
def test_the_type_is_read_from_the_content_not_the_name(
    school_user, make_student, content, content_type, extension
):
    document = _add(school_user, make_student(), content=content, kind="photo", title="照片")
    assert document.content_type == content_type
    assert document.file.name.endswith(extension)


@pytest.mark.parametrize(
    ("file", "code"),
    [
        (
            SimpleUploadedFile("x.pdf", b"MZ\x90\x00 not a pdf", "application/pdf"),
            "archive.file_type",
        ),
        (SimpleUploadedFile("x.txt", "学籍".encode(), "text/plain"), "archive.file_type"),
        (SimpleUploadedFile("x.pdf", b"", "application/pdf"), "archive.file_empty"),
        (
            SimpleUploadedFile("x.pdf", b"%PDF-" + b"0" * ARCHIVE_MAX_BYTES, "application/pdf"),
            "archive.file_too_large",
        ),
        (None, "archive.file_missing"),
    ],
    ids=["exe-named-pdf", "text", "empty", "too-big", "missing"],
)
def test_bad_files_are_refused_and_nothing_is_written(school_user, make_student, file, code):
    student = make_student()
    with pytest.raises(ValidationFailed) as refused:
        _add(school_user, student, upload=file)
    assert _codes(refused.value) == {"file": code}
    assert ArchiveDocument.objects.count() == 0
    assert _stored_files() == []
    assert not AuditEvent.objects.filter(action="archive.add").exists()


def test_exactly_ten_megabytes_is_accepted(school_user, make_student):
    content = b"%PDF-" + b"0" * (ARCHIVE_MAX_BYTES - 5)
    document = _add(school_user, make_student(), content=content)
    assert document.size == ARCHIVE_MAX_BYTES


def test_every_broken_rule_is_reported_on_its_field(school_user, make_student):
    with pytest.raises(ValidationFailed) as refused:
        _add(school_user, make_student(), kind="diary", title="  ", upload=upload(b"hello"))
    assert _codes(refused.value) == {
        "kind": "archive.kind_unknown",
        "title": "archive.title_missing",
        "file": "archive.file_type",
    }


def test_a_failed_save_leaves_no_file_behind(school_user, make_student):
    student = make_student()
    with (
        mock.patch.object(services, "audit_record", side_effect=RuntimeError("boom")),
        pytest.raises(RuntimeError),
    ):
        _add(school_user, student)
    assert ArchiveDocument.objects.count() == 0
    assert _stored_files() == []


# ---------------------------------------------------------------- transfer and backup


def test_transfer_moves_the_archive_and_leaves_a_backup(
    school, school_b, school_user, clerk_b, make_student
):
    student = make_student()
    other = make_student()
    form = _add(school_user, student)
    photo = _add(school_user, student, content=PNG, kind="photo", title="照片")
    kept = _add(school_user, other)  # another student's archive stays put

    backup = services.archive_transfer(
        actor=clerk_b,
        student=student,
        from_school=school,
        to_school=school_b,
        request_id=7,
        effective_date=date(2025, 3, 10),
    )

    assert set(ArchiveDocument.objects.filter(holder=school_b)) == {form, photo}
    assert ArchiveDocument.objects.get(pk=kept.pk).holder == school
    assert backup.school == school and backup.student == student
    assert backup.request_id == 7 and backup.transferred_on == date(2025, 3, 10)
    assert backup.history_until == date(2025, 3, 10)
    assert [(d["document_id"], d["sha256"], d["file"]) for d in backup.documents] == [
        (form.pk, form.sha256, form.file.name),
        (photo.pk, photo.sha256, photo.file.name),
    ]
    event = AuditEvent.objects.get(action="archive.transfer")
    assert event.detail["documents"] == [form.pk, photo.pk]
    # Called again for the same request: the same backup, nothing new.
    again = services.archive_transfer(
        actor=clerk_b,
        student=student,
        from_school=school,
        to_school=school_b,
        request_id=7,
        effective_date=date(2025, 3, 10),
    )
    assert again.pk == backup.pk and ArchiveBackup.objects.count() == 1


def test_transfer_to_the_same_school_is_refused(school, school_user, make_student):
    with pytest.raises(Conflict):
        services.archive_transfer(
            actor=school_user,
            student=make_student(),
            from_school=school,
            to_school=school,
            request_id=1,
            effective_date=date(2025, 3, 10),
        )


def test_transfer_rolls_back_with_the_callers_transaction(
    school, school_b, school_user, make_student
):
    """The change engine calls it inside its own transaction: a refusal later in that
    transaction undoes the move and the backup."""
    student = make_student()
    document = _add(school_user, student)
    with transaction.atomic():
        services.archive_transfer(
            actor=None,
            student=student,
            from_school=school,
            to_school=school_b,
            request_id=8,
            effective_date=date(2025, 3, 10),
        )
        transaction.set_rollback(True)
    assert ArchiveDocument.objects.get(pk=document.pk).holder == school
    assert not ArchiveBackup.objects.exists()


def test_backup_history_stops_at_the_transfer_date(
    school, school_b, school_user, clerk_b, make_student
):
    student = make_student()  # registered with effect from the entry date, 2024-09-01
    _add(school_user, student)
    services.archive_transfer(
        actor=None,
        student=student,
        from_school=school,
        to_school=school_b,
        request_id=7,
        effective_date=date(2025, 3, 10),
    )
    move_record(student, to_school=school_b, on=date(2025, 3, 10))
    # Later history at the receiving school.
    add_event(student, on=date(2025, 4, 1))
    add_event(student, on=date(2025, 3, 11), to_state="enrolled")

    [backup] = backups_of_school(school_user)
    detail = backup_detail(school_user, backup_id=backup.pk)
    assert [e.effective_date for e in detail.events] == [date(2024, 9, 1), date(2025, 3, 10)]
    assert (
        detail.name == student.name and detail.number == student.number_masked
    )  # the school no longer holds it
    assert [d["title"] for d in detail.documents] == ["学籍登记表"]
    # The receiving school's full history has all four.
    assert student.record.events.count() == 4


def test_sending_school_loses_the_current_archive(
    school, school_b, school_user, clerk_b, make_student
):
    student = make_student()
    before = _add(school_user, student)
    services.archive_transfer(
        actor=None,
        student=student,
        from_school=school,
        to_school=school_b,
        request_id=7,
        effective_date=date(2025, 3, 10),
    )
    move_record(student, to_school=school_b, on=date(2025, 3, 10))
    after = _add(clerk_b, student, title="转学证明", kind="transfer_certificate")
    assert after.holder == school_b

    with pytest.raises(NotFound):
        archive_documents(school_user, student_id=student.pk)
    for document in (before, after):
        with pytest.raises(NotFound):
            access_document(school_user, document_id=document.pk)
    with pytest.raises(NotFound):
        access_archive_write(school_user, student_id=student.pk)
    # The backup lists only what left with the student.
    [backup] = backups_of_school(school_user)
    assert [d["document_id"] for d in backup.documents] == [before.pk]
    # The receiving school and the county read the whole archive.
    assert [d.pk for d in archive_documents(clerk_b, student_id=student.pk).documents] == [
        before.pk,
        after.pk,
    ]
    county = factories.authority_user("440106")
    assert len(archive_documents(county, student_id=student.pk).documents) == 2


def test_backups_are_scoped(
    school, school_b, school_user, clerk_b, other_school_user, make_student
):
    student = make_student()
    services.archive_transfer(
        actor=None,
        student=student,
        from_school=school,
        to_school=school_b,
        request_id=7,
        effective_date=date(2025, 3, 10),
    )
    [backup] = backups_of_school(school_user)
    assert list(backups_of_school(clerk_b)) == []
    assert list(backups_of_school(other_school_user)) == []
    assert list(backups_of_school(factories.authority_user("440106"))) == [backup]
    assert list(backups_of_school(factories.authority_user("510104"))) == []
    for outsider in (clerk_b, other_school_user):
        with pytest.raises(NotFound):
            backup_detail(outsider, backup_id=backup.pk)


# ---------------------------------------------------------------- abroad and return


def test_abroad_the_archive_goes_to_the_authority_and_comes_back(
    school, school_b, school_user, make_student
):
    student = make_student()
    document = _add(school_user, student)
    county_unit = unit_ensure_for_division(division_code="440106")
    moved = services.archive_to_authority(
        actor=None, student=student, from_school=school, authority_unit=county_unit, request_id=9
    )
    assert moved == 1
    document.refresh_from_db()
    assert document.holder is None and document.holder_unit == county_unit

    # The school no longer reads it; the county and the levels above do.
    with pytest.raises(NotFound):
        access_archive(school_user, student_id=student.pk)
    county = factories.authority_user("440106")
    city = factories.authority_user("440100")
    assert access_archive(county, student_id=student.pk).holder.unit == county_unit
    assert access_archive(city, student_id=student.pk).holder.unit == county_unit
    with pytest.raises(NotFound):
        access_archive(factories.authority_user("510104"), student_id=student.pk)
    # Only the holding authority files; the city above reads but may not.
    county_clerk = factories.make_user(county_unit, roles=("clerk",))
    abroad = _add(county_clerk, student, kind="material", title="出境证明")
    assert abroad.holder_unit == county_unit
    city_clerk = factories.make_user(city.unit, roles=("clerk",))
    with pytest.raises(Forbidden):
        access_archive_write(city_clerk, student_id=student.pk)

    returned = services.archive_return(
        actor=None, student=student, to_school=school_b, request_id=10
    )
    assert returned == 2
    assert set(
        ArchiveDocument.objects.filter(student=student).values_list("holder", flat=True)
    ) == {school_b.pk}
    assert (
        AuditEvent.objects.filter(action__in=["archive.to_authority", "archive.return"]).count()
        == 2
    )


# ---------------------------------------------------------------- who may file


def test_filing_needs_the_clerk_role_and_the_holder(school, school_user, make_student):
    student = make_student()
    county = factories.authority_user("440106")
    with pytest.raises(Forbidden):
        access_archive_write(county, student_id=student.pk)  # a reviewer: no clerk role
    county_clerk = factories.make_user(county.unit, roles=("clerk",))
    with pytest.raises(Forbidden):
        access_archive_write(county_clerk, student_id=student.pk)  # reads, does not hold
    assert access_archive_write(school_user, student_id=student.pk).student == student


# ---------------------------------------------------------------- paper register


def test_paper_register(school, school_user, make_student):
    student = make_student()
    entry = services.paper_register(
        actor=school_user,
        student=student,
        description="学籍登记表原件、成绩册",
        location="档案室 3 号柜",
        kept_copy=True,
    )
    assert entry.unit == school.unit and entry.school == school and entry.kept_copy
    assert entry.registered_by_username == school_user.username
    assert AuditEvent.objects.filter(action="archive.paper_register").count() == 1
    assert archive_documents(school_user, student_id=student.pk).paper == [entry]


def test_paper_register_needs_description_and_location(school_user, make_student):
    with pytest.raises(ValidationFailed) as refused:
        services.paper_register(
            actor=school_user, student=make_student(), description=" ", location="", kept_copy=False
        )
    assert _codes(refused.value) == {
        "description": "paper.description_missing",
        "location": "paper.location_missing",
    }
    assert not PaperArchiveEntry.objects.exists()
