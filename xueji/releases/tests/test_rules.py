"""The pure rules: the legal basis, who may approve, the pipeline's transitions, pseudonyms
and their tags, birth generalisation, and the publication route. No database."""

from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from xueji.releases.rules import (
    TRANSITIONS,
    ReleaseState,
    approval_refusal,
    basis_errors,
    birth_label,
    downloadable,
    find_run,
    next_state,
    pseudonym,
    pseudonym_verifies,
    publication_route,
    release_key,
    small_groups,
)

LAW = {"kind": "law", "authority": "", "level": "", "document_no": "", "has_document": False}
GOV = {
    "kind": "government",
    "law": "",
    "authority": "某某县人民政府",
    "level": "county",
    "document_no": "县政批〔2026〕3号",
    "has_document": True,
}


def _codes(errors) -> set[str]:
    return {e.code for e in errors}


def test_a_law_basis_names_the_law_and_its_article():
    assert basis_errors(law="《中华人民共和国统计法》第七条", **LAW) == []
    assert basis_errors(law="《未成年人保护法》第72条", **LAW) == []
    assert _codes(basis_errors(law="", **LAW)) == {"release.basis_missing"}
    assert _codes(basis_errors(law="统计法第七条", **LAW)) == {"release.basis_law_article"}
    assert _codes(basis_errors(law="《统计法》", **LAW)) == {"release.basis_law_article"}


def test_a_government_basis_is_county_level_or_above_with_its_document():
    for level in ("national", "province", "city", "county"):
        assert basis_errors(**{**GOV, "level": level}) == []
    assert _codes(basis_errors(**{**GOV, "level": "township"})) == {"release.basis_below_county"}
    assert _codes(basis_errors(**{**GOV, "authority": "某县教育局"})) == {"release.basis_authority"}
    assert _codes(basis_errors(**{**GOV, "has_document": False})) == {
        "release.basis_document_missing"
    }
    assert _codes(basis_errors(**{**GOV, "kind": "", "law": ""})) == {"release.basis_missing"}


def test_only_authorities_at_county_level_or_above_approve_independently():
    for kind in ("national", "province", "city", "county"):
        assert (
            approval_refusal(approver_id=3, approver_unit_kind=kind, requester_id=1, reviewer_id=2)
            is None
        )
    for kind in ("school", "separate"):
        refusal = approval_refusal(
            approver_id=3, approver_unit_kind=kind, requester_id=1, reviewer_id=2
        )
        assert refusal is not None and refusal.code == "release.approver_below_county"
    for same in (1, 2):
        refusal = approval_refusal(
            approver_id=same, approver_unit_kind="county", requester_id=1, reviewer_id=2
        )
        assert refusal is not None and refusal.code == "release.approver_not_independent"


def test_transitions_lead_only_forward():
    assert next_state(ReleaseState.SUBMITTED, "approve") is None
    assert next_state(ReleaseState.SUBMITTED, "review") == ReleaseState.REVIEWED
    assert next_state(ReleaseState.REVIEWED, "approve") == ReleaseState.APPROVED
    assert next_state(ReleaseState.APPROVED, "generate") == ReleaseState.GENERATED
    assert next_state(ReleaseState.GENERATED, "generate") is None
    assert ReleaseState.REJECTED not in TRANSITIONS


def test_downloadable_through_the_expiry_date_inclusive():
    day = date(2026, 12, 31)
    assert downloadable(state="generated", expires_on=day, today=day)
    assert not downloadable(state="generated", expires_on=day, today=date(2027, 1, 1))
    assert not downloadable(state="approved", expires_on=day, today=day)


@given(student_id=st.integers(min_value=1, max_value=2**62), salt=st.text(min_size=1))
def test_a_pseudonym_verifies_under_its_release_key(student_id, salt):
    key = release_key(b"m" * 32, salt)
    value = pseudonym(key, student_id)
    assert pseudonym_verifies(key, value)
    assert value != pseudonym(release_key(b"m" * 32, salt + "x"), student_id)


def test_other_keys_match_a_pseudonym_by_chance_only():
    key = release_key(b"m" * 32, "a")
    values = [pseudonym(key, i) for i in range(2000)]
    other = release_key(b"m" * 32, "b")
    matched = sum(pseudonym_verifies(other, v) for v in values)
    # 1/256 expected: about 8 of 2000
    assert matched < 40
    assert not pseudonym_verifies(key, values[0][:-1] + ("0" if values[0][-1] != "0" else "1"))


def test_birth_generalisation():
    assert birth_label(2016, "year") == "2016"
    assert birth_label(2015, "five_years") == "2015-2019"
    assert birth_label(None, "year") == ""


def test_publication_route():
    assert publication_route(kind="table", cells=[5, 6], threshold=5) == "direct"
    assert publication_route(kind="table", cells=[5, 4], threshold=5) == "release"
    assert publication_route(kind="rows", cells=[], threshold=5) == "release"


def test_small_groups_and_runs():
    assert small_groups([("a",), ("a",), ("b",)], 2) == {("b",): 1}
    rows = [("a",), ("b",), ("a",), ("c",)]
    assert find_run(rows, [("a",), ("c",)]) == 2
    assert find_run(rows, [("c",), ("a",)]) is None
