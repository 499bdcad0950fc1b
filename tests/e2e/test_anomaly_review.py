"""The anomaly review queue on a phone (390×844, Playwright + Debian chromium): two schools
of one county each registered the same two children, so the county reviewer finds two
duplicate pairs in the county's own queue. The reviewer finds a child by name, compares
the two records (codes shown as names), merges them, undoes the merge (a reason is asked
for before the confirmation), and judges the other pair "different people" after
confirming: that pair leaves the queue and is not raised again. No page breaks the CSP,
throws a script error or scrolls sideways."""

import re
from datetime import date

import pytest
from django.db.models import Q

from tests import factories
from tests.e2e.helpers import PHONE, new_context, sign_in, watch_csp
from xueji.anomalies.models import Finding, MergeRecord, PairVerdict
from xueji.anomalies.rules import FindingKind, FindingState, MergeState
from xueji.anomalies.services import detect_all
from xueji.anomalies.tests.planting import register
from xueji.enrolment.models import StatusRecord
from xueji.enrolment.rules import StatusState

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _no_sideways_scroll(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url} scrolls sideways: {width}px wide"


def _pair(first_school, second_school, name: str, born: date):
    """One child registered at two schools: with an ID card at the first, without one
    at the second (as when a school enrols a child whose papers have not come yet)."""
    kept = register(first_school, name=name, born=born, sex="1")
    twin = register(second_school, name=name, born=born, sex="1", with_id=False)
    return kept, twin


def _open_duplicates(*students):
    return Finding.objects.filter(
        Q(student__in=students) | Q(other_student__in=students),
        kind=FindingKind.DUPLICATE,
        state=FindingState.OPEN,
    )


