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
    assert {"birth_date_swapped", "given_one_char", "guardian_same_born"} <= reasons
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
    # Registered again after the last confirmation campaign: not marked yet.
    again_without_id = twin._replace(id_type="", id_key=None, number_kind="L", attendance=None)

    # when
    twins = _probability_in_a_national_registry(first, twin)
    duplicate = _probability_in_a_national_registry(first, again_without_id)

    # then
    assert twins < 0.5
    assert duplicate >= linkage.DEFAULT_THRESHOLD


def test_two_records_confirmed_present_at_one_school_are_two_children():
    """Twins without an ID (L numbers) share everything a mistyped re-registration
    shares; the school confirming both present tells them apart. One of them absent at
    that confirmation is what a second record looks like, and is linked."""
    # given: the same child's record and an alike one at the same school
    first = clean_rows(1)[0]._replace(id_type="", id_key=None, number_kind="L", school_id=7)
    other = first._replace(student_id=first.student_id + 1, name=first.name[0] + "子轩")
    first = first._replace(name=first.name[0] + "子涵")

    # when
    both_present = _probability_in_a_national_registry(
        first._replace(attendance="present"), other._replace(attendance="present")
    )
    one_absent = _probability_in_a_national_registry(
        first._replace(attendance="present"), other._replace(attendance="absent")
    )
    present_elsewhere = _probability_in_a_national_registry(
        first._replace(attendance="present"),
        other._replace(attendance="present", school_id=8),
    )

    # then
    assert both_present < 0.01
    assert one_absent >= linkage.DEFAULT_THRESHOLD
    assert both_present < present_elsewhere < one_absent


def test_any_guardian_in_common_counts_and_an_absence_is_a_reason():
    """The first record lists both parents, the second only the mother; the first
    record's school marked it absent."""
    rows = clean_rows(40, seed=3)
    first = rows[0]._replace(
        guardian_keys=("father-key", "mother-key"), attendance="absent", school_id=1
    )
    again = first._replace(
        student_id=1000,
        id_type="",
        id_key=None,
        number_kind="L",
        guardian_keys=("mother-key",),
        attendance="present",
        school_id=2,
    )

    result = linkage.run_linkage(to_table([first, again, *rows[1:]]), backend="duckdb")

    assert [(pair.id_l, pair.id_r) for pair in result.pairs] == [(first.student_id, 1000)]
    assert {"guardian_same_born", "attendance_absent"} <= set(result.pairs[0].reasons)


def test_the_twin_share_of_same_day_pairs_falls_with_the_registry():
    """u of "a guardian in common, born the same day": twins over pairs born the same
    day, capped at the sibling level's u for a small registry."""
    assert linkage._twin_share_u(1_000) == 0.003
    national = linkage._twin_share_u(1_000_000)
    assert national == pytest.approx(0.006 * 2 * 13 * 365 / 1_000_000)
    assert linkage._twin_share_u(10_000_000) < national < linkage._twin_share_u(100_000)


def test_m_estimated_from_labelled_pairs_moves_the_model_but_not_the_fixed_levels():
    """estimate_m: each level's share among pairs known to be one person, smoothed
    towards the built-in m; the rule levels keep theirs; linking with the model still
    finds every pair."""
    rows = clean_rows(300)
    added, planted = plant_duplicates(rows)
    table = to_table(rows + added)

    model = linkage.estimate_m(table, planted)

    m = model["m"]
    assert model["m_pairs"] == len(planted) == 15
    assert not linkage.FIXED_LEVELS & set(m)
    # Three of fifteen pairs have swapped dates (built-in m 0.05): the share rises.
    assert 0.05 < m["birth_date_swapped"] < 3 / 15
    # Levels of one comparison still add up to one.
    assert sum(m[k] for k in m if k.startswith("birth_date_")) == pytest.approx(1, abs=1e-4)
    result = linkage.run_linkage(table, backend="duckdb", model=model)
    assert planted <= {(pair.id_l, pair.id_r) for pair in result.pairs}


def test_estimating_m_without_labelled_pairs_is_refused():
    with pytest.raises(ValueError, match="no labelled pairs"):
        linkage.estimate_m(to_table(clean_rows(10)), [])


def test_the_reason_names_one_school_or_one_county():
    rows = clean_rows(40, seed=4)
    first = rows[0]._replace(attendance="absent", school_id=5)
    same_school = first._replace(
        student_id=1001, id_type="", id_key=None, number_kind="L", attendance=None
    )
    same_county = same_school._replace(student_id=1002, school_id=6)

    for again, reason, not_reason in (
        (same_school, "school_same", "area_same"),
        (same_county, "area_same", "school_same"),
    ):
        result = linkage.run_linkage(to_table([first, again, *rows[1:]]), backend="duckdb")

        (pair,) = result.pairs
        assert reason in pair.reasons and not_reason not in pair.reasons
        assert linkage.reason_text(reason) != reason


def test_birth_dates_a_day_apart_across_a_year_end_are_linked():
    """2017-12-31 and 2018-01-01: another year, another month, one day apart."""
    first = clean_rows(1)[0]._replace(birth_date=date(2017, 12, 31))
    again = first._replace(
        student_id=first.student_id + 1,
        id_type="",
        id_key=None,
        number_kind="L",
        birth_date=date(2018, 1, 1),
        attendance=None,
    )
    rows = clean_rows(60, seed=8, first_id=100)

    result = linkage.run_linkage(to_table([first, again, *rows]), backend="duckdb")

    assert [(p.id_l, p.id_r) for p in result.pairs] == [(first.student_id, again.student_id)]
    assert "birth_date_near" in result.pairs[0].reasons
    assert _probability_in_a_national_registry(first, again) >= linkage.DEFAULT_THRESHOLD
    # Three days apart is no longer "within two days".
    later = again._replace(birth_date=date(2018, 1, 3))
    assert _probability_in_a_national_registry(first, later) < linkage.DEFAULT_THRESHOLD


