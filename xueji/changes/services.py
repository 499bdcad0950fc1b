"""The change engine: file a request under the rule in force, handle its steps in order within
their working-day deadlines, withdraw it, and complete it by applying its effect to the record.

Every function here is a service: it checks access, applies the rules, writes inside one
transaction together with the audit event, and is the only writer of requests and steps.
Concurrency: the student's status record is locked while a request is filed and completed,
the request row while a step is handled, and the database allows one open request per
student — so two racing filings or two racing approvals can never both succeed.
"""

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils.text import format_lazy
from django.utils.translation import gettext as _

from xueji import clock
from xueji.accounts.models import Unit, UnitKind
from xueji.accounts.permissions import require_permission
from xueji.accounts.rules import Permission
from xueji.accounts.scope import scope_for
from xueji.accounts.services import SystemActor, unit_ensure_for_school, unit_ensure_national
from xueji.archives.rules import FILE_TYPES, sniff_file_type
from xueji.audit.events import AuditAction, ObjectType
from xueji.audit.services import audit_record
from xueji.audit.warnings import WarningKind, warning_raise, warning_resolve
from xueji.enrolment.models import StatusRecord
from xueji.enrolment.services import record_lock
from xueji.errors import Conflict, FieldError, Forbidden, NotFound, ValidationFailed
from xueji.schools.models import School
from xueji.schools.rules import GRADES, SchoolState, grade_allowed
from xueji.students import disclosure, identity
from xueji.students.models import Student
from xueji.workdays.rules import CalendarMissing
from xueji.workdays.selectors import due_date

from . import effects
from .models import ApprovalStep, ChangeRequest, Material, RuleSet
from .rules import (
    EFFECTS,
    SCHOOL_PARTIES,
    ChangeRule,
    ChangeType,
    Channel,
    MaterialKind,
    Party,
    RefusalReason,
    RequestState,
    StepState,
    blocking,
    effective_rule,
)

MATERIAL_MAX_BYTES = 10 * 1024 * 1024
STEP_OVERDUE = WarningKind.STEP_OVERDUE
# The author of the daily sweep's audit events (no account acts).
SWEEP_JOB = SystemActor(username="system:sweep_changes")
CALENDAR_MISSING = WarningKind.CALENDAR_MISSING


# ----------------------------------------------------------------- rule sets in force


@dataclass(frozen=True)
class RuleInForce:
    rule: ChangeRule
    national: RuleSet | None
    province: RuleSet | None


def ruleset_in_force(province_code: str, *, at: datetime) -> RuleSet | None:
    """The newest version of one layer ('' = national) effective at ``at``."""
    return (
        RuleSet.objects.filter(province_code=province_code, effective_from__lte=at)
        .order_by("-version")
        .first()
    )


def rule_in_force(change_type: str, *, province_code: str, at: datetime) -> RuleInForce:
    national = ruleset_in_force("", at=at)
    province = ruleset_in_force(province_code, at=at) if province_code else None
    rule = effective_rule(
        change_type,
        national=national.rules if national else {},
        province=province.rules if province else None,
    )
    return RuleInForce(rule=rule, national=national, province=province)


# ----------------------------------------------------------------- who handles a step


def authority_unit_for(school: School) -> Unit:
    """The status authority (学籍主管部门) of a school: the ancestor unit at the school's
    managing level (county by default), or the unit of the separately listed schools."""
    unit: Unit | None = unit_ensure_for_school(school).parent
    wanted = {
        "county": UnitKind.COUNTY,
        "city": UnitKind.CITY,
        "province": UnitKind.PROVINCE,
        "national": UnitKind.SEPARATE if school.listed_separately else UnitKind.NATIONAL,
    }.get(school.managing_level, UnitKind.COUNTY)
    first = unit
    while unit is not None and unit.kind != wanted:
        unit = unit.parent
    # A county-managed school directly under a city (no county level): its parent handles.
    return unit or first or unit_ensure_national()


