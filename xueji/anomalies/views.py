"""Anomaly pages: the review queue (my unit, and the units below for an authority), one
finding with its evidence (a pair side by side, differences marked) and the verdicts, a
merge and its undo, the quality figures, and the attendance-list upload.

Each view parses, calls one selector or service, and renders; the verdicts are plain
POST forms on the finding's page, so the queue works on a phone without JavaScript.
"""

from typing import Any, cast

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from xueji.accounts.models import User
from xueji.accounts.permissions import has_permission, require_permission
from xueji.accounts.rules import Permission
from xueji.audit.reads import ReadKind, note_read
from xueji.errors import Conflict, ValidationFailed
from xueji.web import search
from xueji.web.views import page

from . import selectors, services
from .forms import FilterForm, MergeForm, ReasonForm, SightingUploadForm
from .rules import FindingKind, FindingState

PAGE_SIZE = 25


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


@page
def finding_list_view(request: HttpRequest) -> HttpResponse:
    """The queue: open findings of my unit (or of the units below mine), newest first."""
    user = _user(request)
    require_permission(user, Permission.ANOMALY_VIEW)
    tab = request.GET.get("tab", "unit")
    if tab not in selectors.TABS or (tab == "subtree" and not selectors.has_subtree(user)):
        tab = "unit"
    redirect, data = search.handle(request)  # the term never travels in the URL
    if redirect is not None:
        return redirect
    form = FilterForm(data or None)
    filters = form.cleaned_data if form.is_bound and form.is_valid() else {}
    state = filters.get("state") or FindingState.OPEN
    rows = selectors.finding_list(
        user,
        tab=tab,
        kind=filters.get("kind", ""),
        state="" if state == "all" else state,
        search=filters.get("q") or "",
    )
    page_obj = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    note_read(user, selectors.finding_students(page_obj.object_list), kind=ReadKind.FINDING)
    query = request.GET.copy()
    query.pop("page", None)
    query.pop("tab", None)
    return render(
        request,
        "anomalies/list.html",
        {
            "form": form,
            "tab": tab,
            "has_subtree": selectors.has_subtree(user),
            "counts": selectors.open_counts(user),
            "page_obj": page_obj,
            "query": query.urlencode(),
            "kinds": FindingKind.choices,
            "can_import": has_permission(user, Permission.ANOMALY_SIGHTING),
        },
    )


def _detail_page(
    request: HttpRequest, finding_id: int, *, status: int = 200, **forms: Any
) -> HttpResponse:
    detail = selectors.finding_detail(_user(request), finding_id=finding_id)
    note_read(
        _user(request),
        [side.student for side in detail.sides],
        kind=ReadKind.FINDING,
        finding=finding_id,
    )
    choices = [
        (
            side.student.pk,
            f"{side.student.name}（{side.student.number_masked}，{side.school_name}）",
        )
        for side in detail.sides
    ]
    context = {
        "detail": detail,
        "finding": detail.finding,
        "merge_form": forms.get("merge_form")
        or MergeForm(choices=choices, initial={"survivor_id": detail.suggested_survivor}),
        "different_form": forms.get("different_form") or ReasonForm(prefix="different"),
        "dismiss_form": forms.get("dismiss_form") or ReasonForm(prefix="dismiss"),
        "kind_label": FindingKind(detail.finding.kind).label,
    }
    return render(request, "anomalies/detail.html", context, status=status)


@page
def finding_detail_view(request: HttpRequest, finding_id: int) -> HttpResponse:
    return _detail_page(request, finding_id)


@require_POST
@page
def finding_merge_view(request: HttpRequest, finding_id: int) -> HttpResponse:
    require_permission(_user(request), Permission.ANOMALY_RESOLVE)
    detail = selectors.finding_detail(_user(request), finding_id=finding_id)
    choices = [(side.student.pk, side.student.number_masked) for side in detail.sides]
    form = MergeForm(request.POST, choices=choices)
    if not form.is_valid():
        return _detail_page(request, finding_id, merge_form=form, status=422)
    try:
        merge = services.finding_merge(
            actor=request.user,
            finding_id=finding_id,
            survivor_id=form.cleaned_data["survivor_id"],
            reason=form.cleaned_data.get("reason", ""),
        )
    except ValidationFailed as error:
        form.add_field_errors(error.errors)
        return _detail_page(request, finding_id, merge_form=form, status=422)
    except Conflict as error:
        form.add_error(None, str(error.message))
        return _detail_page(request, finding_id, merge_form=form, status=409)
    messages.success(
        request,
        _("已合并：%(retired)s 并入 %(survivor)s。如有误，可在本页撤销合并。")
        % {"retired": merge.retired_number, "survivor": merge.survivor_number},
    )
    return redirect("anomalies:merge", merge_id=merge.pk)


