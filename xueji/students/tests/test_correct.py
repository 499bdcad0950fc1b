"""Correcting basic information (``student_correct``): the registration's own checks, the
history event and the audit, and the freeze after graduation — through the service, the
API (PATCH /api/students/{id}) and the page (students/<id>/correct/)."""

from datetime import date

import pytest
from django.db import transaction
from django.test import Client

from tests.factories import authority_user, resident_id
from xueji import clock
from xueji.audit.models import AuditEvent
from xueji.enrolment.models import StatusEvent, StatusRecord
from xueji.enrolment.rules import EventKind, StatusState
from xueji.enrolment.services import record_change, record_lock
from xueji.errors import Conflict, Forbidden, NotFound, ValidationFailed
from xueji.students import identity
from xueji.students.models import BasicInfoRevision, NumberKind, Student, StudentNumber
from xueji.students.services import student_correct

BORN = date(2016, 5, 17)


@pytest.fixture
def student(make_student):
    return make_student(
        name="张小明",
        born=BORN,
        sex_code="1",
        id_number=resident_id("440106", BORN, "1", seq=123),
    )


def codes(error: ValidationFailed) -> set[tuple[str, str]]:
    return {(e.field, e.code) for e in error.errors}


def events_of(student) -> list[StatusEvent]:
    return list(StatusEvent.objects.filter(record_id=student.pk).order_by("pk"))


def move_to(student, state: str, kind: str = EventKind.CHANGE) -> None:
    with transaction.atomic():
        record_change(
            actor=None,
            record=record_lock(student_id=student.pk),
            kind=kind,
            effective_date=clock.today(),
            to_state=state,
        )


def test_a_name_is_corrected_with_its_pinyin_recorded_in_history_revisions_and_audit(
    student, school_user
):
    corrected = student_correct(
        actor=school_user,
        student_id=student.pk,
        changes={"name": "张大明"},
        reason="户口簿姓名为张大明",
    )
    stored = Student.objects.get(pk=student.pk)
    assert stored.name == corrected.name == "张大明"
    assert (stored.name_pinyin, stored.name_key) == ("zhang da ming", "zhangdaming")
    event = events_of(student)[-1]
    assert (event.kind, event.reason) == (EventKind.CORRECT, "户口簿姓名为张大明")
    assert event.from_state == event.to_state == StatusState.ENROLLED
    assert event.detail == {
        "name": ["张小明", "张大明"],
        "name_pinyin": ["zhang xiao ming", "zhang da ming"],
    }
    revision = BasicInfoRevision.objects.get(student=student)
    assert revision.changes == event.detail and revision.reason == "户口簿姓名为张大明"
    audit = AuditEvent.objects.get(action="student.correct", object_id=str(student.pk))
    assert audit.detail["fields"] == ["name", "name_pinyin"]
    assert StatusRecord.objects.get(pk=student.pk).revision == 1


def test_codes_are_checked_like_at_registration(student, school_user):
    with pytest.raises(ValidationFailed) as refused:
        student_correct(
            actor=school_user,
            student_id=student.pk,
            changes={"sex": "9", "ethnicity": "99", "birthplace_code": "123"},
            reason="核对",
        )
    assert codes(refused.value) == {
        ("sex", "sex.invalid"),
        ("ethnicity", "code_unknown"),
        ("birthplace_code", "division.unknown"),
    }
    assert len(events_of(student)) == 1
    assert not BasicInfoRevision.objects.exists()


def test_a_birth_date_must_agree_with_the_resident_id(student, school_user):
    with pytest.raises(ValidationFailed) as refused:
        student_correct(
            actor=school_user,
            student_id=student.pk,
            changes={"birth_date": "2016-05-18"},
            reason="核对",
        )
    assert codes(refused.value) == {("birth_date", "id.birth_mismatch")}
    # the sex, too
    with pytest.raises(ValidationFailed) as refused:
        student_correct(
            actor=school_user, student_id=student.pk, changes={"sex": "2"}, reason="核对"
        )
    assert codes(refused.value) == {("sex", "id.sex_mismatch")}


