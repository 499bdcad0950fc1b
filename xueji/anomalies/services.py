"""The only writers of findings, verdicts, merges and sightings.

- ``detector_run`` / ``detect_all``: run detectors and bring the open findings in line
  with what they saw — new subjects inserted in bulk, changed evidence or units updated in
  bulk, subjects no longer seen resolved in one UPDATE per chunk. A subject dismissed this
  semester, or a pair marked "different people", is not raised again.
- ``linkage_ingest`` / ``linkage_run``: the nightly Splink linkage as the duplicate
  detector's second source.
- ``finding_merge`` / ``merge_undo``: merge two records of one person, reversibly (every
  changed row is kept before and after in the merge's snapshot; undo puts each back and
  deletes the rows the merge created, refusing when anything changed since).
- ``finding_mark_different``, ``finding_dismiss``: a person's verdict.
- ``sightings_import``: an attendance list (student number, school code, date).
"""

import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.utils.text import format_lazy
from django.utils.translation import gettext as _

from xueji import clock
from xueji.accounts.permissions import require_permission
from xueji.accounts.rules import Permission
from xueji.accounts.scope import scope_for
from xueji.archives.models import ArchiveDocument, PaperArchiveEntry
from xueji.archives.permissions import archive_holder
from xueji.audit.events import AuditAction, ObjectType
from xueji.audit.services import audit_record
from xueji.changes.models import ChangeRequest, DropoutCase, DropoutCaseState
from xueji.changes.rules import RequestState, semester_of
from xueji.enrolment.models import StatusEvent, StatusRecord
from xueji.enrolment.rules import EventKind, StatusState
from xueji.enrolment.services import record_change
from xueji.errors import Conflict, FieldError, ValidationFailed
from xueji.exchange.columns import Column
from xueji.exchange.readers import ImportFileError, open_import_file
from xueji.schools.models import School
from xueji.students import identity
from xueji.students.models import Guardian, NonBasicInfo, Student, StudentNumber

from . import snapshots
from .detectors import DETECTORS, Context, Found, Key, context_for, duplicates_from_linkage
from .models import AttendanceSighting, Finding, MergeRecord, PairVerdict
from .permissions import access_finding_resolve, access_merge
from .rules import (
    FindingKind,
    FindingState,
    MergeState,
    Resolution,
    Source,
    semester_start,
)

CHUNK = 2000
REASON_MIN = 2
REASON_MAX = 500


def _username(actor: Any) -> str:
    return (getattr(actor, "username", "") or "")[:150]


def _actor_id(actor: Any) -> int | None:
    return getattr(actor, "pk", None)


def _chunks(items: list[Any], size: int = CHUNK) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# ---------------------------------------------------------------- registration


def _unit_chain(school_id: int) -> list[int]:
    """The unit of a school and its ancestors' ids, up to the nation."""
    from xueji.accounts.models import Unit
    from xueji.accounts.services import unit_ensure_for_school

    unit = unit_ensure_for_school(School.objects.get(pk=school_id))
    chain = [unit.pk]
    parent_id = unit.parent_id
    while parent_id is not None and parent_id not in chain:
        chain.append(parent_id)
        parent_id = Unit.objects.filter(pk=parent_id).values_list("parent_id", flat=True).first()
    return chain


def duplicate_finding_raise(
    *, actor: Any, student_id: int, other_ids: list[int], evidence: dict[int, dict[str, Any]]
) -> int:
    """Open a duplicate finding for each pair (``student_id``, other): a registration went
    ahead although its duplicate check met candidates outside the clerk's scope, which the
    clerk could not see (``xueji.students.disclosure``). Each finding goes to the lowest
    unit covering both records; its evidence is kept under ``registration``. A pair judged
    different people is left alone; an open finding of the pair gets the evidence added.
    Returns the number of findings opened."""
    from .rules import lowest_common

    now = clock.now()
    year, semester = semester_of(clock.today())
    schools = dict(
        StatusRecord.objects.filter(student_id__in=[student_id, *other_ids]).values_list(
            "student_id", "school_id"
        )
    )
    chains: dict[int, list[int]] = {}
    opened = 0
    with transaction.atomic():
        for other in sorted(set(other_ids)):
            first, second = sorted((student_id, other))
            if first not in schools or second not in schools:
                continue
            if PairVerdict.objects.filter(student_a_id=first, student_b_id=second).exists():
                continue
            seen = {Source.REGISTRATION: evidence.get(other, {})}
            found = (
                Finding.objects.select_for_update()
                .filter(
                    kind=FindingKind.DUPLICATE,
                    student_id=first,
                    other_student_id=second,
                    state=FindingState.OPEN,
                )
                .first()
            )
            if found is not None:
                found.evidence = {**(found.evidence or {}), **seen}
                found.last_seen_at = now
                found.save(update_fields=["evidence", "last_seen_at"])
                continue
            for school_id in (schools[first], schools[second]):
                if school_id not in chains:
                    chains[school_id] = _unit_chain(school_id)
            unit_id = lowest_common(chains[schools[first]], chains[schools[second]])
            if unit_id is None:
                unit_id = chains[schools[first]][-1]
            try:
                with transaction.atomic():
                    finding = Finding.objects.create(
                        kind=FindingKind.DUPLICATE,
                        student_id=first,
                        other_student_id=second,
                        evidence=seen,
                        unit_id=unit_id,
                        school_year=year,
                        semester=semester,
                        detected_at=now,
                        last_seen_at=now,
                    )
            except IntegrityError:  # opened meanwhile by a detector run
                continue
            opened += 1
            audit_record(
                actor=actor,
                action=AuditAction.ANOMALY_DETECT,
                object_type=ObjectType.ANOMALY_FINDING,
                object_id=finding.pk,
                summary="注册查重发现辖区外疑似重复学籍，交上级单位核查",  # always Chinese
                detail={"student_ids": [first, second], "unit_id": unit_id},
            )
    return opened


