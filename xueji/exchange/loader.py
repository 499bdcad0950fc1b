"""The set-based load path: stage rows, then merge them into the registry with SQL.

Rows are validated in Python, then streamed into a temporary staging table — ``COPY`` on
PostgreSQL, ``executemany`` on SQLite — and moved into the registry tables with a handful
of ``INSERT … SELECT`` statements inside one transaction. No per-row ORM calls.

Each staged row carries its future student id, so that the six tables hanging off the
student are filled by reading the stage front to back: no statement joins back to the
registry's million students to find the id the first one gave out.
"""

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime

from django.db import connection, transaction

from xueji.audit import context as audit_context
from xueji.audit.chain import append_raw
from xueji.audit.events import AuditAction, ObjectType
from xueji.audit.models import AuditEvent
from xueji.students import identity

# (column, PostgreSQL type, SQLite type) of the staging table.
STAGE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("row_no", "integer", "integer"),
    ("number", "varchar(255)", "text"),  # encrypted: identity.seal_number
    ("number_key", "varchar(64)", "text"),
    ("number_masked", "varchar(19)", "text"),
    ("number_kind", "varchar(1)", "text"),
    ("name", "varchar(64)", "text"),
    ("former_name", "varchar(64)", "text"),
    ("name_pinyin", "varchar(128)", "text"),
    ("name_key", "varchar(128)", "text"),
    ("sex", "varchar(1)", "text"),
    ("birth_date", "date", "text"),
    ("birthplace_code", "varchar(6)", "text"),
    ("native_place_code", "varchar(6)", "text"),
    ("ethnicity", "varchar(2)", "text"),
    ("nationality", "varchar(3)", "text"),
    ("id_type", "varchar(1)", "text"),
    ("id_number", "varchar(255)", "text"),  # already encrypted: identity.stored_value
    ("id_key", "varchar(64)", "text"),
    ("id_valid_until", "date", "text"),
    ("hmt_code", "varchar(2)", "text"),
    ("household_place_code", "varchar(6)", "text"),
    ("household_type", "varchar(1)", "text"),
    ("health", "varchar(2)", "text"),
    ("school_id", "bigint", "integer"),
    ("area_code", "varchar(6)", "text"),
    ("province_code", "varchar(2)", "text"),
    ("stage", "varchar(1)", "text"),
    ("grade", "varchar(2)", "text"),
    ("class_name", "varchar(32)", "text"),
    ("entry_date", "date", "text"),
    ("entry_mode", "varchar(1)", "text"),
    ("attendance", "varchar(1)", "text"),
    ("g_name", "varchar(64)", "text"),
    ("g_relation", "varchar(2)", "text"),
    ("g_id_type", "varchar(1)", "text"),
    ("g_id_number", "varchar(255)", "text"),  # already encrypted, guardian context
    ("g_id_key", "varchar(64)", "text"),
    ("g_phone", "varchar(255)", "text"),  # encrypted: identity.seal_phone
    ("non_basic", "text", "text"),  # encrypted JSON: identity.seal_non_basic
    ("schema_id", "bigint", "integer"),  # the province's non-basic schema; NULL: merge default
)
STAGE_NAMES = tuple(c[0] for c in STAGE_COLUMNS)
# Filled by the stage itself: the student id from the sequence (PostgreSQL), or the row's
# position in the stage, offset at merge time by the highest id given out (SQLite).
_ID_COLUMN = ("student_id", "bigint", "integer")
_PG_NEXT_IDS = (
    "SELECT nextval(pg_get_serial_sequence('students_student', 'id')) FROM generate_series(1, %s)"
)
_SQLITE_TOP_ID = (
    "SELECT MAX(top) FROM (SELECT MAX(id) AS top FROM students_student UNION ALL "
    "SELECT seq FROM sqlite_sequence WHERE name = 'students_student')"
)
# The students_student columns a load copies from staging (the rest are set at merge).
STUDENT_COPY_COLUMNS = (
    "number",
    "number_key",
    "number_masked",
    "number_kind",
    "name",
    "former_name",
    "name_pinyin",
    "name_key",
    "sex",
    "birth_date",
    "birthplace_code",
    "native_place_code",
    "ethnicity",
    "nationality",
    "id_type",
    "id_number",
    "id_key",
    "id_valid_until",
    "hmt_code",
    "household_place_code",
    "household_type",
    "health",
)


# The staged number as the audit trail shows it (identity.mask_student_number).
_MASKED = "st.number_masked"
# Audit events built and appended at a time by the merge (memory, not speed, sets it).
AUDIT_BATCH_ROWS = 5_000
# SQLite page cache of the merge, in KiB (PRAGMA cache_size takes them negative).
MERGE_CACHE_KIB = 8_192


def _is_pg() -> bool:
    return connection.vendor == "postgresql"


