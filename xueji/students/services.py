"""The only writers of students and their status records at registration.

``student_register`` is the one path to a new record (form, API and, row-set-wise, the
bulk import share its validation and duplicate rules): check access → validate → exact
duplicate → candidate duplicates → issue number → insert person, record, number, history,
guardians and non-basic data → audit, all in one transaction.
"""

from dataclasses import asdict, dataclass, field
from enum import StrEnum

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from xueji import clock
from xueji.accounts.permissions import require_permission
from xueji.accounts.rules import Permission
from xueji.audit.events import AuditAction, ObjectType
from xueji.audit.services import audit_record
from xueji.divisions.refdata import known_area_codes
from xueji.enrolment.models import StatusRecord
from xueji.enrolment.rules import ON_ROLL, REACTIVATABLE, EventKind, StatusState
from xueji.enrolment.services import event_append, record_change
from xueji.errors import Conflict, DomainError, FieldError, NotFound, ValidationFailed
from xueji.schools.models import School
from xueji.schools.permissions import access_school
from xueji.schools.rules import SchoolState, SchoolType, grade_allowed

from . import disclosure, duplicates, identity
from .identity import mask_student_number
from .models import Guardian, NonBasicInfo, NonBasicSchema, NumberKind, Student, StudentNumber
from .nonbasic import DEFAULT_SCHEMA_FIELDS, schema_fields
from .numbering import NumberIssuer, kind_for
from .permissions import access_student
from .rules import IdType, g_number, validate_id
from .validation import CleanRegistration, CodeBook, clean_registration


@dataclass
class RegistrationCheck:
    """What registering these data would do, without doing it."""

    ok: bool
    errors: list[FieldError] = field(default_factory=list)
    # The exact match (internal: answers go through ``disclosure``, since it may sit
    # outside the clerk's scope; ``existing_outside`` says so, ``holder`` is what to show).
    existing: Student | None = None
    existing_action: str = ""  # "" | "refuse" | "reactivate"
    existing_outside: bool = False
    holder: disclosure.Holder | None = None
    # Candidates in the clerk's scope (listed); those outside are never shown, only
    # counted, and get a finding when the registration goes ahead.
    candidates: list[duplicates.Candidate] = field(default_factory=list)
    outside_candidates: list[duplicates.Candidate] = field(default_factory=list)
    number_kind: str = ""
    clean: CleanRegistration | None = None


@dataclass
class RegistrationResult:
    student: Student
    reactivated: bool = False


def schema_for_province(province_code: str) -> NonBasicSchema:
    """The province's latest filed schema, else the national default (created on first use)."""
    schema = (
        NonBasicSchema.objects.filter(province_code__in=[province_code, ""])
        .order_by("-province_code", "-version")
        .first()
    )
    if schema is None:
        # Concurrent first registrations race to create it: the unique (province, version)
        # index lets one in, the others read the row it wrote.
        try:
            with transaction.atomic():
                schema = NonBasicSchema.objects.create(
                    province_code="",
                    version=1,
                    fields=DEFAULT_SCHEMA_FIELDS,
                    filed_at=clock.now(),
                    filed_by="system",
                    note="全国默认方案",
                )
        except IntegrityError:
            schema = NonBasicSchema.objects.get(province_code="", version=1)
    return schema


def _school_checks(school: School, clean: CleanRegistration) -> list[FieldError]:
    errors = []
    if school.state != SchoolState.OPEN:
        errors.append(
            FieldError(
                "school_code", "school.closed", _("该学校已撤销或合并，不能注册新生"), school.code
            )
        )
    if not grade_allowed(school.school_type, clean.grade):
        errors.append(
            FieldError(
                "grade",
                "grade.not_offered",
                _("%(school)s（%(type)s）不开设该年级")
                % {"school": school.name, "type": SchoolType(school.school_type).label},
                clean.grade,
            )
        )
    return errors


