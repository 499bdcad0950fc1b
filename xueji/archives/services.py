"""The only writers of the archive: adding documents, moving the archive with a transfer (and
the sending school's backup), to an authority and back for a stay abroad, the paper
register, and the audited downloads.

The change services (transfers, abroad and return) call the moving functions inside their own
transaction: each function here opens only a nested ``transaction.atomic()`` (a savepoint
there), so it commits or rolls back with the change. Access is checked by the callers (the
pages and the API through ``permissions.access_archive_write``; the change engine through
its own approval chain), which pass the student they already resolved.
"""

import hashlib
from datetime import date
from typing import IO, Any

from django.conf import settings
from django.core.files.base import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils.translation import gettext as _

from xueji import clock
from xueji.accounts.models import Unit
from xueji.audit.events import AuditAction, ObjectType
from xueji.audit.services import audit_record
from xueji.errors import Conflict, FieldError, ValidationFailed
from xueji.schools.models import School
from xueji.students.models import Student

from .models import ArchiveBackup, ArchiveDocument, PaperArchiveEntry
from .permissions import Holder, archive_holder
from .rules import ARCHIVE_MAX_BYTES, FILE_TYPES, document_errors, sniff_file_type


def _max_bytes() -> int:
    return int(settings.XUEJI.get("ARCHIVE_MAX_BYTES", ARCHIVE_MAX_BYTES))


def _username(actor: Any) -> str:
    return (getattr(actor, "username", "") or "")[:150]


def _current_holder(student: Student) -> Holder:
    holder = archive_holder(student.pk)
    if holder.school is None and holder.unit is None:
        raise Conflict("archive.no_holder", _("该学生没有学籍，无法建立档案。"))
    return holder


def archive_add_document(
    *,
    actor: Any,
    student: Student,
    kind: str,
    title: str,
    upload: File | None,
    source_request_id: int | None = None,
) -> ArchiveDocument:
    """File one document (PDF, JPG or PNG, at most 10 MB) in the student's archive.

    The holder is the archive's current holder (the student's school, or the authority
    holding the archive while the student is abroad). Every broken rule is reported at once
    on its field; nothing is stored unless all pass. The file's type is read from its first
    bytes; it is stored under a generated name.
    """
    size = int(getattr(upload, "size", 0) or 0) if upload is not None else 0
    head = b""
    if upload is not None and 0 < size <= _max_bytes():
        upload.seek(0)
        head = upload.read(16)
        upload.seek(0)
    errors = document_errors(
        kind=kind,
        title=title,
        has_file=upload is not None,
        size=size,
        head=head,
        max_bytes=_max_bytes(),
    )
    if errors:
        raise ValidationFailed(errors)
    assert upload is not None
    file_type = sniff_file_type(head)
    assert file_type is not None
    content_type, extension = FILE_TYPES[file_type]
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    holder = _current_holder(student)
    now = clock.now()
    document = ArchiveDocument(
        student=student,
        holder=holder.school,
        holder_unit=holder.unit,
        kind=kind,
        title=title.strip(),
        file_name=(getattr(upload, "name", "") or "")[-255:],
        content_type=content_type,
        size=size,
        sha256=digest.hexdigest(),
        created_at=now,
        created_by_username=_username(actor),
        source_request_id=source_request_id,
    )
    # A generated name: the uploaded name may carry personal data or path tricks.
    document.file.save(f"{digest.hexdigest()[:16]}{extension}", upload, save=False)
    try:
        with transaction.atomic():
            document.save(force_insert=True)
            audit_record(
                actor=actor,
                action=AuditAction.ARCHIVE_ADD,
                object_type=ObjectType.ARCHIVE_DOCUMENT,
                object_id=document.pk,
                summary=f"档案材料：{document.title}",  # stored data: always Chinese
                detail={
                    "student_id": student.pk,
                    "kind": kind,
                    "size": size,
                    "sha256": document.sha256,
                    "holder_school_id": holder.school.pk if holder.school else None,
                    "holder_unit_id": holder.unit.pk if holder.unit else None,
                    "source_request_id": source_request_id,
                },
            )
    except BaseException:
        # No half-written document: the row failed, so the stored file goes too.
        document.file.delete(save=False)
        raise
    return document


def _snapshot(documents: list[ArchiveDocument]) -> list[dict]:
    return [
        {
            "document_id": d.pk,
            "kind": d.kind,
            "title": d.title,
            "file": d.file.name,
            "file_name": d.file_name,
            "content_type": d.content_type,
            "size": d.size,
            "sha256": d.sha256,
            "created_at": d.created_at.isoformat(),
        }
        for d in documents
    ]


