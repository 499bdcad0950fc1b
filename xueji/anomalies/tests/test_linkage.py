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


def _probability_in_a_national_registry(left, right) -> float:
    """The match probability of two records under the prior of a registry of 1,000,000."""
    import logging

    from splink import Linker

    db_api = linkage._database_api("duckdb")
    try:
        table = to_table([left, right])
        linker = Linker(
            db_api.register(table), linkage.settings_for(1_000_000), log_level=logging.WARNING
        )
        # Term frequencies as in a large registry: a common surname, a given name of one
        # child in a thousand (two records alone would make each look universal).
        left_record, right_record = (
            {**record, "tf_surname": 0.07, "tf_given": 0.001} for record in table.to_pylist()
        )
        scored = linker.inference.score_pair(left_record, right_record)
        return float(scored.as_record_list()[0]["match_probability"])
    finally:
        linkage._release(db_api, "duckdb")


def test_twins_with_two_resident_ids_are_not_linked_but_the_same_child_without_id_is():
    """Twins share surname, birth date, guardian, birthplace and school, and often a
    character of the given name; two resident IDs of different numbers keep them apart.
    The same pair with one record lacking an ID (a re-registration) is linked."""
    # given
    first = clean_rows(1)[0]
    assert first.id_key is not None
    twin = first._replace(
        student_id=first.student_id + 1,
        name=first.name[0] + "子轩",
        id_key=first.id_key[::-1],
    )
    first = first._replace(name=first.name[0] + "子涵")
    again_without_id = twin._replace(id_type="", id_key=None, number_kind="L")

    # when
    twins = _probability_in_a_national_registry(first, twin)
    duplicate = _probability_in_a_national_registry(first, again_without_id)

    # then
    assert twins < 0.5
    assert duplicate >= linkage.DEFAULT_THRESHOLD
