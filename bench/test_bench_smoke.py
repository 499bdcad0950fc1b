"""The import benchmark runs end to end on a tiny registry: figures, never timings."""

import pytest

from bench import import_bench

pytestmark = pytest.mark.django_db(transaction=True)


def _quiet(message: str) -> None:
    pass


def test_import_benchmark_loads_every_row_on_each_path_and_reports_figures(tmp_path):
    """Full (csv and xlsx), raw and naive paths each load all their rows; rows/s > 0."""
    # given
    sizes = import_bench.Sizes(rows=100, registry=200, xlsx_rows=30, naive_rows=20, schools=6)
    registry = import_bench.prefill(sizes, log=_quiet)

    # when
    result = import_bench.measure(sizes, out_dir=tmp_path, log=_quiet)

    # then
    assert registry["registry_students"] >= 200  # at least the registry asked for
    assert result["registry_before"] == registry["registry_students"]
    assert result["raw"]["rows"] == 100
    assert result["full_csv"]["rows"] == 100
    assert result["full_csv"]["detail"]["errors"] == 0
    assert result["full_xlsx"]["rows"] == 30
    assert result["full_xlsx"]["detail"]["errors"] == 0
    assert result["naive"]["rows"] == 20
    # The raw load is undone; the two imports and the naive sample stay.
    assert result["registry_after"] == result["registry_before"] + 100 + 30 + 20
    for path in ("raw", "full_csv", "full_xlsx", "naive"):
        assert result[path]["rows_per_s"] > 0
    assert result["full_over_raw"] > 0
    assert result["full_over_naive"] > 0


def test_docs_section_is_replaced_and_other_sections_stay(tmp_path):
    """Writing twice keeps one benchmark section, the other sections, and both sizes."""
    docs = tmp_path / "benchmarks.md"
    docs.write_text("# Benchmarks\n\n## Another benchmark\n\nits figures\n", encoding="utf-8")
    figures = {"rows": 0, "seconds": 1.0, "rows_per_s": 10.0, "detail": {}}
    full = {**figures, "detail": {"check_seconds": 0.5, "merge_seconds": 0.5, "errors": 0}}
    entry = {
        "target": "sqlite",
        "rows": 100,
        "registry": 200,
        "run_at": "2026-01-01T10:00:00+08:00",
        "command": "python -m bench.import_bench --rows 100",
        "machine": {"cpu": "cpu", "cores": 2, "memory": "1 GB", "os": "Linux", "python": "3"},
        "database_version": "SQLite 3",
        "registry_before": 200,
        "prefill_in_this_run": True,
        "prefill_at": "2026-01-01T09:00:00",
        "prefill_seconds": 1.0,
        "prefill_rows_per_s": 200.0,
        "csv_bytes": 1000,
        "chunk_rows": 500,
        "raw": figures,
        "full_csv": full,
        "full_xlsx": figures,
        "naive": figures,
        "full_over_raw": 0.5,
        "full_over_naive": 20.0,
        "xlsx_over_raw": 0.4,
    }

    import_bench.update_docs([entry], path=docs)
    import_bench.update_docs([{**entry, "rows": 1000}], path=docs)
    # A baseline measured in the same run is a row of its own, labelled with its code.
    import_bench.update_docs(
        [{**entry, "code": "abc1234 (main, baseline)"}, {**entry, "code": "def5678"}], path=docs
    )

    text = docs.read_text(encoding="utf-8")
    assert text.count(import_bench.SECTION_START) == 1
    assert "## Another benchmark\n\nits figures" in text
    assert len(import_bench.read_entries(text)) == 4
    assert "| abc1234 (main, baseline) | SQLite 3 |" in text
    assert "| 50 % | 20.0× |" in text
