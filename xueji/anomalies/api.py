"""Anomalies over the API: the review queue, one finding with its evidence, merges and
their undo, "different people", dismissal, the quality figures, attendance lists.
Bodies parse, call one selector or service, and shape output."""

from dataclasses import asdict
from typing import Any

from django.http import HttpRequest
from ninja import File, Form, Router, Status
from ninja.files import UploadedFile

from xueji.audit.reads import ReadKind, note_read
from xueji.i18n import gettext_lazy_str as _
from xueji.paging import offset_query
from xueji.students.models import Student

from . import selectors, services
from .models import Finding, MergeRecord
from .schemas import (
    FindingDetailOut,
    FindingOut,
    FindingPage,
    MergeIn,
    MergeOut,
    QualityOut,
    ReasonIn,
    SightingImportOut,
    VerdictOut,
)

router = Router(tags=[_("学籍异常")])


def _student(student: Student | None) -> dict[str, Any] | None:
    if student is None:
        return None
    record = getattr(student, "record", None)
    return {
        "id": student.pk,
        "number_masked": student.number_masked,
        "name": student.name,
        "school_id": record.school_id if record else None,
        "school_name": record.school.name if record else "",
        "state": record.state if record else "",
    }


def finding_of(finding: Finding) -> dict[str, Any]:
    return {
        "id": finding.pk,
        "kind": finding.kind,
        "state": finding.state,
        "student": _student(finding.student),
        "other_student": _student(finding.other_student),
        "unit_id": finding.unit_id,
        "unit_name": finding.unit.name,
        "school_year": finding.school_year,
        "semester": finding.semester,
        "evidence": finding.evidence,
        "detected_at": finding.detected_at,
        "last_seen_at": finding.last_seen_at,
        "resolved_at": finding.resolved_at,
        "resolved_by": finding.resolved_by_username,
        "resolution": finding.resolution,
        "resolution_note": finding.resolution_note,
    }


def merge_of(merge: MergeRecord) -> dict[str, Any]:
    snapshot = merge.snapshot or {}
    return {
        "id": merge.pk,
        "finding_id": merge.finding_id,
        "state": merge.state,
        "survivor_id": merge.survivor_id,
        "retired_id": merge.retired_id,
        "survivor_number_masked": merge.survivor_number,
        "retired_number_masked": merge.retired_number,
        "reason": merge.reason,
        "merged_at": merge.merged_at,
        "merged_by": merge.merged_by_username,
        "undone_at": merge.undone_at,
        "undone_by": merge.undone_by_username,
        "undo_reason": merge.undo_reason,
        "rows_changed": len(snapshot.get("updated", [])),
        "rows_created": len(snapshot.get("created", [])),
    }


def _detail(user: Any, finding_id: int) -> dict[str, Any]:
    detail = selectors.finding_detail(user, finding_id=finding_id)
    note_read(
        user, [side.student for side in detail.sides], kind=ReadKind.FINDING, finding=finding_id
    )
    finding = detail.finding
    finding.student = detail.sides[0].student
    if len(detail.sides) > 1:
        finding.other_student = detail.sides[1].student
    return {
        **finding_of(finding),
        "comparison": [
            {"label": row.label, "left": row.left, "right": row.right, "differs": row.differs}
            for row in detail.comparison
        ],
        "reasons": detail.reasons,
        "suggested_survivor_id": detail.suggested_survivor,
        "merge_ids": [merge.pk for merge in detail.merges],
    }


@router.get(
    "/anomalies/findings",
    response=FindingPage,
    summary=_("学籍异常列表（本单位或下级单位，按类别、状态筛选）"),
)
def list_findings(
    request: HttpRequest,
    tab: str = "unit",
    kind: str = "",
    state: str = "open",
    offset: int = offset_query(),
    limit: int = 50,
):
    """``tab``: ``unit`` (routed to the account's own unit) or ``subtree`` (to the units
    below it); ``state``: ``open``, ``resolved``, ``dismissed`` or '' for any."""
    rows = selectors.finding_list(request.auth, tab=tab, kind=kind, state=state)  # type: ignore[attr-defined]
    offset, limit = max(0, offset), max(1, min(limit, 200))
    shown = list(rows[offset : offset + limit])
    note_read(request.auth, selectors.finding_students(shown), kind=ReadKind.FINDING)  # type: ignore[attr-defined]
    return {
        "items": [finding_of(f) for f in shown],
        "count": rows.count(),
    }


