"""The dropout-control ledger (控辍保学台账): services and scoped reads.

In compulsory education a dropout keeps the record (state ``dropped_out``) and opens a case
here; the school and its authority add follow-ups (home visits, calls, …) until the student
resumes — the completed resumption closes the case by itself — or the authority closes the
case with a reason. The completion hooks (``on_*_completed``) are called by
``xueji.changes.effects.AFTER`` inside the completing transaction.
"""

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.db import transaction
from django.db.models import Count, F, Max, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext as _

from xueji import clock
from xueji.accounts.models import UnitKind
from xueji.accounts.permissions import require_permission
from xueji.accounts.rules import Permission
from xueji.accounts.scope import scope_for
from xueji.audit.events import AuditAction, ObjectType
from xueji.audit.services import audit_record
from xueji.enrolment.models import StatusRecord
from xueji.errors import Conflict, FieldError, Forbidden, NotFound, ValidationFailed
from xueji.students import identity

from .models import DropoutCase, DropoutCaseState, DropoutFollowUp, FollowUpMethod

# Compulsory education: primary and junior secondary (the stages of the ledger).
COMPULSORY_STAGES = frozenset({"1", "2"})
RESULT_MAX = 2000
NEXT_STEP_MAX = 500
REASON_MAX = 500


# ----------------------------------------------------------------- completion hooks


def on_dropout_completed(
    *, actor: Any, request: Any, record: StatusRecord, from_school: Any, now: datetime
) -> DropoutCase | None:
    """A dropout completed: in compulsory education the ledger opens a case (one open case
    per student; an already open one is kept)."""
    if record.stage not in COMPULSORY_STAGES:
        return None
    existing = DropoutCase.objects.filter(student_id=record.pk, state=DropoutCaseState.OPEN).first()
    if existing is not None:
        return existing
    # Opened on the day the dropout took effect in the history (the event just written).
    event = record.events.order_by("-pk").only("effective_date", "request_id").first()
    opened_on = event.effective_date if event is not None else timezone.localdate(now)
    case = DropoutCase(
        student_id=record.pk,
        school_id=record.school_id,
        area_code=record.area_code,
        stage=record.stage,
        grade=record.grade,
        opened_on=opened_on,
        request_id=getattr(request, "pk", None),
        created_at=now,
    )
    with transaction.atomic():
        case.save(force_insert=True)
        audit_record(
            actor=actor,
            action=AuditAction.DROPOUT_CASE_OPEN,
            object_type=ObjectType.DROPOUT_CASE,
            object_id=case.pk,
            summary="控辍保学台账立案",  # stored data: always Chinese
            detail={
                "student_id": record.pk,
                "school_id": record.school_id,
                "request_id": case.request_id,
            },
        )
    return case


def on_resume_completed(
    *, actor: Any, request: Any, record: StatusRecord, from_school: Any, now: datetime
) -> DropoutCase | None:
    """A resumption completed: the student's open case, if any, closes as returned."""
    return _close_open_case(
        actor=actor,
        student_id=record.pk,
        state=DropoutCaseState.RETURNED,
        reason="学生复学",  # stored data
        request_id=getattr(request, "pk", None),
        on=timezone.localdate(now),
    )


def on_reactivated(*, actor: Any, student_id: int, on: date) -> DropoutCase | None:
    """A dropped-out student registered again at the school and was reactivated on the same
    record (``xueji.students.services``): the open case closes as returned."""
    return _close_open_case(
        actor=actor,
        student_id=student_id,
        state=DropoutCaseState.RETURNED,
        reason="返校恢复学籍",  # stored data
        request_id=None,
        on=on,
    )


def on_death_completed(
    *, actor: Any, request: Any, record: StatusRecord, from_school: Any, now: datetime
) -> DropoutCase | None:
    """A death was cancelled: the open case, if any, closes for that reason."""
    return _close_open_case(
        actor=actor,
        student_id=record.pk,
        state=DropoutCaseState.CLOSED_OTHER,
        reason="学生死亡，学籍注销",  # stored data
        request_id=getattr(request, "pk", None),
        on=timezone.localdate(now),
    )


