"""The change engine's mechanics, through transfers: rule versions and province overrides,
materials, who sees a request, the review queue and its order, query counts, and the
completion being one transaction."""

from datetime import date, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import SchoolFactory, authority_user, make_user
from xueji import clock
from xueji.accounts.services import unit_ensure_for_division
from xueji.audit.models import AuditEvent
from xueji.changes import selectors, services
from xueji.changes.models import ApprovalStep, ChangeRequest, Material, RuleSet
from xueji.changes.rules import Party, RequestState, StepState
from xueji.changes.rulesets import ruleset_publish
from xueji.enrolment.models import StatusEvent, StatusRecord
from xueji.enrolment.rules import StatusState
from xueji.errors import Conflict, Forbidden, NotFound, ValidationFailed
from xueji.schools.rules import SchoolState

from .transfers import (
    PDF,
    REASON,
    Held,
    application,
    approve_pending,
    complete_transfer,
    file_transfer,
    handler_of,
    hold_clock,
    steps_of,
)

pytestmark = pytest.mark.django_db

SENDING_FIRST = ["sending_school", "sending_authority", "receiving_school", "receiving_authority"]


@pytest.fixture
def held(monkeypatch) -> Held:
    """A Tuesday of the spring semester, 2026-03-10."""
    return hold_clock(monkeypatch, date(2026, 3, 10))


def publish(actor, province_code: str, rules: dict, **extra) -> RuleSet:
    return ruleset_publish(
        actor=actor, province_code=province_code, rules=rules, note="测试调整", **extra
    )


# ----------------------------------------------------------------- rule sets


def test_the_receiving_provinces_order_decides_the_chain(
    held, make_student, school, other_school, other_school_user, national_user
):
    """四川 (51) lets the sending side act first; a transfer into 四川 follows that order,
    and the receiving school, having filed, handles its own step when its turn comes."""
    publish(national_user, "51", {"transfer": {"chain": SENDING_FIRST}})
    student = make_student()
    # when
    request = file_transfer(other_school_user, student)
    # then
    steps = steps_of(request)
    assert [s.party for s in steps] == SENDING_FIRST
    assert [s.unit_id for s in steps] == [
        school.unit.pk,
        unit_ensure_for_division(division_code="440106").pk,
        other_school.unit.pk,
        unit_ensure_for_division(division_code="510104").pk,
    ]
    assert [s.state for s in steps] == [StepState.PENDING] + [StepState.WAITING] * 3
    assert request.rule["chain"] == SENDING_FIRST
    assert request.province_ruleset is not None and request.province_ruleset.province_code == "51"
    approve_pending(request)
    approve_pending(request)
    own = ApprovalStep.objects.get(request=request, party=Party.RECEIVING_SCHOOL)
    assert own.state == StepState.PENDING
    services.step_handle(actor=other_school_user, step_id=own.pk, approve=True)
    approve_pending(request)
    assert ChangeRequest.objects.get(pk=request.pk).state == RequestState.COMPLETED


def test_another_provinces_order_does_not_apply(
    held, make_student, other_school_user, national_user
):
    """广东 (44) is the sending province here: its order is not the one followed."""
    publish(national_user, "44", {"transfer": {"chain": SENDING_FIRST}})
    request = file_transfer(other_school_user, make_student())
    assert steps_of(request)[0].party == Party.RECEIVING_SCHOOL
    assert request.province_ruleset is None


def test_a_request_keeps_the_rule_it_was_filed_under(
    held, make_student, other_school_user, national_user
):
    """A new version changes the deadlines of requests filed after it, never of those
    already open: their steps keep the days (and the snapshot) of the version they were
    filed under. A version scheduled for later is not in force yet."""
    first = publish(national_user, "51", {"transfer": {"deadlines": {"sending_school": 5}}})
    early = file_transfer(other_school_user, make_student())
    publish(national_user, "51", {"transfer": {"deadlines": {"sending_school": 3}}})
    publish(
        national_user,
        "51",
        {"transfer": {"deadlines": {"sending_school": 8}}},
        effective_from=clock.now() + timedelta(days=30),
    )
    # when
    late = file_transfer(other_school_user, make_student())
    # then
    assert early.province_ruleset_id == first.pk
    assert early.rule["deadlines"] == {"sending_school": 5}
    assert late.province_ruleset.version == 2
    assert late.rule["deadlines"] == {"sending_school": 3}
    assert [s.days for s in steps_of(early)] == [10, 10, 5, 10]
    assert [s.days for s in steps_of(late)] == [10, 10, 3, 10]
    # the sending school's step of the early request, activated after the new version,
    # still has 5 working days: Wed 03-11 … Tue 03-17
    approve_pending(early)
    step = ApprovalStep.objects.get(request=early, party=Party.SENDING_SCHOOL)
    assert (step.activated_on, step.due_date) == (date(2026, 3, 10), date(2026, 3, 17))


