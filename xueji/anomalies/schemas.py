from datetime import datetime
from typing import Any

from ninja import Schema


class StudentBrief(Schema):
    id: int
    number_masked: str
    name: str
    school_id: int | None
    school_name: str
    state: str


class FindingOut(Schema):
    id: int
    kind: str
    state: str
    student: StudentBrief
    other_student: StudentBrief | None
    unit_id: int
    unit_name: str
    school_year: int
    semester: int
    evidence: dict[str, Any]
    detected_at: datetime
    last_seen_at: datetime
    resolved_at: datetime | None
    resolved_by: str
    resolution: str
    resolution_note: str


class FindingPage(Schema):
    items: list[FindingOut]
    count: int


class ComparisonRow(Schema):
    label: str
    left: str
    right: str
    differs: bool


class FindingDetailOut(FindingOut):
    comparison: list[ComparisonRow]
    reasons: list[str]
    suggested_survivor_id: int | None
    merge_ids: list[int]


class ReasonIn(Schema):
    reason: str = ""


class MergeIn(Schema):
    survivor_id: int
    reason: str = ""


class MergeOut(Schema):
    id: int
    finding_id: int
    state: str
    survivor_id: int
    retired_id: int
    survivor_number_masked: str
    retired_number_masked: str
    reason: str
    merged_at: datetime
    merged_by: str
    undone_at: datetime | None
    undone_by: str
    undo_reason: str
    rows_changed: int
    rows_created: int


class VerdictOut(Schema):
    finding: FindingOut
    student_a_id: int
    student_b_id: int
    reason: str


class QualityCellOut(Schema):
    found: int
    open: int
    resolved: int
    dismissed: int


class QualityRowOut(Schema):
    school_year: int
    semester: int
    label: str
    kinds: dict[str, QualityCellOut]
    total: QualityCellOut


class QualityOut(Schema):
    rows: list[QualityRowOut]
    totals: dict[str, QualityCellOut]


class RowErrorOut(Schema):
    row: int | None
    field: str
    code: str
    message: str


class SightingImportOut(Schema):
    batch: str
    rows: int
    imported: int
    repeated: int
    errors: list[RowErrorOut]