def student_check_registration(
    *, actor, data: dict, book: CodeBook | None = None, step: str = "check"
) -> RegistrationCheck:
    """Validate and run the duplicate check without writing anything (but the audit row of
    a check that met records outside the actor's scope: ``disclosure``). ``step`` names the
    caller in that row: ``check`` (the 校验 button, the validate endpoint) or ``register``."""
    require_permission(actor, Permission.STUDENT_REGISTER)
    book = book or CodeBook.load()
    school_code = str(data.get("school_code") or "").strip()
    try:
        school: School | None = access_school(actor, code=school_code) if school_code else None
    except NotFound:
        school = None
    schema = schema_fields(schema_for_province(school.province_code).fields) if school else None
    clean, errors = clean_registration(data, book=book, today=clock.today(), schema=schema)
    if clean is None:
        return RegistrationCheck(ok=False, errors=errors)
    if school is None:
        raise NotFound("school")
    errors = _school_checks(school, clean)
    if errors:
        return RegistrationCheck(ok=False, errors=errors, clean=clean)
    check = RegistrationCheck(ok=True, clean=clean)
    check.number_kind = kind_for(
        id_type=clean.id_type, id_number=clean.id_number, nationality=clean.nationality
    )
    existing = duplicates.exact_match(clean.id_type, clean.id_number)
    if existing is None:
        candidates = duplicates.candidates(
            name=clean.name,
            name_key=clean.name_key,
            sex=clean.sex,
            birth_date=clean.birth_date,
            guardian_numbers=[(g.id_type, g.id_number) for g in clean.guardians],
            id_type=clean.id_type,
            id_number=clean.id_number,
        )
        check.candidates, check.outside_candidates = disclosure.split_candidates(actor, candidates)
        if candidates:
            # A clerk elsewhere may have registered this very ID between the exact check and
            # the candidate search: the exact answer is the more precise one.
            existing = duplicates.exact_match(clean.id_type, clean.id_number)
            if existing is not None:
                check.candidates, check.outside_candidates = [], []
    if existing is not None:
        record = getattr(existing, "record", None)
        reactivatable = (
            record is not None
            and record.state in REACTIVATABLE
            and not (record.state == StatusState.DROPPED_OUT and record.school_id != school.pk)
        )
        check.existing = existing
        check.existing_action = "reactivate" if reactivatable else "refuse"
        check.existing_outside = not disclosure.student_in_scope(actor, existing)
        if check.existing_outside:
            check.holder = disclosure.holder_of(existing, reactivatable=reactivatable)
    disclosure.duplicate_check_audit(
        actor=actor,
        step=step,
        exact_id=existing.pk if existing is not None and check.existing_outside else None,
        outside_ids=[c.student_id for c in check.outside_candidates],
    )
    check.ok = not check.candidates and not check.outside_candidates and check.existing is None
    return check


def _duplicate_conflict(existing: Student, actor) -> Conflict:
    return disclosure.duplicate_id_conflict(actor, existing)


def student_register(
    *,
    actor,
    data: dict,
    confirm_distinct: bool = False,
    reactivate: bool = False,
    book: CodeBook | None = None,
) -> RegistrationResult:
    """Register a student, or reactivate the record of a student the registry knows.

    ``confirm_distinct``: the clerk has looked at the candidate duplicates and confirms the
    student is a different person. ``reactivate``: the clerk confirms that the known
    student returns (after dropping out, say) and the old record is to be reactivated.
    """
    check = student_check_registration(actor=actor, data=data, book=book, step="register")
    if check.errors:
        raise ValidationFailed(check.errors)
    clean = check.clean
    assert clean is not None
    if check.existing is not None:
        if check.existing_action == "reactivate":
            if not reactivate:
                raise disclosure.known_student_conflict(actor, check.existing)
            return RegistrationResult(
                student=_reactivate(actor=actor, student=check.existing, clean=clean),
                reactivated=True,
            )
        raise _duplicate_conflict(check.existing, actor)
    if (check.candidates or check.outside_candidates) and not confirm_distinct:
        message = (
            _("发现 %d 条疑似重复学籍，请核对；确认不是同一人后再提交。") % len(check.candidates)
            if check.candidates
            else ""
        )
        if check.outside_candidates:
            message = f"{message}{disclosure.OUTSIDE_CANDIDATES}"
        raise Conflict(
            "student.possible_duplicate",
            message,
            detail={
                "candidates": [
                    asdict(c) | {"birth_date": c.birth_date.isoformat()} for c in check.candidates
                ],
                "outside_scope": bool(check.outside_candidates),
            },
        )
    try:
        student = _create(actor=actor, clean=clean, confirmed_candidates=check.candidates)
    except IntegrityError:
        # Another clerk registered the same ID in the meantime: the unique index decided.
        existing = duplicates.exact_match(clean.id_type, clean.id_number)
        if existing is not None:
            raise _duplicate_conflict(existing, actor) from None
        raise
    if check.outside_candidates:
        # The clerk could not judge them: the lowest unit covering both records does.
        from xueji.anomalies.services import duplicate_finding_raise

        duplicate_finding_raise(
            actor=actor,
            student_id=student.pk,
            other_ids=[c.student_id for c in check.outside_candidates],
            evidence={c.student_id: {"score": c.score} for c in check.outside_candidates},
        )
    return RegistrationResult(student=student)


