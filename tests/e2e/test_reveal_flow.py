"""Revealing a masked value in a real browser: reason asked, value in place, audited."""

import pytest

from tests.e2e.test_browser_flow import sign_in
from xueji.audit.models import AuditEvent
from xueji.students import identity

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_clerk_reveals_an_id_number_with_a_reason(page, school_user, make_student):
    student = make_student(address="广东省广州市天河区体育西路103号")
    number = identity.read_id(student)
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    sign_in(page, school_user.username)
    page.goto(f"/students/{student.pk}/")
    main = page.locator("main")
    assert number not in main.inner_text().replace(student.number, "")
    row = page.locator("dd", has=page.locator(".xj-reveal")).first
    row.get_by_role("link", name="显示", exact=True).click()
    reason = row.locator("input[name=reason]")
    reason.wait_for()
    reason.fill("核对学籍")
    row.locator("button[type=submit]").click()
    # Not the number itself: the G student number in the heading carries it too.
    row.get_by_text("已显示").wait_for()
    assert number in row.inner_text()
    assert identity.masked_id(student) not in row.inner_text()
    assert AuditEvent.objects.filter(action="student.reveal").count() == 1
    # The address: open, cancel, the button comes back.
    address = page.locator("dd", has=page.locator(".xj-reveal")).nth(1)
    address.get_by_role("link", name="显示", exact=True).click()
    address.get_by_role("button", name="取消").click()
    address.get_by_role("link", name="显示", exact=True).wait_for()
    assert address.locator("form").count() == 0
    assert errors == [], errors  # no script error (CSP-safe htmx swaps only)
