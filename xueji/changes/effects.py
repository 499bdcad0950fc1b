"""What each change type checks at filing and does to the record at completion.

``validate`` runs when a request is filed (type-specific payload rules); ``apply`` runs in
the completing transaction with the record locked and writes through the one guarded
mutator, ``xueji.enrolment.services.record_change``.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.utils import timezone, translation
from django.utils.translation import gettext as _

from xueji import clock
from xueji.enrolment.models import Programme, StatusRecord
from xueji.enrolment.rules import EventKind
from xueji.enrolment.services import record_change
from xueji.errors import Conflict, FieldError
from xueji.schools.models import School
from xueji.schools.rules import GRADES, SchoolType, grade_allowed

from .rules import EFFECTS, ChangeRule, ChangeType, MaterialKind, grade_step


@dataclass(frozen=True)
class Context:
    record: StatusRecord
    payload: dict
    target_school: School | None
    rule: ChangeRule


Validator = Callable[[Context], list[FieldError]]


def _parse_date(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        return None


def deadline_start(request: Any) -> date:
    """The day a "from the effective date" deadline counts from: the date of death when the
    request names one (Art. 21), else the request's effective date."""
    return _parse_date((request.payload or {}).get("died_on")) or request.effective_date


def _grade_field(ctx: Context, *, field: str = "grade", required: bool) -> list[FieldError]:
    grade = ctx.payload.get(field) or ""
    if not grade:
        if required:
            return [FieldError(f"payload.{field}", "grade.required", _("请选择年级"))]
        return []
    school = ctx.target_school or ctx.record.school
    if grade not in GRADES or not grade_allowed(school.school_type, grade):
        return [FieldError(f"payload.{field}", "grade.not_offered", _("该学校不设此年级"), grade)]
    return []


def _target_needed(ctx: Context) -> list[FieldError]:
    if ctx.target_school is None:
        return [FieldError("target_school", "target.required", _("请选择学校"))]
    return []


def _validate_transfer(ctx: Context) -> list[FieldError]:
    return _target_needed(ctx) + _grade_field(ctx, required=False)


def _validate_step(delta: int) -> Validator:
    def check(ctx: Context) -> list[FieldError]:
        if grade_step(ctx.record.grade, delta) is None:
            return [
                FieldError(
                    "grade",
                    "grade.out_of_stage",
                    _("当前年级不能再%s") % (_("升一级") if delta > 0 else _("降一级")),
                )
            ]
        return []

    return check


def _validate_demote(ctx: Context) -> list[FieldError]:
    # Art. 14: demotion only for special-education students, in special cases.
    errors = _validate_step(-1)(ctx)
    if not is_special_education(ctx.record):
        errors.append(
            FieldError("change_type", "demote.special_only", _("降级仅适用于特殊教育学生"))
        )
    return errors


def _validate_defer(ctx: Context) -> list[FieldError]:
    until = _parse_date(ctx.payload.get("until"))
    max_days = int(ctx.rule.options.get("max_days", 365))
    if until is None:
        return [FieldError("payload.until", "defer.until_required", _("请填写缓学截止日期"))]
    start = _parse_date(ctx.payload.get("from")) or clock.today()
    if until <= start or until > start + timedelta(days=max_days):
        return [
            FieldError(
                "payload.until",
                "defer.too_long",
                _("缓学期限不能超过 %d 天") % max_days,
                str(until),
            )
        ]
    return []


def _validate_return(ctx: Context) -> list[FieldError]:
    # The grade the learning record fits: chosen by the school, checked against the school.
    return _grade_field(ctx, required=True)


def _validate_specialised(ctx: Context) -> list[FieldError]:
    errors = _target_needed(ctx)
    if ctx.target_school is not None and ctx.target_school.school_type != SchoolType.SPECIALISED:
        errors.append(
            FieldError("target_school", "specialised.not_specialised", _("安置学校须为专门学校"))
        )
    return errors


def _validate_home_taught(ctx: Context) -> list[FieldError]:
    if not isinstance(ctx.payload.get("home_taught", True), bool):
        return [FieldError("payload.home_taught", "home_taught.invalid", _("请选择是否送教上门"))]
    return []


def _validate_programme(ctx: Context) -> list[FieldError]:
    programme = ctx.payload.get("programme", "")
    if programme not in Programme.values:
        return [FieldError("payload.programme", "programme.invalid", _("请选择培养类型"))]
    if programme == ctx.record.programme:
        return [FieldError("payload.programme", "programme.same", _("与当前培养类型相同"))]
    return []


def _validate_death(ctx: Context) -> list[FieldError]:
    died = _parse_date(ctx.payload.get("died_on"))
    if died is None:
        return [FieldError("payload.died_on", "death.date_required", _("请填写死亡日期"))]
    if died > clock.today():
        return [FieldError("payload.died_on", "death.future", _("死亡日期不能晚于今天"))]
    return []


