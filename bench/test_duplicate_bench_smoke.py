"""The duplicate benchmark runs end to end on a small registry: figures, never timings."""

import pytest

from bench import duplicate_bench

pytestmark = pytest.mark.django_db(transaction=True)


def _quiet(message: str) -> None:
    pass


def test_duplicate_benchmark_links_the_planted_pairs_and_reports_figures():
    """Every record is read and linked; precision and recall are computed for each path."""
    # given
    sizes = duplicate_bench.Sizes(rows=3000, online_sample=40, spark=False)

    # when
    result = duplicate_bench.measure(sizes, log=_quiet)

    # then
    assert result["records"] == 3000
    assert result["planted_pairs"] == 30
    duckdb = result["duckdb"]
    assert duckdb["records"] == 3000
    assert duckdb["planted"] == 30
    assert duckdb["true_positives"] + duckdb["false_positives"] == duckdb["found"]
    assert duckdb["recall"] >= 0.8
    kinds = {"typo", "homophone", "swapped", "two_ids", "temporary", "next_day"}
    assert set(duckdb["recall_by_kind"]) == kinds
    # Registered by the other parent: counted apart, also without phones and addresses.
    for run in (duckdb, result["duckdb_no_contacts"]):
        case = run["other_parent"]
        assert case["true_positives"] <= min(case["planted"], case["found"])
    # The import's check inside one file: every record a row, every kind reported.
    in_file = result["import_file"]
    assert in_file["rows"] == 3000 and set(in_file["recall_by_kind"]) == kinds
    assert in_file["true_positives"] <= in_file["flagged"] and in_file["recall"] >= 0.8
    # The same registry before any campaign, and with m from another registry's pairs.
    no_campaign, trained = result["duckdb_no_campaign"], result["duckdb_trained"]
    assert no_campaign["records"] == trained["records"] == 3000
    assert no_campaign["planted"] == trained["planted"] == 30
    assert trained["train_pairs"] == 200 and trained["train_records"] == 20_000
    assert "given_one_char" in trained["m"] and "id_differs" not in trained["m"]
    assert trained["recall"] >= 0.8
    online = result["online"]
    assert online["samples"]["planted"]["checked"] == 30
    assert online["samples"]["other"]["checked"] == 40
    assert 0 < online["recall"] <= 1
    assert result["spark"] is None


def test_docs_section_is_replaced_and_other_sections_stay(tmp_path):
    docs = tmp_path / "benchmarks.md"
    docs.write_text("# Benchmarks\n\n## Import benchmark\n\nits figures\n", encoding="utf-8")
    linked = {
        "records": 1000,
        "precision": 0.995,
        "recall": 0.991,
        "seconds": 10.0,
        "extract_seconds": 2.0,
        "recall_by_kind": {"typo": 0.98},
        "false_positive_kinds": {"twins": 1},
    }
    entry = {
        "records": 1000,
        "planted_pairs": 10,
        "run_at": "2026-01-01T10:00:00+08:00",
        "command": "python -m bench.duplicate_bench --rows 1000",
        "machine": {"cpu": "cpu", "cores": 2, "memory": "1 GB", "os": "Linux", "python": "3"},
        "threshold": 0.99,
        "generate_seconds": 1.0,
        "load_seconds": 1.0,
        "load_average": [1.0, 1.0],
        "online": {
            "precision": 0.5,
            "recall": 0.6,
            "ms_per_check": 2.0,
            "whole_registry_seconds": 2.0,
            "samples": {"planted": {"checked": 10}, "other": {"checked": 10}},
        },
        "duckdb": linked,
        "duckdb_no_campaign": linked,
        "duckdb_trained": {**linked, "train_pairs": 100, "train_seconds": 3.0},
        "spark": {
            **linked,
            "same_pairs_as_duckdb": True,
            "pairs_differing_from_duckdb": 0,
            "duckdb_seconds_same_rows": 1.0,
        },
    }

    duplicate_bench.update_docs([entry], path=docs)
    duplicate_bench.update_docs([{**entry, "records": 2000}], path=docs)

    text = docs.read_text(encoding="utf-8")
    assert text.count(duplicate_bench.SECTION_START) == 1
    assert "## Import benchmark\n\nits figures" in text
    assert len(duplicate_bench.read_entries(text)) == 2
    assert "same pairs as DuckDB" in text
    assert "before any confirmation campaign" in text
    assert "trained on 100 pairs of another registry" in text
    assert "targets met" in text


def test_the_training_table_built_in_memory_matches_what_the_registry_gives_back():
    """``memory_table`` (the trained run's input, never loaded) has the same rows as the
    extract reads from the loaded registry; school ids differ only by name (an index in
    memory, a primary key in the database)."""
    from bench.duplicate_data import Plan, build
    from xueji.anomalies import extract

    # 5 % second registrations: some name the first record's school.
    registry = build(Plan(records=600, seed=7, duplicate_share=0.05), duplicate_bench.counties())
    duplicate_bench.load_registry(registry, log=_quiet)

    loaded = {row["unique_id"]: row for row in extract.registry_table().to_pylist()}
    in_memory = {
        row["unique_id"]: row for row in duplicate_bench.memory_table(registry).to_pylist()
    }

    assert loaded.keys() == in_memory.keys() and len(loaded) == 600
    schools: dict[int, int] = {}
    by_school = ("school_id", "previous_schools", "school_trail")
    for unique_id, row in in_memory.items():
        other = loaded[unique_id]
        assert {k: v for k, v in row.items() if k not in by_school} == {
            k: v for k, v in other.items() if k not in by_school
        }
        assert schools.setdefault(row["school_id"], other["school_id"]) == other["school_id"]
    assert len(set(schools.values())) == len(schools)
    # The previous school (原就读学校) read back is the same school, under its primary key.
    named = 0
    for unique_id, row in in_memory.items():
        other = loaded[unique_id]
        for key in ("previous_schools", "school_trail"):
            mapped = sorted(str(schools[int(s)]) for s in row[key] or ())
            assert mapped == (other[key] or []), (unique_id, key)
        named += bool(row["previous_schools"])
    assert named > 0
    assert {row["attendance"] for row in loaded.values()} >= {"present", "absent"}
    assert any(len(row["guardian_keys"] or ()) == 2 for row in loaded.values())
