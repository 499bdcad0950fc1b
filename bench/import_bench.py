"""Import benchmark: new students from a csv (and an xlsx) into a registry of a million.

Three ways of writing the same students, in one run, against the same database:

- **full**: ``StudentImport(mode="valid_rows")`` — parse, validate every rule, duplicate
  check inside the file and against the registry, issue numbers, stage, merge into the
  seven registry tables, audit — exactly what a clerk's import does;
- **raw**: the students_student rows the import would write, ready-made, loaded with
  ``COPY`` (PostgreSQL) or ``executemany`` (SQLite) into the same table with the same
  indexes — the floor of what the database can take;
- **naive**: a per-row ORM loop over a sample (Student, StudentNumber, StatusRecord,
  StatusEvent, each with ``.save()``, one transaction per student) — what the bulk path
  replaces.

Each database runs in its own subprocess with ``config.settings.dev``: PostgreSQL in the
``xueji_bench`` database (dropped and created here), SQLite under ``bench/out/sqlite``.
The registry is pre-filled with ``xueji.exchange.synthetic.generate`` and kept as a
snapshot (a template database, a copied file under ``bench/out/snapshots``), restored by
the next run of the same size while its migrations are unchanged (``--fresh-registry``
pre-fills again; ``--drop-snapshots`` deletes them). ``XUEJI_BENCH_PG_DATABASE`` names the
PostgreSQL database (default ``xueji_bench``; snapshots are ``<name>_<size>``).

``--baseline REF`` measures the code of a git revision too, in the same run: for each
database the snapshot is restored and measured with REF's source (``git archive`` under
``bench/out/baseline-<REF>``), then restored and measured with the working tree; both go
to the report, each labelled with its code.

    python -m bench.import_bench --rows 100000 --registry 1000000 --db both
    python -m bench.import_bench --rows 100000 --registry 200000 --baseline main
"""

import argparse
import gc
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench.report import Section, machine

BASE_DIR = Path(__file__).resolve().parent.parent
OUT_DIR = BASE_DIR / "bench" / "out"
DOCS = BASE_DIR / "docs" / "benchmarks.md"
PG_SERVER = os.environ.get("XUEJI_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432")
# XUEJI_BENCH_PG_DATABASE: another database name, so two runs on one server do not collide.
PG_DATABASE = os.environ.get("XUEJI_BENCH_PG_DATABASE", "xueji_bench")
PROVINCES = ("11", "31", "32", "33", "37", "41", "44", "51", "53", "65")
SECTION_START, SECTION_END = "<!-- import-benchmark:start -->", "<!-- import-benchmark:end -->"


@dataclass
class Sizes:
    rows: int = 100_000
    registry: int = 1_000_000
    xlsx_rows: int = 20_000
    naive_rows: int = 2_000
    schools: int = 2_500
    seed: int = 20251


@dataclass
class PathResult:
    rows: int = 0
    seconds: float = 0.0
    rows_per_s: float = 0.0
    detail: dict = field(default_factory=dict)


def _result(rows: int, seconds: float, **detail) -> PathResult:
    return PathResult(rows, round(seconds, 3), round(rows / seconds, 1) if seconds else 0.0, detail)


def _ratio(a: float, b: float) -> float:
    return round(a / b, 3) if b else 0.0


# -- inside Django ---------------------------------------------------------------------------


def _say(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}Z] {message}", file=sys.stderr, flush=True)