def test_a_province_may_close_a_change_type(held, make_student, other_school_user, national_user):
    publish(national_user, "51", {"transfer": {"enabled": False}})
    with pytest.raises(ValidationFailed) as caught:
        file_transfer(other_school_user, make_student())
    assert "change.disabled" in {e.code for e in caught.value.errors}
    assert not ChangeRequest.objects.exists()


def test_a_province_block_refuses_filing(held, make_student, other_school, national_user):
    """A province may block every grade in a window (here: March). Filed by the nation,
    whose scope covers the student: the precise refusal (a receiving school in another
    province learns only "not possible now": students/tests/test_disclosure.py)."""
    publish(
        national_user,
        "51",
        {"transfer": {"blocked": [{"from_md": "03-01", "to_md": "03-31", "note": "三月不办"}]}},
    )
    with pytest.raises(ValidationFailed) as caught:
        file_transfer(national_user, make_student(), target_school_id=other_school.pk)
    assert [e.code for e in caught.value.errors] == ["change.blocked_period"]
    assert "三月不办" in caught.value.errors[0].message


# ----------------------------------------------------------------- filing checks


def test_only_an_enrolled_student_can_be_transferred(
    held, make_student, other_school, other_school_user, national_user
):
    student = make_student()
    StatusRecord.objects.filter(pk=student.pk).update(state=StatusState.SUSPENDED)
    with pytest.raises(ValidationFailed) as caught:
        file_transfer(national_user, student, target_school_id=other_school.pk)
    assert [e.code for e in caught.value.errors] == ["change.state"]
    # The receiving school, outside the student's scope, is not told the state.
    with pytest.raises(ValidationFailed) as caught:
        file_transfer(other_school_user, student)
    assert [e.code for e in caught.value.errors] == ["transfer.not_possible"]


def test_a_closed_school_cannot_receive(held, make_student, other_school, other_school_user):
    other_school.state = SchoolState.CLOSED
    other_school.closed_on = date(2026, 1, 1)
    other_school.save()
    with pytest.raises(ValidationFailed) as caught:
        file_transfer(other_school_user, make_student())
    assert [e.code for e in caught.value.errors] == ["school.closed"]


def test_a_receiving_grade_outside_the_schools_offer_is_refused(
    held, make_student, other_school_user
):
    with pytest.raises(ValidationFailed) as caught:
        file_transfer(other_school_user, make_student(), payload={"grade": "21"})
    assert "transfer.grade_not_offered" in {e.code for e in caught.value.errors}


def test_a_statistician_cannot_file(held, make_student, other_school):
    from xueji.accounts.models import Role

    statistician = make_user(other_school.unit, roles=(Role.STATISTICIAN,))
    with pytest.raises(Forbidden):
        file_transfer(statistician, make_student())


# ----------------------------------------------------------------- materials


def upload(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, "application/pdf")


@pytest.mark.parametrize(
    ("kind", "content", "code"),
    [
        ("application", b"not a pdf at all", "material.type"),
        ("application", b"", "material.empty"),
        ("application", b"%PDF-" + b"0" * (10 * 1024 * 1024), "material.too_large"),
        ("report_card", PDF, "material.kind_unknown"),
    ],
)
def test_bad_materials_refuse_the_filing(
    held, make_student, other_school_user, kind, content, code
):
    with pytest.raises(ValidationFailed) as caught:
        file_transfer(other_school_user, make_student(), uploads=[(kind, upload("a.pdf", content))])
    assert code in {e.code for e in caught.value.errors}
    assert not ChangeRequest.objects.exists()
    assert not Material.objects.exists()


