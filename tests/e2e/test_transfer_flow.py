"""A transfer in a real browser (Playwright + Debian chromium): the receiving school's clerk
starts it on a desktop, the three other parties approve it from their review queues on a
phone (390×844) in two taps each, and the record moves. No page breaks the CSP."""

import re
from urllib.parse import urlsplit

import pytest

from tests.e2e.helpers import PHONE, new_context, sign_in, watch_csp
from tests.factories import authority_user
from xueji.changes.models import ApprovalStep, ChangeRequest
from xueji.changes.rules import Party, RequestState, StepState
from xueji.enrolment.models import StatusRecord

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PDF = b"%PDF-1.4\n% transfer application\n"


@pytest.fixture(autouse=True)
def calendar_and_media(settings, tmp_path):
    from xueji.workdays.seeding import calendar_seed

    calendar_seed()  # transactional tests flush the seeded calendar
    settings.MEDIA_ROOT = tmp_path / "media"


def test_a_transfer_is_started_in_the_browser_and_approved_from_phones(
    browser,
    live_server,
    make_student,
    school,
    other_school,
    school_user,
    other_school_user,
    county_user,
    tmp_path,
):
    # given a student of 天河 (440106) and the four parties' accounts
    student = make_student(name="林转学")
    chengdu_reviewer = authority_user("510104")
    form = tmp_path / "转学申请表.pdf"
    form.write_bytes(PDF)
    violations: list[str] = []

    # when the receiving clerk (锦江, 510104) starts the transfer on a desktop
    context = new_context(browser, live_server, phone=False)
    page = context.new_page()
    watch_csp(page, violations)
    sign_in(page, other_school_user)
    page.goto("/changes/transfer/new/")
    assert "申请表" in page.inner_text(".alert-light")  # the materials the rule asks for
    page.fill("#id_student_number", student.number)
    page.fill("#id_student_name", "林转学")
    page.fill("#id_class_name", "3班")
    page.fill("#id_reason", "随父母工作调动")
    page.set_input_files("#id_material_application", str(form))
    page.click("button:has-text('提交转学申请')")
    page.wait_for_url(re.compile(r".*/changes/\d+/$"))
    change = ChangeRequest.objects.get()
    assert "办理中" in page.inner_text("main")
    context.close()

    # then the three other parties approve from their queues on a phone, in two taps each
    for user, party in (
        (chengdu_reviewer, Party.RECEIVING_AUTHORITY),
        (school_user, Party.SENDING_SCHOOL),
        (county_user, Party.SENDING_AUTHORITY),
    ):
        step = ApprovalStep.objects.get(request=change, state=StepState.PENDING)
        assert step.party == party
        context = new_context(browser, live_server, phone=True)
        phone = context.new_page()
        watch_csp(phone, violations)
        sign_in(phone, user)
        phone.goto("/changes/queue/")
        card = phone.locator(f"#step-{step.pk}")
        assert card.is_visible()
        assert "林转学" in card.inner_text()
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"the queue scrolls sideways on a phone ({width}px)"
        # tap 1: 同意 → the confirm step (no page load: the URL stays the queue)
        card.get_by_role("link", name="同意", exact=True).tap()
        confirm = card.get_by_role("button", name="确认同意")
        confirm.wait_for()
        assert urlsplit(phone.url).path == "/changes/queue/"
        # tap 2: 确认同意 → handled
        confirm.tap()
        phone.locator(f"#step-{step.pk}", has_text="已同意").wait_for()
        step.refresh_from_db()
        assert step.state == StepState.APPROVED
        assert step.actor_username == user.username
        context.close()

    # then the request is complete and the record is at the receiving school
    change.refresh_from_db()
    assert change.state == RequestState.COMPLETED
    assert StatusRecord.objects.get(pk=student.pk).school_id == other_school.pk
    context = new_context(browser, live_server, phone=False)
    page = context.new_page()
    watch_csp(page, violations)
    sign_in(page, other_school_user)
    page.goto(f"/changes/{change.pk}/")
    assert "已办结" in page.inner_text("main")
    page.goto(f"/students/{student.pk}/")
    assert other_school.name in page.inner_text("main")
    context.close()
    assert violations == []
