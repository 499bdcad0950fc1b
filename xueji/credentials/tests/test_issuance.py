"""Issuance, selective disclosure, key binding, tampering, expiry, rotation and both
algorithms, through the services and the verifier library."""

import json
from datetime import timedelta

import pytest

from xueji import clock
from xueji.audit.models import AuditEvent
from xueji.credentials import rules, sdjwt, services
from xueji.credentials.keys import key_ring
from xueji.credentials.models import Credential, CredentialState
from xueji.enrolment.rules import StatusState
from xueji.errors import Conflict

from .conftest import ISSUER, key_file

pytestmark = pytest.mark.django_db


def parts_of(text: str):
    parts = rules.split(text)
    header, payload, _i, _s = rules.jwt_unverified(parts.issuer_jwt)
    return parts, header, payload


def present(issued, holder_key, *, disclose=("school.name", "grade"), nonce="n-1", aud="rp-1"):
    return sdjwt.present(
        issued,
        disclose=disclose,
        holder_key=holder_key,
        nonce=nonce,
        audience=aud,
        now=int(clock.now().timestamp()),
    )


def test_an_issued_credential_is_an_sd_jwt_vc_with_every_claim_but_validity_concealed(
    enrolled, school, holder
):
    private, _key = holder
    issued = services.credential_issue(actor=None, student_id=enrolled.pk, holder_jwk=private)
    parts, header, payload = parts_of(issued.text)
    # header: SD-JWT VC type, ES256, the key's id
    assert header == {"typ": "dc+sd-jwt", "alg": "ES256", "kid": "k1"}
    # the issued form ends with "~" (no KB-JWT) and carries one disclosure per claim
    assert issued.text.endswith("~") and parts.kb_jwt == ""
    assert len(parts.disclosures) == 8
    # visible: issuer, type, validity, holder key, status; nothing personal
    assert set(payload) == {"iss", "vct", "iat", "exp", "cnf", "status", "school", "_sd", "_sd_alg"}
    assert payload["iss"] == ISSUER
    assert payload["vct"] == "urn:cn:moe:xueji:student-enrolment:1"
    assert payload["_sd_alg"] == "sha-256"
    assert payload["exp"] - payload["iat"] == 365 * 86400
    assert payload["cnf"] == {"jwk": {k: private[k] for k in ("kty", "crv", "x", "y")}}
    credential = issued.credential
    assert payload["status"] == {
        "status_list": {
            "idx": credential.status_index,
            "uri": f"{ISSUER}/credentials/status/{credential.status_list.number}",
        }
    }
    assert enrolled.number not in issued.text.split("~")[0]
    # the disclosures name every claim, and each digest is in the payload once
    decoded = sorted(
        (rules.disclosure_decode(d).name, rules.disclosure_decode(d).value)
        for d in parts.disclosures
    )
    assert decoded == sorted(
        [
            ("student_number", enrolled.number),
            ("name", enrolled.name),
            ("code", school.code),
            ("name", school.name),
            ("stage", "1"),
            ("grade", "13"),
            ("enrolment_status", StatusState.ENROLLED),
            ("issue_date", clock.today().isoformat()),
        ]
    )
    digests = payload["_sd"] + payload["school"]["_sd"]
    assert sorted(rules.digest(d, "sha-256") for d in parts.disclosures) == sorted(digests)
    # stored and audited
    assert credential.state == CredentialState.VALID and credential.kid == "k1"
    event = AuditEvent.objects.get(action="credential.issue", object_id=str(credential.pk))
    assert event.detail["status_index"] == credential.status_index
    # the trail never holds a full student number
    assert enrolled.number not in event.summary and enrolled.number_masked in event.summary


