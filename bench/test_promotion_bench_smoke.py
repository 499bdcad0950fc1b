"""The promotion benchmark runs end to end on a tiny registry: figures, never timings."""

import pytest

from bench import promotion_bench

pytestmark = pytest.mark.django_db(transaction=True)


def _quiet(message: str) -> None:
    pass


def test_promotion_benchmark_promotes_the_raw_updates_rows_and_reports_figures():
    """Raw and full move the same rows; the full run writes one event each and one audit."""
    # given
    sizes = promotion_bench.Sizes(rows=300, schools=4, chunk_rows=70)
    prepared = promotion_bench.prepare(sizes, log=_quiet)

    # when
    result = promotion_bench.measure(sizes, log=_quiet)

    # then
    assert prepared["schools"] == 4
    assert result["records"] == 300
    full, raw = result["full"], result["raw"]
    assert full["rows"] == raw["rows"] > 0
    assert full["planned"] == full["rows"]
    assert full["events"] == full["rows"]
    assert full["audit_events"] == 1
    assert full["state"] == "done"
    assert full["chunks"] >= 4
    assert full["rows_per_s"] > 0 and raw["rows_per_s"] > 0
    assert result["full_over_raw"] > 0


def test_docs_section_is_replaced_and_other_sections_stay(tmp_path):
    docs = tmp_path / "benchmarks.md"
    docs.write_text("# Benchmarks\n\n## Import benchmark\n\nits figures\n", encoding="utf-8")
    entry = {
        "target": "postgres",
        "rows": 1000,
        "run_at": "2026-01-01T10:00:00+08:00",
        "command": "python -m bench.promotion_bench --rows 1000",
        "machine": {"cpu": "cpu", "cores": 2, "memory": "1 GB", "os": "Linux", "python": "3"},
        "database_version": "PostgreSQL 15",
        "records": 1000,
        "schools": 3,
        "prepare_seconds": 1.0,
        "raw": {"rows": 800, "seconds": 1.0, "rows_per_s": 800.0},
        "full": {
            "rows": 800,
            "planned": 800,
            "seconds": 2.0,
            "rows_per_s": 400.0,
            "dry_run_seconds": 0.5,
            "chunks": 1,
            "events": 800,
            "audit_events": 1,
            "state": "done",
        },
        "full_over_raw": 0.5,
        "load_average": [1.0, 1.0],
    }

    promotion_bench.update_docs([entry], path=docs)
    promotion_bench.update_docs([{**entry, "rows": 2000}], path=docs)

    text = docs.read_text(encoding="utf-8")
    assert text.count(promotion_bench.SECTION_START) == 1
    assert "## Import benchmark\n\nits figures" in text
    assert len(promotion_bench.read_entries(text)) == 2
    assert "| 50 % |" in text
