"""Peak memory of importing the largest xlsx the limits allow, and of refusing hostile ones.

Each measurement runs in a fresh process and reads its peak resident set size
(``resource.getrusage``, ``ru_maxrss``) at the end; the cleaning worker processes of a
big import are reported apart (``RUSAGE_CHILDREN``, the largest child). Files:

- **largest allowed**: realistic students (``bench/import_data.py``) as an all-text xlsx,
  as many rows as fit under ``IMPORT_MAX_BYTES`` (and ``IMPORT_MAX_ROWS``), imported in
  full (``StudentImport``, valid_rows) into a small generated registry on SQLite;
- **2,000,000 near-empty rows** (~10 MB): refused at the row limit while reading;
- **one huge shared string** (~180 KB zipped): refused from the zip's declared sizes;
- **baseline**: the same process with Django set up, reading nothing.

Goal: the import of the largest allowed file peaks at ≤ 300 MB.

    python -m bench.import_memory_bench [--rows N] [--no-docs]
"""

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path

from bench.report import Section

BASE_DIR = Path(__file__).resolve().parent.parent
OUT_DIR = BASE_DIR / "bench" / "out" / "import-memory"
DOCS = BASE_DIR / "docs" / "benchmarks.md"
# One entry, the latest run: the section keeps no data line.
SECTION = Section("import-memory", lambda entry: "latest")
SECTION_START, SECTION_END = SECTION.start, SECTION.end
GOAL_MB = 300
BYTES_PER_ROW = 180  # an all-text student row in a zipped xlsx (measured: 17.8 MB / 100k)


def _peak_mb(who: int = resource.RUSAGE_SELF) -> float:
    return round(resource.getrusage(who).ru_maxrss / 1024, 1)  # KiB on Linux


def _raw_xlsx(path: Path, rows, shared: list[str], *, huge_string_chars: int = 0) -> None:
    """A minimal workbook written part by part, as a hostile generator writes one."""
    ns = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    pkg = 'xmlns="http://schemas.openxmlformats.org/package/2006/relationships"'
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr(
            "_rels/.rels",
            f'<Relationships {pkg}><Relationship Id="r1" Type="{rel}/officeDocument" '
            'Target="xl/workbook.xml"/></Relationships>',
        )
        archive.writestr(
            "xl/workbook.xml",
            f'<workbook {ns} xmlns:r="{rel}"><sheets><sheet name="S" sheetId="1" r:id="r1"/>'
            "</sheets></workbook>",
        )
        archive.writestr(
            "xl/_rels/workbook.xml.rels",
            f'<Relationships {pkg}><Relationship Id="r1" Type="{rel}/worksheet" '
            f'Target="worksheets/sheet1.xml"/><Relationship Id="r2" Type="{rel}/sharedStrings" '
            'Target="sharedStrings.xml"/></Relationships>',
        )
        with archive.open("xl/sharedStrings.xml", "w") as part:
            part.write(f"<sst {ns}>".encode())
            for text in shared:
                part.write(f"<si><t>{text}</t></si>".encode())
            if huge_string_chars:
                part.write(b"<si><t>")
                for _start in range(0, huge_string_chars, 1 << 20):
                    part.write(b"A" * (1 << 20))
                part.write(b"</t></si>")
            part.write(b"</sst>")
        with archive.open("xl/worksheets/sheet1.xml", "w") as part:
            part.write(f"<worksheet {ns}><sheetData>".encode())
            for row in rows:
                part.write(row.encode())
            part.write(b"</sheetData></worksheet>")


REQUIRED_HEADERS = ("学校标识码", "姓名", "性别", "出生日期", "年级", "入学年月")


def _near_empty(count: int):
    """A header the import accepts, then rows holding one shared string each."""
    cells = "".join(
        f'<c r="{chr(65 + i)}1" t="inlineStr"><is><t>{name}</t></is></c>'
        for i, name in enumerate(REQUIRED_HEADERS)
    )
    yield f'<row r="1">{cells}</row>'
    for number in range(2, count + 1):
        yield f'<row r="{number}"><c r="A{number}" t="s"><v>0</v></c></row>'


# -- workers (run in their own process) -------------------------------------------------------


