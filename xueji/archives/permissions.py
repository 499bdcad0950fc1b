"""Who may read and add to a student's archive.

The archive is read by its holder (the school that holds the documents, or the authority
holding them while the student is abroad) and by the authorities above the holder; it is
added to by the holder alone. Everyone else gets "not found", like a missing row. A school
that transferred the student out is no longer the holder: it reads only its backup.
"""

from dataclasses import dataclass

from django.db.models import Q

from xueji.accounts.models import Unit
from xueji.accounts.permissions import require_permission
from xueji.accounts.rules import Permission
from xueji.accounts.scope import EVERY_ROW, NO_ROW, Scope, scope_for
from xueji.enrolment.models import StatusRecord
from xueji.errors import Forbidden, NotFound
from xueji.i18n import gettext_lazy_str as _
from xueji.schools.models import School
from xueji.students.models import Student

from .models import ArchiveDocument


@dataclass(frozen=True)
class Holder:
    """Who holds a student's archive: a school, or an authority (exactly one is set)."""

    school: School | None = None
    unit: Unit | None = None


@dataclass(frozen=True)
class ArchiveAccess:
    student: Student
    holder: Holder


def archive_holder(student_id: int) -> Holder:
    """The holder of the student's documents; without documents, the record's school."""
    latest = (
        ArchiveDocument.objects.filter(student_id=student_id)
        .select_related("holder", "holder_unit")
        .order_by("-pk")
        .first()
    )
    if latest is not None:
        return Holder(school=latest.holder, unit=latest.holder_unit)
    record = StatusRecord.objects.filter(pk=student_id).select_related("school").first()
    return Holder(school=record.school if record is not None else None)


def holder_in_scope(scope: Scope, holder: Holder) -> bool:
    """The holder itself, or an authority whose subtree holds it."""
    if holder.school is not None:
        return scope.covers(area_code=holder.school.area_code, school_id=holder.school.pk)
    if holder.unit is not None:
        if scope.everything:
            return True
        return (
            scope.school_id is None
            and scope.area_prefix is not None
            and holder.unit.area_prefix.startswith(scope.area_prefix)
        )
    return False


def held_in_scope_q(user) -> Q:
    """A filter of ``ArchiveDocument`` rows whose holder the user may read."""
    scope = scope_for(user)
    if scope.everything:
        return EVERY_ROW
    if scope.school_id is not None:
        return Q(holder_id=scope.school_id)
    if scope.area_prefix is not None:
        return Q(holder__area_code__startswith=scope.area_prefix) | Q(
            holder_unit__area_prefix__startswith=scope.area_prefix
        )
    return NO_ROW


def access_archive(user, *, student_id: int) -> ArchiveAccess:
    """Read access to a student's archive, or ``NotFound``."""
    require_permission(user, Permission.STUDENT_VIEW)
    student = Student.objects.filter(pk=student_id).first()
    if student is None:
        raise NotFound("archive")
    holder = archive_holder(student.pk)
    if not holder_in_scope(scope_for(user), holder):
        raise NotFound("archive")
    return ArchiveAccess(student=student, holder=holder)


def is_holder(user, holder: Holder) -> bool:
    unit = getattr(user, "unit", None)
    if unit is None:
        return False
    if holder.school is not None:
        return unit.school_id == holder.school.pk
    return holder.unit is not None and unit.pk == holder.unit.pk


def access_archive_write(user, *, student_id: int) -> ArchiveAccess:
    """Adding to a student's archive (documents, the paper register): the holder's clerks.

    The role first (403), then scope (404), then the holder itself (an authority above
    reads but does not file: 403).
    """
    require_permission(user, Permission.STUDENT_REGISTER)
    access = access_archive(user, student_id=student_id)
    if not is_holder(user, access.holder):
        raise Forbidden(_("只有档案保管单位可以登记档案材料。"))
    return access


def access_document(user, *, document_id: int) -> ArchiveDocument:
    """One document the user may read (its holder is in scope), or ``NotFound``."""
    require_permission(user, Permission.STUDENT_VIEW)
    document = (
        ArchiveDocument.objects.filter(held_in_scope_q(user), pk=document_id)
        .select_related("student")
        .first()
    )
    if document is None:
        raise NotFound("archive_document")
    return document