def prefill(sizes: Sizes, *, log=_say) -> dict:
    """Fill the empty registry with ``sizes.registry`` synthetic students (timed)."""
    from django.db import connection

    from xueji.exchange.synthetic import DemoPlan, generate

    log(f"prefill: {sizes.registry:,} students, {sizes.schools:,} schools")
    started = time.perf_counter()
    last = [started]

    def progress(done: int, total: int) -> None:
        if time.perf_counter() - last[0] > 15:
            last[0] = time.perf_counter()
            log(f"prefill: {done:,}/{total:,} staged")

    # The generator rounds each school down to whole classes per grade (at most 12 grades,
    # so fewer than 13 students a school): ask for that much more, so that the registry
    # holds at least the students asked for.
    planned = sizes.registry + 13 * (sizes.schools + 2)
    counts = generate(
        plan=DemoPlan(
            students=planned, schools=sizes.schools, provinces=PROVINCES, seed=sizes.seed
        ),
        progress=progress,
    )
    seconds = time.perf_counter() - started
    log(f"prefill: {counts.students:,} students in {seconds:.1f} s")
    _settle(connection)
    return {
        "registry_students": counts.students,
        "registry_schools": counts.schools,
        "prefill_seconds": round(seconds, 1),
        "prefill_rows_per_s": round(counts.students / seconds, 1) if seconds else 0.0,
        "prefill_at": datetime.now().astimezone().isoformat(timespec="seconds"),
    }


def _settle(connection) -> None:
    """Statistics and checkpoints a running system would have: not part of any timing."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            if not connection.in_atomic_block:
                cursor.execute("VACUUM ANALYZE")
        else:
            cursor.execute("ANALYZE")
            if not connection.in_atomic_block:
                cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def bench_actor():
    """A national-level clerk: every school is in scope."""

    from xueji.accounts.models import User
    from xueji.accounts.services import temporary_password, unit_ensure_national, user_create

    existing = User.objects.filter(username="bench-clerk").first()
    if existing is not None:
        return existing
    return user_create(
        actor=None,
        unit=unit_ensure_national(),
        username="bench-clerk",
        password=temporary_password(username="bench-clerk"),
        roles=["clerk"],
        full_name="基准测试",
    )


def raw_load(rows: list[tuple]) -> float:
    """COPY / executemany ready-made rows into students_student, one transaction."""
    from django.db import connection, transaction

    from .import_data import RAW_COLUMNS

    columns = ", ".join(RAW_COLUMNS)
    if connection.vendor == "postgresql":
        started = time.perf_counter()
        copy_sql = f"COPY students_student ({columns}) FROM STDIN"
        with (
            transaction.atomic(),
            connection.cursor() as cursor,
            cursor.cursor.copy(copy_sql) as copy,
        ):
            for row in rows:
                copy.write_row(row)
        return time.perf_counter() - started
    ops = connection.ops
    adapted = [
        (
            *row[:9],
            ops.adapt_datefield_value(row[9]),
            *row[10:17],
            ops.adapt_datefield_value(row[17]),
            *row[18:22],
            row[22],
            ops.adapt_datetimefield_value(row[23]),
            ops.adapt_datetimefield_value(row[24]),
        )
        for row in rows
    ]
    marks = ", ".join(["%s"] * len(RAW_COLUMNS))
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(f"INSERT INTO students_student ({columns}) VALUES ({marks})", adapted)
    return time.perf_counter() - started


def raw_undo(watermark: int) -> None:
    """Remove what the raw load wrote, so the full path can load the same students."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM students_student WHERE id > %s", [watermark])
    _settle(connection)


def full_import(path: Path, *, actor, batch: str, log=_say) -> PathResult:
    """The clerk's import, timed from opening the file to the committed merge."""
    from xueji.exchange.student_import import StudentImport

    marks: list[float] = []
    started = time.perf_counter()
    last = [started]

    def progress(outcome) -> None:
        marks.append(time.perf_counter())
        if marks[-1] - last[0] > 15:
            last[0] = marks[-1]
            log(f"full {path.suffix}: {outcome.processed_rows:,} rows checked")

    outcome = StudentImport(actor=actor, mode="valid_rows", batch=batch, progress=progress).run(
        path, path.name
    )
    seconds = time.perf_counter() - started
    checked = (marks[-1] - started) if marks else seconds
    if outcome.errors:
        first = outcome.errors[0]
        log(f"full {path.suffix}: first error row {first.row} {first.column} {first.message}")
    return _result(
        outcome.created,
        seconds,
        processed=outcome.processed_rows,
        errors=outcome.error_rows,
        skipped=outcome.skipped,
        rejected=outcome.rejected,
        check_seconds=round(checked, 3),
        merge_seconds=round(seconds - checked, 3),
    )


