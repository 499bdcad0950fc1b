"""Yearly promotion (升级) and graduation, completion and leaving (毕业、结业、肄业) batches.

A batch is planned first: the **dry run** counts, per school and grade, who would move,
who is excluded (graduating grades, students not enrolled) and which records conflict with
the school (a grade the school does not offer), and stores that report in a ``BatchRun``.
Nothing else changes. Confirming the run starts the real run, normally in a background task.

The real run is set-based: per chunk of records (a key range over ``(area_code,
student_id)``), one statement updates the records and one writes one history event per
changed student (on PostgreSQL both in one ``WITH … UPDATE … RETURNING`` statement; on
SQLite an ``INSERT … SELECT`` of the events followed by an ``UPDATE … FROM`` them). Each
chunk commits in its own transaction together with the run's progress, so an interrupted
run continues with the next chunk; a guard in the statement itself skips every student who
already has this school year's promotion event, so nobody is promoted twice even if a chunk
were replayed. The last chunk's transaction marks the run done and writes the batch's one
audit event with its counts.

Who moves: only ENROLLED students. Deferred (缓学), suspended (休学), abroad and dropped-out
students keep their grade: the service that ends their absence places them in the grade
that fits (docs/batches.md).
"""

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils.text import format_lazy
from django.utils.translation import gettext as _

from xueji import clock
from xueji.accounts.permissions import require_permission
from xueji.accounts.rules import Permission
from xueji.accounts.scope import EVERY_ROW, Scope, scope_for
from xueji.audit.events import AuditAction, ObjectType
from xueji.audit.services import audit_record
from xueji.divisions.selectors import division_full_name, prefix_of_code
from xueji.errors import Conflict, FieldError, NotFound, ValidationFailed
from xueji.schools.models import School
from xueji.schools.rules import GRADES, STAGES_BY_TYPE, Stage, stages_for

from .models import BatchKind, BatchRun, BatchState, StatusEvent, StatusRecord
from .rules import EventKind, StatusState

logger = logging.getLogger(__name__)

# Records per chunk of a real run (one transaction each).
DEFAULT_CHUNK_ROWS = 50_000
# A run still "running" without progress for this long is taken as interrupted.
STALE_AFTER = timedelta(minutes=10)
# The dry-run report lists at most this many schools and conflicting students.
SCHOOLS_LISTED = 2_000
CONFLICTS_LISTED = 200
# States reported as "skipped": still on the school's roll (or abroad), but not moving.
SKIPPED_STATES = (
    StatusState.DEFERRED,
    StatusState.SUSPENDED,
    StatusState.ABROAD,
    StatusState.DROPPED_OUT,
)

# ---------------------------------------------------------------- the rules (pure)

# One grade up within the stage. 23 → 24 only at schools with a four-year junior stage
# (a school that has grade-24 records); elsewhere 23 is the junior stage's last grade.
NEXT_GRADE: dict[str, str] = {
    "11": "12",
    "12": "13",
    "13": "14",
    "14": "15",
    "15": "16",
    "21": "22",
    "22": "23",
    "23": "24",
    "31": "32",
    "32": "33",
}
FOUR_YEAR_JUNIOR_GRADE = "24"
LAST_GRADES = frozenset({"16", "24", "33"})

PROMOTE = "promote"
GRADUATING = "graduating"
CONFLICT = "conflict"


def conflict_message(code: str) -> str:
    messages = {
        "grade.unknown": _("年级代码无效"),
        "grade.stage_mismatch": _("年级与学段不一致"),
        "grade.not_offered": _("学校不设该学段，升级后的年级在本校不存在"),
    }
    return messages.get(code, code)


def promotion_step(
    *, grade: str, stage: str, school_type: str, four_year_junior: bool
) -> tuple[str, str]:
    """What promotion does to an enrolled student: (``PROMOTE``, next grade),
    (``GRADUATING``, grade) — the stage's last grade, left to the graduation batch — or
    (``CONFLICT``, reason code) when the record and the school disagree."""
    info = GRADES.get(grade)
    if info is None:
        return CONFLICT, "grade.unknown"
    if stage != info.stage:
        return CONFLICT, "grade.stage_mismatch"
    if info.stage not in stages_for(school_type):
        return CONFLICT, "grade.not_offered"
    if grade in LAST_GRADES or (grade == "23" and not four_year_junior):
        return GRADUATING, grade
    return PROMOTE, NEXT_GRADE[grade]


def graduating_grade(stage: str, *, four_year_junior: bool) -> str:
    """The last grade of a stage at a school: 16, 23 (24 with a four-year junior stage), 33."""
    if stage == Stage.PRIMARY:
        return "16"
    if stage == Stage.JUNIOR:
        return FOUR_YEAR_JUNIOR_GRADE if four_year_junior else "23"
    return "33"


def scopes_overlap(a: tuple[str, int | None], b: tuple[str, int | None]) -> bool:
    """Whether two batch scopes ((area prefix, school id or None)) share a record."""
    (area_a, school_a), (area_b, school_b) = a, b
    if not (area_a.startswith(area_b) or area_b.startswith(area_a)):
        return False
    if school_a is not None and school_b is not None:
        return school_a == school_b
    return True


GRADUATION_KIND = {
    StatusState.GRADUATED: EventKind.GRADUATE,
    StatusState.COMPLETED: EventKind.BATCH_COMPLETE,
    StatusState.LEFT: EventKind.BATCH_LEAVE,
}

# ---------------------------------------------------------------- reads


def batch_runs_visible(user) -> QuerySet[BatchRun]:
    """Runs whose scope lies inside the user's (a school account sees its school's runs)."""
    require_permission(user, Permission.STATUS_BATCH)
    scope = scope_for(user)
    return BatchRun.objects.filter(scope.q(area_field="scope_area", school_field="school_id"))


