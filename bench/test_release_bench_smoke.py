"""The release benchmark runs end to end on a tiny registry: figures, never timings."""

import pytest

from bench import promotion_bench, release_bench

pytestmark = pytest.mark.django_db(transaction=True)


def _quiet(message: str) -> None:
    pass


def test_release_benchmark_generates_three_releases_and_traces_a_partial_copy():
    # given
    promotion_bench.prepare(promotion_bench.Sizes(rows=400, schools=4), log=_quiet)
    # when
    result = release_bench.measure(release_bench.Sizes(rows=400), log=_quiet)
    # then
    assert result["records"] == 400
    for name in ("rows_csv", "rows_xlsx", "table_csv"):
        case = result["cases"][name]
        assert case["population"] == 400
        assert case["bytes"] > 0
        assert case["cpu_seconds"] > 0
    rows = result["cases"]["rows_csv"]
    assert rows["rows"] + rows["suppressed"] == 400
    assert result["cases"]["rows_xlsx"]["rows"] == rows["rows"]
    assert result["trace"]["named"] is True


def test_docs_section_is_replaced_and_other_sections_stay(tmp_path):
    docs = tmp_path / "benchmarks.md"
    docs.write_text("# Benchmarks\n\n## Import benchmark\n\nits figures\n", encoding="utf-8")
    case = {
        "release_id": 1,
        "population": 10,
        "rows": 8,
        "suppressed": 2,
        "bytes": 2048,
        "seconds": 1.5,
        "cpu_seconds": 1.2,
        "generation_seconds": 1.0,
    }
    entry = {
        "target": "postgres",
        "rows": 10,
        "run_at": "2026-01-01T10:00:00+08:00",
        "command": "python -m bench.release_bench --rows 10",
        "machine": {"cpu": "cpu", "cores": 2, "memory": "1 GB", "os": "Linux", "python": "3"},
        "database_version": "PostgreSQL 15",
        "records": 10,
        "schools": 3,
        "prepare_seconds": 1.0,
        "cases": {"rows_csv": case, "rows_xlsx": case, "table_csv": case},
        "trace": {"rows": 100, "seconds": 0.1, "named": True},
        "load_average": [0.5, 0.6],
    }
    release_bench.update_docs([entry], docs)
    release_bench.update_docs([{**entry, "run_at": "2026-01-02T10:00:00+08:00"}], docs)
    text = docs.read_text(encoding="utf-8")
    assert "its figures" in text
    assert text.count("## Release benchmark") == 1
    assert (
        "| 2026-01-02 | PostgreSQL 15 | 10 | rows csv | 8 | 2 | 0.0 | 1.50 | 1.00 | 1.20 |" in text
    )
    assert "2026-01-01" not in text.split("Per run:")[0]
