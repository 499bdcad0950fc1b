"""Archive pages: a student's electronic archive (documents, upload for the holder, the paper
register), a school's transferred-out students and one read-only backup. Downloads are
audited. Nothing here lets a school that transferred a student out change anything."""

from typing import cast

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from xueji.accounts.permissions import has_permission
from xueji.accounts.rules import Permission
from xueji.audit.reads import ReadKind, note_read
from xueji.enrolment.history import history_rows
from xueji.errors import ValidationFailed
from xueji.web.views import page

from . import selectors, services
from .forms import DocumentUploadForm, PaperEntryForm
from .permissions import access_archive_write, access_document, is_holder

EXTENSIONS = {"application/pdf": ".pdf", "image/png": ".png", "image/jpeg": ".jpg"}


def _label(choices, value: str) -> str:
    try:
        return str(choices(value).label)
    except ValueError:
        return value or ""


def _student_page(
    request: HttpRequest,
    student_id: int,
    *,
    upload_form: DocumentUploadForm | None = None,
    paper_form: PaperEntryForm | None = None,
) -> HttpResponse:
    archive = selectors.archive_documents(request.user, student_id=student_id)
    note_read(request.user, [archive.student], kind=ReadKind.ARCHIVE)
    holder = archive.holder
    can_file = has_permission(request.user, Permission.STUDENT_REGISTER) and is_holder(
        request.user, holder
    )
    return render(
        request,
        "archives/student.html",
        {
            "student": archive.student,
            "holder": holder.school or holder.unit,
            "documents": archive.documents,
            "paper": archive.paper,
            "can_file": can_file,
            "upload_form": upload_form or DocumentUploadForm(),
            "paper_form": paper_form or PaperEntryForm(),
        },
    )


@page
def student_archive(request: HttpRequest, student_id: int) -> HttpResponse:
    """GET: the archive; POST: file one document (the holder's clerks)."""
    if request.method != "POST":
        return _student_page(request, student_id)
    access = access_archive_write(request.user, student_id=student_id)
    form = DocumentUploadForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            document = services.archive_add_document(
                actor=request.user,
                student=access.student,
                kind=form.cleaned_data["kind"],
                title=form.cleaned_data["title"],
                upload=form.cleaned_data["file"] or None,
            )
        except ValidationFailed as error:
            form.add_field_errors(error.errors)
        else:
            messages.success(request, _("已存入档案：%s") % document.title)
            return redirect("archives:student", student_id=access.student.pk)
    return _student_page(request, student_id, upload_form=form)


@require_POST
@page
def paper_register_view(request: HttpRequest, student_id: int) -> HttpResponse:
    access = access_archive_write(request.user, student_id=student_id)
    form = PaperEntryForm(request.POST)
    if form.is_valid():
        try:
            services.paper_register(
                actor=request.user,
                student=access.student,
                description=form.cleaned_data["description"],
                location=form.cleaned_data["location"],
                kept_copy=form.cleaned_data["kept_copy"],
            )
        except ValidationFailed as error:
            form.add_field_errors(error.errors)
        else:
            messages.success(request, _("已登记纸质档案。"))
            return redirect("archives:student", student_id=access.student.pk)
    return _student_page(request, student_id, paper_form=form)


def _attachment(handle, *, title: str, content_type: str) -> HttpResponse:
    # Streamed from storage; typed as the ``HttpResponse`` that ``page`` views return.
    return cast(
        HttpResponse,
        FileResponse(
            handle,
            as_attachment=True,
            filename=f"{title}{EXTENSIONS.get(content_type, '')}",
            content_type=content_type,
        ),
    )


@never_cache  # personal documents stay out of browser and proxy caches
@page
def document_download(request: HttpRequest, document_id: int) -> HttpResponse:
    document = access_document(request.user, document_id=document_id)
    handle = services.archive_document_open(actor=request.user, document=document)
    return _attachment(handle, title=document.title, content_type=document.content_type)


@page
def backup_list(request: HttpRequest) -> HttpResponse:
    backups = selectors.backups_of_school(request.user)
    page_obj = Paginator(backups, settings.XUEJI["PAGE_SIZE"]).get_page(request.GET.get("page"))
    note_read(request.user, [b.student_id for b in page_obj.object_list], kind=ReadKind.ARCHIVE)
    return render(request, "archives/backups.html", {"page_obj": page_obj})


@page
def backup_detail_view(request: HttpRequest, backup_id: int) -> HttpResponse:
    detail = selectors.backup_detail(request.user, backup_id=backup_id)
    note_read(request.user, [detail.backup.student_id], kind=ReadKind.ARCHIVE, backup=backup_id)
    events = history_rows(detail.events)
    return render(
        request,
        "archives/backup.html",
        {"detail": detail, "backup": detail.backup, "events": events},
    )


@never_cache
@page
def backup_download(request: HttpRequest, backup_id: int, document_id: int) -> HttpResponse:
    backup, entry = selectors.backup_document(
        request.user, backup_id=backup_id, document_id=document_id
    )
    handle = services.archive_backup_document_open(actor=request.user, backup=backup, entry=entry)
    return _attachment(handle, title=entry["title"], content_type=entry["content_type"])
