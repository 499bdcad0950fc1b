"""The status life cycle as a Hypothesis ``RuleBasedStateMachine`` driving the real services
on the database, and the declared tables checked against each other.

Each example runs inside a savepoint opened when the machine starts and rolled back in its
``teardown``: the schools, accounts and students built once by the test stay, every change
an example makes goes. Invariants checked after every step: the state is a declared one;
the history is a continuous chain ending in the record's state; every state change follows
``TRANSITIONS``; at most one open request per student; a cancelled record never changes.
"""

import itertools
from collections import Counter
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from hypothesis import HealthCheck, event, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from tests.factories import SchoolFactory, make_user
from xueji import clock
from xueji.changes import services
from xueji.changes.models import ApprovalStep, ChangeRequest, Material
from xueji.changes.rules import (
    DEFAULT_RULES,
    EFFECTS,
    ChangeType,
    RefusalReason,
    RequestState,
    StepState,
)
from xueji.enrolment.models import StatusEvent, StatusRecord
from xueji.enrolment.rules import TRANSITIONS, EventKind, StatusState, can_transition
from xueji.enrolment.services import IllegalTransition, record_change, record_lock
from xueji.errors import Conflict, ValidationFailed
from xueji.schools.rules import SchoolType

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 3, 10, 10, 0, tzinfo=SHANGHAI)
TODAY = NOW.date()
PDF = b"%PDF-1.4\n% state machine\n"
OTHER_TYPES = [t for t in ChangeType.values if t != ChangeType.TRANSFER]


# ----------------------------------------------------------------- the tables, without a database


@given(st.sampled_from(sorted(EFFECTS)), st.sampled_from(StatusState.values))
def test_every_effect_edge_is_a_declared_transition(change_type, from_state):
    """Completing a change from any state it accepts moves along ``TRANSITIONS`` only."""
    effect = EFFECTS[change_type]
    if from_state not in effect.from_states:
        return
    if effect.to_state is not None and effect.to_state != from_state:
        assert can_transition(from_state, effect.to_state), (change_type, from_state)


@given(st.sampled_from(StatusState.values), st.sampled_from(StatusState.values))
def test_transitions_are_declared_between_known_states_and_cancelled_is_final(a, b):
    assert set(TRANSITIONS) == set(StatusState.values)
    assert TRANSITIONS[a] <= set(StatusState.values)
    assert a not in TRANSITIONS[a]  # a transition changes the state
    if a == StatusState.CANCELLED:
        assert not can_transition(a, b)


def test_every_change_type_has_an_effect_and_a_default_rule():
    assert set(EFFECTS) == set(ChangeType.values) == set(DEFAULT_RULES)
    for change_type, effect in EFFECTS.items():
        assert StatusState.CANCELLED not in effect.from_states, change_type


# ----------------------------------------------------------------- the machine


class World:
    """What every example shares (built once, outside the examples' savepoints)."""

    students: list = []
    filers: list = []  # per student: the school clerk, the county reviewer
    handlers: dict = {}
    specialised: Any = None
    ordinary: Any = None


def _handler(unit):
    # Built with the world: an account made inside an example would vanish with its savepoint.
    return World.handlers[unit.pk]


def _uploads(change_type: str, complete: bool) -> list:
    kinds = list(DEFAULT_RULES[change_type].materials)
    if not complete and kinds:
        kinds = kinds[1:]
    return [(k, SimpleUploadedFile(f"{k}.pdf", PDF, content_type="application/pdf")) for k in kinds]


payloads = {
    ChangeType.DEFER: st.sampled_from([30, 365, 366, 0]).map(
        lambda d: {"until": (TODAY + timedelta(days=d)).isoformat()}
    ),
    ChangeType.RETURN: st.sampled_from(["13", "14", "32", "31", ""]).map(lambda g: {"grade": g}),
    ChangeType.RESUME: st.sampled_from(["", "14", "33"]).map(lambda g: {"grade": g} if g else {}),
    ChangeType.HOME_TAUGHT: st.booleans().map(lambda b: {"home_taught": b}),
    ChangeType.PROGRAMME: st.sampled_from(["general", "vocational", "art"]).map(
        lambda p: {"programme": p}
    ),
    ChangeType.DEATH: st.sampled_from(["2026-01-20", "2026-03-11", ""]).map(
        lambda d: {"died_on": d} if d else {}
    ),
}


class StatusMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        self.frozen: dict[int, int] = {}  # cancelled student → revision seen then
        self.open: set[int] = set()  # students with an open request

    def teardown(self) -> None:
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    # -- helpers

    def _record(self, index: int) -> StatusRecord:
        return StatusRecord.objects.get(pk=World.students[index].pk)

    def _open(self, index: int) -> ChangeRequest:
        return ChangeRequest.objects.get(
            student_id=World.students[index].pk, state=RequestState.OPEN
        )

    def _has_open(self) -> bool:
        return bool(self.open)

    # -- rules

    def _file(self, index, change_type, *, by_authority, uploads, payload, target_id) -> bool:
        """File through the service; a refusal must leave nothing written."""
        student = World.students[index]
        requests_before = ChangeRequest.objects.filter(student=student).count()
        materials_before = Material.objects.count()
        events_before = StatusEvent.objects.filter(record_id=student.pk).count()
        try:
            request = services.change_file(
                actor=World.filers[index][int(by_authority)],
                student_id=student.pk,
                change_type=change_type,
                effective_date=TODAY,
                reason="状态机测试",
                payload=payload,
                target_school_id=target_id,
                uploads=uploads,
            )
        except (ValidationFailed, Conflict) as refused:
            event(f"refused {refused.code}")
            assert ChangeRequest.objects.filter(student=student).count() == requests_before
            assert Material.objects.count() == materials_before
            assert StatusEvent.objects.filter(record_id=student.pk).count() == events_before
            return False
        assert request.state == RequestState.OPEN  # every default chain has two steps
        self.open.add(index)
        return True

    @rule(
        index=st.integers(0, 2),
        change_type=st.sampled_from(OTHER_TYPES),
        by_authority=st.booleans(),
        complete_materials=st.booleans(),
        data=st.data(),
    )
    def file_anything(self, index, change_type, by_authority, complete_materials, data):
        """Any type, any details, materials or not: mostly refused."""
        target_id = None
        if change_type == ChangeType.SPECIALISED:
            target_id = data.draw(
                st.sampled_from([World.specialised.pk, World.ordinary.pk]), label="target"
            )
        filed = self._file(
            index,
            change_type,
            by_authority=by_authority,
            uploads=_uploads(change_type, complete_materials),
            payload=data.draw(payloads.get(change_type, st.just({})), label="payload"),
            target_id=target_id,
        )
        if filed:
            assert complete_materials or not DEFAULT_RULES[change_type].materials

    @precondition(lambda self: len(self.open) < len(World.students))
    @rule(by_authority=st.booleans(), data=st.data())
    def file_plausible(self, by_authority, data):
        """A type the record's state and stage allow, with its materials and sound details,
        for a student without an open request: the chains run, records travel the states."""
        free = [i for i in range(len(World.students)) if i not in self.open]
        index = data.draw(st.sampled_from(free), label="student")
        record = self._record(index)
        allowed = [
            t
            for t in OTHER_TYPES
            if record.state in EFFECTS[t].from_states
            and (record.stage == "3" or not EFFECTS[t].senior_only)
        ]
        if not allowed:
            return
        change_type = data.draw(st.sampled_from(allowed), label="type")
        payload = {
            ChangeType.DEFER: {"until": (TODAY + timedelta(days=200)).isoformat()},
            ChangeType.RETURN: {"grade": record.grade},
            ChangeType.HOME_TAUGHT: {"home_taught": not record.home_taught},
            ChangeType.PROGRAMME: {
                "programme": "vocational" if record.programme == "general" else "general"
            },
            ChangeType.DEATH: {"died_on": "2026-01-20"},
        }.get(change_type, {})
        target_id = World.specialised.pk if change_type == ChangeType.SPECIALISED else None
        self._file(
            index,
            change_type,
            by_authority=by_authority,
            uploads=_uploads(change_type, True),
            payload=payload,
            target_id=target_id,
        )

    @precondition(_has_open)
    @rule(data=st.data())
    def approve(self, data):
        self.approve_one(data.draw(st.sampled_from(sorted(self.open)), label="student"))

    def approve_one(self, index: int) -> None:
        request = self._open(index)
        step = ApprovalStep.objects.get(request=request, state=StepState.PENDING)
        before = self._record(index)
        try:
            services.step_handle(actor=_handler(step.unit), step_id=step.pk, approve=True)
        except Conflict as refused:
            # The record left the states the change starts from while it was open (moved by
            # ``force``, as a batch would): completing is refused, nothing is written.
            assert refused.code == "change.state_changed"
            assert before.state not in EFFECTS[request.change_type].from_states
            step.refresh_from_db()
            assert step.state == StepState.PENDING
            assert self._record(index).revision == before.revision
            event("completion refused: state changed")
            return
        request.refresh_from_db()
        after = self._record(index)
        if request.state == RequestState.COMPLETED:
            event(f"completed {request.change_type}")
            self.open.discard(index)
            effect = EFFECTS[request.change_type]
            assert after.state == (effect.to_state or before.state)
            assert after.revision == before.revision + 1
        else:
            assert request.state == RequestState.OPEN
            assert (after.state, after.revision) == (before.state, before.revision)

    @precondition(_has_open)
    @rule(data=st.data())
    def approve_to_the_end(self, data):
        """Every remaining step approved, each by its own unit."""
        index = data.draw(st.sampled_from(sorted(self.open)), label="student")
        for _ in range(len(DEFAULT_RULES[self._open(index).change_type].chain)):
            if index not in self.open:
                break
            self.approve_one(index)

    @precondition(_has_open)
    @rule(data=st.data(), reason=st.sampled_from(RefusalReason.values))
    def refuse(self, data, reason):
        index = data.draw(st.sampled_from(sorted(self.open)), label="student")
        request = self._open(index)
        step = ApprovalStep.objects.get(request=request, state=StepState.PENDING)
        before = self._record(index)
        services.step_handle(
            actor=_handler(step.unit),
            step_id=step.pk,
            approve=False,
            refusal_reason=reason,
            comment="不符合条件",
        )
        self.open.discard(index)
        request.refresh_from_db()
        assert request.state == RequestState.REFUSED
        assert self._record(index).revision == before.revision

    @precondition(_has_open)
    @rule(data=st.data())
    def withdraw(self, data):
        index = data.draw(st.sampled_from(sorted(self.open)), label="student")
        request = self._open(index)
        before = self._record(index)
        services.change_withdraw(actor=World.filers[index][1], request_id=request.pk, reason="撤回")
        self.open.discard(index)
        assert self._record(index).revision == before.revision

    @precondition(_has_open)
    @rule(data=st.data())
    def handle_out_of_turn(self, data):
        """No unit acts on a step that is not pending (waiting, or already handled)."""
        index = data.draw(st.sampled_from(sorted(self.open)), label="student")
        request = self._open(index)
        for step in ApprovalStep.objects.filter(request=request).exclude(state=StepState.PENDING):
            with pytest.raises(Conflict):
                services.step_handle(actor=_handler(step.unit), step_id=step.pk, approve=True)
        assert self._open(index).pk == request.pk

    @rule(index=st.integers(0, 2), to_state=st.sampled_from(StatusState.values))
    def force(self, index, to_state):
        """The guarded mutator itself: an undeclared edge is refused, nothing written; a
        declared one (graduation, say, which batches perform) takes the record there."""
        student = World.students[index]
        before = self._record(index)
        if to_state == before.state:
            return
        try:
            with transaction.atomic():
                record_change(
                    actor=None,
                    record=record_lock(student_id=student.pk),
                    kind=EventKind.CHANGE,
                    effective_date=TODAY,
                    to_state=to_state,
                    reason="直接变更",
                )
        except IllegalTransition:
            assert not can_transition(before.state, to_state)
            assert self._record(index).revision == before.revision
            return
        assert can_transition(before.state, to_state)
        assert self._record(index).state == to_state

    # -- invariants (read with three queries: they run after every step)

    @invariant()
    def the_records_and_their_histories_hold(self):
        """Declared states only; a continuous history ending in the record's state, every
        change along ``TRANSITIONS``; at most one open request per student; a cancelled
        record never changes again."""
        ids = [student.pk for student in World.students]
        records = {r.pk: r for r in StatusRecord.objects.filter(pk__in=ids)}
        chains: dict[int, list[tuple[str, str]]] = {pk: [] for pk in ids}
        for record_id, from_state, to_state in (
            StatusEvent.objects.filter(record_id__in=ids)
            .order_by("record_id", "pk")
            .values_list("record_id", "from_state", "to_state")
        ):
            chains[record_id].append((from_state, to_state))
        open_requests = Counter(
            ChangeRequest.objects.filter(student_id__in=ids, state=RequestState.OPEN).values_list(
                "student_id", flat=True
            )
        )
        for pk in ids:
            record, chain = records[pk], chains[pk]
            assert record.state in StatusState.values
            assert chain and chain[0][0] == ""
            assert chain[-1][1] == record.state
            for (_, before), (after_from, after_to) in itertools.pairwise(chain):
                assert after_from == before
                if after_from != after_to:
                    assert can_transition(after_from, after_to)
            assert open_requests[pk] <= 1
            if pk in self.frozen:
                assert record.state == StatusState.CANCELLED
                assert record.revision == self.frozen[pk]
            elif record.state == StatusState.CANCELLED:
                self.frozen[pk] = record.revision


