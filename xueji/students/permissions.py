"""Access to one student: in the actor's scope (through the status record) or not found."""

from xueji.accounts.scope import scope_for
from xueji.errors import NotFound

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
        qs = qs.filter(number=number.strip().upper())
    else:
        raise NotFound("student")
    student = qs.first()
    if student is None:
        raise NotFound("student")
    return student
