"""The Content-Security-Policy in a real browser: no page, the API docs included, breaks it."""

import re

import pytest

from tests.factories import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _watch_csp(page) -> list[str]:
    """Collect the browser's CSP violation reports (console errors naming the policy)."""
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


def test_api_docs_render_under_the_policy(page, school_user):
    """Swagger UI (ninja's static files, no inline script) loads and lists the operations
    (for a signed-in account: XUEJI_API_DOCS)."""
    violations = _watch_csp(page)
    page.goto("/login/")
    page.fill("#id_username", school_user.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/$"))
    response = page.goto("/api/docs")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.wait_for_selector(".opblock-summary-path", timeout=20_000)
    assert page.locator(".opblock-summary-path", has_text="/api/me").count() >= 1
    assert violations == []


def test_pages_run_under_the_policy(page, school_user, make_student):
    """Sign-in, the home page, the student list, registration (htmx check) and the password
    page: no violation, and the page scripts work (the htmx check fills its result)."""
    make_student()
    violations = _watch_csp(page)
    page.goto("/login/")
    page.fill("#id_username", school_user.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/$"))
    for path in ("/", "/students/", "/students/register/", "/accounts/password/", "/imports/"):
        page.goto(path)
        page.wait_for_load_state("networkidle")
    assert violations == []