def party_unit(party: str, *, school: School, target_school: School | None) -> Unit:
    if party in (Party.RECEIVING_SCHOOL, Party.RECEIVING_AUTHORITY):
        if target_school is None:
            raise ValueError("a receiving party needs a target school")
        return (
            unit_ensure_for_school(target_school)
            if party == Party.RECEIVING_SCHOOL
            else authority_unit_for(target_school)
        )
    if party in (Party.SENDING_SCHOOL, Party.SCHOOL):
        return unit_ensure_for_school(school)
    return authority_unit_for(school)


# ----------------------------------------------------------------- materials


def _material_errors(kind: str, upload: UploadedFile) -> tuple[list[FieldError], str, str]:
    field = f"materials.{kind}"
    if kind not in MaterialKind.values:
        return [FieldError(field, "material.kind_unknown", _("未知的材料类别"))], "", ""
    size = upload.size or 0
    if size == 0:
        return [FieldError(field, "material.empty", _("文件为空"), value=upload.name or "")], "", ""
    if size > MATERIAL_MAX_BYTES:
        message = _("文件 %(size).1f MB，超过 10 MB 上限") % {"size": size / 1048576}
        return [FieldError(field, "material.too_large", message, value=upload.name or "")], "", ""
    upload.seek(0)
    head = upload.read(8)
    upload.seek(0)
    # The same rule as the electronic archive: the first bytes decide, never the name.
    kind_of_file = sniff_file_type(head)
    if kind_of_file is not None:
        content_type, suffix = FILE_TYPES[kind_of_file]
        return [], content_type, suffix
    message = _("只接受 PDF、JPG、PNG 文件")
    return [FieldError(field, "material.type", message, value=upload.name or "")], "", ""


def _check_materials(uploads: Iterable[tuple[str, UploadedFile]]) -> list[tuple[str, Any, str]]:
    checked, errors = [], []
    for kind, upload in uploads:
        problems, content_type, _suffix = _material_errors(kind, upload)
        errors += problems
        if not problems:
            checked.append((kind, upload, content_type))
    if errors:
        raise ValidationFailed(errors, _("材料未通过校验，申请未提交。"))
    return checked


def _save_materials(
    request: ChangeRequest, checked: list[tuple[str, Any, str]], *, by: str, now: datetime
) -> list[Material]:
    saved = []
    for kind, upload, content_type in checked:
        digest = hashlib.sha256()
        for chunk in upload.chunks():
            digest.update(chunk)
        upload.seek(0)
        material = Material(
            request=request,
            kind=kind,
            name=(upload.name or kind)[:255],
            content_type=content_type,
            size=upload.size or 0,
            sha256=digest.hexdigest(),
            uploaded_at=now,
            uploaded_by=by,
        )
        material.file.save(f"{request.pk}-{kind}-{digest.hexdigest()[:12]}", upload, save=False)
        material.save()
        saved.append(material)
    return saved


def _missing_materials(rule: ChangeRule, have: set[str]) -> list[FieldError]:
    return [
        FieldError(
            f"materials.{kind}",
            "material.required",
            _("缺少必需材料：%s") % MaterialKind(kind).label,
        )
        for kind in rule.materials
        if kind not in have
    ]


def material_add(
    *, actor: Any, request_id: int, uploads: list[tuple[str, UploadedFile]]
) -> list[Material]:
    """Add materials to an open request the actor's unit filed or has a step in."""
    require_permission(actor, Permission.CHANGE_FILE)
    visible = access_request(actor, request_id)
    involved = (
        visible.filed_by_unit_id == actor.unit_id
        or visible.steps.filter(unit_id=actor.unit_id).exists()
    )
    if not involved:
        raise Forbidden(_("只有申请单位或办理环节所在单位可以补充材料。"))
    checked = _check_materials(uploads)
    with transaction.atomic():
        request = ChangeRequest.objects.select_for_update().get(pk=visible.pk)
        if request.state != RequestState.OPEN:
            raise Conflict("change.closed", _("该申请已办结，不能再补充材料。"))
        saved = _save_materials(request, checked, by=_name_of(actor), now=clock.now())
        audit_record(
            actor=actor,
            action=AuditAction.CHANGE_MATERIAL_ADD,
            object_type=ObjectType.CHANGE_REQUEST,
            object_id=request.pk,
            summary=f"补充材料 {len(saved)} 份",
            detail={"kinds": [m.kind for m in saved]},
        )
    return saved


