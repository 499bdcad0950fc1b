from datetime import date, datetime

from ninja import Schema

from xueji.api_types import IsoDate

from .models import BatchRun


class PromotionIn(Schema):
    # A 10-digit school code, a division code (440106, 440100, 440000) or '' for the nation.
    scope: str
    school_year: int
    cutoff: IsoDate


class GraduationIn(Schema):
    school: str
    cutoff: IsoDate
    # '1' primary, '2' junior, '3' senior; required at schools with several stages.
    stage: str = ""
    completed: list[str] = []
    left: list[str] = []
    school_year: int | None = None


class BatchRunOut(Schema):
    id: int
    batch: str
    kind: str
    state: str
    scope_area: str
    school_id: int | None
    scope_label: str
    school_year: int
    cutoff: date
    planned_count: int
    changed_count: int
    chunks_total: int
    chunks_done: int
    percent: int
    message: str
    created_by: str
    confirmed_by: str
    created_at: datetime
    confirmed_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None

    @staticmethod
    def resolve_batch(obj: BatchRun) -> str:
        return obj.batch_key

    @staticmethod
    def resolve_created_by(obj: BatchRun) -> str:
        return obj.created_by.username if obj.created_by else ""

    @staticmethod
    def resolve_confirmed_by(obj: BatchRun) -> str:
        return obj.confirmed_by.username if obj.confirmed_by else ""


class BatchRunDetailOut(BatchRunOut):
    # The dry run's report (counts per school and grade, conflicts) and the real run's
    # counts so far ({"by_key": {new grade or state: n}, "by_school": {id: {...}}}).
    report: dict
    counts: dict
