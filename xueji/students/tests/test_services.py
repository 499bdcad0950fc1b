"""Registration: validation, the duplicate check, numbers, reactivation, history, audit."""

from datetime import date

import pytest

from tests.factories import registration, resident_id
from xueji.audit.models import AuditEvent
from xueji.enrolment.models import StatusEvent, StatusRecord
from xueji.enrolment.rules import StatusState
from xueji.errors import Conflict, NotFound, ValidationFailed
from xueji.students import identity
from xueji.students.models import Guardian, NonBasicInfo, Student, StudentNumber
from xueji.students.services import (
    student_attach_resident_id,
    student_check_registration,
    student_register,
)

pytestmark = pytest.mark.django_db


def test_register_creates_person_record_number_history_and_audit(school_user, school):
    # given
    data = registration(school, name="李小龙", class_name="3班")
    # when
    student = student_register(actor=school_user, data=data).student
    # then
    assert student.number == "G" + data["id_number"]
    assert student.number_kind == "G"
    record = StatusRecord.objects.get(student=student)
    assert (record.school_id, record.grade, record.class_name, record.state) == (
        school.pk,
        "13",
        "3班",
        "enrolled",
    )
    assert record.area_code == "440106" and record.stage == "1"
    assert StudentNumber.objects.filter(identity.number_q(student.number), student=student).exists()
    event = StatusEvent.objects.get(record=record)
    assert (
        event.kind == "register"
        and event.to_state == "enrolled"
        and event.effective_date == date(2024, 9, 1)
    )
    assert Guardian.objects.get(student=student).relation == "52"
    assert NonBasicInfo.objects.get(student=student).data["left_behind"] is False
    audit = AuditEvent.objects.get(action="student.register")
    assert audit.actor_id == school_user.pk and audit.object_id == str(student.pk)
    assert student.name_pinyin == "li xiao long"


def test_rare_character_name_is_stored_exactly(school_user, school):
    name = "王𠇔䶮𪚥"
    student = student_register(actor=school_user, data=registration(school, name=name)).student
    student.refresh_from_db()
    assert student.name == name
    assert student.name.encode("utf-8") == name.encode("utf-8")


def test_second_record_for_one_id_is_refused(school_user, school, other_school_user, other_school):
    data = registration(school)
    first = student_register(actor=school_user, data=data).student
    again = registration(
        other_school, id_number=data["id_number"], birth_date=data["birth_date"], sex=data["sex"]
    )
    with pytest.raises(Conflict) as caught:
        student_register(actor=other_school_user, data=again)
    assert caught.value.code == "student.duplicate_id"
    # Another province's school: where the child is, nothing more (issue 10, finding 2).
    assert school.name in caught.value.message
    assert first.number_masked not in caught.value.message
    assert first.number not in caught.value.message
    assert Student.objects.count() == 1


def test_lower_case_x_and_spaces_find_the_same_person(school_user, school):
    born = date(2017, 3, 8)
    number = next(
        n
        for n in (resident_id("440106", born, "2", seq=s) for s in range(0, 999, 2))
        if n.endswith("X")
    )
    student_register(actor=school_user, data=registration(school, id_number=number))
    with pytest.raises(Conflict):
        student_register(
            actor=school_user, data=registration(school, id_number=f"  {number.lower()} ")
        )


def test_similar_name_same_birth_and_sex_is_a_candidate(school_user, school):
    first = student_register(actor=school_user, data=registration(school, name="张伟")).student
    again = registration(school, name="章伟", id_type="", id_number="")
    check = student_check_registration(actor=school_user, data=again)
    assert not check.ok
    assert [c.number_masked for c in check.candidates] == [first.number_masked]
    assert any("拼音" in reason for reason in check.candidates[0].reasons)
    with pytest.raises(Conflict) as caught:
        student_register(actor=school_user, data=again)
    assert caught.value.code == "student.possible_duplicate"
    second = student_register(actor=school_user, data=again, confirm_distinct=True).student
    assert second.pk != first.pk


def test_day_and_month_swapped_is_a_candidate(school_user, school):
    first = student_register(
        actor=school_user, data=registration(school, name="王子轩", born=date(2017, 3, 8))
    ).student
    check = student_check_registration(
        actor=school_user,
        data=registration(school, name="王子宣", born=date(2017, 8, 3), id_type="", id_number=""),
    )
    assert [c.student_id for c in check.candidates] == [first.pk]
    assert "性别相同，出生日期日月颠倒" in check.candidates[0].reasons


def test_two_valid_resident_ids_are_never_candidates(school_user, school):
    """Same name, birth date, sex and guardian, but two resident ID numbers: two people."""
    first = student_register(actor=school_user, data=registration(school, name="张伟")).student
    twin = registration(
        school,
        name="张伟",
        guardian_id_number=identity.read_id(first.guardians.get()),
    )
    check = student_check_registration(actor=school_user, data=twin)
    assert check.ok and check.candidates == []
    # The same data without the ID, or under a passport, is a candidate.
    for other_document in (
        {"id_type": "", "id_number": ""},
        {"id_type": "5", "id_number": "E12345678"},
    ):
        check = student_check_registration(actor=school_user, data={**twin, **other_document})
        assert [c.student_id for c in check.candidates] == [first.pk], other_document


