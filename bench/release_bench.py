"""Release benchmark: generating a data release over a province's students.

The registry is generated straight into the tables as for the promotion benchmark
(``bench.promotion_bench.prepare``: schools in eight counties of 广州, students spread over
their grades, 1.5 % deferred or suspended). A province statistician asks for three releases
of all of them, the province's reviewer passes each on and a second reviewer approves it;
what is timed is the approval, which generates the file at once (``release_approve`` →
``release_generate``: the population query with its window count for k-anonymity, the keyed
pseudonyms and row order, the file written and stored, the audit events):

- **rows csv**: row-level, pseudonymised, fields sex, birth year, grade, county, school type
  and status (k = 5: the rare statuses' small groups are suppressed);
- **rows xlsx**: the same as an Excel file;
- **table csv**: counts by county, grade, sex and status (cells under 5 suppressed).

Then ``release_trace`` is timed on a 100-row partial copy of the csv release. Each database
runs in its own subprocess with ``config.settings.dev``: PostgreSQL in the scratch database
``xueji_bench_release`` (dropped and created here), SQLite under ``bench/out/release-sqlite``.

    python -m bench.release_bench --rows 100000 [--db postgres|sqlite|both]
"""

import argparse
import csv
import io
import json
import os
import random
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from bench.import_bench import BASE_DIR, DOCS, OUT_DIR, PG_SERVER, _database_version, _say, machine
from bench.report import Section, busy_note, by_target_and

PG_DATABASE = "xueji_bench_release"
SQLITE_DIR = OUT_DIR / "release-sqlite"
SECTION = Section("release-benchmark", by_target_and("rows"))
SECTION_START, SECTION_END = SECTION.start, SECTION.end
ROW_FIELDS = ["sex", "birth", "grade", "county", "school_type", "state"]
TABLE_FIELDS = ["county", "grade", "sex", "state"]
CASES = (
    ("rows_csv", "rows", ROW_FIELDS, "csv"),
    ("rows_xlsx", "rows", ROW_FIELDS, "xlsx"),
    ("table_csv", "table", TABLE_FIELDS, "csv"),
)


@dataclass
class Sizes:
    rows: int = 100_000
    seed: int = 20261


# -- inside Django ---------------------------------------------------------------------------


def _account(username: str, division: str, role: str):
    from xueji.accounts.services import temporary_password, unit_ensure_for_division, user_create

    return user_create(
        actor=None,
        unit=unit_ensure_for_division(division_code=division),
        username=username,
        password=temporary_password(username=username),
        roles=[role],
        full_name=username,
    )


def staff() -> dict:
    return {
        "requester": _account("bench-release-stat", "440000", "statistician"),
        "reviewer": _account("bench-release-review", "440000", "reviewer"),
        "approver": _account("bench-release-approve", "440000", "reviewer"),
        "recipient": _account("bench-release-recipient", "510000", "statistician"),
    }


def one_release(people: dict, *, kind: str, fields: list[str], output_format: str) -> dict:
    from django.db import connection

    from xueji import clock
    from xueji.audit.models import AuditEvent
    from xueji.releases import services

    from .import_bench import _settle

    release = services.release_request(
        actor=people["requester"],
        data=services.ReleaseInput(
            purpose="基准测试：全省学生数据发布",
            basis_kind="law",
            basis_law="《中华人民共和国统计法》第七条",
            kind=kind,
            fields=fields,
            output_format=output_format,
            recipient_organisation="基准测试研究院",
            recipient_username=people["recipient"].username,
            expires_on=clock.today() + timedelta(days=30),
        ),
    )
    services.release_review(actor=people["reviewer"], release_id=release.pk, decision="pass")
    _settle(connection)
    started, cpu_started = time.perf_counter(), time.process_time()
    release = services.release_approve(
        actor=people["approver"], release_id=release.pk, decision="approve"
    )
    seconds = time.perf_counter() - started
    # The application process's own CPU time: on a shared machine the wall time also holds
    # the wait for a core; this part does not (the database server's work is not in it).
    cpu_seconds = time.process_time() - cpu_started
    generated = AuditEvent.objects.get(action="release.generate", object_id=str(release.pk))
    return {
        "release_id": release.pk,
        "population": release.population_count,
        "rows": release.row_count,
        "suppressed": release.suppressed_count,
        "bytes": release.file.size,
        "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu_seconds, 3),
        "generation_seconds": generated.detail["seconds"],
    }