def archive_transfer(
    *,
    actor: Any,
    student: Student,
    from_school: School,
    to_school: School,
    request_id: int,
    effective_date: date,
) -> ArchiveBackup:
    """Move the archive with a completed transfer and leave the sending school its backup.

    Every document ``from_school`` holds for the student passes to ``to_school`` in one
    update; ``from_school`` keeps an ``ArchiveBackup`` listing those documents (references to
    the immutable files with their SHA-256) and may read the student's history up to and
    including ``effective_date``. Called again for the same request, it returns the backup
    already made.
    """
    if from_school.pk == to_school.pk:
        raise Conflict("archive.same_school", _("转出学校与转入学校不能相同。"))
    with transaction.atomic():
        existing = ArchiveBackup.objects.filter(
            school=from_school, student=student, request_id=request_id
        ).first()
        if existing is not None:
            return existing
        held = ArchiveDocument.objects.filter(student=student, holder=from_school)
        documents = list(held.order_by("created_at", "pk"))
        moved = held.update(holder=to_school, holder_unit=None)
        backup = ArchiveBackup.objects.create(
            school=from_school,
            student=student,
            request_id=request_id,
            transferred_on=effective_date,
            documents=_snapshot(documents),
            history_until=effective_date,
            created_at=clock.now(),
            created_by_username=_username(actor),
        )
        audit_record(
            actor=actor,
            action=AuditAction.ARCHIVE_TRANSFER,
            object_type=ObjectType.ARCHIVE_BACKUP,
            object_id=backup.pk,
            summary=f"档案随转学移交 {moved} 份",  # stored data: always Chinese
            detail={
                "student_id": student.pk,
                "from_school_id": from_school.pk,
                "to_school_id": to_school.pk,
                "request_id": request_id,
                "effective_date": effective_date.isoformat(),
                "documents": [d.pk for d in documents],
            },
        )
    return backup


def archive_to_authority(
    *, actor: Any, student: Student, from_school: School, authority_unit: Unit, request_id: int
) -> int:
    """While the student is abroad the archive goes to the authority: every document
    ``from_school`` holds passes to ``authority_unit``. Returns how many moved."""
    with transaction.atomic():
        moved = ArchiveDocument.objects.filter(student=student, holder=from_school).update(
            holder=None, holder_unit=authority_unit
        )
        audit_record(
            actor=actor,
            action=AuditAction.ARCHIVE_TO_AUTHORITY,
            object_type=ObjectType.STUDENT,
            object_id=student.pk,
            summary=f"出境学习，档案交{authority_unit.name} {moved} 份",  # stored data
            detail={
                "from_school_id": from_school.pk,
                "authority_unit_id": authority_unit.pk,
                "request_id": request_id,
                "moved": moved,
            },
        )
    return moved


def archive_return(*, actor: Any, student: Student, to_school: School, request_id: int) -> int:
    """On return from abroad the authority hands the archive to ``to_school``. Returns how
    many documents moved."""
    with transaction.atomic():
        moved = ArchiveDocument.objects.filter(student=student, holder_unit__isnull=False).update(
            holder=to_school, holder_unit=None
        )
        audit_record(
            actor=actor,
            action=AuditAction.ARCHIVE_RETURN,
            object_type=ObjectType.STUDENT,
            object_id=student.pk,
            summary=f"回国复学，档案交{to_school.name} {moved} 份",  # stored data
            detail={"to_school_id": to_school.pk, "request_id": request_id, "moved": moved},
        )
    return moved