def worker_prepare(rows: int, result: Path) -> None:
    """A small registry, then the largest allowed file drawn from its schools."""
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from bench.import_bench import PROVINCES
    from bench.import_data import NewStudentSource, write_xlsx
    from xueji.exchange.synthetic import DemoPlan, generate

    call_command("migrate", verbosity=0, interactive=False)
    generate(plan=DemoPlan(students=3_000, schools=60, provinces=PROVINCES, seed=4242))
    limit_bytes = settings.XUEJI["IMPORT_MAX_BYTES"]
    wanted = rows or min(settings.XUEJI["IMPORT_MAX_ROWS"], int(limit_bytes * 0.97 / BYTES_PER_ROW))
    students = list(NewStudentSource(seed=99_991).take(wanted))
    path = OUT_DIR / "largest.xlsx"
    while True:
        size = write_xlsx(path, students)
        if size <= limit_bytes:
            break
        students = students[: int(len(students) * limit_bytes / size * 0.99)]
    result.write_text(json.dumps({"rows": len(students), "bytes": size}))


def worker_measure(kind: str, path: Path, result: Path) -> None:
    import django

    django.setup()
    from django.conf import settings

    # As production runs (DEBUG off): with DEBUG on, Django keeps the text of the last
    # 9,000 SQL statements on the connection, about 24 MB of this import's long IN lists.
    settings.DEBUG = False
    if kind == "import":
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)  # a reused registry
    started = time.perf_counter()
    detail: dict = {}
    if kind == "import":
        from bench.import_bench import bench_actor
        from xueji.exchange.student_import import StudentImport

        outcome = StudentImport(actor=bench_actor(), mode="valid_rows", batch="memory").run(
            path, path.name
        )
        detail = {
            "created": outcome.created,
            "processed": outcome.processed_rows,
            "errors": outcome.error_rows,
            "file_error": outcome.file_error,
        }
    elif kind == "read":
        from xueji.exchange.readers import ImportFileError, open_import_file
        from xueji.exchange.student_import import student_import_columns

        read = 0
        try:
            opened = open_import_file(path, path.name, student_import_columns())
            for _row in opened.rows:
                read += 1
        except ImportFileError as refused:
            detail["refused"] = f"{refused.code}: {refused.message}"
        detail["rows_read"] = read
    result.write_text(
        json.dumps(
            {
                "peak_mb": _peak_mb(),
                "children_peak_mb": _peak_mb(resource.RUSAGE_CHILDREN),
                "seconds": round(time.perf_counter() - started, 1),
                **detail,
            },
            ensure_ascii=False,
        )
    )


# -- the driver ----------------------------------------------------------------------------------


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["DJANGO_SETTINGS_MODULE"] = "config.settings.dev"
    env["XUEJI_DATA_DIR"] = str(OUT_DIR / "data")
    return env


def _run(*args: str) -> dict:
    result = OUT_DIR / "result.json"
    result.unlink(missing_ok=True)
    command = [sys.executable, "-m", "bench.import_memory_bench", *args, "--result", str(result)]
    subprocess.run(command, cwd=BASE_DIR, env=_env(), check=True)  # noqa: S603
    return json.loads(result.read_text())


