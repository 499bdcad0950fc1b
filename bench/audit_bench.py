"""Audit-chain benchmark: ``audit_verify`` over a trail of N events (default 1,000,000).

The trail is written through the real append path (``AuditEvent.objects.bulk_create``,
which chains every row: head lock, canonical hash) in transactions of 10,000 events spread
over the chain partitions, then checkpointed. Timed in the same run:

- **verify**: ``xueji.audit.verify.verify()`` (what ``manage.py audit_verify`` runs): read
  every row in chain order, recompute its SHA-256, check links, head and checkpoint;
- **scan**: reading the same rows in the same order without hashing (the floor).

Each database runs in its own subprocess with ``config.settings.dev``: PostgreSQL in the
scratch database ``xueji_bench_audit`` (dropped and created here), SQLite under
``bench/out/audit-sqlite``.

    python -m bench.audit_bench --rows 1000000 [--db postgres|sqlite|both]
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
from datetime import datetime, timedelta
from pathlib import Path

from bench.import_bench import BASE_DIR, DOCS, OUT_DIR, PG_SERVER, _database_version, _say, machine
from bench.report import Section, by_target_and

PG_DATABASE = "xueji_bench_audit"
SQLITE_DIR = OUT_DIR / "audit-sqlite"
SECTION = Section("audit-benchmark", by_target_and("rows"))
SECTION_START, SECTION_END = SECTION.start, SECTION.end
BATCH = 10_000


@dataclass
class Sizes:
    rows: int = 1_000_000
    seed: int = 20261


# -- inside Django ---------------------------------------------------------------------------


def prepare(sizes: Sizes, *, log=_say) -> dict:
    """``sizes.rows`` events by 40 actors over the partitions, then a signed checkpoint."""
    from django.db import transaction

    from xueji import clock
    from xueji.audit.models import AuditEvent
    from xueji.audit.signing import checkpoint_create

    rng = random.Random(sizes.seed)
    actions = ("student.correct", "student.register", "change.file", "account.sign_in")
    start = clock.now() - timedelta(days=30)
    started = time.perf_counter()
    written = 0
    while written < sizes.rows:
        n = min(BATCH, sizes.rows - written)
        actor = rng.randint(1, 40)
        rows = [
            AuditEvent(
                at=start + timedelta(seconds=written + i),
                actor_id=actor,
                actor_username=f"clerk-{actor}",
                unit_id=1000 + actor,
                action=actions[(written + i) % len(actions)],
                object_type="students.student",
                object_id=str(rng.randint(1, 10**7)),
                summary=f"更正学生基础信息：姓名 第{written + i}条",
                detail={"field": "name", "before": "张三", "after": "张叁", "n": written + i},
                ip=f"10.0.{actor}.{(written + i) % 250 + 1}",
                user_agent="Mozilla/5.0 (bench)",
                channel="web",
                request_id=f"{written + i:032x}",
            )
            for i in range(n)
        ]
        with transaction.atomic():
            AuditEvent.objects.bulk_create(rows, batch_size=2000)
        written += n
        if written % 100_000 == 0:
            log(f"written {written:,} events")
    seconds = time.perf_counter() - started
    checkpoint_create()
    log(f"trail of {written:,} events written in {seconds:.1f} s")
    return {"append_seconds": round(seconds, 3), "append_rows_per_s": round(written / seconds, 1)}


def scan() -> tuple[int, float]:
    from xueji.audit.chain import CONTENT_FIELDS
    from xueji.audit.models import AuditEvent

    started = time.perf_counter()
    count = 0
    for _row in (
        AuditEvent.objects.order_by("partition", "seq", "pk")
        .values_list("pk", "row_hash", *CONTENT_FIELDS)
        .iterator(chunk_size=20_000)
    ):
        count += 1
    return count, time.perf_counter() - started


def measure(*, log=_say) -> dict:
    from django.db import connection

    from xueji.audit.verify import verify

    load_before = os.getloadavg()[0]
    rows, scan_seconds = scan()
    log(f"scan: {rows:,} rows in {scan_seconds:.1f} s")
    started = time.perf_counter()
    report = verify()
    verify_seconds = time.perf_counter() - started
    log(f"verify: {report.rows:,} rows in {verify_seconds:.1f} s, intact={report.intact}")
    if not report.intact or report.rows != rows:
        raise RuntimeError(f"verify failed on the generated trail: {report.problems[:3]}")
    return {
        "database": connection.vendor,
        "database_version": _database_version(connection),
        "events": rows,
        "partitions": report.partitions,
        "checkpoints": report.checkpoints,
        "verify_seconds": round(verify_seconds, 3),
        "scan_seconds": round(scan_seconds, 3),
        "verify_rows_per_s": round(rows / verify_seconds, 1) if verify_seconds else 0.0,
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
    result = {**prepared, **measure()}
    result_path.write_text(json.dumps(result, ensure_ascii=False, indent=1))


# -- outside Django: one subprocess per database ---------------------------------------------


def _env(database: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["DJANGO_SETTINGS_MODULE"] = "config.settings.dev"
    if database == "postgres":
        import psycopg

        with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")
            admin.execute(f"CREATE DATABASE {PG_DATABASE}")
        env["DATABASE_URL"] = f"{PG_SERVER}/{PG_DATABASE}"
        env["XUEJI_DATA_DIR"] = str(OUT_DIR / "audit-postgres")
    else:
        shutil.rmtree(SQLITE_DIR, ignore_errors=True)
        SQLITE_DIR.mkdir(parents=True)
        env["XUEJI_DATA_DIR"] = str(SQLITE_DIR)
    return env


def run_database(database: str, sizes: Sizes) -> dict:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    result_path = OUT_DIR / f"audit-result-{database}.json"
    result_path.unlink(missing_ok=True)
    command = [sys.executable, "-m", "bench.audit_bench", "--worker", "--rows", str(sizes.rows)]
    command += ["--seed", str(sizes.seed), "--result", str(result_path)]
    subprocess.run(command, cwd=BASE_DIR, env=_env(database), check=True)  # noqa: S603
    return json.loads(result_path.read_text())


# -- the report ------------------------------------------------------------------------------


def render_section(entries: list[dict]) -> str:
    entries = sorted(entries, key=lambda e: e["run_at"], reverse=True)
    lines = [
        SECTION_START,
        "## Audit-chain benchmark (`audit_verify`, `bench/audit_bench.py`)",
        "",
        "`python manage.py audit_verify` over a generated trail, written through the real",
        "append path (every row chained: head lock, SHA-256 of its canonical content) and",
        "checkpointed; **verify** reads every row in chain order, recomputes its hash and checks",
        "links, heads and the signed checkpoint. **scan** reads the same rows in the same order",
        "without hashing, in the same run (the floor). Figures are single runs.",
        "",
        "| date | database | events | partitions | verify s | verify rows/s | scan s "
        "| append rows/s |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for e in entries:
        lines.append(
            f"| {e['run_at'][:10]} | {e['database_version']} | {e['events']:,} "
            f"| {e['partitions']} | {e['verify_seconds']:.1f} | {e['verify_rows_per_s']:,.0f} "
            f"| {e['scan_seconds']:.1f} | {e['append_rows_per_s']:,.0f} |"
        )
    lines += ["", "Per run:", ""]
    for e in entries:
        m = e["machine"]
        busy = (
            " — the machine was busy with other work (load above its core count)"
            if max(e.get("load_average", [0])) > (m.get("cores") or 1)
            else ""
        )
        lines.append(
            f"- {e['run_at']} · {e['database_version']} · `{e['command']}` · {m['cpu']}, "
            f"{m['cores']} cores, {m['memory']}, {m['os']}, Python {m['python']} · trail "
            f"written in {e['append_seconds']:,.0f} s · load average "
            f"{'/'.join(str(v) for v in e['load_average'])} (before/after){busy}."
        )
    lines += ["", SECTION.data_line(entries), SECTION_END]
    return "\n".join(lines) + "\n"


def read_entries(text: str) -> list[dict]:
    return SECTION.read_entries(text)


def update_docs(new_entries: list[dict], path: Path = DOCS) -> None:
    """Replace this benchmark's section in docs/benchmarks.md; other sections stay."""
    SECTION.update(new_entries, render_section, path)


def parser() -> argparse.ArgumentParser:
    defaults = Sizes()
    p = argparse.ArgumentParser(
        prog="python -m bench.audit_bench", description=__doc__.split("\n")[0]
    )
    p.add_argument("--rows", type=int, default=defaults.rows, help="audit events in the trail")
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument("--db", choices=("postgres", "sqlite", "both"), default="both")
    p.add_argument("--no-docs", action="store_true", help="print only; leave docs/benchmarks.md")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None, *, ignore_unknown: bool = False) -> int:
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
            command=f"python -m bench.audit_bench --rows {sizes.rows} --seed {sizes.seed} "
            f"--db {database}",
            machine=machine(),
        )
        print(
            f"{result['database_version']:>18}: verify {result['events']:,} events in "
            f"{result['verify_seconds']:.1f} s (scan {result['scan_seconds']:.1f} s)",
            flush=True,
        )
        entries.append(result)
    if not args.no_docs:
        update_docs(entries)
        print(f"written to {DOCS.relative_to(BASE_DIR)}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
