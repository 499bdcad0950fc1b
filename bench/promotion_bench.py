"""Promotion benchmark: the yearly promotion of a registry of enrolled students.

Two ways of moving the same students up one grade, in one run, against the same data:

- **raw**: one ``UPDATE enrolment_statusrecord SET grade = CASE … END`` of exactly the rows
  the batch promotes, in a transaction that is rolled back (then ``VACUUM ANALYZE``), so the
  batch starts from the same data — the floor of what the database can do;
- **full**: the batch service (``xueji.enrolment.batches``): confirm a planned promotion and
  run it — records updated, one history event per student, progress per chunk, the batch's
  audit event — exactly what a province's reviewer starts from the page. The dry run before
  it is timed on its own.

The registry is generated straight into the tables (``COPY`` on PostgreSQL, ``executemany``
on SQLite): schools of three types, students spread over their grades (1.5 % deferred or
suspended), each with the import event of its registration. Each database runs in its own
subprocess with ``config.settings.dev``: PostgreSQL in the scratch database
``xueji_bench_promotion`` (dropped and created here), SQLite under
``bench/out/promotion-sqlite``.

    python -m bench.promotion_bench --rows 1000000 [--db postgres|sqlite|both]
"""

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from bench.import_bench import (
    BASE_DIR,
    DOCS,
    OUT_DIR,
    PG_SERVER,
    _database_version,
    _say,
    _settle,
    bench_actor,
    machine,
)
from bench.report import Section, busy_note, by_target_and

PG_DATABASE = "xueji_bench_promotion"
SQLITE_DIR = OUT_DIR / "promotion-sqlite"
SECTION = Section("promotion-benchmark", by_target_and("rows"))
SECTION_START, SECTION_END = SECTION.start, SECTION.end
# Counties of 广东 the generated schools lie in; the batch runs over the province (44).
COUNTIES = ("440103", "440104", "440105", "440106", "440111", "440112", "440113", "440114")
SCOPE = "440000"
SCHOOL_YEAR = 2026
CUTOFF = date(2026, 8, 31)
TARGET_RATIO = 0.25
# School types and the grades their students are spread over (no four-year junior stage).
KINDS: tuple[tuple[str, tuple[str, ...], float], ...] = (
    ("211", ("11", "12", "13", "14", "15", "16"), 0.6),
    ("311", ("21", "22", "23"), 0.25),
    ("342", ("31", "32", "33"), 0.15),
)
PROMOTABLE = ("11", "12", "13", "14", "15", "21", "22", "31", "32")