def naive_save(sample) -> float:
    """One student at a time through the ORM, one transaction per student."""
    from django.db import transaction

    from xueji import clock
    from xueji.enrolment.models import StatusEvent, StatusRecord
    from xueji.enrolment.rules import EventKind, StatusState
    from xueji.schools.rules import GRADES
    from xueji.students import identity
    from xueji.students.models import Student, StudentNumber
    from xueji.students.numbering import NumberIssuer

    issuer = NumberIssuer()
    started = time.perf_counter()
    for new in sample:
        now = clock.now()
        with transaction.atomic():
            number = issuer.issue(
                kind=new.number_kind,
                id_number=new.id_number,
                division_code=new.school.area_code,
                birth_date=new.birth_date,
            )
            student = Student(
                number=number,
                number_kind=new.number_kind,
                name=new.name,
                name_pinyin=new.name_pinyin,
                name_key=new.name_key,
                sex=new.sex,
                birth_date=new.birth_date,
                birthplace_code=new.birthplace_code,
                native_place_code=new.birthplace_code,
                ethnicity=new.ethnicity,
                nationality=new.nationality,
                hmt_code=new.hmt_code,
                household_place_code=new.birthplace_code,
                household_type="3",
                health="10",
                created_at=now,
                updated_at=now,
            )
            identity.write_id(student, new.id_type, new.id_number)
            student.save()
            StudentNumber(
                number=number, student=student, kind=new.number_kind, issued_at=now
            ).save()
            record = StatusRecord(
                student=student,
                school_id=new.school.id,
                area_code=new.school.area_code,
                province_code=new.school.province_code,
                stage=GRADES[new.grade].stage,
                grade=new.grade,
                class_name=new.class_name,
                entry_date=new.entry_date,
                entry_mode="1",
                registered_at=now,
                updated_at=now,
            )
            # force_insert spares the UPDATE Django tries first on a set primary key.
            record.save(force_insert=True)
            StatusEvent(
                record=record,
                kind=EventKind.IMPORT,
                occurred_at=now,
                effective_date=new.entry_date,
                to_state=StatusState.ENROLLED,
                school_id=new.school.id,
                stage=record.stage,
                grade=new.grade,
                class_name=new.class_name,
            ).save()
    return time.perf_counter() - started