# ----------------------------------------------------------------- filing


def _name_of(actor: Any) -> str:
    return getattr(actor, "username", "") or ""


def _check_fileable(
    *, rule: ChangeRule, change_type: str, record: StatusRecord, on: date
) -> list[FieldError]:
    errors: list[FieldError] = []
    if not rule.enabled:
        errors.append(FieldError("change_type", "change.disabled", _("本省未开放此类学籍变动")))
    effect = EFFECTS[change_type]
    if record.state not in effect.from_states:
        errors.append(
            FieldError(
                "state",
                "change.state",
                _("学生当前学籍状态为“%(state)s”，不能办理%(type)s")
                % {"state": record.get_state_display(), "type": ChangeType(change_type).label},
            )
        )
    if effect.senior_only and record.stage != "3":
        errors.append(
            FieldError(
                "stage",
                "change.senior_only",
                _("%s只适用于高中阶段学生") % ChangeType(change_type).label,
            )
        )
    block = blocking(rule, grade=record.grade, on=on)
    if block is not None:
        grade = GRADES.get(record.grade)
        errors.append(
            FieldError(
                "effective_date",
                "change.blocked_period",
                _("%(grade)s在此期间不能办理%(type)s（%(note)s）")
                % {
                    "grade": grade.name if grade else record.grade,
                    "type": ChangeType(change_type).label,
                    "note": block.note or _("省级规则限制"),
                },
            )
        )
    return errors


def change_refusals(
    change_type: str, *, record: StatusRecord, rule: ChangeRule, on: date
) -> list[FieldError]:
    """Everything that refuses this change for this student on ``on`` and is known before
    a form is filled in: the province has not opened the type, the student's state, stage
    or grade does not allow it, or a blocked period of the rule applies. The same checks
    refuse a filing (``_open_request``), so what is offered is what would be accepted."""
    return _check_fileable(
        rule=rule, change_type=change_type, record=record, on=on
    ) + effects.eligibility(change_type, record=record, rule=rule)


@dataclass(frozen=True)
class Offer:
    """A change type for one student: offered (no refusals), or why not."""

    change_type: str
    refusals: list[FieldError]

    @property
    def offered(self) -> bool:
        return not self.refusals

    @property
    def label(self) -> str:
        return str(ChangeType(self.change_type).label)

    @property
    def reasons(self) -> str:
        return "；".join(dict.fromkeys(str(e.message) for e in self.refusals))


def change_offers(
    record: StatusRecord, *, types: Iterable[str], on: date | None = None, province_code: str = ""
) -> list[Offer]:
    """For each of ``types``, whether the student may have it filed now under the rules in
    force of ``province_code`` (default: the student's school's province), and if not, why
    (``change_refusals``). The rule sets are read once."""
    on = on or clock.today()
    at = clock.now()
    province_code = province_code or record.school.province_code
    national = ruleset_in_force("", at=at)
    province = ruleset_in_force(province_code, at=at) if province_code else None
    offers = []
    for change_type in types:
        rule = effective_rule(
            change_type,
            national=national.rules if national else {},
            province=province.rules if province else None,
        )
        offers.append(
            Offer(change_type, change_refusals(change_type, record=record, rule=rule, on=on))
        )
    return offers