@pytest.fixture
def world(db, monkeypatch, make_student, school, school_user, county_user):
    monkeypatch.setattr(clock, "now", lambda: NOW)
    monkeypatch.setattr(clock, "today", lambda: TODAY)
    senior = SchoolFactory(school_type=SchoolType.SENIOR, division_code="440106")
    special = SchoolFactory(school_type=SchoolType.SPECIAL_EDUCATION, division_code="440106")
    senior_clerk = make_user(senior.unit)
    special_clerk = make_user(special.unit)
    World.students = [
        make_student(),  # primary, grade 13
        make_student(school=senior, actor=senior_clerk, grade="32"),
        make_student(school=special, actor=special_clerk, grade="22"),
    ]
    World.filers = [
        (school_user, county_user),
        (senior_clerk, county_user),
        (special_clerk, county_user),
    ]
    World.handlers = {
        school.unit.pk: school_user,
        senior.unit.pk: senior_clerk,
        special.unit.pk: special_clerk,
        county_user.unit_id: county_user,
    }
    World.specialised = SchoolFactory(school_type=SchoolType.SPECIALISED, division_code="440106")
    World.ordinary = SchoolFactory(division_code="440106")
    yield World
    World.students, World.filers, World.handlers = [], [], {}


def test_no_sequence_of_changes_reaches_an_illegal_state(world, settings):
    settings.MEDIA_ROOT = settings.MEDIA_ROOT / "state-machine"
    run_state_machine_as_test(
        StatusMachine,
        settings=hypothesis_settings(
            max_examples=14,
            stateful_step_count=12,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