def access_batch_run(user, *, run_id: int) -> BatchRun:
    run = (
        batch_runs_visible(user)
        .select_related("school", "created_by", "confirmed_by")
        .filter(pk=run_id)
        .first()
    )
    if run is None:
        raise NotFound("batch_run")
    return run


# ---------------------------------------------------------------- scope of a new run


@dataclass(frozen=True)
class BatchScope:
    area: str  # area-code prefix ('' = the nation); a school's own area code
    school: School | None
    label: str

    @property
    def key(self) -> tuple[str, int | None]:
        return (self.area, self.school.pk if self.school else None)


def _actor_scope(actor) -> Scope:
    """The operator (``actor`` None: a management command without ``--user``) sees all."""
    if actor is None:
        return Scope(everything=True)
    require_permission(actor, Permission.STATUS_BATCH)
    return scope_for(actor)


def resolve_scope(*, actor, code: str) -> BatchScope:
    """A 10-digit school code, a 6-digit division code (or its 2/4-digit prefix), or ''
    for the nation — within the actor's scope. A school outside it is not found; an area
    outside it is refused on the ``scope`` field."""
    scope = _actor_scope(actor)
    code = (code or "").strip()
    if len(code) == 10 and code.isdigit():
        school = School.objects.filter(code=code).first()
        if school is None or not scope.covers(area_code=school.area_code, school_id=school.pk):
            raise NotFound("school")
        return BatchScope(school.area_code, school, f"{school.name}（{school.code}）")
    if code and not (code.isdigit() and len(code) in (2, 4, 6)):
        raise ValidationFailed(
            [FieldError("scope", "scope.invalid", _("请填写行政区划代码或10位学校标识码。"), code)]
        )
    prefix = prefix_of_code(code) if len(code) == 6 else code
    if scope.school_id is not None:
        raise ValidationFailed(
            [FieldError("scope", "scope.school_only", _("学校账号只能对本校执行批量处理。"), code)]
        )
    if not scope.covers_area(prefix) or (prefix == "" and not scope.everything):
        raise ValidationFailed(
            [FieldError("scope", "scope.out_of_scope", _("该区划不在您的管理范围内。"), code)]
        )
    label = division_full_name(prefix.ljust(6, "0")) if prefix else _("全国")
    return BatchScope(prefix, None, label)


def _stored_scope(where: BatchScope) -> str:
    """The scope as audit summaries store it: Chinese, whatever the session's language."""
    return where.label if where.area or where.school else "全国"


def _scope_sql(area: str, school_id: int | None, alias: str = "r") -> tuple[str, list]:
    if school_id is not None:
        return f"{alias}.school_id = %s", [school_id]
    if area:
        return f"{alias}.area_code LIKE %s", [area + "%"]
    return "1 = 1", []


def _scope_q(area: str, school_id: int | None) -> Q:
    if school_id is not None:
        return Q(school_id=school_id)
    if area:
        return Q(area_code__startswith=area)
    return EVERY_ROW


def _refuse_repeat(run_like: BatchRun, *, exclude_pk: int | None = None) -> None:
    """A second executed batch of the same kind and school year over overlapping records
    is refused (graduation: per stage)."""
    others = BatchRun.objects.filter(
        kind=run_like.kind,
        school_year=run_like.school_year,
        state__in=(BatchState.RUNNING, BatchState.DONE, BatchState.FAILED),
    )
    if exclude_pk is not None:
        others = others.exclude(pk=exclude_pk)
    mine = (run_like.scope_area, run_like.school_id)
    for other in others:
        if not scopes_overlap(mine, (other.scope_area, other.school_id)):
            continue
        if run_like.kind == BatchKind.GRADUATE and other.options.get(
            "stage"
        ) != run_like.options.get("stage"):
            continue
        if run_like.kind == BatchKind.PROMOTE:
            message = _(
                "%(year)s 学年的升级已由批次 %(batch)s（%(scope)s，%(state)s）执行，"
                "同一范围同一学年不能重复升级。"
            )
        else:
            message = _(
                "%(year)s 年的毕业处理已由批次 %(batch)s（%(scope)s，%(state)s）执行，"
                "不能重复处理；中断的批次请继续执行。"
            )
        raise Conflict(
            "batch.repeat",
            message
            % {
                "year": run_like.school_year,
                "batch": other.batch_key,
                "scope": other.scope_label,
                "state": other.get_state_display(),
            },
            {"run": other.pk},
        )


def _check_dates(*, school_year: int, cutoff: date | None) -> date:
    if cutoff is None:
        raise ValidationFailed([FieldError("cutoff", "cutoff.missing", _("请填写截止日期。"))])
    if cutoff.year != school_year:
        raise ValidationFailed(
            [
                FieldError(
                    "cutoff",
                    "cutoff.year",
                    _("截止日期须在 %(year)s 年内（学年 %(year)s 以当年秋季入学计）。")
                    % {"year": school_year},
                    cutoff.isoformat(),
                )
            ]
        )
    return cutoff


# ---------------------------------------------------------------- promotion: dry run


def _four_year_junior_schools(area: str, school_id: int | None) -> list[int]:
    """Schools in the scope whose junior stage runs four years: they hold grade-24 records
    (in any state, so graduating 24s already graduated still count)."""
    return sorted(
        StatusRecord.objects.filter(_scope_q(area, school_id), grade=FOUR_YEAR_JUNIOR_GRADE)
        .values_list("school_id", flat=True)
        .distinct()
    )


def _year_window(school_year: int) -> tuple[date, date]:
    return date(school_year, 1, 1), date(school_year, 12, 31)