def archive_file_materials(
    *,
    actor: Any,
    student: Student,
    holder: Holder,
    request_id: int,
    materials: list[dict],
) -> list[ArchiveDocument]:
    """File the materials of a completed change request in the student's archive, held by
    ``holder`` (after a transfer: the receiving school).

    Each material becomes a document that refers to the material's own stored file (files
    are never replaced, so no copy is needed) with its SHA-256 and the request as its source.
    ``materials`` are dicts of ``kind`` (a ``DocumentKind``), ``title``, ``file`` (the storage
    name), ``file_name``, ``content_type``, ``size``, ``sha256`` and optionally
    ``uploaded_by`` (the document's uploader; the actor otherwise). Filing the same request
    again adds nothing already filed (same request and SHA-256). One audit event.
    """
    if holder.school is None and holder.unit is None:
        raise Conflict("archive.no_holder", _("该学生没有学籍，无法建立档案。"))
    with transaction.atomic():
        filed = set(
            ArchiveDocument.objects.filter(
                student=student, source_request_id=request_id
            ).values_list("sha256", flat=True)
        )
        now = clock.now()
        documents = []
        for material in materials:
            if material["sha256"] in filed:
                continue
            filed.add(material["sha256"])
            documents.append(
                ArchiveDocument(
                    student=student,
                    holder=holder.school,
                    holder_unit=holder.unit,
                    kind=material["kind"],
                    title=str(material["title"])[:128],
                    file=material["file"],
                    file_name=str(material["file_name"])[-255:],
                    content_type=material["content_type"][:64],
                    size=material["size"],
                    sha256=material["sha256"],
                    created_at=now,
                    # Who uploaded the file with the request (the filing is the actor's,
                    # in the audit event).
                    created_by_username=(material.get("uploaded_by") or _username(actor))[:150],
                    source_request_id=request_id,
                )
            )
        if not documents:
            return []
        ArchiveDocument.objects.bulk_create(documents)
        saved = list(
            ArchiveDocument.objects.filter(
                student=student,
                source_request_id=request_id,
                sha256__in=[d.sha256 for d in documents],
            ).order_by("pk")
        )
        audit_record(
            actor=actor,
            action=AuditAction.ARCHIVE_FILE_MATERIALS,
            object_type=ObjectType.STUDENT,
            object_id=student.pk,
            # stored data: always Chinese
            summary=f"变动申请 #{request_id} 的材料归入电子档案 {len(saved)} 份",
            detail={
                "request_id": request_id,
                "documents": [d.pk for d in saved],
                "holder_school_id": holder.school.pk if holder.school else None,
                "holder_unit_id": holder.unit.pk if holder.unit else None,
            },
        )
    return saved


def paper_register(
    *, actor: Any, student: Student, description: str, location: str, kept_copy: bool
) -> PaperArchiveEntry:
    """Register where the actor's unit keeps the student's paper archive (or a copy)."""
    errors = []
    if not description.strip():
        errors.append(FieldError("description", "paper.description_missing", _("请填写档案内容。")))
    if not location.strip():
        errors.append(FieldError("location", "paper.location_missing", _("请填写存放位置。")))
    if errors:
        raise ValidationFailed(errors)
    unit = actor.unit
    with transaction.atomic():
        entry = PaperArchiveEntry.objects.create(
            student=student,
            unit=unit,
            school_id=unit.school_id,
            description=description.strip()[:255],
            location=location.strip()[:255],
            kept_copy=kept_copy,
            registered_at=clock.now(),
            registered_by_username=_username(actor),
        )
        audit_record(
            actor=actor,
            action=AuditAction.ARCHIVE_PAPER_REGISTER,
            object_type=ObjectType.ARCHIVE_PAPER,
            object_id=entry.pk,
            summary=f"纸质档案登记：{entry.description}",  # stored data: always Chinese
            detail={"student_id": student.pk, "location": entry.location, "kept_copy": kept_copy},
        )
    return entry


# ---------------------------------------------------------------- audited downloads


def archive_document_open(*, actor: Any, document: ArchiveDocument) -> IO[bytes]:
    """Open a document for download; the read is audited."""
    with transaction.atomic():
        audit_record(
            actor=actor,
            action=AuditAction.ARCHIVE_DOWNLOAD,
            object_type=ObjectType.ARCHIVE_DOCUMENT,
            object_id=document.pk,
            summary=f"下载档案材料：{document.title}",  # stored data: always Chinese
            detail={"student_id": document.student_id, "sha256": document.sha256},
        )
    return default_storage.open(document.file.name, "rb")


def archive_backup_document_open(*, actor: Any, backup: ArchiveBackup, entry: dict) -> IO[bytes]:
    """Open a document of a backup (by the backup's own file reference); audited."""
    with transaction.atomic():
        audit_record(
            actor=actor,
            action=AuditAction.ARCHIVE_BACKUP_DOWNLOAD,
            object_type=ObjectType.ARCHIVE_BACKUP,
            object_id=backup.pk,
            summary=f"下载档案备份材料：{entry['title']}",  # stored data: always Chinese
            detail={
                "student_id": backup.student_id,
                "document_id": entry["document_id"],
                "sha256": entry["sha256"],
            },
        )
    return default_storage.open(entry["file"], "rb")
