"""Answers across scope say only what the asker may know (issue 10, finding 2).

As a school clerk, the duplicate check (``POST /api/students/validate``, the page's 校验
button) returned a student in another province with its internal id, number, school and
state; ``POST /api/students`` answered an out-of-scope ID number with the holder's school
and state; filing a transfer with the number and name of an out-of-scope student told its
state, grade or open request. Each entry point is tried in scope (the full answer, as
before) and out of scope (the minimal one), the authorities above included: a county, a
province and the nation see their whole subtree.
"""

from datetime import date

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from tests.factories import SchoolFactory, make_user, registration
from xueji.accounts.models import Role, Unit
from xueji.accounts.services import unit_ensure_for_division, unit_ensure_national
from xueji.anomalies.models import Finding
from xueji.anomalies.rules import FindingKind
from xueji.audit.models import AuditEvent
from xueji.changes import services as changes
from xueji.enrolment.models import StatusRecord
from xueji.enrolment.rules import StatusState
from xueji.errors import Conflict, ValidationFailed
from xueji.schools.rules import SchoolType
from xueji.students import identity
from xueji.students.models import Student
from xueji.students.services import student_register

pytestmark = pytest.mark.django_db

BORN = date(2017, 3, 8)
REFERRAL = "请向家长索取学籍号后办理转入"
OUTSIDE_NOTICE = "辖区外存在可能重复的学籍"


# ---------------------------------------------------------------- the world


@pytest.fixture
def places(school):
    """The clerk's school (天河区 440106), another school of the same county, one in another
    county of the same city (越秀区 440104) and one in another province (锦江区 510104)."""
    return {
        "own": school,
        "county": SchoolFactory(name="天河区第二小学", division_code="440106"),
        "city": SchoolFactory(name="越秀区育才小学", division_code="440104"),
        "far": SchoolFactory(name="锦江区实验小学", division_code="510104"),
    }


def clerk_of(unit) -> object:
    return make_user(unit, roles=(Role.CLERK,))


def authority_clerk(level: str):
    unit = (
        unit_ensure_national()
        if level == "nation"
        else unit_ensure_for_division(division_code=level)
    )
    return clerk_of(unit)


def registered(school, **overrides) -> Student:
    """A student registered at ``school`` by that school's own clerk."""
    data = registration(school, born=BORN, sex_code="1", **overrides)
    return student_register(actor=clerk_of(school.unit), data=data, confirm_distinct=True).student


def api(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def payload(school, **overrides) -> dict:
    data = registration(school, born=BORN, sex_code="1", **overrides)
    guardian = {
        "name": data.pop("guardian_name"),
        "relation": data.pop("guardian_relation"),
        "id_number": data.pop("guardian_id_number"),
        "phone": data.pop("guardian_phone"),
    }
    return {**data, "guardians": [guardian], "non_basic": {"left_behind": data.pop("left_behind")}}


def validate(user, school, **overrides) -> tuple[dict, str]:
    response = api(user).post(
        "/api/students/validate", payload(school, **overrides), content_type="application/json"
    )
    assert response.status_code == 200, response.content
    return response.json(), response.content.decode()


def assert_nothing_of(text: str, student: Student, *, typed_id: bool = False) -> None:
    """No trace of the student beyond its school: number (full or masked), ID (unless the
    asker typed it: the form shows it back), name, state."""
    record = student.record
    for secret in (
        student.number,
        student.number_masked,
        "\x00" if typed_id else identity.read_id(student),
        "\x00" if typed_id else identity.mask_student_number(student.number)[-4:] + '"',
        student.name,
        str(StatusState(record.state).label),
        f'"student_id": {student.pk}',
        f'"student_id":{student.pk}',
    ):
        assert secret not in text, secret


def outside_audits(actor) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(actor_id=actor.pk, action="student.duplicate_outside").order_by(
            "pk"
        )
    )


# ---------------------------------------------------------------- exact matches: validate


def test_validate_exact_match_outside_scope_names_the_school_only(places, school_user):
    holder = registered(places["far"])
    body, text = validate(school_user, places["own"], id_number=identity.read_id(holder))
    assert body["ok"] is False and body["existing_outside"] is True
    assert body["existing_number_masked"] is None and body["existing_action"] == "refuse"
    assert "锦江区实验小学" in body["existing_message"] and REFERRAL in body["existing_message"]
    assert_nothing_of(text, holder)
    [event] = outside_audits(school_user)
    assert event.detail["student_ids"] == [holder.pk] and event.detail["exact"] is True
    assert event.detail["step"] == "check"


@pytest.mark.parametrize(
    ("level", "where"),
    [("440106", "county"), ("440100", "city"), ("440000", "city"), ("nation", "far")],
)
def test_validate_exact_match_in_scope_is_answered_in_full(places, level, where):
    """A county sees its county, a city and a province their whole subtree, the nation
    everything: the full answer, not audited as outside."""
    holder = registered(places[where])
    asker = authority_clerk(level)
    body, _text = validate(asker, places["own"], id_number=identity.read_id(holder))
    assert body["existing_outside"] is False and body["existing_message"] == ""
    assert body["existing_number_masked"] == holder.number_masked
    assert outside_audits(asker) == []