def trace_partial(release_id: int, rows: int = 100, *, seed: int = 1) -> dict:
    """release_trace's work on ``rows`` rows drawn from the release's csv, mark cut off."""
    from xueji.releases.models import DataRelease
    from xueji.releases.trace import trace

    release = DataRelease.objects.get(pk=release_id)
    with release.file.open("rb") as handle:
        lines = list(csv.reader(io.StringIO(handle.read().decode("utf-8-sig"))))
    data = [r for r in lines[2:] if r and not r[0].startswith("#")]
    out = io.StringIO()
    csv.writer(out).writerows(random.Random(seed).sample(data, min(rows, len(data))))
    started = time.perf_counter()
    result = trace(out.getvalue().encode())
    seconds = time.perf_counter() - started
    named = [m.release.pk for m in result.matches]
    return {"rows": rows, "seconds": round(seconds, 3), "named": named == [release_id]}


def measure(sizes: Sizes, *, log=_say) -> dict:
    from django.db import connection

    from xueji.enrolment.models import StatusRecord

    people = staff()
    load_before = os.getloadavg()[0]
    cases = {}
    for name, kind, fields, output_format in CASES:
        cases[name] = one_release(people, kind=kind, fields=fields, output_format=output_format)
        c = cases[name]
        log(
            f"{name}: {c['rows']:,} rows of {c['population']:,} ({c['suppressed']:,} suppressed)"
            f" in {c['seconds']:.2f} s (generation {c['generation_seconds']:.2f} s)"
        )
    traced = trace_partial(cases["rows_csv"]["release_id"])
    log(f"trace: 100 rows in {traced['seconds']:.2f} s, named: {traced['named']}")
    return {
        "database": connection.vendor,
        "database_version": _database_version(connection),
        "records": StatusRecord.objects.count(),
        "cases": cases,
        "trace": traced,
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }


def worker(sizes: Sizes, result_path: Path) -> None:
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from bench.promotion_bench import Sizes as PromotionSizes
    from bench.promotion_bench import prepare

    settings.DEBUG = False  # no per-query log, as in production
    call_command("migrate", interactive=False, verbosity=0)
    prepared = prepare(PromotionSizes(rows=sizes.rows, seed=sizes.seed))
    result = {**prepared, **measure(sizes)}
    result_path.write_text(json.dumps(result, ensure_ascii=False, indent=1))


# -- outside Django: one subprocess per database ---------------------------------------------


def _env(database: str) -> dict[str, str]:
    from bench.promotion_bench import _pg_admin

    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["DJANGO_SETTINGS_MODULE"] = "config.settings.dev"
    if database == "postgres":
        _pg_admin(
            f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)", f"CREATE DATABASE {PG_DATABASE}"
        )
        env["DATABASE_URL"] = f"{PG_SERVER}/{PG_DATABASE}"
        env["XUEJI_DATA_DIR"] = str(OUT_DIR / "release-postgres")
    else:
        shutil.rmtree(SQLITE_DIR, ignore_errors=True)
        SQLITE_DIR.mkdir(parents=True)
        env["XUEJI_DATA_DIR"] = str(SQLITE_DIR)
    return env


def _size_args(sizes: Sizes) -> list[str]:
    return ["--rows", str(sizes.rows), "--seed", str(sizes.seed)]


