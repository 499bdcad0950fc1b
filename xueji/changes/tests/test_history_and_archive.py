"""A completed change in the student's history says what changed (a transfer: from which
school to which), and its materials are filed in the student's electronic archive, held by
whoever holds the archive afterwards (a transfer: the receiving school)."""

from datetime import date

import pytest
from django.core.files.storage import default_storage
from django.test import Client

from xueji.archives.models import ArchiveBackup, ArchiveDocument
from xueji.archives.selectors import archive_documents
from xueji.audit.models import AuditEvent
from xueji.changes.models import Material
from xueji.changes.rules import ChangeType
from xueji.enrolment.history import history_rows
from xueji.enrolment.models import StatusEvent

from .test_effects import complete, file
from .transfers import complete_transfer, file_transfer, hold_clock

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def transferred(monkeypatch, make_student, school, other_school, other_school_user):
    held = hold_clock(monkeypatch, date(2026, 2, 10))
    student = make_student()
    request = file_transfer(other_school_user, student)
    held.go(date(2026, 2, 13))
    complete_transfer(request)
    return student, request


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_transfer_reads_from_which_school_to_which(
    transferred, school, other_school, other_school_user
):
    student, _request = transferred
    body = _client(other_school_user).get(f"/students/{student.pk}/").content.decode()
    assert f"从{school.name}转入{other_school.name}" in body
    assert "<td>学籍变动" not in body  # the event's title is the change type, 转学
    assert "在籍在校 → 在籍在校" not in body
    event = StatusEvent.objects.filter(record_id=student.pk).latest("pk")
    [row] = history_rows([event])
    assert (row["kind"], row["from_state"], row["to_state"]) == ("转学", "", "在籍在校")


def test_the_api_history_says_the_same(transferred, school, other_school, other_school_user):
    student, request = transferred
    history = _client(other_school_user).get(f"/api/students/{student.pk}").json()["history"]
    last = history[-1]
    assert (last["kind"], last["title"], last["change_type"]) == ("change", "转学", "transfer")
    assert last["change"] == f"从{school.name}转入{other_school.name}"
    assert last["request_id"] == request.pk


def test_an_older_event_without_names_is_read_by_school_code(transferred, school, other_school):
    student, _request = transferred
    event = StatusEvent.objects.filter(record_id=student.pk).latest("pk")
    event.detail = {"from_school": school.code, "to_school": other_school.code}
    [row] = history_rows([event])
    assert row["change"] == f"从{school.name}转入{other_school.name}"


def test_the_transfer_materials_are_in_the_archive_of_the_receiving_school(
    transferred, school, other_school, other_school_user, school_user
):
    student, request = transferred
    [material] = Material.objects.filter(request=request).order_by("pk")
    [document] = ArchiveDocument.objects.filter(student=student).order_by("pk")
    assert document.holder_id == other_school.pk
    assert document.source_request_id == request.pk
    assert (document.sha256, document.size) == (material.sha256, material.size)
    assert document.title == "转学：申请表"
    assert document.created_by_username == material.uploaded_by != ""
    assert default_storage.exists(document.file.name)
    # the receiving school lists and downloads it
    archive = archive_documents(other_school_user, student_id=student.pk)
    assert [d.pk for d in archive.documents] == [document.pk]
    page = _client(other_school_user).get(f"/archives/students/{student.pk}/").content.decode()
    assert "转学：申请表" in page
    response = _client(other_school_user).get(f"/archives/documents/{document.pk}/download/")
    assert response.status_code == 200
    assert b"".join(response.streaming_content).startswith(b"%PDF")
    # the sending school's backup does not list the receiving side's materials
    backup = ArchiveBackup.objects.get(school=school, student=student)
    assert document.pk not in [d["document_id"] for d in backup.documents]
    assert AuditEvent.objects.filter(
        action="archive.file_materials", object_id=str(student.pk)
    ).exists()


def test_filing_the_same_request_twice_adds_nothing(transferred, other_school):
    from xueji.archives.permissions import Holder
    from xueji.archives.services import archive_file_materials

    student, request = transferred
    [document] = ArchiveDocument.objects.filter(student=student)
    again = archive_file_materials(
        actor=None,
        student=student,
        holder=Holder(school=other_school),
        request_id=request.pk,
        materials=[
            {
                "kind": document.kind,
                "title": document.title,
                "file": document.file.name,
                "file_name": document.file_name,
                "content_type": document.content_type,
                "size": document.size,
                "sha256": document.sha256,
            }
        ],
    )
    assert again == []
    assert ArchiveDocument.objects.filter(student=student).count() == 1


def test_a_repeated_year_reads_from_which_grade_to_which(
    monkeypatch, make_student, school_user, school
):
    from xueji import clock

    from .test_effects import NOW, TODAY, Handlers

    monkeypatch.setattr(clock, "now", lambda: NOW)
    monkeypatch.setattr(clock, "today", lambda: TODAY)
    student = make_student()  # grade 3 of primary
    complete(file(school_user, student, ChangeType.REPEAT, materials=("application",)), Handlers())
    body = _client(school_user).get(f"/students/{student.pk}/").content.decode()
    assert "留级" in body
    assert "年级由三年级改为二年级" in body
    # its material is filed too, held by the school
    [document] = ArchiveDocument.objects.filter(student=student)
    assert (document.holder_id, document.title) == (school.pk, "留级：申请表")
