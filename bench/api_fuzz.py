"""Fuzz the API from its OpenAPI document (schemathesis), as an outside tester did.

``fuzz()`` draws cases for every operation of ``/api/openapi.json`` in both generation
modes (valid data, and data the schema forbids), sends them in-process through Django's
WSGI handler with a school clerk's token, and checks every answer: no server error, every
status code and content type declared, bodies matching their schemas, invalid data
refused. ``make test`` runs a bounded pass of about 360 cases with a fixed seed
(tests/test_api_fuzz.py); this command runs at least 10,000 cases against a generated
demo registry on SQLite and PostgreSQL and writes the figures to docs/benchmarks.md:

    python -m bench.api_fuzz [--cases 10000] [--db sqlite|postgres|both] [--seed 1]

A schema-valid request may still break a domain rule the schema cannot state (a reason
is required, the school is outside the clerk's scope, the uploaded file is not a csv):
those answers are 422 with a coded error, so 422 (and the declared refusals 400, 401, 403,
404, 409, 413, 429) count as an acceptable answer to valid data. Excluded: revoking an
API token (the fuzzer would revoke its own and test nothing more).
"""

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench.report import Section

BASE_DIR = Path(__file__).resolve().parent.parent
OUT_DIR = BASE_DIR / "bench" / "out"
DOCS = BASE_DIR / "docs" / "benchmarks.md"
PG_SERVER = os.environ.get("XUEJI_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432")
PG_DATABASE = "xueji_bench_fuzz"
SECTION = Section("api-fuzz", lambda entry: entry["database"])
SECTION_START, SECTION_END = SECTION.start, SECTION.end
EXCLUDED = frozenset({("POST", "/api/accounts/tokens/{token_id}/revoke")})
ACCEPTED_FOR_VALID_DATA = ["2xx", "400", "401", "403", "404", "409", "413", "422", "429"]


@dataclass
class FuzzResult:
    operations: int = 0
    cases: int = 0
    server_errors: int = 0
    violations: int = 0
    unsendable: int = 0  # cases the test transport could not encode (never sent)
    seconds: float = 0.0
    statuses: dict[str, int] = field(default_factory=dict)
    # Failed checks by kind (schemathesis's title: "Server error", "Response violates
    # schema", "Schema-violating request accepted", …): a case may fail several.
    kinds: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)  # first few, for the report

    @property
    def clean(self) -> bool:
        return not self.server_errors and not self.violations


def _checks(mode):
    from schemathesis.checks import not_a_server_error
    from schemathesis.generation import GenerationMode
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        negative_data_rejection,
        positive_data_acceptance,
        response_headers_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    common = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
        response_headers_conformance,
    ]
    if mode == GenerationMode.POSITIVE:
        return [*common, positive_data_acceptance]
    return [*common, negative_data_rejection]


def fuzz(*, token: str, examples: int, seed: int = 1, keep_failures: int = 20) -> FuzzResult:
    """``examples`` cases per operation and generation mode; Django must be set up."""
    import schemathesis
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections
    from django.test import override_settings
    from schemathesis.core.result import Ok
    from schemathesis.generation import GenerationMode

    config = schemathesis.Config.from_dict(
        {
            "checks": {
                "positive_data_acceptance": {"expected-statuses": ACCEPTED_FOR_VALID_DATA},
            }
        }
    )
    headers = {"Authorization": f"Bearer {token}"}
    result = FuzzResult()
    statuses: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    started = time.monotonic()
    # In-process requests must not close the caller's connection (and, in a test, its
    # transaction) when each finishes: Django's test client does the same.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        # The document is read once, as a developer would with the docs open
        # (XUEJI_API_DOCS=public); production keeps it behind a sign-in.
        with override_settings(XUEJI_API_DOCS="public"):
            schema = schemathesis.openapi.from_wsgi(
                "/api/openapi.json", WSGIHandler(), config=config
            )
        for found in schema.get_all_operations():
            if not isinstance(found, Ok):  # an operation the document describes wrongly
                result.violations += 1
                result.failures.append(f"invalid operation schema: {found.err()}"[:400])
                continue
            operation = found.ok()
            if (operation.method.upper(), operation.path) in EXCLUDED:
                continue
            result.operations += 1
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                _fuzz_operation(
                    operation, mode, examples, seed, headers, result, statuses, kinds, keep_failures
                )
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    result.seconds = round(time.monotonic() - started, 1)
    result.statuses = dict(sorted(statuses.items()))
    result.kinds = dict(sorted(kinds.items()))
    return result


