"""Every level sees exactly its subtree, through every scoped selector (property test).

The authorization matrix checks that nobody sees too much. This checks the other side as
well: for generated unit trees and records, each scoped selector's answer for each unit's
account equals a brute-force reference computed from the unit tree itself (each unit's
chain of parents), never from area codes or ``scope_for``. A level that sees too little (the
nation seeing no change request: ``Q() | Q(x)`` is ``Q(x)``) fails here as surely as one
that sees too much.

Each example builds its world inside a savepoint and rolls it back, so examples never see
each other's rows.
"""

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.db.models import Q
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests import factories
from xueji import clock
from xueji.accounts.models import Role, Unit, UnitKind, User
from xueji.accounts.permissions import has_permission
from xueji.accounts.rules import Permission
from xueji.accounts.scope import EVERY_ROW, Scope
from xueji.accounts.selectors import account_list, lockouts_in_scope, units_in_subtree
from xueji.accounts.services import unit_ensure_national
from xueji.anomalies.models import Finding
from xueji.anomalies.permissions import findings_in_scope
from xueji.anomalies.rules import FindingKind, FindingState
from xueji.anomalies.selectors import finding_list, open_counts, quality
from xueji.archives.models import ArchiveBackup, ArchiveDocument
from xueji.archives.permissions import access_archive, held_in_scope_q
from xueji.archives.selectors import backups_of_school
from xueji.audit.models import EarlyWarning, WarningRole
from xueji.audit.warnings import warning_counts, warning_raise, warnings_for, warnings_in_scope
from xueji.changes import services as change_services
from xueji.changes.ledger import cases_in_scope, dropout_case_list
from xueji.changes.models import ApprovalStep, ChangeRequest, DropoutCase, RuleSet
from xueji.changes.rules import ChangeType, Channel, RequestState, StepState
from xueji.changes.rulesets import rulesets_visible
from xueji.changes.selectors import queue_count, request_list, review_queue, step_counts
from xueji.enrolment.batches import batch_runs_visible
from xueji.enrolment.models import BatchKind, BatchRun, StatusRecord
from xueji.enrolment.rules import ON_ROLL
from xueji.enrolment.selectors import roll_summary
from xueji.errors import DomainError, NotFound
from xueji.exchange.models import ImportJob
from xueji.exchange.selectors import import_jobs_visible
from xueji.releases.models import DataRelease
from xueji.releases.permissions import access_release
from xueji.releases.selectors import release_list, releases_visible
from xueji.schools.models import School
from xueji.schools.rules import SchoolType
from xueji.schools.selectors import school_list, schools_visible
from xueji.students.models import NonBasicSchema, Student
from xueji.students.permissions import access_student, students_in_scope
from xueji.students.selectors import StudentFilters, nonbasic_schemas_visible, student_list
from xueji.students.services import student_register
from xueji.verification import services as campaign_services
from xueji.verification.models import Campaign, SchoolConfirmation
from xueji.verification.permissions import campaigns_visible, confirmations_visible
from xueji.verification.selectors import campaign_list, campaign_progress, open_campaigns

pytestmark = pytest.mark.django_db

# Where schools are placed: counties of two cities and two provinces, a prefecture-level
# city without counties (东莞), a county under a grouping code (河南 省直辖县级行政区划 济源),
# a municipality's district (北京 市辖区 东城), and the separately listed schools (Art. 27).
PLACES = ("440106", "440104", "440303", "441900", "510104", "419001", "110101", "overseas")
PDF = b"%PDF-1.4\n% scope property\n"


def _pdf(name: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, PDF, "application/pdf")


# ---------------------------------------------------------------- the brute-force reference