def _close_open_case(
    *,
    actor: Any,
    student_id: int,
    state: str,
    reason: str,
    request_id: int | None,
    on: date,
) -> DropoutCase | None:
    case = (
        DropoutCase.objects.select_for_update()
        .filter(student_id=student_id, state=DropoutCaseState.OPEN)
        .first()
    )
    if case is None:
        return None
    case.state = state
    case.closed_on = on
    case.closed_reason = reason[:REASON_MAX]
    case.closed_by_username = (getattr(actor, "username", "") or "")[:150]
    case.closed_request_id = request_id
    case.save(
        update_fields=[
            "state",
            "closed_on",
            "closed_reason",
            "closed_by_username",
            "closed_request_id",
        ]
    )
    audit_record(
        actor=actor,
        action=AuditAction.DROPOUT_CASE_CLOSE,
        object_type=ObjectType.DROPOUT_CASE,
        object_id=case.pk,
        summary=format_lazy("控辍保学台账销号（{}）", DropoutCaseState(state).label),
        detail={
            "student_id": student_id,
            "state": state,
            "reason": reason,
            "request_id": request_id,
        },
    )
    return case


# ----------------------------------------------------------------- access


def cases_in_scope(actor: Any) -> QuerySet[DropoutCase]:
    """Cases of the actor's school, or of schools in its area; nothing for other roles."""
    require_permission(actor, Permission.DROPOUT_VIEW)
    return DropoutCase.objects.filter(scope_for(actor).q(area_field="area_code"))


def access_case(actor: Any, case_id: int) -> DropoutCase:
    """One case in the actor's scope; a case outside it reads as not found."""
    case = cases_in_scope(actor).filter(pk=case_id).select_related("student", "school").first()
    if case is None:
        raise NotFound("dropout_case")
    return case


def may_close(actor: Any) -> bool:
    """Closing a case with a reason is the authority's decision, never the school's."""
    unit = getattr(actor, "unit", None)
    return unit is not None and unit.kind != UnitKind.SCHOOL


def require_may_close(actor: Any) -> None:
    if not may_close(actor):
        raise Forbidden(_("只有学籍主管部门可以为控辍保学台账销号。"))


# ----------------------------------------------------------------- services


def _text_errors(*, result: str, next_step: str) -> list[FieldError]:
    errors = []
    if not result:
        errors.append(FieldError("result", "follow_up.result_required", _("请填写跟进结果")))
    elif len(result) > RESULT_MAX:
        errors.append(
            FieldError("result", "follow_up.too_long", _("跟进结果不能超过 %d 字") % RESULT_MAX)
        )
    if len(next_step) > NEXT_STEP_MAX:
        errors.append(
            FieldError(
                "next_step", "follow_up.too_long", _("下一步措施不能超过 %d 字") % NEXT_STEP_MAX
            )
        )
    return errors


def dropout_follow_up_add(
    *,
    actor: Any,
    case_id: int,
    on: date,
    method: str,
    result: str,
    next_step: str = "",
) -> DropoutFollowUp:
    """Record one follow-up of an open case: by the school holding the record or an
    authority above it. The day lies between the opening of the case and today."""
    require_permission(actor, Permission.DROPOUT_FOLLOW_UP)
    case = access_case(actor, case_id)
    result = (result or "").strip()
    next_step = (next_step or "").strip()
    errors = _text_errors(result=result, next_step=next_step)
    if method not in FollowUpMethod.values:
        errors.append(FieldError("method", "follow_up.method", _("请选择跟进方式")))
    today = clock.today()
    if on is None:
        errors.append(FieldError("on", "follow_up.date_required", _("请填写跟进日期")))
    elif on > today:
        errors.append(FieldError("on", "follow_up.future", _("跟进日期不能晚于今天"), str(on)))
    elif on < case.opened_on:
        errors.append(
            FieldError("on", "follow_up.before_case", _("跟进日期不能早于立案日期"), str(on))
        )
    if errors:
        raise ValidationFailed(errors, _("跟进记录未通过校验，未保存。"))
    with transaction.atomic():
        case = DropoutCase.objects.select_for_update().get(pk=case.pk)
        if case.state != DropoutCaseState.OPEN:
            raise Conflict("dropout.closed", _("该台账已销号，不能再登记跟进。"))
        follow_up = DropoutFollowUp.objects.create(
            case=case,
            on=on,
            by_id=getattr(actor, "pk", None),
            by_username=(getattr(actor, "username", "") or "")[:150],
            by_unit_id=getattr(actor, "unit_id", None),
            method=method,
            result=result,
            next_step=next_step,
            created_at=clock.now(),
        )
        audit_record(
            actor=actor,
            action=AuditAction.DROPOUT_FOLLOW_UP,
            object_type=ObjectType.DROPOUT_CASE,
            object_id=case.pk,
            summary=format_lazy("控辍保学跟进（{}）", FollowUpMethod(method).label),
            detail={"follow_up_id": follow_up.pk, "on": on.isoformat(), "method": method},
        )
    return follow_up


