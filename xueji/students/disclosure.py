"""What an answer may tell about a student outside the asker's scope (issue 10, finding 2).

The registration's duplicate check (the page's 校验 button, ``POST /api/students/validate``),
the refusals of ``POST /api/students`` and of a correction, and transfer filing all meet
records the asker may not read. This module is the one place that decides what they say:

- **In scope** (the asker's unit covers the record's school: the school itself, its county,
  city, province, the nation): the full answer, as before.
- **An exact ID match outside scope**: only where the child holds its record, as school name
  and county ("该学生已在<学校>（<县区>）有学籍，请向家长索取学籍号后办理转入") — no student
  number, id, grade or state. A record that registration may reactivate says so (the clerk
  has to confirm it), still without number or state.
- **Fuzzy candidates outside scope** are not listed: the asker reads "辖区外存在可能重复的
  学籍", and when the registration goes ahead a duplicate finding goes to the lowest unit
  covering both records (``xueji.anomalies.services.duplicate_finding_raise``).
- **Transfer filing** for a student outside the filer's scope: the typed number and name
  prove the child exists, nothing more. Refusals that would tell its state, grade or an open
  request become one "not possible now" answer.

Every answer that met a record outside scope is audited (``student.duplicate_outside``,
``change.file_refused_outside``) with the ids it concerned, whatever it showed.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from xueji.accounts.scope import scope_for
from xueji.audit.events import AuditAction, ObjectType
from xueji.audit.services import audit_record
from xueji.divisions.selectors import division_full_name
from xueji.errors import Conflict, FieldError, ValidationFailed

from .models import Student

# ---------------------------------------------------------------- scope


def record_in_scope(actor: Any, record: Any) -> bool:
    """Whether ``actor``'s unit covers the school holding ``record`` (a status record)."""
    if record is None:
        return False
    return scope_for(actor).covers(area_code=record.area_code, school_id=record.school_id)


def student_in_scope(actor: Any, student: Student) -> bool:
    return record_in_scope(actor, getattr(student, "record", None))


def ids_in_scope(actor: Any, student_ids: Iterable[int]) -> set[int]:
    """Which of ``student_ids`` the actor's scope covers (one query)."""
    ids = sorted(set(student_ids))
    if not ids:
        return set()
    scope = scope_for(actor)
    return set(
        Student.objects.filter(
            scope.q(area_field="record__area_code", school_field="record__school_id"),
            pk__in=ids,
        ).values_list("pk", flat=True)
    )


# ---------------------------------------------------------------- exact matches


@dataclass(frozen=True)
class Holder:
    """Where an exact match outside scope holds its record: all the asker may learn."""

    school_name: str
    area_name: str
    reactivatable: bool = False

    @property
    def message(self) -> str:
        values = {"school": self.school_name, "area": self.area_name}
        if self.reactivatable:
            return (
                _(
                    "该学生已在%(school)s（%(area)s）有学籍记录，不能新建学籍；"
                    "如确为该学生返校，提交时可选择恢复其原有学籍。"
                )
                % values
            )
        return _("该学生已在%(school)s（%(area)s）有学籍，请向家长索取学籍号后办理转入。") % values


def holder_of(student: Student, *, reactivatable: bool = False) -> Holder:
    record = student.record
    school = record.school
    return Holder(
        school_name=school.name,
        area_name=division_full_name(school.division_code),
        reactivatable=reactivatable,
    )


class OutsideDuplicate(Conflict):
    """``student.duplicate_id`` for a record outside the asker's scope; ``student_id`` is
    for the audit row only, never in the answer."""

    def __init__(self, message: str, *, student_id: int, school_name: str) -> None:
        super().__init__(
            "student.duplicate_id",
            message,
            detail={"outside_scope": True, "school_name": school_name},
        )
        self.student_id = student_id


def duplicate_id_conflict(actor: Any, existing: Student) -> Conflict:
    """The refusal of a registration or correction whose ID number another record holds."""
    if not student_in_scope(actor, existing):
        holder = holder_of(existing)
        return OutsideDuplicate(
            _("该身份证件号已有学籍，一人只能有一个学籍。") + holder.message,
            student_id=existing.pk,
            school_name=holder.school_name,
        )
    from xueji.enrolment.rules import StatusState

    record = existing.record
    return Conflict(
        "student.duplicate_id",
        _(
            "该身份证件号已有学籍（学籍号 %(number)s，%(school)s，%(state)s），一人只能有一个学籍；学生转学请由转入学校发起转学。"
        )
        % {
            "number": existing.number_masked,
            "school": record.school.name,
            "state": StatusState(record.state).label,
        },
        detail={"student_id": existing.pk, "number_masked": existing.number_masked},
    )