def test_a_county_does_not_see_the_next_county(places):
    holder = registered(places["city"])  # 越秀区
    asker = authority_clerk("440106")
    body, text = validate(asker, places["own"], id_number=identity.read_id(holder))
    assert body["existing_outside"] is True and "越秀区育才小学" in body["existing_message"]
    assert_nothing_of(text, holder)
    assert len(outside_audits(asker)) == 1


def test_a_school_clerk_sees_its_own_school_in_full(places, school_user):
    holder = registered(places["own"])
    body, _text = validate(school_user, places["own"], id_number=identity.read_id(holder))
    assert body["existing_number_masked"] == holder.number_masked
    assert body["existing_outside"] is False and outside_audits(school_user) == []


# ---------------------------------------------------------------- exact matches: register (409)


def test_register_409_outside_scope_tells_only_the_school(places, school_user):
    holder = registered(places["far"])
    before = Student.objects.count()
    response = api(school_user).post(
        "/api/students",
        payload(places["own"], id_number=identity.read_id(holder)),
        content_type="application/json",
    )
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "student.duplicate_id"
    assert "锦江区实验小学" in body["message"] and REFERRAL in body["message"]
    assert body["detail"] == {"outside_scope": True, "school_name": "锦江区实验小学"}
    assert_nothing_of(response.content.decode(), holder)
    assert Student.objects.count() == before
    [event] = outside_audits(school_user)
    assert event.detail == {"step": "register", "exact": True, "student_ids": [holder.pk]}


def test_register_409_in_scope_is_answered_in_full(places):
    holder = registered(places["far"])
    asker = authority_clerk("510000")  # 四川省: its own subtree
    response = api(asker).post(
        "/api/students",
        payload(places["far"], id_number=identity.read_id(holder)),
        content_type="application/json",
    )
    assert response.status_code == 409
    body = response.json()
    assert body["detail"]["student_id"] == holder.pk
    assert body["detail"]["number_masked"] == holder.number_masked
    assert "锦江区实验小学" in body["message"]


def test_reactivation_outside_scope_hides_number_and_state(places, school_user):
    holder = registered(places["far"])
    StatusRecord.objects.filter(pk=holder.pk).update(state=StatusState.LEFT)
    data = payload(places["own"], id_number=identity.read_id(holder), name=holder.name)
    response = api(school_user).post("/api/students", data, content_type="application/json")
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "student.known" and "锦江区实验小学" in body["message"]
    assert body["detail"] == {"outside_scope": True, "school_name": "锦江区实验小学"}
    text = response.content.decode()
    assert holder.number_masked not in text and str(StatusState.LEFT.label) not in text


# ---------------------------------------------------------------- fuzzy candidates


def test_fuzzy_candidates_outside_scope_are_not_listed(places, school_user):
    other = registered(places["far"], name="张伟")
    body, text = validate(school_user, places["own"], name="张玮", id_type="", id_number="")
    assert body["ok"] is False and body["candidates"] == []
    assert body["outside_candidates"] is True and OUTSIDE_NOTICE in body["outside_message"]
    assert_nothing_of(text, other)
    assert "锦江区实验小学" not in text
    [event] = outside_audits(school_user)
    assert event.detail == {"step": "check", "exact": False, "student_ids": [other.pk]}


@pytest.mark.parametrize(("level", "where"), [("440106", "county"), ("nation", "far")])
def test_fuzzy_candidates_in_scope_are_listed(places, level, where):
    other = registered(places[where], name="张伟")
    asker = authority_clerk(level)
    body, _text = validate(asker, places["own"], name="张玮", id_type="", id_number="")
    assert [c["student_id"] for c in body["candidates"]] == [other.pk]
    assert body["outside_candidates"] is False and outside_audits(asker) == []


@pytest.mark.parametrize(("where", "prefix"), [("far", ""), ("city", "4401")])
def test_registering_past_outside_candidates_raises_a_finding_for_the_unit_above(
    places, school_user, where, prefix
):
    """The clerk confirms without seeing them: the lowest unit covering both records (the
    nation for two provinces, the city for two of its counties) gets a duplicate finding."""
    other = registered(places[where], name="张伟")
    client = api(school_user)
    data = payload(places["own"], name="张玮", id_type="", id_number="")
    refused = client.post("/api/students", data, content_type="application/json")
    assert refused.status_code == 409
    assert refused.json()["code"] == "student.possible_duplicate"
    assert refused.json()["detail"] == {"candidates": [], "outside_scope": True}
    assert OUTSIDE_NOTICE in refused.json()["message"]
    assert_nothing_of(refused.content.decode(), other)
    created = client.post(
        "/api/students", {**data, "confirm_distinct": True}, content_type="application/json"
    )
    assert created.status_code == 201, created.content
    new_id = created.json()["student"]["id"]
    finding = Finding.objects.get(kind=FindingKind.DUPLICATE)
    assert {finding.student_id, finding.other_student_id} == {new_id, other.pk}
    assert "registration" in finding.evidence
    unit = Unit.objects.get(pk=finding.unit_id)
    assert unit.area_prefix == prefix