def test_materials_are_kept_with_their_digest(held, make_student, other_school_user):
    import hashlib

    request = file_transfer(other_school_user, make_student())
    material = Material.objects.get(request=request)
    assert material.kind == "application"
    assert material.content_type == "application/pdf"
    assert material.sha256 == hashlib.sha256(PDF).hexdigest()
    assert material.uploaded_by == other_school_user.username
    with material.file.open("rb") as stored:
        assert stored.read() == PDF


def test_materials_can_be_added_while_open_only(held, make_student, other_school_user):
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 32
    request = file_transfer(other_school_user, make_student())
    added = services.material_add(
        actor=other_school_user,
        request_id=request.pk,
        uploads=[("residence", upload("户口.png", png))],
    )
    assert [m.content_type for m in added] == ["image/png"]
    assert AuditEvent.objects.filter(action="change.material_add").count() == 1
    complete_transfer(request)
    with pytest.raises(Conflict) as caught:
        services.material_add(
            actor=other_school_user,
            request_id=request.pk,
            uploads=[("other", upload("补充.pdf", PDF))],
        )
    assert caught.value.code == "change.closed"


# ----------------------------------------------------------------- who sees a request


def test_both_sides_and_those_above_see_a_transfer(
    held, make_student, school_user, other_school_user, county_user, city_user, province_user
):
    request = file_transfer(other_school_user, make_student())
    for actor in (
        school_user,
        other_school_user,
        county_user,
        city_user,
        province_user,
        authority_user("510104"),
        authority_user("510000"),
    ):
        assert services.access_request(actor, request.pk).pk == request.pk
    # another county, another school: not found
    for outsider in (
        authority_user("440104"),
        make_user(SchoolFactory(division_code="440106").unit),
    ):
        with pytest.raises(NotFound):
            services.access_request(outsider, request.pk)
        assert not selectors.request_list(outsider).exists()


def test_request_list_filters(held, make_student, other_school_user, county_user):
    first = make_student(name="张小明")
    second = make_student(name="李小红")
    one = file_transfer(other_school_user, first)
    two = file_transfer(other_school_user, second)
    services.change_withdraw(actor=other_school_user, request_id=two.pk, reason="不转了")
    assert list(selectors.request_list(county_user)) == [two, one]
    assert list(selectors.request_list(county_user, state=RequestState.OPEN)) == [one]
    assert list(selectors.request_list(county_user, q="小红")) == [two]
    assert list(selectors.request_list(county_user, q=first.number.lower())) == [one]
    assert list(selectors.request_list(county_user, change_type="suspend")) == []


# ----------------------------------------------------------------- the review queue


def test_the_queue_shows_the_units_pending_steps_most_urgent_first(
    held, make_student, other_school_user
):
    """Missing calendars first, then the earliest deadline; nothing waiting or handled."""
    receiving_county = authority_user("510104")
    late = file_transfer(other_school_user, make_student())  # due 2026-03-24
    held.go(date(2026, 3, 12))
    later = file_transfer(other_school_user, make_student())  # due 2026-03-26
    held.go(date(2026, 12, 28))
    unknown = file_transfer(other_school_user, make_student())  # 2027 not loaded
    handled = file_transfer(other_school_user, make_student())
    approve_pending(handled)
    # when
    queue = list(selectors.review_queue(receiving_county))
    # then
    assert [s.request_id for s in queue] == [unknown.pk, late.pk, later.pk]
    assert [s.due_date for s in queue] == [None, date(2026, 3, 24), date(2026, 3, 26)]
    assert selectors.queue_count(receiving_county) == 3
    assert list(selectors.review_queue(other_school_user)) == []


def test_the_queue_needs_the_handle_permission(held, other_school):
    from xueji.accounts.models import Role

    with pytest.raises(Forbidden):
        selectors.review_queue(make_user(other_school.unit, roles=(Role.STATISTICIAN,)))


# ----------------------------------------------------------------- query counts


def count_queries(run) -> int:
    with CaptureQueriesContext(connection) as captured:
        run()
    return len(captured.captured_queries)


def read_list(actor) -> list[tuple[str, str, str]]:
    return [
        (request.student.name, request.school.name, request.target_school.name)
        for request in selectors.request_list(actor)
    ]


