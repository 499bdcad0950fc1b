"""Scoped reads of change requests: lists, one request with its steps, the review queue."""

from dataclasses import dataclass
from datetime import date

from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet

from xueji import clock
from xueji.accounts.permissions import require_permission
from xueji.accounts.rules import Permission
from xueji.accounts.scope import scope_for
from xueji.students import identity

from .models import ApprovalStep, ChangeRequest, Material
from .rules import RequestState, StepState
from .services import access_request, may_handle, requests_visible_q

# Which pending steps the request list and the home page's figures count: at the actor's
# own unit, or anywhere in its subtree (its own unit included); optionally only the overdue.
STEP_FILTERS = ("mine", "mine_overdue", "area", "area_overdue")


def _pending_steps_q(actor, *, where: str) -> Q:
    """Pending steps of open requests at the actor's unit (``where`` "mine") or in its
    subtree ("area"): the unit's area prefix under the actor's, its school for a school."""
    if where == "mine":
        at = Q(unit_id=getattr(actor, "unit_id", None))
    else:
        at = scope_for(actor).q(area_field="unit__area_prefix", school_field="unit__school_id")
    return at & Q(state=StepState.PENDING, request__state=RequestState.OPEN)


def step_counts(actor, *, today: date | None = None) -> dict[str, int]:
    """Pending steps of open requests, at the actor's unit and in its whole subtree, and how
    many of each are past their deadline: one query. Keys as ``STEP_FILTERS``; the request
    list filtered by the same key lists exactly these (one pending step per open request)."""
    require_permission(actor, Permission.CHANGE_VIEW)
    today = today or clock.today()
    mine = Q(unit_id=getattr(actor, "unit_id", None))
    late = Q(due_date__lt=today)
    return ApprovalStep.objects.filter(_pending_steps_q(actor, where="area")).aggregate(
        mine=Count("pk", filter=mine),
        mine_overdue=Count("pk", filter=mine & late),
        area=Count("pk"),
        area_overdue=Count("pk", filter=late),
    )


def request_list(
    actor,
    *,
    state: str = "",
    change_type: str = "",
    q: str = "",
    school_id: int | None = None,
    step: str = "",
    today: date | None = None,
) -> QuerySet[ChangeRequest]:
    """Requests visible to the actor, newest first; filters by state, type, student, and
    ``step`` (one of ``STEP_FILTERS``: a pending step at the actor's unit or in its
    subtree, optionally overdue)."""
    require_permission(actor, Permission.CHANGE_VIEW)
    visible = ChangeRequest.objects.filter(requests_visible_q(actor)).values("pk")
    qs = ChangeRequest.objects.filter(pk__in=visible).select_related(
        "student", "school", "target_school"
    )
    if step in STEP_FILTERS:
        today = today or clock.today()
        where, _sep, overdue = step.partition("_")
        pending = ApprovalStep.objects.filter(
            _pending_steps_q(actor, where=where), request_id=OuterRef("pk")
        )
        if overdue:
            pending = pending.filter(due_date__lt=today)
        qs = qs.filter(Exists(pending))
    if state:
        qs = qs.filter(state=state)
    if change_type:
        qs = qs.filter(change_type=change_type)
    if school_id:
        qs = qs.filter(school_id=school_id) | qs.filter(target_school_id=school_id)
    term = q.strip()
    if term:
        qs = qs.filter(identity.number_q(term, field="student")) | qs.filter(
            student__name__contains=term
        )
    return qs.order_by("-filed_at", "-pk")


@dataclass
class RequestDetail:
    request: ChangeRequest
    steps: list[ApprovalStep]
    materials: list[Material]
    handleable: ApprovalStep | None  # the pending step the actor may handle now


def request_detail(actor, *, request_id: int) -> RequestDetail:
    request = access_request(actor, request_id)
    steps = list(request.steps.select_related("unit").order_by("seq"))
    handleable = next((s for s in steps if may_handle(actor, s)), None)
    return RequestDetail(
        request=request,
        steps=steps,
        materials=list(request.materials.all()),
        handleable=handleable,
    )


def review_queue(actor, *, today: date | None = None) -> QuerySet[ApprovalStep]:
    """The steps waiting for the actor's own unit, most urgent first: missing calendars and
    overdue steps at the top, then by deadline."""
    require_permission(actor, Permission.CHANGE_HANDLE)
    return (
        ApprovalStep.objects.filter(
            unit_id=actor.unit_id,
            state=StepState.PENDING,
            request__state=RequestState.OPEN,
        )
        .select_related("request", "request__student", "request__school", "request__target_school")
        .order_by("-calendar_missing", F("due_date").asc(nulls_first=True), "request__filed_at")
    )


def queue_count(actor) -> int:
    if not getattr(actor, "unit_id", None):
        return 0
    return ApprovalStep.objects.filter(unit_id=actor.unit_id, state=StepState.PENDING).count()


def steps_overdue(*, today: date | None = None) -> QuerySet[ApprovalStep]:
    today = today or clock.today()
    return ApprovalStep.objects.filter(state=StepState.PENDING, due_date__lt=today)


def open_request_of(student_id: int) -> ChangeRequest | None:
    return ChangeRequest.objects.filter(student_id=student_id, state=RequestState.OPEN).first()


def has_open_request() -> Exists:
    return Exists(ChangeRequest.objects.filter(student_id=OuterRef("pk"), state=RequestState.OPEN))