def measure(sizes: Sizes, *, out_dir: Path, log=_say) -> dict:
    """Generate the files and time the three paths on the current (pre-filled) database."""
    from django.db import connection
    from django.db.models import Max

    from xueji import clock
    from xueji.students.models import Student

    from .import_data import NewStudentSource, write_csv, write_xlsx

    out_dir.mkdir(parents=True, exist_ok=True)
    actor = bench_actor()
    registry = Student.objects.count()
    log(f"registry holds {registry:,} students; drawing new ones")
    started = time.perf_counter()
    source = NewStudentSource(seed=sizes.seed + 7919)
    wanted = sizes.rows + sizes.xlsx_rows + sizes.naive_rows
    students = list(source.take(wanted))
    csv_students = students[: sizes.rows]
    xlsx_students = students[sizes.rows : sizes.rows + sizes.xlsx_rows]
    naive_students = students[sizes.rows + sizes.xlsx_rows :]
    csv_path = out_dir / f"import-{sizes.rows}.csv"
    xlsx_path = out_dir / f"import-{sizes.xlsx_rows}.xlsx"
    csv_bytes = write_csv(csv_path, csv_students)
    xlsx_bytes = write_xlsx(xlsx_path, xlsx_students) if xlsx_students else 0
    log(f"files written in {time.perf_counter() - started:.1f} s ({csv_bytes / 1e6:.1f} MB csv)")
    stamp = clock.now()
    raw_rows = [s.raw_row(stamp) for s in csv_students]
    # Only the files, the raw rows and the naive sample live on: a heap of millions of
    # generator objects would slow every garbage collection inside the timed paths.
    del students, csv_students, xlsx_students, source
    gc.collect()

    load_before = os.getloadavg()[0]

    # (a) raw: the same rows, ready-made, straight into students_student.
    watermark = Student.objects.aggregate(top=Max("id"))["top"] or 0
    raw_seconds = raw_load(raw_rows)
    raw_written = Student.objects.filter(id__gt=watermark).count()
    raw = _result(raw_written, raw_seconds)
    log(f"raw: {raw.rows:,} rows in {raw.seconds:.1f} s = {raw.rows_per_s:,.0f} rows/s")
    del raw_rows
    raw_undo(watermark)
    gc.collect()

    # The full path, csv then xlsx.
    full_csv = full_import(csv_path, actor=actor, batch="bench-csv", log=log)
    log(
        f"full csv: {full_csv.rows:,} rows in {full_csv.seconds:.1f} s = {full_csv.rows_per_s:,.0f} rows/s"
    )
    full_xlsx = PathResult()
    if xlsx_bytes:
        full_xlsx = full_import(xlsx_path, actor=actor, batch="bench-xlsx", log=log)
        log(
            f"full xlsx: {full_xlsx.rows:,} rows in {full_xlsx.seconds:.1f} s"
            f" = {full_xlsx.rows_per_s:,.0f} rows/s"
        )

    # (b) naive: a sample, one student at a time.
    naive = _result(0, 0.0)
    if naive_students:
        before = Student.objects.count()
        seconds = naive_save(naive_students)
        naive = _result(Student.objects.count() - before, seconds)
        log(f"naive: {naive.rows:,} rows in {naive.seconds:.1f} s = {naive.rows_per_s:,.0f} rows/s")

    return {
        "database": connection.vendor,
        "database_version": _database_version(connection),
        "registry_before": registry,
        "registry_after": Student.objects.count(),
        "csv_bytes": csv_bytes,
        "xlsx_bytes": xlsx_bytes,
        "chunk_rows": _chunk_rows(),
        "raw": asdict(raw),
        "full_csv": asdict(full_csv),
        "full_xlsx": asdict(full_xlsx),
        "naive": asdict(naive),
        "full_over_raw": _ratio(full_csv.rows_per_s, raw.rows_per_s),
        "full_over_naive": _ratio(full_csv.rows_per_s, naive.rows_per_s),
        "xlsx_over_raw": _ratio(full_xlsx.rows_per_s, raw.rows_per_s),
        # Other work on the machine shows here (1-minute load average; 2 cores = 2.0).
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "cleaning_workers": _cleaning_workers(sizes.rows),
    }


def _cleaning_workers(rows: int) -> int:
    from xueji.exchange.student_import import _clean_workers

    return _clean_workers(rows, _chunk_rows())


def _chunk_rows() -> int:
    from django.conf import settings

    return settings.XUEJI["IMPORT_CHUNK_ROWS"]


def _database_version(connection) -> str:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            return "PostgreSQL " + cursor.fetchone()[0].split()[0]
    import sqlite3

    return "SQLite " + sqlite3.sqlite_version


def worker(phase: str, sizes: Sizes, result_path: Path) -> None:
    """Entry of the per-database subprocess (settings come from the environment)."""
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    settings.DEBUG = False  # no per-query log, as in production
    call_command("migrate", interactive=False, verbosity=0)
    result = prefill(sizes) if phase == "prefill" else measure(sizes, out_dir=OUT_DIR)
    result_path.write_text(json.dumps(result, ensure_ascii=False, indent=1))


# -- outside Django: one subprocess per database ---------------------------------------------