def test_a_county_reviewer_merges_undoes_and_judges_different_people_on_a_phone(
    browser, live_server, school, county_user
):
    # given two schools of 天河区 with the same two children on both rolls
    second_school = factories.SchoolFactory(name="天河区第二实验小学", division_code="440106")
    kept, twin = _pair(school, second_school, "黄小明", date(2017, 3, 8))
    other_a, other_b = _pair(school, second_school, "林小红", date(2016, 10, 2))
    detect_all(kinds=[FindingKind.DUPLICATE])
    merge_finding = _open_duplicates(kept).get()
    verdict_finding = _open_duplicates(other_a).get()
    # both pairs span two schools: the county's own queue holds them
    assert merge_finding.unit_id == county_user.unit_id
    assert verdict_finding.unit_id == county_user.unit_id
    states_before = {pk: StatusRecord.objects.get(pk=pk).state for pk in (kept.pk, twin.pk)}

    violations: list[str] = []
    script_errors: list[str] = []
    dialogs: list[str] = []
    context = new_context(browser, live_server, phone=True)
    page = context.new_page()
    watch_csp(page, violations)
    page.on("pageerror", lambda error: script_errors.append(str(error)))
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.accept()))
    try:
        sign_in(page, county_user)

        # -- the queue: both pairs; a search by name finds one --------------------------
        page.goto("/anomalies/")
        _no_sideways_scroll(page)
        assert page.locator(f'a[href="/anomalies/{merge_finding.pk}/"]').count() == 1
        assert page.locator(f'a[href="/anomalies/{verdict_finding.pk}/"]').count() == 1
        page.get_by_label("姓名或学籍号").fill("黄小明")
        page.get_by_role("button", name="筛选").click()
        page.wait_for_url(re.compile(r".*[?&]s=.*"))  # the term travels as a token
        cards = page.locator(".xj-findings a.xj-finding-link")
        assert cards.count() == 1
        cards.first.click()
        page.wait_for_url(re.compile(rf".*/anomalies/{merge_finding.pk}/$"))

        # -- the evidence side by side ---------------------------------------------------
        _no_sideways_scroll(page)
        assert page.locator("tr.xj-differs").count() >= 2  # number, ID, school at least
        ethnicity = page.locator("table.xj-compare tr", has_text="民族")
        assert ethnicity.locator("td").all_inner_texts() == ["汉族", "汉族"]  # not "01"
        id_type = page.locator("table.xj-compare tr", has_text="身份证件类型")
        assert id_type.locator("td").first.inner_text() == "居民身份证"

        # -- merge, keeping the record with the ID card (confirmed first) -----------------
        page.check(f'input[name="survivor_id"][value="{kept.pk}"]')
        page.locator("form[action$='/merge/'] textarea").fill("同一学生在两校重复注册")
        page.get_by_role("button", name="合并", exact=True).click()
        page.wait_for_url(re.compile(r".*/anomalies/merges/\d+/$"))
        assert any("确定合并吗" in text for text in dialogs)
        merge = MergeRecord.objects.get(finding=merge_finding)
        assert merge.state == MergeState.MERGED
        assert merge.survivor_id == kept.pk and merge.retired_id == twin.pk
        assert StatusRecord.objects.get(pk=twin.pk).state == StatusState.CANCELLED
        assert Finding.objects.get(pk=merge_finding.pk).state == FindingState.RESOLVED
        _no_sideways_scroll(page)

        # -- undo: the reason is asked for before anything is sent -------------------------
        asked = len(dialogs)
        page.get_by_role("button", name="撤销合并").click()
        assert page.locator("form[action$='/undo/'] textarea:invalid").count() == 1
        assert len(dialogs) == asked  # no confirmation for a form that cannot go
        assert MergeRecord.objects.get(pk=merge.pk).state == MergeState.MERGED
        page.locator("form[action$='/undo/'] textarea").fill("合并有误，需先核对户籍")
        page.get_by_role("button", name="撤销合并").click()
        page.wait_for_selector("text=已撤销合并，两条学籍恢复为合并前的状态。")
        assert any("确定撤销吗" in text for text in dialogs[asked:])
        assert MergeRecord.objects.get(pk=merge.pk).state == MergeState.UNDONE
        assert {
            pk: StatusRecord.objects.get(pk=pk).state for pk in (kept.pk, twin.pk)
        } == states_before
        assert Finding.objects.get(pk=merge_finding.pk).state == FindingState.OPEN
        page.goto("/anomalies/")
        assert page.locator(f'a[href="/anomalies/{merge_finding.pk}/"]').count() == 1

        # -- the other pair: different people, after a confirmation ------------------------
        page.locator(f'a[href="/anomalies/{verdict_finding.pk}/"]').click()
        page.wait_for_url(re.compile(rf".*/anomalies/{verdict_finding.pk}/$"))
        page.locator("form[action$='/different/'] textarea").fill("双胞胎，核对户口簿")
        asked = len(dialogs)
        page.get_by_role("button", name="确认不是同一人").click()
        page.wait_for_selector("text=已确认两条学籍不是同一人")
        assert any("不是同一人" in text for text in dialogs[asked:])
        assert Finding.objects.get(pk=verdict_finding.pk).state == FindingState.DISMISSED
        assert PairVerdict.objects.filter(finding=verdict_finding).exists()
        # the verdict takes the pair out of the queue; the undone merge's pair stays
        page.goto("/anomalies/")
        assert page.locator(f'a[href="/anomalies/{verdict_finding.pk}/"]').count() == 0
        assert page.locator(f'a[href="/anomalies/{merge_finding.pk}/"]').count() == 1
        _no_sideways_scroll(page)

        # -- the quality page draws its chart ----------------------------------------------
        page.goto("/anomalies/quality/")
        page.wait_for_selector("#quality-chart canvas")
        _no_sideways_scroll(page)
    finally:
        context.close()

    # the next run does not raise the judged pair again
    detect_all(kinds=[FindingKind.DUPLICATE])
    assert not _open_duplicates(other_a, other_b).exists()
    assert violations == []
    assert script_errors == []