def _fuzz_operation(
    operation, mode, examples, seed, headers, result, statuses, kinds, keep
) -> None:
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed

    checks = _checks(mode)

    @hypothesis_seed(seed)
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case) -> None:
        try:
            response = case.call(headers=headers)
        except (AttributeError, TypeError, ValueError):
            # The WSGI test transport (werkzeug) cannot encode some invalid bodies (a number
            # as a multipart body); Django turns every server-side exception into a 500
            # answer, so nothing raised here comes from the application.
            result.unsendable += 1
            return
        result.cases += 1
        statuses[str(response.status_code)] += 1
        if response.status_code >= 500:
            result.server_errors += 1
        try:
            case.validate_response(response, checks=checks, headers=headers)
        except (Exception, BaseExceptionGroup) as failure:  # FailureGroup: the failed checks
            result.violations += 1
            lines = [line.strip() for line in str(failure).strip().splitlines()]
            # "- ST108 Response violates schema": one line per failed check.
            kinds.update(
                line[2:].split(" ", 1)[1] if line[2:4] == "ST" else line[2:]
                for line in lines[:12]
                if line.startswith("- ")
            )
            if len(result.failures) < keep:
                # The checks that failed, then the request that reproduces it.
                curl = [line for line in lines if line.startswith("curl ")]
                first = " ".join([*lines[:8], *curl[:1]])
                result.failures.append(
                    f"{mode.value} {case.method} {case.formatted_path} → "
                    f"{response.status_code}: {first[:4000]}"
                )

    run()


# -- the benchmark: a demo registry per database, one subprocess each -------------------------


def _prepare_and_fuzz(cases: int, seed: int) -> dict:
    """In the worker: migrate, generate a small demo registry, issue a token, fuzz."""
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from xueji.accounts.models import User
    from xueji.accounts.tokens import api_token_issue

    call_command("migrate", verbosity=0, interactive=False)
    call_command("generate_demo", students=300, if_empty=True, verbosity=0)
    clerk = User.objects.get(username="demo-school")
    token = api_token_issue(
        actor=clerk, user=clerk, name="fuzz", expires_at=None, rate_per_minute=1_000_000
    ).secret
    from config.api import api

    operations = sum(
        1
        for path in api.get_openapi_schema()["paths"].values()
        for method in path
        if method in ("get", "post", "put", "patch", "delete")
    ) - len(EXCLUDED)
    examples = max(1, math.ceil(cases / (2 * operations)))
    # Operations with few possible inputs end early: further rounds, with other seeds,
    # until the cases reach the target.
    result = FuzzResult()
    statuses: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    rounds = 0
    while result.cases < cases and rounds < 5:
        part = fuzz(token=token, examples=examples, seed=seed + rounds)
        rounds += 1
        result.operations = part.operations
        result.cases += part.cases
        result.server_errors += part.server_errors
        result.violations += part.violations
        result.unsendable += part.unsendable
        result.seconds = round(result.seconds + part.seconds, 1)
        result.failures += part.failures[: 20 - len(result.failures)]
        statuses.update(part.statuses)
        kinds.update(part.kinds)
    result.statuses = dict(sorted(statuses.items()))
    result.kinds = dict(sorted(kinds.items()))
    vendor = connection.vendor
    with connection.cursor() as cursor:
        cursor.execute("select sqlite_version()" if vendor == "sqlite" else "show server_version")
        version = cursor.fetchone()[0]
    return {
        **asdict(result),
        "examples_per_operation_and_mode": examples,
        "rounds": rounds,
        "database": vendor,
        "database_version": f"{'SQLite' if vendor == 'sqlite' else 'PostgreSQL'} {version}",
    }