def _create(*, actor, clean: CleanRegistration, confirmed_candidates) -> Student:
    school = School.objects.get(code=clean.school_code)
    now = clock.now()
    kind = kind_for(id_type=clean.id_type, id_number=clean.id_number, nationality=clean.nationality)
    with transaction.atomic():
        number = NumberIssuer().issue(
            kind=kind,
            id_number=clean.id_number,
            division_code=school.area_code,
            birth_date=clean.birth_date,
        )
        student = Student(
            number=number,
            number_kind=kind,
            name=clean.name,
            former_name=clean.former_name,
            name_pinyin=clean.name_pinyin,
            name_key=clean.name_key,
            sex=clean.sex,
            birth_date=clean.birth_date,
            birthplace_code=clean.birthplace_code,
            native_place_code=clean.native_place_code,
            ethnicity=clean.ethnicity,
            nationality=clean.nationality,
            id_valid_until=clean.id_valid_until,
            hmt_code=clean.hmt_code,
            household_place_code=clean.household_place_code,
            household_type=clean.household_type,
            health=clean.health,
            created_at=now,
            updated_at=now,
        )
        identity.write_id(student, clean.id_type, clean.id_number)
        student.save(force_insert=True)
        StudentNumber.objects.create(number=number, student=student, kind=kind, issued_at=now)
        record = StatusRecord.objects.create(
            student=student,
            school=school,
            area_code=school.area_code,
            province_code=school.province_code,
            stage=clean.stage,
            grade=clean.grade,
            class_name=clean.class_name,
            state=StatusState.ENROLLED,
            entry_date=clean.entry_date,
            entry_mode=clean.entry_mode,
            attendance=clean.attendance,
            registered_at=now,
            updated_at=now,
        )
        event_append(
            actor=actor,
            record=record,
            kind=EventKind.REGISTER,
            from_state="",
            effective_date=clean.entry_date,
            now=now,
        )
        _write_family_and_non_basic(
            student=student, clean=clean, province_code=school.province_code, now=now
        )
        audit_record(
            actor=actor,
            action=AuditAction.STUDENT_REGISTER,
            object_type=ObjectType.STUDENT,
            object_id=student.pk,
            summary=f"注册学生 {student.number_masked}",
            detail={
                "school_id": school.pk,
                "number_kind": kind,
                "confirmed_distinct_from": [c.student_id for c in confirmed_candidates],
            },
        )
    return student


def _write_family_and_non_basic(
    *, student: Student, clean: CleanRegistration, province_code: str, now
) -> None:
    guardians = []
    for g in clean.guardians:
        guardian = Guardian(student=student, relation=g.relation, name=g.name, phone=g.phone)
        identity.write_id(guardian, g.id_type, g.id_number)
        guardians.append(guardian)
    Guardian.objects.bulk_create(guardians)
    schema = schema_for_province(province_code)
    NonBasicInfo.objects.update_or_create(
        student=student, defaults={"schema": schema, "data": clean.non_basic, "updated_at": now}
    )


