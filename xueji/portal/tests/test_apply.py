"""Applying for a transfer on the phone, following it, withdrawing it, adding materials;
and never seeing another student's request."""

import re
from datetime import date

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from tests.factories import SchoolFactory, make_user
from xueji.accounts.services import unit_ensure_for_school
from xueji.audit.models import AuditEvent
from xueji.changes import selectors as change_selectors
from xueji.changes import services as engine
from xueji.changes.models import ApprovalStep, ChangeRequest, Material
from xueji.changes.rules import Channel, Party, RefusalReason, RequestState, StepState
from xueji.portal.actor import GuardianActor
from xueji.portal.services import portal_material_add
from xueji.schools.models import School
from xueji.schools.rules import SchoolState, SchoolType

from .conftest import PNG, handler_of, pdf, sign_in

pytestmark = pytest.mark.django_db

HX = {"HX-Request": "true"}


def choose(school: School) -> dict:
    """The form's destination fields for a school, as the cascade fills them."""
    return {
        "province": school.division_code[:2] + "0000",
        "city": school.division_code[:4] + "00",
        "county": school.division_code,
        "school": str(school.pk),
    }


def apply(client: Client, target: School, **extra):
    data = {**choose(target), "reason": "随父母工作调动迁居", "material_application": pdf()}
    data.update(extra)
    return client.post("/portal/apply/", {k: v for k, v in data.items() if v is not None})


def request_id_of(response) -> int:
    match = re.fullmatch(r"/portal/requests/(\d+)/", response["Location"])
    assert match, response["Location"]
    return int(match.group(1))


# ----------------------------------------------------------------- the form


