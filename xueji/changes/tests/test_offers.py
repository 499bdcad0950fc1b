"""Only the changes a student's state, stage and grade and the province's rules allow are
offered; a refusal at filing names the rule in Chinese, never an internal field key
(issue 11 #5: a primary pupil was offered 开除, 退学 and 普职转换; 开除 was refused only on
submit, as "stage：…")."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from tests.factories import SchoolFactory, make_user
from xueji.changes import services
from xueji.changes.forms import FILEABLE_TYPES
from xueji.changes.rules import ChangeType
from xueji.changes.rulesets import ruleset_publish
from xueji.enrolment.models import StatusRecord
from xueji.errors import ValidationFailed
from xueji.schools.rules import SchoolType

pytestmark = pytest.mark.django_db

SENIOR_ONLY = {ChangeType.EXPEL, ChangeType.WITHDRAW, ChangeType.PROGRAMME}


def client_of(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def offered(page: str) -> set[str]:
    return set(re.findall(r'data-offer="(\w+)"', page))


def excluded(page: str) -> set[str]:
    return set(re.findall(r'data-excluded="(\w+)"', page))


def test_a_primary_pupil_is_not_offered_senior_changes(make_student, school_user):
    pupil = make_student(grade="13")
    page = client_of(school_user).get(f"/changes/new/?student={pupil.pk}").content.decode()
    shown = offered(page)
    assert not shown & SENIOR_ONLY
    assert excluded(page) >= SENIOR_ONLY
    assert "开除只适用于高中阶段学生" in page
    # An enrolled pupil is not offered what needs another state (复学, 出境返回) either,
    # nor demotion outside special education; what is left is offered.
    assert ChangeType.RESUME not in shown and ChangeType.RETURN not in shown
    assert ChangeType.DEMOTE not in shown
    assert {ChangeType.SUSPEND, ChangeType.DEFER, ChangeType.REPEAT} <= shown
    assert shown | excluded(page) == {str(t) for t in FILEABLE_TYPES}


def test_a_senior_student_is_offered_them(make_student, school_user):
    senior = SchoolFactory(school_type=SchoolType.SENIOR, name="天河区高级中学")
    clerk = make_user(senior.unit)
    student = make_student(school=senior, actor=clerk, grade="32", entry_date="2024-09")
    page = client_of(clerk).get(f"/changes/new/?student={student.pk}").content.decode()
    assert offered(page) >= SENIOR_ONLY


def test_a_type_the_province_closed_is_not_offered(make_student, school_user, province_user):
    ruleset_publish(
        actor=province_user,
        province_code="44",
        rules={"suspend": {"enabled": False}},
        note="本省暂停网上办理休学",
    )
    pupil = make_student(grade="13")
    page = client_of(school_user).get(f"/changes/new/?student={pupil.pk}").content.decode()
    assert ChangeType.SUSPEND not in offered(page)
    assert ChangeType.SUSPEND in excluded(page)
    assert "本省未开放此类学籍变动" in page


def test_asking_for_an_excluded_type_says_why_before_the_form(make_student, school_user):
    pupil = make_student(grade="13")
    page = client_of(school_user).get(f"/changes/new/?student={pupil.pk}&type=expel")
    text = page.content.decode()
    assert 'data-refused="expel"' in text
    assert "该学生现在不能办理开除：开除只适用于高中阶段学生" in text
    assert 'name="reason"' not in text  # no form to fill in


def test_filing_an_excluded_type_names_the_rule_without_a_field_key(make_student, school_user):
    pupil = make_student(grade="13")
    response = client_of(school_user).post(
        f"/changes/new/?student={pupil.pk}&type=expel",
        {
            "reason": "严重违纪",
            "material_disciplinary_decision": SimpleUploadedFile(
                "决定书.pdf", b"%PDF-1.4\n", content_type="application/pdf"
            ),
        },
    )
    text = response.content.decode()
    assert "开除只适用于高中阶段学生" in text
    assert "stage：" not in text and "state：" not in text
    assert StatusRecord.objects.get(pk=pupil.pk).state == "enrolled"


ELIGIBILITY = {
    "change.disabled",
    "change.state",
    "change.senior_only",
    "change.blocked_period",
    "grade.out_of_stage",
    "demote.special_only",
}


@pytest.mark.parametrize("grade", ["11", "16", "23"])
def test_offers_and_filing_agree(make_student, school_user, grade):
    """A type offered is not refused at filing for a reason of eligibility; a type excluded
    is refused at filing for exactly the reasons the page gave."""
    school = school_user.unit.school
    if grade.startswith("2"):
        school = SchoolFactory(school_type=SchoolType.JUNIOR)
    clerk = school_user if school == school_user.unit.school else make_user(school.unit)
    pupil = make_student(school=school, actor=clerk, grade=grade, entry_date="2020-09")
    record = StatusRecord.objects.select_related("school").get(pk=pupil.pk)
    for offer in services.change_offers(record, types=FILEABLE_TYPES):
        try:
            services.change_file(
                actor=clerk,
                student_id=pupil.pk,
                change_type=offer.change_type,
                effective_date=services.clock.today(),
                reason="测试",
            )
        except ValidationFailed as refusal:
            codes = {e.code for e in refusal.errors} & ELIGIBILITY
        else:
            codes = set()
            services.ChangeRequest.objects.filter(student_id=pupil.pk).update(state="withdrawn")
        assert codes == {e.code for e in offer.refusals}, offer.change_type