def _reactivate(*, actor, student: Student, clean: CleanRegistration) -> Student:
    """Put a known student back on a school's roll on the same record (一人一籍)."""
    school = School.objects.get(code=clean.school_code)
    now = clock.now()
    with transaction.atomic():
        record = StatusRecord.objects.select_for_update().get(pk=student.pk)
        if record.state not in REACTIVATABLE:
            raise _duplicate_conflict(student, actor)
        from_state = record.state
        record_change(
            actor=actor,
            record=record,
            kind=EventKind.REACTIVATE,
            effective_date=clock.today(),
            to_state=StatusState.ENROLLED,
            reason="返校恢复学籍",  # stored data: always Chinese
            now=now,
            school=school,
            stage=clean.stage,
            grade=clean.grade,
            class_name=clean.class_name,
        )
        # Back on a roll: a graduate's frozen basic data open again for correction.
        Student.objects.filter(pk=student.pk, frozen=True).update(frozen=False)
        if from_state == StatusState.DROPPED_OUT:
            # Back at school: the dropout-control ledger's open case closes (复学).
            from xueji.changes.ledger import on_reactivated

            on_reactivated(actor=actor, student_id=student.pk, on=clock.today())
        audit_record(
            actor=actor,
            action=AuditAction.STUDENT_REACTIVATE,
            object_type=ObjectType.STUDENT,
            object_id=student.pk,
            summary=f"恢复学籍 {student.number_masked}",
            detail={"from_state": from_state, "school_id": school.pk},
        )
    student.refresh_from_db()
    return student


def student_attach_resident_id(
    *, actor, student_id: int, id_number: str, reason: str = ""
) -> Student:
    """A valid resident ID appears for an L or J student: record it and upgrade to G,
    keeping the old number in the history of numbers."""
    require_permission(actor, Permission.STUDENT_REGISTER)
    student = access_student(actor, student_id=student_id)

    check = validate_id(
        IdType.RESIDENT_ID,
        id_number,
        today=clock.today(),
        area_known=known_area_codes().__contains__,
    )
    if not check.ok:
        raise ValidationFailed([FieldError("id_number", check.code, check.message, id_number)])
    if student.number_kind == NumberKind.G:
        raise Conflict("student.already_g", _("该学生已是正式学籍号（G），无需升级"))
    existing = duplicates.exact_match(IdType.RESIDENT_ID, check.number)
    if existing is not None and existing.pk != student.pk:
        if not disclosure.student_in_scope(actor, existing):
            disclosure.duplicate_check_audit(actor=actor, step="attach_id", exact_id=existing.pk)
        raise _duplicate_conflict(existing, actor)
    if check.birth_date != student.birth_date:
        raise ValidationFailed(
            [
                FieldError(
                    "id_number",
                    "id.birth_mismatch",
                    _("身份证件号中的出生日期与学籍中的出生日期不一致"),
                    id_number,
                )
            ]
        )
    now = clock.now()
    new_number = g_number(check.number)
    with transaction.atomic():
        locked = Student.objects.select_for_update().get(pk=student.pk)
        old_number = locked.number
        StudentNumber.objects.filter(identity.number_q(old_number)).update(
            retired_at=now, reason="升级为正式学籍号"
        )
        StudentNumber.objects.create(
            number=new_number, student=locked, kind=NumberKind.G, issued_at=now
        )
        identity.write_id(locked, IdType.RESIDENT_ID, check.number)
        locked.number = new_number
        locked.number_kind = NumberKind.G
        locked.updated_at = now
        locked.save(
            update_fields=["number", "number_kind", "id_type", "id_number", "id_key", "updated_at"]
        )
        audit_record(
            actor=actor,
            action=AuditAction.STUDENT_NUMBER_UPGRADE,
            object_type=ObjectType.STUDENT,
            object_id=locked.pk,
            summary=f"学籍号 {mask_student_number(old_number)} 升级为 {mask_student_number(new_number)}",
            detail={
                "old": mask_student_number(old_number),
                "new": mask_student_number(new_number),
                "reason": reason,
            },
        )
    return locked


__all__ = ["ON_ROLL", "RegistrationCheck", "RegistrationResult", "student_register"]


