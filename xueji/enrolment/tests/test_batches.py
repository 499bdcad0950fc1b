"""Promotion and graduation batches: dry run, set-based run, resume, scope, freezing."""

import itertools
from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import SchoolFactory
from xueji import clock
from xueji.audit.models import AuditEvent
from xueji.enrolment import batches
from xueji.enrolment.models import BatchRun, BatchState, StatusEvent, StatusRecord
from xueji.enrolment.rules import EventKind, StatusState, is_frozen
from xueji.errors import Conflict, NotFound, ValidationFailed
from xueji.schools.rules import SchoolType
from xueji.students.models import Student

pytestmark = pytest.mark.django_db

CUTOFF = date(2026, 8, 31)
_serial = itertools.count(1)


def enrol(school, grade: str, n: int = 1, *, state=StatusState.ENROLLED, stage=None) -> list[int]:
    """``n`` students on ``school``'s roll in ``grade`` (bulk, no registration rules)."""
    now = clock.now()
    students = Student.objects.bulk_create(
        [
            Student(
                number=f"L{next(_serial):018d}",
                number_kind="L",
                name=f"批量生{i}",
                sex="1",
                birth_date=date(2015, 1, 1),
                created_at=now,
                updated_at=now,
            )
            for i in range(n)
        ]
    )
    StatusRecord.objects.bulk_create(
        [
            StatusRecord(
                student=s,
                school=school,
                area_code=school.area_code,
                province_code=school.province_code,
                stage=stage or grade[0],
                grade=grade,
                class_name="1班",
                state=state,
                entry_date=date(2024, 9, 1),
                registered_at=now,
                updated_at=now,
            )
            for s in students
        ]
    )
    return [s.pk for s in students]


def grades_of(ids: list[int]) -> set[str]:
    return set(StatusRecord.objects.filter(pk__in=ids).values_list("grade", flat=True))


def promote(actor, scope: str, **kwargs) -> BatchRun:
    run = batches.batch_promotion_plan(
        actor=actor, scope=scope, school_year=2026, cutoff=CUTOFF, **kwargs
    )
    batches.batch_run_confirm(actor=actor, run_id=run.pk)
    return batches.batch_run_execute(run_id=run.pk)


@pytest.fixture
def junior(db):
    return SchoolFactory(name="天河区第一中学", division_code="440106", school_type="311")


def test_dry_run_reports_counts_and_changes_nothing(school, school_user):
    """The dry run counts promote/graduating/skipped per school and grade; no record moves."""
    # given
    third = enrol(school, "13", 3)
    sixth = enrol(school, "16", 2)
    suspended = enrol(school, "14", 1, state=StatusState.SUSPENDED)
    before = list(
        StatusRecord.objects.order_by("pk").values_list("pk", "grade", "state", "revision")
    )
    events_before = StatusEvent.objects.count()

    # when
    run = batches.batch_promotion_plan(
        actor=school_user, scope=school.code, school_year=2026, cutoff=CUTOFF
    )

    # then
    assert run.state == BatchState.PLANNED
    assert run.planned_count == 3
    report = run.report
    assert report["totals"] == {
        "promote": 3,
        "graduating": 2,
        "skipped": 1,
        "conflicts": 0,
        "already": 0,
    }
    assert report["by_grade"] == [{"grade": "13", "to": "14", "count": 3}]
    assert report["graduating_by_grade"] == [{"grade": "16", "count": 2}]
    assert report["skipped_by_state"] == [{"state": "suspended", "count": 1}]
    [row] = report["schools"]
    assert row["code"] == school.code
    assert row["promote"] == [{"grade": "13", "to": "14", "count": 3}]
    assert (
        list(StatusRecord.objects.order_by("pk").values_list("pk", "grade", "state", "revision"))
        == before
    )
    assert StatusEvent.objects.count() == events_before
    assert grades_of(third) == {"13"} and grades_of(sixth) == {"16"}
    assert grades_of(suspended) == {"14"}


