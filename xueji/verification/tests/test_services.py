"""Campaign services: opening (scope, overlap, who may), the roll (opening, marking one by
one and "all present except", counts), sign-off and its refusals, closing, scope."""

from datetime import timedelta

import pytest

from tests.factories import authority_user
from xueji import clock
from xueji.audit.models import AuditEvent
from xueji.enrolment.models import StatusRecord
from xueji.enrolment.rules import StatusState
from xueji.errors import Conflict, Forbidden, NotFound, ValidationFailed
from xueji.verification import services
from xueji.verification.models import Campaign, RollMark, SchoolConfirmation
from xueji.verification.rules import CampaignState, ConfirmationState, Mark

from .conftest import deadline

pytestmark = pytest.mark.django_db

COUNTS = ("total", "present", "absent", "data_wrong", "unmarked")


def counts(confirmation) -> dict[str, int]:
    confirmation.refresh_from_db()
    return {name: getattr(confirmation, name) for name in COUNTS}


def confirmation_of(campaign, school) -> SchoolConfirmation:
    return SchoolConfirmation.objects.get(campaign=campaign, school=school)


# ----------------------------------------------------------------- opening


def test_a_province_campaign_gives_a_row_to_each_open_school_of_the_province_only(
    schools, enrol, open_campaign
):
    # given students at 天河 (3, one of them withdrawn), 越秀 (1) and 锦江 (2, Sichuan)
    tianhe = enrol(schools.tianhe, 3)
    enrol(schools.yuexiu, 1)
    enrol(schools.jinjiang, 2)
    StatusRecord.objects.filter(student=tianhe[0]).update(state=StatusState.WITHDRAWN)
    # when 广东 opens its campaign
    campaign = open_campaign("44")
    # then every open school of 广东 has a row, with its students on the roll counted
    rows = {c.school_id: c for c in SchoolConfirmation.objects.filter(campaign=campaign)}
    assert set(rows) == {
        schools.tianhe.pk,
        schools.tianhe2.pk,
        schools.yuexiu.pk,
        schools.futian.pk,
    }
    assert campaign.schools_total == 4
    assert rows[schools.tianhe.pk].total == rows[schools.tianhe.pk].unmarked == 2
    assert rows[schools.yuexiu.pk].total == 1
    assert rows[schools.tianhe2.pk].total == 0
    assert {c.state for c in rows.values()} == {ConfirmationState.NOT_STARTED}
    assert rows[schools.tianhe.pk].area_code == "440106"
    # no marks yet: they are created when a school opens its roll
    assert not RollMark.objects.exists()
    assert AuditEvent.objects.filter(action="campaign.open", object_id=str(campaign.pk)).exists()


def test_a_national_campaign_covers_every_open_school(schools, open_campaign):
    campaign = open_campaign("")
    covered = set(
        SchoolConfirmation.objects.filter(campaign=campaign).values_list("school_id", flat=True)
    )
    assert schools.jinjiang.pk in covered and schools.futian.pk in covered
    assert schools.closed.pk not in covered
    assert campaign.title.startswith("全国")


def test_a_campaign_overlapping_an_open_one_for_the_semester_is_refused(schools, open_campaign):
    first = open_campaign("")
    with pytest.raises(Conflict) as refused:
        open_campaign("44")
    assert refused.value.code == "campaign.overlap"
    assert refused.value.detail == {"campaign_id": first.pk}
    # the next semester is free
    year, semester = first.school_year, first.semester
    other = (year, 2) if semester == 1 else (year + 1, 1)
    later = open_campaign("44", school_year=other[0], semester=other[1], deadline=deadline(200))
    assert later.is_open


def test_two_provinces_may_run_campaigns_at_once(schools, open_campaign, national_user):
    open_campaign("44")
    sichuan = open_campaign("51", actor=national_user)
    assert SchoolConfirmation.objects.filter(campaign=sichuan).count() == 1


@pytest.mark.parametrize("who", ["county", "city", "clerk"])
def test_only_national_and_province_reviewers_open_campaigns(
    who, schools, open_campaign, county_user, city_user, school_user
):
    actor = {"county": county_user, "city": city_user, "clerk": school_user}[who]
    with pytest.raises(Forbidden):
        open_campaign("44", actor=actor)
    assert not Campaign.objects.exists()


