"""A data release in a real browser: the county approves it (and is named on it), the
recipient downloads the watermarked file; on a desktop and on a 390×844 phone."""

from datetime import timedelta
from pathlib import Path

import pytest

from tests import factories
from tests.e2e.helpers import new_context, sign_in, watch_csp
from xueji import clock
from xueji.accounts.models import Role
from xueji.audit.models import AuditEvent
from xueji.releases import services
from xueji.releases.models import DataRelease
from xueji.releases.tests.conftest import populate

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
def test_county_approves_and_the_recipient_downloads(browser, live_server, school, phone):
    # given: 12 students, a request of the county's statistician reviewed by its reviewer
    populate(school, [("1", 2016, "13")] * 7 + [("2", 2016, "13")] * 5)
    requester = factories.authority_user("440106", roles=(Role.STATISTICIAN,))
    reviewer = factories.authority_user("440106")
    approver = factories.authority_user("440106")
    recipient = factories.authority_user("440100", roles=(Role.STATISTICIAN,))
    release = services.release_request(
        actor=requester,
        data=services.ReleaseInput(
            purpose="学位供给规划测算",
            basis_kind="law",
            basis_law="《中华人民共和国统计法》第七条",
            fields=["sex", "birth", "grade"],
            recipient_organisation="广州市教育研究院",
            recipient_username=recipient.username,
            expires_on=clock.today() + timedelta(days=30),
        ),
    )
    services.release_review(actor=reviewer, release_id=release.pk, decision="pass")
    violations: list[str] = []

    # when: the county's approver approves on the release's page
    context = new_context(browser, live_server, phone=phone)
    page = context.new_page()
    watch_csp(page, violations)
    sign_in(page, approver)
    page.goto(f"/releases/{release.pk}/")
    assert page.locator("#release-state").get_attribute("data-state") == "reviewed"
    page.locator("#release-accept").click()
    page.locator("#release-state[data-state=generated]").wait_for()
    assert approver.username in page.locator("#release-approver").inner_text()
    # Nothing wider than the screen (the phone's 390 px included).
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    context.close()

    # then: the recipient finds it in its list and downloads it
    context = new_context(browser, live_server, phone=phone)
    page = context.new_page()
    watch_csp(page, violations)
    sign_in(page, recipient)
    page.goto("/releases/")
    page.get_by_role("region", name="发给我的数据").get_by_role(
        "link", name=release.reference
    ).click()
    with page.expect_download() as info:
        page.locator("#release-download").click()
    download = info.value
    assert download.suggested_filename == f"{release.reference}.csv"
    text = Path(download.path()).read_text(encoding="utf-8-sig")
    context.close()

    lines = text.splitlines()
    assert lines[0].startswith(f"# 数据发布 {release.reference}")
    assert lines[1] == "编号,性别,出生年份,年级"
    assert len(lines) == 2 + 12 + 1
    release = DataRelease.objects.get(pk=release.pk)
    assert (release.state, release.approved_by_id) == ("generated", approver.pk)
    assert list(
        AuditEvent.objects.filter(action="release.download").values_list("actor_id", flat=True)
    ) == [recipient.pk]
    assert violations == []