# ---------------------------------------------------------------- detector runs


@dataclass
class RunCounts:
    """What one run of one kind did."""

    kind: str
    sources: tuple[str, ...]
    found: int = 0
    created: int = 0
    updated: int = 0
    kept: int = 0
    resolved: int = 0
    suppressed: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "sources": list(self.sources),
            "found": self.found,
            "created": self.created,
            "updated": self.updated,
            "kept": self.kept,
            "resolved": self.resolved,
            "suppressed": self.suppressed,
            "seconds": round(self.seconds, 3),
        }


def _suppressed(kind: str, today: date) -> set[Key]:
    """Subjects not to raise again: dismissed this semester, or pairs judged different."""
    year, semester = semester_of(today)
    start = semester_start(year, semester)
    keys: set[Key] = set(
        Finding.objects.filter(
            kind=kind, state=FindingState.DISMISSED, resolved_at__date__gte=start
        ).values_list("student_id", "other_student_id")
    )
    if kind == FindingKind.DUPLICATE:
        keys |= set(PairVerdict.objects.values_list("student_a_id", "student_b_id"))
    return keys


def findings_sync(
    *, kind: str, sources: tuple[str, ...], found: dict[Key, Found], ctx: Context
) -> RunCounts:
    """Make the open findings of ``kind`` agree with what ``sources`` saw now.

    ``found`` holds, per subject, the unit and the evidence ``{source: …}`` of the sources
    that saw it. Evidence of other sources on an open finding is kept, and the finding
    stays open while any source still sees it.
    """
    counts = RunCounts(kind=kind, sources=sources, found=len(found))
    now = ctx.now
    year, semester = semester_of(ctx.today)
    suppressed = _suppressed(kind, ctx.today)
    existing: dict[Key, tuple[int, int, dict[str, Any]]] = {
        (student_id, other_id): (pk, unit_id, evidence or {})
        for pk, student_id, other_id, unit_id, evidence in Finding.objects.filter(
            kind=kind, state=FindingState.OPEN
        ).values_list("pk", "student_id", "other_student_id", "unit_id", "evidence")
    }
    to_create: list[Finding] = []
    to_update: list[Finding] = []
    to_touch: list[int] = []
    to_resolve: list[int] = []
    for key, seen in found.items():
        if key in suppressed and key not in existing:
            counts.suppressed += 1
            continue
        if key not in existing:
            to_create.append(
                Finding(
                    kind=kind,
                    student_id=key[0],
                    other_student_id=key[1],
                    evidence=seen.evidence,
                    unit_id=seen.unit_id,
                    school_year=year,
                    semester=semester,
                    detected_at=now,
                    last_seen_at=now,
                )
            )
            continue
        pk, unit_id, evidence = existing[key]
        others = {s: e for s, e in evidence.items() if s not in sources}
        merged = {**others, **seen.evidence}
        unit = ctx.units.common(seen.unit_id, unit_id) if others else seen.unit_id
        if merged != evidence or unit != unit_id:
            to_update.append(Finding(pk=pk, evidence=merged, unit_id=unit, last_seen_at=now))
        else:
            to_touch.append(pk)
    for key, (pk, unit_id, evidence) in existing.items():
        if key in found or not any(s in evidence for s in sources):
            continue
        others = {s: e for s, e in evidence.items() if s not in sources}
        if others:
            to_update.append(Finding(pk=pk, evidence=others, unit_id=unit_id, last_seen_at=now))
        else:
            to_resolve.append(pk)
    with transaction.atomic():
        created = Finding.objects.bulk_create(to_create, batch_size=1000, ignore_conflicts=True)
        Finding.objects.bulk_update(
            to_update, ["evidence", "unit", "last_seen_at"], batch_size=1000
        )
        for chunk in _chunks(to_touch):
            Finding.objects.filter(pk__in=chunk, state=FindingState.OPEN).update(last_seen_at=now)
        for chunk in _chunks(to_resolve):
            Finding.objects.filter(pk__in=chunk, state=FindingState.OPEN).update(
                state=FindingState.RESOLVED,
                resolution=Resolution.AUTO,
                resolved_at=now,
                resolved_by=None,
                resolved_by_username="",
            )
        counts.created = len(created)
        counts.updated = len(to_update)
        counts.kept = len(to_touch)
        counts.resolved = len(to_resolve)
        if counts.created or counts.updated or counts.resolved:
            audit_record(
                actor=None,
                action=AuditAction.ANOMALY_DETECT,
                object_type=ObjectType.ANOMALY_KIND,
                object_id=kind,
                summary=format_lazy(
                    "异常检测（{}）：新发现 {}，更新 {}，已消除 {}",
                    FindingKind(kind).label,
                    counts.created,
                    counts.updated,
                    counts.resolved,
                ),
                detail=counts.as_dict(),
            )
    return counts


