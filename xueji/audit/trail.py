"""The audit admin's reading of the trail (三员: the audit admin reads, nothing else).

An audit admin reads the events written by accounts of its unit's subtree, the system and
security admins' own actions included; the national audit admin also reads the events no
account wrote (scheduled jobs, guardians). "Who has looked at this child" lists every event
about one student of the subtree, whoever wrote it: the point is to see outside readers too.
Search by actor, student, action, object, time and address; export as csv or xlsx
(formula-safe, the export itself audited).
"""

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import xlsxwriter
from django.db import transaction
from django.db.models import Q, QuerySet, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from xueji.accounts.permissions import require_permission
from xueji.accounts.rules import Permission
from xueji.accounts.scope import EVERY_ROW, NO_ROW, scope_for
from xueji.accounts.selectors import units_in_subtree

from .events import AuditAction, ObjectType, action_label, object_type_label
from .models import AuditEvent
from .services import audit_record

# Most rows one export writes (a larger selection is refused: narrow the search).
EXPORT_MAX_ROWS = 100_000


def require_auditor(user) -> None:
    require_permission(user, Permission.AUDIT_VIEW)


def visible_q(user) -> Q:
    """Events written by accounts of the user's subtree (all of them for the nation)."""
    unit = getattr(user, "unit", None)
    if unit is None or not user.is_active:
        return NO_ROW
    if scope_for(user).everything:
        return EVERY_ROW
    return Q(unit_id__in=Subquery(units_in_subtree(user).values("pk")))


@dataclass(frozen=True)
class TrailFilters:
    actor: str = ""  # user name, exact or a part of it
    student: str = ""  # a student's id or student number
    action: str = ""
    object_type: str = ""
    object_id: str = ""
    date_from: date | None = None
    date_to: date | None = None
    ip: str = ""  # an address or its beginning (10.2.)

    def as_dict(self) -> dict:
        return {
            k: (v.isoformat() if isinstance(v, date) else v)
            for k, v in self.__dict__.items()
            if v not in ("", None)
        }


# Most students one "student" search term may name (a common name, say).
STUDENT_MATCHES = 50


def _student_pks(user, term: str) -> list[int]:
    """The ids of the students ``term`` names in the user's scope: an id (digits, up to 12),
    else what the student list's search finds (student number, ID number through the blind
    index, or the exact name)."""
    from xueji.students.permissions import students_in_scope
    from xueji.students.selectors import _search

    term = term.strip()
    if not term:
        return []
    qs = students_in_scope(user)
    if term.isdigit() and len(term) <= 12:
        return list(qs.filter(pk=int(term)).values_list("pk", flat=True))
    return list(_search(qs, term).order_by("pk").values_list("pk", flat=True)[:STUDENT_MATCHES])


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def search(user, filters: TrailFilters) -> QuerySet[AuditEvent]:
    """The events the auditor may read that match ``filters``, newest first."""
    require_auditor(user)
    qs = AuditEvent.objects.filter(visible_q(user))
    if filters.actor:
        qs = qs.filter(actor_username__icontains=filters.actor.strip())
    if filters.student:
        pks = _student_pks(user, filters.student)
        qs = qs.filter(object_type=ObjectType.STUDENT.value, object_id__in=[str(p) for p in pks])
    if filters.action:
        qs = qs.filter(action=filters.action)
    if filters.object_type:
        qs = qs.filter(object_type=filters.object_type)
    if filters.object_id:
        qs = qs.filter(object_id=filters.object_id.strip())
    if filters.date_from:
        qs = qs.filter(at__gte=_day_start(filters.date_from))
    if filters.date_to:
        qs = qs.filter(at__lt=_day_start(filters.date_to + timedelta(days=1)))
    if filters.ip:
        qs = qs.filter(ip__startswith=filters.ip.strip())
    return qs.order_by("-at", "-pk")