def _open_request(
    *,
    actor: Any,
    record: StatusRecord,
    change_type: str,
    target_school: School | None,
    effective_date: date,
    reason: str,
    payload: dict,
    uploads: list[tuple[str, UploadedFile]],
    channel: str,
    applicant_name: str = "",
) -> ChangeRequest:
    """The shared path of every filing, inside the caller's transaction with the record
    locked: rule in force, checks, the request, its steps, the first step activated."""
    now = clock.now()
    today = clock.today()
    school = record.school
    rule_province = (target_school or school).province_code
    if change_type != ChangeType.TRANSFER:
        rule_province = school.province_code
    in_force = rule_in_force(change_type, province_code=rule_province, at=now)
    rule = in_force.rule
    reason = (reason or "").strip()
    errors = _check_fileable(rule=rule, change_type=change_type, record=record, on=today)
    if not reason:
        errors.append(FieldError("reason", "reason.required", _("请填写变动事由")))
    errors += effects.validate(
        change_type, record=record, payload=payload, target_school=target_school, rule=rule
    )
    checked = _check_materials(uploads)
    errors += _missing_materials(rule, {kind for kind, _u, _c in checked})
    if errors:
        raise ValidationFailed(errors, _("申请未通过校验，未提交。"))
    request = ChangeRequest(
        student_id=record.pk,
        change_type=change_type,
        channel=channel,
        school=school,
        area_code=school.area_code,
        province_code=school.province_code,
        target_school=target_school,
        target_area_code=target_school.area_code if target_school else "",
        target_province_code=target_school.province_code if target_school else "",
        effective_date=effective_date,
        reason=reason[:500],
        payload=payload,
        filed_grade=record.grade,
        rule=rule.as_json(),
        national_ruleset=in_force.national,
        province_ruleset=in_force.province,
        filed_at=now,
        filed_by_id=getattr(actor, "pk", None),
        filed_by_username=_name_of(actor),
        filed_by_unit_id=getattr(actor, "unit_id", None),
        applicant_name=applicant_name[:64],
    )
    try:
        with transaction.atomic():
            request.save(force_insert=True)
    except IntegrityError as error:
        raise _already_open(record.pk) from error
    steps = [
        ApprovalStep(
            request=request,
            seq=index,
            party=party,
            unit=party_unit(party, school=school, target_school=target_school),
            days=rule.days_for(party),
        )
        for index, party in enumerate(rule.chain, start=1)
    ]
    ApprovalStep.objects.bulk_create(steps)
    _save_materials(request, checked, by=_name_of(actor), now=now)
    audit_record(
        actor=actor,
        action=AuditAction.CHANGE_FILE,
        object_type=ObjectType.CHANGE_REQUEST,
        object_id=request.pk,
        summary=format_lazy("申请{}", ChangeType(change_type).label),
        detail={
            "student_id": record.pk,
            "change_type": change_type,
            "channel": channel,
            "school_id": school.pk,
            "target_school_id": target_school.pk if target_school else None,
            "national_ruleset": in_force.national.version if in_force.national else None,
            "province_ruleset": in_force.province.version if in_force.province else None,
        },
    )
    first = ApprovalStep.objects.get(request=request, seq=1)
    if getattr(actor, "unit_id", None) == first.unit_id and _may_handle(actor, first):
        # The filer is the first party (the receiving school starting a transfer, a school
        # reporting its own student's change): filing is its step.
        _decide(actor=actor, request=request, step=first, approve=True, comment="", now=now)
    else:
        _activate(first, request=request, today=today)
    return request


def _already_open(student_id: int) -> Conflict:
    open_request = ChangeRequest.objects.filter(
        student_id=student_id, state=RequestState.OPEN
    ).first()
    return Conflict(
        "change.already_open",
        _("该学生已有一项正在办理的学籍变动，须办结或撤回后才能再申请。"),
        {"request_id": open_request.pk} if open_request else {},
    )


def change_file(
    *,
    actor: Any,
    student_id: int,
    change_type: str,
    effective_date: date,
    reason: str,
    payload: dict | None = None,
    target_school_id: int | None = None,
    uploads: list[tuple[str, UploadedFile]] | None = None,
) -> ChangeRequest:
    """File a change other than a transfer for a student in the actor's scope (the school
    holding the record, or an authority above it)."""
    require_permission(actor, Permission.CHANGE_FILE)
    if change_type not in ChangeType.values:
        raise ValidationFailed(
            [FieldError("change_type", "change.type_unknown", _("未知的变动类型"))]
        )
    if change_type == ChangeType.TRANSFER:
        raise ValidationFailed(
            [FieldError("change_type", "change.transfer_by_receiver", _("转学由转入学校发起"))]
        )
    student = _student_in_scope(actor, student_id)
    target = _target_school(target_school_id) if target_school_id else None
    channel = Channel.SCHOOL if actor.unit.kind == UnitKind.SCHOOL else Channel.AUTHORITY
    with transaction.atomic():
        record = record_lock(student_id=student.pk)
        return _open_request(
            actor=actor,
            record=record,
            change_type=change_type,
            target_school=target,
            effective_date=effective_date,
            reason=reason,
            payload=payload or {},
            uploads=uploads or [],
            channel=channel,
        )