def _verdict(
    request: HttpRequest, finding_id: int, *, prefix: str, action: Any, done: str
) -> HttpResponse:
    require_permission(_user(request), Permission.ANOMALY_RESOLVE)
    form = ReasonForm(request.POST, prefix=prefix)
    reason = form.cleaned_data.get("reason", "") if form.is_valid() else ""
    try:
        action(actor=request.user, finding_id=finding_id, reason=reason)
    except ValidationFailed as error:
        form.add_field_errors(error.errors)
        return _detail_page(request, finding_id, status=422, **{f"{prefix}_form": form})
    except Conflict as error:
        form.add_error(None, str(error.message))
        return _detail_page(request, finding_id, status=409, **{f"{prefix}_form": form})
    messages.success(request, done)
    return redirect("anomalies:detail", finding_id=finding_id)


@require_POST
@page
def finding_different_view(request: HttpRequest, finding_id: int) -> HttpResponse:
    return _verdict(
        request,
        finding_id,
        prefix="different",
        action=services.finding_mark_different,
        done=_("已确认两条学籍不是同一人，今后不再作为重复学籍提示。"),
    )


@require_POST
@page
def finding_dismiss_view(request: HttpRequest, finding_id: int) -> HttpResponse:
    return _verdict(
        request,
        finding_id,
        prefix="dismiss",
        action=services.finding_dismiss,
        done=_("已排除该异常，本学期不再提示。"),
    )


def _merge_page(
    request: HttpRequest, merge_id: int, *, form: ReasonForm | None = None, status: int = 200
) -> HttpResponse:
    user = _user(request)
    merge = selectors.merge_detail(user, merge_id=merge_id)
    note_read(user, [merge.survivor_id, merge.retired_id], kind=ReadKind.FINDING, merge=merge_id)
    snapshot = merge.snapshot or {}
    return render(
        request,
        "anomalies/merge.html",
        {
            "merge": merge,
            "form": form or ReasonForm(),
            "can_undo": merge.state == "merged"
            and has_permission(user, Permission.ANOMALY_RESOLVE),
            "changed_rows": len(snapshot.get("updated", [])),
            "created_rows": len(snapshot.get("created", [])),
        },
        status=status,
    )


@page
def merge_detail_view(request: HttpRequest, merge_id: int) -> HttpResponse:
    return _merge_page(request, merge_id)


@require_POST
@page
def merge_undo_view(request: HttpRequest, merge_id: int) -> HttpResponse:
    require_permission(_user(request), Permission.ANOMALY_RESOLVE)
    form = ReasonForm(request.POST)
    reason = form.cleaned_data.get("reason", "") if form.is_valid() else ""
    try:
        services.merge_undo(actor=request.user, merge_id=merge_id, reason=reason)
    except ValidationFailed as error:
        form.add_field_errors(error.errors)
        return _merge_page(request, merge_id, form=form, status=422)
    except Conflict as error:
        form.add_error(None, str(error.message))
        return _merge_page(request, merge_id, form=form, status=409)
    messages.success(request, _("已撤销合并，两条学籍恢复为合并前的状态。"))
    return redirect("anomalies:merge", merge_id=merge_id)


@page
def quality_view(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    figures = selectors.quality(user)
    return render(
        request,
        "anomalies/quality.html",
        {"quality": figures, "can_queue": has_permission(user, Permission.ANOMALY_VIEW)},
    )


@page
def sightings_view(request: HttpRequest) -> HttpResponse:
    """Upload an attendance list; the result lists the rows refused and why."""
    user = _user(request)
    require_permission(user, Permission.ANOMALY_SIGHTING)
    result = None
    status = 200
    if request.method == "POST":
        form = SightingUploadForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                result = services.sightings_import(
                    actor=user,
                    upload=form.cleaned_data["file"],
                    source=form.cleaned_data.get("source", ""),
                )
            except ValidationFailed as error:
                form.add_field_errors(error.errors)
                status = 422
        else:
            status = 422
    else:
        form = SightingUploadForm()
    return render(
        request,
        "anomalies/sightings.html",
        {"form": form, "result": result, "columns": services.SIGHTING_COLUMNS},
        status=status,
    )