def test_dry_run_lists_conflicting_records(school, school_user):
    """A junior grade at a primary school does not exist there: listed, never moved."""
    enrol(school, "12", 1)
    wrong = enrol(school, "21", 2)

    run = batches.batch_promotion_plan(
        actor=school_user, scope=school.code, school_year=2026, cutoff=CUTOFF
    )
    assert run.report["totals"]["conflicts"] == 2
    assert {c["student_id"] for c in run.report["conflicts"]} == set(wrong)
    assert {c["reason"] for c in run.report["conflicts"]} == {"grade.not_offered"}

    batches.batch_run_confirm(actor=school_user, run_id=run.pk)
    done = batches.batch_run_execute(run_id=run.pk)
    assert done.changed_count == 1
    assert grades_of(wrong) == {"21"}


def test_real_run_promotes_exactly_the_eligible_students(school, school_user, junior):
    """Enrolled students move up one grade; graduating grades and other states stay; one
    history event per promoted student; one audit event for the batch."""
    # given
    county = school_user  # a school clerk may only run its school; use a county reviewer
    from tests.factories import authority_user

    reviewer = authority_user("440106")
    first = enrol(school, "11", 4)
    fifth = enrol(school, "15", 2)
    sixth = enrol(school, "16", 3)
    deferred = enrol(school, "12", 1, state=StatusState.DEFERRED)
    suspended = enrol(school, "13", 1, state=StatusState.SUSPENDED)
    dropped = enrol(school, "13", 1, state=StatusState.DROPPED_OUT)
    j1 = enrol(junior, "21", 2)
    j3 = enrol(junior, "23", 2)  # a three-year junior school: 23 graduates
    revisions = dict(StatusRecord.objects.values_list("pk", "revision"))

    # when
    run = promote(reviewer, "440106")

    # then
    assert run.state == BatchState.DONE
    assert run.changed_count == 4 + 2 + 2
    assert grades_of(first) == {"12"}
    assert grades_of(fifth) == {"16"}
    assert grades_of(j1) == {"22"}
    for unchanged, grade in ((sixth, "16"), (j3, "23"), (deferred, "12")):
        assert grades_of(unchanged) == {grade}
    assert grades_of(suspended) == {"13"} and grades_of(dropped) == {"13"}
    moved = [*first, *fifth, *j1]
    for record in StatusRecord.objects.filter(pk__in=moved):
        assert record.revision == revisions[record.pk] + 1
        assert record.state == StatusState.ENROLLED
    events = StatusEvent.objects.filter(batch=run.batch_key)
    assert events.count() == len(moved)
    assert set(events.values_list("record_id", flat=True)) == set(moved)
    event = events.get(record_id=first[0])
    assert event.kind == EventKind.PROMOTE
    assert event.effective_date == CUTOFF
    assert event.grade == "12"
    assert (event.from_state, event.to_state) == ("enrolled", "enrolled")
    assert event.actor_username == reviewer.username
    audits = AuditEvent.objects.filter(object_type="enrolment.batch_run", object_id=str(run.pk))
    assert sorted(audits.values_list("action", flat=True)) == ["batch.plan", "batch.promote"]
    done = audits.get(action="batch.promote")
    assert done.detail["changed"] == 8
    assert done.detail["by_key"] == {"12": 4, "16": 2, "22": 2}
    assert run.counts["by_school"][str(school.pk)] == {"12": 4, "16": 2}
    assert county.unit.school_id == school.pk


def test_four_year_junior_school_promotes_23_to_24(junior, school_user):
    """A school holding grade-24 records runs a four-year junior stage: 23 → 24, 24 stays."""
    from tests.factories import authority_user

    third = enrol(junior, "23", 2)
    fourth = enrol(junior, "24", 1)

    run = promote(authority_user("440106"), junior.code)

    assert grades_of(third) == {"24"}
    assert grades_of(fourth) == {"24"}
    assert run.changed_count == 2