def test_a_wrong_id_number_is_corrected_with_the_birth_date_and_the_g_number_follows(
    student, school_user
):
    old_number = student.number
    born = date(2016, 6, 17)
    new_id = resident_id("440106", born, "1", seq=125)
    student_correct(
        actor=school_user,
        student_id=student.pk,
        changes={"id_number": new_id, "birth_date": born.isoformat()},
        reason="身份证件号录入错误",
    )
    stored = Student.objects.get(pk=student.pk)
    assert identity.read_id(stored) == new_id
    assert stored.birth_date == born
    assert (stored.number, stored.number_kind) == ("G" + new_id, NumberKind.G)
    old = StudentNumber.objects.get(identity.number_q(old_number))
    assert old.retired_at is not None and old.student_id == student.pk
    detail = events_of(student)[-1].detail
    # ID numbers (and the G numbers that carry them) are masked in the history
    assert detail["id_number"] == [
        identity.mask_number(old_number[1:]),
        identity.mask_number(new_id),
    ]
    assert detail["number"] == [
        identity.mask_student_number(old_number),
        identity.mask_student_number("G" + new_id),
    ]
    assert detail["birth_date"] == ["2016-05-17", "2016-06-17"]
    assert new_id not in str(detail) and new_id not in str(
        AuditEvent.objects.get(action="student.correct").detail
    )
    # the student is found by the new number and ID
    assert Student.objects.get(id_key=identity.id_key("1", new_id)).pk == student.pk


def test_an_id_number_of_another_student_is_refused(student, school_user, make_student):
    other = make_student(born=date(2016, 7, 1), sex_code="2")
    with pytest.raises(Conflict) as refused:
        student_correct(
            actor=school_user,
            student_id=student.pk,
            changes={
                "id_number": identity.read_id(other),
                "birth_date": "2016-07-01",
                "sex": "2",
            },
            reason="核对",
        )
    assert refused.value.code == "student.duplicate_id"
    assert Student.objects.get(pk=student.pk).number == student.number


def test_a_correction_that_would_change_the_kind_of_number_is_refused(student, school_user):
    with pytest.raises(ValidationFailed) as refused:
        student_correct(
            actor=school_user,
            student_id=student.pk,
            changes={"id_type": "5", "id_number": "E12345678", "nationality": "CAN"},
            reason="核对",
        )
    assert codes(refused.value) == {("id_number", "correct.number_kind")}
    assert Student.objects.get(pk=student.pk).id_type == "1"


def test_a_chinese_national_needs_an_ethnicity(student, school_user):
    with pytest.raises(ValidationFailed) as refused:
        student_correct(
            actor=school_user, student_id=student.pk, changes={"ethnicity": ""}, reason="核对"
        )
    assert codes(refused.value) == {("ethnicity", "required")}


@pytest.mark.parametrize(
    ("changes", "reason", "expected"),
    [
        ({"grade": "14"}, "升级", {("grade", "correct.not_basic")}),
        ({"name": "张晓明"}, "  ", {("reason", "reason.required")}),
        ({"name": "张小明"}, "核对", {("changes", "correct.nothing")}),
        ({}, "核对", {("changes", "correct.nothing")}),
    ],
)
def test_corrections_without_a_reason_or_a_real_change_are_refused(
    student, school_user, changes, reason, expected
):
    with pytest.raises(ValidationFailed) as refused:
        student_correct(actor=school_user, student_id=student.pk, changes=changes, reason=reason)
    assert codes(refused.value) == expected
    assert len(events_of(student)) == 1


def test_basic_data_are_frozen_after_graduation(student, school_user):
    move_to(student, StatusState.GRADUATED, EventKind.GRADUATE)
    with pytest.raises(Conflict) as refused:
        student_correct(
            actor=school_user, student_id=student.pk, changes={"name": "张晓明"}, reason="核对"
        )
    assert refused.value.code == "student.frozen"
    assert Student.objects.get(pk=student.pk).name == "张小明"
    assert [e.kind for e in events_of(student)] == [EventKind.REGISTER, EventKind.GRADUATE]
    assert not AuditEvent.objects.filter(action="student.correct").exists()


def test_a_graduate_who_enrols_again_can_be_corrected_again(student, school_user):
    move_to(student, StatusState.GRADUATED, EventKind.GRADUATE)
    move_to(student, StatusState.ENROLLED, EventKind.REACTIVATE)
    student_correct(
        actor=school_user, student_id=student.pk, changes={"former_name": "张明"}, reason="补录"
    )
    assert Student.objects.get(pk=student.pk).former_name == "张明"


def test_a_cancelled_record_is_not_corrected(student, school_user):
    move_to(student, StatusState.CANCELLED)
    with pytest.raises(Conflict) as refused:
        student_correct(
            actor=school_user, student_id=student.pk, changes={"name": "张晓明"}, reason="核对"
        )
    assert refused.value.code == "student.cancelled"