def nonbasic_schema_file(*, actor, fields: list[dict], note: str = "") -> NonBasicSchema:
    """A province files a new version of its non-basic field schema (Art. 3, 5); the
    national level files the default. Earlier versions stay: records keep the version they
    were written under."""
    from xueji.accounts.models import UnitKind
    from xueji.errors import Forbidden

    from .nonbasic import validate_schema_definition

    unit = getattr(actor, "unit", None)
    if unit is None or unit.kind not in (UnitKind.PROVINCE, UnitKind.NATIONAL):
        raise Forbidden(_("只有省级或国家级学籍主管部门可以备案非基础信息方案"))
    require_permission(actor, Permission.SCHEMA_FILE)
    if not isinstance(fields, list) or not fields:
        raise ValidationFailed([FieldError("fields", "required", _("字段定义不能为空"))])
    errors = validate_schema_definition(fields)
    if errors:
        raise ValidationFailed(errors)
    province_code = unit.area_prefix if unit.kind == UnitKind.PROVINCE else ""
    with transaction.atomic():
        latest = (
            NonBasicSchema.objects.select_for_update()
            .filter(province_code=province_code)
            .order_by("-version")
            .first()
        )
        try:
            with transaction.atomic():
                schema = NonBasicSchema.objects.create(
                    province_code=province_code,
                    version=(latest.version + 1) if latest else 1,
                    fields=fields,
                    filed_at=clock.now(),
                    filed_by=actor.username,
                    note=note[:255],
                )
        except IntegrityError:
            # A first filing has no row to lock; the unique (province, version) decides.
            raise Conflict(
                "schema.concurrent_filing",
                _("同一时间有另一份方案正在备案，请刷新后重试"),
            ) from None
        audit_record(
            actor=actor,
            action=AuditAction.NONBASIC_SCHEMA_FILE,
            object_type=ObjectType.NONBASIC_SCHEMA,
            object_id=schema.pk,
            summary=f"备案非基础信息方案 {province_code or '全国默认'} 第{schema.version}版",
            detail={"fields": [f.get("key") for f in fields]},
        )
    return schema


# ---------------------------------------------------------------- revealing a masked value


class RevealCode(StrEnum):
    """Stable codes of a refused reveal."""

    REASON_REQUIRED = "reveal.reason_required"
    UNKNOWN_FIELD = "reveal.unknown_field"


def _unknown_field() -> DomainError:
    message = _("该学生没有这一项可显示的信息")
    return DomainError(
        code=RevealCode.UNKNOWN_FIELD,
        message=message,
        errors=[FieldError("field", RevealCode.UNKNOWN_FIELD, message)],
        http_status=422,
    )


def _reveal_target(student: Student, target: identity.RevealField) -> tuple[str, str]:
    """(label, full value) of the field a reveal names; NotFound for another student's
    guardian, ``reveal.unknown_field`` for a field that is not masked."""
    if target.guardian_id is not None:
        guardian = student.guardians.filter(pk=target.guardian_id).first()
        if guardian is None:
            raise NotFound("guardian")
        if target.name == "id_number":
            return "监护人身份证件号", identity.read_id(guardian)
        return "监护人联系电话", guardian.phone
    if target.name == "id_number":
        return "身份证件号", identity.read_id(student)
    if target.name == identity.NUMBER_FIELD:
        return "学籍号", identity.read_number(student)
    info = NonBasicInfo.objects.filter(student=student).select_related("schema").first()
    if info is not None:
        spec: dict = next((f for f in info.schema.fields if f.get("key") == target.name), {})
        if identity.is_sensitive_non_basic(target.name, spec.get("type", "")):
            value = info.data.get(target.name)
            return str(spec.get("label") or target.name), "" if value is None else str(value)
    raise _unknown_field()


