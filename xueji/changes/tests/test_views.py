"""The change pages: list, detail, starting a transfer, filing other changes, the review
queue with its two-tap approval (htmx and plain POST), refusing, withdrawing, materials."""

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from tests.factories import SchoolFactory, authority_user, make_user
from xueji import clock
from xueji.audit.models import AuditEvent
from xueji.changes import services, views
from xueji.changes.models import ApprovalStep, ChangeRequest, RuleSet
from xueji.changes.rules import RequestState, StepState
from xueji.enrolment.models import StatusRecord
from xueji.schools.rules import SchoolType

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime.combine(date(2026, 3, 10), time(10, 0), tzinfo=SHANGHAI).astimezone(UTC)
TODAY = date(2026, 3, 10)
PDF = b"%PDF-1.4\n% change material\n"
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def at_2026(monkeypatch):
    monkeypatch.setattr(clock, "now", lambda: NOW)
    monkeypatch.setattr(clock, "today", lambda: TODAY)


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def pdf(name: str = "申请表.pdf") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, PDF, content_type="application/pdf")


def client_of(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def text(response) -> str:
    return response.content.decode()


@pytest.fixture
def transfer(make_student, other_school_user) -> ChangeRequest:
    """天河 (440106) → 锦江 (510104), filed by the receiving school; the 510104 county's
    step is pending."""
    student = make_student(name="转学生")
    return services.transfer_file(
        actor=other_school_user,
        student_number=student.number,
        student_name=student.name,
        reason="随父母工作调动转学",
        uploads=[("application", pdf())],
    )


@pytest.fixture
def chengdu():
    return authority_user("510104")


def pending(change: ChangeRequest) -> ApprovalStep:
    return ApprovalStep.objects.get(request=change, state=StepState.PENDING)


# ---------------------------------------------------------------- list and detail


def test_the_list_shows_requests_of_either_side_and_filters(
    transfer, school_user, other_school_user, county_user
):
    for user in (school_user, other_school_user, county_user):
        response = client_of(user).get("/changes/")
        assert response.status_code == 200
        assert "转学生" in text(response)
        assert "转入地学籍主管部门" in text(response)  # the current step
        assert "期限 2026-03-24" in text(response)
    client = client_of(school_user)
    assert "转学生" not in text(client.get("/changes/?state=completed"))
    assert "转学生" not in text(client.get("/changes/?change_type=suspend"))
    assert "转学生" in text(client.post("/changes/", {"q": transfer.student.number}, follow=True))
    assert "转学生" in text(client.get("/changes/?q=转学"))


def test_the_list_hides_other_units_requests(transfer):
    outsider = make_user(SchoolFactory(division_code="440106").unit)
    for user in (outsider, authority_user("440104")):
        response = client_of(user).get("/changes/")
        assert response.status_code == 200
        assert "转学生" not in text(response)


def test_the_list_needs_sign_in():
    response = Client().get("/changes/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_the_detail_shows_rule_steps_materials_and_actions_to_the_handler(transfer, chengdu):
    response = client_of(chengdu).get(f"/changes/{transfer.pk}/")
    assert response.status_code == 200
    page = text(response)
    assert "本省未调整" in page
    for party in ("转入学校", "转入地学籍主管部门", "转出学校", "转出地学籍主管部门"):
        assert party in page
    assert "2026-03-24" in page
    assert "申请表.pdf" in page
    step = pending(transfer)
    assert f"/changes/steps/{step.pk}/approve/" in page
    assert f"/changes/steps/{step.pk}/refuse/" in page
    assert "撤回申请" not in page  # the county did not file it


def test_the_detail_names_the_rule_versions_the_request_follows(make_student, other_school_user):
    RuleSet.objects.create(
        province_code="51",
        version=3,
        effective_from=NOW - timedelta(days=1),
        rules={"transfer": {"step_days": 8}},
        created_at=NOW,
    )
    student = make_student()
    change = services.transfer_file(
        actor=other_school_user,
        student_number=student.number,
        student_name=student.name,
        reason="转学",
        uploads=[("application", pdf())],
    )
    page = text(client_of(other_school_user).get(f"/changes/{change.pk}/"))
    assert "本省 v3" in page
    assert "8 个工作日" in page


def test_the_detail_offers_withdrawal_to_the_filer_only(transfer, other_school_user, school_user):
    assert "撤回申请" in text(client_of(other_school_user).get(f"/changes/{transfer.pk}/"))
    page = text(client_of(school_user).get(f"/changes/{transfer.pk}/"))
    assert "撤回申请" not in page
    assert "/approve/" not in page  # the sending school's step is not pending yet


def test_the_detail_is_not_found_outside_both_sides(transfer):
    outsider = make_user(SchoolFactory(division_code="440104").unit)
    assert client_of(outsider).get(f"/changes/{transfer.pk}/").status_code == 404


def test_the_detail_flags_a_missing_calendar(transfer, chengdu):
    ApprovalStep.objects.filter(pk=pending(transfer).pk).update(
        due_date=None, calendar_missing=True
    )
    assert "日历缺失" in text(client_of(chengdu).get(f"/changes/{transfer.pk}/"))
    assert "日历缺失" in text(client_of(chengdu).get("/changes/queue/"))


def test_a_material_download_is_audited_and_scoped(transfer, school_user):
    material = transfer.materials.get()
    response = client_of(school_user).get(f"/changes/materials/{material.pk}/")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PDF
    assert "attachment" in response["Content-Disposition"]
    assert AuditEvent.objects.filter(action="change.material_download").count() == 1
    outsider = make_user(SchoolFactory(division_code="440104").unit)
    assert client_of(outsider).get(f"/changes/materials/{material.pk}/").status_code == 404


# ---------------------------------------------------------------- starting a transfer


def test_the_transfer_page_asks_for_the_materials_of_the_rule_in_force(other_school_user):
    response = client_of(other_school_user).get("/changes/transfer/new/")
    assert response.status_code == 200
    page = text(response)
    assert 'name="material_application"' in page
    assert "须提交材料：申请表" in page
    assert 'name="school"' not in page  # a school files for itself


def test_a_receiving_clerk_starts_a_transfer(make_student, other_school_user, other_school):
    student = make_student(name="李转入")
    response = client_of(other_school_user).post(
        "/changes/transfer/new/",
        {
            "student_number": student.number.lower(),
            "student_name": "李转入",
            "class_name": "3班",
            "grade": "",
            "reason": "随父母工作调动",
            "material_application": pdf(),
        },
    )
    assert response.status_code == 302
    change = ChangeRequest.objects.get()
    assert response["Location"] == f"/changes/{change.pk}/"
    assert change.target_school_id == other_school.pk
    assert change.payload == {"class_name": "3班"}
    assert change.materials.get().kind == "application"


def test_transfer_errors_are_shown_on_their_fields(make_student, other_school_user):
    student = make_student(name="李转入")
    response = client_of(other_school_user).post(
        "/changes/transfer/new/",
        {"student_number": student.number, "student_name": "李转入", "reason": " "},
    )
    assert response.status_code == 422
    page = text(response)
    assert re.search(
        r'id="id_reason"[^>]*aria-invalid="true"|aria-invalid="true"[^>]*id="id_reason"', page
    )
    assert "请填写变动事由" in page
    assert "缺少必需材料：申请表" in page
    assert not ChangeRequest.objects.exists()


def test_a_name_that_does_not_match_the_number_is_an_error_on_the_number(
    make_student, other_school_user
):
    student = make_student(name="李转入")
    response = client_of(other_school_user).post(
        "/changes/transfer/new/",
        {
            "student_number": student.number,
            "student_name": "李不对",
            "reason": "转学",
            "material_application": pdf(),
        },
    )
    assert response.status_code == 422
    assert "未找到学籍号与姓名相符的学生" in text(response)


def test_an_authority_picks_the_receiving_school(make_student, chengdu, other_school):
    student = make_student(name="李转入")
    client = client_of(chengdu)
    page = text(client.get("/changes/transfer/new/"))
    assert f'value="{other_school.pk}"' in page
    response = client.post(
        "/changes/transfer/new/",
        {
            "school": str(other_school.pk),
            "student_number": student.number,
            "student_name": "李转入",
            "reason": "转学",
            "material_application": pdf(),
        },
    )
    assert response.status_code == 302
    assert ChangeRequest.objects.get().target_school_id == other_school.pk


def test_a_second_transfer_of_the_same_student_is_a_conflict(transfer, other_school_user):
    response = client_of(other_school_user).post(
        "/changes/transfer/new/",
        {
            "student_number": transfer.student.number,
            "student_name": transfer.student.name,
            "reason": "再次申请",
            "material_application": pdf(),
        },
    )
    assert response.status_code == 409
    assert "已有一项正在办理的学籍变动" in text(response)
    assert f"/changes/{transfer.pk}/" in text(response)


def test_a_county_reviewer_cannot_start_a_transfer_without_the_permission(db):
    viewer = authority_user("440106", roles=("statistician",))
    assert client_of(viewer).get("/changes/transfer/new/").status_code == 403


# ---------------------------------------------------------------- other changes


def test_the_student_page_links_to_the_change_types(make_student, school_user):
    student = make_student()
    client = client_of(school_user)
    page = text(client.get(f"/students/{student.pk}/"))
    assert f"/changes/new/?student={student.pk}" in page
    types = text(client.get(f"/changes/new/?student={student.pk}"))
    assert "休学" in types and "死亡注销" in types
    assert "type=transfer" not in types


def test_a_change_form_shows_the_fields_and_materials_of_its_type(make_student, school_user):
    student = make_student()
    client = client_of(school_user)
    page = text(client.get(f"/changes/new/?student={student.pk}&type=defer"))
    assert 'name="until"' in page and 'name="material_application"' in page
    assert 'name="died_on"' not in page
    page = text(client.get(f"/changes/new/?student={student.pk}&type=suspend"))
    assert 'name="material_medical"' in page and 'name="until"' not in page


def test_a_suspension_is_filed_from_the_page(make_student, school_user):
    student = make_student()
    response = client_of(school_user).post(
        f"/changes/new/?student={student.pk}&type=suspend",
        {
            "effective_date": "2026-03-10",
            "reason": "因病休学",
            "material_application": pdf(),
            "material_medical": pdf("诊断.pdf"),
        },
    )
    assert response.status_code == 302
    change = ChangeRequest.objects.get()
    assert change.change_type == "suspend"
    assert sorted(change.materials.values_list("kind", flat=True)) == ["application", "medical"]


def test_a_deferral_without_its_end_date_is_refused_on_that_field(make_student, school_user):
    student = make_student()
    response = client_of(school_user).post(
        f"/changes/new/?student={student.pk}&type=defer",
        {"effective_date": "2026-03-10", "reason": "缓学", "material_application": pdf()},
    )
    assert response.status_code == 422
    assert "请填写缓学截止日期" in text(response)
    assert 'aria-invalid="true"' in text(response)
    assert not ChangeRequest.objects.exists()


def test_a_deferral_with_its_dates_is_filed(make_student, school_user):
    student = make_student()
    response = client_of(school_user).post(
        f"/changes/new/?student={student.pk}&type=defer",
        {
            "effective_date": "2026-03-10",
            "reason": "缓学",
            "until": "2026-12-31",
            "material_application": pdf(),
        },
    )
    assert response.status_code == 302
    assert ChangeRequest.objects.get().payload == {"until": "2026-12-31"}


def test_a_specialised_placement_lists_the_province_s_specialised_schools(
    make_student, school_user
):
    special = SchoolFactory(
        name="广州市专门学校", division_code="440106", school_type=SchoolType.SPECIALISED
    )
    student = make_student()
    page = text(client_of(school_user).get(f"/changes/new/?student={student.pk}&type=specialised"))
    assert "广州市专门学校" in page and f'value="{special.pk}"' in page


def test_a_change_for_a_student_out_of_scope_is_not_found(make_student, other_school_user):
    student = make_student()
    client = client_of(other_school_user)
    assert client.get(f"/changes/new/?student={student.pk}&type=leave").status_code == 404
    assert client.get("/changes/new/").status_code == 404


# ---------------------------------------------------------------- the queue: two taps


def test_the_queue_lists_the_unit_s_pending_steps_with_days_left(transfer, chengdu):
    response = client_of(chengdu).get("/changes/queue/")
    assert response.status_code == 200
    page = text(response)
    step = pending(transfer)
    assert f'id="step-{step.pk}"' in page
    assert "转学生" in page and "期限 2026-03-24" in page
    assert "还剩 10 个工作日" in page
    # the navigation shows the count
    assert re.search(r'id="xj-queue-count"[^>]*>1<', page)


def test_an_overdue_step_shows_working_days_late(transfer, chengdu):
    ApprovalStep.objects.filter(pk=pending(transfer).pk).update(due_date=date(2026, 3, 5))
    page = text(client_of(chengdu).get("/changes/queue/"))
    assert "逾期 3 个工作日" in page  # 03-06 (Fri), 03-09 (Mon), 03-10 (Tue)


def test_other_units_have_an_empty_queue(transfer, school_user, county_user):
    for user in (school_user, county_user):
        page = text(client_of(user).get("/changes/queue/"))
        assert "转学生" not in page and "暂无待办事项" in page


def test_approve_in_two_taps_with_htmx(transfer, chengdu):
    client = client_of(chengdu)
    step = pending(transfer)
    # tap 1: the confirm step replaces the buttons
    response = client.get(f"/changes/steps/{step.pk}/approve/?next=/changes/queue/", **HTMX)
    assert response.status_code == 200
    assert "确认同意" in text(response) and "<html" not in text(response)
    assert f'hx-post="/changes/steps/{step.pk}/approve/"' in text(response)
    step.refresh_from_db()
    assert step.state == StepState.PENDING  # looking is not approving
    # tap 2: approved, the card says so, the badge is updated out of band
    response = client.post(
        f"/changes/steps/{step.pk}/approve/", {"confirm": "1", "next": "/changes/queue/"}, **HTMX
    )
    assert response.status_code == 200
    assert "已同意" in text(response)
    assert 'hx-swap-oob="true"' in text(response)
    step.refresh_from_db()
    assert step.state == StepState.APPROVED
    assert ApprovalStep.objects.get(request=transfer, seq=3).state == StepState.PENDING


def _steps_table(page: str) -> list[tuple[str, str]]:
    """(party, state) of each row of the detail page's steps table."""
    table = page.split('id="s-steps"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", table, re.S)[1:]
    out = []
    for row in rows:
        party = re.search(r'<th scope="row"[^>]*>([^<]+)', row)
        state = re.search(r'data-state="(\w+)"', row)
        if party and state:
            out.append((party.group(1).strip(), state.group(1)))
    return out


@pytest.mark.parametrize("htmx", [True, False])
def test_deciding_on_the_request_page_shows_the_new_state_of_the_steps(transfer, chengdu, htmx):
    """Approving from the request's own page reloads it: the steps table no longer says
    待办理 for the step just approved, and the handling card is gone (issue 11 #3)."""
    client = client_of(chengdu)
    step = pending(transfer)
    detail = f"/changes/{transfer.pk}/"
    before = text(client.get(detail))
    assert f'id="step-{step.pk}"' in before
    assert ("转入地学籍主管部门", "pending") in _steps_table(before)
    response = client.post(
        f"/changes/steps/{step.pk}/approve/",
        {"confirm": "1", "next": detail},
        **(HTMX if htmx else {}),
    )
    if htmx:
        assert response.status_code == 200 and response["HX-Redirect"] == detail
    else:
        assert response.status_code == 302 and response["Location"] == detail
    after = text(client.get(detail))
    assert "已同意，已转下一环节办理。" in after
    assert f'id="step-{step.pk}"' not in after
    states = _steps_table(after)
    assert ("转入地学籍主管部门", "approved") in states
    assert ("转出学校", "pending") in states


def test_refusing_on_the_request_page_shows_the_refused_request(transfer, chengdu):
    client = client_of(chengdu)
    step = pending(transfer)
    detail = f"/changes/{transfer.pk}/"
    response = client.post(
        f"/changes/steps/{step.pk}/refuse/",
        {"refusal_reason": "no_place", "comment": "学位已满", "next": detail},
        **HTMX,
    )
    assert response["HX-Redirect"] == detail
    after = text(client.get(detail))
    assert ("转入地学籍主管部门", "refused") in _steps_table(after)
    assert "待办理" not in after.split('id="s-steps"', 1)[1].split("</table>", 1)[0]


def test_cancel_brings_the_buttons_back(transfer, chengdu):
    step = pending(transfer)
    response = client_of(chengdu).get(
        f"/changes/steps/{step.pk}/approve/?cancel=1&next=/changes/queue/", **HTMX
    )
    assert "不同意" in text(response) and "确认同意" not in text(response)


def test_approve_without_javascript_is_a_page_then_a_post_and_redirect(transfer, chengdu):
    client = client_of(chengdu)
    step = pending(transfer)
    response = client.get(f"/changes/steps/{step.pk}/approve/?next=/changes/queue/")
    assert response.status_code == 200
    assert "<html" in text(response) and "确认同意" in text(response)
    response = client.post(
        f"/changes/steps/{step.pk}/approve/", {"confirm": "1", "next": "/changes/queue/"}
    )
    assert response.status_code == 302 and response["Location"] == "/changes/queue/"
    step.refresh_from_db()
    assert step.state == StepState.APPROVED


def test_a_step_of_another_unit_is_not_found(transfer, school_user, county_user):
    step = pending(transfer)
    for user in (school_user, county_user):
        client = client_of(user)
        assert client.get(f"/changes/steps/{step.pk}/approve/").status_code == 404
        assert client.post(f"/changes/steps/{step.pk}/approve/").status_code == 404
        assert client.get(f"/changes/steps/{step.pk}/refuse/").status_code == 404
    step.refresh_from_db()
    assert step.state == StepState.PENDING


def test_the_last_approval_moves_the_record(transfer, chengdu, school_user, county_user):
    for user in (chengdu, school_user, county_user):
        step = pending(transfer)
        response = client_of(user).post(
            f"/changes/steps/{step.pk}/approve/", {"next": "http://evil.example/"}
        )
        assert response.status_code == 302 and response["Location"] == "/changes/queue/"
    transfer.refresh_from_db()
    assert transfer.state == RequestState.COMPLETED
    assert StatusRecord.objects.get(pk=transfer.student_id).school_id == transfer.target_school_id


# ---------------------------------------------------------------- refusing


def test_a_refusal_without_reason_shows_both_errors_with_htmx(transfer, chengdu):
    client = client_of(chengdu)
    step = pending(transfer)
    form = client.get(f"/changes/steps/{step.pk}/refuse/", **HTMX)
    assert 'name="refusal_reason"' in text(form) and 'name="comment"' in text(form)
    response = client.post(
        f"/changes/steps/{step.pk}/refuse/", {"refusal_reason": "", "comment": ""}, **HTMX
    )
    assert response.status_code == 422
    assert "请选择不同意的理由" in text(response)
    assert "不同意时须写明具体理由" in text(response)
    assert response["HX-Retarget"] == f"#step-{step.pk}-actions"
    step.refresh_from_db()
    assert step.state == StepState.PENDING


def test_a_refusal_without_text_is_refused_without_javascript_too(transfer, chengdu):
    step = pending(transfer)
    response = client_of(chengdu).post(
        f"/changes/steps/{step.pk}/refuse/", {"refusal_reason": "no_place", "comment": ""}
    )
    assert response.status_code == 422
    assert "<html" in text(response) and "不同意时须写明具体理由" in text(response)


def test_a_refusal_with_reason_and_text_closes_the_request(transfer, chengdu):
    step = pending(transfer)
    response = client_of(chengdu).post(
        f"/changes/steps/{step.pk}/refuse/",
        {"refusal_reason": "no_place", "comment": "学位已满", "next": "/changes/queue/"},
        **HTMX,
    )
    assert response.status_code == 200
    assert "未通过" in text(response)
    transfer.refresh_from_db()
    assert transfer.state == RequestState.REFUSED
    step.refresh_from_db()
    assert (step.refusal_reason, step.comment) == ("no_place", "学位已满")
    page = text(client_of(chengdu).get(f"/changes/{transfer.pk}/"))
    assert "转入学校学位已满" in page and "学位已满" in page


# ---------------------------------------------------------------- withdrawing and materials


def test_withdrawal_needs_a_reason(transfer, other_school_user):
    client = client_of(other_school_user)
    response = client.post(f"/changes/{transfer.pk}/withdraw/", {"reason": ""})
    assert response.status_code == 422
    assert "请填写撤回原因" in text(response)
    response = client.post(f"/changes/{transfer.pk}/withdraw/", {"reason": "家长决定不转"})
    assert response.status_code == 302
    transfer.refresh_from_db()
    assert transfer.state == RequestState.WITHDRAWN


def test_only_the_filer_or_an_authority_above_withdraws(transfer, school_user):
    response = client_of(school_user).post(f"/changes/{transfer.pk}/withdraw/", {"reason": "x"})
    assert response.status_code == 403
    outsider = make_user(SchoolFactory(division_code="440104").unit)
    response = client_of(outsider).post(f"/changes/{transfer.pk}/withdraw/", {"reason": "x"})
    assert response.status_code == 404
    transfer.refresh_from_db()
    assert transfer.state == RequestState.OPEN


def test_materials_are_added_from_the_detail_page(transfer, other_school_user):
    client = client_of(other_school_user)
    response = client.post(
        f"/changes/{transfer.pk}/materials/", {"kind": "residence", "file": pdf("居住证.pdf")}
    )
    assert response.status_code == 302
    assert sorted(transfer.materials.values_list("kind", flat=True)) == [
        "application",
        "residence",
    ]
    response = client.post(f"/changes/{transfer.pk}/materials/", {"kind": "residence"})
    assert response.status_code == 422 and "请选择要上传的文件" in text(response)
    response = client.post(
        f"/changes/{transfer.pk}/materials/",
        {"kind": "residence", "file": SimpleUploadedFile("a.txt", b"hello", "text/plain")},
    )
    assert response.status_code == 422 and "只接受 PDF、JPG、PNG 文件" in text(response)


def test_a_decision_on_a_step_already_handled_says_so(transfer, chengdu):
    client = client_of(chengdu)
    step = pending(transfer)
    client.post(f"/changes/steps/{step.pk}/approve/", {"confirm": "1"})
    response = client.post(f"/changes/steps/{step.pk}/approve/", {"confirm": "1"}, **HTMX)
    assert response.status_code == 409
    assert "该环节已办理或申请已办结" in text(response)


def test_the_list_is_paginated(make_student, school_user, monkeypatch):
    for name in ("甲", "乙", "丙"):
        student = make_student(name=f"学生{name}")
        services.change_file(
            actor=school_user,
            student_id=student.pk,
            change_type="leave",
            effective_date=TODAY,
            reason="肄业",
        )
    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    client = client_of(school_user)
    first = text(client.get("/changes/"))
    second = text(client.get("/changes/?page=2"))
    assert "学生丙" in first and "学生乙" in first and "学生甲" not in first
    assert "学生甲" in second and "学生丙" not in second
    assert "第 1 / 2 页" in first
