"""Data release pages: the list (the subtree's releases and the ones received), the request
form, one release with its review and approval forms, and the recipient's audited download."""

from typing import cast

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from xueji import clock
from xueji.accounts.permissions import has_permission, require_permission
from xueji.accounts.rules import Permission
from xueji.errors import DomainError, ValidationFailed
from xueji.web.views import page

from . import selectors, services
from .api import CONTENT_TYPES
from .errors import BasisInvalid
from .forms import DecisionForm, ReleaseRequestForm
from .permissions import (
    access_basis_document,
    access_release,
    access_release_approve,
    access_release_review,
)
from .rules import FIELDS, ReleaseState, downloadable


@page
def release_list_view(request: HttpRequest) -> HttpResponse:
    user = request.user
    received = list(selectors.releases_received(user)[:100])
    can_view = has_permission(user, Permission.RELEASE_VIEW)
    page_obj = None
    if can_view:
        page_obj = Paginator(
            selectors.release_list(user, state=request.GET.get("state", "")),
            settings.XUEJI["PAGE_SIZE"],
        ).get_page(request.GET.get("page"))
    today = clock.today()
    return render(
        request,
        "releases/list.html",
        {
            "received": [
                (r, downloadable(state=r.state, expires_on=r.expires_on, today=today))
                for r in received
            ],
            "page_obj": page_obj,
            "can_request": has_permission(user, Permission.RELEASE_REQUEST),
            "states": ReleaseState.choices,
            "state": request.GET.get("state", ""),
        },
    )


@page
def release_new(request: HttpRequest) -> HttpResponse:
    """GET: the request form; POST: file the request."""
    require_permission(request.user, Permission.RELEASE_REQUEST)
    form = ReleaseRequestForm()
    if request.method == "POST":
        form = ReleaseRequestForm(request.POST, request.FILES)
        if form.is_valid():
            data = form.cleaned_data
            try:
                release = services.release_request(
                    actor=request.user,
                    data=services.ReleaseInput(
                        purpose=data["purpose"],
                        basis_kind=data["basis_kind"],
                        basis_law=data["basis_law"],
                        basis_authority=data["basis_authority"],
                        basis_level=data["basis_level"],
                        basis_document_no=data["basis_document_no"],
                        kind=data["kind"],
                        fields=list(data["columns"]),
                        area_code=data["area_code"],
                        school_code=data["school_code"],
                        stages=list(data["stages"]),
                        grades=[g.strip() for g in data["grades"].split(",") if g.strip()],
                        states=list(data["states"]),
                        identifiers=data["identifiers"],
                        birth=data["birth"],
                        k=data["k"],
                        threshold=data["threshold"],
                        output_format=data["output_format"],
                        recipient_organisation=data["recipient_organisation"],
                        recipient_username=data["recipient_username"],
                        expires_on=data["expires_on"],
                    ),
                    document=data["basis_document"] or None,
                )
            except ValidationFailed as error:
                form.add_field_errors(error.errors)
            else:
                messages.success(request, _("已提交数据发布申请 %s。") % release.reference)
                return redirect("releases:detail", release_id=release.pk)
    return render(request, "releases/new.html", {"form": form})


def _allowed(check, user, release_id: int) -> bool:
    try:
        check(user, release_id=release_id)
    except DomainError:
        return False
    return True


@page
def release_detail(request: HttpRequest, release_id: int) -> HttpResponse:
    user = request.user
    release = access_release(user, release_id=release_id)
    today = clock.today()
    can_review = release.state == ReleaseState.SUBMITTED and _allowed(
        access_release_review, user, release.pk
    )
    can_approve = release.state == ReleaseState.REVIEWED and _allowed(
        access_release_approve, user, release.pk
    )
    return render(
        request,
        "releases/detail.html",
        {
            "release": release,
            "field_labels": [str(FIELDS[f]) for f in FIELDS if f in release.fields],
            "can_review": can_review,
            "can_approve": can_approve,
            "decision_form": DecisionForm(),
            "is_recipient": release.recipient_id == user.pk,
            "can_download": release.recipient_id == user.pk
            and downloadable(state=release.state, expires_on=release.expires_on, today=today),
            "expired": today > release.expires_on,
            "can_read_basis": bool(release.basis_document)
            and _allowed(access_basis_document, user, release.pk),
        },
    )


def _decide(request: HttpRequest, release_id: int, service, decision: str) -> HttpResponse:
    form = DecisionForm(request.POST)
    note = form.data.get("note", "")[:255]
    try:
        service(actor=request.user, release_id=release_id, decision=decision, note=note)
    except (ValidationFailed, BasisInvalid) as error:
        messages.error(
            request,
            "；".join([str(error.message), *(str(e.message) for e in error.errors)]),
        )
    else:
        messages.success(request, _("已办理。"))
    return redirect("releases:detail", release_id=release_id)


@require_POST
@page
def release_review_view(request: HttpRequest, release_id: int) -> HttpResponse:
    decision = "reject" if request.POST.get("decision") == "reject" else "pass"
    return _decide(request, release_id, services.release_review, decision)


@require_POST
@page
def release_approve_view(request: HttpRequest, release_id: int) -> HttpResponse:
    decision = "reject" if request.POST.get("decision") == "reject" else "approve"
    return _decide(request, release_id, services.release_approve, decision)


@never_cache  # the file stays out of browser and proxy caches
@page
def release_download(request: HttpRequest, release_id: int) -> HttpResponse:
    release, handle = services.release_download_open(actor=request.user, release_id=release_id)
    return cast(
        HttpResponse,
        FileResponse(
            handle,
            as_attachment=True,
            filename=f"{release.reference}.{release.output_format}",
            content_type=CONTENT_TYPES[release.output_format],
        ),
    )


@never_cache
@page
def release_basis(request: HttpRequest, release_id: int) -> HttpResponse:
    release = access_basis_document(request.user, release_id=release_id)
    handle = services.release_basis_open(actor=request.user, release=release)
    return cast(
        HttpResponse,
        FileResponse(
            handle,
            as_attachment=True,
            filename=f"{release.reference}-basis{release.basis_document.name[-4:]}",
            content_type=release.basis_document_type,
        ),
    )