def student_reveal(*, actor, student_id: int, field: str, reason: str) -> str:
    """The full value of one masked field (ID number, student number, phone, address, a
    guardian's ID or phone), for a user who states why the task needs it.

    Needs ``student.view`` and the student in scope (else 403 / 404); ``field`` is spelled
    as ``identity.parse_reveal_field`` reads it; ``reason`` at least 4 characters. The
    reveal is audited (``student.reveal``: field and reason, never the value); so is every
    refusal (``student.reveal_refused``), before the error goes back to the caller.
    """
    reason = (reason or "").strip()
    try:
        require_permission(actor, Permission.STUDENT_VIEW)
        student = access_student(actor, student_id=student_id)
        target = identity.parse_reveal_field(field)
        if target is None:
            raise _unknown_field()
        if not identity.reveal_reason_ok(reason):
            message = _("显示完整信息须填写事由（至少 %d 个字）") % identity.REVEAL_REASON_MIN
            raise DomainError(
                code=RevealCode.REASON_REQUIRED,
                message=message,
                errors=[FieldError("reason", RevealCode.REASON_REQUIRED, message)],
                http_status=422,
            )
        label, value = _reveal_target(student, target)
    except DomainError as error:
        # The refusal is kept even though the caller gets an error: its own transaction.
        with transaction.atomic():
            audit_record(
                actor=actor,
                action=AuditAction.STUDENT_REVEAL_REFUSED,
                object_type=ObjectType.STUDENT,
                object_id=student_id,
                summary=f"拒绝显示完整信息（{error.code}）",
                detail={
                    "field": str(field)[:64],
                    "reason": reason[: identity.REVEAL_REASON_MAX],
                    "code": error.code,
                },
            )
        raise
    with transaction.atomic():
        audit_record(
            actor=actor,
            action=AuditAction.STUDENT_REVEAL,
            object_type=ObjectType.STUDENT,
            object_id=student.pk,
            # No student number here: a G number carries the ID number being revealed.
            summary=f"显示学生的完整{label}",
            detail={"field": str(target), "reason": reason[: identity.REVEAL_REASON_MAX]},
        )
    return value


# ---------------------------------------------------------------- correcting basic information

# The basic fields a correction may change, named as registration names them; the record's
# in-school facts (school, grade, class) change only through status changes (xueji.changes).
CORRECTABLE = (
    "name",
    "former_name",
    "name_pinyin",
    "sex",
    "birth_date",
    "birthplace_code",
    "native_place_code",
    "ethnicity",
    "nationality",
    "id_type",
    "id_number",
    "id_valid_until",
    "hmt_code",
    "household_place_code",
    "household_type",
    "health",
)
# Fields checked against each other at registration: a change of one re-checks the others
# (the birth date and sex an ID number encodes; the ethnicity a Chinese national needs).
_COUPLED = (
    frozenset({"id_type", "id_number", "birth_date", "sex"}),
    frozenset({"nationality", "ethnicity"}),
    frozenset({"birth_date", "entry_date"}),
)


def registration_view(student: Student, record: StatusRecord) -> dict:
    """The student's stored basic data in the shape ``clean_registration`` reads."""

    def iso(value) -> str:
        return value.isoformat() if value else ""

    return {
        "school_code": record.school.code,
        "name": student.name,
        "former_name": student.former_name,
        "name_pinyin": student.name_pinyin,
        "sex": student.sex,
        "birth_date": iso(student.birth_date),
        "birthplace_code": student.birthplace_code,
        "native_place_code": student.native_place_code,
        "ethnicity": student.ethnicity,
        "nationality": student.nationality,
        "id_type": student.id_type,
        "id_number": identity.read_id(student),
        "id_valid_until": iso(student.id_valid_until),
        "hmt_code": student.hmt_code,
        "household_place_code": student.household_place_code,
        "household_type": student.household_type,
        "health": student.health,
        "grade": record.grade,
        "class_name": record.class_name,
        "entry_date": record.entry_date.strftime("%Y-%m"),
        "entry_mode": record.entry_mode,
        "attendance": record.attendance,
        "non_basic": {},
    }


