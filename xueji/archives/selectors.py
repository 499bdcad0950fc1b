"""Scoped reads of the archive: a student's documents, a school's backups, one backup with
the history up to the transfer date. Out of scope is "not found"."""

from dataclasses import dataclass

from django.db.models import QuerySet

from xueji.accounts.permissions import require_permission
from xueji.accounts.rules import Permission
from xueji.accounts.scope import scope_for
from xueji.enrolment.models import StatusEvent
from xueji.errors import NotFound
from xueji.students.models import Student

from .models import ArchiveBackup, ArchiveDocument, PaperArchiveEntry
from .permissions import Holder, access_archive


@dataclass
class StudentArchive:
    student: Student
    holder: Holder
    documents: list[ArchiveDocument]
    paper: list[PaperArchiveEntry]


def archive_documents(user, *, student_id: int) -> StudentArchive:
    """The archive of one student for its holder or an authority above; else ``NotFound``."""
    access = access_archive(user, student_id=student_id)
    documents = list(
        ArchiveDocument.objects.filter(student_id=access.student.pk).order_by("created_at", "pk")
    )
    paper = list(
        PaperArchiveEntry.objects.filter(student_id=access.student.pk).select_related("unit")
    )
    return StudentArchive(
        student=access.student, holder=access.holder, documents=documents, paper=paper
    )


def backups_of_school(user) -> QuerySet[ArchiveBackup]:
    """The students the user's school transferred out (an authority: its schools'), newest
    transfer first."""
    require_permission(user, Permission.STUDENT_VIEW)
    scope = scope_for(user)
    return (
        ArchiveBackup.objects.filter(
            scope.q(area_field="school__area_code", school_field="school_id")
        )
        .select_related("student", "school")
        .order_by("-transferred_on", "-pk")
    )


@dataclass
class BackupDetail:
    backup: ArchiveBackup
    name: str
    number: str
    # The status history effective on or before ``backup.history_until``, oldest first.
    events: list[StatusEvent]
    documents: list[dict]


def access_backup(user, *, backup_id: int) -> ArchiveBackup:
    backup = backups_of_school(user).filter(pk=backup_id).first()
    if backup is None:
        raise NotFound("archive_backup")
    return backup


def backup_detail(user, *, backup_id: int) -> BackupDetail:
    """What the sending school may still read: the documents it held, the student's name and
    number, and the history up to and including the transfer date, never after it."""
    backup = access_backup(user, backup_id=backup_id)
    events = list(
        StatusEvent.objects.filter(
            record_id=backup.student_id, effective_date__lte=backup.history_until
        )
        .select_related("school")
        .order_by("effective_date", "occurred_at", "pk")
    )
    return BackupDetail(
        backup=backup,
        name=backup.student.name,
        number=backup.student.number_masked,
        events=events,
        documents=list(backup.documents),
    )


def backup_document(user, *, backup_id: int, document_id: int) -> tuple[ArchiveBackup, dict]:
    """One document listed in a backup the user may read, or ``NotFound``."""
    backup = access_backup(user, backup_id=backup_id)
    for entry in backup.documents:
        if entry.get("document_id") == document_id:
            return backup, entry
    raise NotFound("archive_backup_document")
