"""The audit-chain benchmark runs end to end on a tiny trail: figures, never timings."""

import pytest

from bench import audit_bench

pytestmark = pytest.mark.django_db(transaction=True)


def _quiet(message: str) -> None:
    pass


def test_audit_benchmark_writes_a_chained_trail_and_verifies_it():
    before = audit_bench.scan()[0]
    prepared = audit_bench.prepare(audit_bench.Sizes(rows=120), log=_quiet)
    result = audit_bench.measure(log=_quiet)
    assert prepared["append_rows_per_s"] > 0
    assert result["events"] == before + 120
    assert result["checkpoints"] == 1
    assert result["partitions"] >= 1
    assert result["verify_seconds"] > 0 and result["scan_seconds"] > 0


def test_docs_section_is_replaced_and_other_sections_stay(tmp_path):
    docs = tmp_path / "benchmarks.md"
    docs.write_text("# Benchmarks\n\n## Import benchmark\n\nits figures\n", encoding="utf-8")
    entry = {
        "target": "sqlite",
        "rows": 1000,
        "run_at": "2026-01-01T10:00:00+08:00",
        "command": "python -m bench.audit_bench --rows 1000",
        "machine": {"cpu": "cpu", "cores": 2, "memory": "1 GB", "os": "Linux", "python": "3"},
        "database_version": "SQLite 3",
        "events": 1000,
        "partitions": 16,
        "checkpoints": 1,
        "verify_seconds": 2.0,
        "scan_seconds": 1.0,
        "verify_rows_per_s": 500.0,
        "append_seconds": 4.0,
        "append_rows_per_s": 250.0,
        "load_average": [1.0, 1.0],
    }
    audit_bench.update_docs([entry], path=docs)
    audit_bench.update_docs([{**entry, "rows": 2000, "events": 2000}], path=docs)
    text = docs.read_text(encoding="utf-8")
    assert text.count(audit_bench.SECTION_START) == 1
    assert "## Import benchmark\n\nits figures" in text
    assert len(audit_bench.read_entries(text)) == 2
    assert "| 2,000 | 16 | 2.0 |" in text