def test_a_presentation_discloses_only_the_chosen_claims(enrolled, school, holder):
    private, key = holder
    issued = services.credential_issue(actor=None, student_id=enrolled.pk, holder_jwk=private)
    presentation = present(issued.text, key)
    parts, _h, payload = parts_of(presentation)
    assert len(parts.disclosures) == 2
    verdict = services.local_verifier().verify(presentation, nonce="n-1", audience="rp-1")
    assert verdict.valid, verdict.reason
    assert verdict.key_bound
    assert verdict.disclosed == ["grade", "school.name"]
    assert verdict.claims["school"] == {"name": school.name}
    assert verdict.claims["grade"] == "13"
    # undisclosed claims are absent, and their digests are still in the signed payload
    for absent in ("name", "student_number", "stage", "enrolment_status"):
        assert absent not in verdict.claims
    assert enrolled.name not in presentation
    assert len(payload["_sd"]) == 6


@pytest.mark.parametrize(
    ("nonce", "audience", "reason"),
    [
        ("other", "rp-1", "presentation.nonce"),
        ("n-1", "rp-2", "presentation.audience"),
    ],
)
def test_key_binding_refuses_a_wrong_nonce_or_audience(enrolled, holder, nonce, audience, reason):
    private, key = holder
    issued = services.credential_issue(actor=None, student_id=enrolled.pk, holder_jwk=private)
    verdict = services.local_verifier().verify(
        present(issued.text, key), nonce=nonce, audience=audience
    )
    assert (verdict.valid, verdict.reason) == (False, reason)


def test_key_binding_is_required_when_a_nonce_is_asked_for(enrolled, holder):
    private, _key = holder
    issued = services.credential_issue(actor=None, student_id=enrolled.pk, holder_jwk=private)
    bare = sdjwt.present(issued.text, disclose=["grade"], holder_key=None)
    verdict = services.local_verifier().verify(bare, nonce="n-1", audience="rp-1")
    assert verdict.reason == "presentation.kb_missing"


def test_a_kb_jwt_signed_by_another_key_is_refused(enrolled, holder):
    private, _key = holder
    issued = services.credential_issue(actor=None, student_id=enrolled.pk, holder_jwk=private)
    from xueji.credentials.keys import key_from_jwk, new_private_jwk

    thief = key_from_jwk(new_private_jwk("ES256"))
    verdict = services.local_verifier().verify(
        present(issued.text, thief), nonce="n-1", audience="rp-1"
    )
    assert verdict.reason == "presentation.kb_signature"


def test_a_kb_jwt_over_other_disclosures_is_refused(enrolled, holder):
    """sd_hash binds the KB-JWT to the disclosures presented: adding one afterwards fails."""
    private, key = holder
    issued = services.credential_issue(actor=None, student_id=enrolled.pk, holder_jwk=private)
    presentation = present(issued.text, key, disclose=["grade"])
    parts = rules.split(presentation)
    all_parts = rules.split(issued.text)
    name = next(d for d in all_parts.disclosures if rules.disclosure_decode(d).name == "name")
    widened = rules.combine(parts.issuer_jwt, [*parts.disclosures, name], parts.kb_jwt)
    verdict = services.local_verifier().verify(widened, nonce="n-1", audience="rp-1")
    assert verdict.reason == "presentation.sd_hash"


def test_a_changed_disclosure_is_refused(enrolled, holder):
    private, _key = holder
    issued = services.credential_issue(actor=None, student_id=enrolled.pk, holder_jwk=private)
    parts = rules.split(issued.text)
    grade = next(d for d in parts.disclosures if rules.disclosure_decode(d).name == "grade")
    salt = rules.disclosure_decode(grade).salt
    forged = rules.disclosure_encode(salt, "grade", "16")
    tampered = issued.text.replace(grade, forged)
    verdict = services.local_verifier().verify(tampered)
    assert (verdict.valid, verdict.reason) == (False, "credential.disclosure")