def _promotion_report(scope: BatchScope, school_year: int) -> dict:
    """Counts per school and grade, in one grouped query (plus one for listed conflicts)."""
    school_id = scope.school.pk if scope.school else None
    four_year = set(_four_year_junior_schools(scope.area, school_id))
    first, last = _year_window(school_year)
    promoted = StatusEvent.objects.filter(
        record_id=OuterRef("pk"),
        kind=EventKind.PROMOTE,
        effective_date__gte=first,
        effective_date__lte=last,
    )
    groups = (
        StatusRecord.objects.filter(
            _scope_q(scope.area, school_id),
            state__in=(StatusState.ENROLLED, *SKIPPED_STATES),
        )
        .annotate(already=Exists(promoted))
        .values(
            "school_id",
            "school__code",
            "school__name",
            "school__school_type",
            "stage",
            "grade",
            "state",
            "already",
        )
        .annotate(n=Count("pk"))
        .order_by()
    )
    schools: dict[int, dict] = {}
    totals = {"promote": 0, "graduating": 0, "skipped": 0, "conflicts": 0, "already": 0}
    by_grade: dict[str, int] = {}
    graduating_by_grade: dict[str, int] = {}
    skipped_by_state: dict[str, int] = {}
    conflict_groups: list[tuple[int, str, str, str]] = []
    for row in groups:
        entry = schools.setdefault(
            row["school_id"],
            {
                "id": row["school_id"],
                "code": row["school__code"],
                "name": row["school__name"],
                "four_year_junior": row["school_id"] in four_year,
                "promote": {},
                "graduating": {},
                "skipped": {},
                "conflicts": 0,
                "already": 0,
            },
        )
        n = row["n"]
        if row["state"] != StatusState.ENROLLED:
            entry["skipped"][row["state"]] = entry["skipped"].get(row["state"], 0) + n
            skipped_by_state[row["state"]] = skipped_by_state.get(row["state"], 0) + n
            totals["skipped"] += n
            continue
        if row["already"]:
            entry["already"] += n
            totals["already"] += n
            continue
        outcome, value = promotion_step(
            grade=row["grade"],
            stage=row["stage"],
            school_type=row["school__school_type"],
            four_year_junior=row["school_id"] in four_year,
        )
        if outcome == PROMOTE:
            entry["promote"][row["grade"]] = entry["promote"].get(row["grade"], 0) + n
            by_grade[row["grade"]] = by_grade.get(row["grade"], 0) + n
            totals["promote"] += n
        elif outcome == GRADUATING:
            entry["graduating"][row["grade"]] = entry["graduating"].get(row["grade"], 0) + n
            graduating_by_grade[row["grade"]] = graduating_by_grade.get(row["grade"], 0) + n
            totals["graduating"] += n
        else:
            entry["conflicts"] += n
            totals["conflicts"] += n
            conflict_groups.append((row["school_id"], row["stage"], row["grade"], value))

    def to_of(school: dict, grade: str) -> str:
        return promotion_step(
            grade=grade,
            stage=grade[0],
            school_type="345",  # every stage offered: only the step itself is wanted here
            four_year_junior=school["four_year_junior"],
        )[1]

    listed = sorted(schools.values(), key=lambda s: s["code"])
    school_rows = [
        {
            "id": s["id"],
            "code": s["code"],
            "name": s["name"],
            "four_year_junior": s["four_year_junior"],
            "promote": [
                {"grade": g, "to": to_of(s, g), "count": c} for g, c in sorted(s["promote"].items())
            ],
            "graduating": [{"grade": g, "count": c} for g, c in sorted(s["graduating"].items())],
            "skipped": [{"state": st, "count": c} for st, c in sorted(s["skipped"].items())],
            "conflicts": s["conflicts"],
            "already": s["already"],
        }
        for s in listed[:SCHOOLS_LISTED]
    ]
    return {
        "kind": BatchKind.PROMOTE,
        "generated_at": clock.now().isoformat(timespec="seconds"),
        "totals": totals,
        "by_grade": [
            {"grade": g, "to": NEXT_GRADE[g], "count": c} for g, c in sorted(by_grade.items())
        ],
        "graduating_by_grade": [
            {"grade": g, "count": c} for g, c in sorted(graduating_by_grade.items())
        ],
        "skipped_by_state": [{"state": s, "count": c} for s, c in sorted(skipped_by_state.items())],
        "schools": school_rows,
        "schools_total": len(listed),
        "four_year_junior_schools": len(four_year),
        "conflicts": _conflict_students(conflict_groups),
    }


def _conflict_students(groups: list[tuple[int, str, str, str]]) -> list[dict]:
    """The first conflicting students, named, so the clerk can correct their records."""
    if not groups:
        return []
    reasons = {(school, stage, grade): reason for school, stage, grade, reason in groups}
    wanted = Q()
    for school, stage, grade, _reason in groups[:50]:
        wanted |= Q(school_id=school, stage=stage, grade=grade)
    rows = (
        StatusRecord.objects.filter(wanted, state=StatusState.ENROLLED)
        .values(
            "student_id",
            "student__number_masked",
            "student__name",
            "school_id",
            "school__code",
            "school__name",
            "stage",
            "grade",
        )
        .order_by("school__code", "grade", "student_id")[:CONFLICTS_LISTED]
    )
    out = []
    for row in rows:
        reason = reasons.get((row["school_id"], row["stage"], row["grade"]), "")
        out.append(
            {
                "student_id": row["student_id"],
                # Stored in the run's report and shown to authorities: masked.
                "number": row["student__number_masked"],
                "name": row["student__name"],
                "school_code": row["school__code"],
                "school_name": row["school__name"],
                "stage": row["stage"],
                "grade": row["grade"],
                "reason": reason,
                "message": conflict_message(reason),
            }
        )
    return out