@dataclass
class Tree:
    """The units and their parents, read back once: the reference walks this, nothing else."""

    parent: dict[int, int | None]
    kind: dict[int, str]
    school_unit: dict[int, int]  # school id → its unit id
    province: dict[int, str]  # unit id → the two-digit code of its province ('' nation)

    @classmethod
    def load(cls) -> "Tree":
        rows = list(Unit.objects.values_list("pk", "parent_id", "kind", "school_id"))
        parent = {pk: parent_id for pk, parent_id, _kind, _school in rows}
        kind = {pk: unit_kind for pk, _parent, unit_kind, _school in rows}
        school_unit = {school: pk for pk, _parent, _kind, school in rows if school}
        codes = dict(Unit.objects.values_list("pk", "division_code"))
        tree = cls(parent, kind, school_unit, {})
        for pk in parent:
            chain = tree.chain(pk)
            top = chain[-2] if len(chain) >= 2 else chain[-1]  # the unit below the nation
            if kind[top] == UnitKind.NATIONAL:
                tree.province[pk] = ""
            elif kind[top] == UnitKind.SEPARATE:
                tree.province[pk] = "99"
            else:
                tree.province[pk] = codes[top][:2]
        return tree

    def chain(self, unit_id: int) -> list[int]:
        """The unit, its parent, its parent's parent… up to the nation."""
        out = [unit_id]
        while (up := self.parent.get(out[-1])) is not None:
            out.append(up)
        return out

    def within(self, unit_id: int | None, actor_unit: int) -> bool:
        """Whether ``unit_id`` lies in the subtree of ``actor_unit`` (itself included)."""
        return unit_id is not None and actor_unit in self.chain(unit_id)

    def school_within(self, school_id: int | None, actor_unit: int) -> bool:
        return school_id is not None and self.within(self.school_unit.get(school_id), actor_unit)


# ---------------------------------------------------------------- the generated world


@dataclass
class World:
    schools: list[School] = field(default_factory=list)
    students: list[Student] = field(default_factory=list)
    actors: dict[int, User] = field(default_factory=dict)  # unit id → an account of it
    units: list[Unit] = field(default_factory=list)


worlds = st.fixed_dictionaries(
    {
        "schools": st.lists(st.sampled_from(PLACES), min_size=1, max_size=6),
        "students": st.lists(st.integers(0, 99), min_size=1, max_size=8),
        # (student, receiving school, steps approved after the receiving school's own)
        "transfers": st.lists(
            st.tuples(st.integers(0, 99), st.integers(0, 99), st.integers(0, 3)), max_size=3
        ),
        # (student, approved by the school): a suspension filed by the school
        "suspensions": st.lists(st.tuples(st.integers(0, 99), st.booleans()), max_size=2),
        "findings": st.lists(st.tuples(st.integers(0, 99), st.integers(0, 99)), max_size=4),
        "warnings": st.lists(st.integers(0, 99), max_size=3),
        # (student, holder: a school when True, else an authority unit, which one)
        "documents": st.lists(
            st.tuples(st.integers(0, 99), st.booleans(), st.integers(0, 99)), max_size=3
        ),
        "backups": st.lists(st.tuples(st.integers(0, 99), st.integers(0, 99)), max_size=2),
        "cases": st.lists(st.integers(0, 99), max_size=2),
        # (school when True else an authority unit, which one)
        "runs": st.lists(st.tuples(st.booleans(), st.integers(0, 99)), max_size=3),
        "jobs": st.lists(st.integers(0, 99), max_size=2),
        "campaign": st.sampled_from(["", "national", "44", "51"]),
        "locked": st.lists(st.integers(0, 99), max_size=2),
        # (requesting unit, recipient's unit): a data release
        "releases": st.lists(st.tuples(st.integers(0, 99), st.integers(0, 99)), max_size=3),
    }
)


def _school_at(place: str) -> School:
    if place == "overseas":
        return factories.SchoolFactory(
            school_type=SchoolType.OVERSEAS_CHINESE,
            division_code="",
            area_code="990100",
            province_code="99",
            managing_level="national",
            listed_separately=True,
        )
    return factories.SchoolFactory(division_code=place)


def _pick(items: list, index: int):
    return items[index % len(items)] if items else None