def test_interrupted_run_resumes_without_promoting_anyone_twice(school, school_user):
    """A failure after the first chunk leaves that chunk committed; the resumed run does
    the rest; every student is promoted exactly once."""
    # given
    ids = enrol(school, "11", 7)
    run = batches.batch_promotion_plan(
        actor=school_user, scope=school.code, school_year=2026, cutoff=CUTOFF
    )
    batches.batch_run_confirm(actor=school_user, run_id=run.pk)

    def crash(progress_run):
        raise RuntimeError("worker killed")

    # when: the worker dies right after committing the first chunk (3 records)
    with pytest.raises(RuntimeError):
        batches.batch_run_execute(run_id=run.pk, progress=crash, chunk_rows=3)

    # then
    failed = BatchRun.objects.get(pk=run.pk)
    assert failed.state == BatchState.FAILED
    assert (failed.chunks_done, failed.chunks_total, failed.changed_count) == (1, 3, 3)
    assert sorted(StatusRecord.objects.filter(pk__in=ids).values_list("grade", flat=True)) == [
        "11",
        "11",
        "11",
        "11",
        "12",
        "12",
        "12",
    ]

    # when: resumed (even replaying from the first chunk, as a stale worker might)
    batches.batch_run_resume(actor=school_user, run_id=run.pk)
    BatchRun.objects.filter(pk=run.pk).update(chunks_done=0)
    done = batches.batch_run_execute(run_id=run.pk)

    # then
    assert done.state == BatchState.DONE
    assert grades_of(ids) == {"12"}
    assert StatusEvent.objects.filter(batch=run.batch_key).count() == 7
    assert StatusEvent.objects.filter(kind=EventKind.PROMOTE, record_id__in=ids).count() == 7
    assert done.changed_count == 7
    assert AuditEvent.objects.filter(action="batch.promote", object_id=str(run.pk)).count() == 1
    assert AuditEvent.objects.filter(action="batch.failed", object_id=str(run.pk)).count() == 1


def test_failure_inside_a_chunk_rolls_that_chunk_back(school, school_user, monkeypatch):
    """The chunk whose statement fails leaves nothing behind; resume completes the run."""
    ids = enrol(school, "12", 4)
    run = batches.batch_promotion_plan(
        actor=school_user, scope=school.code, school_year=2026, cutoff=CUTOFF
    )
    batches.batch_run_confirm(actor=school_user, run_id=run.pk)
    real = batches._run_chunk
    calls = []

    def flaky(run_, index, **kwargs):
        calls.append(index)
        rows = real(run_, index, **kwargs)
        if index == 1 and calls.count(1) == 1:
            raise RuntimeError("connection lost")
        return rows

    monkeypatch.setattr(batches, "_run_chunk", flaky)
    with pytest.raises(RuntimeError):
        batches.batch_run_execute(run_id=run.pk, chunk_rows=2)
    assert sorted(StatusRecord.objects.filter(pk__in=ids).values_list("grade", flat=True)) == [
        "12",
        "12",
        "13",
        "13",
    ]
    assert StatusEvent.objects.filter(batch=run.batch_key).count() == 2

    batches.batch_run_resume(actor=school_user, run_id=run.pk)
    done = batches.batch_run_execute(run_id=run.pk, chunk_rows=2)
    assert done.state == BatchState.DONE
    assert grades_of(ids) == {"13"}
    assert StatusEvent.objects.filter(batch=run.batch_key).count() == 4


def test_second_promotion_for_same_scope_and_year_is_refused(school, school_user):
    enrol(school, "11", 2)
    promote(school_user, school.code)

    with pytest.raises(Conflict) as refused:
        batches.batch_promotion_plan(
            actor=school_user, scope=school.code, school_year=2026, cutoff=CUTOFF
        )
    assert refused.value.code == "batch.repeat"
    assert "重复升级" in refused.value.message


def test_overlapping_county_run_is_refused_after_a_school_run(school, school_user):
    """A county run of the same year overlaps a school already promoted: refused."""
    from tests.factories import authority_user

    enrol(school, "11", 1)
    promote(school_user, school.code)
    with pytest.raises(Conflict):
        batches.batch_promotion_plan(
            actor=authority_user("440106"), scope="440106", school_year=2026, cutoff=CUTOFF
        )


def test_two_planned_runs_only_one_can_be_confirmed(school, school_user):
    enrol(school, "11", 1)
    plan = dict(actor=school_user, scope=school.code, school_year=2026, cutoff=CUTOFF)
    first = batches.batch_promotion_plan(**plan)
    second = batches.batch_promotion_plan(**plan)
    batches.batch_run_confirm(actor=school_user, run_id=first.pk)
    with pytest.raises(Conflict):
        batches.batch_run_confirm(actor=school_user, run_id=second.pk)


