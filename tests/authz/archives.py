"""Routes of the electronic archive (xueji/archives).

Reading (pages, API, downloads): ``student.view`` and the archive's holder in scope (the
holder school, or an authority above it). Filing (upload, the paper register): the
holder's clerks only (``student.register``; reviewers get 403, other units 404). The
student page takes GET and POST: its sample is the GET; the POST (upload, clerk only) is
covered by the API's upload sample and by xueji/archives/tests/test_pages.py. Backups:
school A's, read by A and the authorities above it.
"""

from datetime import date

from django.core.files.uploadedfile import SimpleUploadedFile

from tests.authz.vocab import LIST, OBJECT, Policy, Sample
from tests.factories import SchoolFactory, registration
from xueji.accounts.rules import Permission
from xueji.archives.services import archive_add_document, archive_transfer
from xueji.students.services import student_register

V = Permission
PDF = b"%PDF-1.4\n%%EOF\n"


def _pdf() -> SimpleUploadedFile:
    return SimpleUploadedFile("matrix.pdf", PDF, "application/pdf")


def setup(world) -> dict:
    clerk = world.actors["clerk_in"]
    document = archive_add_document(
        actor=clerk,
        student=world.student,
        kind="registration_form",
        title="矩阵登记表",
        upload=_pdf(),
    )
    # A second student of school A, transferred out to a neighbour: A keeps a backup.
    leaver = student_register(
        actor=clerk,
        data=registration(world.school, name="矩阵转出生", born=date(2016, 9, 9)),
        confirm_distinct=True,
    ).student
    taken = archive_add_document(
        actor=clerk, student=leaver, kind="registration_form", title="矩阵转出材料", upload=_pdf()
    )
    backup = archive_transfer(
        actor=None,
        student=leaver,
        from_school=world.school,
        to_school=SchoolFactory(division_code="440106"),
        request_id=1,
        effective_date=date(2025, 3, 10),
    )
    return {
        "archive_document": document.pk,
        "archive_backup": backup.pk,
        "backup_document": taken.pk,
    }


def _upload_body(world) -> dict:
    return {"kind": "photo", "title": "矩阵照片", "file": _pdf()}


POLICY: dict[str, Policy] = {
    # -- pages ---------------------------------------------------------------------------
    "archives:student": Policy(
        "archives/students/<int:student_id>/",
        V.STUDENT_VIEW,
        OBJECT,
        methods=("GET", "POST"),
        sample=Sample("GET", "/archives/students/{student}/"),
    ),
    "archives:paper": Policy(
        "archives/students/<int:student_id>/paper/",
        V.STUDENT_REGISTER,
        OBJECT,
        methods=("POST",),
        sample=Sample(
            "POST",
            "/archives/students/{student}/paper/",
            lambda w: {"description": "矩阵纸质档案", "location": "档案室", "kept_copy": ""},
            multipart=True,
            ok=302,
        ),
    ),
    "archives:download": Policy(
        "archives/documents/<int:document_id>/download/",
        V.STUDENT_VIEW,
        OBJECT,
        sample=Sample("GET", "/archives/documents/{archive_document}/download/"),
    ),
    "archives:backups": Policy(
        "archives/backups/", V.STUDENT_VIEW, LIST, sample=Sample("GET", "/archives/backups/")
    ),
    "archives:backup": Policy(
        "archives/backups/<int:backup_id>/",
        V.STUDENT_VIEW,
        OBJECT,
        sample=Sample("GET", "/archives/backups/{archive_backup}/"),
    ),
    "archives:backup_download": Policy(
        "archives/backups/<int:backup_id>/documents/<int:document_id>/download/",
        V.STUDENT_VIEW,
        OBJECT,
        sample=Sample(
            "GET", "/archives/backups/{archive_backup}/documents/{backup_document}/download/"
        ),
    ),
    # -- the API -------------------------------------------------------------------------
    "api:list_archive_documents": Policy(
        "api/archives/students/<int:student_id>/documents",
        V.STUDENT_VIEW,
        OBJECT,
        sample=Sample("GET", "/api/archives/students/{student}/documents"),
    ),
    "api:upload_archive_document": Policy(
        "api/archives/students/<int:student_id>/documents",
        V.STUDENT_REGISTER,
        OBJECT,
        methods=("POST",),
        sample=Sample(
            "POST",
            "/api/archives/students/{student}/documents",
            _upload_body,
            multipart=True,
            ok=201,
        ),
    ),
    "api:download_archive_document": Policy(
        "api/archives/documents/<int:document_id>/file",
        V.STUDENT_VIEW,
        OBJECT,
        sample=Sample("GET", "/api/archives/documents/{archive_document}/file"),
    ),
    "api:list_archive_backups": Policy(
        "api/archives/backups", V.STUDENT_VIEW, LIST, sample=Sample("GET", "/api/archives/backups")
    ),
    "api:get_archive_backup": Policy(
        "api/archives/backups/<int:backup_id>",
        V.STUDENT_VIEW,
        OBJECT,
        sample=Sample("GET", "/api/archives/backups/{archive_backup}"),
    ),
    "api:download_backup_document": Policy(
        "api/archives/backups/<int:backup_id>/documents/<int:document_id>/file",
        V.STUDENT_VIEW,
        OBJECT,
        sample=Sample(
            "GET", "/api/archives/backups/{archive_backup}/documents/{backup_document}/file"
        ),
    ),
}