def batch_promotion_plan(
    *, actor, scope: str, school_year: int, cutoff: date | None, operator: str = ""
) -> BatchRun:
    """The dry run of a yearly promotion: checks the scope and the school year, counts,
    and stores the report in a new planned run. Changes no record."""
    where = resolve_scope(actor=actor, code=scope)
    cutoff = _check_dates(school_year=school_year, cutoff=cutoff)
    run = BatchRun(
        kind=BatchKind.PROMOTE,
        scope_area=where.area,
        school=where.school,
        scope_label=where.label[:128],
        school_year=school_year,
        cutoff=cutoff,
        options={"operator": operator} if operator else {},
        created_by=actor,
        created_at=clock.now(),
    )
    _refuse_repeat(run)
    report = _promotion_report(where, school_year)
    run.report = report
    run.planned_count = report["totals"]["promote"]
    with transaction.atomic():
        run.save()
        audit_record(
            actor=actor,
            action=AuditAction.BATCH_PLAN,
            object_type=ObjectType.BATCH_RUN,
            object_id=run.pk,
            summary=f"升级试运行 {_stored_scope(where)} {school_year}学年：将升级 {run.planned_count} 人",
            detail={
                "kind": run.kind,
                "scope": where.area,
                "school": where.school.code if where.school else "",
                "school_year": school_year,
                "cutoff": cutoff.isoformat(),
                "totals": report["totals"],
                **({"operator": operator} if operator else {}),
            },
        )
    return run


# ---------------------------------------------------------------- graduation: dry run


def _student_ids_by_number(numbers: Iterable[str]) -> dict[str, int]:
    from xueji.students import identity
    from xueji.students.models import Student

    by_key = identity.number_keys(n for n in numbers if n and n.strip())
    if not by_key:
        return {}
    return {
        by_key[str(key)]: pk
        for key, pk in Student.objects.filter(number_key__in=list(by_key)).values_list(
            "number_key", "id"
        )
    }


