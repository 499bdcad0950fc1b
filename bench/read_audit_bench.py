"""Read-audit benchmark: API detail reads per second with read auditing on and off.

Every read of personal data writes audit events (``xueji/audit/reads.py``). This measures
what that costs where it is paid most often — ``GET /api/students/{id}``, one student's
full record — on a production-like server, in one run, against the same data:

- a registry of generated students (``xueji.exchange.synthetic``) in a scratch database
  (PostgreSQL ``xueji_bench_reads``, or SQLite under ``bench/out/reads-sqlite``);
- two gunicorn servers (sync workers, ``--workers`` each, DEBUG off, settings
  ``bench.read_settings``) on the same database: one with ``XUEJI_READ_AUDIT=on`` (the
  production setting), one with ``off`` (the baseline; production refuses it);
- a load of ``--connections`` concurrent clients, each asking for a random student's
  detail with an API token (a national clerk: every student in scope), ``--seconds`` per
  measurement, the two servers alternating for ``--rounds`` rounds (so that other work
  on the machine weighs on both alike).

Reported: requests per second of each, the cost (1 − on/off; target under 20 %), and the
audit events written, which must equal the reads served with auditing on and be zero
with it off.

    python -m bench.read_audit_bench [--students 20000] [--db sqlite|postgres|both]
"""

import argparse
import http.client
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.import_bench import BASE_DIR, DOCS, OUT_DIR, PG_SERVER, _say, machine
from bench.report import Section, busy_note, by_target_and

PG_DATABASE = "xueji_bench_reads"
SECTION = Section("read-audit-benchmark", by_target_and("students"))
SECTION_START, SECTION_END = SECTION.start, SECTION.end
TARGET_COST = 0.20
SAMPLE_IDS = 2_000


@dataclass
class Options:
    students: int = 20_000
    schools: int = 0  # 0: one per 400 students
    seconds: float = 10.0
    rounds: int = 3
    connections: int = 8
    workers: int = 2
    seed: int = 20261


# -- inside the database's subprocess (Django set up) ----------------------------------------


def prepare(options: Options, *, log=_say) -> dict:
    """Migrate, generate the registry, issue the clerk's API token, pick the students."""
    from django.core.management import call_command
    from django.db import connection

    from bench.import_bench import _database_version, _settle, bench_actor
    from xueji.accounts.tokens import api_token_issue
    from xueji.exchange.synthetic import DemoPlan, generate
    from xueji.students.models import Student

    call_command("migrate", verbosity=0, interactive=False)
    started = time.perf_counter()
    schools = options.schools or max(2, options.students // 400)
    counts = generate(
        plan=DemoPlan(
            students=options.students + 13 * (schools + 2),
            schools=schools,
            provinces=("44", "51", "33"),
            seed=options.seed,
        )
    )
    seconds = time.perf_counter() - started
    log(f"prepare: {counts.students:,} students, {counts.schools:,} schools in {seconds:.1f} s")
    _settle(connection)
    actor = _in_service(bench_actor())
    token = api_token_issue(actor=actor, user=actor, name="read-audit-bench", expires_at=None)
    ids = list(Student.objects.order_by("pk").values_list("pk", flat=True))
    rng = random.Random(options.seed)
    return {
        "token": token.secret,
        "ids": rng.sample(ids, min(SAMPLE_IDS, len(ids))),
        "students": counts.students,
        "schools": counts.schools,
        "prepare_seconds": round(seconds, 1),
        "database": connection.vendor,
        "database_version": _database_version(connection),
    }


def _in_service(user):
    """The clerk at work: first password change done, trained (先培训后上岗)."""
    from datetime import date

    from xueji import clock
    from xueji.accounts.models import TrainingRecord, User

    User.objects.filter(pk=user.pk).update(must_change_password=False, last_seen_at=clock.now())
    TrainingRecord.objects.get_or_create(
        user=user,
        course="学籍管理员岗前培训",
        defaults={
            "completed_on": date(2024, 8, 20),
            "certificate_no": f"BENCH{user.pk:06d}",
            "recorded_at": clock.now(),
        },
    )
    user.refresh_from_db()
    return user


def read_event_count() -> int:
    from xueji.audit.events import AuditAction
    from xueji.audit.models import AuditEvent

    return AuditEvent.objects.filter(action=AuditAction.STUDENT_READ.value).count()


# -- the servers and the load (no Django in this process) ------------------------------------


def _env(database: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "XUEJI_READ_AUDIT")}
    env["DJANGO_SETTINGS_MODULE"] = "bench.read_settings"
    if database == "postgres":
        import psycopg

        with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")
            admin.execute(f"CREATE DATABASE {PG_DATABASE}")
        env["DATABASE_URL"] = f"{PG_SERVER}/{PG_DATABASE}"
        env["XUEJI_DATA_DIR"] = str(OUT_DIR / "reads-postgres")
    else:
        env["XUEJI_DATA_DIR"] = str(OUT_DIR / "reads-sqlite")
    shutil.rmtree(env["XUEJI_DATA_DIR"], ignore_errors=True)
    Path(env["XUEJI_DATA_DIR"]).mkdir(parents=True)
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(phase: str, env: dict[str, str], options: Options) -> dict:
    result = OUT_DIR / f"reads-{phase}.json"
    result.unlink(missing_ok=True)
    command = [sys.executable, "-m", "bench.read_audit_bench", "--worker", phase]
    command += ["--result", str(result), *_option_args(options)]
    subprocess.run(command, cwd=BASE_DIR, env=env, check=True)  # noqa: S603
    return json.loads(result.read_text())