def test_next_year_promotes_again(school, school_user):
    ids = enrol(school, "11", 2)
    promote(school_user, school.code)
    run = batches.batch_promotion_plan(
        actor=school_user, scope=school.code, school_year=2027, cutoff=date(2027, 8, 31)
    )
    batches.batch_run_confirm(actor=school_user, run_id=run.pk)
    batches.batch_run_execute(run_id=run.pk)
    assert grades_of(ids) == {"13"}


def test_out_of_scope_is_refused(school, other_school, school_user, county_user):
    """A school clerk runs only its school; a county reviewer only its county."""
    enrol(other_school, "11", 1)
    with pytest.raises(NotFound):
        batches.batch_promotion_plan(
            actor=school_user, scope=other_school.code, school_year=2026, cutoff=CUTOFF
        )
    with pytest.raises(ValidationFailed) as school_wide:
        batches.batch_promotion_plan(
            actor=school_user, scope="440106", school_year=2026, cutoff=CUTOFF
        )
    assert school_wide.value.errors[0].code == "scope.school_only"
    with pytest.raises(ValidationFailed) as other_area:
        batches.batch_promotion_plan(
            actor=county_user, scope="510104", school_year=2026, cutoff=CUTOFF
        )
    assert other_area.value.errors[0].code == "scope.out_of_scope"
    with pytest.raises(ValidationFailed):
        batches.batch_promotion_plan(actor=county_user, scope="44", school_year=2026, cutoff=CUTOFF)
    # A run of another unit's scope is not found, and cannot be confirmed.
    from tests.factories import make_user

    theirs = batches.batch_promotion_plan(
        actor=make_user(other_school.unit), scope=other_school.code, school_year=2026, cutoff=CUTOFF
    )
    with pytest.raises(NotFound):
        batches.batch_run_confirm(actor=school_user, run_id=theirs.pk)
    assert not batches.batch_runs_visible(county_user).filter(pk=theirs.pk).exists()


def test_province_run_covers_every_school_of_the_province(school, province_user):
    other = SchoolFactory(division_code="440305")
    mine = enrol(school, "12", 1)
    theirs = enrol(other, "31", 1, stage="3")
    StatusRecord.objects.filter(pk__in=theirs).update(stage="3")
    from xueji.schools.models import School

    School.objects.filter(pk=other.pk).update(school_type=SchoolType.SENIOR)
    run = promote(province_user, "440000")
    assert run.scope_area == "44"
    assert grades_of(mine) == {"13"} and grades_of(theirs) == {"32"}


def test_cutoff_outside_the_school_year_is_refused(school, school_user):
    with pytest.raises(ValidationFailed) as refused:
        batches.batch_promotion_plan(
            actor=school_user, scope=school.code, school_year=2026, cutoff=date(2025, 8, 31)
        )
    assert refused.value.errors[0].field == "cutoff"


def test_query_count_does_not_grow_with_rows(school, school_user):
    """Set-based: the same statements for 3 students and for 60."""

    def queries_for(n: int, year: int) -> int:
        StatusRecord.objects.all().update(state=StatusState.GRADUATED)
        enrol(school, "11", n)
        plan = batches.batch_promotion_plan(
            actor=school_user, scope=school.code, school_year=year, cutoff=date(year, 8, 31)
        )
        batches.batch_run_confirm(actor=school_user, run_id=plan.pk)
        with CaptureQueriesContext(connection) as captured:
            batches.batch_run_execute(run_id=plan.pk)
        return len(captured)

    assert queries_for(3, 2026) == queries_for(60, 2027)


def test_dry_run_query_count_does_not_grow_with_rows(school, school_user):
    def queries_for(n: int) -> int:
        enrol(school, "11", n)
        enrol(school, "21", 1)  # one conflict, so the conflict listing runs too
        with CaptureQueriesContext(connection) as captured:
            batches.batch_promotion_plan(
                actor=school_user, scope=school.code, school_year=2026, cutoff=CUTOFF
            )
        return len(captured)

    queries_for(1)  # the first call also loads the account's unit and roles
    assert queries_for(2) == queries_for(40)


# ---------------------------------------------------------------- graduation