def _merge_found(ctx: Context, per_source: dict[str, dict[Key, Found]]) -> dict[Key, Found]:
    """One entry per subject: the evidence of every source that saw it, and the lowest
    unit covering what each source routed it to."""
    units: dict[Key, list[int]] = defaultdict(list)
    evidence: dict[Key, dict[str, Any]] = defaultdict(dict)
    for source, items in per_source.items():
        for key, seen in items.items():
            units[key].append(seen.unit_id)
            evidence[key][source] = seen.evidence
    return {
        key: Found(unit_id=ctx.units.common(*units[key]), evidence=evidence[key]) for key in units
    }


def detector_run(
    *,
    kind: str,
    today: date | None = None,
    progress: Callable[[str], None] | None = None,
    ctx: Context | None = None,
) -> RunCounts:
    """Run one kind's detector (every source but the linkage) and sync its findings."""
    if kind not in DETECTORS:
        raise ValueError(f"unknown anomaly kind: {kind}")
    started = time.perf_counter()
    ctx = ctx or context_for(today=today or clock.today(), now=clock.now(), progress=progress)
    per_source = {}
    for source, finder in DETECTORS[kind].items():
        ctx.progress(f"{kind}/{source}")
        per_source[source] = finder(ctx)
    counts = findings_sync(
        kind=kind,
        sources=tuple(DETECTORS[kind]),
        found=_merge_found(ctx, per_source),
        ctx=ctx,
    )
    counts.seconds = time.perf_counter() - started
    return counts