def _shown(key: str, value) -> str:
    """A value as history and audit keep it: ID numbers masked, dates in ISO."""
    if value is None:
        return ""
    if key == "id_number":
        return identity.mask_number(str(value))
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _correction_errors(
    changes: dict, errors: list[FieldError], *, touched: set[str]
) -> list[FieldError]:
    """The registration errors a correction answers for: those of the fields it touches and
    of the fields checked together with them (stored data it leaves alone is not judged)."""
    relevant = set(touched)
    for group in _COUPLED:
        if group & touched:
            relevant |= group
    return [e for e in errors if e.field in relevant]


def student_correct(*, actor, student_id: int, changes: dict, reason: str) -> Student:
    try:
        return _student_correct(actor=actor, student_id=student_id, changes=changes, reason=reason)
    except disclosure.OutsideDuplicate as conflict:
        # The correction rolled back; its probe of an ID held outside scope is recorded.
        disclosure.duplicate_check_audit(actor=actor, step="correct", exact_id=conflict.student_id)
        raise


def _student_correct(*, actor, student_id: int, changes: dict, reason: str) -> Student:
    """Correct a student's basic information (基础信息更正) with a reason.

    ``changes`` maps fields of ``CORRECTABLE`` to new values, checked by the registration's
    own validation (``clean_registration``), together with the fields checked against them.
    Refused with ``student.frozen`` once the student has graduated (basic data are frozen)
    and with ``student.cancelled`` for a cancelled record. The change is written to the
    history as a ``correct`` event (``detail``: field → [old, new], ID numbers masked), to
    the revisions of basic information, and to the audit trail, in one transaction. A new ID
    number of a student whose number is a G number gives a new G number (the old one is
    retired); a correction that would change the kind of number (G, J, L) is refused.
    """
    from xueji.enrolment.services import record_lock

    from .models import BasicInfoRevision

    require_permission(actor, Permission.STUDENT_REGISTER)
    student = access_student(actor, student_id=student_id)
    _refuse_unchangeable(student.record)
    changes = dict(changes or {})
    reason = (reason or "").strip()
    errors = [
        FieldError(key, "correct.not_basic", _("该项不是可更正的基础信息"))
        for key in sorted(set(changes) - set(CORRECTABLE))
    ]
    if not reason:
        errors.append(FieldError("reason", "reason.required", _("请填写更正原因")))
    elif len(reason) > 255:
        errors.append(FieldError("reason", "reason.too_long", _("更正原因不能超过 255 字")))
    if errors:
        raise ValidationFailed(errors, _("更正未通过校验，未保存。"))
    now = clock.now()
    with transaction.atomic():
        record = record_lock(student_id=student.pk)
        _refuse_unchangeable(record)
        locked = Student.objects.select_for_update().get(pk=student.pk)
        stored = registration_view(locked, record)
        data = {**stored, **{k: "" if v is None else v for k, v in changes.items()}}
        if "name" in changes and "name_pinyin" not in changes:
            data["name_pinyin"] = ""  # recomputed from the corrected name
        clean, found = clean_registration(
            data, book=CodeBook.load(), today=clock.today(), schema=[]
        )
        errors = _correction_errors(changes, found, touched=set(changes))
        if errors:
            raise ValidationFailed(errors, _("更正未通过校验，未保存。"))
        if clean is None:
            # Only stored data the correction neither touches nor depends on is wrong (an
            # old import, say): it is left as it is, and blanked for this check alone.
            clean, _ignored = clean_registration(
                {**data, **{e.field: "" for e in found}},
                book=CodeBook.load(),
                today=clock.today(),
                schema=[],
            )
        if clean is None:
            raise ValidationFailed(found, _("该学生现有基础信息未通过校验，请先核对。"))
        detail, fields = _apply_correction(locked, clean, stored=stored, touched=set(changes))
        if not detail:
            raise ValidationFailed(
                [FieldError("changes", "correct.nothing", _("没有要更正的内容"))],
                _("更正未通过校验，未保存。"),
            )
        if "id_number" in detail or "id_type" in detail:
            _correct_number(locked, clean, detail=detail, fields=fields, now=now, actor=actor)
        locked.updated_at = now
        try:
            with transaction.atomic():
                locked.save(update_fields=[*dict.fromkeys(fields), "updated_at"])
        except IntegrityError:
            # Another clerk registered this ID meanwhile: the unique index decided.
            existing = duplicates.exact_match(clean.id_type, clean.id_number)
            if existing is not None and existing.pk != locked.pk:
                raise _duplicate_conflict(existing, actor) from None
            raise
        record_change(
            actor=actor,
            record=record,
            kind=EventKind.CORRECT,
            effective_date=clock.today(),
            reason=reason,
            detail=detail,
            now=now,
        )
        BasicInfoRevision.objects.create(
            student=locked,
            at=now,
            actor_id=getattr(actor, "pk", None),
            actor_username=getattr(actor, "username", "") or "",
            reason=reason,
            changes=detail,
        )
        audit_record(
            actor=actor,
            action=AuditAction.STUDENT_CORRECT,
            object_type=ObjectType.STUDENT,
            object_id=locked.pk,
            summary=f"更正基础信息 {len(detail)} 项",  # stored data: always Chinese
            detail={"fields": sorted(detail), "changes": detail, "reason": reason},
        )
    return locked


