"""The dropout-control ledger over the API: the cases in scope, one case with its
follow-ups, adding a follow-up, and closing a case (authorities). Bodies parse, call one
selector or service, and shape the output."""

from datetime import date, datetime

from django.http import HttpRequest
from ninja import Query, Router, Schema, Status

from xueji.api_types import Integer, IsoDate
from xueji.audit.reads import ReadKind, note_read
from xueji.i18n import gettext_lazy_str as _
from xueji.paging import offset_field
from xueji.web import search

from . import ledger
from .models import DropoutCase, DropoutCaseState, DropoutFollowUp

router = Router(tags=[_("控辍保学台账")])


class CaseQuery(Schema):
    state: str = DropoutCaseState.OPEN  # '' for every state
    q: str = ""
    school_id: Integer | None = None
    offset: Integer = offset_field()
    limit: Integer = 50


class FollowUpOut(Schema):
    id: int
    on: date
    method: str
    result: str
    next_step: str
    by: str
    created_at: datetime


class CaseOut(Schema):
    id: int
    student_id: int
    student_number_masked: str
    student_name: str
    school_id: int
    school_name: str
    stage: str
    grade: str
    opened_on: date
    request_id: int | None
    state: str
    closed_on: date | None
    closed_reason: str
    last_follow_up: date | None
    follow_up_count: int
    days_since_contact: int


class CasePage(Schema):
    count: int
    items: list[CaseOut]


class CaseDetailOut(CaseOut):
    follow_ups: list[FollowUpOut]


class FollowUpIn(Schema):
    on: IsoDate
    method: str
    result: str
    next_step: str = ""


class CloseIn(Schema):
    reason: str = ""


def _case_of(row: ledger.CaseRow) -> dict:
    case: DropoutCase = row.case
    return {
        "id": case.pk,
        "student_id": case.student_id,
        "student_number_masked": case.student.number_masked,
        "student_name": case.student.name,
        "school_id": case.school_id,
        "school_name": case.school.name,
        "stage": case.stage,
        "grade": case.grade,
        "opened_on": case.opened_on,
        "request_id": case.request_id,
        "state": case.state,
        "closed_on": case.closed_on,
        "closed_reason": case.closed_reason,
        "last_follow_up": row.last_follow_up,
        "follow_up_count": row.follow_up_count,
        "days_since_contact": row.days_since,
    }


def _follow_up_of(item: DropoutFollowUp) -> dict:
    return {
        "id": item.pk,
        "on": item.on,
        "method": item.method,
        "result": item.result,
        "next_step": item.next_step,
        "by": item.by_username,
        "created_at": item.created_at,
    }


@router.get(
    "/dropouts", response=CasePage, summary=_("控辍保学台账（默认只列跟踪中的，久未跟进的在前）")
)
def list_dropout_cases(request: HttpRequest, query: Query[CaseQuery]):
    search.refuse_in_url(query.q, search_path="/api/dropouts/search")
    return _case_page(request, query)


@router.post(
    "/dropouts/search",
    response=CasePage,
    summary=_("按学籍号或姓名检索控辍保学台账（检索词在请求正文中，不进网址）"),
)
def search_dropout_cases(request: HttpRequest, query: CaseQuery):
    return _case_page(request, query)


def _case_page(request: HttpRequest, query: CaseQuery) -> dict:
    user = request.auth  # type: ignore[attr-defined]
    cases = ledger.dropout_case_list(user, state=query.state, q=query.q, school_id=query.school_id)
    offset = max(0, query.offset)
    limit = max(1, min(query.limit, 500))
    rows = ledger.dropout_case_rows(cases[offset : offset + limit])
    note_read(user, [row.case.student_id for row in rows], kind=ReadKind.CHANGE)
    return {"count": cases.count(), "items": [_case_of(row) for row in rows]}


@router.get("/dropouts/{int:case_id}", response=CaseDetailOut, summary=_("一条台账及其跟进记录"))
def get_dropout_case(request: HttpRequest, case_id: int):
    user = request.auth  # type: ignore[attr-defined]
    detail = ledger.dropout_case_detail(user, case_id=case_id)
    note_read(user, [detail.case.student_id], kind=ReadKind.CHANGE, dropout_case=case_id)
    last = max((f.on for f in detail.follow_ups), default=None)
    row = ledger.CaseRow(detail.case, last, len(detail.follow_ups), detail.days_since)
    return {**_case_of(row), "follow_ups": [_follow_up_of(f) for f in detail.follow_ups]}


@router.post(
    "/dropouts/{int:case_id}/follow-ups",
    response={201: FollowUpOut},
    summary=_("登记一次跟进（学校或其主管部门）"),
)
def add_dropout_follow_up(request: HttpRequest, case_id: int, payload: FollowUpIn):
    follow_up = ledger.dropout_follow_up_add(
        actor=request.auth,  # type: ignore[attr-defined]
        case_id=case_id,
        on=payload.on,
        method=payload.method,
        result=payload.result,
        next_step=payload.next_step,
    )
    return Status(201, _follow_up_of(follow_up))


@router.post(
    "/dropouts/{int:case_id}/close",
    response=CaseDetailOut,
    summary=_("因学生复学以外的原因销号（学籍主管部门）"),
)
def close_dropout_case(request: HttpRequest, case_id: int, payload: CloseIn):
    user = request.auth  # type: ignore[attr-defined]
    ledger.dropout_case_close(actor=user, case_id=case_id, reason=payload.reason)
    return get_dropout_case(request, case_id)
