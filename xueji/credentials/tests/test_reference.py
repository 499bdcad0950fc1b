"""Cross-checks with an independent implementation, the reference ``sd-jwt`` package (a test
oracle only): its presentations verify with our verifier, ours with its verifier.

The package predates RFC 9901: its default ``typ`` is ``example+sd-jwt`` (overridden to
``dc+sd-jwt`` below), and it serialises disclosures with Python's default JSON spacing
(any serialisation is allowed: the digest covers the bytes sent, RFC 9901 §4.2.1). Its
KB-JWT carries ``iat``, ``aud``, ``nonce`` and
``sd_hash`` as the RFC's §4.3 asks."""

import json

import pytest
from jwcrypto.jwk import JWK
from sd_jwt.common import SDObj
from sd_jwt.holder import SDJWTHolder
from sd_jwt.issuer import SDJWTIssuer
from sd_jwt.verifier import SDJWTVerifier

from xueji import clock
from xueji.credentials import rules, sdjwt, services
from xueji.credentials.keys import key_ring

from .conftest import ISSUER

pytestmark = pytest.mark.django_db


def jwcrypto_key(jwk: dict) -> JWK:
    return JWK.from_json(json.dumps(jwk))


def issuer_private_jwk(settings) -> dict:
    with open(settings.XUEJI_CREDENTIAL_KEYS[0]["file"]) as handle:
        return json.load(handle)


def test_our_verifier_accepts_a_presentation_made_by_the_reference_package(
    enrolled, holder, settings
):
    """The reference package issues (with our issuer key and our claims, status slot
    included) and presents; our verifier checks signature, disclosures, key binding."""
    private, _key = holder
    ours = services.credential_issue(actor=None, student_id=enrolled.pk, holder_jwk=private)
    _h, payload, _i, _s = rules.jwt_unverified(rules.split(ours.text).issuer_jwt)
    claims = {
        "iss": payload["iss"],
        "vct": payload["vct"],
        "iat": payload["iat"],
        "exp": payload["exp"],
        "status": payload["status"],
        SDObj("student_number"): enrolled.number,
        SDObj("name"): enrolled.name,
        "school": {SDObj("code"): "1144010001", SDObj("name"): "参考实现小学"},
        SDObj("grade"): "13",
    }
    issuer = SDJWTIssuer(
        claims,
        jwcrypto_key(issuer_private_jwk(settings)),
        holder_key=jwcrypto_key({k: private[k] for k in ("kty", "crv", "x", "y")}),
        sign_alg="ES256",
        extra_header_parameters={"typ": "dc+sd-jwt", "kid": "k1"},
    )
    assert issuer.sd_jwt_payload["_sd_alg"] == "sha-256"
    holder_side = SDJWTHolder(issuer.sd_jwt_issuance)
    holder_side.create_presentation(
        {"school": {"name": True}, "grade": True},
        nonce="ref-nonce",
        aud="ref-aud",
        holder_key=jwcrypto_key(private),
        sign_alg="ES256",
    )
    presentation = holder_side.sd_jwt_presentation
    verifier = sdjwt.Verifier(
        keys=sdjwt.RingSource(key_ring().keys),
        issuer=ISSUER,
        vct=settings.XUEJI_CREDENTIAL["VCT"],
        status_fetcher=services._local_fetch,
    )
    verdict = verifier.verify(presentation, nonce="ref-nonce", audience="ref-aud")
    assert verdict.valid, verdict.reason
    assert verdict.disclosed == ["grade", "school.name"]
    assert verdict.claims["school"] == {"name": "参考实现小学"}
    assert "name" not in verdict.claims
    # and a wrong nonce is refused by ours, too
    assert verifier.verify(presentation, nonce="x", audience="ref-aud").reason == (
        "presentation.nonce"
    )


def test_the_reference_verifier_accepts_our_presentation(enrolled, school, holder, settings):
    private, key = holder
    issued = services.credential_issue(actor=None, student_id=enrolled.pk, holder_jwk=private)
    presentation = sdjwt.present(
        issued.text,
        disclose=["school.name", "grade"],
        holder_key=key,
        nonce="our-nonce",
        audience="our-aud",
        now=int(clock.now().timestamp()),
    )
    public = jwcrypto_key(key_ring().active.public_jwk)
    verified = SDJWTVerifier(
        presentation,
        lambda issuer, header: public,
        expected_aud="our-aud",
        expected_nonce="our-nonce",
    ).get_verified_payload()
    assert verified["school"] == {"name": school.name}
    assert verified["grade"] == "13"
    assert "name" not in verified and "student_number" not in verified
    assert verified["iss"] == ISSUER
    # the reference verifier refuses our presentation for another nonce
    with pytest.raises(ValueError, match="nonce"):
        SDJWTVerifier(
            presentation, lambda issuer, header: public, expected_aud="our-aud", expected_nonce="x"
        )