# ---------------------------------------------------------------- the registration page


@pytest.fixture
def page(client, school_user):
    client.force_login(school_user)
    return client


def form(school, **overrides) -> dict:
    data = registration(school, born=BORN, sex_code="1", **overrides)
    return {key: "" if value is None else str(value) for key, value in data.items()}


def test_page_check_outside_scope(page, places, school_user):
    holder = registered(places["far"], name="张伟")
    exact = page.post(
        reverse("students:check"),
        form(places["own"], id_number=identity.read_id(holder)),
    ).content.decode()
    assert "锦江区实验小学" in exact and REFERRAL in exact
    assert_nothing_of(exact, holder, typed_id=True)
    fuzzy = page.post(
        reverse("students:check"), form(places["own"], name="张玮", id_type="", id_number="")
    )
    html = fuzzy.content.decode()
    assert OUTSIDE_NOTICE in html and "锦江区实验小学" not in html
    assert_nothing_of(html, holder)
    assert len(outside_audits(school_user)) == 2


def test_page_check_in_scope_lists_in_full(page, places):
    holder = registered(places["own"], name="张伟")
    html = page.post(
        reverse("students:check"), form(places["own"], name="张玮", id_type="", id_number="")
    )
    text = html.content.decode()
    assert holder.name in text and holder.number_masked in text
    assert OUTSIDE_NOTICE not in text


# ---------------------------------------------------------------- transfer filing


def application() -> list:
    return [("application", SimpleUploadedFile("申请表.pdf", b"%PDF-1.4\n", "application/pdf"))]


def file_transfer(actor, student, **extra):
    return changes.transfer_file(
        actor=actor,
        student_number=student.number,
        student_name=student.name,
        reason="随父母工作调动转学",
        uploads=application(),
        **extra,
    )


def test_transfer_of_an_outside_student_does_not_tell_its_state(places, school_user):
    student = registered(places["far"])
    StatusRecord.objects.filter(pk=student.pk).update(state=StatusState.GRADUATED)
    with pytest.raises(ValidationFailed) as refused:
        file_transfer(school_user, student)
    codes = [e.code for e in refused.value.errors]
    assert codes == ["transfer.not_possible"]
    assert str(StatusState.GRADUATED.label) not in str([e.message for e in refused.value.errors])
    event = AuditEvent.objects.get(action="change.file_refused_outside")
    assert event.object_id == str(student.pk) and event.detail == {"codes": ["change.state"]}


def test_transfer_of_an_outside_student_does_not_tell_its_grade(places):
    junior = SchoolFactory(name="天河区第一中学", division_code="440106")
    junior.school_type = SchoolType.JUNIOR
    junior.save()
    student = registered(places["far"])  # primary, grade 3
    with pytest.raises(ValidationFailed) as refused:
        file_transfer(clerk_of(junior.unit), student)
    assert [e.code for e in refused.value.errors] == ["transfer.not_possible"]
    assert "年级" not in refused.value.errors[0].message.split("（")[0]


def test_transfer_of_an_outside_student_does_not_tell_an_open_request(places, school_user):
    student = registered(places["far"])
    first = file_transfer(clerk_of(places["county"].unit), student)
    with pytest.raises(Conflict) as refused:
        file_transfer(school_user, student)
    assert refused.value.code == "transfer.not_possible" and refused.value.detail == {}
    assert str(first.pk) not in str(refused.value.as_dict())


def test_transfer_api_answer_outside_scope(places, school_user):
    student = registered(places["far"])
    StatusRecord.objects.filter(pk=student.pk).update(state=StatusState.GRADUATED)
    response = api(school_user).post(
        "/api/changes/transfers",
        {"student_number": student.number, "student_name": student.name, "reason": "随迁"},
        content_type="application/json",
    )
    assert response.status_code in (400, 422), response.content
    codes = {e["code"] for e in response.json()["errors"]}
    assert "transfer.not_possible" in codes and "change.state" not in codes
    assert str(StatusState.GRADUATED.label) not in response.content.decode()


def test_transfer_in_scope_keeps_the_precise_refusal(places):
    """An authority filing for a school of its subtree, the student in that subtree too:
    the refusal names the state, as before."""
    student = registered(places["county"])
    StatusRecord.objects.filter(pk=student.pk).update(state=StatusState.GRADUATED)
    county = make_user(unit_ensure_for_division(division_code="440106"), roles=(Role.REVIEWER,))
    with pytest.raises(ValidationFailed) as refused:
        file_transfer(county, student, target_school_id=places["own"].pk)
    assert "change.state" in [e.code for e in refused.value.errors]
    assert not AuditEvent.objects.filter(action="change.file_refused_outside").exists()


def test_transfer_of_an_outside_student_still_names_the_filers_own_mistakes(places, school_user):
    student = registered(places["far"])
    with pytest.raises(ValidationFailed) as refused:
        changes.transfer_file(
            actor=school_user,
            student_number=student.number,
            student_name=student.name,
            reason="",
            uploads=application(),
        )
    assert [e.code for e in refused.value.errors] == ["reason.required"]