def test_a_province_opens_for_itself_only(schools, open_campaign, province_user):
    with pytest.raises(Forbidden):
        open_campaign("", actor=province_user)
    with pytest.raises(NotFound):
        open_campaign("51", actor=province_user)


def test_an_opening_is_validated(schools, open_campaign, national_user):
    with pytest.raises(ValidationFailed) as refused:
        open_campaign("44", deadline=clock.today() - timedelta(days=1), semester=3)
    assert {e.code for e in refused.value.errors} == {"campaign.deadline_past", "campaign.semester"}
    with pytest.raises(ValidationFailed) as unknown:
        open_campaign("77", actor=national_user)
    assert [e.code for e in unknown.value.errors] == ["campaign.province_unknown"]


# ----------------------------------------------------------------- the roll


def test_opening_the_roll_creates_one_unmarked_mark_per_student_on_the_roll(
    schools, enrol, open_campaign, school_user
):
    students = enrol(schools.tianhe, 3)
    StatusRecord.objects.filter(student=students[2]).update(state=StatusState.GRADUATED)
    campaign = open_campaign()
    confirmation = services.roll_open(actor=school_user, campaign_id=campaign.pk)
    marks = RollMark.objects.filter(campaign=campaign)
    assert sorted(marks.values_list("student_id", flat=True)) == sorted(s.pk for s in students[:2])
    assert set(marks.values_list("mark", "school_id", "area_code")) == {
        (Mark.UNMARKED, schools.tianhe.pk, "440106")
    }
    assert counts(confirmation) == {
        "total": 2,
        "present": 0,
        "absent": 0,
        "data_wrong": 0,
        "unmarked": 2,
    }
    assert confirmation.state == ConfirmationState.IN_PROGRESS
    # opening again adds nothing
    services.roll_open(actor=school_user, campaign_id=campaign.pk)
    assert marks.count() == 2


def test_marking_one_by_one_and_as_a_list_keeps_the_counts(
    schools, enrol, open_campaign, school_user
):
    a, b, c, _d = enrol(schools.tianhe, 4)
    campaign = open_campaign()
    # the first mark opens the roll by itself
    services.roll_mark(
        actor=school_user, campaign_id=campaign.pk, student_ids=[a.pk], mark="present"
    )
    confirmation = confirmation_of(campaign, schools.tianhe)
    assert counts(confirmation) == {
        "total": 4,
        "present": 1,
        "absent": 0,
        "data_wrong": 0,
        "unmarked": 3,
    }
    services.roll_mark(
        actor=school_user,
        campaign_id=campaign.pk,
        student_ids=[b.pk, c.pk],
        mark="absent",
        note="病假",
    )
    services.roll_mark(
        actor=school_user, campaign_id=campaign.pk, student_ids=[a.pk], mark="data_wrong"
    )
    assert counts(confirmation) == {
        "total": 4,
        "present": 0,
        "absent": 2,
        "data_wrong": 1,
        "unmarked": 1,
    }
    mark = RollMark.objects.get(campaign=campaign, student=b)
    assert (mark.note, mark.marked_by_username) == ("病假", school_user.username)
    assert mark.marked_at is not None
    # undoing a mark
    services.roll_mark(
        actor=school_user, campaign_id=campaign.pk, student_ids=[c.pk], mark="unmarked"
    )
    assert counts(confirmation)["unmarked"] == 2
    assert RollMark.objects.get(campaign=campaign, student=c).marked_at is None
    assert AuditEvent.objects.filter(action="campaign.mark").count() == 4


def test_all_present_except_marks_the_rest_present_and_keeps_earlier_marks(
    schools, enrol, open_campaign, school_user
):
    students = enrol(schools.tianhe, 6)
    campaign = open_campaign()
    services.roll_mark(
        actor=school_user, campaign_id=campaign.pk, student_ids=[students[0].pk], mark="absent"
    )
    confirmation = services.roll_mark_all_present_except(
        actor=school_user,
        campaign_id=campaign.pk,
        except_ids={students[1].pk: "data_wrong", str(students[2].pk): "absent"},
    )
    assert counts(confirmation) == {
        "total": 6,
        "present": 3,
        "absent": 2,
        "data_wrong": 1,
        "unmarked": 0,
    }
    marks = dict(RollMark.objects.filter(campaign=campaign).values_list("student_id", "mark"))
    assert marks[students[0].pk] == Mark.ABSENT  # kept
    assert marks[students[1].pk] == Mark.DATA_WRONG
    assert marks[students[2].pk] == Mark.ABSENT
    assert {marks[s.pk] for s in students[3:]} == {Mark.PRESENT}


