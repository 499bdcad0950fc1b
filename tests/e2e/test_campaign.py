"""A semester confirmation in a real browser (Playwright + Debian chromium): the school's
clerk opens the roll on a phone (390×844), marks a student absent and one data wrong with a
note, finds a student by name, marks the rest present in one action and signs off; the
county reviewer then sees 100 % for that school in the table and a drawn chart. No page
breaks the CSP, and the roll never scrolls sideways on the phone."""

import re
from datetime import timedelta

import pytest

from tests.e2e.helpers import PHONE, htmx_settled, new_context, sign_in, watch_csp
from xueji import clock
from xueji.changes.rules import semester_of
from xueji.verification import services
from xueji.verification.models import RollMark, SchoolConfirmation

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _no_sideways_scroll(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page scrolls sideways: {width}px wide"


def test_a_clerk_confirms_the_roll_on_a_phone_and_the_county_sees_it_done(
    browser, live_server, make_student, school, school_user, county_user, province_user
):
    # given five students at 天河 and 广东's campaign for this semester
    students = [
        make_student(name=name) for name in ("李核准", "王核准", "张核准", "刘核准", "陈核准")
    ]
    school_year, semester = semester_of(clock.today())
    campaign = services.campaign_open(
        actor=province_user,
        province_code="44",
        school_year=school_year,
        semester=semester,
        deadline=clock.today() + timedelta(days=14),
        title="广东省学期核准（端到端）",
    )
    violations: list[str] = []

    # -- the clerk, on a phone --------------------------------------------------------------
    phone_context = new_context(browser, live_server, phone=True)
    phone = phone_context.new_page()
    watch_csp(phone, violations)
    phone.on("dialog", lambda dialog: dialog.accept())
    sign_in(phone, school_user)
    phone.goto("/verification/")
    phone.get_by_role("link", name="进入核准").click()
    phone.wait_for_url(re.compile(rf".*/verification/{campaign.pk}/schools/{school.pk}/$"))
    phone.get_by_role("button", name="开始核准").click()
    phone.wait_for_selector(f"#roll-{students[0].pk}")
    _no_sideways_scroll(phone)
    # the toggles are large enough to tap
    box = phone.locator(f"#roll-{students[0].pk} [data-mark-button=absent]").bounding_box()
    assert box is not None and box["height"] >= 44 and box["width"] >= 44

    # one student absent (htmx: the row and the counts change in place)
    phone.locator(f"#roll-{students[0].pk} [data-mark-button=absent]").click()
    phone.wait_for_selector(f"#roll-{students[0].pk}[data-mark=absent]")
    assert phone.locator("[data-count=absent]").inner_text() == "1"
    # one student's data wrong, explained with a note
    phone.locator(f"#roll-{students[1].pk} [data-mark-button=data_wrong]").click()
    phone.wait_for_selector(f"#roll-{students[1].pk}[data-mark=data_wrong]")
    htmx_settled(phone)  # the note form below is in the row just swapped in
    row = phone.locator(f"#roll-{students[1].pk}")
    assert row.get_by_role("link", name="提交变动申请").get_attribute("href") == (
        f"/changes/new/?student={students[1].pk}"
    )
    row.locator("input[name=note]").fill("出生日期录入有误，已通知家长携户口簿核对")
    row.get_by_role("button", name="保存说明").click()
    phone.wait_for_selector(f"#roll-{students[1].pk} >> text=已说明或已处理")
    _no_sideways_scroll(phone)
    # the outlined "缺" toggle is readable: not Bootstrap's yellow (#ffc107) text on white
    absent = phone.locator(f"#roll-{students[2].pk} [data-mark-button=absent]")
    assert absent.evaluate("button => getComputedStyle(button).color") != "rgb(255, 193, 7)"
    # a name finds one student on a long roll (the keyboard's search key submits)
    search = phone.get_by_label("姓名或学籍号")
    search.fill("陈核准")
    search.press("Enter")
    phone.wait_for_url(re.compile(r".*[?&]s=.*"))  # the term travels as a token
    assert phone.locator("li.xj-roll-row").count() == 1
    assert phone.locator(f"#roll-{students[4].pk}").count() == 1
    phone.get_by_role("link", name="清除筛选，显示全校名册").click()
    phone.wait_for_selector(f"#roll-{students[0].pk}")
    # everyone else present in one action (the confirm dialog is accepted)
    phone.get_by_role("button", name="全部在校（除已标记外）").click()
    phone.wait_for_selector("[data-count=unmarked] >> text=0")
    assert phone.locator("[data-count=present]").inner_text() == "3"
    # and sign off
    phone.get_by_role("button", name="确认无误，签报").click()
    phone.wait_for_selector("[data-signed-off]")
    _no_sideways_scroll(phone)
    phone_context.close()

    confirmation = SchoolConfirmation.objects.get(campaign=campaign, school=school)
    assert confirmation.signed_off
    assert (confirmation.present, confirmation.absent, confirmation.data_wrong) == (3, 1, 1)
    assert RollMark.objects.get(campaign=campaign, student=students[0]).mark == "absent"

    # -- the county reviewer, on a desktop ----------------------------------------------------
    desk_context = new_context(browser, live_server, phone=False)
    desk = desk_context.new_page()
    watch_csp(desk, violations)
    sign_in(desk, county_user)
    desk.goto("/verification/")
    desk.get_by_role("link", name="查看进度").click()
    desk.wait_for_url(re.compile(rf".*/verification/{campaign.pk}/$"))
    school_row = desk.locator("tbody tr", has_text=school.name)
    assert school_row.locator("[data-percent]").inner_text() == "100%"
    assert "已签报" in school_row.inner_text()
    # the chart is drawn from the page's JSON (ECharts, vendored)
    desk.wait_for_selector("#progress-chart canvas")
    # hovering the chart breaks nothing (no tooltip HTML with inline styles: CSP)
    desk.locator("#progress-chart canvas").first.hover()
    # the same progress at phone width fits it (the table scrolls inside its own box)
    desk.set_viewport_size(PHONE)
    desk.reload()
    desk.wait_for_selector("#progress-chart canvas")
    _no_sideways_scroll(desk)
    desk_context.close()

    assert violations == []