def measure(rows: int, *, reuse: bool = False) -> dict:
    bomb = OUT_DIR / "huge-shared-string.xlsx"
    many = OUT_DIR / "near-empty-rows.xlsx"
    largest = OUT_DIR / "largest.xlsx"
    if reuse and largest.exists() and bomb.exists() and many.exists():
        # The files and the registry of an earlier run (whose import step did not finish).
        with zipfile.ZipFile(largest) as archive:
            head = archive.open("xl/worksheets/sheet1.xml").read(4096).decode()
        last = head.split('<dimension ref="', 1)[1].split('"', 1)[0].rpartition(":")[2]
        prepared = {"rows": int(last.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ")) - 1}
        prepared["bytes"] = largest.stat().st_size
    else:
        shutil.rmtree(OUT_DIR, ignore_errors=True)
        (OUT_DIR / "data").mkdir(parents=True)
        # The outside tester's file: 177 KB holding one ~180 MB string (deflate ~1,000:1).
        _raw_xlsx(bomb, _near_empty(2), ["x"], huge_string_chars=180 * (1 << 20))
        _raw_xlsx(many, _near_empty(2_000_000), ["x"])
        prepared = _run("--worker", "prepare", "--rows", str(rows))
    return {
        "largest": {**prepared, **_run("--worker", "import", "--path", str(largest))},
        "near_empty": {
            "bytes": many.stat().st_size,
            **_run("--worker", "read", "--path", str(many)),
        },
        "huge_string": {
            "bytes": bomb.stat().st_size,
            **_run("--worker", "read", "--path", str(bomb)),
        },
        "baseline": _run("--worker", "baseline", "--path", str(largest)),
    }


def render(entry: dict) -> str:
    big, many, bomb, base = (entry[k] for k in ("largest", "near_empty", "huge_string", "baseline"))
    met = "met" if big["peak_mb"] <= GOAL_MB else "**not met**"
    return (
        "\n".join(
            [
                SECTION_START,
                "## Import memory (`bench/import_memory_bench.py`)",
                "",
                "Peak resident set size (`ru_maxrss`) of a fresh process per file; xlsx read by the",
                "streaming reader (`xueji/exchange/xlsx.py`) within the import limits. Goal: the",
                f"import of the largest allowed file peaks at ≤ {GOAL_MB} MB. Before the streaming",
                "reader (python-calamine, whole sheet in memory) the two hostile files peaked at",
                "1.2 GB and 669 MB (issue 11).",
                "",
                "| file | size | what happened | peak MB | cleaning workers' peak MB | seconds |",
                "| --- | ---: | --- | ---: | ---: | ---: |",
                f"| largest allowed: {big['rows']:,} students, all text | {big['bytes'] / 1048576:.1f} MB "
                f"| imported in full: {big['created']:,} created, {big['errors']} error rows "
                f"| {big['peak_mb']} | {big['children_peak_mb']} | {big['seconds']} |",
                f"| 2,000,000 near-empty rows | {many['bytes'] / 1048576:.1f} MB "
                f"| {many.get('refused', 'read')} ({many['rows_read']:,} rows handed on) "
                f"| {many['peak_mb']} | – | {many['seconds']} |",
                f"| one 180 MB shared string | {bomb['bytes'] / 1024:.0f} KB "
                f"| {bomb.get('refused', 'read')} | {bomb['peak_mb']} | – | {bomb['seconds']} |",
                f"| baseline (Django set up, nothing read) | – | – | {base['peak_mb']} | – | – |",
                "",
                f"Run {entry['run_at']} · `{entry['command']}` · SQLite, registry of 3,000 generated "
                f"students · {entry['machine']['cpu']}, {entry['machine']['cores']} cores, "
                f"load average {'/'.join(str(v) for v in entry['load_average'])} (before/after) · "
                f"goal {met}.",
                "",
                "Measured with DEBUG off, as production runs (the bench's settings are",
                "`config.settings.dev`; with DEBUG on Django keeps the last 9,000 SQL texts,",
                "about 24 MB more here). Where the largest file's memory went, sampled by",
                "phase (2026-12-07, issue 11 item 14): the reader itself streams (the hostile",
                "files stay at the import code's own ~128 MB: Django, the code tables,",
                "pypinyin's dictionaries). The rest was the pipeline: chunks of 20,000 rows,",
                "two in memory at once as cell dicts and cleaned registrations (+250 MB), now",
                "2,500 (`IMPORT_CHUNK_ROWS`); the in-file duplicate index, one `Probe` a row",
                "(~830 bytes, ~95 MB at 113,000 rows), now a compact tuple (~520 bytes) and",
                "the file's ID keys as 32 bytes; the merge's audit events built as 113,000",
                "model objects at once (+65 MB), now 5,000 at a time; SQLite's 64 MB page",
                "cache filled by the merge's single pass, now 8 MB during the merge.",
                SECTION_END,
            ]
        )
        + "\n"
    )


def update_docs(entry: dict, path: Path = DOCS) -> None:
    """Replace this benchmark's section in docs/benchmarks.md; other sections stay."""
    SECTION.update([entry], lambda entries: render(entries[-1]), path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.import_memory_bench")
    p.add_argument(
        "--rows", type=int, default=0, help="rows of the largest file (0: fit the limit)"
    )
    p.add_argument("--no-docs", action="store_true")
    p.add_argument("--reuse", action="store_true", help="reuse the files and registry of a run")
    p.add_argument(
        "--worker", choices=("prepare", "import", "read", "baseline"), help=argparse.SUPPRESS
    )
    p.add_argument("--path", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker == "prepare":
        worker_prepare(args.rows, args.result)
        return 0
    if args.worker:
        worker_measure(args.worker, args.path, args.result)
        return 0
    from bench.import_bench import machine

    before = os.getloadavg()[0]
    entry = measure(args.rows, reuse=args.reuse)
    entry["load_average"] = [round(before, 2), round(os.getloadavg()[0], 2)]
    entry["run_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    entry["command"] = "python -m bench.import_memory_bench" + (
        f" --rows {args.rows}" if args.rows else ""
    )
    entry["machine"] = machine()
    print(json.dumps(entry, ensure_ascii=False, indent=1))
    if not args.no_docs:
        update_docs(entry)
    return 0 if entry["largest"]["peak_mb"] <= GOAL_MB else 1


if __name__ == "__main__":
    raise SystemExit(main())
