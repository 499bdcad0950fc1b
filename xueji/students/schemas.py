from datetime import date, datetime
from typing import Any

from ninja import Schema


class StudentRow(Schema):
    id: int
    number_masked: str
    number_kind: str
    name: str
    sex: str
    birth_date: date
    id_type: str
    id_number_masked: str
    school_id: int
    school_name: str
    stage: str
    grade: str
    class_name: str
    state: str


class StudentPage(Schema):
    items: list[StudentRow]
    next_cursor: int | None


class GuardianOut(Schema):
    id: int
    name: str
    relation: str
    id_type: str
    id_number_masked: str
    phone_masked: str


class NumberOut(Schema):
    number: str | None  # full only where the detail shows it (see StudentDetailOut.number)
    number_masked: str
    kind: str
    issued_at: datetime
    retired_at: datetime | None
    reason: str


class EventOut(Schema):
    kind: str
    # What a person reads: the change type for a completed change (转学), else the kind.
    title: str
    # What the change did ("从A学校转入B学校", "年级由三年级改为二年级"); '' otherwise.
    change: str
    effective_date: date
    occurred_at: datetime
    actor: str
    from_state: str
    to_state: str
    school_id: int
    school_name: str
    stage: str
    grade: str
    class_name: str
    reason: str
    batch: str
    change_type: str
    request_id: int | None


class StudentDetailOut(StudentRow):
    # The full student number for the clerk of the student's school and the pending party
    # of an open transfer; null for everyone else (POST …/reveal with field "number").
    number: str | None
    former_name: str
    name_pinyin: str
    birthplace_code: str
    native_place_code: str
    ethnicity: str
    nationality: str
    id_valid_until: date | None
    hmt_code: str
    household_place_code: str
    household_type: str
    health: str
    entry_date: date
    entry_mode: str
    attendance: str
    programme: str
    frozen: bool
    guardians: list[GuardianOut]
    non_basic: dict[str, Any]
    numbers: list[NumberOut]
    history: list[EventOut]


class GuardianIn(Schema):
    name: str
    relation: str = ""
    id_type: str = ""
    id_number: str = ""
    phone: str = ""


class RegistrationIn(Schema):
    school_code: str
    name: str
    former_name: str = ""
    name_pinyin: str = ""
    sex: str
    birth_date: str = ""
    birthplace_code: str = ""
    native_place_code: str = ""
    ethnicity: str = ""
    nationality: str = "CHN"
    id_type: str = ""
    id_number: str = ""
    id_valid_until: str = ""
    hmt_code: str = ""
    household_place_code: str = ""
    household_type: str = ""
    health: str = ""
    grade: str
    class_name: str = ""
    entry_date: str
    entry_mode: str = ""
    attendance: str = ""
    guardians: list[GuardianIn] = []
    non_basic: dict[str, Any] = {}


class RegisterIn(RegistrationIn):
    confirm_distinct: bool = False
    reactivate: bool = False


class ErrorItem(Schema):
    field: str
    code: str
    message: str
    value: str | None = None


class CandidateOut(Schema):
    student_id: int
    number_masked: str
    name: str
    birth_date: date
    sex: str
    school_name: str
    state: str
    score: int
    reasons: list[str]


class ValidationOut(Schema):
    """The check's answer. An exact match outside the clerk's scope comes as
    ``existing_outside`` with ``existing_message`` (school and county only, no number);
    candidates outside scope are not listed: ``outside_candidates`` and its message."""

    ok: bool
    errors: list[ErrorItem]
    existing_number_masked: str | None = None
    existing_action: str = ""
    existing_outside: bool = False
    existing_message: str = ""
    candidates: list[CandidateOut]
    outside_candidates: bool = False
    outside_message: str = ""
    number_kind: str = ""


class RegisterOut(Schema):
    student: StudentDetailOut
    reactivated: bool


class AsOfOut(Schema):
    date: date
    found: bool
    event: EventOut | None = None


class SchemaFieldIn(Schema):
    key: str
    label: str
    label_en: str = ""
    type: str = "text"
    required: bool = False
    max_length: int = 200
    code_table: str = ""


class NonBasicSchemaIn(Schema):
    fields: list[SchemaFieldIn]
    note: str = ""


class NonBasicSchemaOut(Schema):
    id: int
    province_code: str
    version: int
    fields: list[dict[str, Any]]
    filed_at: datetime
    filed_by: str
    note: str


class RevealIn(Schema):
    field: str
    reason: str = ""


class RevealOut(Schema):
    value: str


class CorrectIn(Schema):
    """A correction of basic information: field → new value (registration's field names and
    formats), and why."""

    changes: dict[str, Any]
    reason: str = ""