def test_a_changed_signature_or_payload_is_refused(enrolled, holder):
    private, _key = holder
    issued = services.credential_issue(actor=None, student_id=enrolled.pk, holder_jwk=private)
    jwt, rest = issued.text.split("~", 1)
    head, body, signature = jwt.split(".")
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    assert services.local_verifier().verify(f"{head}.{body}.{flipped}~{rest}").reason == (
        "credential.signature"
    )
    payload = json.loads(rules.b64url_decode(body))
    payload["exp"] += 86400 * 365
    forged_body = rules.b64url_encode(json.dumps(payload).encode())
    assert services.local_verifier().verify(f"{head}.{forged_body}.{signature}~{rest}").reason == (
        "credential.signature"
    )


def test_an_expired_credential_is_refused(enrolled, holder, monkeypatch):
    private, key = holder
    issued = services.credential_issue(actor=None, student_id=enrolled.pk, holder_jwk=private)
    later = clock.now() + timedelta(days=366)
    monkeypatch.setattr(clock, "now", lambda: later)
    verdict = services.local_verifier().verify(
        present(issued.text, key), nonce="n-1", audience="rp-1"
    )
    assert verdict.reason == "credential.expired"


def test_a_stale_kb_jwt_is_refused(enrolled, holder, monkeypatch):
    private, key = holder
    issued = services.credential_issue(actor=None, student_id=enrolled.pk, holder_jwk=private)
    presentation = present(issued.text, key)
    later = clock.now() + timedelta(minutes=10)
    monkeypatch.setattr(clock, "now", lambda: later)
    verdict = services.local_verifier().verify(presentation, nonce="n-1", audience="rp-1")
    assert verdict.reason == "presentation.stale"


def test_a_record_not_on_the_roll_gets_no_credential(enrolled):
    from xueji.enrolment.models import StatusRecord

    StatusRecord.objects.filter(pk=enrolled.pk).update(state=StatusState.GRADUATED)
    with pytest.raises(Conflict) as refused:
        services.credential_issue(actor=None, student_id=enrolled.pk)
    assert refused.value.code == "credential.not_issuable"
    assert not Credential.objects.exists()


def test_a_new_credential_replaces_the_old_one(enrolled, holder):
    private, _key = holder
    first = services.credential_issue(actor=None, student_id=enrolled.pk, holder_jwk=private)
    second = services.credential_issue(actor=None, student_id=enrolled.pk, holder_jwk=private)
    states = list(
        Credential.objects.order_by("pk").values_list("state", "state_reason", "replaced_by")
    )
    assert states == [
        (CredentialState.REVOKED, "replaced", second.credential.pk),
        (CredentialState.VALID, "", None),
    ]
    assert services.local_verifier().verify(first.text).reason == "status.revoked"
    assert services.local_verifier().verify(second.text).valid


# ----------------------------------------------------------------- rotation


