"""School import from xlsx/csv: few rows, so one ORM insert per school is fine here."""

from pathlib import Path

from django.db import transaction
from django.utils.translation import gettext as _

from xueji.accounts.scope import scope_for
from xueji.accounts.services import unit_ensure_for_school
from xueji.audit.events import AuditAction, ObjectType
from xueji.audit.services import audit_record
from xueji.divisions.selectors import current_county_codes
from xueji.schools.models import School
from xueji.schools.validation import clean_school

from .columns import SCHOOL_COLUMNS, label_of
from .loader import iter_chunks
from .readers import ImportFileError, open_import_file
from .student_import import ImportOutcome, RowError


def _plain(data: dict) -> dict:
    """Codes typed into General cells arrive from xlsx as numbers (4401060001.0): as text."""
    return {
        key: str(int(value)) if isinstance(value, float) and value.is_integer() else value
        for key, value in data.items()
    }


class SchoolImport:
    def __init__(self, *, actor, mode: str, batch: str) -> None:
        self.actor = actor
        self.mode = mode
        self.batch = batch
        self.outcome = ImportOutcome(batch=batch)

    def run(self, path: Path, file_name: str) -> ImportOutcome:
        try:
            opened = open_import_file(path, file_name, SCHOOL_COLUMNS)
            rows = [(row_no, _plain(data)) for row_no, data in opened.rows]
            self.outcome.warnings.extend(opened.warnings)
        except ImportFileError as exc:
            self.outcome.rejected = True
            self.outcome.file_error = exc.message
            self.outcome.errors.append(RowError(0, _("文件"), "", exc.code, exc.message))
            return self.outcome
        counties = current_county_codes()
        scope = scope_for(self.actor)
        existing = set(
            School.objects.filter(
                code__in=[str(r.get("code", "")).strip() for _, r in rows]
            ).values_list("code", flat=True)
        )
        seen: dict[str, int] = {}
        valid = []
        for row_no, data in rows:
            clean, errors = clean_school(data, county_codes=counties)
            if errors or clean is None:
                self.outcome.error_rows += 1
                for e in errors:
                    self.outcome.errors.append(
                        RowError(
                            row_no,
                            label_of(SCHOOL_COLUMNS, e.field),
                            e.value,
                            e.code,
                            str(e.message),
                        )
                    )
                continue
            if not scope.covers_area(clean.area_code):
                self._fail(
                    row_no,
                    "division_code",
                    clean.division_code,
                    "scope.outside",
                    _("该区县不在您的管理范围内"),
                )
            elif clean.code in seen:
                self._fail(
                    row_no,
                    "code",
                    clean.code,
                    "file.duplicate_code",
                    _("与本文件第 %d 行的学校标识码重复") % seen[clean.code],
                )
            elif clean.code in existing:
                self.outcome.skipped += 1
            else:
                seen[clean.code] = row_no
                valid.append(clean)
        self.outcome.total_rows = self.outcome.processed_rows = len(rows)
        if self.outcome.error_rows and self.mode == "all_or_nothing":
            self.outcome.rejected = True
            return self.outcome
        with transaction.atomic():
            for part in iter_chunks(valid, 500):
                for clean in part:
                    school = School.objects.create(**clean.__dict__)
                    unit_ensure_for_school(school)
            audit_record(
                actor=self.actor,
                action=AuditAction.IMPORT_SCHOOLS,
                object_type=ObjectType.IMPORT_JOB,
                object_id=self.batch,
                summary=f"批量导入学校 {len(valid)} 所",
                detail={"codes": [c.code for c in valid][:1000]},
            )
        self.outcome.created = len(valid)
        return self.outcome

    def _fail(self, row_no: int, key: str, value: str, code: str, message: str) -> None:
        self.outcome.error_rows += 1
        self.outcome.errors.append(
            RowError(row_no, label_of(SCHOOL_COLUMNS, key), value, code, message)
        )