VALIDATORS: dict[str, Validator] = {
    ChangeType.TRANSFER: _validate_transfer,
    ChangeType.REPEAT: _validate_step(-1),
    ChangeType.SKIP: _validate_step(+1),
    ChangeType.DEMOTE: _validate_demote,
    ChangeType.DEFER: _validate_defer,
    ChangeType.RETURN: _validate_return,
    ChangeType.RESUME: lambda ctx: _grade_field(ctx, required=False),
    ChangeType.SPECIALISED: _validate_specialised,
    ChangeType.HOME_TAUGHT: _validate_home_taught,
    ChangeType.PROGRAMME: _validate_programme,
    ChangeType.DEATH: _validate_death,
}


def is_special_education(record: StatusRecord) -> bool:
    """A special-education student: at a special-education school, or taught at home."""
    return record.school.school_type == SchoolType.SPECIAL_EDUCATION or record.home_taught


# The validators that read the student's record only (not what the form asks for): their
# answer is known before anything is filled in, so the change is not even offered.
RECORD_ONLY = frozenset({ChangeType.REPEAT, ChangeType.SKIP, ChangeType.DEMOTE})


def eligibility(change_type: str, *, record: StatusRecord, rule: ChangeRule) -> list[FieldError]:
    """The type's own refusals that depend on the record alone (a grade step past the end
    of the stage, demotion outside special education)."""
    if change_type not in RECORD_ONLY:
        return []
    return VALIDATORS[change_type](
        Context(record=record, payload={}, target_school=None, rule=rule)
    )


def validate(
    change_type: str,
    *,
    record: StatusRecord,
    payload: dict,
    target_school: School | None,
    rule: ChangeRule,
) -> list[FieldError]:
    check = VALIDATORS.get(change_type)
    if check is None:
        return []
    return check(Context(record=record, payload=payload, target_school=target_school, rule=rule))


# ----------------------------------------------------------------- completion


def _fields_for(request: Any, record: StatusRecord) -> tuple[dict, dict]:
    """(record fields to set, event detail) for a completed request."""
    change_type = request.change_type
    payload = request.payload or {}
    fields: dict[str, Any] = {}
    detail: dict[str, Any] = {}
    if change_type == ChangeType.TRANSFER:
        target = request.target_school
        fields = {"school": target, "class_name": payload.get("class_name", "")}
        grade = _chosen_grade(payload, request.filed_grade, record)
        if grade:
            fields["grade"] = grade
            fields["stage"] = grade[0]
        if payload.get("programme") in Programme.values:
            fields["programme"] = payload["programme"]
        # Names as they stood: the history reads "从 A 转入 B" even after a school is renamed.
        detail = {
            "from_school": record.school.code,
            "from_school_name": record.school.name,
            "to_school": target.code,
            "to_school_name": target.name,
        }
    elif change_type in (ChangeType.REPEAT, ChangeType.SKIP, ChangeType.DEMOTE):
        delta = +1 if change_type == ChangeType.SKIP else -1
        grade = grade_step(record.grade, delta)
        fields = {"grade": grade}
        detail = {"from_grade": record.grade, "to_grade": grade}
    elif change_type in (ChangeType.RETURN, ChangeType.RESUME) and payload.get("grade"):
        fields = {"grade": payload["grade"], "stage": payload["grade"][0]}
        detail = {"from_grade": record.grade, "to_grade": payload["grade"]}
    elif change_type == ChangeType.SPECIALISED:
        target = request.target_school
        if request.rule.get("options", {}).get("move_record"):
            fields = {"school": target, "class_name": ""}
        else:
            fields = {"placement_school": target}
        detail = {"placement_school": target.code, "placement_school_name": target.name}
    elif change_type == ChangeType.HOME_TAUGHT:
        fields = {"home_taught": bool(payload.get("home_taught", True))}
    elif change_type == ChangeType.PROGRAMME:
        fields = {"programme": payload["programme"]}
        detail = {"from_programme": record.programme, "to_programme": payload["programme"]}
    if change_type == ChangeType.DEFER:
        detail = {"until": payload.get("until")}
    if change_type == ChangeType.RETURN:
        # The time abroad is marked on the return event.
        left = (
            record.events.filter(change_type=ChangeType.ABROAD)
            .order_by("-effective_date", "-pk")
            .values_list("effective_date", flat=True)
            .first()
        )
        detail["abroad_from"] = left.isoformat() if left else None
        detail["abroad_until"] = request.effective_date.isoformat()
    if change_type == ChangeType.DEATH:
        detail = {"died_on": payload.get("died_on")}
    return fields, detail


def _after_transfer(*, actor, request, record, from_school, now) -> None:
    # The electronic archive moves with the record; the sending school keeps a read-only
    # backup of it and of the history up to the transfer date.
    from xueji.archives.services import archive_transfer

    archive_transfer(
        actor=actor,
        student=request.student,
        from_school=from_school,
        to_school=record.school,
        request_id=request.pk,
        effective_date=timezone.localdate(now),
    )


def _after_abroad(*, actor, request, record, from_school, now) -> None:
    # Leaving to study abroad: the archive goes to the higher authority.
    from xueji.archives.services import archive_to_authority

    from .services import authority_unit_for

    archive_to_authority(
        actor=actor,
        student=request.student,
        from_school=from_school,
        authority_unit=authority_unit_for(from_school),
        request_id=request.pk,
    )


