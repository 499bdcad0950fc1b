"""The digital identity in a real browser: a guardian on a phone (390×844) gets the student's
credential, chooses what to show and shows it as a QR code for a verifier's nonce and
audience; the verifier's page reads a picture of that QR code (jsQR, in the browser) and
says "valid", showing the school and grade only — under the Content-Security-Policy."""

import json
import re
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from tests.e2e.helpers import PHONE, watch_csp
from tests.factories import resident_id
from xueji import clock
from xueji.audit.models import AuditEvent
from xueji.credentials import services
from xueji.credentials.keys import new_private_jwk
from xueji.portal.models import OutboxMessage

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def issuer(settings, tmp_path, monkeypatch):
    now = datetime.combine(date(2026, 3, 10), time(10, 0), tzinfo=ZoneInfo("Asia/Shanghai"))
    monkeypatch.setattr(clock, "now", lambda: now.astimezone(UTC))
    monkeypatch.setattr(clock, "today", lambda: now.date())
    key = tmp_path / "issuer.jwk"
    key.write_text(json.dumps(new_private_jwk("ES256")))
    settings.XUEJI_CREDENTIAL_KEYS = [
        {"kid": "e2e", "alg": "ES256", "file": str(key), "state": "active"}
    ]
    services._VERIFIER.clear()
    yield
    services._VERIFIER.clear()


def test_a_guardian_shows_the_qr_code_on_a_phone_and_a_verifier_page_reads_it(
    browser, live_server, issuer, make_student, school, tmp_path
):
    guardian_id = resident_id("440106", date(1985, 6, 1), "1", seq=150)
    student = make_student(
        name="周子涵", grade="13", guardian_id_number=guardian_id, guardian_phone="13612340000"
    )
    # The verifier's page (a desktop at the bus-card office) asks for a presentation.
    desk = browser.new_context(
        locale="zh-CN", base_url=live_server.url, viewport={"width": 1280, "height": 900}
    )
    verifier = desk.new_page()
    verifier.set_default_timeout(15_000)
    verifier_csp: list[str] = []
    watch_csp(verifier, verifier_csp)
    verifier.goto("/credentials/verifier/")
    nonce = verifier.inner_text("#verifier-nonce")
    audience = verifier.inner_text("#verifier-audience")

    # The guardian, on a phone with a 3× screen.
    phone = browser.new_context(
        locale="zh-CN",
        base_url=live_server.url,
        viewport=PHONE,
        device_scale_factor=3,
        is_mobile=True,
        has_touch=True,
    )
    page = phone.new_page()
    page.set_default_timeout(15_000)
    phone_csp: list[str] = []
    watch_csp(page, phone_csp)
    page.goto("/portal/")
    page.fill("#id_student_number", student.number)
    page.fill("#id_guardian_id_number", guardian_id)
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r".*/portal/code/$"))
    page.fill("#id_code", re.search(r"\d{6}", OutboxMessage.objects.get().body).group(0))
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r".*/portal/home/$"))
    page.click("#wallet-link")
    page.wait_for_url(re.compile(r".*/portal/credential/$"))
    page.click("#credential-issue")
    page.wait_for_selector("#credential-state")
    assert page.inner_text("#credential-state") == "有效"
    # School, grade and status are ticked by default; name and number are not.
    assert page.is_checked('input[name=disclose][value="school.name"]')
    assert not page.is_checked('input[name=disclose][value="name"]')
    page.fill("#id_nonce", nonce)
    page.fill("#id_audience", audience)
    page.click("text=生成出示二维码")
    page.wait_for_url(re.compile(r".*/portal/credential/present/$"))
    qr = page.locator("#presentation-qr")
    qr.wait_for()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    box = qr.bounding_box()
    assert box is not None and box["width"] >= 300  # the width of the phone, less margins
    picture = tmp_path / "qr.png"
    qr.screenshot(path=str(picture))

    # The verifier's page reads the picture of the QR code and verifies it.
    verifier.set_input_files("#qr-image", str(picture))
    verifier.wait_for_function("() => document.getElementById('presentation').value.length > 100")
    shown = page.input_value("#presentation-text")
    assert verifier.input_value("#presentation") == shown
    verifier.click("form button[type=submit]")
    verifier.wait_for_selector("#verdict")
    assert verifier.get_attribute("#verdict", "data-valid") == "1"
    verdict = verifier.inner_text("#verdict")
    assert "凭证有效" in verdict and "天河区第一实验小学" in verdict and "三年级" in verdict
    assert "周子涵" not in verifier.content() and student.number not in verifier.content()
    assert AuditEvent.objects.filter(action="credential.present").count() == 1
    assert phone_csp == [] and verifier_csp == []
    phone.close()
    desk.close()
