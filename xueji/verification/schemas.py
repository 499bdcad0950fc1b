from datetime import date, datetime

from ninja import Schema
from pydantic import Field

from xueji.api_types import IsoDate


class CampaignIn(Schema):
    province_code: str = Field(
        "", description="'' for a national campaign, else the province's 2 digits"
    )
    school_year: int = Field(description="the school year, named by its autumn (2025 = 2025–2026)")
    semester: int = Field(description="1 autumn, 2 spring")
    deadline: IsoDate
    title: str = ""


class CampaignOut(Schema):
    id: int
    province_code: str
    scope_name: str
    school_year: int
    semester: int
    title: str
    deadline: date
    state: str
    schools_total: int
    opened_at: datetime
    opened_by: str
    closed_at: datetime | None


class ProgressRowOut(Schema):
    key: str
    name: str
    schools: int
    signed_off: int
    overdue: int
    students: int
    marked: int
    present: int
    absent: int
    data_wrong: int
    unmarked: int
    percent: int
    signed_percent: int
    school_id: int | None
    state: str


class ProgressOut(Schema):
    campaign: CampaignOut
    area: str
    level: str
    rows: list[ProgressRowOut]
    total: ProgressRowOut


class ConfirmationOut(Schema):
    campaign_id: int
    school_id: int
    school_name: str
    state: str
    total: int
    present: int
    absent: int
    data_wrong: int
    unmarked: int
    overdue: bool
    roll_opened_at: datetime | None
    signed_off_at: datetime | None
    signed_off_by: str
    note: str


class RollItemOut(Schema):
    student_id: int
    number_masked: str
    name: str
    grade: str
    class_name: str
    mark: str
    note: str
    marked_at: datetime | None
    marked_by: str


class RollOut(Schema):
    confirmation: ConfirmationOut
    items: list[RollItemOut]
    next_cursor: int | None


class MarkIn(Schema):
    student_ids: list[int] = Field(min_length=1, max_length=5000)
    mark: str = Field(description="present, absent, data_wrong or unmarked")
    note: str = Field("", max_length=255)


class AllPresentIn(Schema):
    except_ids: dict[int, str] = Field(
        default_factory=dict, description="student id → the mark that student gets instead"
    )
    grade: str = ""
    class_name: str = ""


class SignOffIn(Schema):
    note: str = Field("", max_length=2000)
