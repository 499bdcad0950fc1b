"""The bulk student import: read → validate → duplicate check → number → stage → merge.

Every row is checked with the same ``clean_registration`` as the registration form. The
duplicate check is registration's too: the same ID anywhere in the registry, in any state,
or earlier in the file; then ``duplicates.match`` (similar name and the same birth date or
its day/month swap and sex, or a guardian in common; never two different resident ID
numbers) against the registry and against the earlier rows of the file, set-based. Rows
already on the roll of the same school are skipped, so importing a file twice creates
nothing new.

In ``all_or_nothing`` mode a single bad row leaves the registry untouched; in
``valid_rows`` mode the good rows are loaded and the bad ones reported. Either way the
load is one transaction: nothing half-written remains.
"""

import logging
import multiprocessing
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from xueji import clock
from xueji.accounts.scope import scope_for
from xueji.audit.events import AuditAction, ObjectType
from xueji.audit.services import audit_record
from xueji.divisions.selectors import division_full_name
from xueji.enrolment.rules import ON_ROLL, EventKind
from xueji.errors import FieldError
from xueji.schools.models import School
from xueji.schools.rules import SchoolState, SchoolType, grade_allowed
from xueji.students import disclosure, duplicates, identity
from xueji.students.models import NonBasicSchema, NumberKind, Student
from xueji.students.nonbasic import SchemaField, schema_fields
from xueji.students.numbering import NumberIssuer, kind_for
from xueji.students.services import schema_for_province
from xueji.students.validation import CleanRegistration, CodeBook, clean_registration, code_text

from .columns import STUDENT_COLUMNS, Column, label_of
from .loader import StudentStage, iter_chunks, stage_row
from .readers import ImportFileError, open_import_file

logger = logging.getLogger(__name__)
MAX_STORED_ERRORS = 100_000
CLEAN_BATCH_ROWS = 1_000  # rows per task sent to a cleaning worker
Cleaned = tuple[CleanRegistration | None, list[FieldError]]


@dataclass
class RowError:
    row: int
    column: str
    value: str
    code: str
    message: str


@dataclass
class ImportOutcome:
    total_rows: int = 0
    processed_rows: int = 0
    created: int = 0
    skipped: int = 0
    error_rows: int = 0
    errors: list[RowError] = field(default_factory=list)
    rejected: bool = False
    file_error: str = ""
    batch: str = ""
    warnings: list[str] = field(default_factory=list)


Progress = Callable[[ImportOutcome], None]


def student_import_columns() -> tuple[Column, ...]:
    """The template's columns plus every non-basic field a province (or the nation) has
    filed, headed by its Chinese label, so that a province's own fields can be imported."""
    columns = list(STUDENT_COLUMNS)
    keys = {c.key for c in columns}
    headers = {h for c in columns for h in (c.header, *c.aliases)}
    for raw in NonBasicSchema.objects.order_by("province_code", "version").values_list(
        "fields", flat=True
    ):
        for schema_field in schema_fields(raw):
            if schema_field.key not in keys and schema_field.label not in headers:
                columns.append(Column(schema_field.key, schema_field.label))
                keys.add(schema_field.key)
                headers.add(schema_field.label)
    return tuple(columns)


def _school_code(value) -> str:
    """The school code as ``clean_registration`` reads it (an xlsx number loses its .0,
    full-width digits become ASCII)."""
    return code_text(value)


@dataclass
class _SchoolFacts:
    id: int
    area_code: str
    province_code: str
    school_type: str
    state: str
    name: str


@dataclass(frozen=True)
class _Registered:
    """A registered student holding an ID number a row carries."""

    student_id: int
    number_masked: str
    school_id: int | None
    state: str | None
    area_code: str
    school_name: str
    division_code: str


