"""The guardian's pages (phone first): sign-in with a one-time code, the student's page,
applying for a transfer, following it; and the outbox of the embedded sender.

``guardian_page`` is the decorator of every page behind the guardian's sign-in: it ends
a session idle for 30 minutes, and turns a ``DomainError`` into a page with its Chinese
message (``NotFound``: the 404 page). View bodies parse, call one service, render.
"""

from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_POST

from xueji.audit.reads import ReadKind, note_read
from xueji.enrolment.models import StatusRecord
from xueji.errors import Conflict, DomainError, NotFound, ValidationFailed
from xueji.students.models import Guardian
from xueji.web.views import HtmxHttpRequest

from . import rules, selectors, services
from .actor import GuardianActor
from .forms import ApplyForm, CodeForm, MaterialForm, SignInForm, WithdrawForm
from .permissions import access_outbox
from .session import pending, pending_set, session_close, session_guardian, session_open

GuardianView = Callable[..., HttpResponse]
ACCEPT = "image/*,application/pdf"
LIMITS = {
    "sends": rules.SENDS_PER_HOUR,
    "minutes": int(rules.CODE_TTL.total_seconds() // 60),
    "attempts": rules.CODE_MAX_ATTEMPTS,
}


# ----------------------------------------------------------------- shared


def _to_signin(request: HtmxHttpRequest) -> HttpResponse:
    if request.htmx:
        # A fragment must not swap the sign-in page into itself: send the browser there.
        response = HttpResponse(status=204)
        response["HX-Redirect"] = reverse("portal:signin")
        return response
    return redirect("portal:signin")


def _error_response(
    request: HtmxHttpRequest, error: DomainError, *, signed_in: bool = False
) -> HttpResponse:
    if isinstance(error, NotFound) and not request.htmx:
        return render(request, "portal/not_found.html", {"portal_signed_in": signed_in}, status=404)
    context = {
        "error_message": str(error.message),
        "error_code": error.code,
        "portal_signed_in": signed_in,
    }
    template = "web/_error_alert.html" if request.htmx else "portal/error.html"
    return render(request, template, context, status=error.http_status)


def _still_guardian(guardian: GuardianActor) -> bool:
    # The school may have corrected the family data since the sign-in.
    return Guardian.objects.filter(
        pk=guardian.guardian_id, student_id=guardian.student_id, is_guardian=True
    ).exists()


def _current_guardian(request: HttpRequest) -> GuardianActor | None:
    """The signed-in guardian; a session idle for 30 minutes ends here (audited, and the
    guardian told why on the sign-in page)."""
    guardian, idle = session_guardian(request)
    if guardian is not None and idle:
        services.guardian_signout(guardian=guardian, idle=True)
        messages.warning(request, _("您已 30 分钟未操作，为保护信息安全已自动退出，请重新登录。"))
        return None
    if guardian is not None and not _still_guardian(guardian):
        session_close(request)
        return None
    return guardian


def guardian_page(view: GuardianView) -> Callable[..., HttpResponse]:
    """The guardian's sign-in required (30 minutes idle ends it); the view receives the
    ``GuardianActor`` after the request; domain errors become pages."""

    @wraps(view)
    @never_cache
    def wrapper(request: HtmxHttpRequest, *args, **kwargs) -> HttpResponse:
        guardian = _current_guardian(request)
        if guardian is None:
            return _to_signin(request)
        try:
            return view(request, guardian, *args, **kwargs)
        except DomainError as error:
            return _error_response(request, error, signed_in=True)

    return wrapper


def _render(request: HttpRequest, template: str, context: dict, status: int = 200):
    return render(request, template, {"portal_signed_in": True, **context}, status=status)


# ----------------------------------------------------------------- sign-in


@sensitive_post_parameters("guardian_id_number")
@never_cache
def signin_view(request: HtmxHttpRequest) -> HttpResponse:
    """Step 1: the student number and the guardian's ID number; a code is sent when both
    match the registry — the next page is the same when they do not."""
    if _current_guardian(request) is not None:
        return redirect("portal:home")
    form = SignInForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        code_id = services.code_send(
            student_number=form.cleaned_data["student_number"],
            guardian_id_number=form.cleaned_data["guardian_id_number"],
        )
        pending_set(request, code_id)
        return redirect("portal:code")
    status = 422 if form.is_bound else 200
    return render(request, "portal/signin.html", {"form": form, "limits": LIMITS}, status=status)


@sensitive_post_parameters("code")
@never_cache
def code_view(request: HtmxHttpRequest) -> HttpResponse:
    """Step 2: the code from the text message."""
    waiting = pending(request)
    if waiting is None:
        return redirect("portal:signin")
    form = CodeForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        try:
            guardian = services.code_verify(
                code_id=waiting.get("code_id"), code=form.cleaned_data["code"]
            )
        except ValidationFailed as error:
            form.add_field_errors(error.errors)
        else:
            session_open(request, guardian)
            return redirect("portal:home")
    status = 422 if form.is_bound else 200
    return render(request, "portal/code.html", {"form": form, "limits": LIMITS}, status=status)


@require_POST
def signout_view(request: HtmxHttpRequest) -> HttpResponse:
    guardian = _current_guardian(request)
    if guardian is not None:
        services.guardian_signout(guardian=guardian)
    session_close(request)
    messages.info(request, _("已安全退出。"))
    return redirect("portal:signin")


# ----------------------------------------------------------------- the student and requests


@guardian_page
def home_view(request: HtmxHttpRequest, guardian: GuardianActor) -> HttpResponse:
    note_read(guardian, [guardian.student_id], kind=ReadKind.PORTAL, guardian=guardian.guardian_id)
    return _render(
        request,
        "portal/home.html",
        {
            "student": selectors.student_view(guardian),
            "requests": selectors.transfer_requests(guardian),
        },
    )


def _record(guardian: GuardianActor) -> StatusRecord:
    return StatusRecord.objects.select_related("school").get(pk=guardian.student_id)


def _destination_of(record, data) -> selectors.Destination:
    return selectors.destination(
        record,
        province=data.get("province", ""),
        city=data.get("city", ""),
        county=data.get("county", ""),
        school=data.get("school", ""),
    )


def _place_errors(form: ApplyForm, errors) -> dict[str, list[str]]:
    """A service's field errors beside their fields; material errors by kind."""
    by_kind: dict[str, list[str]] = {}
    for error in errors:
        if error.field.startswith("materials."):
            by_kind.setdefault(error.field.removeprefix("materials."), []).append(
                str(error.message)
            )
        elif error.field in ("school", "target_school"):
            form.add_error("school", str(error.message))
        elif error.field == "reason":
            form.add_error("reason", str(error.message))
        else:
            form.add_error(None, str(error.message))
    return by_kind


@guardian_page
def apply_view(request: HtmxHttpRequest, guardian: GuardianActor) -> HttpResponse:
    """The application: destination (province → city → county → school), the materials
    the target province's rule asks for, and the reason."""
    student = selectors.student_view(guardian)
    if student.open_request_id is not None:
        messages.info(request, _("该学生已有一项正在办理的转学申请，办结或撤回后才能再申请。"))
        return redirect("portal:request", request_id=student.open_request_id)
    if student.transfer_refusals:
        # Known before anything is filled in or uploaded: say it instead of the form.
        return _render(
            request,
            "portal/apply.html",
            {"student": student, "refusals": student.transfer_refusals},
            status=409 if request.method == "POST" else 200,
        )
    record = _record(guardian)
    data = request.POST if request.method == "POST" else request.GET
    destination = _destination_of(record, data)
    form = ApplyForm(request.POST if request.method == "POST" else None, destination=destination)
    materials = selectors.materials_required(destination.province_code)
    material_errors: dict[str, list[str]] = {}
    if request.method == "POST" and form.is_valid():
        uploads = [
            (choice.value, upload)
            for choice in materials
            for upload in request.FILES.getlist(f"material_{choice.value}")
        ]
        try:
            change = services.portal_transfer_apply(
                guardian=guardian,
                target_school_id=int(form.cleaned_data["school"]),
                reason=form.cleaned_data["reason"],
                uploads=uploads,
            )
        except ValidationFailed as error:
            material_errors = _place_errors(form, error.errors)
            if not error.errors:
                form.add_error(None, str(error.message))
        except Conflict as conflict:
            form.add_error(None, str(conflict.message))
        else:
            messages.success(
                request, _("转学申请已提交，转入学校将在规定期限内办理。请留意办理进度。")
            )
            return redirect("portal:request", request_id=change.pk)
    return _render(
        request,
        "portal/apply.html",
        {
            "student": student,
            "form": form,
            "materials": _material_fields(materials, material_errors),
            "province_chosen": bool(destination.province),
            "accept": ACCEPT,
        },
        status=422 if form.is_bound else 200,
    )


def _material_fields(materials: list[selectors.Choice], errors: dict[str, list[str]]) -> list:
    return [
        {"kind": m.value, "label": m.label, "errors": errors.get(m.value, [])} for m in materials
    ]


@require_GET
@guardian_page
def destination_view(request: HtmxHttpRequest, guardian: GuardianActor) -> HttpResponse:
    """The cascade again for what is chosen so far (htmx); a changed province also
    replaces the materials its rule asks for."""
    if not request.htmx:
        query = request.GET.urlencode()
        return redirect(reverse("portal:apply") + (f"?{query}" if query else ""))
    destination = _destination_of(_record(guardian), request.GET)
    materials = selectors.materials_required(destination.province_code)
    return render(
        request,
        "portal/_destination_response.html",
        {
            "form": ApplyForm(destination=destination),
            "materials": _material_fields(materials, {}),
            "province_chosen": bool(destination.province),
            "province_changed": request.htmx.trigger == "id_province",
            "accept": ACCEPT,
        },
    )


def _status_page(
    request: HtmxHttpRequest,
    guardian: GuardianActor,
    request_id: int,
    *,
    material_form: MaterialForm | None = None,
    material_errors: list[str] | None = None,
    status: int = 200,
) -> HttpResponse:
    shown = selectors.request_status(guardian, request_id)
    kinds = [(c.value, c.label) for c in shown.material_kinds]
    return _render(
        request,
        "portal/request.html",
        {
            "status": shown,
            "change": shown.request,
            "withdraw_form": WithdrawForm(),
            "material_form": material_form or MaterialForm(kinds=kinds),
            "material_errors": material_errors or [],
            "accept": ACCEPT,
        },
        status=status,
    )


@guardian_page
def request_view(request: HtmxHttpRequest, guardian: GuardianActor, request_id: int):
    """Each step with its unit, state, deadline (date and working days left) and decision."""
    note_read(
        guardian,
        [guardian.student_id],
        kind=ReadKind.PORTAL,
        guardian=guardian.guardian_id,
        change_request=request_id,
    )
    return _status_page(request, guardian, request_id)


@require_POST
@guardian_page
def withdraw_view(request: HtmxHttpRequest, guardian: GuardianActor, request_id: int):
    form = WithdrawForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    services.portal_withdraw(guardian=guardian, request_id=request_id, reason=reason)
    messages.success(request, _("申请已撤回。"))
    return redirect("portal:request", request_id=request_id)


@require_POST
@guardian_page
def material_add_view(request: HtmxHttpRequest, guardian: GuardianActor, request_id: int):
    shown = selectors.request_status(guardian, request_id)
    kinds = [(c.value, c.label) for c in shown.material_kinds]
    form = MaterialForm(request.POST, kinds=kinds)
    if form.is_valid():
        kind = form.cleaned_data["kind"]
        uploads = [(kind, upload) for upload in request.FILES.getlist("files")]
        try:
            saved = services.portal_material_add(
                guardian=guardian, request_id=request_id, uploads=uploads
            )
        except ValidationFailed as error:
            problems = [str(e.message) for e in error.errors] or [str(error.message)]
            return _status_page(
                request,
                guardian,
                request_id,
                material_form=form,
                material_errors=problems,
                status=422,
            )
        messages.success(request, _("已补充材料 %d 份。") % len(saved))
        return redirect("portal:request", request_id=request_id)
    return _status_page(request, guardian, request_id, material_form=form, status=422)


# ----------------------------------------------------------------- the outbox


@never_cache
def outbox_view(request: HtmxHttpRequest) -> HttpResponse:
    """The embedded sender's latest messages: with ``DEBUG`` for anyone (development),
    otherwise only for a national security administrator, and then with the codes masked."""
    if not settings.DEBUG and not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    try:
        access_outbox(request.user)
    except DomainError as error:
        return _error_response(request, error)
    return render(
        request,
        "portal/outbox.html",
        {
            "rows": selectors.outbox_latest(reveal_codes=settings.DEBUG),
            "codes_shown": settings.DEBUG,
        },
    )