class Server:
    """One gunicorn (sync workers) on a free loopback port; stopped by its own pid."""

    def __init__(self, env: dict[str, str], *, audit: str, workers: int) -> None:
        self.port = _free_port()
        self.process = subprocess.Popen(  # noqa: S603
            [
                sys.executable,
                "-m",
                "gunicorn",
                "config.wsgi:application",
                *("--workers", str(workers), "--worker-class", "sync"),
                *("--bind", f"127.0.0.1:{self.port}", "--log-level", "warning"),
            ],
            cwd=BASE_DIR,
            env={**env, "XUEJI_READ_AUDIT": audit},
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if _get(self.port, "/healthz", {}) == 200:
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"gunicorn (read audit {audit}) did not answer on {self.port}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _get(port: int, path: str, headers: dict[str, str]) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def load(port: int, *, token: str, ids: list[int], seconds: float, connections: int, seed: int):
    """``connections`` clients asking for random students' details for ``seconds``:
    (answered 200, other answers, elapsed seconds)."""
    headers = {"Authorization": f"Bearer {token}"}
    counts = [[0, 0] for _i in range(connections)]
    stop = time.perf_counter() + seconds

    def client(index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        while time.perf_counter() < stop:
            status = _get(port, f"/api/students/{rng.choice(ids)}", headers)
            counts[index][0 if status == 200 else 1] += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return sum(c[0] for c in counts), sum(c[1] for c in counts), elapsed


def measure(database: str, options: Options, *, log=_say) -> dict:
    env = _env(database)
    prepared = _worker("prepare", env, options)
    log(f"{database}: {prepared['database_version']}, {prepared['students']:,} students")
    before = _worker("count", env, options)["read_events"]
    servers = {
        "on": Server(env, audit="on", workers=options.workers),
        "off": Server(env, audit="off", workers=options.workers),
    }
    totals: dict[str, dict[str, Any]] = {
        mode: {"ok": 0, "errors": 0, "seconds": 0.0, "rounds": []} for mode in servers
    }
    load_before = os.getloadavg()[0]
    try:
        for server in servers.values():  # warm up: imports, connections, caches
            load(server.port, token=prepared["token"], ids=prepared["ids"], seconds=2,
                 connections=options.connections, seed=0)  # fmt: skip
        warm = _worker("count", env, options)["read_events"]
        for round_ in range(options.rounds):
            order = ["on", "off"] if round_ % 2 == 0 else ["off", "on"]
            for mode in order:
                ok, errors, elapsed = load(
                    servers[mode].port,
                    token=prepared["token"],
                    ids=prepared["ids"],
                    seconds=options.seconds,
                    connections=options.connections,
                    seed=round_ + 1,
                )
                total = totals[mode]
                total["ok"] += ok
                total["errors"] += errors
                total["seconds"] += elapsed
                total["rounds"].append(round(ok / elapsed, 1))
                log(f"{database} round {round_ + 1} audit {mode}: {ok / elapsed:,.1f} req/s")
    finally:
        for server in servers.values():
            server.stop()
    after = _worker("count", env, options)["read_events"]
    rates = {mode: t["ok"] / t["seconds"] for mode, t in totals.items()}
    return {
        "target": database,
        "database": prepared["database"],
        "database_version": prepared["database_version"],
        "students": prepared["students"],
        "schools": prepared["schools"],
        "prepare_seconds": prepared["prepare_seconds"],
        "options": asdict(options),
        "on": {**totals["on"], "rate": round(rates["on"], 1)},
        "off": {**totals["off"], "rate": round(rates["off"], 1)},
        "cost": round(1 - rates["on"] / rates["off"], 4) if rates["off"] else 0.0,
        # every read served with auditing on wrote its event; none with it off
        "read_events_measured": after - warm,
        "read_events_warmup": warm - before,
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }


# -- the report ------------------------------------------------------------------------------


def _busy(entry: dict) -> str:
    return busy_note(
        entry, "absolute rates are depressed; on and off ran alternately in the same conditions"
    )


def render_section(entries: list[dict]) -> str:
    entries = sorted(entries, key=lambda e: e["run_at"], reverse=True)
    lines = [
        SECTION_START,
        "## Read-audit benchmark (API detail reads, `bench/read_audit_bench.py`)",
        "",
        "`GET /api/students/{id}` (one student's full record, a random one of 2,000 per",
        "request, API token of a national clerk) against two gunicorn servers on the same",
        "database, DEBUG off: read auditing **on** (each read writes its audit event before",
        "the answer leaves) and **off** (the baseline; production refuses it), alternating",
        "round by round. Cost = 1 − on/off; target: under 20 %. Events written are counted",
        "afterwards: they must equal the reads served with auditing on.",
        "",
        "| date | database | students | workers × clients | on req/s | off req/s | cost "
        "| reads served (on) | events written |",
        "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for e in entries:
        o = e["options"]
        lines.append(
            f"| {e['run_at'][:10]} | {e['database_version']} | {e['students']:,} "
            f"| {o['workers']} × {o['connections']} | {e['on']['rate']:,.1f} "
            f"| {e['off']['rate']:,.1f} | {e['cost'] * 100:.1f} % | {e['on']['ok']:,} "
            f"| {e['read_events_measured']:,} |"
        )
    lines += ["", "Per run:", ""]
    for e in entries:
        m = e["machine"]
        met = "met" if e["cost"] < TARGET_COST else "**not met**"
        rounds_on = ", ".join(f"{r:,.1f}" for r in e["on"]["rounds"])
        rounds_off = ", ".join(f"{r:,.1f}" for r in e["off"]["rounds"])
        lines.append(
            f"- {e['run_at']} · {e['database_version']} · `{e['command']}` · {m['cpu']}, "
            f"{m['cores']} cores, {m['memory']}, {m['os']}, Python {m['python']} · "
            f"{e['schools']:,} schools, registry generated in {e['prepare_seconds']:,.0f} s · "
            f"rounds on: {rounds_on} req/s; off: {rounds_off} req/s · errors "
            f"{e['on']['errors']}/{e['off']['errors']} (on/off) · load average "
            f"{'/'.join(str(v) for v in e['load_average'])} (before/after){_busy(e)} · "
            f"target {met}."
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
        f"{entry['database_version']:>18}: audit on {entry['on']['rate']:,.1f} req/s, "
        f"off {entry['off']['rate']:,.1f} req/s, cost {entry['cost'] * 100:.1f} % "
        f"({entry['on']['ok']:,} reads served on, {entry['read_events_measured']:,} "
        f"events written; errors {entry['on']['errors']}/{entry['off']['errors']})"
    )


def _option_args(options: Options) -> list[str]:
    return [
        *("--students", str(options.students), "--schools", str(options.schools)),
        *("--seconds", str(options.seconds), "--rounds", str(options.rounds)),
        *("--connections", str(options.connections), "--workers", str(options.workers)),
        *("--seed", str(options.seed)),
    ]


def parser() -> argparse.ArgumentParser:
    d = Options()
    p = argparse.ArgumentParser(
        prog="python -m bench.read_audit_bench", description=__doc__.split("\n")[0]
    )
    p.add_argument("--students", type=int, default=d.students, help="students in the registry")
    p.add_argument("--schools", type=int, default=d.schools, help="0: one per 400 students")
    p.add_argument("--seconds", type=float, default=d.seconds, help="per measurement")
    p.add_argument("--rounds", type=int, default=d.rounds, help="on/off measurements each")
    p.add_argument("--connections", type=int, default=d.connections, help="concurrent clients")
    p.add_argument("--workers", type=int, default=d.workers, help="gunicorn workers per server")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--db", choices=("postgres", "sqlite", "both"), default="both")
    p.add_argument("--no-docs", action="store_true", help="print only; leave docs/benchmarks.md")
    p.add_argument("--worker", choices=("prepare", "count"), help=argparse.SUPPRESS)
    p.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None, *, ignore_unknown: bool = False) -> int:
    """``ignore_unknown``: called by ``bench.run_all`` with the other benchmarks' options."""
    if ignore_unknown:
        args, _unknown = parser().parse_known_args(argv)
    else:
        args = parser().parse_args(argv)
    options = Options(
        students=args.students,
        schools=args.schools,
        seconds=args.seconds,
        rounds=args.rounds,
        connections=args.connections,
        workers=args.workers,
        seed=args.seed,
    )
    if args.worker:
        import django

        django.setup()
        data = prepare(options) if args.worker == "prepare" else {"read_events": read_event_count()}
        args.result.write_text(json.dumps(data))
        return 0
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    databases = ["postgres", "sqlite"] if args.db == "both" else [args.db]
    entries = []
    for database in databases:
        entry = measure(database, options)
        entry["run_at"] = datetime.now().astimezone().isoformat(timespec="seconds")
        entry["command"] = "python -m bench.read_audit_bench " + " ".join(
            [*_option_args(options), "--db", database]
        )
        entry["machine"] = machine()
        print(summary(entry), flush=True)
        entries.append(entry)
    if not args.no_docs:
        update_docs(entries)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