def test_graduation_graduates_completes_and_leaves_and_freezes(school, school_user):
    """Grade 16 graduates; listed students complete or leave; other grades stay."""
    # given
    sixth = enrol(school, "16", 5)
    fifth = enrol(school, "15", 2)
    suspended = enrol(school, "16", 1, state=StatusState.SUSPENDED)
    numbers = dict(Student.objects.filter(pk__in=sixth).values_list("pk", "number"))

    # when: dry run
    run = batches.batch_graduation_plan(
        actor=school_user,
        school=school.code,
        cutoff=date(2026, 7, 10),
        completed=numbers[sixth[0]],
        left=[numbers[sixth[1]]],
    )

    # then
    assert run.report["totals"] == {"graduate": 3, "complete": 1, "leave": 1, "skipped": 1}
    assert run.report["grade"] == "16"
    assert StatusRecord.objects.filter(state=StatusState.GRADUATED).count() == 0

    # when: real run
    batches.batch_run_confirm(actor=school_user, run_id=run.pk)
    done = batches.batch_run_execute(run_id=run.pk)

    # then
    states = dict(StatusRecord.objects.filter(pk__in=sixth).values_list("pk", "state"))
    assert states[sixth[0]] == StatusState.COMPLETED
    assert states[sixth[1]] == StatusState.LEFT
    assert {states[i] for i in sixth[2:]} == {StatusState.GRADUATED}
    assert done.counts["by_key"] == {"graduated": 3, "completed": 1, "left": 1}
    kinds = dict(StatusEvent.objects.filter(batch=run.batch_key).values_list("record_id", "kind"))
    assert kinds[sixth[0]] == EventKind.BATCH_COMPLETE
    assert kinds[sixth[1]] == EventKind.BATCH_LEAVE
    assert kinds[sixth[2]] == EventKind.GRADUATE
    assert len(kinds) == 5
    assert StatusEvent.objects.get(record_id=sixth[2], batch=run.batch_key).to_state == "graduated"
    assert grades_of(fifth) == {"15"}
    assert set(StatusRecord.objects.filter(pk__in=suspended).values_list("state", flat=True)) == {
        StatusState.SUSPENDED
    }
    frozen = {r.pk: is_frozen(r) for r in StatusRecord.objects.filter(pk__in=sixth)}
    assert frozen[sixth[2]] and not frozen[sixth[0]] and not frozen[sixth[1]]
    assert not any(is_frozen(r) for r in StatusRecord.objects.filter(pk__in=fifth))
    # The graduates' basic data are frozen on the person too; nobody else's.
    frozen_people = set(Student.objects.filter(frozen=True).values_list("pk", flat=True))
    assert frozen_people == set(sixth[2:])
    audit = AuditEvent.objects.get(action="batch.graduate", object_id=str(run.pk))
    assert audit.detail["changed"] == 5


def test_graduation_refuses_a_listed_student_outside_the_graduating_grade(school, school_user):
    enrol(school, "16", 1)
    fifth = enrol(school, "15", 1)
    number = Student.objects.get(pk=fifth[0]).number
    with pytest.raises(ValidationFailed) as refused:
        batches.batch_graduation_plan(
            actor=school_user, school=school.code, cutoff=date(2026, 7, 10), completed=[number]
        )
    assert refused.value.errors[0].code == "student.not_graduating"


def test_graduation_of_a_multi_stage_school_needs_the_stage(school_user):
    from tests.factories import authority_user

    nine_year = SchoolFactory(division_code="440106", school_type=SchoolType.NINE_YEAR)
    reviewer = authority_user("440106")
    with pytest.raises(ValidationFailed) as refused:
        batches.batch_graduation_plan(actor=reviewer, school=nine_year.code, cutoff=CUTOFF)
    assert refused.value.errors[0].code == "stage.required"
    junior_grads = enrol(nine_year, "23", 2)
    run = batches.batch_graduation_plan(
        actor=reviewer, school=nine_year.code, cutoff=date(2026, 7, 1), stage="2"
    )
    batches.batch_run_confirm(actor=reviewer, run_id=run.pk)
    batches.batch_run_execute(run_id=run.pk)
    assert set(
        StatusRecord.objects.filter(pk__in=junior_grads).values_list("state", flat=True)
    ) == {StatusState.GRADUATED}