def test_only_the_school_holding_the_record_corrects(student, other_school_user, county_user):
    with pytest.raises(NotFound):
        student_correct(
            actor=other_school_user,
            student_id=student.pk,
            changes={"name": "张晓明"},
            reason="核对",
        )
    # a reviewer reads, but does not correct, basic data
    with pytest.raises(Forbidden):
        student_correct(
            actor=county_user, student_id=student.pk, changes={"name": "张晓明"}, reason="核对"
        )


def test_stored_data_the_correction_does_not_touch_is_not_judged(student, school_user):
    # An old import left a class name the registration would refuse today.
    StatusRecord.objects.filter(pk=student.pk).update(class_name="<1班>")
    student_correct(
        actor=school_user, student_id=student.pk, changes={"health": "20"}, reason="体检"
    )
    assert Student.objects.get(pk=student.pk).health == "20"


# ----------------------------------------------------------------- the API and the page


def test_the_api_corrects_and_answers_with_the_student(student, school_user):
    client = Client()
    client.force_login(school_user)
    response = client.patch(
        f"/api/students/{student.pk}",
        {"changes": {"name": "张晓明", "ethnicity": "02"}, "reason": "户口簿"},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["name"], body["ethnicity"]) == ("张晓明", "02")
    assert body["history"][-1]["kind"] == EventKind.CORRECT


def test_the_api_refuses_with_codes(student, school_user, other_school_user):
    client = Client()
    client.force_login(school_user)
    response = client.patch(
        f"/api/students/{student.pk}",
        {"changes": {"sex": "9"}, "reason": "核对"},
        content_type="application/json",
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "sex.invalid"
    move_to(student, StatusState.GRADUATED, EventKind.GRADUATE)
    response = client.patch(
        f"/api/students/{student.pk}",
        {"changes": {"name": "张晓明"}, "reason": "核对"},
        content_type="application/json",
    )
    assert (response.status_code, response.json()["code"]) == (409, "student.frozen")
    outsider = Client()
    outsider.force_login(other_school_user)
    response = outsider.patch(
        f"/api/students/{student.pk}",
        {"changes": {"name": "张晓明"}, "reason": "核对"},
        content_type="application/json",
    )
    assert response.status_code == 404


def test_the_page_shows_the_stored_values_and_corrects_what_changed(student, school_user):
    client = Client()
    client.force_login(school_user)
    url = f"/students/{student.pk}/correct/"
    page = client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'value="张小明"' in html
    assert identity.read_id(student) not in html  # the ID is never shown in full
    form = {
        "name": "张小明",
        "former_name": "",
        "name_pinyin": student.name_pinyin,
        "sex": "1",
        "birth_date": "2016-05-17",
        "ethnicity": "01",
        "nationality": "CHN",
        "id_type": "1",
        "id_number": "",
        "id_valid_until": "",
        "hmt_code": student.hmt_code,
        "birthplace_code": student.birthplace_code,
        "native_place_code": "",
        "household_place_code": "",
        "household_type": "",
        "health": student.health,
        "reason": "",
    }
    # no reason: the form comes back with the error beside the field
    refused = client.post(url, {**form, "former_name": "张明"})
    assert refused.status_code == 422
    assert "请填写更正原因" in refused.content.decode()
    done = client.post(url, {**form, "former_name": "张明", "reason": "补录曾用名"})
    assert done.status_code == 302 and done["Location"] == f"/students/{student.pk}/"
    stored = Student.objects.get(pk=student.pk)
    assert stored.former_name == "张明"
    assert events_of(student)[-1].detail == {"former_name": ["", "张明"]}


def test_the_page_of_a_graduate_offers_no_form(student, school_user):
    move_to(student, StatusState.GRADUATED, EventKind.GRADUATE)
    client = Client()
    client.force_login(school_user)
    page = client.get(f"/students/{student.pk}/correct/")
    assert page.status_code == 200
    assert "基础信息已冻结" in page.content.decode()
    assert '<form method="post" action="/students/' not in page.content.decode()
    posted = client.post(f"/students/{student.pk}/correct/", {"name": "张晓明", "reason": "核对"})
    assert posted.status_code == 422
    assert Student.objects.get(pk=student.pk).name == "张小明"


def test_the_page_is_not_found_out_of_scope(student, other_school_user):
    client = Client()
    client.force_login(other_school_user)
    assert client.get(f"/students/{student.pk}/correct/").status_code == 404
    reviewer = Client()
    reviewer.force_login(authority_user("440106"))
    assert reviewer.get(f"/students/{student.pk}/correct/").status_code == 403