def home_summary(user) -> dict:
    """The audit admin's home page: the latest events of its subtree, today's count and the
    latest signed checkpoint."""
    from xueji import clock

    from .models import AuditCheckpoint
    from .views_trail import event_row

    qs = search(user, TrailFilters())
    checkpoint = AuditCheckpoint.objects.order_by("-pk").first()
    # The chain's integrity concerns every audit admin, whoever's rows broke it: the last
    # daily verification that failed, unless a checkpoint was signed after it.
    failed = (
        AuditEvent.objects.filter(action=AuditAction.AUDIT_VERIFY_FAILED.value)
        .order_by("-pk")
        .first()
    )
    if failed is not None and checkpoint is not None and checkpoint.at > failed.at:
        failed = None
    return {
        "rows": [event_row(e) for e in qs[:10]],
        "today": qs.filter(at__gte=_day_start(clock.today())).count(),
        "checkpoint": checkpoint,
        "verify_failed": failed,
    }


def student_for_auditor(user, student_id: int):
    """The student, when it lies in the auditor's scope; otherwise ``NotFound``."""
    from xueji.students.permissions import access_student

    require_auditor(user)
    return access_student(user, student_id=student_id)


def student_events(user, student) -> QuerySet[AuditEvent]:
    """Every event about the student (reads included), whoever wrote it, newest first."""
    require_auditor(user)
    return AuditEvent.objects.filter(
        object_type=ObjectType.STUDENT.value, object_id=str(student.pk)
    ).order_by("-at", "-pk")


def record_student_view(user, student) -> None:
    """Looking up who read a child is itself recorded."""
    with transaction.atomic():
        audit_record(
            actor=user,
            action=AuditAction.AUDIT_SEARCH,
            object_type=ObjectType.STUDENT,
            object_id=student.pk,
            summary="查看学生的审计记录（谁查看过该学生）",
            detail={"view": "audit.student"},
        )


# ---------------------------------------------------------------- export

HEADERS = (
    "时间",
    "操作人",
    "单位ID",
    "操作",
    "对象类型",
    "对象ID",
    "摘要",
    "来源IP",
    "渠道",
    "客户端",
    "请求ID",
)
_FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")


def inert(value) -> str:
    """A cell a spreadsheet shows as text, never runs as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_LEADS) else text


def _cells(event: AuditEvent) -> list[str]:
    return [
        inert(timezone.localtime(event.at).strftime("%Y-%m-%d %H:%M:%S")),
        inert(event.actor_username),
        inert(event.unit_id),
        inert(action_label(event.action)),
        inert(object_type_label(event.object_type)),
        inert(event.object_id),
        inert(event.summary),
        inert(event.ip),
        inert(event.channel),
        inert(event.user_agent),
        inert(event.request_id),
    ]


class ExportTooLarge(Exception):
    pass


def export(user, filters: TrailFilters, fmt: str) -> bytes:
    """The matching events as csv (UTF-8 with BOM) or xlsx; the export is audited in the
    same transaction (nothing is exported unrecorded)."""
    qs = search(user, filters)
    count = qs.count()
    if count > EXPORT_MAX_ROWS:
        raise ExportTooLarge(count)
    with transaction.atomic():
        audit_record(
            actor=user,
            action=AuditAction.AUDIT_EXPORT,
            object_type=ObjectType.AUDIT_TRAIL,
            summary=f"导出审计日志 {count} 条（{fmt}）",
            detail={"format": fmt, "rows": count, "filters": filters.as_dict()},
        )
        headers = [_(h) for h in HEADERS]
        rows = (_cells(e) for e in qs.iterator(chunk_size=2000))
        if fmt == "csv":
            out = io.StringIO()
            writer = csv.writer(out)
            writer.writerow(headers)
            writer.writerows(rows)
            return out.getvalue().encode("utf-8-sig")
        buffer = io.BytesIO()
        book = xlsxwriter.Workbook(
            buffer,
            {
                "in_memory": True,
                "constant_memory": True,
                "strings_to_formulas": False,
                "strings_to_urls": False,
                "strings_to_numbers": False,
            },
        )
        sheet = book.add_worksheet(_("审计日志"))
        bold = book.add_format({"bold": True})
        sheet.write_row(0, 0, headers, bold)
        sheet.set_column(0, 0, 20)
        sheet.set_column(1, 5, 14)
        sheet.set_column(6, 6, 60)
        for index, row in enumerate(rows, start=1):
            sheet.write_row(index, 0, row)
        book.close()
        return buffer.getvalue()