@dataclass
class Sizes:
    rows: int = 1_000_000
    schools: int = 0  # 0: one school per 400 students
    chunk_rows: int = 0  # 0: the service's default
    seed: int = 20261

    @property
    def school_count(self) -> int:
        return self.schools or max(3, self.rows // 400)


def _rate(rows: int, seconds: float) -> float:
    return round(rows / seconds, 1) if seconds else 0.0


# -- inside Django ---------------------------------------------------------------------------


def prepare(sizes: Sizes, *, log=_say) -> dict:
    """Schools, then ``sizes.rows`` students with their records and import events."""
    from django.db import connection, transaction

    from xueji import clock
    from xueji.schools.models import School
    from xueji.students import identity

    from .import_data import RAW_COLUMNS

    rng = random.Random(sizes.seed)
    started = time.perf_counter()
    now = clock.now()
    first_code = 1_477_000_000 + (School.objects.count() * 7) % 100_000
    schools = []
    for index in range(sizes.school_count):
        roll, school_type = rng.random(), KINDS[-1][0]
        for candidate, _grades, share in KINDS:
            roll -= share
            if roll < 0:
                school_type = candidate
                break
        county = COUNTIES[index % len(COUNTIES)]
        schools.append(
            School(
                code=str(first_code + index),
                name=f"基准测试学校{index + 1}",
                school_type=school_type,
                operator="1",
                division_code=county,
                area_code=county,
                province_code=county[:2],
            )
        )
    School.objects.bulk_create(schools, batch_size=2000)
    grades_of = {kind[0]: kind[1] for kind in KINDS}
    with connection.cursor() as cursor:
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM students_student")
        first_id = cursor.fetchone()[0] + 1
    log(f"prepare: {len(schools):,} schools; generating {sizes.rows:,} students")
    ops = connection.ops
    pg = connection.vendor == "postgresql"

    def adapt_date(value: date):
        return value if pg else ops.adapt_datefield_value(value)

    stamp = now if pg else ops.adapt_datetimefield_value(now)
    student_rows, record_rows = [], []
    for offset in range(sizes.rows):
        student_id = first_id + offset
        school = schools[rng.randrange(len(schools))]
        grade = rng.choice(grades_of[school.school_type])
        roll = rng.random()
        state = "enrolled" if roll >= 0.015 else ("suspended" if roll < 0.01 else "deferred")
        born = date(2020 - int(grade[1]) - {"1": 0, "2": 6, "3": 9}[grade[0]], 3, 1)
        student_rows.append(
            (
                student_id,
                identity.seal_number(f"L{student_id:018d}"),
                identity.number_key(f"L{student_id:018d}"),
                identity.mask_student_number(f"L{student_id:018d}"),
                "L",
                "基准学生",
                "",
                "",
                "",
                "1" if offset % 2 else "2",
                adapt_date(born),
                school.area_code,
                school.area_code,
                "01",
                "CHN",
                "",
                "",
                None,
                None,
                "00",
                school.area_code,
                "3",
                "10",
                False,
                stamp,
                stamp,
            )
        )
        record_rows.append(
            (
                student_id,
                school.pk,
                school.area_code,
                school.province_code,
                grade[0],
                grade,
                f"{rng.randrange(1, 9)}班",
                state,
                adapt_date(date(2025, 9, 1)),
                "1",
                "1",
                "general",
                False,
                0,
                stamp,
                stamp,
            )
        )
    student_columns = ("id", *RAW_COLUMNS)
    record_columns = (
        "student_id",
        "school_id",
        "area_code",
        "province_code",
        "stage",
        "grade",
        "class_name",
        "state",
        "entry_date",
        "entry_mode",
        "attendance",
        "programme",
        "home_taught",
        "revision",
        "registered_at",
        "updated_at",
    )
    generated = time.perf_counter() - started
    log(f"prepare: rows generated in {generated:.1f} s; loading")
    with transaction.atomic():
        _load("students_student", student_columns, student_rows)
        del student_rows
        _load("enrolment_statusrecord", record_columns, record_rows)
        del record_rows
        with connection.cursor() as cursor:
            # The registration event every record has: history the batch's guard reads.
            cursor.execute(
                "INSERT INTO enrolment_statusevent (record_id, kind, occurred_at,"
                " effective_date, actor_id, actor_username, from_state, to_state, school_id,"
                " stage, grade, class_name, reason, batch, change_type, request_id, materials,"
                " detail) SELECT student_id, 'import', registered_at, entry_date, NULL, '', '',"
                " 'enrolled', school_id, stage, grade, class_name, '', 'bench', '', NULL, '[]',"
                " '{}' FROM enrolment_statusrecord WHERE student_id >= %s",
                [first_id],
            )
            if pg:
                cursor.execute(
                    "SELECT setval(pg_get_serial_sequence('students_student', 'id'),"
                    " (SELECT MAX(id) FROM students_student))"
                )
    seconds = time.perf_counter() - started
    log(f"prepare: {sizes.rows:,} students in {seconds:.1f} s")
    _settle(connection)
    return {"prepare_seconds": round(seconds, 1), "schools": len(schools)}


def _load(table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
    from django.db import connection

    names = ", ".join(columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join(["%s"] * len(columns))
            cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)


def raw_update() -> tuple[int, float]:
    """The same rows as the batch, one ``UPDATE`` of the grade, rolled back."""
    from django.db import connection, transaction

    from xueji.enrolment.batches import NEXT_GRADE

    case = " ".join(f"WHEN '{g}' THEN '{n}'" for g, n in NEXT_GRADE.items())
    grades = ", ".join(f"'{g}'" for g in PROMOTABLE)
    sql = (
        f"UPDATE enrolment_statusrecord SET grade = CASE grade {case} END"
        f" WHERE state = 'enrolled' AND area_code LIKE %s AND grade IN ({grades})"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        started = time.perf_counter()
        cursor.execute(sql, [SCOPE[:2] + "%"])
        rows = cursor.rowcount
        seconds = time.perf_counter() - started
        transaction.set_rollback(True)
    _settle(connection)  # the rolled-back row versions, vacuumed before the batch runs
    return rows, seconds


def full_batch(sizes: Sizes, *, log=_say) -> dict:
    """Dry run (timed apart), then confirm and run the batch through the service."""
    from xueji.audit.models import AuditEvent
    from xueji.enrolment import batches
    from xueji.enrolment.models import StatusEvent

    actor = bench_actor()
    started = time.perf_counter()
    run = batches.batch_promotion_plan(
        actor=actor, scope=SCOPE, school_year=SCHOOL_YEAR, cutoff=CUTOFF
    )
    dry_seconds = time.perf_counter() - started
    log(f"dry run: {run.planned_count:,} to promote in {dry_seconds:.1f} s")
    batches.batch_run_confirm(actor=actor, run_id=run.pk)
    last = [time.perf_counter()]

    def progress(current) -> None:
        if time.perf_counter() - last[0] > 10:
            last[0] = time.perf_counter()
            log(f"full: chunk {current.chunks_done}/{current.chunks_total}")

    started = time.perf_counter()
    done = batches.batch_run_execute(
        run_id=run.pk, progress=progress, chunk_rows=sizes.chunk_rows or None
    )
    seconds = time.perf_counter() - started
    events = StatusEvent.objects.filter(batch=done.batch_key).count()
    audits = AuditEvent.objects.filter(action="batch.promote", object_id=str(done.pk)).count()
    return {
        "rows": done.changed_count,
        "planned": done.planned_count,
        "seconds": round(seconds, 3),
        "rows_per_s": _rate(done.changed_count, seconds),
        "dry_run_seconds": round(dry_seconds, 3),
        "chunks": done.chunks_total,
        "events": events,
        "audit_events": audits,
        "state": done.state,
    }


def measure(sizes: Sizes, *, log=_say) -> dict:
    from django.db import connection

    from xueji.enrolment.models import StatusRecord

    records = StatusRecord.objects.count()
    load_before = os.getloadavg()[0]
    raw_rows, raw_seconds = raw_update()
    raw = {"rows": raw_rows, "seconds": round(raw_seconds, 3), "rows_per_s": 0.0}
    raw["rows_per_s"] = _rate(raw_rows, raw_seconds)
    log(f"raw: {raw_rows:,} rows in {raw_seconds:.1f} s = {raw['rows_per_s']:,.0f} rows/s")
    full = full_batch(sizes, log=log)
    log(
        f"full: {full['rows']:,} rows in {full['seconds']:.1f} s = {full['rows_per_s']:,.0f} rows/s"
    )
    if full["rows"] != raw_rows:
        raise RuntimeError(f"the batch promoted {full['rows']} rows, the raw update {raw_rows}")
    return {
        "database": connection.vendor,
        "database_version": _database_version(connection),
        "records": records,
        "raw": raw,
        "full": full,
        "full_over_raw": round(full["rows_per_s"] / raw["rows_per_s"], 3)
        if raw["rows_per_s"]
        else 0.0,
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }


def worker(sizes: Sizes, result_path: Path) -> None:
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    settings.DEBUG = False  # no per-query log, as in production
    call_command("migrate", interactive=False, verbosity=0)
    prepared = prepare(sizes)
    result = {**prepared, **measure(sizes)}
    result_path.write_text(json.dumps(result, ensure_ascii=False, indent=1))


# -- outside Django: one subprocess per database ---------------------------------------------


def _pg_admin(*statements: str) -> None:
    import psycopg

    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as admin:
        for statement in statements:
            admin.execute(statement)


def _env(database: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["DJANGO_SETTINGS_MODULE"] = "config.settings.dev"
    if database == "postgres":
        _pg_admin(
            f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)", f"CREATE DATABASE {PG_DATABASE}"
        )
        env["DATABASE_URL"] = f"{PG_SERVER}/{PG_DATABASE}"
        env["XUEJI_DATA_DIR"] = str(OUT_DIR / "promotion-postgres")
    else:
        shutil.rmtree(SQLITE_DIR, ignore_errors=True)
        SQLITE_DIR.mkdir(parents=True)
        env["XUEJI_DATA_DIR"] = str(SQLITE_DIR)
    return env


def _size_args(sizes: Sizes) -> list[str]:
    return [
        *("--rows", str(sizes.rows), "--schools", str(sizes.schools)),
        *("--chunk-rows", str(sizes.chunk_rows), "--seed", str(sizes.seed)),
    ]


def run_database(database: str, sizes: Sizes) -> dict:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    result_path = OUT_DIR / f"promotion-result-{database}.json"
    result_path.unlink(missing_ok=True)
    command = [sys.executable, "-m", "bench.promotion_bench", "--worker", *_size_args(sizes)]
    command += ["--result", str(result_path)]
    subprocess.run(command, cwd=BASE_DIR, env=_env(database), check=True)  # noqa: S603
    return json.loads(result_path.read_text())


# -- the report ------------------------------------------------------------------------------


def render_section(entries: list[dict]) -> str:
    entries = sorted(entries, key=lambda e: e["run_at"], reverse=True)
    lines = [
        SECTION_START,
        "## Promotion benchmark (yearly batch, `bench/promotion_bench.py`)",
        "",
        "The yearly promotion of a province's enrolled students (generated straight into the",
        "tables, each with its registration event), through the **full** batch service",
        "(`xueji.enrolment.batches`: chunked and resumable, records updated, one history event",
        "per student, the batch's audit event) compared in the same run with a **raw**",
        "`UPDATE enrolment_statusrecord SET grade = CASE … END` of the same rows (rolled back,",
        "then vacuumed). Target: full ≥ 25 % of raw. The dry run is timed apart (not in the",
        "full figure). Figures are single runs.",
        "",
        "| date | database | students | promoted | full rows/s | raw rows/s | full/raw "
        "| full s | raw s | dry run s | chunks |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for e in entries:
        full, raw = e["full"], e["raw"]
        lines.append(
            f"| {e['run_at'][:10]} | {e['database_version']} | {e['records']:,} "
            f"| {full['rows']:,} | {full['rows_per_s']:,.0f} | {raw['rows_per_s']:,.0f} "
            f"| {e['full_over_raw'] * 100:.0f} % | {full['seconds']:.1f} | {raw['seconds']:.1f} "
            f"| {full['dry_run_seconds']:.1f} | {full['chunks']} |"
        )
    lines += ["", "Per run:", ""]
    for e in entries:
        m = e["machine"]
        met = "met" if e["full_over_raw"] >= TARGET_RATIO else "**not met**"
        lines.append(
            f"- {e['run_at']} · {e['database_version']} · `{e['command']}` · {m['cpu']}, "
            f"{m['cores']} cores, {m['memory']}, {m['os']}, Python {m['python']} · "
            f"{e['schools']:,} schools, registry generated in {e['prepare_seconds']:,.0f} s · "
            f"{e['full']['events']:,} history events and {e['full']['audit_events']} audit "
            f"event written · load average {'/'.join(str(v) for v in e['load_average'])} "
            f"(before/after){_busy(e)} · target {met}."
        )
    lines += ["", SECTION.data_line(entries), SECTION_END]
    return "\n".join(lines) + "\n"


def _busy(entry: dict) -> str:
    return busy_note(entry, "absolute rates are depressed; raw and full ran in the same conditions")


def read_entries(text: str) -> list[dict]:
    return SECTION.read_entries(text)


def update_docs(new_entries: list[dict], path: Path = DOCS) -> None:
    """Replace this benchmark's section in docs/benchmarks.md; other sections stay."""
    SECTION.update(new_entries, render_section, path)


def summary(entry: dict) -> str:
    return (
        f"{entry['database_version']:>18}: full {entry['full']['rows_per_s']:,.0f} rows/s, "
        f"raw {entry['raw']['rows_per_s']:,.0f} rows/s, full/raw "
        f"{entry['full_over_raw'] * 100:.0f} % ({entry['full']['rows']:,} students, "
        f"full {entry['full']['seconds']:.1f} s, raw {entry['raw']['seconds']:.1f} s)"
    )


def parser() -> argparse.ArgumentParser:
    defaults = Sizes()
    p = argparse.ArgumentParser(
        prog="python -m bench.promotion_bench", description=__doc__.split("\n")[0]
    )
    p.add_argument("--rows", type=int, default=defaults.rows, help="students in the registry")
    p.add_argument("--schools", type=int, default=0, help="schools (0: one per 400 students)")
    p.add_argument("--chunk-rows", type=int, default=0, help="records per chunk (0: default)")
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument("--db", choices=("postgres", "sqlite", "both"), default="postgres")
    p.add_argument("--no-docs", action="store_true", help="print only; leave docs/benchmarks.md")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None, *, ignore_unknown: bool = False) -> int:
    """``ignore_unknown``: called by ``bench.run_all`` with the other benchmarks' options."""
    if ignore_unknown:
        args, _unknown = parser().parse_known_args(argv)
    else:
        args = parser().parse_args(argv)
    sizes = Sizes(rows=args.rows, schools=args.schools, chunk_rows=args.chunk_rows, seed=args.seed)
    if args.worker:
        worker(sizes, args.result)
        return 0
    databases = ["postgres", "sqlite"] if args.db == "both" else [args.db]
    entries = []
    for database in databases:
        result = run_database(database, sizes)
        result.update(
            target=database,
            rows=sizes.rows,
            run_at=datetime.now().astimezone().isoformat(timespec="seconds"),
            command=" ".join(
                ["python -m bench.promotion_bench", *_size_args(sizes), "--db", database]
            ),
            machine=machine(),
        )
        print(summary(result), flush=True)
        entries.append(result)
    if not args.no_docs:
        update_docs(entries)
        print(f"written to {DOCS.relative_to(BASE_DIR)}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