def build(spec: dict[str, Any]) -> World:
    world = World()
    national = unit_ensure_national()
    for place in spec["schools"]:
        world.schools.append(_school_at(place))
    world.units = list(Unit.objects.order_by("pk"))
    for unit in world.units:
        role = Role.CLERK if unit.kind == UnitKind.SCHOOL else Role.REVIEWER
        world.actors[unit.pk] = factories.make_user(unit, roles=(role,))
    nation = world.actors[national.pk]
    for index in spec["students"]:
        school = _pick(world.schools, index)
        clerk = world.actors[school.unit.pk]
        result = student_register(
            actor=clerk, data=factories.registration(school), confirm_distinct=True
        )
        world.students.append(result.student)
    today = clock.today()
    for student_index, school_index, approvals in spec["transfers"]:
        student = _pick(world.students, student_index)
        target = _pick(world.schools, school_index)
        if student.record.school_id == target.pk:
            continue
        try:
            request = change_services.transfer_create(
                actor=world.actors[target.unit.pk],
                student=student,
                target_school=target,
                effective_date=today,
                reason="随父母工作调动",
                payload={},
                uploads=[("application", _pdf("申请表.pdf"))],
                channel=Channel.SCHOOL,
            )
        except DomainError:
            continue  # one open request per student; a grade the target does not offer
        for _approval in range(approvals):
            step = ApprovalStep.objects.filter(request=request, state=StepState.PENDING).first()
            if step is None:
                break
            change_services.step_handle(
                actor=world.actors[step.unit_id], step_id=step.pk, approve=True
            )
        student.record.refresh_from_db()
    for student_index, approve in spec["suspensions"]:
        student = _pick(world.students, student_index)
        try:
            request = change_services.change_file(
                actor=world.actors[student.record.school.unit.pk],
                student_id=student.pk,
                change_type=ChangeType.SUSPEND,
                effective_date=today,
                reason="因病休学",
                uploads=[("application", _pdf("申请.pdf")), ("medical", _pdf("诊断.pdf"))],
            )
        except DomainError:
            continue
        if approve:
            step = ApprovalStep.objects.get(request=request, state=StepState.PENDING)
            change_services.step_handle(
                actor=world.actors[step.unit_id], step_id=step.pk, approve=True
            )
    now = clock.now()
    # One open finding of a kind per student (a constraint): the last unit drawn wins.
    found = {_pick(world.students, s).pk: _pick(world.units, u) for s, u in spec["findings"]}
    for student_id, unit in found.items():
        Finding.objects.create(
            kind=FindingKind.AGE_GRADE,
            student_id=student_id,
            unit=unit,
            school_year=2026,
            semester=1,
            state=FindingState.OPEN,
            detected_at=now,
            last_seen_at=now,
        )
    for number, unit_index in enumerate(spec["warnings"]):
        warning_raise(
            kind="test.scope",
            unit=_pick(world.units, unit_index),
            subject_type="test.subject",
            subject_id=number,
            message="范围测试预警",
            due_date=today,
        )
    authorities = [u for u in world.units if u.kind != UnitKind.SCHOOL]
    for number, (student_index, at_school, holder_index) in enumerate(spec["documents"]):
        student = _pick(world.students, student_index)
        ArchiveDocument.objects.create(
            student=student,
            holder=_pick(world.schools, holder_index) if at_school else None,
            holder_unit=None if at_school else _pick(authorities, holder_index),
            kind="material",
            title=f"材料{number}",
            file=f"archives/test/{number}.pdf",
            content_type="application/pdf",
            size=len(PDF),
            sha256="0" * 64,
            created_at=now,
        )
    for number, (student_index, school_index) in enumerate(spec["backups"]):
        ArchiveBackup.objects.create(
            school=_pick(world.schools, school_index),
            student=_pick(world.students, student_index),
            request_id=10_000 + number,
            transferred_on=today,
            history_until=today,
            created_at=now,
        )
    for student_index in dict.fromkeys(spec["cases"]):
        student = _pick(world.students, student_index)
        record = StatusRecord.objects.select_related("school").get(pk=student.pk)
        if DropoutCase.objects.filter(student=student).exists():
            continue
        DropoutCase.objects.create(
            student=student,
            school=record.school,
            area_code=record.school.area_code,
            stage=record.stage,
            grade=record.grade,
            opened_on=today,
            created_at=now,
        )
    for at_school, index in spec["runs"]:
        school = _pick(world.schools, index) if at_school else None
        unit = None if at_school else _pick(authorities, index)
        BatchRun.objects.create(
            kind=BatchKind.PROMOTE,
            scope_area=school.area_code if school else unit.area_prefix,
            school=school,
            school_year=2026,
            cutoff=today,
            created_at=now,
        )
    for index in spec["jobs"]:
        unit = _pick(world.units, index)
        ImportJob.objects.create(
            kind="students",
            mode="valid_rows",
            file_name="x.csv",
            file_sha256="0" * 64,
            created_by=world.actors[unit.pk],
            unit=unit,
        )
    if spec["campaign"]:
        province = "" if spec["campaign"] == "national" else spec["campaign"]
        campaign = campaign_services.campaign_open(
            actor=nation,
            province_code=province,
            school_year=2026,
            semester=1,
            deadline=today + timedelta(days=30),
        )
        for school in world.schools:
            if (school.province_code == province or not province) and school.pk % 2:
                campaign_services.roll_open(
                    actor=world.actors[school.unit.pk], campaign_id=campaign.pk
                )
    for index in spec["locked"]:
        actor = _pick(list(world.actors.values()), index)
        User.objects.filter(pk=actor.pk).update(locked_until=now + timedelta(hours=1))
    for number, (unit_index, recipient_index) in enumerate(spec["releases"]):
        unit = _pick(world.units, unit_index)
        DataRelease.objects.create(
            reference=f"SJFB-2026-{number:08X}",
            unit=unit,
            purpose="范围测试",
            basis_kind="law",
            basis_law="《中华人民共和国统计法》第七条",
            kind="rows",
            fields=["sex"],
            identifiers="pseudonym",
            birth="year",
            k=5,
            threshold=5,
            output_format="csv",
            recipient_organisation="范围测试",
            recipient=world.actors[_pick(world.units, recipient_index).pk],
            expires_on=today,
            requested_by=world.actors[unit.pk],
            requested_at=now,
            key_salt="0" * 32,
        )
    return world