def test_different_name_is_no_candidate(school_user, school):
    student_register(actor=school_user, data=registration(school, name="张伟"))
    check = student_check_registration(
        actor=school_user, data=registration(school, name="欧阳娜娜")
    )
    assert check.ok and check.candidates == []


def test_returning_dropout_is_reactivated_not_created(school_user, school):
    data = registration(school)
    student = student_register(actor=school_user, data=data).student
    StatusRecord.objects.filter(pk=student.pk).update(state=StatusState.DROPPED_OUT)
    with pytest.raises(Conflict) as caught:
        student_register(actor=school_user, data=data)
    assert caught.value.code == "student.known"
    result = student_register(actor=school_user, data={**data, "grade": "14"}, reactivate=True)
    assert result.reactivated and result.student.pk == student.pk
    assert Student.objects.count() == 1
    record = StatusRecord.objects.get(pk=student.pk)
    assert record.state == "enrolled" and record.grade == "14"
    assert list(StatusEvent.objects.filter(record=record).values_list("kind", flat=True)) == [
        "register",
        "reactivate",
    ]


def test_student_without_id_gets_temporary_number_then_upgrades_to_g(school_user, school):
    data = registration(school, id_type="", id_number="")
    student = student_register(actor=school_user, data=data).student
    assert (
        student.number_kind == "L"
        and student.number.startswith("L440106")
        and len(student.number) == 19
    )
    number = resident_id("440106", date(2017, 3, 8), "2")
    upgraded = student_attach_resident_id(
        actor=school_user, student_id=student.pk, id_number=number
    )
    assert upgraded.number == "G" + number
    numbers = list(
        StudentNumber.objects.filter(student=student)
        .order_by("issued_at")
        .values_list("number", "retired_at")
    )
    assert numbers[0][0] == student.number and numbers[0][1] is not None
    assert numbers[1] == ("G" + number, None)


def test_passport_holder_gets_j_number_with_valid_check(school_user, school):
    from xueji.students.rules import validate_student_number

    data = registration(
        school,
        id_type="5",
        id_number="E12345678",
        nationality="KOR",
        ethnicity="",
        name="KIM MINJUN",
    )
    first = student_register(actor=school_user, data=data).student
    second = student_register(
        actor=school_user,
        data=registration(
            school,
            id_type="5",
            id_number="E87654321",
            nationality="USA",
            ethnicity="",
            name="SMITH ANN",
        ),
    ).student
    assert first.number_kind == "J" and first.number[1:7] == "440106"
    assert validate_student_number(first.number)[0]
    assert first.number[15:18] == "001" and second.number[15:18] == "002"


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("id_number", "WRONG_CHECK", "id.checksum"),
        ("birth_date", "2017-02-30", "date.invalid"),
        ("birth_date", "2099-01-01", "date.future"),
        ("id_number", "999999201703080021", "id.area_unknown"),
        ("grade", "41", "grade.unknown"),
        ("sex", "3", "sex.invalid"),
        ("ethnicity", "77", "code_unknown"),
        ("name", "张3", "name.invalid"),
        ("entry_date", "2024-13", "date.invalid"),
        ("guardian_phone", "12345", "phone"),
        ("birthplace_code", "000000", "division.unknown"),
    ],
)
def test_bad_values_are_refused_with_field_and_code(school_user, school, field, value, code):
    data = registration(school)
    if value == "WRONG_CHECK":
        good = data["id_number"]
        value = good[:17] + ("1" if good[17] != "1" else "2")
    data[field] = value
    with pytest.raises(ValidationFailed) as caught:
        student_register(actor=school_user, data=data)
    assert (field, code) in {(e.field, e.code) for e in caught.value.errors}
    assert Student.objects.count() == 0


def test_birth_date_must_match_id(school_user, school):
    data = registration(school, birth_date="2017-03-09")
    with pytest.raises(ValidationFailed) as caught:
        student_register(actor=school_user, data=data)
    assert "id.birth_mismatch" in {e.code for e in caught.value.errors}


def test_grade_not_offered_by_school_type(school_user, school):
    with pytest.raises(ValidationFailed) as caught:
        student_register(actor=school_user, data=registration(school, grade="31"))
    assert caught.value.errors[0].code == "grade.not_offered"


def test_clerk_cannot_register_at_a_school_outside_scope(school_user, other_school):
    with pytest.raises(NotFound):
        student_register(actor=school_user, data=registration(other_school))


def test_reviewer_cannot_register(county_user, school):
    from xueji.errors import Forbidden

    with pytest.raises(Forbidden):
        student_register(actor=county_user, data=registration(school))


def test_id_numbers_only_through_identity_module(school_user, school):
    data = registration(school)
    student = student_register(actor=school_user, data=data).student
    assert identity.read_id(student) == data["id_number"]
    assert student.id_key == identity.id_key("1", data["id_number"])
    assert (
        identity.masked_id(student) == data["id_number"][:6] + "********" + data["id_number"][-4:]
    )