def _env(database: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["DJANGO_SETTINGS_MODULE"] = "config.settings.dev"
    data_dir = OUT_DIR / f"fuzz-{database}"
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    env["XUEJI_DATA_DIR"] = str(data_dir)
    if database == "postgres":
        import psycopg

        with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")
            admin.execute(f"CREATE DATABASE {PG_DATABASE}")
        env["DATABASE_URL"] = f"{PG_SERVER}/{PG_DATABASE}"
    return env


def run_database(database: str, cases: int, seed: int) -> dict:
    result_path = OUT_DIR / f"fuzz-result-{database}.json"
    result_path.unlink(missing_ok=True)
    command = [sys.executable, "-m", "bench.api_fuzz", "--worker", str(result_path)]
    command += ["--cases", str(cases), "--seed", str(seed)]
    subprocess.run(command, cwd=BASE_DIR, env=_env(database), check=True)  # noqa: S603
    return json.loads(result_path.read_text())


def render_section(entries: list[dict]) -> str:
    lines = [
        SECTION_START,
        "## API fuzzing (schemathesis over /api/openapi.json, `bench/api_fuzz.py`)",
        "",
        "Every operation of the OpenAPI document, valid and invalid data (schemathesis",
        "generation modes), a school clerk's token (`demo-school`) on a generated demo",
        "registry of 300 students; checks: no server error, status code, content type,",
        "response schema and headers as declared, valid data accepted (422 for a domain rule",
        "counts as accepted), invalid data refused. Target: ≥ 10,000 cases, 0 server",
        "errors, 0 schema violations. `make test` runs a bounded pass on both databases",
        "(`tests/test_api_fuzz.py`: about 360 cases, fixed seed, any failure fails the suite).",
        "Failures are counted per kind: server errors (5xx), schema violations (any other",
        "check: status code or content type not declared, body not as declared, valid data",
        "refused, invalid data accepted) and cases the test transport could not send.",
        "",
        "| date | database | operations | cases | server errors | violations | failed checks "
        "by kind | unsendable | seconds | status codes |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- |",
    ]
    for e in sorted(entries, key=lambda e: e["run_at"], reverse=True):
        codes = ", ".join(f"{code}×{n:,}" for code, n in e["statuses"].items())
        kinds = ", ".join(f"{kind} ×{n:,}" for kind, n in e.get("kinds", {}).items())
        lines.append(
            f"| {e['run_at'][:16]} | {e['database_version']} | {e['operations']} "
            f"| {e['cases']:,} | {e['server_errors']} | {e['violations']} "
            f"| {kinds or 'none'} | {e.get('unsendable', 0)} | {e['seconds']:,.0f} "
            f"| {codes} |"
        )
    failures = [f for e in entries for f in e.get("failures", [])]
    if failures:
        lines += ["", "First failures of the latest runs:", ""]
        lines += [f"- `{f}`" for f in failures[:20]]
    lines += ["", SECTION.data_line(entries), SECTION_END]
    return "\n".join(lines) + "\n"


def update_docs(new_entries: list[dict], path: Path = DOCS) -> None:
    """Replace this benchmark's section in docs/benchmarks.md; other sections stay."""
    SECTION.update(new_entries, render_section, path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.api_fuzz", description=__doc__.split("\n")[0])
    p.add_argument("--cases", type=int, default=10_000, help="cases at least, over all operations")
    p.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--no-docs", action="store_true")
    p.add_argument("--worker", metavar="RESULT", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        Path(args.worker).write_text(json.dumps(_prepare_and_fuzz(args.cases, args.seed)))
        return 0
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    from bench.import_bench import machine

    entries = []
    for database in ("sqlite", "postgres") if args.db == "both" else (args.db,):
        entry = run_database(database, args.cases, args.seed)
        entry["run_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        entry["machine"] = machine()
        entries.append(entry)
        print(
            f"{entry['database_version']}: {entry['operations']} operations, "
            f"{entry['cases']:,} cases in {entry['seconds']:,.0f} s; "
            f"{entry['server_errors']} server errors, {entry['violations']} violations"
        )
        for failure in entry["failures"]:
            print("  ", failure)
    if not args.no_docs:
        update_docs(entries)
    return 0 if all(e["server_errors"] == 0 and e["violations"] == 0 for e in entries) else 1


if __name__ == "__main__":
    raise SystemExit(main())
