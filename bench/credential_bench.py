"""Credential benchmark: the trusted digital identity (xueji/credentials, issue 16).

Timed in one run, against one database:

- **issuance**: ``credentials_issue_many`` of N students (default 100,000) generated straight
  into the tables: one query for the facts, one slot allocation, an SD-JWT VC signed per
  student (ES256), bulk inserts, one audit event;
- **verification**: a presentation (three disclosures and a KB-JWT) verified in full by
  ``sdjwt.Verifier`` — issuer signature, disclosures, key binding (nonce, audience, iat,
  sd_hash), status from the cached Token Status List — against a **bare** ES256 verification
  of the same issuer-signed JWT (joserfc), in the same process. *warm*: the verifier's
  caches on (a credential seen before: its issuer signature and holder key are not checked
  again, the KB-JWT is); *cold*: every cache off but the status list (two signature checks);
- **status list**: revoking 10,000 of the credentials set-based (``credentials_revoke_where``),
  then re-signing the lists they are on (``status_list_publish``).

Each database runs in its own subprocess with ``config.settings.dev``: PostgreSQL in the
scratch database ``xueji_bench_credential`` (dropped and created here), SQLite under
``bench/out/credential-sqlite``.

    python -m bench.credential_bench --rows 100000 [--db postgres|sqlite|both]
"""

import argparse
import itertools
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from bench.import_bench import BASE_DIR, OUT_DIR, PG_SERVER, _database_version, _say
from bench.report import DOCS, Section, busy_note, by_target_and, machine

PG_DATABASE = "xueji_bench_credential"
SQLITE_DIR = OUT_DIR / "credential-sqlite"
SECTION = Section("credential-benchmark", by_target_and("rows"))
SECTION_START = SECTION.start
TARGET_RATIO = 0.5
NONCE, AUDIENCE = "bench-nonce", "https://rp.example.cn"


@dataclass
class Sizes:
    rows: int = 100_000
    revocations: int = 10_000
    verifications: int = 3_000
    seed: int = 20261


# -- inside Django ---------------------------------------------------------------------------


