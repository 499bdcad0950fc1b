from datetime import date, datetime
from typing import Any

from ninja import Schema
from pydantic import Field

from xueji.api_types import IsoDate


class StepOut(Schema):
    id: int
    seq: int
    party: str
    unit_id: int
    unit_name: str
    state: str
    days: int
    activated_on: date | None
    due_date: date | None
    calendar_missing: bool
    acted_at: datetime | None
    actor: str
    refusal_reason: str
    comment: str


class MaterialOut(Schema):
    id: int
    kind: str
    name: str
    content_type: str
    size: int
    sha256: str
    uploaded_at: datetime
    uploaded_by: str


class ChangeRow(Schema):
    id: int
    change_type: str
    state: str
    channel: str
    student_id: int
    student_number_masked: str
    student_name: str
    school_id: int
    school_name: str
    target_school_id: int | None
    target_school_name: str
    effective_date: date
    reason: str
    filed_at: datetime
    filed_by: str
    applicant_name_masked: str
    closed_at: datetime | None
    current_step: StepOut | None


class ChangeDetailOut(ChangeRow):
    # The full student number for the pending party of an open transfer and the clerk of
    # the student's school; null for everyone else.
    student_number: str | None
    payload: dict[str, Any]
    closed_reason: str
    national_ruleset_version: int | None
    province_ruleset_version: int | None
    rule: dict[str, Any]
    steps: list[StepOut]
    materials: list[MaterialOut]
    # The pending step the caller may handle now (approve / refuse), if any.
    handleable_step_id: int | None


class ChangePage(Schema):
    items: list[ChangeRow]
    next_cursor: int | None


class QueueItemOut(Schema):
    step: StepOut
    request: ChangeRow


class ChangeIn(Schema):
    """A change other than a transfer, for a student in the caller's scope."""

    student_id: int
    change_type: str
    effective_date: IsoDate | None = Field(None, description="不填则为今天")
    reason: str = ""
    payload: dict[str, Any] = {}
    target_school_id: int | None = None


class TransferIn(Schema):
    """The receiving school starts a transfer; an authority names the receiving school."""

    student_number: str
    student_name: str
    effective_date: IsoDate | None = None
    reason: str = ""
    payload: dict[str, Any] = Field(
        default_factory=dict, description="grade / class_name / programme（均可选）"
    )
    target_school_id: int | None = None


class RefuseIn(Schema):
    refusal_reason: str
    comment: str


class WithdrawIn(Schema):
    reason: str