# ---------------------------------------------------------------- the checks


def ids(rows) -> set:
    return {row.pk for row in rows}


@dataclass
class Rows:
    """Every row the references read, loaded once per example."""

    records: dict[int, tuple[int, str]]  # student id → (school id, state)
    request_sides: list[tuple[int, int, int | None]]
    step_units: dict[int, set[int]]
    pending_steps: list[tuple[int, int]]  # (step id, unit id), of open requests
    step_requests: dict[int, int]  # step id → request id
    findings: list[tuple[int, int]]
    campaigns: list[tuple[int, str]]
    confirmations: list[tuple[int, int, int]]  # (id, campaign id, school id)
    documents: list[tuple[int, int, int | None, int | None]]  # (id, student, school, unit)
    backups: list[tuple[int, int]]
    warnings: list[tuple[int, int, str]]
    users: list[tuple[int, int | None, bool]]  # (id, unit id, locked now)
    cases: list[tuple[int, int]]
    runs: list[tuple[int, int | None, str]]
    jobs: list[tuple[Any, int]]
    rulesets: list[tuple[int, str]]
    schemas: list[tuple[int, str]]
    releases: list[tuple[int, int, int]]  # (id, requesting unit, recipient account)
    authority_prefixes: dict[str, int]  # area prefix → authority unit id

    @classmethod
    def load(cls) -> "Rows":
        now = clock.now()
        step_units: dict[int, set[int]] = {}
        for request_id, unit_id in ApprovalStep.objects.values_list("request_id", "unit_id"):
            step_units.setdefault(request_id, set()).add(unit_id)
        return cls(
            records={
                pk: (school, state)
                for pk, school, state in StatusRecord.objects.values_list(
                    "pk", "school_id", "state"
                )
            },
            request_sides=list(
                ChangeRequest.objects.values_list("pk", "school_id", "target_school_id")
            ),
            step_units=step_units,
            step_requests=dict(ApprovalStep.objects.values_list("pk", "request_id")),
            pending_steps=list(
                ApprovalStep.objects.filter(
                    state=StepState.PENDING, request__state=RequestState.OPEN
                ).values_list("pk", "unit_id")
            ),
            findings=list(Finding.objects.values_list("pk", "unit_id")),
            campaigns=list(Campaign.objects.values_list("pk", "province_code")),
            confirmations=list(
                SchoolConfirmation.objects.values_list("pk", "campaign_id", "school_id")
            ),
            documents=list(
                ArchiveDocument.objects.values_list(
                    "pk", "student_id", "holder_id", "holder_unit_id"
                )
            ),
            backups=list(ArchiveBackup.objects.values_list("pk", "school_id")),
            warnings=list(EarlyWarning.objects.values_list("pk", "unit_id", "role")),
            users=[
                (pk, unit_id, bool(locked and locked > now))
                for pk, unit_id, locked in User.objects.values_list("pk", "unit_id", "locked_until")
            ],
            cases=list(DropoutCase.objects.values_list("pk", "school_id")),
            runs=list(BatchRun.objects.values_list("pk", "school_id", "scope_area")),
            jobs=list(ImportJob.objects.values_list("pk", "unit_id")),
            rulesets=list(RuleSet.objects.values_list("pk", "province_code")),
            schemas=list(NonBasicSchema.objects.values_list("pk", "province_code")),
            releases=list(DataRelease.objects.values_list("pk", "unit_id", "recipient_id")),
            authority_prefixes={
                prefix: pk
                for pk, prefix in Unit.objects.exclude(kind=UnitKind.SCHOOL).values_list(
                    "pk", "area_prefix"
                )
            },
        )