def migration_hashes() -> dict[str, str]:
    """Every migration file and a hash of its text."""
    return {
        str(path.relative_to(BASE_DIR)): hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        for path in sorted(BASE_DIR.glob("xueji/*/migrations/0*.py"))
    }


def _snapshot_key(sizes: Sizes) -> str:
    return f"v3_r{sizes.registry}_s{sizes.schools}_x{sizes.seed}"


def _snapshot_usable(meta: dict) -> bool:
    """A snapshot serves while the migrations are exactly those it was built with (a new
    data migration over a million rows would otherwise run, untimed but slow, on every
    restore)."""
    return meta.get("migrations") == migration_hashes()


class Target(ABC):
    """One database under test: how to reset it, snapshot it and point Django at it."""

    name = ""

    @abstractmethod
    def env(self) -> dict[str, str]: ...

    @abstractmethod
    def reset(self) -> None: ...

    @abstractmethod
    def has_snapshot(self, key: str) -> bool: ...

    @abstractmethod
    def restore(self, key: str) -> None: ...

    @abstractmethod
    def snapshot(self, key: str) -> None: ...

    def meta_path(self, key: str) -> Path:
        return OUT_DIR / "snapshots" / f"{self.name}-{key}.json"


class SqliteTarget(Target):
    name = "sqlite"
    data_dir = OUT_DIR / "sqlite"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        env["XUEJI_DATA_DIR"] = str(self.data_dir)
        return env

    def _file(self) -> Path:
        return self.data_dir / "xueji.sqlite3"

    def reset(self) -> None:
        shutil.rmtree(self.data_dir, ignore_errors=True)
        self.data_dir.mkdir(parents=True)

    def _snapshot_file(self, key: str) -> Path:
        return OUT_DIR / "snapshots" / f"sqlite-{key}.sqlite3"

    def has_snapshot(self, key: str) -> bool:
        return self._snapshot_file(key).exists() and self.meta_path(key).exists()

    def restore(self, key: str) -> None:
        self.reset()
        shutil.copyfile(self._snapshot_file(key), self._file())

    def snapshot(self, key: str) -> None:
        self._snapshot_file(key).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self._file(), self._snapshot_file(key))


