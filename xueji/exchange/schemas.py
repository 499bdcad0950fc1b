from datetime import datetime
from uuid import UUID

from ninja import Schema


class ImportJobOut(Schema):
    id: UUID
    kind: str
    mode: str
    status: str
    file_name: str
    total_rows: int
    processed_rows: int
    percent: int
    created_count: int
    skipped_count: int
    error_count: int
    message: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class ImportErrorOut(Schema):
    row: int
    column: str
    value: str  # masked: ImportRowError.value_masked
    code: str
    message: str

    @staticmethod
    def resolve_value(obj) -> str:
        return obj.value_masked