class StudentImport:
    def __init__(self, *, actor, mode: str, batch: str, progress: Progress | None = None) -> None:
        self.actor = actor
        self.mode = mode
        self.batch = batch
        self.progress = progress
        self.book = CodeBook.load()
        self.today = clock.today()
        self.scope = scope_for(actor)
        self.schools: dict[str, _SchoolFacts | None] = {}
        self.schemas: dict[str, tuple[int, tuple[SchemaField, ...]]] = {}
        self.columns = student_import_columns()
        self.seen_keys: dict[bytes, int] = {}
        self.file_index = duplicates.FileIndex()
        # The registry's blocks, read once for all chunks (nothing merges before the end).
        self.registry_index = duplicates.RegistryIndex()
        self.issuer = NumberIssuer()
        self.outcome = ImportOutcome(batch=batch)
        # Registered students outside the actor's scope that rows met (an exact ID match, a
        # possible duplicate): the rows say only what disclosure allows; audited once.
        self.outside_exact: list[int] = []
        self.outside_candidates: list[int] = []
        self.chunk_rows = settings.XUEJI["IMPORT_CHUNK_ROWS"]

    # -- helpers ------------------------------------------------------------------------

    def _error(self, row: int, key: str, value, code: str, message: str) -> None:
        if len(self.outcome.errors) < MAX_STORED_ERRORS:
            self.outcome.errors.append(
                RowError(
                    row,
                    label_of(self.columns, key),
                    "" if value is None else str(value)[:255],
                    code,
                    str(message),
                )
            )

    def _load_schools(self, codes: set[str]) -> None:
        wanted = [c for c in codes if c and c not in self.schools]
        if not wanted:
            return
        visible = School.objects.filter(
            self.scope.q(area_field="area_code", school_field="pk"), code__in=wanted
        )
        for s in visible.only(
            "id", "code", "area_code", "province_code", "school_type", "state", "name"
        ):
            self.schools[s.code] = _SchoolFacts(
                s.pk, s.area_code, s.province_code, s.school_type, s.state, s.name
            )
        for code in wanted:
            self.schools.setdefault(code, None)

    def _schema(self, province_code: str) -> tuple[int, tuple[SchemaField, ...]]:
        """The province's latest non-basic schema (id, fields), as for one-by-one registration."""
        if province_code not in self.schemas:
            schema = schema_for_province(province_code)
            self.schemas[province_code] = (schema.pk, tuple(schema_fields(schema.fields)))
        return self.schemas[province_code]

    # -- the pipeline -------------------------------------------------------------------

    def run(self, path: Path, file_name: str) -> ImportOutcome:
        try:
            opened = open_import_file(path, file_name, self.columns)
        except ImportFileError as exc:
            return self._reject_file(exc)
        self.outcome.total_rows = opened.total_rows
        self.outcome.warnings.extend(opened.warnings)
        stage = StudentStage(self.batch.replace("-", "")[:24])
        try:
            try:
                for chunk, results in self._cleaned_chunks(opened.rows, opened.total_rows):
                    stage.add(self._process_chunk(chunk, results))
                    self.outcome.processed_rows += len(chunk)
                    if self.progress:
                        self.progress(self.outcome)
            except ImportFileError as exc:
                return self._reject_file(exc)
            if not self.outcome.processed_rows:
                return self._reject_file(
                    ImportFileError("file.empty", _("文件中只有表头，没有学生数据"))
                )
            self.outcome.total_rows = self.outcome.processed_rows
            if self.outcome.error_rows and self.mode == "all_or_nothing":
                self.outcome.rejected = True
                return self.outcome
            # The file's keys and probes have done their work: the merge has their memory.
            self.seen_keys.clear()
            self.file_index = duplicates.FileIndex()
            if stage.count:
                stage.index()
                self._merge(stage)
        finally:
            stage.drop()
            self._audit_outside()
        return self.outcome

    def _audit_outside(self) -> None:
        """One audit event for the records outside scope this import's check met (issue 10,
        finding 2: every such check is audited, whatever it showed)."""
        exact, fuzzy = sorted(set(self.outside_exact)), sorted(set(self.outside_candidates))
        if not exact and not fuzzy:
            return
        with transaction.atomic():
            audit_record(
                actor=self.actor,
                action=AuditAction.STUDENT_DUPLICATE_OUTSIDE,
                object_type=ObjectType.IMPORT_JOB,
                object_id=self.batch,
                summary=(
                    f"批量导入查重命中辖区外学籍：身份证件号相同 {len(exact)} 条、"
                    f"疑似重复 {len(fuzzy)} 条，未显示学籍号和姓名"
                ),  # stored data: always Chinese
                detail={"step": "import", "exact_ids": exact, "candidate_ids": fuzzy},
            )

    def _reject_file(self, exc: ImportFileError) -> ImportOutcome:
        self.outcome.rejected = True
        self.outcome.file_error = exc.message
        self.outcome.errors.append(RowError(0, _("文件"), "", exc.code, exc.message))
        return self.outcome

    def _merge(self, stage: StudentStage) -> None:
        default_schema_id, _fields = self._schema("")
        try:
            with transaction.atomic():
                created = stage.merge(
                    actor=self.actor,
                    now=clock.now(),
                    batch=self.batch,
                    schema_id=default_schema_id,
                    event_kind=EventKind.IMPORT,
                    audit_action=AuditAction.STUDENT_IMPORT,
                    audit_summary="批量导入注册 ",
                )
                audit_record(
                    actor=self.actor,
                    action=AuditAction.IMPORT_STUDENTS,
                    object_type=ObjectType.IMPORT_JOB,
                    object_id=self.batch,
                    summary=f"批量导入学生 {created} 人",
                    detail={
                        "created": created,
                        "skipped": self.outcome.skipped,
                        "error_rows": self.outcome.error_rows,
                    },
                )
        except IntegrityError as exc:
            # A clerk registered one of these students while the file was being checked.
            logger.warning("import %s lost a race: %s", self.batch, exc)
            self.outcome.rejected = True
            self.outcome.file_error = _(
                "导入期间有学生被他人注册，本次导入未写入任何数据，请重新导入。"
            )
            self.outcome.errors.append(
                RowError(0, _("文件"), "", "import.race", self.outcome.file_error)
            )
            return
        self.outcome.created = created

    def _clean_tasks(self, chunk: list[tuple[int, dict]]) -> list[tuple[dict, tuple]]:
        """Each row with the non-basic schema of its school's province."""
        self._load_schools({_school_code(data.get("school_code")) for _, data in chunk})
        tasks = []
        for _row_no, data in chunk:
            known = self.schools.get(_school_code(data.get("school_code")))
            _schema_id, fields = self._schema(known.province_code if known else "")
            tasks.append((data, fields))
        return tasks

    def _cleaned_chunks(
        self, rows: Iterator[tuple[int, dict]], total_rows: int
    ) -> Iterator[tuple[list[tuple[int, dict]], list[Cleaned]]]:
        """Chunks of rows, each with ``clean_registration``'s verdict on every row.

        ``clean_registration`` is pure Python and most of the import's time. On a file of
        several chunks, worker processes clean chunk n + 1 while this process checks chunk
        n against the registry; the verdicts are the same as cleaning here.
        """
        chunks = iter_chunks(rows, self.chunk_rows)
        workers = _clean_workers(total_rows, self.chunk_rows)
        if not workers:
            for chunk in chunks:
                yield chunk, _clean_batch(self._clean_tasks(chunk), (self.book, self.today))
            return
        context = multiprocessing.get_context("fork")
        with context.Pool(workers, _clean_worker_start, ((self.book, self.today),)) as pool:
            ahead = None
            unreadable: ImportFileError | None = None
            try:
                for chunk in chunks:
                    tasks = self._clean_tasks(chunk)
                    job = pool.map_async(
                        _clean_batch, list(iter_chunks(tasks, CLEAN_BATCH_ROWS)), chunksize=1
                    )
                    if ahead is not None:
                        yield ahead[0], [result for part in ahead[1].get() for result in part]
                    ahead = (chunk, job)
            except ImportFileError as exc:
                # Reading runs a chunk ahead: the chunk before the damage is still checked,
                # as it is when cleaning here.
                unreadable = exc
            if ahead is not None:
                yield ahead[0], [result for part in ahead[1].get() for result in part]
            if unreadable is not None:
                raise unreadable

    def _process_chunk(self, chunk: list[tuple[int, dict]], results: list[Cleaned]) -> list[tuple]:
        cleaned: list[tuple[int, CleanRegistration]] = []
        for (row_no, data), (clean, errors) in zip(chunk, results, strict=True):
            if errors or clean is None:
                self._row_failed(row_no, errors, data)
            else:
                cleaned.append((row_no, clean))
        self._load_schools({c.school_code for _, c in cleaned})

        accepted: list[tuple[int, CleanRegistration, _SchoolFacts, str | None]] = []
        for row_no, clean in cleaned:
            school = self.schools.get(clean.school_code)
            if school is None:
                self._fail(
                    row_no,
                    "school_code",
                    clean.school_code,
                    "school.unknown",
                    _("学校标识码不存在或不在您的管理范围内"),
                )
                continue
            if school.state != SchoolState.OPEN:
                self._fail(
                    row_no,
                    "school_code",
                    clean.school_code,
                    "school.closed",
                    _("该学校已撤销或合并，不能注册新生"),
                )
                continue
            if not grade_allowed(school.school_type, clean.grade):
                self._fail(
                    row_no,
                    "grade",
                    clean.grade,
                    "grade.not_offered",
                    _("%(school)s（%(type)s）不开设该年级")
                    % {"school": school.name, "type": SchoolType(school.school_type).label},
                )
                continue
            key = identity.blind_index(clean.id_type, clean.id_number) if clean.id_number else None
            if key is not None:
                packed = bytes.fromhex(key)  # a file's keys stay in memory: 32 bytes each
                first = self.seen_keys.get(packed)
                if first is not None:
                    self._fail(
                        row_no,
                        "id_number",
                        clean.id_number,
                        "file.duplicate_id",
                        _("与本文件第 %d 行的身份证件号重复") % first,
                    )
                    continue
                self.seen_keys[packed] = row_no
            accepted.append((row_no, clean, school, key))

        by_key = self._registry_ids(accepted)
        fresh: list[tuple[int, CleanRegistration, _SchoolFacts, str | None]] = []
        for row_no, clean, school, key in accepted:
            if key is not None and key in by_key:
                known = by_key[key]
                if known.school_id == school.id and known.state in ON_ROLL:
                    self.outcome.skipped += 1
                elif not self.scope.covers(area_code=known.area_code, school_id=known.school_id):
                    # Outside scope: where the child is, never its number, grade or state.
                    self.outside_exact.append(known.student_id)
                    self._fail(
                        row_no,
                        "id_number",
                        clean.id_number,
                        "student.duplicate_id",
                        _("该身份证件号已有学籍，一人只能有一个学籍。")
                        + disclosure.Holder(
                            school_name=known.school_name,
                            area_name=division_full_name(known.division_code),
                        ).message,
                    )
                else:
                    self._fail(
                        row_no,
                        "id_number",
                        clean.id_number,
                        "student.duplicate_id",
                        _(
                            "该身份证件号已有学籍（学籍号 %s），一人只能有一个学籍；转学请走转学流程，返校请逐个注册以恢复原学籍"
                        )
                        % known.number_masked,
                    )
                continue
            fresh.append((row_no, clean, school, key))

        # The same rule as one-by-one registration (duplicates.match), against the registry
        # and inside the file, set-based over the chunk.
        probes = [_probe(clean, key) for _, clean, _, key in fresh]
        registry = duplicates.registry_matches(probes, limit=20, index=self.registry_index)
        unseen: list[tuple[int, duplicates.Probe]] = []
        checked = []
        for (row_no, clean, school, key), probe, matches in zip(
            fresh, probes, registry, strict=True
        ):
            if key is None and any(
                m.school_id == school.id
                and m.candidate.name == clean.name
                and m.candidate.birth_date == clean.birth_date
                and m.candidate.sex == clean.sex
                for m in matches
            ):
                # Imported before (no ID: known by name, sex, birth date and school).
                self.outcome.skipped += 1
                continue
            unseen.append((row_no, probe))
            checked.append((row_no, clean, school, key, matches))
        in_file = self.file_index.check(unseen)
        visible = disclosure.ids_in_scope(
            self.actor, (m.candidate.student_id for *_, matches in checked for m in matches)
        )

        staged: list[tuple] = []
        pending: list[tuple[int, CleanRegistration, _SchoolFacts, str | None, str]] = []
        for row_no, clean, school, key, matches in checked:
            if matches:
                inside = [m for m in matches if m.candidate.student_id in visible]
                if not inside:
                    # Only look-alikes outside scope: not listed (their number and name are
                    # not the clerk's to know); a one-by-one registration raises the finding.
                    self.outside_candidates.extend(m.candidate.student_id for m in matches)
                    self._fail(
                        row_no,
                        "name",
                        clean.name,
                        "student.possible_duplicate",
                        _("疑似重复学籍：%(outside)s确认不是同一人的，请逐个注册")
                        % {"outside": disclosure.OUTSIDE_CANDIDATES},
                    )
                    continue
                candidate = inside[0].candidate
                self._fail(
                    row_no,
                    "name",
                    clean.name,
                    "student.possible_duplicate",
                    _(
                        "疑似重复学籍：与学籍号 %(number)s（%(name)s，%(school)s）%(reasons)s；确认不是同一人的，请逐个注册"
                    )
                    % {
                        "number": candidate.number_masked,
                        "name": candidate.name,
                        "school": candidate.school_name,
                        "reasons": "、".join(candidate.reasons),
                    },
                )
                continue
            if row_no in in_file:
                earlier, reasons = in_file[row_no]
                self._fail(
                    row_no,
                    "name",
                    clean.name,
                    "file.possible_duplicate",
                    _(
                        "疑似与本文件第 %(row)d 行是同一人：%(reasons)s；确认不是同一人的，请逐个注册"
                    )
                    % {"row": earlier, "reasons": "、".join(reasons)},
                )
                continue
            kind = kind_for(
                id_type=clean.id_type, id_number=clean.id_number, nationality=clean.nationality
            )
            pending.append((row_no, clean, school, key, kind))

        self.issuer.prime(
            f"J{s.area_code}{c.birth_date:%Y%m%d}" for _, c, s, _, k in pending if k == NumberKind.J
        )
        l_rows = [(s.area_code, c.birth_date) for _, c, s, _, k in pending if k == NumberKind.L]
        l_numbers = iter(self.issuer.issue_l_many(l_rows)) if l_rows else iter(())
        for row_no, clean, school, key, kind in pending:
            if kind == NumberKind.L:
                number = next(l_numbers)
            else:
                number = self.issuer.issue(
                    kind=kind,
                    id_number=clean.id_number,
                    division_code=school.area_code,
                    birth_date=clean.birth_date,
                )
            guardian = None
            if clean.guardians:
                g = clean.guardians[0]
                guardian = (
                    g.name,
                    g.relation,
                    g.id_type,
                    identity.stored_value(g.id_type, g.id_number, guardian=True),
                    identity.blind_index(g.id_type, g.id_number) if g.id_number else None,
                    g.phone,
                )
            staged.append(
                stage_row(
                    row_no=row_no,
                    number=number,
                    number_kind=kind,
                    clean=clean,
                    id_number_stored=identity.stored_value(clean.id_type, clean.id_number),
                    id_key=key,
                    school_id=school.id,
                    area_code=school.area_code,
                    province_code=school.province_code,
                    guardian=guardian,
                    schema_id=self._schema(school.province_code)[0],
                )
            )
        return staged

    def _registry_ids(self, accepted) -> dict[str, "_Registered"]:
        """Registered students holding the rows' ID numbers, by blind index."""
        keys = [k for _, _, _, k in accepted if k]
        by_key: dict[str, _Registered] = {}
        # Sorted, the probes walk each index in order and reuse the pages they just read.
        for part in iter_chunks(sorted(keys), 900):
            for row in Student.objects.filter(id_key__in=part).values_list(
                "id_key",
                "pk",
                "number_masked",
                "record__school_id",
                "record__state",
                "record__area_code",
                "record__school__name",
                "record__school__division_code",
            ):
                id_key, student_id, number, school_id, state, area, school_name, division = row
                by_key[str(id_key)] = _Registered(
                    student_id=student_id,
                    number_masked=number,
                    school_id=school_id,
                    state=state,
                    area_code=area or "",
                    school_name=school_name or "",
                    division_code=division or "",
                )
        return by_key

    def _fail(self, row_no: int, key: str, value, code: str, message: str) -> None:
        self.outcome.error_rows += 1
        self._error(row_no, key, value, code, message)

    def _row_failed(self, row_no: int, errors: list[FieldError], data: dict) -> None:
        self.outcome.error_rows += 1
        for e in errors:
            self._error(row_no, e.field, e.value or data.get(e.field, ""), e.code, e.message)


