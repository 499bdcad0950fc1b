"""Access to one student: in the actor's scope (through the status record) or not found."""

from xueji.accounts.scope import scope_for
from xueji.errors import NotFound

from . import identity
from .models import Student


def students_in_scope(user):
    return Student.objects.filter(
        scope_for(user).q(area_field="record__area_code", school_field="record__school_id")
    )


def access_student(user, *, student_id: int | None = None, number: str | None = None) -> Student:
    qs = students_in_scope(user).select_related("record", "record__school")
    if student_id is not None:
        qs = qs.filter(pk=student_id)
    elif number:
        qs = qs.filter(identity.number_q(number))
    else:
        raise NotFound("student")
    student = qs.first()
    if student is None:
        if student_id is not None:
            # Recorded with the request's reads: many of these are probing (a warning rule).
            from xueji.audit.events import AuditAction
            from xueji.audit.reads import note_read

            note_read(user, [student_id], kind="not_found", action=AuditAction.STUDENT_NOT_FOUND)
        raise NotFound("student")
    return student


def may_see_full_number(user, student: Student) -> bool:
    """Whether ``user`` sees ``student``'s full student number on the student's detail
    without revealing it: the status clerk of the school that holds the record now, and the
    party whose step of an open transfer is pending (it checks the student's identity).
    Everyone else sees the masked number and reveals the full one with a reason
    (``services.student_reveal``, audited). Lists never show it (``number_masked``).
    """
    from xueji.accounts.permissions import has_permission
    from xueji.accounts.rules import Permission

    unit = getattr(user, "unit", None)
    if unit is None:
        return False
    record = getattr(student, "record", None)
    if (
        record is not None
        and unit.school_id is not None
        and unit.school_id == record.school_id
        and has_permission(user, Permission.STUDENT_REGISTER)
    ):
        return True
    from xueji.changes.models import ApprovalStep
    from xueji.changes.rules import ChangeType, RequestState, StepState
    from xueji.changes.services import may_handle

    pending = (
        ApprovalStep.objects.filter(
            request__student_id=student.pk,
            request__state=RequestState.OPEN,
            request__change_type=ChangeType.TRANSFER,
            state=StepState.PENDING,
            unit_id=unit.pk,
        )
        .select_related("request")
        .first()
    )
    return pending is not None and may_handle(user, pending)