def prepare(sizes: Sizes, *, log=_say) -> list[int]:
    """``sizes.rows`` enrolled students over one school per 500, straight into the tables."""
    from django.db import transaction

    from xueji import clock
    from xueji.enrolment.models import StatusRecord
    from xueji.schools.models import School
    from xueji.students.models import Student

    now = clock.now()
    started = time.perf_counter()
    with transaction.atomic():
        schools = School.objects.bulk_create(
            [
                School(
                    code=f"11440{i:05d}",
                    name=f"基准测试第{i}小学",
                    school_type="211",
                    operator="1",
                    division_code="440106",
                    area_code="440106",
                    province_code="44",
                )
                for i in range(max(1, sizes.rows // 500))
            ]
        )
        serial = itertools.count(1)
        ids: list[int] = []
        for start in range(0, sizes.rows, 20_000):
            n = min(20_000, sizes.rows - start)
            students = Student.objects.bulk_create(
                [
                    Student(
                        number=f"L{next(serial):018d}",
                        number_kind="L",
                        name=f"基准生{start + i}",
                        sex="1",
                        birth_date=date(2016, 1, 1),
                        created_at=now,
                        updated_at=now,
                    )
                    for i in range(n)
                ]
            )
            StatusRecord.objects.bulk_create(
                [
                    StatusRecord(
                        student=s,
                        school=schools[(start + i) % len(schools)],
                        area_code="440106",
                        province_code="44",
                        stage="1",
                        grade="13",
                        entry_date=date(2023, 9, 1),
                        registered_at=now,
                        updated_at=now,
                    )
                    for i, s in enumerate(students)
                ]
            )
            ids += [s.pk for s in students]
    log(f"{len(ids):,} students generated in {time.perf_counter() - started:.1f} s")
    return ids


def _rate(count: int, seconds: float) -> float:
    return round(count / seconds, 1) if seconds else 0.0


def measure(sizes: Sizes, ids: list[int], *, log=_say) -> dict:
    from django.db import connection

    from xueji.credentials import sdjwt, services
    from xueji.credentials.keys import key_from_jwk, key_ring, new_private_jwk
    from xueji.credentials.models import Credential, StatusList

    load_before = os.getloadavg()[0]
    holder_private = new_private_jwk("ES256")
    holder = key_from_jwk(holder_private)

    started = time.perf_counter()
    issued = services.credentials_issue_many(actor=None, student_ids=ids, holder_jwk=holder_private)
    issue_seconds = time.perf_counter() - started
    log(f"issued {issued:,} credentials in {issue_seconds:.1f} s")

    credential = Credential.objects.order_by("pk").first()
    assert credential is not None
    presentation = sdjwt.present(
        credential.issued,
        disclose=["school.name", "grade", "enrolment_status"],
        holder_key=holder,
        nonce=NONCE,
        audience=AUDIENCE,
    )
    issuer_jwt = credential.issued.split("~", 1)[0]
    key = key_ring().active
    n = sizes.verifications

    def bare() -> float:
        began = time.perf_counter()
        for _i in range(n):
            if not key.verify(issuer_jwt):
                raise RuntimeError("bare verification failed")
        return time.perf_counter() - began

    def full(verifier) -> float:
        verdict = verifier.verify(presentation, nonce=NONCE, audience=AUDIENCE)
        if not verdict.valid:  # also warms the status list
            raise RuntimeError(f"presentation refused: {verdict.reason}")
        began = time.perf_counter()
        for _i in range(n):
            verifier.verify(presentation, nonce=NONCE, audience=AUDIENCE)
        return time.perf_counter() - began

    def verifier(cache_size: int):
        return sdjwt.Verifier(
            keys=sdjwt.RingSource(key_ring().keys),
            issuer=services.config()["ISSUER"],
            vct=services.config()["VCT"],
            status_fetcher=services._local_fetch,
            cache_size=cache_size,
        )

    # Interleaved, so that a change of machine load hits every variant alike.
    bare_s = warm_s = cold_s = 0.0
    for _round in range(3):
        bare_s += bare()
        warm_s += full(verifier(4096))
        cold_s += full(verifier(0))
    count = 3 * n
    result: dict[str, Any] = {
        "issued": issued,
        "issue_seconds": round(issue_seconds, 3),
        "issue_per_s": _rate(issued, issue_seconds),
        "presentation_chars": len(presentation),
        "verifications": count,
        "bare_per_s": _rate(count, bare_s),
        "warm_per_s": _rate(count, warm_s),
        "cold_per_s": _rate(count, cold_s),
    }
    result["warm_over_bare"] = round(bare_s / warm_s, 3)
    result["cold_over_bare"] = round(bare_s / cold_s, 3)
    log(
        f"verify/s: bare {result['bare_per_s']:,.0f}, full warm {result['warm_per_s']:,.0f} "
        f"({result['warm_over_bare']:.2f}×), full cold {result['cold_per_s']:,.0f} "
        f"({result['cold_over_bare']:.2f}×)"
    )

    revoke = min(sizes.revocations, issued)
    last_id = sorted(ids)[revoke - 1]
    started = time.perf_counter()
    from django.db import transaction

    with transaction.atomic():
        revoked = services.credentials_revoke_where(
            actor=None, record_sql="r.student_id <= %s", params=[last_id], reason="bench"
        )
    revoke_seconds = time.perf_counter() - started
    started = time.perf_counter()
    lists = list(StatusList.objects.filter(dirty=True).order_by("number"))
    sizes_bytes = []
    for status_list in lists:
        token = services.status_list_publish(status_list.number)
        sizes_bytes.append(len(token))
    publish_seconds = time.perf_counter() - started
    check = verifier(4096).verify(credential.issued)
    if check.reason != "status.revoked":
        raise RuntimeError(f"revoked credential not seen as revoked: {check.reason!r}")
    log(
        f"revoked {revoked:,} in {revoke_seconds:.2f} s; {len(lists)} list(s) re-signed in "
        f"{publish_seconds:.2f} s ({sum(sizes_bytes):,} bytes)"
    )
    result.update(
        revoked=revoked,
        revoke_seconds=round(revoke_seconds, 3),
        lists=len(lists),
        list_capacity=lists[0].size if lists else 0,
        publish_seconds=round(publish_seconds, 3),
        list_token_bytes=sum(sizes_bytes),
        database=connection.vendor,
        database_version=_database_version(connection),
        load_average=[round(load_before, 2), round(os.getloadavg()[0], 2)],
    )
    return result


def worker(sizes: Sizes, result_path: Path) -> None:
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from xueji.credentials.keys import new_private_jwk

    settings.DEBUG = False  # no per-query log, as in production
    settings.XUEJI_CREDENTIAL_KEYS = [
        {"kid": "bench", "alg": "ES256", "jwk": new_private_jwk("ES256"), "state": "active"}
    ]
    call_command("migrate", interactive=False, verbosity=0)
    ids = prepare(sizes)
    result = measure(sizes, ids)
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
        env["XUEJI_DATA_DIR"] = str(OUT_DIR / "credential-postgres")
    else:
        shutil.rmtree(SQLITE_DIR, ignore_errors=True)
        SQLITE_DIR.mkdir(parents=True)
        env["XUEJI_DATA_DIR"] = str(SQLITE_DIR)
    return env


def run_database(database: str, sizes: Sizes) -> dict:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    result_path = OUT_DIR / f"credential-result-{database}.json"
    result_path.unlink(missing_ok=True)
    command = [sys.executable, "-m", "bench.credential_bench", "--worker"]
    command += ["--rows", str(sizes.rows), "--revocations", str(sizes.revocations)]
    command += ["--verifications", str(sizes.verifications), "--result", str(result_path)]
    subprocess.run(command, cwd=BASE_DIR, env=_env(database), check=True)  # noqa: S603
    return json.loads(result_path.read_text())


# -- the report ------------------------------------------------------------------------------


def render_section(entries: list[dict]) -> str:
    entries = sorted(entries, key=lambda e: e["run_at"], reverse=True)
    lines = [
        SECTION.start,
        "## Credential benchmark (digital identity, `bench/credential_bench.py`)",
        "",
        "A presentation of an enrolment credential (SD-JWT VC, ES256, three disclosures and a",
        "KB-JWT) verified in **full** by `xueji.credentials.sdjwt.Verifier` (issuer signature,",
        "disclosures, key binding, status from the cached Token Status List) against a **bare**",
        "ES256 verification of the same issuer-signed JWT, interleaved in the same process.",
        "*warm*: a credential seen before (its issuer signature and holder key are cached by the",
        "exact JWT; the KB-JWT is checked every time); *cold*: nothing cached but the status",
        f"list (two signature checks per presentation). Goal: full ≥ {TARGET_RATIO:.1f}× bare.",
        "Issuance is `credentials_issue_many` (set-based: one facts query, one slot",
        "allocation, one signature per credential, bulk inserts). The status-list figures are",
        "10,000 revocations set-based, then re-signing the list(s) they are on. Single runs.",
        "",
        "| date | database | credentials | issued/s | bare verify/s | full warm/s | warm/bare "
        "| full cold/s | cold/bare | revoke 10k s | re-sign s | list bytes |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for e in entries:
        lines.append(
            f"| {e['run_at'][:10]} | {e['database_version']} | {e['issued']:,} "
            f"| {e['issue_per_s']:,.0f} | {e['bare_per_s']:,.0f} | {e['warm_per_s']:,.0f} "
            f"| {e['warm_over_bare']:.2f}× | {e['cold_per_s']:,.0f} | {e['cold_over_bare']:.2f}× "
            f"| {e['revoke_seconds']:.2f} | {e['publish_seconds']:.2f} "
            f"| {e['list_token_bytes']:,} |"
        )
    lines += ["", "Per run:", ""]
    for e in entries:
        m = e["machine"]
        busy = busy_note(e, "the ratios, measured in the same run, still hold")
        met = "met (warm)" if e["warm_over_bare"] >= TARGET_RATIO else "**not met**"
        lines.append(
            f"- {e['run_at']} · {e['database_version']} · `{e['command']}` · {m['cpu']}, "
            f"{m['cores']} cores, {m['memory']}, {m['os']}, Python {m['python']} · issuance "
            f"{e['issue_seconds']:,.1f} s · {e['verifications']:,} verifications per variant, "
            f"presentation {e['presentation_chars']:,} characters · {e['revoked']:,} revoked "
            f"on {e['lists']} list(s) of {e['list_capacity']:,} entries · load average "
            f"{'/'.join(str(v) for v in e['load_average'])} (before/after){busy} · "
            f"target {met}."
        )
    lines += ["", SECTION.data_line(entries), SECTION.end]
    return "\n".join(lines) + "\n"


def update_docs(new_entries: list[dict], path: Path = DOCS) -> None:
    """Replace this benchmark's section in docs/benchmarks.md; other sections stay."""
    SECTION.update(new_entries, render_section, path)


def parser() -> argparse.ArgumentParser:
    defaults = Sizes()
    p = argparse.ArgumentParser(
        prog="python -m bench.credential_bench", description=__doc__.split("\n")[0]
    )
    p.add_argument("--rows", type=int, default=defaults.rows, help="credentials to issue")
    p.add_argument("--revocations", type=int, default=defaults.revocations)
    p.add_argument("--verifications", type=int, default=defaults.verifications)
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
    sizes = Sizes(rows=args.rows, revocations=args.revocations, verifications=args.verifications)
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
            command=f"python -m bench.credential_bench --rows {sizes.rows} "
            f"--revocations {sizes.revocations} --verifications {sizes.verifications} "
            f"--db {database}",
            machine=machine(),
        )
        print(
            f"{result['database_version']:>18}: issued {result['issued']:,} in "
            f"{result['issue_seconds']:.1f} s; full/bare warm {result['warm_over_bare']:.2f}, "
            f"cold {result['cold_over_bare']:.2f}; 10k revocations {result['revoke_seconds']:.2f}"
            f" s + re-sign {result['publish_seconds']:.2f} s",
            flush=True,
        )
        entries.append(result)
    if not args.no_docs:
        update_docs(entries)
        print(f"written to {DOCS.relative_to(BASE_DIR)}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