def _student_in_scope(actor: Any, student_id: int) -> Student:
    student = (
        Student.objects.filter(
            scope_for(actor).q(area_field="record__area_code", school_field="record__school_id")
        )
        .filter(pk=student_id)
        .first()
    )
    if student is None:
        raise NotFound("student")
    return student


def _target_school(school_id: int | None) -> School:
    school = School.objects.filter(pk=school_id).first() if school_id else None
    if school is None:
        raise ValidationFailed([FieldError("target_school", "school.unknown", _("未知的学校"))])
    if school.state != SchoolState.OPEN:
        raise ValidationFailed(
            [FieldError("target_school", "school.closed", _("该学校已撤并，不能转入"))]
        )
    return school


def student_for_transfer(*, number: str, name: str) -> Student:
    """The student a receiving school names by student number and name. Both must match;
    any mismatch reads as not found, so numbers cannot be probed for names."""
    student = (
        Student.objects.select_related("record", "record__school")
        .filter(identity.number_q(number or ""))
        .first()
    )
    if student is None or student.name != (name or "").strip():
        raise NotFound("student")
    return student


def transfer_file(
    *,
    actor: Any,
    student_number: str,
    student_name: str,
    effective_date: date | None = None,
    reason: str,
    payload: dict | None = None,
    uploads: list[tuple[str, UploadedFile]] | None = None,
    target_school_id: int | None = None,
) -> ChangeRequest:
    """The receiving school starts a transfer (Art. 15) for a student it names by number and
    name. A school clerk files for its own school; an authority may file for a school in its
    scope (``target_school_id``)."""
    require_permission(actor, Permission.CHANGE_FILE)
    if actor.unit.kind == UnitKind.SCHOOL:
        target = _target_school(actor.unit.school_id)
    else:
        target = _target_school(target_school_id)
        if not scope_for(actor).covers(area_code=target.area_code, school_id=target.pk):
            raise NotFound("school")
    student = student_for_transfer(number=student_number, name=student_name)
    try:
        return transfer_create(
            actor=actor,
            student=student,
            target_school=target,
            effective_date=effective_date or clock.today(),
            reason=reason,
            payload=payload or {},
            uploads=uploads or [],
            channel=Channel.SCHOOL if actor.unit.kind == UnitKind.SCHOOL else Channel.AUTHORITY,
        )
    except (ValidationFailed, Conflict) as refusal:
        # The number and name prove the child exists, nothing more: a student outside the
        # filer's scope is refused without its state, grade or open request (disclosure),
        # unless the open request is one the filer may see anyway (its own, say).
        open_id = refusal.detail.get("request_id") if isinstance(refusal, Conflict) else None
        if open_id and ChangeRequest.objects.filter(requests_visible_q(actor), pk=open_id).exists():
            raise
        answer = disclosure.transfer_refusal(
            actor, student, refusal, grade_typed=bool((payload or {}).get("grade"))
        )
        if answer is refusal:
            raise
        raise answer from None


def transfer_create(
    *,
    actor: Any,
    student: Student,
    target_school: School,
    effective_date: date,
    reason: str,
    payload: dict,
    uploads: list[tuple[str, UploadedFile]],
    channel: str,
    applicant_name: str = "",
) -> ChangeRequest:
    """Open a transfer once the caller has established who applies (a receiving school's
    clerk, or a guardian signed in on the portal). No permission check here."""
    target_school = _target_school(target_school.pk)  # open schools only, whoever applies
    with transaction.atomic():
        record = record_lock(student_id=student.pk)
        if record.school_id == target_school.pk:
            raise ValidationFailed(
                [FieldError("target_school", "transfer.same_school", _("转入学校与现就读学校相同"))]
            )
        if not grade_allowed(target_school.school_type, payload.get("grade") or record.grade):
            raise ValidationFailed(
                [
                    FieldError(
                        "target_school",
                        "transfer.grade_not_offered",
                        _("转入学校不设该学生所在年级"),
                    )
                ]
            )
        return _open_request(
            actor=actor,
            record=record,
            change_type=ChangeType.TRANSFER,
            target_school=target_school,
            effective_date=effective_date,
            reason=reason,
            payload=payload,
            uploads=uploads,
            channel=channel,
            applicant_name=applicant_name,
        )