def test_all_present_can_be_narrowed_to_one_class(schools, enrol, open_campaign, school_user):
    one = enrol(schools.tianhe, 2, class_name="1班")
    two = enrol(schools.tianhe, 2, class_name="2班")
    campaign = open_campaign()
    confirmation = services.roll_mark_all_present_except(
        actor=school_user, campaign_id=campaign.pk, except_ids={}, grade="13", class_name="1班"
    )
    assert counts(confirmation)["present"] == 2
    marks = dict(RollMark.objects.filter(campaign=campaign).values_list("student_id", "mark"))
    assert {marks[s.pk] for s in one} == {Mark.PRESENT}
    assert {marks[s.pk] for s in two} == {Mark.UNMARKED}


def test_a_student_not_on_the_school_roll_changes_nothing(
    schools, enrol, open_campaign, school_user
):
    mine = enrol(schools.tianhe, 1)[0]
    theirs = enrol(schools.tianhe2, 1)[0]
    campaign = open_campaign()
    with pytest.raises(NotFound):
        services.roll_mark(
            actor=school_user,
            campaign_id=campaign.pk,
            student_ids=[mine.pk, theirs.pk],
            mark="present",
        )
    with pytest.raises(NotFound):
        services.roll_mark_all_present_except(
            actor=school_user, campaign_id=campaign.pk, except_ids={theirs.pk: "absent"}
        )
    assert not RollMark.objects.exclude(mark=Mark.UNMARKED).exists()


def test_marks_are_validated(schools, enrol, open_campaign, school_user):
    student = enrol(schools.tianhe, 1)[0]
    campaign = open_campaign()
    with pytest.raises(ValidationFailed):
        services.roll_mark(
            actor=school_user, campaign_id=campaign.pk, student_ids=[student.pk], mark="gone"
        )
    with pytest.raises(ValidationFailed):
        services.roll_mark(
            actor=school_user, campaign_id=campaign.pk, student_ids=[], mark="present"
        )
    with pytest.raises(ValidationFailed):
        services.roll_mark_all_present_except(
            actor=school_user, campaign_id=campaign.pk, except_ids={student.pk: "gone"}
        )


def test_a_student_who_moves_school_before_being_marked_moves_with_the_roll(
    schools, enrol, open_campaign, school_user, clerk_of
):
    # given both 天河 schools opened their rolls; a student of the first is not yet marked
    leaving, staying = enrol(schools.tianhe, 2)
    enrol(schools.tianhe2, 1)
    campaign = open_campaign()
    services.roll_mark(
        actor=school_user, campaign_id=campaign.pk, student_ids=[staying.pk], mark="present"
    )
    services.roll_open(actor=clerk_of(schools.tianhe2), campaign_id=campaign.pk)
    # when the record moves to the second school (a completed transfer) and it refreshes its roll
    StatusRecord.objects.filter(student=leaving).update(school=schools.tianhe2)
    services.roll_open(actor=clerk_of(schools.tianhe2), campaign_id=campaign.pk)
    # then the mark moved with the student, and both schools' counts follow
    assert RollMark.objects.get(campaign=campaign, student=leaving).school_id == schools.tianhe2.pk
    assert counts(confirmation_of(campaign, schools.tianhe)) == {
        "total": 1,
        "present": 1,
        "absent": 0,
        "data_wrong": 0,
        "unmarked": 0,
    }
    assert counts(confirmation_of(campaign, schools.tianhe2))["total"] == 2


def test_a_student_already_marked_elsewhere_is_not_asked_for_again(
    schools, enrol, open_campaign, school_user, clerk_of
):
    student = enrol(schools.tianhe, 1)[0]
    campaign = open_campaign()
    services.roll_mark(
        actor=school_user, campaign_id=campaign.pk, student_ids=[student.pk], mark="absent"
    )
    StatusRecord.objects.filter(student=student).update(school=schools.tianhe2)
    services.roll_open(actor=clerk_of(schools.tianhe2), campaign_id=campaign.pk)
    mark = RollMark.objects.get(campaign=campaign, student=student)
    assert (mark.school_id, mark.mark) == (schools.tianhe.pk, Mark.ABSENT)  # the evidence stays
    assert counts(confirmation_of(campaign, schools.tianhe2))["total"] == 0