def test_rotation_old_credentials_verify_until_expiry_and_new_ones_use_the_new_key(
    enrolled, make_student, holder, settings, tmp_path, client
):
    private, key = holder
    old = services.credential_issue(actor=None, student_id=enrolled.pk, holder_jwk=private)
    k1 = settings.XUEJI_CREDENTIAL_KEYS[0]
    # when: k2 becomes active, k1 previous
    settings.XUEJI_CREDENTIAL_KEYS = [
        {**k1, "state": "previous"},
        {"kid": "k2", "alg": "ES256", "file": key_file(tmp_path, "k2"), "state": "active"},
    ]
    other = make_student(grade="14")
    new = services.credential_issue(actor=None, student_id=other.pk, holder_jwk=private)
    # then: the new one is signed by k2; both verify; both keys are published
    assert rules.jwt_unverified(rules.split(new.text).issuer_jwt)[0]["kid"] == "k2"
    verifier = services.local_verifier()
    assert verifier.verify(present(old.text, key), nonce="n-1", audience="rp-1").valid
    assert verifier.verify(present(new.text, key), nonce="n-1", audience="rp-1").valid
    published = client.get("/.well-known/jwks.json").json()
    assert sorted(k["kid"] for k in published["keys"]) == ["k1", "k2"]
    assert all("d" not in k for k in published["keys"])
    # when: k1 is retired
    settings.XUEJI_CREDENTIAL_KEYS = [{**k1, "state": "retired"}, settings.XUEJI_CREDENTIAL_KEYS[1]]
    verifier = services.local_verifier()
    # then: k1's credentials stop verifying, k2's go on; k1 is no longer published
    assert verifier.verify(present(old.text, key), nonce="n-1", audience="rp-1").reason == (
        "credential.key_retired"
    )
    assert verifier.verify(present(new.text, key), nonce="n-1", audience="rp-1").valid
    published = client.get("/.well-known/jwks.json").json()
    assert [k["kid"] for k in published["keys"]] == ["k2"]
    # an offline verifier with only the JWKS does not know k1 at all
    offline = sdjwt.Verifier(
        keys=sdjwt.jwks_source(published),
        issuer=ISSUER,
        vct=settings.XUEJI_CREDENTIAL["VCT"],
        status_fetcher=services._local_fetch,
        clock=lambda: clock.now().timestamp(),
    )
    assert offline.verify(old.text).reason == "credential.unknown_key"
    assert offline.verify(new.text).valid


def test_a_key_retired_after_a_verification_stops_the_cached_credential_too(
    enrolled, holder, settings
):
    private, _key = holder
    issued = services.credential_issue(actor=None, student_id=enrolled.pk, holder_jwk=private)
    verifier = services.local_verifier()
    assert verifier.verify(issued.text).valid
    ring = key_ring()
    ring.keys[0].state = "retired"
    try:
        assert verifier.verify(issued.text).reason == "credential.key_retired"
    finally:
        ring.keys[0].state = "active"


# ----------------------------------------------------------------- SM2 with SM3


def test_sm2_with_sm3_is_a_configured_alternative(enrolled, settings, tmp_path, holder, client):
    settings.XUEJI_CREDENTIAL_KEYS = [
        {"kid": "gm1", "alg": "SM2", "file": key_file(tmp_path, "gm1", "SM2"), "state": "active"}
    ]
    private, key = holder
    issued = services.credential_issue(actor=None, student_id=enrolled.pk, holder_jwk=private)
    _parts, header, payload = parts_of(issued.text)
    assert header == {"typ": "dc+sd-jwt", "alg": "SM2", "kid": "gm1"}
    assert payload["_sd_alg"] == "sm3"
    verifier = services.local_verifier()
    verdict = verifier.verify(present(issued.text, key), nonce="n-1", audience="rp-1")
    assert verdict.valid, verdict.reason
    assert verdict.claims["grade"] == "13"
    # the status list is SM2-signed too, and the JWKS names the curve
    token = client.get(payload["status"]["status_list"]["uri"].replace(ISSUER, "")).content.decode()
    assert rules.jwt_unverified(token)[0]["alg"] == "SM2"
    assert client.get("/.well-known/jwks.json").json()["keys"][0]["crv"] == "SM2"
    # a flipped SM2 signature is refused
    jwt, rest = issued.text.split("~", 1)
    head, body, signature = jwt.split(".")
    raw = bytearray(rules.b64url_decode(signature))
    raw[5] ^= 1
    forged = f"{head}.{body}.{rules.b64url_encode(bytes(raw))}~{rest}"
    assert verifier.verify(forged).reason == "credential.signature"


def test_sm2_holder_keys_bind_presentations(enrolled, settings):
    from xueji.credentials.keys import key_from_jwk, new_private_jwk

    private = new_private_jwk("SM2")
    issued = services.credential_issue(actor=None, student_id=enrolled.pk, holder_jwk=private)
    presentation = present(issued.text, key_from_jwk(private))
    assert services.local_verifier().verify(presentation, nonce="n-1", audience="rp-1").valid