# ----------------------------------------------------------------- steps


def _activate(step: ApprovalStep, *, request: ChangeRequest, today: date) -> None:
    """Make a step pending and compute its deadline: the n-th working day after today (or,
    for a death, after the date of death). A year without a calendar is flagged and
    escalated to the national level, never guessed."""
    step.state = StepState.PENDING
    step.activated_on = today
    start = today
    if request.rule.get("options", {}).get("from_effective"):
        # Art. 21: a death's steps count from the date of death, whatever the effective date.
        start = effects.deadline_start(request)
    try:
        step.due_date = due_date(start, step.days)
        if step.calendar_missing:
            # Recomputed once the year was loaded: the national warning has done its job.
            warning_resolve(
                subject_type="changes.step",
                subject_id=step.pk,
                kind=CALENDAR_MISSING,
                reason="calendar_loaded",
            )
        step.calendar_missing = False
    except CalendarMissing as missing:
        step.due_date = None
        step.calendar_missing = True
        warning_raise(
            kind=CALENDAR_MISSING,
            unit=unit_ensure_national(),
            subject_type="changes.step",
            subject_id=step.pk,
            message=str(missing.message),
            detail={"request_id": request.pk, "step": step.seq},
            escalate=False,
        )
    step.save(update_fields=["state", "activated_on", "due_date", "calendar_missing"])


def _may_handle(actor: Any, step: ApprovalStep) -> bool:
    from xueji.accounts.permissions import has_permission

    return getattr(actor, "unit_id", None) == step.unit_id and has_permission(
        actor, Permission.CHANGE_HANDLE
    )


def step_handle(
    *,
    actor: Any,
    step_id: int,
    approve: bool,
    refusal_reason: str = "",
    comment: str = "",
) -> ChangeRequest:
    """Handle (核办) the pending step of one's own unit: approve, or refuse with a reason
    from the fixed list plus a text. The last approval completes the request."""
    require_permission(actor, Permission.CHANGE_HANDLE)
    step = ApprovalStep.objects.filter(pk=step_id, unit_id=actor.unit_id).first()
    if step is None:
        raise NotFound("step")
    comment = (comment or "").strip()
    if not approve:
        errors = []
        if refusal_reason not in RefusalReason.values:
            errors.append(
                FieldError("refusal_reason", "refusal.reason_required", _("请选择不同意的理由"))
            )
        if not comment:
            errors.append(
                FieldError("comment", "refusal.text_required", _("不同意时须写明具体理由"))
            )
        if errors:
            raise ValidationFailed(errors)
    with transaction.atomic():
        request = ChangeRequest.objects.select_for_update().get(pk=step.request_id)
        step = ApprovalStep.objects.get(pk=step.pk)  # re-read under the request lock
        if request.state != RequestState.OPEN or step.state != StepState.PENDING:
            raise Conflict("step.not_pending", _("该环节已办理或申请已办结，请刷新后查看。"))
        _decide(
            actor=actor,
            request=request,
            step=step,
            approve=approve,
            refusal_reason=refusal_reason,
            comment=comment,
            now=clock.now(),
        )
    return request