def test_apply_page_shows_the_current_school_and_grade_and_no_id_number(guardian_client, family):
    page = guardian_client.get("/portal/apply/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "天河区第一实验小学" in text and "三年级" in text and "林*雨" in text
    assert family.guardian_id_number not in text
    # No inline script, large fields, phone-camera friendly inputs come with the province.
    assert "<script>" not in text and "onchange" not in text
    assert 'hx-get="/portal/apply/destination/"' in text


def test_the_cascade_lists_only_areas_and_schools_the_student_can_move_to(
    guardian_client, near_school, other_school, family
):
    # given schools that do not fit: a junior school, a closed school, a specialised school
    SchoolFactory(name="天河区第一中学", school_type=SchoolType.JUNIOR, division_code="440106")
    closed = SchoolFactory(name="天河区已撤销小学", division_code="440106")
    School.objects.filter(pk=closed.pk).update(state=SchoolState.CLOSED, closed_on=date(2025, 7, 1))
    SchoolFactory(name="天河区专门学校", school_type=SchoolType.SPECIALISED, division_code="440106")

    page = guardian_client.get("/portal/apply/").content.decode()
    assert 'value="440000"' in page and 'value="510000"' in page
    assert 'value="110000"' not in page  # no school there

    province = guardian_client.get(
        "/portal/apply/destination/?province=510000",
        headers={**HX, "HX-Trigger": "id_province"},
    ).content.decode()
    assert 'value="510100"' in province and "成都市" in province
    assert 'hx-swap-oob="true"' in province and "申请表" in province
    assert 'accept="image/*,application/pdf"' in province

    county = guardian_client.get(
        "/portal/apply/destination/?province=440000&city=440100&county=440106",
        headers={**HX, "HX-Trigger": "id_county"},
    ).content.decode()
    assert "hx-swap-oob" not in county  # the materials stay as they are
    assert "天河区第二实验小学" in county
    for absent in ("天河区第一实验小学", "天河区第一中学", "天河区已撤销小学", "天河区专门学校"):
        assert absent not in county

    # A county that does not belong to the chosen city is dropped with everything below it.
    mixed = guardian_client.get(
        "/portal/apply/destination/?province=510000&city=440100&county=440106",
        headers={**HX, "HX-Trigger": "id_province"},
    ).content.decode()
    assert "天河区第二实验小学" not in mixed


def test_without_htmx_the_cascade_reloads_the_form(guardian_client, other_school):
    response = guardian_client.get("/portal/apply/destination/?province=510000")
    assert response.status_code == 302
    assert response["Location"] == "/portal/apply/?province=510000"
    page = guardian_client.get(response["Location"]).content.decode()
    assert 'value="510100"' in page and "申请表" in page


# ----------------------------------------------------------------- applying


@pytest.mark.parametrize("target", ["near_school", "other_school"])
def test_applying_creates_a_guardian_transfer_pending_at_the_receiving_school(
    request, guardian_client, family, target
):
    """Intra- and cross-province with exactly the same fields."""
    school = request.getfixturevalue(target)
    response = apply(guardian_client, school)
    assert response.status_code == 302
    change = ChangeRequest.objects.get(pk=request_id_of(response))
    assert change.channel == Channel.GUARDIAN
    assert change.state == RequestState.OPEN
    assert change.student_id == family.student.pk
    assert change.target_school_id == school.pk
    assert change.effective_date == date(2026, 3, 10)
    assert change.filed_by_id is None
    assert change.filed_by_username == f"guardian:{family.student.number_masked}"
    assert change.applicant_name == family.student.guardians.get().name
    steps = list(ApprovalStep.objects.filter(request=change).order_by("seq"))
    assert [s.party for s in steps] == [
        Party.RECEIVING_SCHOOL,
        Party.RECEIVING_AUTHORITY,
        Party.SENDING_SCHOOL,
        Party.SENDING_AUTHORITY,
    ]
    assert [s.state for s in steps] == [StepState.PENDING] + [StepState.WAITING] * 3
    assert steps[0].unit_id == unit_ensure_for_school(school).pk
    assert steps[0].due_date == date(2026, 3, 24)  # 10 working days after Tue 03-10
    material = Material.objects.get(request=change)
    assert material.kind == "application" and material.uploaded_by == change.filed_by_username
    # The receiving school's clerk has it in the queue.
    clerk = make_user(unit_ensure_for_school(school))
    assert [s.pk for s in change_selectors.review_queue(clerk)] == [steps[0].pk]
    filed = AuditEvent.objects.get(action="change.file", object_id=str(change.pk))
    assert filed.actor_id is None and filed.actor_username == change.filed_by_username


def test_a_file_that_is_no_pdf_or_image_is_refused_precisely_and_nothing_is_created(
    guardian_client, near_school
):
    fake = SimpleUploadedFile("申请表.pdf", b"just text, not a pdf", "application/pdf")
    response = apply(guardian_client, near_school, material_application=fake)
    assert response.status_code == 422
    text = response.content.decode()
    field = text[text.index('id="id_material_application"') :]
    assert "只接受 PDF、JPG、PNG 文件" in field[:600]
    assert 'aria-invalid="true"' in text
    assert not ChangeRequest.objects.exists()
    assert not Material.objects.exists()


def test_a_missing_material_is_named(guardian_client, near_school):
    response = apply(guardian_client, near_school, material_application=None)
    assert response.status_code == 422
    assert "缺少必需材料：申请表" in response.content.decode()
    assert not ChangeRequest.objects.exists()


def test_a_photo_is_accepted_as_material(guardian_client, near_school):
    photo = SimpleUploadedFile("IMG_0001.png", PNG, "image/png")
    response = apply(guardian_client, near_school, material_application=photo)
    assert response.status_code == 302
    assert Material.objects.get().content_type == "image/png"


def test_school_and_reason_are_required(guardian_client, near_school):
    response = apply(guardian_client, near_school, school="", reason="")
    assert response.status_code == 422
    text = response.content.decode()
    assert "请选择转入学校" in text
    assert not ChangeRequest.objects.exists()


def test_a_school_the_student_cannot_move_to_is_refused(guardian_client, school, family):
    junior = SchoolFactory(school_type=SchoolType.JUNIOR, division_code="440106")
    for target in (school, junior):  # the own school, a school without the grade
        response = apply(guardian_client, target)
        assert response.status_code == 422
        assert "请选择转入学校" in response.content.decode()
    assert not ChangeRequest.objects.exists()


def test_with_an_open_request_the_form_leads_to_it(guardian_client, near_school):
    change_id = request_id_of(apply(guardian_client, near_school))
    response = guardian_client.get("/portal/apply/")
    assert response.status_code == 302
    assert response["Location"] == f"/portal/requests/{change_id}/"


# ----------------------------------------------------------------- following it


def test_status_page_shows_each_step_and_the_deadline(guardian_client, other_school):
    change_id = request_id_of(apply(guardian_client, other_school))
    page = guardian_client.get(f"/portal/requests/{change_id}/")
    assert page.status_code == 200
    text = page.content.decode()
    for label in ("转入学校", "转入地学籍主管部门", "转出学校", "转出地学籍主管部门"):
        assert label in text
    assert "锦江区实验小学" in text  # the receiving school's unit
    assert "办理期限：2026-03-24，剩余 10 个工作日" in text
    assert text.count('aria-current="step"') == 1
    assert "办理中" in text
    assert "撤回申请" in text and "补充材料" in text


def test_status_page_counts_down_and_flags_a_missing_calendar(
    guardian_client, near_school, held, family
):
    change_id = request_id_of(apply(guardian_client, near_school))
    path = f"/portal/requests/{change_id}/"

    def page_after(**delta) -> str:
        held.advance(**delta)
        client = Client()  # days later: a new sign-in
        sign_in(client, family)
        return client.get(path).content.decode()

    assert "剩余 5 个工作日" in page_after(days=7)  # Tuesday 03-17
    assert "今天到期" in page_after(days=7)  # Tuesday 03-24
    assert "已超期 2 个工作日" in page_after(days=2)  # Thursday 03-26
    ApprovalStep.objects.filter(request_id=change_id, seq=1).update(
        due_date=None, calendar_missing=True
    )
    assert "办理期限：日历缺失" in page_after(minutes=1)


def test_a_refusal_shows_its_reason_and_text(guardian_client, near_school):
    change_id = request_id_of(apply(guardian_client, near_school))
    step = ApprovalStep.objects.get(request_id=change_id, seq=1)
    engine.step_handle(
        actor=handler_of(step),
        step_id=step.pk,
        approve=False,
        refusal_reason=RefusalReason.NO_PLACE,
        comment="三年级已满额",
    )
    text = guardian_client.get(f"/portal/requests/{change_id}/").content.decode()
    assert "未通过" in text
    assert "不同意理由：转入学校学位已满" in text and "三年级已满额" in text
    assert "撤回申请" not in text and "上传材料" not in text


def test_home_lists_the_requests(guardian_client, near_school):
    change_id = request_id_of(apply(guardian_client, near_school))
    text = guardian_client.get("/portal/home/").content.decode()
    assert f"/portal/requests/{change_id}/" in text and "天河区第二实验小学" in text


def test_withdraw(guardian_client, near_school, family):
    change_id = request_id_of(apply(guardian_client, near_school))
    response = guardian_client.post(f"/portal/requests/{change_id}/withdraw/", {"reason": "不搬了"})
    assert response.status_code == 302
    change = ChangeRequest.objects.get(pk=change_id)
    assert change.state == RequestState.WITHDRAWN
    assert change.closed_reason == "家长撤回：不搬了"
    event = AuditEvent.objects.get(action="change.withdraw", object_id=str(change_id))
    assert event.actor_username == f"guardian:{family.student.number_masked}"
    text = guardian_client.get(f"/portal/requests/{change_id}/").content.decode()
    assert "已撤回" in text and "撤回申请</button>" not in text
    # A closed request cannot be withdrawn twice.
    again = guardian_client.post(f"/portal/requests/{change_id}/withdraw/")
    assert again.status_code == 409


def test_add_materials(guardian_client, near_school, family):
    change_id = request_id_of(apply(guardian_client, near_school))
    response = guardian_client.post(
        f"/portal/requests/{change_id}/materials/",
        {"kind": "residence", "files": [pdf("居住证.pdf"), pdf("居住证-2.pdf")]},
    )
    assert response.status_code == 302
    added = Material.objects.filter(request_id=change_id, kind="residence")
    assert added.count() == 2
    assert {m.uploaded_by for m in added} == {f"guardian:{family.student.number_masked}"}
    assert AuditEvent.objects.filter(
        action="change.material_add", object_id=str(change_id), actor_id=None
    ).exists()


def test_add_materials_refuses_a_bad_file_and_an_empty_upload(guardian_client, near_school):
    change_id = request_id_of(apply(guardian_client, near_school))
    bad = SimpleUploadedFile("照片.heic", b"ftypheic....", "image/heic")
    response = guardian_client.post(
        f"/portal/requests/{change_id}/materials/", {"kind": "residence", "files": [bad]}
    )
    assert response.status_code == 422
    assert "只接受 PDF、JPG、PNG 文件" in response.content.decode()
    response = guardian_client.post(f"/portal/requests/{change_id}/materials/", {"kind": "other"})
    assert response.status_code == 422
    assert "请选择要上传的文件" in response.content.decode()
    assert Material.objects.filter(request_id=change_id).count() == 1


# ----------------------------------------------------------------- another student's request


def test_a_guardian_never_sees_another_students_request(
    guardian_client, make_student, near_school, school_user
):
    other = make_student(name="周其他")
    theirs = engine.transfer_create(
        actor=make_user(unit_ensure_for_school(near_school)),
        student=other,
        target_school=near_school,
        effective_date=date(2026, 3, 10),
        reason="转学",
        payload={},
        uploads=[("application", pdf())],
        channel=Channel.SCHOOL,
    )
    for path in (f"/portal/requests/{theirs.pk}/", "/portal/requests/999999/"):
        response = guardian_client.get(path)
        assert response.status_code == 404
        assert "周其他" not in response.content.decode()
    assert guardian_client.post(f"/portal/requests/{theirs.pk}/withdraw/").status_code == 404
    response = guardian_client.post(
        f"/portal/requests/{theirs.pk}/materials/", {"kind": "other", "files": [pdf()]}
    )
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.state == RequestState.OPEN
    assert Material.objects.filter(request=theirs).count() == 1
    assert "周其他" not in guardian_client.get("/portal/home/").content.decode()


def test_a_transfer_the_school_filed_is_shown_but_not_withdrawn_by_the_guardian(
    guardian_client, family, near_school
):
    filed = engine.transfer_create(
        actor=make_user(unit_ensure_for_school(near_school)),
        student=family.student,
        target_school=near_school,
        effective_date=date(2026, 3, 10),
        reason="转学",
        payload={},
        uploads=[("application", pdf())],
        channel=Channel.SCHOOL,
    )
    text = guardian_client.get(f"/portal/requests/{filed.pk}/").content.decode()
    assert "办理中" in text and "撤回申请</button>" not in text
    assert guardian_client.post(f"/portal/requests/{filed.pk}/withdraw/").status_code == 403
    guardian = GuardianActor(
        student_id=family.student.pk, guardian_id=0, number_masked=family.student.number_masked
    )
    with pytest.raises(engine.Forbidden):
        portal_material_add(guardian=guardian, request_id=filed.pk, uploads=[("other", pdf())])
    filed.refresh_from_db()
    assert filed.state == RequestState.OPEN


# ----------------------------------------------------------------- known before the form


def test_a_first_graders_guardian_is_told_before_the_form(family, held):
    """In the autumn semester a first-grader cannot transfer (起始年级第一学期不办理转学):
    the home page says so in place of the apply button, the apply page instead of the form,
    and a posted form with files is refused without saving anything (issue 11 #6)."""
    from xueji.enrolment.models import StatusRecord

    StatusRecord.objects.filter(pk=family.student.pk).update(grade="11")
    held.now = held.now.replace(year=2026, month=10, day=13)
    guardian_client = Client()
    sign_in(guardian_client, family)
    home = guardian_client.get("/portal/home/").content.decode()
    assert "起始年级第一学期不办理转学" in home
    assert 'href="/portal/apply/"' not in home
    page = guardian_client.get("/portal/apply/")
    text = page.content.decode()
    assert page.status_code == 200
    assert "起始年级第一学期不办理转学" in text
    assert 'name="reason"' not in text and 'type="file"' not in text
    posted = apply(guardian_client, SchoolFactory(name="天河区第三小学", division_code="440106"))
    assert posted.status_code == 409
    assert "起始年级第一学期不办理转学" in posted.content.decode()
    assert not ChangeRequest.objects.filter(student_id=family.student.pk).exists()
    assert not Material.objects.exists()


def test_a_suspended_students_guardian_is_told_why_on_the_home_page(guardian_client, family):
    from xueji.enrolment.models import StatusRecord

    StatusRecord.objects.filter(pk=family.student.pk).update(state="suspended")
    home = guardian_client.get("/portal/home/").content.decode()
    assert "学生当前学籍状态为“休学”，不能办理转学" in home
    assert 'href="/portal/apply/"' not in home


def test_a_third_graders_guardian_gets_the_form(guardian_client, family):
    home = guardian_client.get("/portal/home/").content.decode()
    assert 'href="/portal/apply/"' in home and "data-transfer-refused" not in home
    assert 'name="reason"' in guardian_client.get("/portal/apply/").content.decode()
