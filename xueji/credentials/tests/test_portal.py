"""The holder in the guardian portal: get the credential, download it, present chosen
claims as a QR code for a verifier's nonce and audience; and the verifier page reading it."""

import re

import pytest
from django.test import Client

from xueji.audit.models import AuditEvent
from xueji.credentials import services
from xueji.credentials.models import Credential

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def keys(issuer_keys):
    return issuer_keys


def test_a_guardian_gets_the_credential_downloads_it_and_presents_chosen_claims(
    guardian_client, family, school
):
    page = guardian_client.get("/portal/credential/")
    assert page.status_code == 200 and "领取学生身份凭证" in page.content.decode()
    response = guardian_client.post("/portal/credential/issue/")
    assert response.status_code == 302 and response["Location"] == "/portal/credential/"
    credential = Credential.objects.get(student=family.student)
    assert credential.holder_key_sealed  # custodial
    page = guardian_client.get("/portal/credential/?nonce=N-7&audience=rp-x").content.decode()
    assert 'value="N-7"' in page and 'value="rp-x"' in page
    # the file is the issued credential
    download = guardian_client.get("/portal/credential/file/")
    assert download["Content-Type"] == "application/dc+sd-jwt"
    assert download.content.decode() == credential.issued
    # present school and grade only
    shown = guardian_client.post(
        "/portal/credential/present/",
        {"disclose": ["school.name", "grade"], "nonce": "N-7", "audience": "rp-x"},
    )
    assert shown.status_code == 200
    html = shown.content.decode()
    assert re.search(r'<img[^>]+id="presentation-qr"[^>]+src="data:image/svg\+xml;base64,', html)
    text = re.search(r'id="presentation-text"[^>]*>([^<]+)<', html).group(1).strip()
    verdict = services.local_verifier().verify(text, nonce="N-7", audience="rp-x")
    assert verdict.valid, verdict.reason
    assert verdict.disclosed == ["grade", "school.name"]
    assert verdict.claims["school"] == {"name": school.name}
    assert family.student.name not in text and family.student.number not in html
    event = AuditEvent.objects.get(action="credential.present")
    assert event.detail == {"disclosed": ["grade", "school.name"], "audience": "rp-x"}
    assert event.actor_username.startswith("guardian:")


def test_presenting_needs_a_choice_a_nonce_and_an_audience(guardian_client):
    guardian_client.post("/portal/credential/issue/")
    response = guardian_client.post("/portal/credential/present/", {"nonce": "", "audience": ""})
    assert response.status_code == 422
    assert "请至少选择一项要出示的信息" in response.content.decode()
    assert not AuditEvent.objects.filter(action="credential.present").exists()


def test_a_guardian_never_sees_another_students_credential(guardian_client, make_student):
    other = make_student(grade="14")
    services.credential_issue(actor=None, student_id=other.pk)
    page = guardian_client.get("/portal/credential/").content.decode()
    assert "领取学生身份凭证" in page
    assert guardian_client.get("/portal/credential/file/").status_code == 302


def test_the_holder_pages_need_the_portal_sign_in():
    client = Client()
    for path in ("/portal/credential/", "/portal/credential/file/"):
        response = client.get(path)
        assert (response.status_code, response["Location"]) == (302, "/portal/")
    assert client.post("/portal/credential/issue/")["Location"] == "/portal/"


def test_the_verifier_page_reads_a_presentation_made_for_its_nonce(guardian_client):
    guardian_client.post("/portal/credential/issue/")
    verifier = Client()
    page = verifier.get("/credentials/verifier/").content.decode()
    nonce = re.search(r'id="verifier-nonce">([^<]+)<', page).group(1)
    audience = re.search(r'id="verifier-audience">([^<]+)<', page).group(1)
    assert audience == "https://xueji.test/credentials/verifier/"
    shown = guardian_client.post(
        "/portal/credential/present/",
        {"disclose": ["school.name", "grade"], "nonce": nonce, "audience": audience},
    ).content.decode()
    text = re.search(r'id="presentation-text"[^>]*>([^<]+)<', shown).group(1).strip()
    result = verifier.post("/credentials/verifier/", {"presentation": text}).content.decode()
    assert 'data-valid="1"' in result and "天河区第一实验小学" in result
    # the nonce was used up: the same presentation again is refused
    again = verifier.post("/credentials/verifier/", {"presentation": text}).content.decode()
    assert 'data-valid="0"' in again and "presentation.nonce" in again
