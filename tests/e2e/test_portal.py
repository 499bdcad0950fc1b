"""The guardian's online application in a real browser at phone width (390×844): sign in
with the code from the outbox, apply across provinces through the htmx cascade with a
photo-friendly file input, and follow the request until the four parties have approved —
under the Content-Security-Policy, without sideways scrolling, with large tap targets."""

import re
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from tests.e2e.helpers import htmx_settled
from tests.factories import make_user, resident_id
from xueji import clock
from xueji.accounts.models import Role, UnitKind
from xueji.changes import services as engine
from xueji.changes.models import ApprovalStep, ChangeRequest
from xueji.changes.rules import Channel, RequestState, StepState
from xueji.enrolment.models import StatusRecord
from xueji.portal.models import OutboxMessage

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PHONE_WIDTH = 390
MIN_TAP = 44  # px: the smallest comfortable touch target
PDF = b"%PDF-1.4\n% a transfer application photographed on a phone\n"


def _hold_clock(monkeypatch) -> None:
    """Tuesday 2026-03-10 10:00 in Shanghai: no blocked period, the calendar loaded. The
    live server runs in this process, so it reads the same clock."""
    now = datetime.combine(date(2026, 3, 10), time(10, 0), tzinfo=ZoneInfo("Asia/Shanghai"))
    monkeypatch.setattr(clock, "now", lambda: now.astimezone(UTC))
    monkeypatch.setattr(clock, "today", lambda: now.date())


def _watch_csp(page) -> list[str]:
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text)
            if "Content Security Policy" in message.text
            or "Content-Security-Policy" in message.text
            else None
        ),
    )
    return violations


def _assert_fits_the_phone(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE_WIDTH, f"{page.url} scrolls sideways on a phone ({width}px)"


def _assert_large(locator) -> None:
    box = locator.bounding_box()
    assert box is not None and box["height"] >= MIN_TAP, f"tap target too small: {box}"


def _approve_pending(change: ChangeRequest) -> None:
    step = ApprovalStep.objects.select_related("unit").get(request=change, state=StepState.PENDING)
    role = Role.CLERK if step.unit.kind == UnitKind.SCHOOL else Role.REVIEWER
    engine.step_handle(
        actor=make_user(step.unit, roles=(role,)), step_id=step.pk, approve=True, comment="同意"
    )


def test_guardian_applies_across_provinces_on_a_phone_and_sees_it_completed(
    phone_page, monkeypatch, make_student, school, other_school, tmp_path
):
    _hold_clock(monkeypatch)
    page = phone_page
    violations = _watch_csp(page)
    guardian_id = resident_id("440106", date(1985, 6, 1), "1", seq=140)
    student = make_student(
        name="陈思远", guardian_id_number=guardian_id, guardian_phone="13612345678"
    )

    # Sign-in: the numbers, then the code the embedded sender put in the outbox.
    page.goto("/portal/")
    _assert_fits_the_phone(page)
    page.fill("#id_student_number", student.number)
    page.fill("#id_guardian_id_number", guardian_id)
    _assert_large(page.locator("main button[type=submit]"))
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r".*/portal/code/$"))
    code = re.search(r"\d{6}", OutboxMessage.objects.get().body).group(0)
    assert page.locator("#id_code").get_attribute("autocomplete") == "one-time-code"
    page.fill("#id_code", code)
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r".*/portal/home/$"))
    assert "陈*远" in page.inner_text("main") and "陈思远" not in page.content()
    _assert_fits_the_phone(page)

    # The application: the cascade province → city → county → school (htmx).
    page.click("text=申请转学")
    page.wait_for_url(re.compile(r".*/portal/apply/$"))
    assert "天河区第一实验小学" in page.inner_text("main")
    page.select_option("#id_province", "510000")
    page.wait_for_selector('#id_city option[value="510100"]', state="attached")
    htmx_settled(page)
    page.select_option("#id_city", "510100")
    page.wait_for_selector('#id_county option[value="510104"]', state="attached")
    htmx_settled(page)
    page.select_option("#id_county", "510104")
    page.wait_for_selector(f'#id_school option[value="{other_school.pk}"]', state="attached")
    htmx_settled(page)
    page.select_option("#id_school", str(other_school.pk))
    upload = page.locator("#id_material_application")
    assert upload.get_attribute("accept") == "image/*,application/pdf"
    photo = tmp_path / "申请表.pdf"
    photo.write_bytes(PDF)
    upload.set_input_files(str(photo))
    page.fill("#id_reason", "随父母工作调动迁居成都")
    _assert_fits_the_phone(page)
    submit = page.locator("main form button[type=submit]", has_text="提交申请")
    _assert_large(submit)
    submit.click()
    page.wait_for_url(re.compile(r".*/portal/requests/\d+/$"))

    change = ChangeRequest.objects.get()
    assert change.channel == Channel.GUARDIAN and change.target_school_id == other_school.pk
    assert page.locator('[aria-current="step"]').count() == 1
    assert "转入学校" in page.inner_text('[aria-current="step"]')
    assert "剩余 10 个工作日" in page.inner_text("main")
    _assert_fits_the_phone(page)

    # The four parties approve; the guardian's page follows.
    for _step in range(4):
        _approve_pending(change)
    page.reload()
    assert page.inner_text("#request-state") == "已办结"
    assert page.locator('[aria-current="step"]').count() == 0
    _assert_fits_the_phone(page)
    assert StatusRecord.objects.get(pk=student.pk).school_id == other_school.pk
    assert ChangeRequest.objects.get().state == RequestState.COMPLETED
    assert violations == []


def test_portal_pages_run_under_the_policy_at_phone_width(phone_page, monkeypatch, make_student):
    """Sign-in and code pages (no session) and a wrong code: no CSP violation, no sideways
    scroll, the error next to the field."""
    _hold_clock(monkeypatch)
    page = phone_page
    violations = _watch_csp(page)
    student = make_student()
    page.goto("/portal/")
    page.fill("#id_student_number", student.number)
    page.fill("#id_guardian_id_number", resident_id("440106", seq=401))  # not on file
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r".*/portal/code/$"))
    page.fill("#id_code", "123456")
    page.click("main button[type=submit]")
    page.wait_for_selector("text=验证码不正确或已失效")
    _assert_fits_the_phone(page)
    assert not OutboxMessage.objects.exists()
    assert violations == []