def test_registered_by_the_other_parent_a_phone_or_address_in_common_counts():
    """The father on the first record, the mother on the second (a mistyped given name, a
    school in another province): no guardian in common, but the family's home; without
    it the pair falls far below the threshold."""
    first = clean_rows(1)[0]._replace(
        name="余子轩",
        guardian_keys=("father-key",),
        contact_keys=("phone-of-the-father", "address-of-the-home"),
        attendance=None,
    )
    by_mother = first._replace(
        student_id=first.student_id + 1,
        name="余子杆",
        id_type="",
        id_key=None,
        number_kind="L",
        guardian_keys=("mother-key",),
        contact_keys=("phone-of-the-mother", "address-of-the-home"),
        school_id=99,
        area_code="510104",
        province_code="51",
    )
    no_contact = by_mother._replace(contact_keys=("phone-of-the-mother",))

    with_contact = _probability_in_a_national_registry(first, by_mother)
    without = _probability_in_a_national_registry(first, no_contact)

    assert with_contact >= linkage.DEFAULT_THRESHOLD and without < 0.05
    result = linkage.run_linkage(
        to_table([first, by_mother, *clean_rows(60, seed=9, first_id=100)]), backend="duckdb"
    )
    pairs = {(p.id_l, p.id_r): p for p in result.pairs}
    assert "contact_same" in pairs[(first.student_id, by_mother.student_id)].reasons


def _other_parent_pair():
    """The father on the first record, the mother on the second (a mistyped given name, a
    school of another province), no guardian, phone or address in common."""
    first = clean_rows(1)[0]._replace(
        name="余子轩",
        guardian_keys=("father-key",),
        contact_keys=("phone-of-the-father",),
        attendance=None,
        school_id=10,
    )
    by_mother = first._replace(
        student_id=first.student_id + 1,
        name="余子杆",
        id_type="",
        id_key=None,
        number_kind="L",
        guardian_keys=("mother-key",),
        contact_keys=("phone-of-the-mother",),
        school_id=99,
        area_code="510104",
        province_code="51",
    )
    return first, by_mother


def test_registered_by_the_other_parent_naming_the_first_school_counts():
    """The second record names the first record's school as the school the child came
    from: linked; naming another school, or none, it stays below the threshold."""
    first, by_mother = _other_parent_pair()
    naming = by_mother._replace(previous_schools=(first.school_id,))
    elsewhere = by_mother._replace(previous_schools=(55,))

    assert _probability_in_a_national_registry(first, naming) >= linkage.DEFAULT_THRESHOLD
    assert _probability_in_a_national_registry(first, by_mother) < 0.05
    assert _probability_in_a_national_registry(first, elsewhere) < 0.05
    result = linkage.run_linkage(
        to_table([first, naming, *clean_rows(60, seed=9, first_id=100)]), backend="duckdb"
    )
    pairs = {(p.id_l, p.id_r): p for p in result.pairs}
    assert "previous_school_same" in pairs[(first.student_id, naming.student_id)].reasons
    assert linkage.reason_text("previous_school_same") != "previous_school_same"


def _pair(id_l: int, id_r: int, probability: float) -> linkage.Pair:
    weight = linkage._weight(probability)
    return linkage.Pair(id_l, id_r, probability, weight, ("surname_exact",))


def test_classmates_moving_together_lift_a_pair_between_the_same_two_schools():
    """Another pair linked in its own right between the same two schools, sharing no record
    with it, adds the classmates' weight; a pair at one school, a pair sharing a record,
    a pair whose record is already linked elsewhere, or another pair itself below the
    threshold adds nothing."""
    # given: records 1–4 at school 10, 5–8 at school 20, 9 at school 30
    rows = [
        row._replace(school_id=10 if i < 4 else 20 if i < 8 else 30)
        for i, row in enumerate(clean_rows(9))
    ]
    table = to_table(rows)
    ids = [row.student_id for row in rows]
    linked = _pair(ids[0], ids[4], 0.9)  # schools 10 and 20, above the threshold
    weak = _pair(ids[1], ids[5], 0.1)  # schools 10 and 20, below
    shares = _pair(ids[0], ids[6], 0.1)  # shares record ids[0] with the linked pair
    one_school = _pair(ids[2], ids[3], 0.1)  # both at school 10
    elsewhere = _pair(ids[2], ids[8], 0.1)  # schools 10 and 30
    taken = _pair(ids[7], ids[8], 0.9)  # schools 20 and 30, above the threshold
    explained = _pair(ids[3], ids[7], 0.1)  # schools 10 and 20, ids[7] linked already

    # when
    lifted = {
        (p.id_l, p.id_r): p
        for p in linkage._with_classmates(
            [linked, weak, shares, one_school, elsewhere, taken, explained], table, 0.3
        )
    }

    # then
    raised = lifted[(weak.id_l, weak.id_r)]
    assert raised.match_weight == pytest.approx(weak.match_weight + linkage.CLASSMATES_WEIGHT)
    assert raised.probability >= 0.3 and raised.reasons[-1] == "classmates_moved"
    for pair in (shares, one_school, elsewhere, explained):
        assert lifted[(pair.id_l, pair.id_r)] == pair
    # The linked pair gains nothing: the other pair between its schools is below 0.3.
    assert lifted[(linked.id_l, linked.id_r)] == linked
    # Two weak pairs alone lift nothing.
    assert linkage._with_classmates([weak, _pair(ids[2], ids[6], 0.1)], table, 0.3) == [
        weak,
        _pair(ids[2], ids[6], 0.1),
    ]