def dropout_case_close(*, actor: Any, case_id: int, reason: str) -> DropoutCase:
    """The authority closes an open case for a reason other than the student's return
    (moved abroad with the family, studying at an institution outside the registry, …).
    The record itself stays as it is."""
    require_permission(actor, Permission.DROPOUT_FOLLOW_UP)
    require_may_close(actor)
    case = access_case(actor, case_id)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed([FieldError("reason", "reason.required", _("请填写销号原因"))])
    if len(reason) > REASON_MAX:
        raise ValidationFailed(
            [FieldError("reason", "reason.too_long", _("销号原因不能超过 %d 字") % REASON_MAX)]
        )
    with transaction.atomic():
        closed = _close_open_case(
            actor=actor,
            student_id=case.student_id,
            state=DropoutCaseState.CLOSED_OTHER,
            reason=reason,
            request_id=None,
            on=clock.today(),
        )
        if closed is None or closed.pk != case.pk:
            raise Conflict("dropout.closed", _("该台账已销号。"))
    return closed


# ----------------------------------------------------------------- reads


@dataclass
class CaseRow:
    case: DropoutCase
    last_follow_up: date | None
    follow_up_count: int
    days_since: int  # since the last follow-up, or since the case opened


def _rows(qs: QuerySet[DropoutCase], today: date) -> list[CaseRow]:
    rows = []
    for case in qs:
        last = getattr(case, "last_follow_up", None)
        rows.append(
            CaseRow(
                case=case,
                last_follow_up=last,
                follow_up_count=getattr(case, "follow_up_count", 0),
                days_since=max(0, (today - (last or case.opened_on)).days),
            )
        )
    return rows


def dropout_case_list(
    actor: Any,
    *,
    state: str = DropoutCaseState.OPEN,
    school_id: int | None = None,
    q: str = "",
) -> QuerySet[DropoutCase]:
    """Cases in scope (open ones by default), the longest without contact first (the last
    follow-up, or the opening of a case never followed up); each carries
    ``last_follow_up`` and ``follow_up_count``."""
    qs = cases_in_scope(actor)
    if state:
        qs = qs.filter(state=state)
    if school_id:
        qs = qs.filter(school_id=school_id)
    term = (q or "").strip()
    if term:
        qs = qs.filter(identity.number_q(term, field="student")) | qs.filter(student__name=term)
    return (
        qs.select_related("student", "school")
        .annotate(last_follow_up=Max("follow_ups__on"), follow_up_count=Count("follow_ups"))
        .annotate(last_contact=Coalesce(F("last_follow_up"), F("opened_on")))
        .order_by("last_contact", "pk")
    )


def dropout_case_rows(cases: Any, *, today: date | None = None) -> list[CaseRow]:
    """Rows of a (page of a) case list with the days since the last follow-up."""
    return _rows(cases, today or clock.today())


@dataclass
class CaseDetail:
    case: DropoutCase
    follow_ups: list[DropoutFollowUp]
    days_since: int
    may_follow_up: bool
    may_close: bool


def dropout_case_detail(actor: Any, *, case_id: int) -> CaseDetail:
    from xueji.accounts.permissions import has_permission

    case = access_case(actor, case_id)
    follow_ups = list(case.follow_ups.order_by("-on", "-pk"))
    last = follow_ups[0].on if follow_ups else None
    open_ = case.state == DropoutCaseState.OPEN
    may_write = open_ and has_permission(actor, Permission.DROPOUT_FOLLOW_UP)
    return CaseDetail(
        case=case,
        follow_ups=follow_ups,
        days_since=max(0, (clock.today() - (last or case.opened_on)).days),
        may_follow_up=may_write,
        may_close=may_write and may_close(actor),
    )