class PostgresTarget(Target):
    name = "postgres"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["DATABASE_URL"] = f"{PG_SERVER}/{PG_DATABASE}"
        env["XUEJI_DATA_DIR"] = str(OUT_DIR / "postgres")
        return env

    def _admin(self, *statements: str) -> list:
        import psycopg

        rows = []
        with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as admin:
            for statement in statements:
                cursor = admin.execute(statement)
                rows.extend(cursor.fetchall() if cursor.description else [])
        return rows

    @staticmethod
    def _template(key: str) -> str:
        return f"{PG_DATABASE}_{key}".lower()[:63]

    def reset(self) -> None:
        self._admin(
            f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)", f"CREATE DATABASE {PG_DATABASE}"
        )

    def has_snapshot(self, key: str) -> bool:
        found = self._admin(f"SELECT 1 FROM pg_database WHERE datname = '{self._template(key)}'")
        return bool(found) and self.meta_path(key).exists()

    def restore(self, key: str) -> None:
        self._admin(
            f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)",
            f"CREATE DATABASE {PG_DATABASE} TEMPLATE {self._template(key)}",
        )

    def snapshot(self, key: str) -> None:
        # Older snapshots of other sizes or migrations are left alone; --drop-snapshots clears.
        self._admin(
            f"DROP DATABASE IF EXISTS {self._template(key)}",
            f"CREATE DATABASE {self._template(key)} TEMPLATE {PG_DATABASE}",
        )

    def drop_snapshots(self) -> None:
        names = self._admin(
            f"SELECT datname FROM pg_database WHERE datname LIKE '{PG_DATABASE}\\_%'"
        )
        self._admin(*(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)" for (name,) in names))


TARGETS = {"sqlite": SqliteTarget, "postgres": PostgresTarget}


def _run_worker(target: Target, phase: str, sizes: Sizes, *, source: Path = BASE_DIR) -> dict:
    """Run a phase in a subprocess, with the code under ``source`` (the working tree, or
    a baseline revision's export: it comes first on the path)."""
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    result_path = OUT_DIR / f"result-{target.name}-{phase}.json"
    result_path.unlink(missing_ok=True)
    env = target.env()
    env["DJANGO_SETTINGS_MODULE"] = "config.settings.dev"
    env["XUEJI_IMPORT_MAX_BYTES"] = str(1 << 40)  # the upload limit is not under test
    env["PYTHONPATH"] = str(source)
    command = [sys.executable, "-m", "bench.import_bench", "--worker", phase]
    command += ["--result", str(result_path), *_size_args(sizes)]
    subprocess.run(command, cwd=source, env=env, check=True)  # noqa: S603
    return json.loads(result_path.read_text())


def export_revision(ref: str) -> tuple[Path, str]:
    """The source of git revision ``ref`` under ``bench/out/baseline-<commit>``, and the
    commit's short hash."""
    commit = subprocess.run(  # noqa: S603
        ["git", "rev-parse", "--short", ref],  # noqa: S607
        cwd=BASE_DIR,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    target = OUT_DIR / f"baseline-{commit}"
    if not (target / "manage.py").exists():
        target.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(  # noqa: S603
            ["git", "archive", commit],  # noqa: S607
            cwd=BASE_DIR,
            check=True,
            capture_output=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)  # noqa: S603,S607
    return target, commit


def working_tree_code() -> str:
    """The working tree's commit, marked when it holds uncommitted changes."""
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],  # noqa: S607
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return f"{head}{' + changes' if dirty else ''}" or "working tree"


def _size_args(sizes: Sizes) -> list[str]:
    return [
        *("--rows", str(sizes.rows), "--registry", str(sizes.registry)),
        *("--xlsx-rows", str(sizes.xlsx_rows), "--naive-rows", str(sizes.naive_rows)),
        *("--schools", str(sizes.schools), "--seed", str(sizes.seed)),
    ]


def run_database(target: Target, sizes: Sizes, *, fresh: bool, source: Path = BASE_DIR) -> dict:
    """Restore (or pre-fill and snapshot) the registry, then measure in a subprocess with
    the code under ``source``."""
    key = _snapshot_key(sizes)
    usable = (
        not fresh
        and target.has_snapshot(key)
        and _snapshot_usable(json.loads(target.meta_path(key).read_text()))
    )
    if usable:
        _say(f"{target.name}: restoring the pre-filled registry ({key})")
        target.restore(key)
        registry = json.loads(target.meta_path(key).read_text())
        registry["prefill_in_this_run"] = False
    else:
        target.reset()
        migrations = migration_hashes()
        registry = _run_worker(target, "prefill", sizes)
        registry["prefill_in_this_run"] = True
        registry["migrations"] = migrations
        target.snapshot(key)
        target.meta_path(key).parent.mkdir(parents=True, exist_ok=True)
        target.meta_path(key).write_text(json.dumps(registry))
    measured = _run_worker(target, "measure", sizes, source=source)
    registry.pop("migrations", None)
    return {"target": target.name, **registry, **measured}


# -- the report ------------------------------------------------------------------------------


def _fmt(value: float) -> str:
    return f"{value:,.0f}"


def _row_key(entry: dict) -> str:
    key = f"{entry['target']}:{entry['rows']}:{entry['registry']}"
    return f"{key}:{entry['code']}" if entry.get("code") else key


SECTION = Section("import-benchmark", _row_key)


def render_section(entries: list[dict]) -> str:
    """The docs section for every recorded configuration, newest first."""
    entries = sorted(entries, key=lambda e: e["run_at"], reverse=True)
    lines = [
        SECTION_START,
        "## Import benchmark (students, `bench/import_bench.py`)",
        "",
        "New students from a generated file into a registry already holding the stated number",
        'of students, through the **full** path (`StudentImport(mode="valid_rows")`: parse,',
        "validate, duplicate check in the file and against the registry, number, stage, merge",
        "into seven tables, audit), compared in the same run with a **raw** load of the same",
        "rows into `students_student` (same indexes; `COPY` on PostgreSQL, `executemany` on",
        "SQLite) and a **naive** per-row ORM loop on a sample (Student, StudentNumber,",
        "StatusRecord, StatusEvent, each `.save()`, one transaction per student). Target on",
        "1,000,000 csv rows: full ≥ 50 % of raw and ≥ 20× naive. Figures are single runs.",
        "",
        "`--baseline` runs measure an older revision's code on the same restored registry in",
        "the same run; the code column says which code each row measured.",
        "",
        "| date | code | database | registry | rows (csv) | full csv rows/s | check s "
        "| raw rows/s | naive rows/s | full/raw | full/naive | xlsx rows | full xlsx rows/s "
        "| prefill rows/s |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| ---: |",
    ]
    for e in entries:
        lines.append(
            f"| {e['run_at'][:10]} | {e.get('code', '')} | {e['database_version']} "
            f"| {e['registry_before']:,} "
            f"| {e['full_csv']['rows']:,} | {_fmt(e['full_csv']['rows_per_s'])} "
            f"| {e['full_csv']['detail']['check_seconds']:,.1f} "
            f"| {_fmt(e['raw']['rows_per_s'])} | {_fmt(e['naive']['rows_per_s'])} "
            f"({e['naive']['rows']:,} rows) | {e['full_over_raw'] * 100:.0f} % "
            f"| {e['full_over_naive']:.1f}× | {e['full_xlsx']['rows']:,} "
            f"| {_fmt(e['full_xlsx']['rows_per_s'])} | {_fmt(e['prefill_rows_per_s'])} |"
        )
    lines += ["", "Per run:", ""]
    for e in entries:
        m = e["machine"]
        full = e["full_csv"]
        target = ""
        if e["rows"] >= 1_000_000:
            met = e["full_over_raw"] >= 0.5 and e["full_over_naive"] >= 20
            target = " Target " + ("met." if met else "**not met**.")
        code = f" · code {e['code']}" if e.get("code") else ""
        lines.append(
            f"- {e['run_at']}{code} · {e['database_version']} · `{e['command']}` · {m['cpu']}, "
            f"{m['cores']} cores, {m['memory']}, {m['os']}, Python {m['python']} · registry "
            f"{e['registry_before']:,} students ({'pre-filled in this run' if e['prefill_in_this_run'] else 'restored snapshot, pre-filled ' + e['prefill_at']}"
            f" in {e['prefill_seconds']:,.0f} s) · csv {e['csv_bytes'] / 1e6:.0f} MB, "
            f"chunk {e['chunk_rows']:,} rows · full csv {full['seconds']:.1f} s "
            f"(check {full['detail']['check_seconds']:.1f} s + merge "
            f"{full['detail']['merge_seconds']:.1f} s; {full['detail']['errors']} error rows) · "
            f"raw {e['raw']['seconds']:.1f} s · naive {e['naive']['seconds']:.1f} s · "
            f"{e.get('cleaning_workers', 0)} cleaning worker(s) · load average "
            f"{'/'.join(str(v) for v in e.get('load_average', []))} (before/after).{target}"
        )
    lines += ["", SECTION.data_line(entries), SECTION_END]
    return "\n".join(lines) + "\n"


def read_entries(text: str) -> list[dict]:
    return SECTION.read_entries(text)


def update_docs(new_entries: list[dict], path: Path = DOCS) -> None:
    """Replace this benchmark's section in docs/benchmarks.md; other sections stay."""
    SECTION.update(new_entries, render_section, path)


def summary(entry: dict) -> str:
    return (
        f"{entry['database_version']:>18}: full csv {_fmt(entry['full_csv']['rows_per_s'])} rows/s, "
        f"raw {_fmt(entry['raw']['rows_per_s'])}, naive {_fmt(entry['naive']['rows_per_s'])}, "
        f"full/raw {entry['full_over_raw'] * 100:.0f} %, full/naive {entry['full_over_naive']:.1f}×, "
        f"xlsx {_fmt(entry['full_xlsx']['rows_per_s'])} rows/s"
    )


def effective_command(sizes: Sizes, database: str, baseline: str | None = None) -> str:
    """The command that repeats a run exactly (every size spelled out)."""
    extra = ["--baseline", baseline] if baseline else []
    return " ".join(["python -m bench.import_bench", *_size_args(sizes), "--db", database, *extra])


def run(
    sizes: Sizes,
    databases: list[str],
    *,
    fresh: bool,
    write_docs: bool,
    baseline: str | None = None,
) -> list[dict]:
    entries = []
    codes: list[tuple[str, Path]] = []
    if baseline:
        source, commit = export_revision(baseline)
        codes.append((f"{commit} ({baseline}, baseline)", source))
    codes.append((working_tree_code(), BASE_DIR))
    for name in databases:
        command = effective_command(sizes, name, baseline)
        target = TARGETS[name]()
        for number, (code, source) in enumerate(codes):
            # Only the first measurement may pre-fill; the next one restores its snapshot.
            result = run_database(target, sizes, fresh=fresh and number == 0, source=source)
            result.update(
                rows=sizes.rows,
                registry=sizes.registry,
                run_at=datetime.now().astimezone().isoformat(timespec="seconds"),
                command=command,
                machine=machine(),
                code=code,
            )
            print(f"{code}: {summary(result)}", flush=True)
            entries.append(result)
    if write_docs:
        update_docs(entries)
        print(f"written to {DOCS.relative_to(BASE_DIR)}", flush=True)
    return entries


def parser() -> argparse.ArgumentParser:
    defaults = Sizes()
    p = argparse.ArgumentParser(
        prog="python -m bench.import_bench", description=__doc__.split("\n")[0]
    )
    p.add_argument("--rows", type=int, default=defaults.rows, help="students in the csv")
    p.add_argument(
        "--registry", type=int, default=defaults.registry, help="students already registered"
    )
    p.add_argument("--xlsx-rows", type=int, default=defaults.xlsx_rows, help="students in the xlsx")
    p.add_argument("--naive-rows", type=int, default=defaults.naive_rows, help="naive sample size")
    p.add_argument("--schools", type=int, default=defaults.schools)
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    p.add_argument(
        "--fresh-registry",
        action="store_true",
        help="pre-fill the registry again (and replace its snapshot) instead of restoring it",
    )
    p.add_argument(
        "--drop-snapshots", action="store_true", help="delete registry snapshots and exit"
    )
    p.add_argument("--no-docs", action="store_true", help="print only; leave docs/benchmarks.md")
    p.add_argument(
        "--baseline",
        metavar="REF",
        help="also measure git revision REF's code, on the same registry in the same run",
    )
    p.add_argument("--worker", choices=("prefill", "measure"), help=argparse.SUPPRESS)
    p.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    sizes = Sizes(
        rows=args.rows,
        registry=args.registry,
        xlsx_rows=args.xlsx_rows,
        naive_rows=args.naive_rows,
        schools=args.schools,
        seed=args.seed,
    )
    if args.worker:
        worker(args.worker, sizes, args.result)
        return 0
    if args.drop_snapshots:
        shutil.rmtree(OUT_DIR / "snapshots", ignore_errors=True)
        PostgresTarget().drop_snapshots()
        return 0
    databases = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    run(
        sizes,
        databases,
        fresh=args.fresh_registry,
        write_docs=not args.no_docs,
        baseline=args.baseline,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