def _decide(
    *,
    actor: Any,
    request: ChangeRequest,
    step: ApprovalStep,
    approve: bool,
    comment: str,
    now: datetime,
    refusal_reason: str = "",
) -> None:
    step.state = StepState.APPROVED if approve else StepState.REFUSED
    step.acted_at = now
    step.actor_id = getattr(actor, "pk", None)
    step.actor_username = _name_of(actor)
    step.refusal_reason = refusal_reason
    step.comment = comment[:500]
    if step.activated_on is None:
        step.activated_on = clock.today()
    step.save(
        update_fields=[
            "state",
            "acted_at",
            "actor_id",
            "actor_username",
            "refusal_reason",
            "comment",
            "activated_on",
        ]
    )
    warning_resolve(subject_type="changes.step", subject_id=step.pk, reason="handled")
    audit_record(
        actor=actor,
        action=AuditAction.CHANGE_STEP_APPROVE if approve else AuditAction.CHANGE_STEP_REFUSE,
        object_type=ObjectType.CHANGE_REQUEST,
        object_id=request.pk,
        summary=format_lazy("{}{}", Party(step.party).label, "同意" if approve else "不同意"),
        detail={"step": step.seq, "party": step.party, "refusal_reason": refusal_reason},
    )
    if not approve:
        _close(request, state=RequestState.REFUSED, reason=comment, now=now)
        return
    following = (
        ApprovalStep.objects.filter(request=request, seq__gt=step.seq).order_by("seq").first()
    )
    if following is not None:
        _activate(following, request=request, today=clock.today())
        return
    _complete(actor=actor, request=request, now=now)


def _close(request: ChangeRequest, *, state: str, reason: str, now: datetime) -> None:
    ApprovalStep.objects.filter(
        request=request, state__in=[StepState.WAITING, StepState.PENDING]
    ).update(state=StepState.CANCELLED)
    for step_id in request.steps.values_list("pk", flat=True):
        warning_resolve(subject_type="changes.step", subject_id=step_id, reason=state)
    request.state = state
    request.closed_at = now
    request.closed_reason = reason[:500]
    request.save(update_fields=["state", "closed_at", "closed_reason"])


def _complete(*, actor: Any, request: ChangeRequest, now: datetime) -> None:
    """Apply the change to the record, in the caller's transaction (籍随人走)."""
    record = record_lock(student_id=request.student_id)
    effects.apply(actor=actor, request=request, record=record, now=now)
    _close(request, state=RequestState.COMPLETED, reason="", now=now)
    audit_record(
        actor=actor,
        action=AuditAction.CHANGE_COMPLETE,
        object_type=ObjectType.CHANGE_REQUEST,
        object_id=request.pk,
        summary=format_lazy("{}办结", ChangeType(request.change_type).label),
        detail={"student_id": request.student_id, "school_id": record.school_id},
    )


def change_withdraw(*, actor: Any, request_id: int, reason: str) -> ChangeRequest:
    """Withdraw an open request: by the unit that filed it (or an authority above the
    holding school); nothing of it remains in force."""
    require_permission(actor, Permission.CHANGE_FILE)
    request = access_request(actor, request_id)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed([FieldError("reason", "reason.required", _("请填写撤回原因"))])
    unit = actor.unit
    may = request.filed_by_unit_id == unit.pk or (
        unit.kind != UnitKind.SCHOOL
        and scope_for(actor).covers(area_code=request.area_code, school_id=request.school_id)
    )
    if not may:
        raise Forbidden(_("只有申请单位或其上级主管部门可以撤回申请。"))
    return request_withdraw(actor=actor, request=request, reason=reason)


def request_withdraw(*, actor: Any, request: ChangeRequest, reason: str) -> ChangeRequest:
    """Withdraw after the caller has established the right to (a school, an authority, or
    the guardian who applied)."""
    with transaction.atomic():
        request = ChangeRequest.objects.select_for_update().get(pk=request.pk)
        if request.state != RequestState.OPEN:
            raise Conflict("change.closed", _("该申请已办结，不能撤回。"))
        _close(request, state=RequestState.WITHDRAWN, reason=reason, now=clock.now())
        audit_record(
            actor=actor,
            action=AuditAction.CHANGE_WITHDRAW,
            object_type=ObjectType.CHANGE_REQUEST,
            object_id=request.pk,
            summary=format_lazy("撤回{}申请", ChangeType(request.change_type).label),
            detail={"reason": reason},
        )
    return request


# ----------------------------------------------------------------- the daily sweep