@router.get(
    "/anomalies/findings/{int:finding_id}",
    response=FindingDetailOut,
    summary=_("一条学籍异常：依据；重复学籍两条记录对照（证件号脱敏）"),
)
def get_finding(request: HttpRequest, finding_id: int):
    return _detail(request.auth, finding_id)  # type: ignore[attr-defined]


@router.post(
    "/anomalies/findings/{int:finding_id}/merge",
    response={201: MergeOut},
    summary=_("合并重复学籍（保留一条，另一条注销；可撤销）"),
)
def merge_finding(request: HttpRequest, finding_id: int, payload: MergeIn):
    merge = services.finding_merge(
        actor=request.auth,  # type: ignore[attr-defined]
        finding_id=finding_id,
        survivor_id=payload.survivor_id,
        reason=payload.reason,
    )
    return Status(201, merge_of(merge))


@router.post(
    "/anomalies/findings/{int:finding_id}/different",
    response=VerdictOut,
    summary=_("确认两条学籍不是同一人（今后不再提示）"),
)
def mark_different(request: HttpRequest, finding_id: int, payload: ReasonIn):
    user = request.auth  # type: ignore[attr-defined]
    verdict = services.finding_mark_different(
        actor=user, finding_id=finding_id, reason=payload.reason
    )
    return {
        "finding": _detail(user, finding_id),
        "student_a_id": verdict.student_a_id,
        "student_b_id": verdict.student_b_id,
        "reason": verdict.reason,
    }


@router.post(
    "/anomalies/findings/{int:finding_id}/dismiss",
    response=FindingOut,
    summary=_("核实无误，排除一条异常（本学期不再提示）"),
)
def dismiss_finding(request: HttpRequest, finding_id: int, payload: ReasonIn):
    user = request.auth  # type: ignore[attr-defined]
    services.finding_dismiss(actor=user, finding_id=finding_id, reason=payload.reason)
    return _detail(user, finding_id)


@router.get("/anomalies/merges/{int:merge_id}", response=MergeOut, summary=_("一次学籍合并"))
def get_merge(request: HttpRequest, merge_id: int):
    user = request.auth  # type: ignore[attr-defined]
    merge = selectors.merge_detail(user, merge_id=merge_id)
    note_read(user, [merge.survivor_id, merge.retired_id], kind=ReadKind.FINDING, merge=merge_id)
    return merge_of(merge)


@router.post(
    "/anomalies/merges/{int:merge_id}/undo",
    response=MergeOut,
    summary=_("撤销学籍合并（两条学籍完全恢复；合并后已有变动时拒绝）"),
)
def undo_merge(request: HttpRequest, merge_id: int, payload: ReasonIn):
    merge = services.merge_undo(
        actor=request.auth,  # type: ignore[attr-defined]
        merge_id=merge_id,
        reason=payload.reason,
    )
    return merge_of(merge)


@router.get(
    "/anomalies/quality",
    response=QualityOut,
    summary=_("学籍质量统计：各类异常按学期的发现、待处理、已解决、已排除数"),
)
def get_quality(request: HttpRequest):
    figures = selectors.quality(request.auth)  # type: ignore[attr-defined]
    return {
        "rows": [
            {
                "school_year": row.school_year,
                "semester": row.semester,
                "label": row.label,
                "kinds": {kind: asdict(cell) for kind, cell in row.cells.items()},
                "total": asdict(row.total),
            }
            for row in figures.rows
        ],
        "totals": {kind: asdict(cell) for kind, cell in figures.totals.items()},
    }


@router.post(
    "/anomalies/sightings",
    response=SightingImportOut,
    summary=_("导入在校名单（学籍号、学校标识码、在校日期；逐行报告错误）"),
)
def import_sightings(request: HttpRequest, file: File[UploadedFile], source: Form[str] = ""):
    result = services.sightings_import(
        actor=request.auth,  # type: ignore[attr-defined]
        upload=file,
        source=source,
    )
    return {
        "batch": result.batch,
        "rows": result.rows,
        "imported": result.imported,
        "repeated": result.repeated,
        "errors": [
            {"row": e.row, "field": e.field, "code": e.code, "message": str(e.message)}
            for e in result.errors
        ],
    }