def _split_numbers(value: str | Iterable[str] | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = value.replace("，", ",").replace("、", ",").replace("\n", ",").split(",")
    return [n.strip().upper() for n in value if n and n.strip()]


def batch_graduation_plan(
    *,
    actor,
    school: str,
    cutoff: date | None,
    stage: str = "",
    completed: str | Iterable[str] | None = None,
    left: str | Iterable[str] | None = None,
    school_year: int | None = None,
    operator: str = "",
) -> BatchRun:
    """The dry run of a school's graduation: the enrolled students of the graduating grade
    graduate, except the listed ones, who complete (结业) or leave (肄业). Changes nothing."""
    where = resolve_scope(actor=actor, code=school)
    if where.school is None:
        raise ValidationFailed(
            [FieldError("school", "school.required", _("毕业处理按学校进行，请填写学校标识码。"))]
        )
    the_school = where.school
    if cutoff is None:
        raise ValidationFailed([FieldError("cutoff", "cutoff.missing", _("请填写截止日期。"))])
    year = school_year or cutoff.year
    _check_dates(school_year=year, cutoff=cutoff)
    offered = stages_for(the_school.school_type)
    if stage:
        if stage not in offered:
            raise ValidationFailed(
                [FieldError("stage", "stage.not_offered", _("学校不设该学段。"), stage)]
            )
    elif len(offered) == 1:
        stage = offered[0]
    else:
        raise ValidationFailed(
            [FieldError("stage", "stage.required", _("该校设有多个学段，请选择毕业的学段。"))]
        )
    four_year = bool(_four_year_junior_schools(the_school.area_code, the_school.pk))
    grade = graduating_grade(stage, four_year_junior=four_year)
    completed_numbers, left_numbers = _split_numbers(completed), _split_numbers(left)
    ids = _student_ids_by_number([*completed_numbers, *left_numbers])
    eligible = set(
        StatusRecord.objects.filter(
            school_id=the_school.pk,
            state=StatusState.ENROLLED,
            grade=grade,
            student_id__in=list(ids.values()),
        ).values_list("student_id", flat=True)
    )
    errors = []
    for field_name, numbers in (("completed", completed_numbers), ("left", left_numbers)):
        for number in numbers:
            if ids.get(number) not in eligible:
                errors.append(
                    FieldError(
                        field_name,
                        "student.not_graduating",
                        _("学籍号 %(number)s 不是本校%(grade)s在籍学生。")
                        % {"number": number, "grade": GRADES[grade].name},
                        number,
                    )
                )
    both = set(completed_numbers) & set(left_numbers)
    for number in sorted(both):
        errors.append(
            FieldError("left", "student.listed_twice", _("学籍号 %s 同时列为结业和肄业。") % number)
        )
    if errors:
        raise ValidationFailed(errors)
    run = BatchRun(
        kind=BatchKind.GRADUATE,
        scope_area=the_school.area_code,
        school=the_school,
        scope_label=where.label[:128],
        school_year=year,
        cutoff=cutoff,
        options={
            "stage": stage,
            "grade": grade,
            "completed": sorted(ids[n] for n in set(completed_numbers)),
            "left": sorted(ids[n] for n in set(left_numbers)),
            **({"operator": operator} if operator else {}),
        },
        created_by=actor,
        created_at=clock.now(),
    )
    _refuse_repeat(run)
    run.report = _graduation_report(run)
    run.planned_count = sum(run.report["totals"][k] for k in ("graduate", "complete", "leave"))
    with transaction.atomic():
        run.save()
        audit_record(
            actor=actor,
            action=AuditAction.BATCH_PLAN,
            object_type=ObjectType.BATCH_RUN,
            object_id=run.pk,
            summary=format_lazy(
                "毕业试运行 {} {}：{} 人",
                _stored_scope(where),
                GRADES[grade].name,
                run.planned_count,
            ),
            detail={
                "kind": run.kind,
                "school": the_school.code,
                "stage": stage,
                "grade": grade,
                "cutoff": cutoff.isoformat(),
                "totals": run.report["totals"],
                **({"operator": operator} if operator else {}),
            },
        )
    return run


def _graduation_report(run: BatchRun) -> dict:
    grade = run.options["grade"]
    school_id = run.school.pk if run.school else 0
    rows = (
        StatusRecord.objects.filter(
            school_id=school_id, grade=grade, state__in=(StatusState.ENROLLED, *SKIPPED_STATES)
        )
        .values("state")
        .annotate(n=Count("pk"))
        .order_by()
    )
    listed = len(run.options["completed"]) + len(run.options["left"])
    totals = {"graduate": 0, "complete": len(run.options["completed"])}
    totals["leave"] = len(run.options["left"])
    totals["skipped"] = 0
    skipped: list[dict] = []
    for row in rows:
        if row["state"] == StatusState.ENROLLED:
            totals["graduate"] = row["n"] - listed
        else:
            totals["skipped"] += row["n"]
            skipped.append({"state": row["state"], "count": row["n"]})
    # Enrolled students of the stage outside the graduating grade: they stay (reported so a
    # school whose stage is shorter than the default notices before confirming).
    others = (
        StatusRecord.objects.filter(
            school_id=school_id, stage=run.options["stage"], state=StatusState.ENROLLED
        )
        .exclude(grade=grade)
        .values("grade")
        .annotate(n=Count("pk"))
        .order_by("grade")
    )
    return {
        "kind": BatchKind.GRADUATE,
        "generated_at": clock.now().isoformat(timespec="seconds"),
        "stage": run.options["stage"],
        "grade": grade,
        "totals": totals,
        "skipped_by_state": sorted(skipped, key=lambda s: s["state"]),
        "other_grades": [{"grade": r["grade"], "count": r["n"]} for r in others],
    }


# ---------------------------------------------------------------- confirm, resume


def batch_run_confirm(*, actor, run_id: int) -> BatchRun:
    """Confirm a dry run: the real run may start (the caller enqueues ``batch_run_execute``).
    Refused when another run of the same kind and year has already covered these records."""
    if actor is not None:
        access_batch_run(actor, run_id=run_id)
    with transaction.atomic():
        run = BatchRun.objects.select_for_update().get(pk=run_id)
        if run.state != BatchState.PLANNED:
            raise Conflict(
                "batch.not_planned",
                _("该批次已确认过（当前状态：%s），不能再次确认。") % run.get_state_display(),
            )
        _refuse_repeat(run, exclude_pk=run.pk)
        now = clock.now()
        run.state = BatchState.RUNNING
        run.confirmed_by = actor
        run.confirmed_at = now
        run.heartbeat_at = now
        run.save(update_fields=["state", "confirmed_by", "confirmed_at", "heartbeat_at"])
    return run


def batch_run_resume(*, actor, run_id: int) -> BatchRun:
    """Allow an interrupted run to continue (the caller enqueues ``batch_run_execute``):
    a failed run, or a running one that has made no progress for ``STALE_AFTER``."""
    if actor is not None:
        access_batch_run(actor, run_id=run_id)
    with transaction.atomic():
        run = BatchRun.objects.select_for_update().get(pk=run_id)
        now = clock.now()
        last = run.heartbeat_at or run.confirmed_at
        stale = run.state == BatchState.RUNNING and (last is None or now - last > STALE_AFTER)
        if run.state != BatchState.FAILED and not stale:
            raise Conflict(
                "batch.not_resumable",
                _("只有中断的批次可以继续执行（当前状态：%s）。") % run.get_state_display(),
            )
        resumed = [*run.options.get("resumed_by", []), getattr(actor, "username", "") or "-"]
        run.options = {**run.options, "resumed_by": resumed}
        run.state = BatchState.RUNNING
        run.heartbeat_at = now
        run.message = ""
        run.save(update_fields=["state", "heartbeat_at", "message", "options"])
    return run


# ---------------------------------------------------------------- the real run


def _chunk_rows() -> int:
    return int(getattr(settings, "XUEJI", {}).get("BATCH_CHUNK_ROWS", DEFAULT_CHUNK_ROWS))


def _chunk_bounds(run: BatchRun, chunk_rows: int) -> list[list]:
    """Every ``chunk_rows``-th enrolled record of the scope in key order: the lower bounds
    of the chunks (one window query)."""
    where, params = _scope_sql(run.scope_area, run.school_id)
    sql = (
        "SELECT area_code, student_id FROM ("
        " SELECT r.area_code, r.student_id,"
        " ROW_NUMBER() OVER (ORDER BY r.area_code, r.student_id) AS n"
        f" FROM enrolment_statusrecord r WHERE r.state = %s AND {where}"
        ") t WHERE (n - 1) %% %s = 0 ORDER BY area_code, student_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [StatusState.ENROLLED, *params, chunk_rows])
        return [[area, student] for area, student in cursor.fetchall()]


Sql = tuple[str, list]


@dataclass
class _Statement:
    """One chunk's work as SQL over ``enrolment_statusrecord r`` (and ``schools_school s``):
    which records change, their new grade and state, and the event kind."""

    where: Sql
    new_grade: Sql
    new_state: Sql
    kind: Callable[[Sql], Sql]  # the event kind, given the new state's SQL
    key_column: str  # what the counts are grouped by: "grade" or "state"
    joins_school: bool = False


def _probe_each_row() -> str:
    """Keeps the guard a per-row index probe on PostgreSQL. As an anti join the planner,
    whose statistics do not yet know the events the previous chunks wrote, may scan and
    rescan all of them for every record (minutes per chunk instead of a second)."""
    return " OFFSET 0" if connection.vendor == "postgresql" else ""


def _in(values: Iterable[Any]) -> Sql:
    values = list(values)
    return ", ".join(["%s"] * len(values)), values


def _promotion_statement(run: BatchRun) -> _Statement:
    four_year = run.options.get("four_year_junior_schools", [])
    clauses, params = [], []
    for stage in (Stage.PRIMARY, Stage.JUNIOR, Stage.SENIOR):
        types = [t for t, stages in STAGES_BY_TYPE.items() if stage in stages]
        grades = [g for g in NEXT_GRADE if g[0] == stage and g != "23"]
        type_marks, type_params = _in(types)
        grade_marks, grade_params = _in(grades)
        grade_sql = f"r.grade IN ({grade_marks})"
        if stage == Stage.JUNIOR and four_year:
            school_marks, school_params = _in(four_year)
            grade_sql = f"({grade_sql} OR (r.grade = %s AND r.school_id IN ({school_marks})))"
            grade_params = [*grade_params, "23", *school_params]
        clauses.append(f"(r.stage = %s AND s.school_type IN ({type_marks}) AND {grade_sql})")
        params += [stage, *type_params, *grade_params]
    first, last = _year_window(run.school_year)
    ops = connection.ops
    # The guard: nobody gets a second promotion event in one school year, whichever run
    # (this one replayed, or another covering a student who changed school meanwhile).
    where = (
        f"r.state = %s AND ({' OR '.join(clauses)}) AND NOT EXISTS ("
        " SELECT 1 FROM enrolment_statusevent e WHERE e.record_id = r.student_id"
        " AND e.kind = %s AND e.effective_date >= %s AND e.effective_date <= %s"
        f"{_probe_each_row()})"
    )
    where_params = [
        StatusState.ENROLLED,
        *params,
        EventKind.PROMOTE,
        ops.adapt_datefield_value(first),
        ops.adapt_datefield_value(last),
    ]
    case = " ".join("WHEN %s THEN %s" for _g in NEXT_GRADE)
    case_params = [value for pair in NEXT_GRADE.items() for value in pair]
    return _Statement(
        where=(where, where_params),
        new_grade=(f"CASE r.grade {case} END", case_params),
        new_state=("r.state", []),
        kind=lambda state: ("%s", [EventKind.PROMOTE]),
        key_column="grade",
        joins_school=True,
    )


def _graduation_statement(run: BatchRun) -> _Statement:
    completed, left = run.options.get("completed", []), run.options.get("left", [])
    case, case_params = "CASE", []
    for ids, state in ((completed, StatusState.COMPLETED), (left, StatusState.LEFT)):
        if ids:
            marks, values = _in(ids)
            case += f" WHEN r.student_id IN ({marks}) THEN %s"
            case_params += [*values, state]
    if case_params:
        case += " ELSE %s END"
    else:
        case = "%s"  # nobody listed: everybody graduates
    case_params.append(StatusState.GRADUATED)

    def kind(state: Sql) -> Sql:
        whens = " ".join("WHEN %s THEN %s" for _s in GRADUATION_KIND)
        pairs = [value for pair in GRADUATION_KIND.items() for value in pair]
        return f"CASE {state[0]} {whens} END", [*state[1], *pairs]

    return _Statement(
        where=(
            "r.state = %s AND r.stage = %s AND r.grade = %s AND NOT EXISTS ("
            " SELECT 1 FROM enrolment_statusevent e WHERE e.record_id = r.student_id"
            f" AND e.batch = %s AND e.effective_date = %s{_probe_each_row()})",
            [
                StatusState.ENROLLED,
                run.options["stage"],
                run.options["grade"],
                run.batch_key,
                connection.ops.adapt_datefield_value(run.cutoff),
            ],
        ),
        new_grade=("r.grade", []),
        new_state=(case, case_params),
        kind=kind,
        key_column="state",
    )


_EVENT_COLUMNS = (
    "record_id, kind, occurred_at, effective_date, actor_id, actor_username, from_state,"
    " to_state, school_id, stage, grade, class_name, reason, batch, change_type, request_id,"
    " materials, detail"
)


@dataclass
class _Chunk:
    statement: _Statement
    scope: Sql  # the run's scope over r
    range: Sql  # the chunk's key range over r
    stamp: Any  # now, adapted for the database
    constants: list  # occurred_at, effective_date, actor_id, actor_username, from_state
    reason: str
    batch: str


def _run_chunk(run: BatchRun, index: int, *, actor, now) -> list[tuple[int, str, int]]:
    """Change one chunk's records and write their events; (school, key, count) rows."""
    bounds = run.chunk_bounds
    range_sql = "(r.area_code, r.student_id) >= (%s, %s)"
    range_params = list(bounds[index])
    if index + 1 < len(bounds):
        range_sql += " AND (r.area_code, r.student_id) < (%s, %s)"
        range_params += list(bounds[index + 1])
    ops = connection.ops
    stamp = ops.adapt_datetimefield_value(now)
    chunk = _Chunk(
        statement=(
            _promotion_statement(run)
            if run.kind == BatchKind.PROMOTE
            else _graduation_statement(run)
        ),
        scope=_scope_sql(run.scope_area, run.school_id),
        range=(range_sql, range_params),
        stamp=stamp,
        constants=[
            stamp,
            ops.adapt_datefield_value(run.cutoff),
            getattr(actor, "pk", None),
            getattr(actor, "username", "") or "",
            StatusState.ENROLLED,
        ],
        reason=_event_reason(run),
        batch=run.batch_key,
    )
    if connection.vendor == "postgresql":
        counts = _run_chunk_postgres(chunk)
    else:
        counts = _run_chunk_generic(chunk)
    if run.kind != BatchKind.PROMOTE:
        _freeze_graduates(chunk)
        _revoke_credentials(chunk, actor=actor, now=now)
    return counts


def _revoke_credentials(chunk: "_Chunk", *, actor, now) -> None:
    """Graduated, completed and left students' digital identities are revoked, set-based."""
    from xueji.credentials.services import credentials_revoke_where

    ended = (StatusState.GRADUATED, StatusState.COMPLETED, StatusState.LEFT)
    credentials_revoke_where(
        actor=actor,
        record_sql=f"r.state IN (%s, %s, %s) AND {chunk.scope[0]} AND {chunk.range[0]}",
        params=[*ended, *chunk.scope[1], *chunk.range[1]],
        reason=chunk.batch,
        now=now,
    )


def _freeze_graduates(chunk: "_Chunk") -> None:
    """After graduation basic information is frozen (requirements §5): the chunk's graduated
    students, set-based."""
    sql = (
        "UPDATE students_student SET frozen = %s WHERE frozen = %s AND id IN ("
        " SELECT r.student_id FROM enrolment_statusrecord r"
        f" WHERE r.state = %s AND {chunk.scope[0]} AND {chunk.range[0]})"
    )
    params = [True, False, StatusState.GRADUATED, *chunk.scope[1], *chunk.range[1]]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _run_chunk_postgres(chunk: _Chunk) -> list[tuple[int, str, int]]:
    """One statement: the UPDATE returns the changed rows, which become the events."""
    st = chunk.statement
    join = " FROM schools_school s" if st.joins_school else ""
    join_where = "s.id = r.school_id AND " if st.joins_school else ""
    kind_sql, kind_params = st.kind(("m.state", []))
    sql = (
        "WITH moved AS ("
        f" UPDATE enrolment_statusrecord r SET grade = {st.new_grade[0]},"
        f" state = {st.new_state[0]}, revision = r.revision + 1, updated_at = %s"
        f"{join} WHERE {join_where}{chunk.scope[0]} AND {chunk.range[0]} AND {st.where[0]}"
        " RETURNING r.student_id, r.school_id, r.stage, r.grade, r.class_name, r.state"
        "), written AS ("
        f" INSERT INTO enrolment_statusevent ({_EVENT_COLUMNS})"
        f" SELECT m.student_id, {kind_sql}, %s, %s, %s, %s, %s, m.state, m.school_id, m.stage,"
        " m.grade, m.class_name, %s, %s, '', NULL, '[]', '{}' FROM moved m"
        f") SELECT school_id, {st.key_column}, COUNT(*) FROM moved"
        f" GROUP BY school_id, {st.key_column}"
    )
    params = [
        *st.new_grade[1],
        *st.new_state[1],
        chunk.stamp,
        *chunk.scope[1],
        *chunk.range[1],
        *st.where[1],
        *kind_params,
        *chunk.constants,
        chunk.reason,
        chunk.batch,
    ]
    with connection.cursor() as cursor:
        # Compiling this large statement (JIT) costs more than it saves on one chunk.
        cursor.execute("SET LOCAL jit = off")
        cursor.execute(sql, params)
        return [(school, key, count) for school, key, count in cursor.fetchall()]


def _run_chunk_generic(chunk: _Chunk) -> list[tuple[int, str, int]]:
    """SQLite: the events first (``INSERT … SELECT`` with the new facts), then the records
    from their events (``UPDATE … FROM``). The chunk's transaction holds the write lock
    from its first statement on, so both statements see the same rows."""
    st = chunk.statement
    join = " JOIN schools_school s ON s.id = r.school_id" if st.joins_school else ""
    kind_sql, kind_params = st.kind(st.new_state)
    insert = (
        f"INSERT INTO enrolment_statusevent ({_EVENT_COLUMNS})"
        f" SELECT r.student_id, {kind_sql}, %s, %s, %s, %s, %s, {st.new_state[0]},"
        f" r.school_id, r.stage, {st.new_grade[0]}, r.class_name, %s, %s, '', NULL, '[]', '{{}}'"
        f" FROM enrolment_statusrecord r{join}"
        f" WHERE {chunk.scope[0]} AND {chunk.range[0]} AND {st.where[0]}"
    )
    insert_params = [
        *kind_params,
        *chunk.constants,
        *st.new_state[1],
        *st.new_grade[1],
        chunk.reason,
        chunk.batch,
        *chunk.scope[1],
        *chunk.range[1],
        *st.where[1],
    ]
    update = (
        "UPDATE enrolment_statusrecord AS r SET grade = e.grade, state = e.to_state,"
        " revision = r.revision + 1, updated_at = %s FROM enrolment_statusevent AS e"
        " WHERE e.record_id = r.student_id AND e.batch = %s AND e.occurred_at = %s"
        f" AND {chunk.range[0]}"
    )
    key = "e.grade" if st.key_column == "grade" else "e.to_state"
    count = (
        f"SELECT r.school_id, {key}, COUNT(*) FROM enrolment_statusrecord r"
        " JOIN enrolment_statusevent e ON e.record_id = r.student_id"
        f" WHERE e.batch = %s AND e.occurred_at = %s AND {chunk.range[0]}"
        f" GROUP BY r.school_id, {key}"
    )
    with connection.cursor() as cursor:
        cursor.execute(insert, insert_params)
        # Only this statement's events (its time stamp): a replayed chunk must not touch
        # records whose events an earlier attempt wrote.
        cursor.execute(update, [chunk.stamp, chunk.batch, chunk.stamp, *chunk.range[1]])
        cursor.execute(count, [chunk.batch, chunk.stamp, *chunk.range[1]])
        return [(school, k, n) for school, k, n in cursor.fetchall()]


def _event_reason(run: BatchRun) -> str:
    if run.kind == BatchKind.PROMOTE:
        return f"{run.school_year}学年升级"
    return f"{run.school_year}年毕业处理"


def _merge_counts(counts: dict, rows: list[tuple[int, str, int]]) -> dict:
    by_key = dict(counts.get("by_key", {}))
    by_school = {k: dict(v) for k, v in counts.get("by_school", {}).items()}
    for school, key, n in rows:
        by_key[key] = by_key.get(key, 0) + n
        school_counts = by_school.setdefault(str(school), {})
        school_counts[key] = school_counts.get(key, 0) + n
    return {"by_key": by_key, "by_school": by_school}


def _start(run_id: int, chunk_rows: int) -> BatchRun:
    """Claim the run and, on its first start, fix its chunks and its facts."""
    with transaction.atomic():
        run = BatchRun.objects.select_for_update().get(pk=run_id)
        if run.state == BatchState.PLANNED:
            raise Conflict("batch.not_confirmed", _("该批次尚未确认，不能执行。"))
        if run.state == BatchState.DONE:
            return run
        now = clock.now()
        fields = ["state", "heartbeat_at", "message"]
        if not run.started_at:
            if run.kind == BatchKind.PROMOTE:
                run.options = {
                    **run.options,
                    "four_year_junior_schools": _four_year_junior_schools(
                        run.scope_area, run.school_id
                    ),
                }
            run.chunk_bounds = _chunk_bounds(run, chunk_rows)
            run.chunks_total = len(run.chunk_bounds)
            run.started_at = now
            fields += ["options", "chunk_bounds", "chunks_total", "started_at"]
        run.state = BatchState.RUNNING
        run.heartbeat_at = now
        run.message = ""
        run.save(update_fields=fields)
        return run


def _finish(run: BatchRun, *, actor) -> None:
    """Inside the last chunk's transaction: done, and the batch's one audit event."""
    now = clock.now()
    run.state = BatchState.DONE
    run.finished_at = now
    run.heartbeat_at = now
    verb = _("升级") if run.kind == BatchKind.PROMOTE else _("毕业处理")
    run.message = _("%(verb)s完成：共处理 %(n)d 人。") % {"verb": verb, "n": run.changed_count}
    run.save(update_fields=["state", "finished_at", "heartbeat_at", "message"])
    audit_record(
        actor=actor,
        action=AuditAction.BATCH_PROMOTE
        if run.kind == BatchKind.PROMOTE
        else AuditAction.BATCH_GRADUATE,
        object_type=ObjectType.BATCH_RUN,
        object_id=run.pk,
        summary=(
            f"{'升级' if run.kind == BatchKind.PROMOTE else '毕业处理'} "
            f"{run.scope_label if run.scope_area or run.school_id else '全国'} "
            f"{run.school_year}：{run.changed_count} 人"
        ),
        detail={
            "batch": run.batch_key,
            "kind": run.kind,
            "scope": run.scope_area,
            "school": run.school.code if run.school else "",
            "school_year": run.school_year,
            "cutoff": run.cutoff.isoformat(),
            "changed": run.changed_count,
            "planned": run.planned_count,
            "by_key": run.counts.get("by_key", {}),
            "chunks": run.chunks_total,
            "confirmed_by": getattr(run.confirmed_by, "username", "")
            or run.options.get("operator", ""),
            "resumed_by": run.options.get("resumed_by", []),
        },
    )


def batch_run_execute(
    *,
    run_id: int,
    progress: Callable[[BatchRun], None] | None = None,
    chunk_rows: int | None = None,
) -> BatchRun:
    """Run a confirmed (or interrupted) batch to its end, one transaction per chunk.

    Safe to call again after any failure, from a task worker or a command: it continues
    with the first chunk not yet committed. Each chunk re-reads the run under a row lock,
    so two workers on one run never process the same chunk."""
    run = _start(run_id, chunk_rows or _chunk_rows())
    if run.state == BatchState.DONE:
        return run
    actor = run.confirmed_by
    try:
        if run.chunks_total == 0:
            with transaction.atomic():
                locked = BatchRun.objects.select_for_update().get(pk=run_id)
                if locked.state != BatchState.DONE:
                    _finish(locked, actor=actor)
        index = run.chunks_done
        while index < run.chunks_total:
            with transaction.atomic():
                locked = (
                    BatchRun.objects.select_for_update(of=("self",))
                    .select_related("school", "confirmed_by")
                    .get(pk=run_id)
                )
                if locked.chunks_done != index or locked.state != BatchState.RUNNING:
                    # Another worker moved on (or finished): follow it.
                    index = locked.chunks_done
                    if locked.state != BatchState.RUNNING:
                        break
                    continue
                now = clock.now()
                rows = _run_chunk(locked, index, actor=actor, now=now)
                locked.counts = _merge_counts(locked.counts, rows)
                locked.changed_count += sum(n for _s, _k, n in rows)
                locked.chunks_done = index + 1
                locked.heartbeat_at = now
                locked.save(
                    update_fields=["counts", "changed_count", "chunks_done", "heartbeat_at"]
                )
                if locked.chunks_done == locked.chunks_total:
                    _finish(locked, actor=actor)
            index += 1
            if progress is not None:
                progress(locked)
    except Exception as error:
        logger.exception("batch run %s failed", run_id)
        _fail(run_id, error)
        raise
    return BatchRun.objects.select_related("school", "created_by", "confirmed_by").get(pk=run_id)


def _fail(run_id: int, error: Exception) -> None:
    """Mark the run interrupted (what was committed stays; a resume continues) and audit it."""
    with transaction.atomic():
        run = (
            BatchRun.objects.select_for_update(of=("self",))
            .select_related("confirmed_by")
            .get(pk=run_id)
        )
        if run.state == BatchState.DONE:
            return
        run.state = BatchState.FAILED
        run.message = _(
            "执行中断：已完成 %(done)d/%(total)d 段，已处理 %(n)d 人。请检查后继续执行。"
        ) % {"done": run.chunks_done, "total": run.chunks_total, "n": run.changed_count}
        run.heartbeat_at = clock.now()
        run.save(update_fields=["state", "message", "heartbeat_at"])
        audit_record(
            actor=run.confirmed_by,
            action=AuditAction.BATCH_FAILED,
            object_type=ObjectType.BATCH_RUN,
            object_id=run.pk,
            summary=f"批量处理中断 {run.batch_key}：已处理 {run.changed_count} 人",
            detail={
                "batch": run.batch_key,
                "chunks_done": run.chunks_done,
                "chunks_total": run.chunks_total,
                "changed": run.changed_count,
                "error": type(error).__name__,
            },
        )