def test_second_graduation_of_the_same_school_and_stage_is_refused(school, school_user):
    enrol(school, "16", 1)
    run = batches.batch_graduation_plan(
        actor=school_user, school=school.code, cutoff=date(2026, 7, 10)
    )
    batches.batch_run_confirm(actor=school_user, run_id=run.pk)
    batches.batch_run_execute(run_id=run.pk)
    with pytest.raises(Conflict):
        batches.batch_graduation_plan(
            actor=school_user, school=school.code, cutoff=date(2026, 7, 12)
        )


def test_graduation_resumes_after_interruption(school, school_user):
    ids = enrol(school, "16", 5)
    run = batches.batch_graduation_plan(
        actor=school_user, school=school.code, cutoff=date(2026, 7, 10)
    )
    batches.batch_run_confirm(actor=school_user, run_id=run.pk)

    def crash(progress_run):
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        batches.batch_run_execute(run_id=run.pk, progress=crash, chunk_rows=2)
    assert StatusRecord.objects.filter(pk__in=ids, state=StatusState.GRADUATED).count() == 2
    batches.batch_run_resume(actor=school_user, run_id=run.pk)
    done = batches.batch_run_execute(run_id=run.pk, chunk_rows=2)
    assert done.changed_count == 5
    assert StatusRecord.objects.filter(pk__in=ids, state=StatusState.GRADUATED).count() == 5
    assert StatusEvent.objects.filter(batch=run.batch_key).count() == 5


def test_running_run_cannot_be_resumed_until_stale(school, school_user):
    enrol(school, "11", 1)
    run = batches.batch_promotion_plan(
        actor=school_user, scope=school.code, school_year=2026, cutoff=CUTOFF
    )
    batches.batch_run_confirm(actor=school_user, run_id=run.pk)
    with pytest.raises(Conflict) as refused:
        batches.batch_run_resume(actor=school_user, run_id=run.pk)
    assert refused.value.code == "batch.not_resumable"
    BatchRun.objects.filter(pk=run.pk).update(heartbeat_at=clock.now() - batches.STALE_AFTER * 2)
    batches.batch_run_resume(actor=school_user, run_id=run.pk)
    assert batches.batch_run_execute(run_id=run.pk).state == BatchState.DONE


def test_planned_run_is_not_executed_without_confirmation(school, school_user):
    run = batches.batch_promotion_plan(
        actor=school_user, scope=school.code, school_year=2026, cutoff=CUTOFF
    )
    with pytest.raises(Conflict):
        batches.batch_run_execute(run_id=run.pk)


# ---------------------------------------------------------------- the pure rules


@pytest.mark.parametrize(
    ("grade", "stage", "school_type", "four", "expected"),
    [
        ("11", "1", "211", False, ("promote", "12")),
        ("15", "1", "211", False, ("promote", "16")),
        ("16", "1", "211", False, ("graduating", "16")),
        ("22", "2", "311", False, ("promote", "23")),
        ("23", "2", "311", False, ("graduating", "23")),
        ("23", "2", "311", True, ("promote", "24")),
        ("24", "2", "311", True, ("graduating", "24")),
        ("32", "3", "342", False, ("promote", "33")),
        ("33", "3", "342", False, ("graduating", "33")),
        ("21", "2", "211", False, ("conflict", "grade.not_offered")),
        ("21", "1", "312", False, ("conflict", "grade.stage_mismatch")),
        ("99", "9", "312", False, ("conflict", "grade.unknown")),
    ],
)
def test_promotion_step(grade, stage, school_type, four, expected):
    assert (
        batches.promotion_step(
            grade=grade, stage=stage, school_type=school_type, four_year_junior=four
        )
        == expected
    )


def test_scopes_overlap():
    assert batches.scopes_overlap(("44", None), ("440106", 3))
    assert batches.scopes_overlap(("", None), ("51", None))
    assert not batches.scopes_overlap(("4401", None), ("4403", None))
    assert not batches.scopes_overlap(("440106", 3), ("440106", 4))
    assert batches.scopes_overlap(("440106", 3), ("440106", 3))
