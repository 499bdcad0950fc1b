"""Import jobs over the API: submit a file, poll progress, read the error report."""

from uuid import UUID

from django.http import HttpRequest, HttpResponse
from ninja import File, Form, Router, Status
from ninja.files import UploadedFile

from xueji.accounts.permissions import require_permission
from xueji.accounts.rules import Permission
from xueji.audit.events import AuditAction
from xueji.audit.reads import ReadKind, note_read
from xueji.errors import NotFound
from xueji.i18n import gettext_lazy_str as _
from xueji.paging import offset_query

from . import reports, services, tasks
from .columns import COLUMNS_BY_KIND
from .models import ImportKind
from .schemas import ImportErrorOut, ImportJobOut
from .selectors import access_import_job, import_jobs_visible

router = Router(tags=[_("批量导入")])


@router.get("/imports/template", summary=_("下载导入模板（xlsx）"))
def download_template(request: HttpRequest, kind: str = ImportKind.STUDENTS):
    user = request.auth  # type: ignore[attr-defined]
    require_permission(
        user, Permission.STUDENT_IMPORT if kind == "students" else Permission.SCHOOL_EDIT
    )
    if kind not in COLUMNS_BY_KIND:
        raise NotFound("template")
    response = HttpResponse(
        reports.build_template(COLUMNS_BY_KIND[kind]),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    response["Content-Disposition"] = f'attachment; filename="xueji-{kind}-template.xlsx"'
    return response


@router.post("/imports", response={202: ImportJobOut}, summary=_("提交导入文件（后台处理）"))
def submit_import(
    request: HttpRequest,
    file: File[UploadedFile],
    mode: Form[str] = "all_or_nothing",
    kind: Form[str] = ImportKind.STUDENTS,
):
    job = services.import_job_create(
        actor=request.auth,  # type: ignore[attr-defined]
        upload=file,
        file_name=file.name or "upload.csv",
        mode=mode,
        kind=kind,
    )
    tasks.run_import_job.enqueue(str(job.pk))
    job.refresh_from_db()
    return Status(202, job)


@router.get("/imports", response=list[ImportJobOut], summary=_("本单位的导入任务"))
def list_imports(request: HttpRequest, limit: int = 50):
    services.import_jobs_fail_stale()
    return list(import_jobs_visible(request.auth)[: max(1, min(limit, 200))])  # type: ignore[attr-defined]


@router.get("/imports/{job_id}", response=ImportJobOut, summary=_("导入任务进度与结果"))
def get_import(request: HttpRequest, job_id: UUID):
    services.import_jobs_fail_stale()
    return access_import_job(request.auth, job_id=job_id)  # type: ignore[attr-defined]


@router.get(
    "/imports/{job_id}/errors",
    response=list[ImportErrorOut],
    summary=_("错误明细（行、列、值、规则、说明）"),
)
def import_errors(
    request: HttpRequest, job_id: UUID, offset: int = offset_query(), limit: int = 500
):
    job = access_import_job(request.auth, job_id=job_id)  # type: ignore[attr-defined]
    rows = list(job.row_errors.order_by("row", "pk")[offset : offset + max(1, min(limit, 5000))])
    if rows:
        note_read(
            request.auth,  # type: ignore[attr-defined]
            [],
            kind=ReadKind.IMPORT_ERRORS,
            import_job=str(job.pk),
            rows=len(rows),
        )
    return rows


@router.get("/imports/{job_id}/errors.csv", summary=_("下载错误报告（csv）"))
def import_errors_csv(request: HttpRequest, job_id: UUID):
    job = access_import_job(request.auth, job_id=job_id)  # type: ignore[attr-defined]
    note_read(
        request.auth,  # type: ignore[attr-defined]
        [],
        kind=ReadKind.EXPORT,
        action=AuditAction.STUDENT_EXPORT,
        import_job=str(job.pk),
        rows=job.error_count,
        format="csv",
    )
    response = HttpResponse(reports.error_report_csv(job), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-errors.csv"'
    return response