def _refuse_unchangeable(record: StatusRecord) -> None:
    from xueji.enrolment.rules import is_frozen

    if is_frozen(record):
        raise Conflict("student.frozen", _("该学生已毕业，基础信息已冻结，不能更正。"))
    if record.state == StatusState.CANCELLED:
        raise Conflict("student.cancelled", _("该学生学籍已注销，不能更正基础信息。"))


def _apply_correction(
    student: Student, clean: CleanRegistration, *, stored: dict, touched: set[str]
) -> tuple[dict, list[str]]:
    """Set the touched fields that really change; (detail field → [old, new], model fields)."""
    detail: dict[str, list[str]] = {}
    fields: list[str] = []
    for key in CORRECTABLE:
        if key not in touched and not (key == "name_pinyin" and "name" in touched):
            continue
        if key in ("id_type", "id_number"):
            continue  # together, below
        new = getattr(clean, key)
        old = getattr(student, key)
        if new == old:
            continue
        detail[key] = [_shown(key, old), _shown(key, new)]
        setattr(student, key, new)
        fields.append(key)
        if key == "name":
            student.name_key = clean.name_key
            fields.append("name_key")
    if {"id_type", "id_number"} & touched:
        old_type, old_number = student.id_type, stored["id_number"]
        if (clean.id_type, clean.id_number) != (old_type, old_number):
            if clean.id_type != old_type:
                detail["id_type"] = [old_type, clean.id_type]
            if clean.id_number != old_number:
                detail["id_number"] = [
                    _shown("id_number", old_number),
                    _shown("id_number", clean.id_number),
                ]
            identity.write_id(student, clean.id_type, clean.id_number)
            fields += ["id_type", "id_number", "id_key"]
    return detail, fields


def _correct_number(
    student: Student, clean: CleanRegistration, *, detail: dict, fields: list[str], now, actor
) -> None:
    """A corrected ID: refuse a duplicate, keep the kind of number, renew a G number."""
    existing = duplicates.exact_match(clean.id_type, clean.id_number)
    if existing is not None and existing.pk != student.pk:
        raise _duplicate_conflict(existing, actor)
    kind = kind_for(id_type=clean.id_type, id_number=clean.id_number, nationality=clean.nationality)
    if kind != student.number_kind:
        raise ValidationFailed(
            [
                FieldError(
                    "id_number",
                    "correct.number_kind",
                    _(
                        "更正后学籍号类别将由 %(old)s 变为 %(new)s，不能通过信息更正办理；取得居民身份证的学生请办理学籍号升级。"
                    )
                    % {"old": student.number_kind, "new": kind},
                )
            ],
            _("更正未通过校验，未保存。"),
        )
    if kind != NumberKind.G:
        return
    new_number = g_number(clean.id_number)
    if new_number == student.number:
        return
    StudentNumber.objects.filter(identity.number_q(student.number)).update(
        retired_at=now, reason="身份证件号更正"
    )
    StudentNumber.objects.create(number=new_number, student=student, kind=kind, issued_at=now)
    detail["number"] = [mask_student_number(student.number), mask_student_number(new_number)]
    student.number = new_number
    fields.append("number")
