"""Import pages: upload a file, follow the job, download the error report and templates.

A job belongs to the unit of the account that submitted it; the accounts of that unit see
it, nobody else (a job of another unit is "not found", like an out-of-scope record).
"""

from uuid import UUID

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from xueji import clock
from xueji.accounts.permissions import require_permission
from xueji.accounts.rules import Permission
from xueji.audit.events import AuditAction
from xueji.audit.reads import ReadKind, note_read
from xueji.errors import ValidationFailed
from xueji.web.views import page

from .columns import SCHOOL_COLUMNS, STUDENT_COLUMNS
from .models import ImportJob, ImportKind, ImportMode, ImportStatus
from .reports import build_template, error_report_csv, error_report_xlsx
from .selectors import access_import_job, import_jobs_visible
from .services import import_job_create, import_jobs_fail_stale
from .tasks import run_import_job

ERRORS_SHOWN = 200
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class UploadForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("导入文件"),
        required=False,
        help_text=gettext_lazy("Excel（.xlsx）或 CSV（UTF-8）文件，第一行为列名"),
        widget=forms.ClearableFileInput(
            attrs={"class": "form-control", "accept": ".xlsx,.csv", "autofocus": True}
        ),
    )
    mode = forms.ChoiceField(
        label=gettext_lazy("导入方式"),
        choices=ImportMode.choices,
        initial=ImportMode.ALL_OR_NOTHING,
        widget=forms.RadioSelect(attrs={"class": "form-check-input"}),
    )

    marked_required = frozenset({"file"})


def _permission_for(kind: str) -> str:
    return Permission.STUDENT_IMPORT if kind == ImportKind.STUDENTS else Permission.SCHOOL_EDIT


def _upload(request: HttpRequest, kind: str) -> HttpResponse:
    """The upload page of one kind; a valid upload becomes a queued job."""
    require_permission(request.user, _permission_for(kind))
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        if upload is None:
            form.add_error("file", _("请选择要导入的文件"))
        else:
            try:
                job = import_job_create(
                    actor=request.user,
                    upload=upload,
                    file_name=upload.name,
                    mode=form.cleaned_data["mode"],
                    kind=kind,
                )
            except ValidationFailed as error:
                for field_error in error.errors:
                    field = field_error.field if field_error.field in form.fields else None
                    form.add_error(field, str(field_error.message))
            else:
                run_import_job.enqueue(str(job.pk))
                return redirect("imports:detail", job_id=job.pk)
    import_jobs_fail_stale()
    recent = import_jobs_visible(request.user).select_related("created_by").filter(kind=kind)[:5]
    return render(
        request,
        "exchange/upload.html",
        {"form": form, "kind": kind, "recent": recent, "students": kind == ImportKind.STUDENTS},
    )


@page
def student_import(request: HttpRequest) -> HttpResponse:
    return _upload(request, ImportKind.STUDENTS)


@page
def school_import(request: HttpRequest) -> HttpResponse:
    return _upload(request, ImportKind.SCHOOLS)


@page
def job_list(request: HttpRequest) -> HttpResponse:
    import_jobs_fail_stale()
    jobs = list(import_jobs_visible(request.user).select_related("created_by")[:100])
    return render(request, "exchange/jobs.html", {"jobs": jobs})


def _job_context(job: ImportJob) -> dict:
    finished = job.finished
    return {
        "job": job,
        "finished": finished,
        "errors": [
            {
                "row": e.row,
                "column": e.column,
                "value": e.value_masked,
                "code": e.code,
                "message": e.message,
            }
            for e in (job.row_errors.all()[:ERRORS_SHOWN] if finished else [])
        ],
        "errors_truncated": finished and job.error_count > ERRORS_SHOWN,
        "bad": job.status in (ImportStatus.REJECTED, ImportStatus.FAILED),
        # Finished, but some rows were not imported: not an unqualified success.
        "partial": job.status == ImportStatus.SUCCEEDED and job.error_count > 0,
        "students": job.kind == ImportKind.STUDENTS,
    }


def _note_errors_shown(request: HttpRequest, job: ImportJob) -> None:
    """The error rows of a finished job carry the file's personal data: a read (no
    registered student: the job and how many rows were shown)."""
    if job.finished and job.error_count:
        note_read(
            request.user,
            [],
            kind=ReadKind.IMPORT_ERRORS,
            import_job=str(job.pk),
            rows=min(job.error_count, ERRORS_SHOWN),
        )


def _note_export(actor, job: ImportJob, file_format: str) -> None:
    note_read(
        actor,
        [],
        kind=ReadKind.EXPORT,
        action=AuditAction.STUDENT_EXPORT,
        import_job=str(job.pk),
        rows=job.error_count,
        format=file_format,
    )


@page
def job_detail(request: HttpRequest, job_id: UUID) -> HttpResponse:
    import_jobs_fail_stale()
    job = access_import_job(request.user, job_id=job_id)
    _note_errors_shown(request, job)
    return render(request, "exchange/job.html", _job_context(job))


@page
def job_progress(request: HttpRequest, job_id: UUID) -> HttpResponse:
    """The job's body, polled every second by htmx until the job has finished."""
    import_jobs_fail_stale()
    job = access_import_job(request.user, job_id=job_id)
    _note_errors_shown(request, job)
    return render(request, "exchange/_job_body.html", _job_context(job))


def _download(content: bytes, *, filename: str, content_type: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(True, filename) or "attachment"
    return response


@page
def job_errors_csv(request: HttpRequest, job_id: UUID) -> HttpResponse:
    job = access_import_job(request.user, job_id=job_id)
    _note_export(request.user, job, "csv")
    return _download(
        error_report_csv(job),
        filename=_("错误报告-%s.csv") % job.file_name.rsplit(".", 1)[0],
        content_type="text/csv; charset=utf-8",
    )


@page
def job_errors_xlsx(request: HttpRequest, job_id: UUID) -> HttpResponse:
    job = access_import_job(request.user, job_id=job_id)
    _note_export(request.user, job, "xlsx")
    return _download(
        error_report_xlsx(job),
        filename=_("错误报告-%s.xlsx") % job.file_name.rsplit(".", 1)[0],
        content_type=XLSX,
    )


@page
def student_template(request: HttpRequest) -> HttpResponse:
    require_permission(request.user, Permission.STUDENT_IMPORT)
    return _download(
        build_template(STUDENT_COLUMNS),
        filename=_("学生导入模板-%s.xlsx") % clock.today().strftime("%Y%m%d"),
        content_type=XLSX,
    )


@page
def school_template(request: HttpRequest) -> HttpResponse:
    require_permission(request.user, Permission.SCHOOL_EDIT)
    return _download(
        build_template(SCHOOL_COLUMNS),
        filename=_("学校导入模板-%s.xlsx") % clock.today().strftime("%Y%m%d"),
        content_type=XLSX,
    )