def reached(access, *args, **kwargs) -> bool:
    try:
        access(*args, **kwargs)
    except NotFound:
        return False
    return True


def probes(candidates, inside: set) -> list:
    """One object inside the set and one outside (when there are): the single-object
    ``access_*`` functions are tried on both sides, cheaply."""
    candidates = sorted(candidates)
    return [
        *[pk for pk in candidates if pk in inside][:1],
        *[pk for pk in candidates if pk not in inside][:1],
    ]


def check_every_selector(world: World) -> None:
    tree = Tree.load()
    rows = Rows.load()
    for unit_id, actor in world.actors.items():
        actor = User.objects.select_related("unit").get(pk=actor.pk)
        within = tree.within
        school_within = tree.school_within
        kind = tree.kind[unit_id]
        where = f"{kind} unit {unit_id}"

        # schools and students
        schools = {s for s in tree.school_unit if school_within(s, unit_id)}
        assert ids(schools_visible(actor)) == schools, where
        assert ids(school_list(actor)) == schools, where
        students = {
            pk for pk, (school, _s) in rows.records.items() if school_within(school, unit_id)
        }
        assert ids(students_in_scope(actor)) == students, where
        page = student_list(actor, filters=StudentFilters(), limit=1000)
        assert ids(page.rows) == students, where
        for pk in probes(rows.records, students):
            assert reached(access_student, actor, student_id=pk) == (pk in students), (where, pk)
        on_roll = sum(
            1
            for school, state in rows.records.values()
            if state in ON_ROLL and school_within(school, unit_id)
        )
        summary = roll_summary(actor)
        totals = summary.get("area_totals") or summary.get("school_totals") or {}
        assert totals.get("on_roll", 0) == on_roll, (where, summary)

        # change requests and steps
        requests = {
            pk
            for pk, school, target in rows.request_sides
            if school_within(school, unit_id)
            or school_within(target, unit_id)
            or unit_id in rows.step_units.get(pk, set())
        }
        assert ids(request_list(actor)) == requests, where
        for pk in probes([pk for pk, _s, _t in rows.request_sides], requests):
            assert reached(change_services.access_request, actor, pk) == (pk in requests), where
        pending = {pk for pk, step_unit in rows.pending_steps if step_unit == unit_id}
        assert ids(review_queue(actor)) == pending, where
        assert queue_count(actor) == len(pending), where
        # the home page's figures and the lists they open (/changes/?step=…)
        area_steps = {pk for pk, step_unit in rows.pending_steps if within(step_unit, unit_id)}
        figures = step_counts(actor)
        assert (figures["mine"], figures["area"]) == (len(pending), len(area_steps)), where
        for step, steps in (("mine", pending), ("area", area_steps)):
            expected = {rows.step_requests[pk] for pk in steps}
            assert ids(request_list(actor, step=step)) == expected, (where, step)

        # findings
        findings = {pk for pk, finding_unit in rows.findings if within(finding_unit, unit_id)}
        own = {pk for pk, finding_unit in rows.findings if finding_unit == unit_id}
        assert ids(findings_in_scope(actor)) == findings, where
        assert ids(finding_list(actor, tab="unit", state="")) == own, where
        if kind != UnitKind.SCHOOL:
            assert ids(finding_list(actor, tab="subtree", state="")) == findings - own, where
        counts = open_counts(actor)
        assert counts["unit"]["all"] + counts["subtree"]["all"] == len(findings), where
        assert quality(actor).open_total == len(findings), where

        # campaigns and rolls: a national campaign for everyone; a province's for the
        # nation and that province's units; a school sees those it takes part in
        province = tree.province[unit_id]
        school_id = next((s for s, u in tree.school_unit.items() if u == unit_id), None)
        taking_part = {c for _pk, c, s in rows.confirmations if s == school_id}
        campaigns = {
            pk
            for pk, scope in rows.campaigns
            if (pk in taking_part if kind == UnitKind.SCHOOL else scope in ("", province))
            or province == ""
        }
        assert ids(campaigns_visible(actor)) == campaigns, where
        opened = {item.campaign.pk: item.schools for item in open_campaigns(actor)}
        for campaign in campaign_list(actor):
            mine = {
                pk
                for pk, c, school in rows.confirmations
                if c == campaign.pk and school_within(school, unit_id)
            }
            assert ids(confirmations_visible(actor, campaign)) == mine, where
            assert campaign.schools_in_scope == len(mine), (where, campaign.pk)
            if campaign.state == "open":
                assert opened.get(campaign.pk, 0) == len(mine), (where, campaign.pk)
            assert campaign_progress(actor, campaign.pk).total.schools == len(mine), where

        # archives: documents by their holder (a school, or an authority while abroad)
        held = {
            pk
            for pk, _student, school, holder_unit in rows.documents
            if school_within(school, unit_id) or within(holder_unit, unit_id)
        }
        assert ids(ArchiveDocument.objects.filter(held_in_scope_q(actor))) == held, where
        latest = {student: pk for pk, student, _s, _u in sorted(rows.documents)}
        readable = {
            student_id
            for student_id, (school, _state) in rows.records.items()
            if (
                latest[student_id] in held
                if student_id in latest
                else school_within(school, unit_id)
            )
        }
        for student_id in probes(rows.records, readable):
            expected = student_id in readable
            assert reached(access_archive, actor, student_id=student_id) == expected, where
        backups = {pk for pk, school in rows.backups if school_within(school, unit_id)}
        assert ids(backups_of_school(actor)) == backups, where

        # warnings: the area's (each problem once, at the party) and the unit's own
        area_warnings = {
            pk
            for pk, w_unit, role in rows.warnings
            if role == WarningRole.PARTY and within(w_unit, unit_id)
        }
        assert ids(warnings_in_scope(actor)) == area_warnings, where
        own_warnings = {pk for pk, w_unit, _role in rows.warnings if w_unit == unit_id}
        assert ids(warnings_for(actor)) == own_warnings, where
        assert warning_counts(actor) == {
            "mine": len(own_warnings),
            "area": len(area_warnings),
        }, where

        # accounts: the admin lists and the security page read the same subtree
        accounts = {pk for pk, u, _locked in rows.users if within(u, unit_id)}
        assert ids(account_list(actor)) == accounts, where
        assert ids(units_in_subtree(actor)) == {u for u in tree.parent if within(u, unit_id)}
        locked = {pk for pk, u, is_locked in rows.users if is_locked and within(u, unit_id)}
        assert ids(lockouts_in_scope(actor).locked_now) == locked, where

        # the dropout ledger, batch runs (home: the school, or the unit of the area its
        # prefix names), import jobs (the unit's own)
        cases = {pk for pk, school in rows.cases if school_within(school, unit_id)}
        assert ids(cases_in_scope(actor)) == cases, where
        assert ids(dropout_case_list(actor, state="")) == cases, where
        runs = {
            pk
            for pk, school, area in rows.runs
            if (
                school_within(school, unit_id)
                if school
                else within(rows.authority_prefixes.get(area), unit_id)
            )
        }
        assert ids(batch_runs_visible(actor)) == runs, where
        jobs = {pk for pk, job_unit in rows.jobs if job_unit == unit_id}
        assert ids(import_jobs_visible(actor)) == jobs, where

        # province layers: the national one and the actor's own province's (all: the nation)
        def layer(code: str) -> bool:
            return province == "" or code in ("", province)  # noqa: B023 - used at once

        assert ids(rulesets_visible(actor)) == {pk for pk, code in rows.rulesets if layer(code)}
        assert ids(nonbasic_schemas_visible(actor)) == {
            pk for pk, code in rows.schemas if layer(code)
        }, where

        # data releases: the subtree's (release.view: the authorities' reviewers here) and,
        # for anyone, the ones it receives
        subtree_releases = (
            {pk for pk, r_unit, _to in rows.releases if within(r_unit, unit_id)}
            if has_permission(actor, Permission.RELEASE_VIEW)
            else set()
        )
        assert ids(release_list(actor)) == subtree_releases, where
        readable = subtree_releases | {pk for pk, _u, to in rows.releases if to == actor.pk}
        assert ids(releases_visible(actor)) == readable, where
        for pk in probes({pk for pk, _u, _to in rows.releases}, readable):
            assert reached(access_release, actor, release_id=pk) == (pk in readable), where


