"""The Splink job on DuckDB: planted duplicates are found with their reasons, a clean
registry gives no pair."""

from datetime import date

import pytest

from xueji.anomalies import linkage
from xueji.anomalies.extract import birth_date_pair, to_table

from .planted import clean_rows, plant_duplicates


def test_birth_date_pair_is_shared_by_a_date_and_its_day_month_swap_only():
    assert birth_date_pair(date(2012, 3, 5)) == birth_date_pair(date(2012, 5, 3))
    assert birth_date_pair(date(2012, 3, 5)) != birth_date_pair(date(2013, 5, 3))
    assert birth_date_pair(date(2012, 3, 25)) is None  # no 25th month
    assert birth_date_pair(date(2012, 4, 4)) is None  # swaps to itself


def test_every_planted_duplicate_is_found_with_its_reasons():
    """Typo, homophone, swapped day/month, passport, L number: each pair at ≥ 0.99."""
    # given
    rows = clean_rows(300)
    added, planted = plant_duplicates(rows)

    # when
    result = linkage.run_linkage(to_table(rows + added), backend="duckdb")

    # then
    found = {(pair.id_l, pair.id_r): pair for pair in result.pairs}
    assert len(planted) == 15
    assert set(found) == planted
    assert all(pair.probability >= linkage.DEFAULT_THRESHOLD for pair in result.pairs)
    assert sorted(result.clusters) == sorted(planted)
    reasons = {code for pair in result.pairs for code in pair.reasons}
    assert {"birth_date_swapped", "given_one_char", "guardian_same"} <= reasons
    assert reasons & {"given_homophone", "surname_homophone"}
    assert all(linkage.reason_text(code) for code in reasons)


def test_a_clean_registry_gives_no_pair():
    result = linkage.run_linkage(to_table(clean_rows(400, seed=11)), backend="duckdb")

    assert result.records == 400
    assert result.pairs == []
    assert result.clusters == []


def test_an_unknown_backend_is_refused():
    with pytest.raises(ValueError, match="unknown linkage backend"):
        linkage.run_linkage(to_table(clean_rows(10)), backend="sqlite")


def test_the_backend_comes_from_the_setting(settings):
    settings.XUEJI = {**settings.XUEJI, "LINKAGE_BACKEND": "duckdb"}

    result = linkage.run_linkage(to_table(clean_rows(20)))

    assert result.backend == "duckdb"


def test_re_estimated_u_values_keep_the_comparisons_and_find_the_same_pairs():
    """estimate_u returns u per level key; linking with that model still finds the pairs."""
    rows = clean_rows(300)
    added, planted = plant_duplicates(rows)
    table = to_table(rows + added)

    model = linkage.estimate_u(table, max_pairs=2e4)
    result = linkage.run_linkage(table, backend="duckdb", model=model, threshold=0.9)

    assert {"surname_exact", "given_exact", "birth_date_exact", "id_differs"} <= set(model["u"])
    assert all(0 <= u <= 1 for u in model["u"].values())
    assert planted <= {(pair.id_l, pair.id_r) for pair in result.pairs}
