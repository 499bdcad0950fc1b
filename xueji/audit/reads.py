"""Read auditing: every read of a student's personal data leaves an audit event.

A view (page or API endpoint) that shows personal data calls ``note_read`` with the
students it shows — for a list, the students on the page — once it has them. The reads of
one request are collected here and written at the end of the request by
``ReadAuditMiddleware``: one bulk ``INSERT`` (``audit_record_many``) in one transaction on
the request's own connection, before the response leaves. If that write fails, the
response is replaced by an error: a read that cannot be audited is refused, the data is not
sent.

One ``AuditEvent`` per student read (``object_type`` ``students.student``, ``object_id``
the student's id), so "who has looked at this child" is the same index lookup as for the
writes, and the hash chain of the audit module covers reads like any other event. The rows
of one request share ``request_id`` and ``at``; ``detail`` names the view (its URL name,
never the query string: a search may hold an ID number), the kind of read, how many
students the answer held and the purpose where one was asked. A read that showed no
student (an empty list or search) writes one event without an object.

Outside a request (a management command, a task) ``note_read`` writes at once, in its own
transaction; an error there propagates to the caller.

``XUEJI["READ_AUDIT"]`` turns this off for the benchmark's baseline only; production
settings refuse it (``config/settings/prod.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from .events import AuditAction, ObjectType
from .services import audit_record_many

logger = logging.getLogger(__name__)


class ReadKind:
    """What kind of read a view made (``detail["kind"]``); plain strings, stored as they are."""

    LIST = "list"
    SEARCH = "search"
    DETAIL = "detail"
    AS_OF = "as_of"
    ROLL = "roll"
    CHANGE = "change"
    FINDING = "finding"
    ARCHIVE = "archive"
    PORTAL = "portal"
    EXPORT = "export"
    IMPORT_ERRORS = "import_errors"
    CHECK = "check"


@dataclass
class _Read:
    actor: Any
    action: AuditAction
    kind: str
    student_ids: list[int]
    view: str
    purpose: str = ""
    extra: dict = field(default_factory=dict)


@dataclass
class _Collector:
    request: HttpRequest
    reads: list[_Read] = field(default_factory=list)


_collector: ContextVar[_Collector | None] = ContextVar("xueji_read_audit", default=None)


def enabled() -> bool:
    return bool(settings.XUEJI.get("READ_AUDIT", True))


def _view_name(request: HttpRequest | None) -> str:
    match = getattr(request, "resolver_match", None) if request is not None else None
    if match is None:
        return ""
    return match.view_name or match.route or ""


def note_read(
    actor: Any,
    students: Iterable[Any],
    *,
    kind: str,
    view: str = "",
    purpose: str = "",
    action: AuditAction = AuditAction.STUDENT_READ,
    **extra: Any,
) -> None:
    """Record that ``actor`` was shown the personal data of ``students``.

    ``students`` are model instances or ids (the page's rows, in the order shown); ``view``
    defaults to the URL name of the current request; ``purpose`` is stored when a view asks
    for one; ``extra`` goes into ``detail`` (no personal data in it)."""
    if not enabled():
        return
    ids: list[int] = []
    seen: set[int] = set()
    for student in students:
        pk = student if isinstance(student, int) else getattr(student, "pk", None)
        if pk is not None and pk not in seen:
            seen.add(pk)
            ids.append(int(pk))
    collector = _collector.get()
    read = _Read(
        actor=actor,
        action=action,
        kind=kind,
        student_ids=ids,
        view=view or _view_name(collector.request if collector else None),
        purpose=purpose,
        extra=extra,
    )
    if collector is not None:
        collector.reads.append(read)
        return
    with transaction.atomic():
        _write([read])


def _events(read: _Read) -> list[dict]:
    detail: dict[str, Any] = {"view": read.view, "kind": read.kind, "count": len(read.student_ids)}
    if read.purpose:
        detail["purpose"] = read.purpose
    detail.update(read.extra)
    if not read.student_ids:
        return [{"action": read.action, "object_type": ObjectType.NONE, "detail": detail}]
    return [
        {
            "action": read.action,
            "object_type": ObjectType.STUDENT,
            "object_id": student_id,
            "detail": detail,
        }
        for student_id in read.student_ids
    ]


def _write(reads: list[_Read]) -> int:
    """One ``audit_record_many`` per actor (one in practice): one multi-row INSERT."""
    written = 0
    by_actor: dict[int, tuple[Any, list[dict]]] = {}
    for read in reads:
        actor, events = by_actor.setdefault(id(read.actor), (read.actor, []))
        events.extend(_events(read))
    for actor, events in by_actor.values():
        written += audit_record_many(actor=actor, events=events)
    return written


def pending() -> list[_Read]:
    """The reads collected so far in this request (tests and debugging)."""
    collector = _collector.get()
    return list(collector.reads) if collector else []


def _refused(request: HttpRequest) -> HttpResponse:
    message = _("访问记录无法写入审计日志，本次查询未返回数据，请稍后重试。")
    if request.path.startswith("/api/"):
        return JsonResponse({"code": "read_audit_failed", "detail": message}, status=503)
    return render(
        request,
        "web/error.html",
        {"error_message": message, "error_code": "read_audit_failed"},
        status=503,
    )


class ReadAuditMiddleware:
    """Collects the reads of a request and writes them before the response leaves.

    Sits inside ``RequestContextMiddleware`` (the events carry the request's origin) and
    after authentication. A streaming response is refused its data when the write fails
    just like any other: the write happens before the first byte is sent."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        collector = _Collector(request=request)
        token = _collector.set(collector)
        try:
            response = self.get_response(request)
        finally:
            _collector.reset(token)
        if not collector.reads:
            return response
        try:
            with transaction.atomic():
                _write(collector.reads)
        except Exception:
            logger.exception("read audit failed for %s; response withheld", _view_name(request))
            # The withheld response is dropped, not closed: closing it would signal the end
            # of the request (and close the database connection) while it is still running.
            return _refused(request)
        return response