# ----------------------------------------------------------------- sign-off


def test_sign_off_is_refused_while_a_student_is_unmarked(
    schools, enrol, open_campaign, school_user
):
    a, _b = enrol(schools.tianhe, 2)
    campaign = open_campaign()
    services.roll_mark(
        actor=school_user, campaign_id=campaign.pk, student_ids=[a.pk], mark="present"
    )
    with pytest.raises(Conflict) as refused:
        services.school_sign_off(actor=school_user, campaign_id=campaign.pk)
    assert refused.value.code == "confirmation.unmarked"
    assert refused.value.detail["unmarked"] == 1
    assert confirmation_of(campaign, schools.tianhe).state == ConfirmationState.IN_PROGRESS


def test_sign_off_before_opening_the_roll_shows_who_is_missing(
    schools, enrol, open_campaign, school_user
):
    enrol(schools.tianhe, 2)
    campaign = open_campaign()
    with pytest.raises(Conflict):
        services.school_sign_off(actor=school_user, campaign_id=campaign.pk)
    # the roll the refusal was based on stays open, so the page lists the unmarked students
    assert RollMark.objects.filter(campaign=campaign, mark=Mark.UNMARKED).count() == 2


def test_sign_off_is_refused_while_a_data_wrong_mark_is_unexplained(
    schools, enrol, open_campaign, school_user
):
    a, _b = enrol(schools.tianhe, 2)
    campaign = open_campaign()
    services.roll_mark_all_present_except(
        actor=school_user, campaign_id=campaign.pk, except_ids={a.pk: "data_wrong"}
    )
    with pytest.raises(Conflict) as refused:
        services.school_sign_off(actor=school_user, campaign_id=campaign.pk)
    assert refused.value.code == "confirmation.data_wrong_unexplained"
    assert refused.value.detail["unexplained_student_ids"] == [a.pk]
    # a note explains it
    services.roll_mark(
        actor=school_user,
        campaign_id=campaign.pk,
        student_ids=[a.pk],
        mark="data_wrong",
        note="出生日期有误，家长下周带户口簿来",
    )
    confirmation = services.school_sign_off(actor=school_user, campaign_id=campaign.pk, note="已核")
    assert confirmation.state == ConfirmationState.SIGNED_OFF
    assert (confirmation.signed_off_by_username, confirmation.note) == (
        school_user.username,
        "已核",
    )
    assert AuditEvent.objects.filter(action="campaign.sign_off").count() == 1


def test_a_correction_since_the_campaign_opened_explains_a_data_wrong_mark(
    schools, enrol, open_campaign, school_user
):
    from xueji.students.services import student_correct

    student = enrol(schools.tianhe, 1)[0]
    campaign = open_campaign()
    services.roll_mark(
        actor=school_user, campaign_id=campaign.pk, student_ids=[student.pk], mark="data_wrong"
    )
    student_correct(
        actor=school_user,
        student_id=student.pk,
        changes={"name": "王更正"},
        reason="核准发现姓名有误",
    )
    confirmation = services.school_sign_off(actor=school_user, campaign_id=campaign.pk)
    assert confirmation.signed_off


def test_a_change_filed_since_the_campaign_opened_explains_a_data_wrong_mark(
    schools, enrol, open_campaign, school_user
):
    from xueji.changes.services import change_file

    student = enrol(schools.tianhe, 1)[0]
    campaign = open_campaign()
    services.roll_mark(
        actor=school_user, campaign_id=campaign.pk, student_ids=[student.pk], mark="data_wrong"
    )
    assert services.unexplained_marks(campaign, schools.tianhe.pk).count() == 1
    change_file(
        actor=school_user,
        student_id=student.pk,
        change_type="leave",
        effective_date=clock.today(),
        reason="核准发现该生已长期不在校",
    )
    assert services.unexplained_marks(campaign, schools.tianhe.pk).count() == 0
    assert services.school_sign_off(actor=school_user, campaign_id=campaign.pk).signed_off