def adapt_date(value: date | None):
    return None if value is None else connection.ops.adapt_datefield_value(value)


def adapt_datetime(value: datetime):
    return connection.ops.adapt_datetimefield_value(value)


class StudentStage:
    """A temporary staging table for one load, on the current connection."""

    def __init__(self, tag: str) -> None:
        self.table = f"xueji_stage_{tag}"
        pg = _is_pg()
        columns = ", ".join(
            f"{name} {pg_type if pg else lite}"
            for name, pg_type, lite in (*STAGE_COLUMNS, _ID_COLUMN)
        )
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {self.table}")
            cursor.execute(f"CREATE TEMPORARY TABLE {self.table} ({columns})")
        self.count = 0

    def add(self, rows: Sequence[tuple]) -> None:
        """Append rows (tuples in ``STAGE_NAMES`` order, dates already adapted)."""
        if not rows:
            return
        names = ", ".join((*STAGE_NAMES, _ID_COLUMN[0]))
        with connection.cursor() as cursor:
            if _is_pg():
                # Ids drawn now, in row order; an import that is then refused leaves a gap
                # in the sequence, as any rolled-back insert does.
                cursor.execute(_PG_NEXT_IDS, [len(rows)])
                ids = sorted(row[0] for row in cursor.fetchall())
                with cursor.cursor.copy(f"COPY {self.table} ({names}) FROM STDIN") as copy:
                    for row, student_id in zip(rows, ids, strict=True):
                        copy.write_row((*row, student_id))
            else:
                marks = ", ".join(["%s"] * (len(STAGE_NAMES) + 1))
                positions = range(self.count + 1, self.count + len(rows) + 1)
                with transaction.atomic():
                    cursor.executemany(
                        f"INSERT INTO {self.table} ({names}) VALUES ({marks})",
                        [(*row, position) for row, position in zip(rows, positions, strict=True)],
                    )
        self.count += len(rows)

    def index(self) -> None:
        """Nothing to index: the merge reads the stage front to back and joins nothing."""

    def drop(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {self.table}")

    @staticmethod
    @contextmanager
    def _small_page_cache() -> Iterator[None]:
        """SQLite: the merge passes each page of the stage and of the registry's new rows
        about once, so the connection's 64 MB page cache (config/settings/base.py) filled
        with pages read once and stayed full: most of a big import's growth after the
        check (issue 11, item 14). Shrinking the cache frees the pages over the limit; it
        is restored afterwards. PostgreSQL caches on the server."""
        if _is_pg():
            yield
            return
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA cache_size")
            previous = int(cursor.fetchone()[0])
            cursor.execute(f"PRAGMA cache_size = {-MERGE_CACHE_KIB}")
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute(f"PRAGMA cache_size = {previous}")

    def merge(self, **kwargs) -> int:
        """Insert every staged row into the registry (``_merge``), with a small page cache
        on SQLite. Must run inside ``transaction.atomic``."""
        with self._small_page_cache():
            return self._merge(**kwargs)

    def _merge(
        self,
        *,
        actor,
        now: datetime,
        batch: str,
        schema_id: int,
        event_kind: str,
        audit_action: AuditAction,
        audit_summary: str,
    ) -> int:
        """Insert every staged row into the registry. Must run inside ``transaction.atomic``.

        Student → number history → status record → first history event → guardian →
        non-basic data → one audit event per student. Returns the number of students.
        """
        if not connection.in_atomic_block:
            raise RuntimeError("merge must run inside a transaction")
        pg = _is_pg()
        stamp = adapt_datetime(now)
        actor_id = getattr(actor, "pk", None)
        actor_name = getattr(actor, "username", "") or ""
        unit_id = getattr(actor, "unit_id", None)
        origin = audit_context.current()
        text = "varchar" if pg else "TEXT"
        false = "false" if pg else "0"
        t = self.table
        cols = ", ".join(STUDENT_COPY_COLUMNS)
        with connection.cursor() as cursor:
            if pg:
                sid = "st.student_id"
            else:
                # The write lock is held (IMMEDIATE transaction): nobody else hands out ids.
                cursor.execute(_SQLITE_TOP_ID)
                sid = f"(st.student_id + {int(cursor.fetchone()[0] or 0)})"
            cursor.execute(
                f"INSERT INTO students_student (id, {cols}, frozen, created_at, updated_at) "
                # Ids come from the stage (in row order), so no sort is needed for them.
                f"SELECT {sid}, {cols}, {false}, %s, %s FROM {t} st",
                [stamp, stamp],
            )
            inserted = cursor.rowcount
            cursor.execute(
                "INSERT INTO students_studentnumber (number, number_key, number_masked, student_id, "
                "kind, issued_at, reason) "
                f"SELECT st.number, st.number_key, st.number_masked, {sid}, st.number_kind, %s, '' "
                f"FROM {t} st",
                [stamp],
            )
            cursor.execute(
                "INSERT INTO enrolment_statusrecord (student_id, school_id, area_code, province_code, "
                "stage, grade, class_name, state, entry_date, entry_mode, attendance, programme, "
                "home_taught, revision, registered_at, updated_at) "
                f"SELECT {sid}, st.school_id, st.area_code, st.province_code, st.stage, st.grade, "
                f"st.class_name, 'enrolled', st.entry_date, st.entry_mode, st.attendance, 'general', "
                f"%s, 0, %s, %s "
                f"FROM {t} st",
                [False, stamp, stamp],
            )
            cursor.execute(
                "INSERT INTO enrolment_statusevent (record_id, kind, occurred_at, effective_date, "
                "actor_id, actor_username, from_state, to_state, school_id, stage, grade, class_name, "
                "reason, batch, change_type, materials, detail) "
                f"SELECT {sid}, %s, %s, st.entry_date, %s, %s, '', 'enrolled', st.school_id, st.stage, "
                f"st.grade, st.class_name, '', %s, '', %s, %s FROM {t} st",
                [event_kind, stamp, actor_id, actor_name, batch, "[]", "{}"],
            )
            cursor.execute(
                "INSERT INTO students_guardian (student_id, relation, name, id_type, id_number, id_key, "
                "phone, is_guardian) "
                f"SELECT {sid}, st.g_relation, st.g_name, st.g_id_type, st.g_id_number, st.g_id_key, "
                f"st.g_phone, {'true' if pg else '1'} FROM {t} st WHERE st.g_name <> ''",
            )
            cursor.execute(
                "INSERT INTO students_nonbasicinfo (student_id, schema_id, data, updated_at) "
                f"SELECT {sid}, COALESCE(st.schema_id, %s), st.non_basic, %s FROM {t} st",
                [schema_id, stamp],
            )
            # One audit event per student, chained (xueji/audit/chain.py): the rows are
            # built from the stage and appended AUDIT_BATCH_ROWS at a time, so a file's
            # hundred thousand events never sit in memory as model objects at once.
            cursor.execute(f"SELECT CAST({sid} AS {text}), {_MASKED} FROM {t} st ORDER BY {sid}")
            staged = cursor.fetchall()
        detail = {"batch": batch}
        for start in range(0, len(staged), AUDIT_BATCH_ROWS):
            append_raw(
                connection.alias,
                [
                    AuditEvent(
                        at=now,
                        actor_id=actor_id,
                        actor_username=actor_name,
                        unit_id=unit_id,
                        action=audit_action.value,
                        object_type=ObjectType.STUDENT.value,
                        object_id=student_id,
                        summary=audit_summary + masked,
                        detail=detail,
                        ip=origin.ip,
                        user_agent=origin.user_agent,
                        channel=origin.channel,
                        request_id=origin.request_id,
                    )
                    for student_id, masked in staged[start : start + AUDIT_BATCH_ROWS]
                ],
            )
        return inserted


def stage_row(
    *,
    row_no: int,
    number: str,
    number_kind: str,
    clean,
    id_number_stored: str,
    id_key: str | None,
    school_id: int,
    area_code: str,
    province_code: str,
    guardian: tuple[str, str, str, str, str | None, str] | None,
    schema_id: int | None = None,
) -> tuple:
    """One staging tuple from a ``CleanRegistration`` (see ``STAGE_NAMES``)."""
    g_name, g_relation, g_id_type, g_id_number, g_id_key, g_phone = guardian or (
        "",
        "",
        "",
        "",
        None,
        "",
    )
    adapt = connection.ops.adapt_datefield_value  # None stays None; one connection lookup
    return (
        row_no,
        identity.seal_number(number),
        identity.number_key(number),
        identity.mask_student_number(number),
        number_kind,
        clean.name,
        clean.former_name,
        clean.name_pinyin,
        clean.name_key,
        clean.sex,
        adapt(clean.birth_date),
        clean.birthplace_code,
        clean.native_place_code,
        clean.ethnicity,
        clean.nationality,
        clean.id_type,
        id_number_stored,
        id_key,
        adapt(clean.id_valid_until),
        clean.hmt_code,
        clean.household_place_code,
        clean.household_type,
        clean.health,
        school_id,
        area_code,
        province_code,
        clean.stage,
        clean.grade,
        clean.class_name,
        adapt(clean.entry_date),
        clean.entry_mode,
        clean.attendance,
        g_name,
        g_relation,
        g_id_type,
        g_id_number,
        g_id_key,
        identity.seal_phone(g_phone),
        identity.seal_non_basic(clean.non_basic),
        schema_id,
    )


def iter_chunks(items: Iterable, size: int):
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