def run_database(database: str, sizes: Sizes) -> dict:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    result_path = OUT_DIR / f"release-result-{database}.json"
    result_path.unlink(missing_ok=True)
    command = [sys.executable, "-m", "bench.release_bench", "--worker", *_size_args(sizes)]
    command += ["--result", str(result_path)]
    subprocess.run(command, cwd=BASE_DIR, env=_env(database), check=True)  # noqa: S603
    return json.loads(result_path.read_text())


# -- the report ------------------------------------------------------------------------------


def render_section(entries: list[dict]) -> str:
    entries = sorted(entries, key=lambda e: e["run_at"], reverse=True)
    lines = [
        SECTION_START,
        "## Release benchmark (data release generation, `bench/release_bench.py`)",
        "",
        "A province's students (generated straight into the tables) released three ways by",
        "one approval each: the time is the approval itself, which generates the file at once",
        "(`release_approve` → `release_generate`: the population query with the window count",
        "that suppresses groups under k = 5, keyed pseudonyms and row order, the file written",
        "and stored, the audit events). Generation alone is the part the generate event",
        "records. CPU s: the application process's own CPU time for the approval (on a",
        "shared machine the wall time also holds waiting for a core; the database server's",
        "work is not in it). Trace: `release_trace` on 100 rows drawn from the csv release,",
        "mark cut off. Figures are single runs.",
        "",
        "| date | database | students | release | rows | suppressed | MB | approval s "
        "| generation s | CPU s |",
        "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for e in entries:
        for name, _kind, _fields, _format in CASES:
            c = e["cases"][name]
            lines.append(
                f"| {e['run_at'][:10]} | {e['database_version']} | {e['records']:,} "
                f"| {name.replace('_', ' ')} | {c['rows']:,} | {c['suppressed']:,} "
                f"| {c['bytes'] / 1024 / 1024:.1f} | {c['seconds']:.2f} "
                f"| {c['generation_seconds']:.2f} | {_cpu(c)} |"
            )
    lines += ["", "Per run:", ""]
    for e in entries:
        m = e["machine"]
        t = e["trace"]
        lines.append(
            f"- {e['run_at']} · {e['database_version']} · `{e['command']}` · {m['cpu']}, "
            f"{m['cores']} cores, {m['memory']}, {m['os']}, Python {m['python']} · "
            f"{e['schools']:,} schools, registry generated in {e['prepare_seconds']:,.0f} s · "
            f"trace of {t['rows']} rows {t['seconds']:.2f} s, "
            f"{'named the release' if t['named'] else '**did not name the release**'} · "
            f"load average {'/'.join(str(v) for v in e['load_average'])} (before/after)"
            f"{_busy(e)}."
        )
    lines += ["", SECTION.data_line(entries), SECTION_END]
    return "\n".join(lines) + "\n"


def _cpu(case: dict) -> str:
    return f"{case['cpu_seconds']:.2f}" if "cpu_seconds" in case else "—"


def _busy(entry: dict) -> str:
    return busy_note(entry)


def read_entries(text: str) -> list[dict]:
    return SECTION.read_entries(text)


def update_docs(new_entries: list[dict], path: Path = DOCS) -> None:
    """Replace this benchmark's section in docs/benchmarks.md; other sections stay."""
    SECTION.update(new_entries, render_section, path)


def summary(entry: dict) -> str:
    parts = [f"{name} {entry['cases'][name]['seconds']:.2f} s" for name, _k, _f, _o in CASES]
    return f"{entry['database_version']:>18}: {entry['records']:,} students: " + ", ".join(parts)


def parser() -> argparse.ArgumentParser:
    defaults = Sizes()
    p = argparse.ArgumentParser(
        prog="python -m bench.release_bench", description=__doc__.split("\n")[0]
    )
    p.add_argument("--rows", type=int, default=defaults.rows, help="students in the registry")
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
    sizes = Sizes(rows=args.rows, seed=args.seed)
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
                ["python -m bench.release_bench", *_size_args(sizes), "--db", database]
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