def known_student_conflict(actor: Any, existing: Student) -> Conflict:
    """The registration of a student whose old record may be reactivated: the clerk must
    confirm. Outside scope without the number and state."""
    if not student_in_scope(actor, existing):
        holder = holder_of(existing, reactivatable=True)
        return Conflict(
            "student.known",
            holder.message,
            detail={"outside_scope": True, "school_name": holder.school_name},
        )
    from xueji.enrolment.rules import StatusState

    record = existing.record
    return Conflict(
        "student.known",
        _(
            "该学生已在学籍系统中（学籍号 %(number)s，%(state)s），请确认恢复其原有学籍，不再新建学籍。"
        )
        % {"number": existing.number_masked, "state": StatusState(record.state).label},
        detail={
            "student_id": existing.pk,
            "number_masked": existing.number_masked,
            "state": record.state,
        },
    )


# ---------------------------------------------------------------- fuzzy candidates

OUTSIDE_CANDIDATES = gettext_lazy(
    "辖区外存在可能重复的学籍（不在您的管理范围内，不予显示）。如确认注册，将交由上级主管部门核查。"
)


def split_candidates(actor: Any, candidates: Sequence[Any]) -> tuple[list[Any], list[Any]]:
    """(the candidates in the actor's scope, those outside), each in the given order."""
    inside = ids_in_scope(actor, (c.student_id for c in candidates))
    return (
        [c for c in candidates if c.student_id in inside],
        [c for c in candidates if c.student_id not in inside],
    )


# ---------------------------------------------------------------- audit


def duplicate_check_audit(
    *, actor: Any, step: str, exact_id: int | None, outside_ids: Sequence[int] = ()
) -> None:
    """Record a duplicate check that met records outside the actor's scope: ``exact_id``
    the record holding the typed ID number, ``outside_ids`` the fuzzy candidates. ``step``:
    ``check`` (validation only), ``register``, ``correct``, ``attach_id``."""
    ids = ([exact_id] if exact_id is not None else []) + list(outside_ids)
    if not ids:
        return
    if exact_id is not None:
        summary = f"注册查重命中辖区外学籍（身份证件号相同），仅告知所在学校（{step}）"
    else:
        summary = f"注册查重发现辖区外疑似重复学籍 {len(outside_ids)} 条，未予显示（{step}）"
    with transaction.atomic():
        audit_record(
            actor=actor,
            action=AuditAction.STUDENT_DUPLICATE_OUTSIDE,
            object_type=ObjectType.STUDENT,
            object_id=ids[0],
            summary=summary,  # stored data: always Chinese
            detail={"step": step, "exact": exact_id is not None, "student_ids": ids},
        )


# ---------------------------------------------------------------- transfer filing

# What a refusal may still say when the student is outside the filer's scope: rules about
# the filer's own input (reason, materials, the receiving school and grade it chose, the
# province's rules). Anything else (the student's state, grade, an open request…) is told
# only as "not possible now".
TRANSFER_SAFE_CODES = frozenset(
    {
        "reason.required",
        "change.disabled",
        "target.required",
        "school.unknown",
        "school.closed",
        "grade.required",
        "grade.not_offered",
    }
)


def _transfer_not_possible() -> FieldError:
    return FieldError(
        "student_number",
        "transfer.not_possible",
        _(
            "该学生目前不能办理转入本校（学籍状态、年级或正在办理的事项不允许）。"
            "请与学生家长或转出学校联系了解情况。"
        ),
    )


def transfer_refusal(
    actor: Any, student: Student, error: Exception, *, grade_typed: bool = False
) -> Exception:
    """The refusal to show a filer outside ``student``'s scope, for the refusal ``error``
    the filing raised (a ``ValidationFailed`` or ``Conflict``); audited. In scope, or for
    refusals that tell nothing about the student, ``error`` itself. ``grade_typed``: the
    filer chose the receiving grade, so "the school does not offer that grade" is about its
    own input."""
    if student_in_scope(actor, student):
        return error
    safe = TRANSFER_SAFE_CODES | ({"transfer.grade_not_offered"} if grade_typed else set())
    if isinstance(error, ValidationFailed):
        kept = [e for e in error.errors if e.code in safe or e.code.startswith("material.")]
        hidden = [e.code for e in error.errors if e not in kept]
        if not hidden:
            return error
        answer: Exception = ValidationFailed(
            [*kept, _transfer_not_possible()], _("申请未通过校验，未提交。")
        )
    elif isinstance(error, Conflict):
        hidden = [error.code]
        answer = Conflict("transfer.not_possible", _transfer_not_possible().message)
    else:
        return error
    with transaction.atomic():
        audit_record(
            actor=actor,
            action=AuditAction.CHANGE_FILE_REFUSED_OUTSIDE,
            object_type=ObjectType.STUDENT,
            object_id=student.pk,
            summary="辖区外学生转入申请未受理，仅告知不能办理",  # stored data: always Chinese
            detail={"codes": sorted(set(hidden))},
        )
    return answer