def read_queue(actor) -> list[tuple[str, str, str]]:
    return [
        (step.request.student.name, step.request.school.name, step.request.target_school.name)
        for step in selectors.review_queue(actor)
    ]


def test_lists_do_not_grow_with_their_rows(
    held, make_student, other_school_user, county_user, django_assert_max_num_queries
):
    receiving_county = authority_user("510104")
    for _i in range(2):
        file_transfer(other_school_user, make_student())
    few = (
        count_queries(lambda: read_list(county_user)),
        count_queries(lambda: read_queue(receiving_county)),
    )
    for _i in range(8):
        file_transfer(other_school_user, make_student())
    assert len(selectors.request_list(county_user)) == 10
    assert selectors.review_queue(receiving_county).count() == 10
    with django_assert_max_num_queries(few[0]):
        read_list(county_user)
    with django_assert_max_num_queries(few[1]):
        read_queue(receiving_county)
    assert few[0] <= 2 and few[1] <= 2


def test_api_lists_do_not_grow_with_their_rows(
    held, make_student, other_school_user, django_assert_max_num_queries
):
    from django.test import Client

    receiving_county = authority_user("510104")
    client = Client()
    client.force_login(receiving_county)
    for _i in range(2):
        file_transfer(other_school_user, make_student())

    def fetch(path: str) -> None:
        response = client.get(path)
        assert response.status_code == 200, response.content

    few = {
        path: count_queries(lambda p=path: fetch(p))
        for path in ("/api/changes", "/api/changes/queue")
    }
    for _i in range(8):
        file_transfer(other_school_user, make_student())
    for path, queries in few.items():
        with django_assert_max_num_queries(queries):
            fetch(path)
    assert len(client.get("/api/changes").json()["items"]) == 10


# ----------------------------------------------------------------- one transaction


def test_a_failing_completion_leaves_everything_as_it_was(
    held, make_student, school, other_school_user, monkeypatch
):
    """The archive hook fails on the last approval: the record, its history, the request,
    the step and the audit trail are all as before (one transaction)."""
    import xueji.archives.services as archives

    student = make_student()
    request = file_transfer(other_school_user, student)
    approve_pending(request)
    approve_pending(request)
    last = ApprovalStep.objects.get(request=request, state=StepState.PENDING)
    handler = handler_of(last)
    audits = AuditEvent.objects.count()
    events = StatusEvent.objects.count()

    def broken(**kwargs):
        raise RuntimeError("archive store unavailable")

    monkeypatch.setattr(archives, "archive_transfer", broken)
    # when
    with pytest.raises(RuntimeError):
        services.step_handle(actor=handler, step_id=last.pk, approve=True)
    # then
    assert ApprovalStep.objects.get(pk=last.pk).state == StepState.PENDING
    assert ChangeRequest.objects.get(pk=request.pk).state == RequestState.OPEN
    record = StatusRecord.objects.get(pk=student.pk)
    assert record.school_id == school.pk and record.area_code == "440106"
    assert StatusEvent.objects.count() == events
    assert AuditEvent.objects.count() == audits


def test_every_action_is_audited_once(held, make_student, other_school_user):
    request = file_transfer(other_school_user, make_student())
    complete_transfer(request)
    actions = list(
        AuditEvent.objects.filter(object_type="changes.request", object_id=str(request.pk))
        .order_by("pk")
        .values_list("action", flat=True)
    )
    assert actions == [
        "change.file",
        "change.step_approve",  # the receiving school, by filing
        "change.step_approve",
        "change.step_approve",
        "change.step_approve",
        "change.complete",
    ]


def test_a_guardian_application_cannot_go_to_a_closed_school(held, make_student, other_school):
    """The portal path (``transfer_create``) checks the receiving school like the school's."""
    other_school.state = SchoolState.CLOSED
    other_school.closed_on = date(2026, 1, 1)
    other_school.save()
    student = make_student()
    with pytest.raises(ValidationFailed) as caught:
        services.transfer_create(
            actor=None,
            student=student,
            target_school=other_school,
            effective_date=date(2026, 3, 2),
            reason=REASON,
            payload={},
            uploads=application(),
            channel="guardian",
        )
    assert [e.code for e in caught.value.errors] == ["school.closed"]
    assert not ChangeRequest.objects.filter(student_id=student.pk).exists()
