"""The audit admin's API: the same selectors as the pages (xueji/audit/trail.py)."""

from datetime import datetime

from django.http import HttpRequest
from ninja import Query, Router, Schema

from xueji.api_types import IsoDate
from xueji.i18n import gettext_lazy_str as _
from xueji.web import search

from . import trail
from .events import action_label, object_type_label

router = Router(tags=[_("审计日志")])


class TrailQuery(Schema):
    actor: str = ""
    student: str = ""
    action: str = ""
    object_type: str = ""
    object_id: str = ""
    date_from: IsoDate | None = None
    date_to: IsoDate | None = None
    ip: str = ""
    offset: int = 0
    limit: int = 50


class EventOut(Schema):
    id: int
    at: datetime
    actor_id: int | None
    actor_username: str
    unit_id: int | None
    action: str
    action_label: str
    object_type: str
    object_label: str
    object_id: str
    summary: str
    detail: dict
    ip: str | None
    user_agent: str
    channel: str
    request_id: str
    row_hash: str


class EventPage(Schema):
    count: int
    items: list[EventOut]


def _page(qs, offset: int, limit: int) -> dict:
    offset = max(0, offset)
    rows = list(qs[offset : offset + max(1, min(limit, 500))])
    return {
        "count": qs.count(),
        "items": [
            {
                "id": e.pk,
                "at": e.at,
                "actor_id": e.actor_id,
                "actor_username": e.actor_username,
                "unit_id": e.unit_id,
                "action": e.action,
                "action_label": action_label(e.action),
                "object_type": e.object_type,
                "object_label": object_type_label(e.object_type),
                "object_id": e.object_id,
                "summary": e.summary,
                "detail": e.detail,
                "ip": e.ip,
                "user_agent": e.user_agent,
                "channel": e.channel,
                "request_id": e.request_id,
                "row_hash": e.row_hash,
            }
            for e in rows
        ],
    }


@router.get(
    "/audit/events",
    response=EventPage,
    summary=_(
        "审计日志（本单位及下级单位账号的操作；按操作人、学生、操作、对象、时间、来源IP查询）"
    ),
)
def list_audit_events(request: HttpRequest, query: Query[TrailQuery]):
    # A student's internal id (digits, up to 12) may stay in the URL; a student or ID
    # number goes in the body of POST /api/audit/events/search.
    if not (query.student.strip().isdigit() and len(query.student.strip()) <= 12):
        search.refuse_in_url(query.student, search_path="/api/audit/events/search")
    return _events(request, query)


@router.post(
    "/audit/events/search",
    response=EventPage,
    summary=_("审计日志查询（学生的学籍号或身份证件号在请求正文中，不进网址）"),
)
def search_audit_events(request: HttpRequest, query: TrailQuery):
    return _events(request, query)


def _events(request: HttpRequest, query: TrailQuery) -> dict:
    user = request.auth  # type: ignore[attr-defined]
    filters = trail.TrailFilters(
        actor=query.actor,
        student=query.student,
        action=query.action,
        object_type=query.object_type,
        object_id=query.object_id,
        date_from=query.date_from,
        date_to=query.date_to,
        ip=query.ip,
    )
    return _page(trail.search(user, filters), query.offset, query.limit)


class PageQuery(Schema):
    offset: int = 0
    limit: int = 50


@router.get(
    "/audit/students/{student_id}/events",
    response=EventPage,
    summary=_("谁查看过该学生：该学生的全部查阅和操作记录（本次查询记入审计日志）"),
)
def student_audit_events(request: HttpRequest, student_id: int, query: Query[PageQuery]):
    user = request.auth  # type: ignore[attr-defined]
    student = trail.student_for_auditor(user, student_id)
    if query.offset == 0:
        trail.record_student_view(user, student)
    return _page(trail.student_events(user, student), query.offset, query.limit)