def steps_overdue_sweep(*, today: date | None = None) -> dict[str, int]:
    """The daily job: recompute deadlines that waited for a calendar, and raise a warning to
    the party and to the level above for every pending step past its deadline."""
    today = today or clock.today()
    counts = {"overdue": 0, "calendar_missing": 0, "recomputed": 0}
    waiting = ApprovalStep.objects.filter(state=StepState.PENDING, calendar_missing=True)
    for step in waiting.select_related("request"):
        with transaction.atomic():
            if not _still_pending(step.pk):
                continue
            _activate(step, request=step.request, today=step.activated_on or today)
            if step.calendar_missing:
                counts["calendar_missing"] += 1
            else:
                counts["recomputed"] += 1
                audit_record(
                    actor=SWEEP_JOB,
                    action=AuditAction.CHANGE_STEP_DEADLINE,
                    object_type=ObjectType.CHANGE_REQUEST,
                    object_id=step.request_id,
                    summary=format_lazy(
                        "{}环节办理期限补算为 {}", Party(step.party).label, step.due_date
                    ),
                    detail={"step": step.seq, "due_date": str(step.due_date)},
                )
    overdue = ApprovalStep.objects.filter(state=StepState.PENDING, due_date__lt=today)
    for step in overdue.select_related("request", "unit", "request__student"):
        request = step.request
        with transaction.atomic():
            if not _still_pending(step.pk):
                continue
            warning_raise(
                kind=STEP_OVERDUE,
                unit=step.unit,
                subject_type="changes.step",
                subject_id=step.pk,
                message=_("%(type)s申请（学生 %(number)s）的“%(party)s”环节已超过办理期限 %(due)s")
                % {
                    "type": ChangeType(request.change_type).label,
                    "number": request.student.number_masked,
                    "party": Party(step.party).label,
                    "due": step.due_date,
                },
                due_date=step.due_date,
                detail={"request_id": request.pk, "step": step.seq},
            )
        counts["overdue"] += 1
    return counts


def _still_pending(step_id: int) -> bool:
    """Lock a listed step and check it is still pending. A step handled after the sweep
    listed it is left alone: never written back to pending, never warned about."""
    return (
        ApprovalStep.objects.select_for_update()
        .filter(pk=step_id, state=StepState.PENDING)
        .order_by("pk")  # not the default ordering: its join would lock the request row too
        .values_list("pk", flat=True)
        .first()
        is not None
    )


# ----------------------------------------------------------------- access


def requests_visible_q(actor: Any) -> Q:
    """Requests either side of which lies in the actor's scope, or with a step of its unit."""
    scope = scope_for(actor)
    if scope.empty:
        return Q(pk__in=[])
    return (
        scope.q(area_field="area_code", school_field="school_id")
        | scope.q(area_field="target_area_code", school_field="target_school_id")
        | Q(steps__unit_id=getattr(actor, "unit_id", None))
    )


def access_request(actor: Any, request_id: int) -> ChangeRequest:
    require_permission(actor, Permission.CHANGE_VIEW)
    request = (
        ChangeRequest.objects.filter(requests_visible_q(actor))
        .filter(pk=request_id)
        .select_related("student", "school", "target_school")
        .distinct()
        .first()
    )
    if request is None:
        raise NotFound("change_request")
    return request


def may_handle(actor: Any, step: ApprovalStep) -> bool:
    return step.state == StepState.PENDING and _may_handle(actor, step)


def is_school_party(party: str) -> bool:
    return party in SCHOOL_PARTIES


def material_open(*, actor: Any, material_id: int) -> tuple[Material, Any]:
    """Open a material of a request the actor may see, for download; the read is audited."""
    material = Material.objects.filter(pk=material_id).first()
    if material is None:
        raise NotFound("material")
    access_request(actor, material.request_id)  # out of scope: the same "not found"
    with transaction.atomic():
        audit_record(
            actor=actor,
            action=AuditAction.CHANGE_MATERIAL_DOWNLOAD,
            object_type=ObjectType.CHANGE_REQUEST,
            object_id=material.request_id,
            summary=f"下载变动材料：{material.name}",  # stored data: always Chinese
            detail={"material_id": material.pk, "kind": material.kind, "sha256": material.sha256},
        )
    return material, material.file.open("rb")