def test_a_signed_off_roll_is_locked(schools, enrol, open_campaign, school_user):
    student = enrol(schools.tianhe, 1)[0]
    campaign = open_campaign()
    services.roll_mark_all_present_except(actor=school_user, campaign_id=campaign.pk)
    services.school_sign_off(actor=school_user, campaign_id=campaign.pk)
    with pytest.raises(Conflict) as refused:
        services.roll_mark(
            actor=school_user, campaign_id=campaign.pk, student_ids=[student.pk], mark="absent"
        )
    assert refused.value.code == "confirmation.signed_off"
    with pytest.raises(Conflict):
        services.school_sign_off(actor=school_user, campaign_id=campaign.pk)


def test_a_school_without_students_signs_off_at_once(schools, open_campaign, clerk_of):
    campaign = open_campaign()
    confirmation = services.school_sign_off(
        actor=clerk_of(schools.tianhe2), campaign_id=campaign.pk
    )
    assert confirmation.signed_off and confirmation.total == 0


# ----------------------------------------------------------------- scope


def test_a_school_cannot_mark_another_schools_roll(
    schools, enrol, open_campaign, other_school_user
):
    student = enrol(schools.tianhe, 1)[0]
    province = open_campaign("44")
    # 锦江 (Sichuan) does not even see 广东's campaign
    with pytest.raises(NotFound):
        services.roll_mark(
            actor=other_school_user,
            campaign_id=province.pk,
            student_ids=[student.pk],
            mark="absent",
        )
    with pytest.raises(NotFound):
        services.roll_open(actor=other_school_user, campaign_id=province.pk)


def test_in_a_national_campaign_a_school_marks_only_its_own_students(
    schools, enrol, open_campaign, other_school_user
):
    student = enrol(schools.tianhe, 1)[0]
    enrol(schools.jinjiang, 1)
    campaign = open_campaign("")
    with pytest.raises(NotFound):
        services.roll_mark(
            actor=other_school_user,
            campaign_id=campaign.pk,
            student_ids=[student.pk],
            mark="absent",
        )
    # refused as a whole: not even 锦江's own roll was opened by the attempt
    assert not RollMark.objects.exists()


def test_reviewers_do_not_mark(schools, enrol, open_campaign, county_user, province_user):
    student = enrol(schools.tianhe, 1)[0]
    campaign = open_campaign()
    for reviewer in (county_user, province_user):
        with pytest.raises(Forbidden):
            services.roll_mark(
                actor=reviewer, campaign_id=campaign.pk, student_ids=[student.pk], mark="absent"
            )


# ----------------------------------------------------------------- closing


def test_closing_ends_marking_and_sign_off(
    schools, enrol, open_campaign, school_user, province_user
):
    student = enrol(schools.tianhe, 1)[0]
    campaign = open_campaign()
    closed = services.campaign_close(actor=province_user, campaign_id=campaign.pk)
    assert closed.state == CampaignState.CLOSED and closed.closed_at is not None
    with pytest.raises(Conflict) as refused:
        services.roll_mark(
            actor=school_user, campaign_id=campaign.pk, student_ids=[student.pk], mark="present"
        )
    assert refused.value.code == "campaign.closed"
    with pytest.raises(Conflict):
        services.campaign_close(actor=province_user, campaign_id=campaign.pk)
    # the semester is free again
    assert open_campaign().is_open


def test_only_the_opening_level_closes(schools, open_campaign, county_user, national_user):
    national = open_campaign("")
    with pytest.raises(Forbidden):
        services.campaign_close(actor=county_user, campaign_id=national.pk)
    with pytest.raises(Forbidden):
        services.campaign_close(actor=authority_user("440000"), campaign_id=national.pk)
    assert services.campaign_close(actor=national_user, campaign_id=national.pk).state == "closed"


def test_absent_marks_are_evidence_for_the_detectors(schools, enrol, open_campaign, school_user):
    from xueji.verification.selectors import marks_for_detectors

    absent, present = enrol(schools.tianhe, 2)
    campaign = open_campaign()
    services.roll_mark_all_present_except(
        actor=school_user, campaign_id=campaign.pk, except_ids={absent.pk: "absent"}
    )
    services.school_sign_off(actor=school_user, campaign_id=campaign.pk)
    rows = list(
        marks_for_detectors(campaign_id=campaign.pk).values_list(
            "campaign_id", "student_id", "school_id", "mark"
        )
    )
    assert rows == [(campaign.pk, absent.pk, schools.tianhe.pk, Mark.ABSENT)]
    assert marks_for_detectors(area_prefix="4401", mark=Mark.PRESENT).get().student_id == present.pk
    assert not marks_for_detectors(area_prefix="51").exists()