def _probe(clean: CleanRegistration, key: str | None) -> duplicates.Probe:
    return duplicates.Probe(
        name=clean.name,
        name_key=clean.name_key,
        sex=clean.sex,
        birth_date=clean.birth_date,
        id_type=clean.id_type,
        id_key=key,
        guardian_keys=frozenset(
            k for k in (identity.id_key(g.id_type, g.id_number) for g in clean.guardians) if k
        ),
    )


# -- cleaning in worker processes ------------------------------------------------------------

_WORKER_CONTEXT: tuple[CodeBook, date] | None = None


def _clean_workers(total_rows: int, chunk_rows: int) -> int:
    """How many cleaning processes to fork: none for a single chunk (nothing to overlap),
    without ``fork``, or when ``XUEJI["IMPORT_WORKERS"]`` is 0; else one per spare core."""
    configured = settings.XUEJI.get("IMPORT_WORKERS")
    if configured == 0 or total_rows <= chunk_rows:
        return 0
    if "fork" not in multiprocessing.get_all_start_methods():
        return 0
    if configured:
        return int(configured)
    return max(1, min(4, (os.cpu_count() or 1) - 1))


def _clean_worker_start(context: tuple[CodeBook, date]) -> None:
    global _WORKER_CONTEXT
    _WORKER_CONTEXT = context


def _clean_batch(
    tasks: list[tuple[dict, tuple]], context: tuple[CodeBook, date] | None = None
) -> list[Cleaned]:
    """``clean_registration`` for each (row, schema fields); touches no database."""
    book, today = context or _WORKER_CONTEXT  # type: ignore[misc]
    return [
        clean_registration(data, book=book, today=today, schema=fields) for data, fields in tasks
    ]
