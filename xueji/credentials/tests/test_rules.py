"""The pure pieces: disclosures and digests against RFC 9901's own example, concealment and
its reversal, and the Token Status List's bit packing."""

import json
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xueji.credentials import rules


def test_the_disclosure_digest_matches_rfc_9901s_example():
    """RFC 9901 §4.2.3: the SHA-256 digest of the family_name disclosure."""
    disclosure = "WyJfMjZiYzRMVC1hYzZxMktJNmNCVzVlcyIsICJmYW1pbHlfbmFtZSIsICJNw7ZiaXVzIl0"
    decoded = rules.disclosure_decode(disclosure)
    assert (decoded.salt, decoded.name, decoded.value) == (
        "_26bc4LT-ac6q2KI6cBW5es",
        "family_name",
        "Möbius",
    )
    assert rules.digest(disclosure, "sha-256") == "X9yH0Ajrdm1Oij4tWso9UzzKJvPoDxwmuEcO3XAdRC0"


def test_sm3_digest_is_the_standard_one():
    # GB/T 32905 example: SM3("abc").
    assert rules.HASHES["sm3"](b"abc").hex() == (
        "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    )


def salts():
    counter = iter(range(1000))
    return lambda: f"salt{next(counter)}"


CLAIMS = {
    "iss": "https://x",
    "vct": "urn:v",
    "iat": 1,
    "exp": 2,
    "cnf": {"jwk": {"kty": "EC"}},
    "name": "张三",
    "school": {"code": "1144010001", "name": "天河一小"},
    "grade": "13",
}


def test_conceal_keeps_only_issuer_type_validity_and_machinery_visible():
    payload, disclosures = rules.conceal(CLAIMS, salts=salts())
    assert set(payload) == {"iss", "vct", "iat", "exp", "cnf", "school", "_sd"}
    assert set(payload["school"]) == {"_sd"}
    assert len(payload["_sd"]) == 2 and payload["_sd"] == sorted(payload["_sd"])
    assert len(disclosures) == 4
    # every disclosure's digest is in the payload exactly once
    every = payload["_sd"] + payload["school"]["_sd"]
    assert sorted(rules.digest(d, "sha-256") for d in disclosures) == sorted(every)
    assert json.loads(rules.b64url_decode(disclosures[0])) == ["salt0", "name", "张三"]


def test_reveal_restores_only_what_is_disclosed():
    payload, disclosures = rules.conceal(CLAIMS, salts=salts())
    grade = next(d for d in disclosures if rules.disclosure_decode(d).name == "grade")
    claims, paths = rules.reveal(payload, [grade], sd_alg="sha-256")
    assert paths == ["grade"]
    assert claims == {
        "iss": "https://x",
        "vct": "urn:v",
        "iat": 1,
        "exp": 2,
        "cnf": {"jwk": {"kty": "EC"}},
        "school": {},
        "grade": "13",
    }


def test_reveal_refuses_a_disclosure_the_payload_does_not_refer_to():
    payload, _disclosures = rules.conceal(CLAIMS, salts=salts())
    stranger = rules.disclosure_encode("s", "name", "李四")
    with pytest.raises(rules.UnpackError) as refused:
        rules.reveal(payload, [stranger], sd_alg="sha-256")
    assert refused.value.code == "disclosure.unreferenced"


def test_reveal_refuses_the_same_disclosure_twice():
    payload, disclosures = rules.conceal(CLAIMS, salts=salts())
    with pytest.raises(rules.UnpackError) as refused:
        rules.reveal(payload, [disclosures[0], disclosures[0]], sd_alg="sha-256")
    assert refused.value.code == "disclosure.duplicate"


def test_split_reads_the_tilde_separated_form():
    parts = rules.split("a.b.c~d1~d2~k.b.j")
    assert (parts.issuer_jwt, parts.disclosures, parts.kb_jwt) == ("a.b.c", ["d1", "d2"], "k.b.j")
    assert parts.presented == "a.b.c~d1~d2~"
    issued = rules.split("a.b.c~d1~")
    assert (issued.disclosures, issued.kb_jwt) == (["d1"], "")
    with pytest.raises(rules.EncodingError):
        rules.split("a.b.c")


def test_status_list_packs_two_bits_least_significant_first():
    """draft-ietf-oauth-status-list: with bits=2, index 0 is bits 0-1 of byte 0."""
    raw = rules.status_list_pack(8, {0: 1, 1: 2, 5: 1})
    assert raw == bytes([0b00001001, 0b00000100])
    lst = rules.status_list_encode(raw)
    assert zlib.decompress(rules.b64url_decode(lst)) == raw
    assert [rules.status_list_value(lst, i) for i in range(8)] == [1, 2, 0, 0, 0, 1, 0, 0]


@given(st.dictionaries(st.integers(0, 999), st.sampled_from([0, 1, 2]), max_size=200))
def test_status_list_round_trips(marks):
    lst = rules.status_list_encode(rules.status_list_pack(1000, marks))
    for index in range(0, 1000, 7):
        assert rules.status_list_value(lst, index) == marks.get(index, 0)
    for index, value in marks.items():
        assert rules.status_list_value(lst, index) == value


def test_the_documented_example_is_consistent():
    """docs/identity.md's presentation: its disclosures match the signed digests and its
    KB-JWT's sd_hash covers exactly what precedes it."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[3] / "docs" / "identity.md").read_text()
    blocks = text.split("```text\n")
    presentation = "".join(blocks[3].split("```")[0].split("\n"))
    parts = rules.split(presentation)
    _h, payload, _i, _s = rules.jwt_unverified(parts.issuer_jwt)
    claims, paths = rules.reveal(payload, parts.disclosures, sd_alg="sha-256")
    assert paths == ["enrolment_status", "grade", "school.name"]
    assert claims["school"] == {"name": "天河区第一实验小学"}
    _kh, kb, _ki, _ks = rules.jwt_unverified(parts.kb_jwt)
    assert kb["sd_hash"] == rules.digest(parts.presented, "sha-256")
    assert kb["aud"] == "https://bus-card.example.cn"


def test_the_deploy_check_wants_configured_keys(settings, tmp_path):
    from xueji.credentials.checks import credential_keys

    settings.XUEJI_CREDENTIAL_KEYS = []
    assert [m.id for m in credential_keys(None)] == ["credentials.W001"]
    settings.XUEJI_CREDENTIAL_KEYS = [{"kid": "k", "file": str(tmp_path / "missing.jwk")}]
    assert [m.id for m in credential_keys(None)] == ["credentials.E001"]