def _after_return(*, actor, request, record, from_school, now) -> None:
    from xueji.archives.services import archive_return

    archive_return(
        actor=actor, student=request.student, to_school=record.school, request_id=request.pk
    )


def _chosen_grade(payload: dict, filed_grade: str, record: StatusRecord) -> str | None:
    """The grade chosen at filing, moved on by as many years as the record moved since
    (a yearly promotion while the request was open); None when none was chosen."""
    grade = payload.get("grade") or None
    filed = GRADES.get(filed_grade or record.grade)
    now = GRADES.get(record.grade)
    if grade is None or filed is None or now is None or filed.stage != now.stage:
        return grade
    return grade_step(grade, now.year - filed.year) or grade


# Completion hooks beyond the record itself (archives, the dropout ledger), by type.
AFTER: dict[str, Callable[..., None]] = {
    ChangeType.TRANSFER: _after_transfer,
    ChangeType.ABROAD: _after_abroad,
    ChangeType.RETURN: _after_return,
}


def _chained(first: Callable[..., None] | None, then: Callable[..., None]) -> Callable[..., None]:
    """Run ``then`` after whatever hook a type already has (hooks never replace each other)."""
    if first is None:
        return then

    def both(**kwargs: Any) -> None:
        first(**kwargs)
        then(**kwargs)

    return both


def _ledger(name: str) -> Callable[..., None]:
    # The dropout-control ledger (xueji/changes/ledger.py), imported when a hook runs.
    def hook(**kwargs: Any) -> None:
        from . import ledger

        getattr(ledger, name)(**kwargs)

    return hook


# Dropout (compulsory stages) opens a ledger case; a resumption or a death closes it.
for _type, _name in (
    (ChangeType.DROPOUT, "on_dropout_completed"),
    (ChangeType.RESUME, "on_resume_completed"),
    (ChangeType.DEATH, "on_death_completed"),
):
    AFTER[_type] = _chained(AFTER.get(_type), _ledger(_name))


def apply(*, actor: Any, request: Any, record: StatusRecord, now: datetime) -> None:
    effect = EFFECTS[request.change_type]
    if record.state not in effect.from_states:
        # The record changed state while the request was open (a graduation batch, say):
        # completing it now would leave the declared table. The request stays open.
        raise Conflict(
            "change.state_changed",
            _("学生学籍状态已变为“%(state)s”，不能再办结此%(type)s申请，请作不同意处理。")
            % {"state": record.get_state_display(), "type": ChangeType(request.change_type).label},
        )
    from_school = record.school
    fields, detail = _fields_for(request, record)
    # Dates in Shanghai time: ``now`` is UTC, its date is the day before until 08:00.
    effective = max(request.effective_date, timezone.localdate(request.filed_at))
    if request.change_type == ChangeType.TRANSFER:
        effective = timezone.localdate(now)
    record_change(
        actor=actor,
        record=record,
        kind=EventKind.CHANGE,
        effective_date=effective,
        to_state=effect.to_state,
        change_type=request.change_type,
        request_id=request.pk,
        reason=request.reason,
        materials=[
            {"kind": m.kind, "name": m.name, "sha256": m.sha256} for m in request.materials.all()
        ],
        detail=detail,
        now=now,
        **fields,
    )
    hook = AFTER.get(request.change_type)
    if hook is not None:
        hook(actor=actor, request=request, record=record, from_school=from_school, now=now)
    # The student's digital identity follows the record: re-issued, suspended or revoked.
    from xueji.credentials.services import credentials_follow_record

    credentials_follow_record(actor=actor, record=record, change_type=request.change_type, now=now)
    _file_materials(actor=actor, request=request, from_school=from_school)


def _file_materials(*, actor: Any, request: Any, from_school: School) -> None:
    """The request's materials go into the student's electronic archive (Art. 6), held by
    whoever holds it once the change is done: after a transfer the receiving school (the
    archive has just moved there; the sending school's backup does not list them), while
    abroad the authority."""
    from xueji.archives.permissions import Holder, archive_holder
    from xueji.archives.rules import DocumentKind
    from xueji.archives.services import archive_file_materials

    materials = list(request.materials.order_by("uploaded_at", "pk"))
    if not materials:
        return
    if request.change_type == ChangeType.ABROAD:
        from .services import authority_unit_for

        holder = Holder(unit=authority_unit_for(from_school))
    else:
        holder = archive_holder(request.student_id)
    # Stored data: the titles are Chinese whatever the language of the completing session.
    with translation.override("zh-hans"):
        type_label = str(ChangeType(request.change_type).label)
        titles = [f"{type_label}：{MaterialKind(m.kind).label}" for m in materials]
    archive_file_materials(
        actor=actor,
        student=request.student,
        holder=holder,
        request_id=request.pk,
        materials=[
            {
                "kind": DocumentKind.MATERIAL,
                "title": title,
                "file": material.file.name,
                "file_name": material.name,
                "content_type": material.content_type,
                "size": material.size,
                "sha256": material.sha256,
                "uploaded_by": material.uploaded_by,
            }
            for material, title in zip(materials, titles, strict=True)
        ],
    )