def detect_all(
    *,
    kinds: Iterable[str] | None = None,
    today: date | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[RunCounts]:
    """Run the detectors of ``kinds`` (all by default) with one shared context: the unit
    tree and the campaign reads are loaded once."""
    ctx = context_for(today=today or clock.today(), now=clock.now(), progress=progress)
    return [detector_run(kind=kind, ctx=ctx) for kind in (kinds or DETECTORS)]


def linkage_ingest(
    *, result: Any, today: date | None = None, progress: Callable[[str], None] | None = None
) -> RunCounts:
    """Findings from a ``linkage.LinkageResult``: its pairs are the duplicate detector's
    ``linkage`` source (pairs no longer linked lose that evidence)."""
    started = time.perf_counter()
    ctx = context_for(today=today or clock.today(), now=clock.now(), progress=progress)
    found = {
        key: Found(unit_id=seen.unit_id, evidence={Source.LINKAGE: seen.evidence})
        for key, seen in duplicates_from_linkage(ctx, result).items()
    }
    counts = findings_sync(
        kind=FindingKind.DUPLICATE, sources=(Source.LINKAGE,), found=found, ctx=ctx
    )
    counts.seconds = time.perf_counter() - started
    return counts


def linkage_available() -> bool:
    try:
        import splink  # noqa: F401

        from . import linkage  # noqa: F401
    except ImportError:
        return False
    return True


def linkage_run(
    *,
    backend: str | None = None,
    threshold_probability: float | None = None,
    limit: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> RunCounts | None:
    """Read the registry, link it (DuckDB or Spark, by setting), ingest the pairs.
    ``None`` when the linkage is not installed here."""
    if not linkage_available():
        return None
    from . import extract, linkage

    say = progress or (lambda message: None)
    config = getattr(settings, "XUEJI", {})
    cutoff = threshold_probability or linkage.configured_threshold()
    table = extract.registry_table(limit=limit)
    say(_("读取学籍 %(n)s 条") % {"n": f"{table.num_rows:,}"})
    if table.num_rows < 2:
        result: Any = linkage.LinkageResult(
            backend=backend or config.get("LINKAGE_BACKEND", "duckdb"),
            records=table.num_rows,
            threshold=cutoff,
            pairs=[],
            clusters=[],
        )
    else:
        result = linkage.run_linkage(table, backend=backend, threshold=cutoff, progress=say)
    return linkage_ingest(result=result, progress=progress)


# ---------------------------------------------------------------- people's verdicts


def _reason_errors(reason: str, field_name: str = "reason") -> list[FieldError]:
    text = (reason or "").strip()
    if len(text) < REASON_MIN:
        return [FieldError(field_name, "anomaly.reason_missing", _("请填写理由。"))]
    if len(text) > REASON_MAX:
        return [
            FieldError(
                field_name,
                "anomaly.reason_too_long",
                _("理由不能超过 %(n)d 个字。") % {"n": REASON_MAX},
            )
        ]
    return []


def _require_open(finding: Finding) -> None:
    if finding.state != FindingState.OPEN:
        raise Conflict("anomaly.not_open", _("该异常已处理，不能再次处理。"))


def _close(finding: Finding, *, actor: Any, state: str, resolution: str, note: str) -> None:
    finding.state = state
    finding.resolution = resolution
    finding.resolution_note = note[:REASON_MAX]
    finding.resolved_at = clock.now()
    finding.resolved_by = actor if _actor_id(actor) else None
    finding.resolved_by_username = _username(actor)
    finding.save(
        update_fields=[
            "state",
            "resolution",
            "resolution_note",
            "resolved_at",
            "resolved_by",
            "resolved_by_username",
        ]
    )


def finding_dismiss(*, actor: Any, finding_id: int, reason: str) -> Finding:
    """A reviewer finds the record right after all (an older pupil with a reason, say):
    the finding is dismissed and not raised again this semester. Duplicates are resolved
    by a merge or a "different people" verdict instead."""
    errors = _reason_errors(reason)
    with transaction.atomic():
        finding = access_finding_resolve(actor, finding_id, for_update=True)
        _require_open(finding)
        if finding.kind == FindingKind.DUPLICATE:
            raise Conflict(
                "anomaly.duplicate_needs_verdict",
                _("重复学籍须合并或确认非同一人，不能直接排除。"),
            )
        if errors:
            raise ValidationFailed(errors)
        _close(
            finding,
            actor=actor,
            state=FindingState.DISMISSED,
            resolution=Resolution.DISMISSED,
            note=reason.strip(),
        )
        audit_record(
            actor=actor,
            action=AuditAction.ANOMALY_DISMISS,
            object_type=ObjectType.ANOMALY_FINDING,
            object_id=finding.pk,
            summary=format_lazy(
                "排除学籍异常（{}）#{}", FindingKind(finding.kind).label, finding.pk
            ),
            detail={"kind": finding.kind, "student_id": finding.student_id, "reason": reason},
        )
    return finding


def finding_mark_different(*, actor: Any, finding_id: int, reason: str) -> PairVerdict:
    """The two records of a duplicate finding are different people: recorded as a verdict
    on the pair, which is never raised as a duplicate again."""
    errors = _reason_errors(reason)
    with transaction.atomic():
        finding = access_finding_resolve(actor, finding_id, for_update=True)
        _require_open(finding)
        if finding.kind != FindingKind.DUPLICATE or finding.other_student_id is None:
            raise Conflict("anomaly.not_a_pair", _("只有重复学籍可以确认为非同一人。"))
        if errors:
            raise ValidationFailed(errors)
        now = clock.now()
        verdict, _created = PairVerdict.objects.get_or_create(
            student_a_id=finding.student_id,
            student_b_id=finding.other_student_id,
            defaults={
                "finding": finding,
                "by": actor if _actor_id(actor) else None,
                "by_username": _username(actor),
                "at": now,
                "reason": reason.strip()[:REASON_MAX],
            },
        )
        _close(
            finding,
            actor=actor,
            state=FindingState.DISMISSED,
            resolution=Resolution.DIFFERENT_PEOPLE,
            note=reason.strip(),
        )
        audit_record(
            actor=actor,
            action=AuditAction.ANOMALY_DIFFERENT_PEOPLE,
            object_type=ObjectType.ANOMALY_FINDING,
            object_id=finding.pk,
            summary=f"确认非同一人：学生 {finding.student_id} 与 {finding.other_student_id}",
            detail={
                "student_a": finding.student_id,
                "student_b": finding.other_student_id,
                "verdict_id": verdict.pk,
                "reason": reason,
            },
        )
    return verdict


# ---------------------------------------------------------------- merges


class _Snapshot:
    """The rows a merge touches: each changed row before and after, each created row."""

    def __init__(self) -> None:
        self.before: dict[tuple[str, Any], dict[str, Any]] = {}
        self.created: list[tuple[str, Any]] = []

    def watch(self, model: Any, pks: Iterable[Any]) -> None:
        label = snapshots.label_of(model)
        for pk, row in snapshots.rows_of(model, pks).items():
            self.before.setdefault((label, pk), row)

    def add_created(self, model: Any, pks: Iterable[Any]) -> None:
        label = snapshots.label_of(model)
        self.created += [(label, pk) for pk in pks]

    def as_json(self) -> dict[str, Any]:
        by_model: dict[str, list[Any]] = defaultdict(list)
        for label, pk in self.before:
            by_model[label].append(pk)
        after = {
            (label, pk): row
            for label, pks in by_model.items()
            for pk, row in snapshots.rows_of(snapshots.model_of(label), pks).items()
        }
        created_by_model: dict[str, list[Any]] = defaultdict(list)
        for label, pk in self.created:
            created_by_model[label].append(pk)
        created_rows = {
            (label, pk): row
            for label, pks in created_by_model.items()
            for pk, row in snapshots.rows_of(snapshots.model_of(label), pks).items()
        }
        return {
            "updated": [
                {"model": label, "pk": pk, "before": row, "after": after[(label, pk)]}
                for (label, pk), row in self.before.items()
            ],
            "created": [
                {"model": label, "pk": pk, "row": created_rows[(label, pk)]}
                for label, pk in self.created
            ],
        }


def _lock_pair(first_id: int, second_id: int) -> dict[int, StatusRecord]:
    """Both records and both students locked, in id order (no deadlock with a merge of
    the same pair the other way round)."""
    ids = sorted((first_id, second_id))
    list(Student.objects.select_for_update().filter(pk__in=ids).order_by("pk").values("pk"))
    records = (
        StatusRecord.objects.select_for_update(of=("self",))
        .select_related("school")
        .filter(pk__in=ids)
        .order_by("pk")
    )
    return {record.pk: record for record in records}


def _guardian_key(guardian: Guardian) -> tuple[str, ...]:
    if guardian.id_key:
        return ("id", guardian.id_key)
    return ("name", guardian.name, guardian.relation)


def finding_merge(
    *, actor: Any, finding_id: int, survivor_id: int, reason: str = ""
) -> MergeRecord:
    """Merge the two records of a duplicate finding: ``survivor_id`` keeps its record and
    gains the other's history; the other record is cancelled (注销) through the transition
    table and its numbers are retired and point to the survivor.

    Moved to the survivor: the other's student numbers (retired), its closed change
    requests, its dropout cases (an open one only when the survivor has none), its
    archive documents (to the survivor's archive holder), its paper-archive entries and,
    when the survivor has none, its non-basic information. Copied to the survivor: its
    history events (annotated with the merge) and the guardians the survivor lacks.
    """
    with transaction.atomic():
        finding = access_finding_resolve(actor, finding_id, for_update=True)
        _require_open(finding)
        if finding.kind != FindingKind.DUPLICATE or finding.other_student_id is None:
            raise Conflict("anomaly.not_a_pair", _("只有重复学籍可以合并。"))
        pair = (finding.student_id, finding.other_student_id)
        if survivor_id not in pair:
            raise ValidationFailed(
                [FieldError("survivor_id", "merge.survivor_unknown", _("请选择保留的学籍。"))]
            )
        retired_id = pair[1] if survivor_id == pair[0] else pair[0]
        records = _lock_pair(*pair)
        scope = scope_for(actor)
        for record in records.values():
            if not scope.covers(area_code=record.area_code, school_id=record.school_id):
                raise Conflict(
                    "merge.out_of_scope",
                    _("其中一条学籍已不在您的管理范围内，请由共同的上级单位处理。"),
                )
        survivor_record, retired_record = records[survivor_id], records[retired_id]
        if StatusState.CANCELLED in (survivor_record.state, retired_record.state):
            raise Conflict("merge.cancelled", _("其中一条学籍已注销，不能合并。"))
        open_request = (
            ChangeRequest.objects.filter(student_id=retired_id, state=RequestState.OPEN)
            .values_list("pk", flat=True)
            .first()
        )
        if open_request is not None:
            raise Conflict(
                "merge.open_request",
                _("将注销的学籍有办理中的变动申请，请先撤回或办结。"),
                detail={"request_id": open_request},
            )
        survivor = Student.objects.get(pk=survivor_id)
        retired = Student.objects.get(pk=retired_id)
        now = clock.now()
        snap = _Snapshot()
        # Watched even where unchanged: an undo refuses if they change after the merge.
        snap.watch(Finding, [finding.pk])
        snap.watch(Student, pair)
        snap.watch(StatusRecord, pair)
        numbers = list(
            StudentNumber.objects.filter(student_id=retired_id).values_list("pk", flat=True)
        )
        snap.watch(StudentNumber, numbers)
        requests = list(
            ChangeRequest.objects.filter(student_id=retired_id).values_list("pk", flat=True)
        )
        snap.watch(ChangeRequest, requests)
        survivor_has_open_case = DropoutCase.objects.filter(
            student_id=survivor_id, state=DropoutCaseState.OPEN
        ).exists()
        cases = DropoutCase.objects.filter(student_id=retired_id)
        if survivor_has_open_case:
            cases = cases.exclude(state=DropoutCaseState.OPEN)
        case_ids = list(cases.values_list("pk", flat=True))
        snap.watch(DropoutCase, case_ids)
        documents = list(
            ArchiveDocument.objects.filter(student_id=retired_id).values_list("pk", flat=True)
        )
        snap.watch(ArchiveDocument, documents)
        paper = list(
            PaperArchiveEntry.objects.filter(student_id=retired_id).values_list("pk", flat=True)
        )
        snap.watch(PaperArchiveEntry, paper)
        non_basic = []
        if not NonBasicInfo.objects.filter(student_id=survivor_id).exists():
            non_basic = list(
                NonBasicInfo.objects.filter(student_id=retired_id).values_list("pk", flat=True)
            )
            snap.watch(NonBasicInfo, non_basic)

        merge = MergeRecord.objects.create(
            finding=finding,
            survivor=survivor,
            retired=retired,
            survivor_number=survivor.number_masked,
            retired_number=retired.number_masked,
            reason=(reason or "").strip()[:REASON_MAX],
            merged_at=now,
            merged_by=actor if _actor_id(actor) else None,
            merged_by_username=_username(actor),
        )
        # Stored data: always Chinese, and the number masked (history is shown to all).
        note = f"重复学籍合并，并入 {survivor.number_masked}"

        # History: the other record's events, copied and annotated.
        copies = [
            StatusEvent(
                record_id=survivor_id,
                kind=event.kind,
                occurred_at=event.occurred_at,
                effective_date=event.effective_date,
                actor_id=event.actor_id,
                actor_username=event.actor_username,
                from_state=event.from_state,
                to_state=event.to_state,
                school_id=event.school_id,
                stage=event.stage,
                grade=event.grade,
                class_name=event.class_name,
                reason=event.reason,
                batch=event.batch,
                change_type=event.change_type,
                request_id=event.request_id,
                materials=event.materials,
                detail={
                    **(event.detail or {}),
                    "merged_from": {
                        "merge_id": merge.pk,
                        "number": retired.number_masked,
                        "event_id": event.pk,
                    },
                },
            )
            for event in StatusEvent.objects.filter(record_id=retired_id).order_by(
                "effective_date", "occurred_at", "pk"
            )
        ]
        created_events = StatusEvent.objects.bulk_create(copies)
        snap.add_created(StatusEvent, [event.pk for event in created_events])

        # The other record is cancelled through the declared transition table.
        cancel_event = record_change(
            actor=actor,
            record=retired_record,
            kind=EventKind.CHANGE,
            effective_date=clock.today(),
            to_state=StatusState.CANCELLED,
            reason=note,
            detail={
                "merge_id": merge.pk,
                "survivor_id": survivor_id,
                "survivor_number": survivor.number_masked,
            },
            now=now,
        )
        snap.add_created(StatusEvent, [cancel_event.pk])
        # The cancelled record's digital identity is revoked with it.
        from xueji.credentials.services import credentials_follow_record

        credentials_follow_record(actor=actor, record=retired_record, change_type="merge", now=now)

        # Numbers: retired, and from now on the survivor's (a search by them finds it).
        StudentNumber.objects.filter(pk__in=numbers, retired_at__isnull=True).update(
            student_id=survivor_id, retired_at=now, reason=note
        )
        StudentNumber.objects.filter(pk__in=numbers).update(student_id=survivor_id)

        # Guardians the survivor lacks, copied.
        known = {_guardian_key(g) for g in Guardian.objects.filter(student_id=survivor_id)}
        guardian_copies = []
        for guardian in Guardian.objects.filter(student_id=retired_id).order_by("pk"):
            key = _guardian_key(guardian)
            if key in known:
                continue
            known.add(key)
            guardian_copies.append(
                Guardian(
                    student_id=survivor_id,
                    relation=guardian.relation,
                    name=guardian.name,
                    id_type=guardian.id_type,
                    id_number=guardian.id_number,
                    id_key=guardian.id_key,
                    phone=guardian.phone,
                    is_guardian=guardian.is_guardian,
                )
            )
        created_guardians = Guardian.objects.bulk_create(guardian_copies)
        snap.add_created(Guardian, [g.pk for g in created_guardians])

        # Requests, dropout cases, archive and paper register: moved to the survivor.
        ChangeRequest.objects.filter(pk__in=requests).update(student_id=survivor_id)
        DropoutCase.objects.filter(pk__in=case_ids).update(student_id=survivor_id)
        if documents:
            holder = archive_holder(survivor_id)
            ArchiveDocument.objects.filter(pk__in=documents).update(
                student_id=survivor_id,
                holder=holder.school,
                holder_unit=holder.unit if holder.school is None else None,
            )
        PaperArchiveEntry.objects.filter(pk__in=paper).update(student_id=survivor_id)
        NonBasicInfo.objects.filter(pk__in=non_basic).update(student_id=survivor_id)

        _close(
            finding,
            actor=actor,
            state=FindingState.RESOLVED,
            resolution=Resolution.MERGED,
            note=merge.reason or note,
        )
        merge.snapshot = snap.as_json()
        merge.save(update_fields=["snapshot"])
        audit_record(
            actor=actor,
            action=AuditAction.ANOMALY_MERGE,
            object_type=ObjectType.ANOMALY_MERGE,
            object_id=merge.pk,
            summary=f"合并重复学籍：{retired.number_masked} 并入 {survivor.number_masked}",
            detail={
                "finding_id": finding.pk,
                "survivor_id": survivor_id,
                "retired_id": retired_id,
                "events_copied": len(created_events),
                "guardians_copied": len(created_guardians),
                "numbers": len(numbers),
                "requests": len(requests),
                "documents": len(documents),
                "reason": merge.reason,
            },
        )
    return merge


def merge_undo(*, actor: Any, merge_id: int, reason: str) -> MergeRecord:
    """Undo a merge: every row it changed is put back as it was, every row it created is
    deleted, and the finding is open again. Refused when any of those rows changed after
    the merge (the records have moved on: merging back by hand is then needed)."""
    errors = _reason_errors(reason)
    with transaction.atomic():
        merge = access_merge(actor, merge_id, for_update=True, resolve=True)
        if merge.state != MergeState.MERGED:
            raise Conflict("merge.not_active", _("该合并已撤销。"))
        if errors:
            raise ValidationFailed(errors)
        _lock_pair(merge.survivor_id, merge.retired_id)
        snapshot = merge.snapshot or {}
        changed = []
        for item in snapshot.get("updated", []):
            model = snapshots.model_of(item["model"])
            if snapshots.rows_of(model, [item["pk"]]).get(item["pk"]) != item["after"]:
                changed.append(f"{item['model']}#{item['pk']}")
        for item in snapshot.get("created", []):
            model = snapshots.model_of(item["model"])
            if snapshots.rows_of(model, [item["pk"]]).get(item["pk"]) != item["row"]:
                changed.append(f"{item['model']}#{item['pk']}")
        if changed:
            raise Conflict(
                "merge.changed_since",
                _("合并后相关学籍已有新的变动，不能自动撤销。请核对后人工处理。"),
                detail={"rows": changed[:20]},
            )
        finding = merge.finding
        if Finding.objects.filter(
            kind=finding.kind,
            student_id=finding.student_id,
            other_student_id=finding.other_student_id,
            state=FindingState.OPEN,
        ).exists():
            raise Conflict("merge.finding_reopened", _("该对学籍已有新的待处理异常，不能撤销。"))
        created: dict[str, list[Any]] = defaultdict(list)
        for item in snapshot.get("created", []):
            created[item["model"]].append(item["pk"])
        for label, pks in created.items():
            snapshots.model_of(label)._default_manager.filter(pk__in=pks).delete()
        for item in snapshot.get("updated", []):
            snapshots.row_restore(snapshots.model_of(item["model"]), item["pk"], item["before"])
        merge.state = MergeState.UNDONE
        merge.undone_at = clock.now()
        merge.undone_by = actor if _actor_id(actor) else None
        merge.undone_by_username = _username(actor)
        merge.undo_reason = reason.strip()[:REASON_MAX]
        merge.save(
            update_fields=["state", "undone_at", "undone_by", "undone_by_username", "undo_reason"]
        )
        audit_record(
            actor=actor,
            action=AuditAction.ANOMALY_MERGE_UNDO,
            object_type=ObjectType.ANOMALY_MERGE,
            object_id=merge.pk,
            summary=f"撤销学籍合并：{merge.retired_number} 与 {merge.survivor_number} 恢复为两条学籍",
            detail={
                "finding_id": merge.finding_id,
                "survivor_id": merge.survivor_id,
                "retired_id": merge.retired_id,
                "rows_restored": len(snapshot.get("updated", [])),
                "rows_deleted": len(snapshot.get("created", [])),
                "reason": reason,
            },
        )
    return merge


# ---------------------------------------------------------------- attendance sightings

SIGHTING_COLUMNS: tuple[Column, ...] = (
    Column("number", "学籍号", True, width=22, aliases=("学生学籍号",)),
    Column("school_code", "学校标识码", True, width=14, note=_("就读学校的10位标识码")),
    Column("seen_on", "在校日期", True, width=12, note="YYYY-MM-DD"),
    Column("name", "姓名", width=12, note=_("可不填；填写时须与学籍一致")),
)
SIGHTING_MAX_BYTES = 5 * 1024 * 1024
SIGHTING_MAX_ROWS = 50_000
SIGHTING_MAX_AGE_DAYS = 366


@dataclass
class SightingImport:
    batch: str
    rows: int = 0
    imported: int = 0
    repeated: int = 0
    errors: list[FieldError] = field(default_factory=list)


def _seen_on(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value or "").strip().replace("/", "-").replace(".", "-")
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


def sightings_import(*, actor: Any, upload: UploadedFile, source: str = "") -> SightingImport:
    """Import an attendance list: each row names a student (number, optionally name), the
    school where the student attends (in the actor's scope) and the date. Good rows are
    stored; bad rows come back as row-level errors. Repeated rows are stored once."""
    require_permission(actor, Permission.ANOMALY_SIGHTING)
    if (upload.size or 0) > SIGHTING_MAX_BYTES:
        raise ValidationFailed([FieldError("file", "file.too_large", _("文件不能超过 5 MB。"))])
    name = upload.name or "sightings.csv"
    today = clock.today()
    scope = scope_for(actor)
    result = SightingImport(batch=uuid.uuid4().hex[:16])
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / ("upload" + Path(name).suffix.lower())
        with path.open("wb") as handle:
            for chunk in upload.chunks():
                handle.write(chunk)
        try:
            opened = open_import_file(path, name, SIGHTING_COLUMNS)
            rows = []
            for row_number, values in opened.rows:
                rows.append((row_number, values))
                if len(rows) > SIGHTING_MAX_ROWS:
                    raise ValidationFailed(
                        [
                            FieldError(
                                "file",
                                "file.too_many_rows",
                                _("一次最多导入 %(n)d 行。") % {"n": SIGHTING_MAX_ROWS},
                            )
                        ]
                    )
        except ImportFileError as error:
            raise ValidationFailed([FieldError("file", error.code, error.message)]) from None
    result.rows = len(rows)
    by_key = identity.number_keys(str(v.get("number") or "") for _, v in rows)
    codes = {str(v.get("school_code") or "").strip() for _, v in rows}
    students: dict[str, tuple[int, str]] = {
        by_key[str(index_key)]: (pk, student_name)
        for pk, index_key, student_name in Student.objects.filter(
            number_key__in=list(by_key)
        ).values_list("pk", "number_key", "name")
    }
    # Retired numbers (an upgrade, a merge) name the student who holds them now.
    for index_key, pk, student_name in StudentNumber.objects.filter(
        number_key__in=[k for k, n in by_key.items() if n not in students]
    ).values_list("number_key", "student_id", "student__name"):
        students[by_key[str(index_key)]] = (pk, student_name)
    schools = {
        code: (pk, area)
        for pk, code, area in School.objects.filter(code__in=codes).values_list(
            "pk", "code", "area_code"
        )
    }
    good: dict[tuple[int, int, date], AttendanceSighting] = {}
    now = clock.now()
    for row_number, values in rows:
        number = identity.normalize_student_number(str(values.get("number") or ""))
        code = str(values.get("school_code") or "").strip()
        seen_on = _seen_on(values.get("seen_on"))
        given_name = str(values.get("name") or "").strip()
        row_errors = []
        school = schools.get(code)
        student = students.get(number)
        # The school first: a row naming a school outside the scope says nothing about the
        # student it names (numbers are not probed through another unit's schools).
        if school is None or not scope.covers(area_code=school[1], school_id=school[0]):
            row_errors.append(
                FieldError(
                    "school_code",
                    "sighting.school_unknown",
                    _("学校标识码不存在或不在您的管理范围内"),
                )
            )
        elif not number or student is None:
            row_errors.append(FieldError("number", "sighting.student_unknown", _("学籍号不存在")))
        elif given_name and given_name != student[1]:
            row_errors.append(FieldError("name", "sighting.name_mismatch", _("姓名与学籍号不符")))
        if seen_on is None:
            row_errors.append(
                FieldError("seen_on", "sighting.date_invalid", _("日期须写作 YYYY-MM-DD"))
            )
        elif seen_on > today or (today - seen_on).days > SIGHTING_MAX_AGE_DAYS:
            row_errors.append(
                FieldError(
                    "seen_on",
                    "sighting.date_range",
                    _("日期须在今天及以前一年之内"),
                    seen_on.isoformat(),
                )
            )
        if row_errors:
            for row_error in row_errors:
                row_error.row = row_number
            result.errors += row_errors
            continue
        assert student is not None and school is not None and seen_on is not None
        key = (student[0], school[0], seen_on)
        if key in good:
            result.repeated += 1
            continue
        good[key] = AttendanceSighting(
            student_id=student[0],
            school_id=school[0],
            seen_on=seen_on,
            source=(source or name)[:128],
            batch=result.batch,
            imported_at=now,
            imported_by=actor if _actor_id(actor) else None,
            imported_by_username=_username(actor),
        )
    with transaction.atomic():
        before = AttendanceSighting.objects.filter(batch=result.batch).count()
        AttendanceSighting.objects.bulk_create(
            good.values(), batch_size=1000, ignore_conflicts=True
        )
        result.imported = AttendanceSighting.objects.filter(batch=result.batch).count() - before
        result.repeated += len(good) - result.imported
        audit_record(
            actor=actor,
            action=AuditAction.ANOMALY_SIGHTINGS_IMPORT,
            object_type=ObjectType.ANOMALY_SIGHTINGS,
            object_id=result.batch,
            summary=f"导入在校名单：{result.imported} 行，错误 {len(result.errors)} 处",
            detail={
                "file": name,
                "rows": result.rows,
                "imported": result.imported,
                "repeated": result.repeated,
                "errors": len(result.errors),
            },
        )
    return result
