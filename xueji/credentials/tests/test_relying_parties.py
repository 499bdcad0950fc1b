"""Registered relying parties and the verification endpoint: one presented credential per
request, the party's audience and allowed claims enforced, rate-limited, every answer
audited and attributable."""

import io
import json

import pytest
from django.core.management import call_command
from django.test import Client

from xueji import clock
from xueji.audit.models import AuditEvent
from xueji.credentials import sdjwt, services
from xueji.credentials.models import RelyingParty
from xueji.errors import Conflict, ValidationFailed

pytestmark = pytest.mark.django_db
AUDIENCE = "https://bus-card.example.cn"


@pytest.fixture
def party(issuer_keys):
    return services.relying_party_register(
        actor=None,
        name="公交学生卡",
        purpose="学生票资格核验",
        audience=AUDIENCE,
        allowed_disclosures=["school.name", "grade", "enrolment_status"],
        rate_per_minute=3,
    )


def presentation(enrolled, holder, *, disclose=("school.name", "grade"), nonce="rp-n1"):
    private, key = holder
    issued = services.credential_issue(actor=None, student_id=enrolled.pk, holder_jwk=private)
    return sdjwt.present(
        issued.text,
        disclose=disclose,
        holder_key=key,
        nonce=nonce,
        audience=AUDIENCE,
        now=int(clock.now().timestamp()),
    )


def post(token: str, body) -> tuple[int, dict]:
    response = Client().post(
        "/credentials/verify",
        json.dumps(body) if not isinstance(body, bytes) else body,
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    return response.status_code, response.json()


def test_a_registered_party_verifies_one_presentation(enrolled, holder, party, school):
    registered, token = party
    status, answer = post(token, {"presentation": presentation(enrolled, holder), "nonce": "rp-n1"})
    assert status == 200
    assert answer["valid"] is True and answer["message"] == "凭证有效"
    assert answer["disclosed"] == ["grade", "school.name"]
    assert answer["claims"]["school"] == {"name": school.name}
    assert set(answer) == {"valid", "reason", "claims", "disclosed", "key_bound", "message"}
    event = AuditEvent.objects.get(action="credential.verify")
    assert event.object_id == str(registered.pk)
    assert event.detail["party"] == "公交学生卡" and event.detail["valid"] is True
    assert event.detail["credential"]["idx"] >= 0


def test_a_wrong_nonce_or_another_partys_audience_is_refused(enrolled, holder, party):
    _registered, token = party
    status, answer = post(token, {"presentation": presentation(enrolled, holder), "nonce": "x"})
    assert (status, answer["valid"], answer["reason"]) == (200, False, "presentation.nonce")
    assert answer["claims"] == {}
    assert AuditEvent.objects.get(action="credential.verify").detail["reason"] == (
        "presentation.nonce"
    )


def test_claims_beyond_the_registration_are_refused(enrolled, holder, party):
    _registered, token = party
    shown = presentation(enrolled, holder, disclose=("name", "grade"))
    status, answer = post(token, {"presentation": shown, "nonce": "rp-n1"})
    assert (status, answer["reason"]) == (200, "presentation.not_allowed")
    assert answer["claims"] == {}


def test_the_endpoint_refuses_unknown_tokens_and_bad_bodies(party):
    _registered, token = party
    assert post("rp_nope_nope", {"presentation": "a", "nonce": "b"})[0] == 401
    assert post("", {"presentation": "a", "nonce": "b"})[0] == 401
    assert post(token, b"not json")[0] == 422
    assert post(token, {"presentation": ["a"], "nonce": "b"})[0] == 422
    assert not AuditEvent.objects.filter(action="credential.verify").exists()


def test_the_rate_limit_answers_429_and_is_audited(enrolled, holder, party):
    _registered, token = party
    shown = presentation(enrolled, holder)
    for _i in range(3):
        assert post(token, {"presentation": shown, "nonce": "rp-n1"})[0] == 200
    status, answer = post(token, {"presentation": shown, "nonce": "rp-n1"})
    assert (status, answer["code"]) == (429, "rate_limited")
    assert AuditEvent.objects.filter(action="credential.verify_refused").count() == 1


def test_registration_checks_its_fields_and_the_command_prints_the_token_once(issuer_keys):
    with pytest.raises(ValidationFailed) as refused:
        services.relying_party_register(
            actor=None, name="", purpose="", audience="a", allowed_disclosures=["id_number"]
        )
    assert {e.code for e in refused.value.errors} == {
        "party.name_required",
        "party.purpose_required",
        "party.unknown_claim",
    }
    out = io.StringIO()
    call_command(
        "credential_party_register",
        "--name",
        "图书馆",
        "--purpose",
        "借阅证",
        "--audience",
        "lib",
        "--allow",
        "school.name",
        stdout=out,
    )
    token = out.getvalue().split("：")[-1].strip()
    party = RelyingParty.objects.get()
    assert services.relying_party_authenticate(token) == party
    assert token.split("_", 2)[2] not in party.token_hash
    with pytest.raises(Conflict):
        services.relying_party_register(
            actor=None, name="x", purpose="y", audience="lib", allowed_disclosures=[]
        )
