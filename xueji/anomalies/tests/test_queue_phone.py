"""The review queue on a phone (390×844, Playwright + Debian chromium): the county reviewer
finds a duplicate pair below it, compares the two records, merges them, undoes the merge,
and looks at the quality page with its drawn chart. No page breaks the CSP or scrolls
sideways."""

import os
import re
from urllib.parse import urlsplit

import pytest

from tests.factories import PASSWORD, second_factor_code
from xueji.accounts.twofactor import second_factor_required
from xueji.anomalies.models import Finding, MergeRecord
from xueji.anomalies.rules import FindingKind, FindingState, MergeState
from xueji.anomalies.services import detect_all
from xueji.enrolment.models import StatusRecord
from xueji.enrolment.rules import StatusState

from .planting import register

# Playwright's sync API runs an event loop in this thread; the ORM calls of the test and
# of its fixtures' teardown are plain synchronous ones (as in tests/e2e/conftest.py).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


def _sign_in(page, user) -> None:
    needs_code = second_factor_required(user)
    if needs_code:
        second_factor_code(user)
    page.goto("/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    if needs_code:
        page.wait_for_url(re.compile(r".*/accounts/second-factor/$"))
        page.fill("#id_code", second_factor_code(user))
        page.click("button[type=submit]")
    page.wait_for_url(lambda url: urlsplit(url).path == "/")


def _no_sideways_scroll(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url} scrolls sideways: {width}px wide"


def test_a_reviewer_merges_and_undoes_a_duplicate_on_a_phone(
    browser, live_server, school, county_user
):
    first = register(school, name="黄小明")
    second = register(school, name="黄小明", with_id=False)
    detect_all(kinds=[FindingKind.DUPLICATE])
    finding = Finding.objects.get(kind=FindingKind.DUPLICATE)

    context = browser.new_context(
        locale="zh-CN", base_url=live_server.url, viewport=PHONE, is_mobile=True, has_touch=True
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    page.on("dialog", lambda dialog: dialog.accept())
    try:
        _sign_in(page, county_user)
        page.goto("/anomalies/?tab=subtree")
        _no_sideways_scroll(page)
        page.click(f'a[href="/anomalies/{finding.pk}/"]')
        page.wait_for_url(re.compile(rf".*/anomalies/{finding.pk}/$"))
        assert page.locator("tr.xj-differs").count() >= 2
        _no_sideways_scroll(page)
        page.check(f'input[name="survivor_id"][value="{first.pk}"]')
        page.click("form[action$='/merge/'] button[type=submit]")
        page.wait_for_url(re.compile(r".*/anomalies/merges/\d+/$"))
        assert StatusRecord.objects.get(pk=second.pk).state == StatusState.CANCELLED
        _no_sideways_scroll(page)
        page.fill("#id_reason", "合并有误")
        page.click("form[action$='/undo/'] button[type=submit]")
        page.wait_for_selector("text=已撤销合并，两条学籍恢复为合并前的状态。")
        assert MergeRecord.objects.get().state == MergeState.UNDONE
        assert Finding.objects.get(pk=finding.pk).state == FindingState.OPEN
        page.goto("/anomalies/quality/")
        page.wait_for_selector("#quality-chart canvas")
        _no_sideways_scroll(page)
    finally:
        context.close()
    assert violations == []
