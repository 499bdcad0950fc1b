"""The electronic archive over the API: the same selectors and services as the pages."""

from datetime import date, datetime

from django.http import FileResponse, HttpRequest
from ninja import File, Form, Router, Schema, Status
from ninja.files import UploadedFile

from xueji.audit.reads import ReadKind, note_read
from xueji.i18n import gettext_lazy_str as _
from xueji.paging import offset_query

from . import selectors, services
from .models import ArchiveBackup, ArchiveDocument
from .permissions import access_archive_write, access_document

router = Router(tags=[_("学籍档案")])

EXTENSIONS = {"application/pdf": ".pdf", "image/png": ".png", "image/jpeg": ".jpg"}


class DocumentOut(Schema):
    id: int
    kind: str
    title: str
    content_type: str
    size: int
    sha256: str
    created_at: datetime
    created_by: str
    source_request_id: int | None


class PaperEntryOut(Schema):
    unit_name: str
    description: str
    location: str
    kept_copy: bool
    registered_at: datetime


class StudentArchiveOut(Schema):
    student_id: int
    holder_school_id: int | None
    holder_unit_id: int | None
    holder_name: str
    documents: list[DocumentOut]
    paper: list[PaperEntryOut]


class BackupRow(Schema):
    id: int
    school_id: int
    school_name: str
    student_id: int
    name: str
    number_masked: str
    request_id: int
    transferred_on: date
    history_until: date
    document_count: int


class BackupDocumentOut(Schema):
    document_id: int
    kind: str
    title: str
    content_type: str
    size: int
    sha256: str


class BackupEventOut(Schema):
    kind: str
    effective_date: date
    from_state: str
    to_state: str
    school_name: str
    stage: str
    grade: str
    class_name: str
    reason: str


class BackupDetailOut(BackupRow):
    documents: list[BackupDocumentOut]
    history: list[BackupEventOut]


def document_of(document: ArchiveDocument) -> dict:
    return {
        "id": document.pk,
        "kind": document.kind,
        "title": document.title,
        "content_type": document.content_type,
        "size": document.size,
        "sha256": document.sha256,
        "created_at": document.created_at,
        "created_by": document.created_by_username,
        "source_request_id": document.source_request_id,
    }


def backup_row(backup: ArchiveBackup) -> dict:
    return {
        "id": backup.pk,
        "school_id": backup.school_id,
        "school_name": backup.school.name,
        "student_id": backup.student_id,
        "name": backup.student.name,
        "number_masked": backup.student.number_masked,
        "request_id": backup.request_id,
        "transferred_on": backup.transferred_on,
        "history_until": backup.history_until,
        "document_count": len(backup.documents),
    }


def _file(handle, *, title: str, content_type: str) -> FileResponse:
    response = FileResponse(
        handle,
        as_attachment=True,
        filename=f"{title}{EXTENSIONS.get(content_type, '')}",
        content_type=content_type,
    )
    response["Cache-Control"] = "no-store"
    return response


@router.get(
    "/archives/students/{int:student_id}/documents",
    response=StudentArchiveOut,
    summary=_("学生电子档案（保管单位及其上级可见）"),
)
def list_archive_documents(request: HttpRequest, student_id: int):
    archive = selectors.archive_documents(request.auth, student_id=student_id)  # type: ignore[attr-defined]
    note_read(request.auth, [archive.student], kind=ReadKind.ARCHIVE)  # type: ignore[attr-defined]
    holder = archive.holder.school or archive.holder.unit
    return {
        "student_id": archive.student.pk,
        "holder_school_id": archive.holder.school.pk if archive.holder.school else None,
        "holder_unit_id": archive.holder.unit.pk if archive.holder.unit else None,
        "holder_name": holder.name if holder else "",
        "documents": [document_of(d) for d in archive.documents],
        "paper": [
            {
                "unit_name": p.unit.name,
                "description": p.description,
                "location": p.location,
                "kept_copy": p.kept_copy,
                "registered_at": p.registered_at,
            }
            for p in archive.paper
        ],
    }


@router.post(
    "/archives/students/{int:student_id}/documents",
    response={201: DocumentOut},
    summary=_("上传档案材料（PDF、JPG、PNG，≤10 MB；仅档案保管学校）"),
)
def upload_archive_document(
    request: HttpRequest,
    student_id: int,
    file: File[UploadedFile | None] = None,
    kind: Form[str] = "",
    title: Form[str] = "",
):
    user = request.auth  # type: ignore[attr-defined]
    access = access_archive_write(user, student_id=student_id)
    document = services.archive_add_document(
        actor=user, student=access.student, kind=kind, title=title, upload=file
    )
    return Status(201, document_of(document))


@router.get("/archives/documents/{int:document_id}/file", summary=_("下载档案材料（记入审计）"))
def download_archive_document(request: HttpRequest, document_id: int):
    user = request.auth  # type: ignore[attr-defined]
    document = access_document(user, document_id=document_id)
    handle = services.archive_document_open(actor=user, document=document)
    return _file(handle, title=document.title, content_type=document.content_type)


@router.get("/archives/backups", response=list[BackupRow], summary=_("转出学生的档案备份（本校）"))
def list_archive_backups(request: HttpRequest, offset: int = offset_query(), limit: int = 50):
    backups = selectors.backups_of_school(request.auth)  # type: ignore[attr-defined]
    offset = max(0, offset)
    shown = list(backups[offset : offset + max(1, min(limit, 500))])
    note_read(request.auth, [b.student_id for b in shown], kind=ReadKind.ARCHIVE)  # type: ignore[attr-defined]
    return [backup_row(b) for b in shown]


@router.get(
    "/archives/backups/{int:backup_id}",
    response=BackupDetailOut,
    summary=_("一份档案备份：转出时的材料和截至转出日期的学籍历史（只读）"),
)
def get_archive_backup(request: HttpRequest, backup_id: int):
    detail = selectors.backup_detail(request.auth, backup_id=backup_id)  # type: ignore[attr-defined]
    note_read(request.auth, [detail.backup.student_id], kind=ReadKind.ARCHIVE, backup=backup_id)  # type: ignore[attr-defined]
    return {
        **backup_row(detail.backup),
        "documents": detail.documents,
        "history": [
            {
                "kind": e.kind,
                "effective_date": e.effective_date,
                "from_state": e.from_state,
                "to_state": e.to_state,
                "school_name": e.school.name,
                "stage": e.stage,
                "grade": e.grade,
                "class_name": e.class_name,
                "reason": e.reason,
            }
            for e in detail.events
        ],
    }


@router.get(
    "/archives/backups/{int:backup_id}/documents/{int:document_id}/file",
    summary=_("下载档案备份中的材料（记入审计）"),
)
def download_backup_document(request: HttpRequest, backup_id: int, document_id: int):
    user = request.auth  # type: ignore[attr-defined]
    backup, entry = selectors.backup_document(user, backup_id=backup_id, document_id=document_id)
    handle = services.archive_backup_document_open(actor=user, backup=backup, entry=entry)
    return _file(handle, title=entry["title"], content_type=entry["content_type"])
