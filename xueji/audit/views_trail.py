"""The audit admin's pages (审计日志): search the trail of the subtree, one student's
"who has looked at this child", and the csv/xlsx export (audited)."""

from datetime import date

from django import forms
from django.conf import settings
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from xueji import clock
from xueji.web import search as web_search
from xueji.web.forms import StyledForm
from xueji.web.views import page

from . import trail
from .events import AuditAction, ObjectType, action_label, object_type_label
from .models import AuditCheckpoint


def _action_choices() -> list[tuple[str, str]]:
    """In the reader's language (built per form, not at import)."""
    actions = sorted((m.value, str(m.label)) for m in AuditAction)
    return [("", gettext("全部操作")), *actions]


def _object_choices() -> list[tuple[str, str]]:
    objects = [(m.value, str(m.label)) for m in ObjectType if m.value]
    return [("", gettext("全部对象")), *objects]


class TrailSearchForm(StyledForm):
    actor = forms.CharField(label=_("操作人"), required=False, max_length=150)
    student = forms.CharField(
        label=_("学生"),
        required=False,
        max_length=32,
        widget=forms.TextInput(attrs={"placeholder": _("学生ID、学籍号、身份证号或姓名")}),
    )
    action = forms.ChoiceField(label=_("操作"), required=False)
    object_type = forms.ChoiceField(label=_("对象类型"), required=False)
    object_id = forms.CharField(label=_("对象ID"), required=False, max_length=64)
    date_from = forms.DateField(
        label=_("开始日期"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label=_("结束日期"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    ip = forms.CharField(label=_("来源IP"), required=False, max_length=45)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["action"].choices = _action_choices()  # type: ignore[attr-defined]
        self.fields["object_type"].choices = _object_choices()  # type: ignore[attr-defined]

    def clean(self):
        data = super().clean() or {}
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", _("结束日期不能早于开始日期。"))
        return data

    def filters(self) -> trail.TrailFilters:
        if not self.is_valid():
            return trail.TrailFilters()
        data = self.cleaned_data
        return trail.TrailFilters(
            actor=data.get("actor") or "",
            student=data.get("student") or "",
            action=data.get("action") or "",
            object_type=data.get("object_type") or "",
            object_id=data.get("object_id") or "",
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            ip=data.get("ip") or "",
        )


def event_row(event) -> dict:
    return {
        "event": event,
        "action": action_label(event.action),
        "object": object_type_label(event.object_type),
        "student_id": int(event.object_id)
        if event.object_type == ObjectType.STUDENT.value and event.object_id.isdigit()
        else None,
    }


def _paged(request: HttpRequest, qs):
    page_obj = Paginator(qs, settings.XUEJI["PAGE_SIZE"]).get_page(request.GET.get("page"))
    return page_obj, [event_row(e) for e in page_obj.object_list]


# The student box takes student and ID numbers: it posts, and the page continues under a
# session token (xueji.web.search), so no number reaches a URL or the access log.
STUDENT_TERM = "student"


@page
def trail_list(request: HttpRequest) -> HttpResponse:
    trail.require_auditor(request.user)
    redirect, data = web_search.handle(request, STUDENT_TERM)
    if redirect is not None:
        return redirect
    form = TrailSearchForm(data or None)
    filters = form.filters() if data else trail.TrailFilters()
    page_obj, rows = _paged(request, trail.search(request.user, filters))
    latest = AuditCheckpoint.objects.order_by("-pk").first()
    return render(
        request,
        "audit/trail.html",
        {
            "form": form,
            "rows": rows,
            "page_obj": page_obj,
            "searched": bool(filters.as_dict()),
            "latest_checkpoint": latest,
            "export_query": request.GET.urlencode(),
        },
    )


@page
def trail_student(request: HttpRequest, student_id: int) -> HttpResponse:
    student = trail.student_for_auditor(request.user, student_id)
    if not request.GET.get("page"):
        trail.record_student_view(request.user, student)
    page_obj, rows = _paged(request, trail.student_events(request.user, student))
    return render(
        request,
        "audit/trail_student.html",
        {"student": student, "rows": rows, "page_obj": page_obj},
    )


def _export(request: HttpRequest, fmt: str) -> HttpResponse:
    trail.require_auditor(request.user)
    # The page's export links carry its token (s=…), never the term.
    redirect, data = web_search.handle(request, STUDENT_TERM)
    if redirect is not None:
        return redirect
    form = TrailSearchForm(data or None)
    filters = form.filters() if data else trail.TrailFilters()
    try:
        content = trail.export(request.user, filters, fmt)
    except trail.ExportTooLarge as too_large:
        return render(
            request,
            "audit/export_refused.html",
            {"count": too_large.args[0], "limit": trail.EXPORT_MAX_ROWS},
            status=422,
        )
    stamp = date.isoformat(clock.today())
    if fmt == "csv":
        response = HttpResponse(content, content_type="text/csv; charset=utf-8")
    else:
        response = HttpResponse(
            content,
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
    response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.{fmt}"'
    return response


@page
def trail_export_csv(request: HttpRequest) -> HttpResponse:
    return _export(request, "csv")


@page
def trail_export_xlsx(request: HttpRequest) -> HttpResponse:
    return _export(request, "xlsx")


app_name = "audit"
urlpatterns = [
    path("", trail_list, name="trail"),
    path("students/<int:student_id>/", trail_student, name="student"),
    path("export.csv", trail_export_csv, name="export_csv"),
    path("export.xlsx", trail_export_xlsx, name="export_xlsx"),
]