# Every place, every kind of record, at once: always tried, whatever Hypothesis draws.
EVERYTHING_AT_ONCE = {
    "schools": ["440106", "510104", "441900", "overseas", "419001", "110101"],
    "students": [0, 1, 2, 3, 4, 5, 6, 7],
    "transfers": [(0, 1, 3), (1, 2, 1), (2, 0, 2)],
    "suspensions": [(3, True), (4, False)],
    "findings": [(0, 0), (1, 5), (2, 9)],
    "warnings": [0, 3, 7],
    "documents": [(0, True, 1), (1, False, 2), (2, False, 0)],
    "backups": [(0, 1), (3, 2)],
    "cases": [1, 4],
    "runs": [(True, 0), (False, 1), (False, 3)],
    "jobs": [0, 4],
    "campaign": "national",
    "locked": [1],
    "releases": [(0, 3), (4, 0), (9, 1)],
}


# Each example builds and checks some twenty units' worth of reads (about 5 s here): a few
# examples besides the explicit one keep the suite's time in bounds.
@settings(
    max_examples=8,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@example(spec=EVERYTHING_AT_ONCE)
@example(spec={**EVERYTHING_AT_ONCE, "campaign": "44"})
@given(spec=worlds)
def test_every_scoped_selector_answers_exactly_the_subtree(spec):
    """Each level sees all of its subtree and nothing outside it, whatever the tree."""
    with transaction.atomic():
        world = build(spec)
        check_every_selector(world)
        transaction.set_rollback(True)


def test_the_nation_sees_requests_it_has_no_step_in(national_user, school, other_school):
    """The defect behind the property: ``Q() | Q(x)`` is ``Q(x)``. A transfer between two
    schools of two provinces, with no national step, is on the national list."""
    clerk = factories.make_user(other_school.unit)
    student = student_register(
        actor=factories.make_user(school.unit),
        data=factories.registration(school),
        confirm_distinct=True,
    ).student
    request = change_services.transfer_create(
        actor=clerk,
        student=student,
        target_school=other_school,
        effective_date=clock.today(),
        reason="随父母工作调动",
        payload={},
        uploads=[("application", _pdf("申请表.pdf"))],
        channel=Channel.SCHOOL,
    )
    assert ids(request_list(national_user)) == {request.pk}
    assert change_services.access_request(national_user, request.pk) == request


def test_everything_is_never_an_empty_filter():
    """ORed with anything, the nation's filter still keeps every row."""
    everything = Scope(everything=True).q()
    assert everything == EVERY_ROW and len(everything) > 0
    assert len(everything | Q(pk=1)) == 2


def test_no_scope_filter_returns_an_empty_q():
    """Siblings of the mistake: no module builds "every row" as ``Q()`` (it vanishes from
    an OR). ``EVERY_ROW`` is the one spelling."""
    root = Path(__file__).resolve().parent.parent / "xueji"
    offenders = [
        f"{path.relative_to(root)}:{number}"
        for path in root.rglob("*.py")
        if "tests" not in path.parts and "migrations" not in path.parts
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if line.strip() in ("return Q()", "return Q()  # everything") or "else Q()" in line
    ]
    assert offenders == []
