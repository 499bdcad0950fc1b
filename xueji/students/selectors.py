"""Scoped reads of students: the list with keyset pagination, detail, history, "as of"."""

import re
from dataclasses import dataclass
from datetime import date

from django.db.models import Q, QuerySet

from xueji.enrolment.models import StatusEvent

from . import identity
from .models import BasicInfoRevision, Student, StudentNumber
from .permissions import access_student, students_in_scope

_NUMBER_RE = re.compile(r"^[GJL][0-9A-Z]{18}$")
_ID_LIKE_RE = re.compile(r"^[0-9A-Za-z（）()]{6,32}$")


@dataclass(frozen=True)
class StudentFilters:
    q: str = ""
    school_id: int | None = None
    grade: str = ""
    class_name: str = ""
    state: str = ""
    area_prefix: str = ""


@dataclass
class Page:
    rows: list[Student]
    next_cursor: int | None
    has_more: bool


def _search(qs: QuerySet[Student], term: str) -> QuerySet[Student]:
    term = term.strip()
    if not term:
        return qs
    upper = term.upper()
    if _NUMBER_RE.match(upper):
        # Retired numbers (after an upgrade or merge) still find their student.
        owner_ids = StudentNumber.objects.filter(identity.number_q(upper)).values("student_id")
        return qs.filter(identity.number_q(upper) | Q(pk__in=owner_ids))
    if _ID_LIKE_RE.match(term) and any(ch.isdigit() for ch in term):
        return qs.filter(id_key__in=identity.search_keys(term))
    return qs.filter(Q(name=term) | Q(former_name=term))


def name_or_number(term: str, *, field: str = "") -> Q:
    """Part of the name, a whole student number, or part of the number as lists show it
    (the kind letter and division, the last 4), for the search boxes of lists of a
    student's rows (a roll, a review queue); ``field`` is the path to the student
    ("student", "other_student"), '' for students themselves. A whole number is matched
    through its blind index (the number itself is stored encrypted)."""
    prefix = f"{field}__" if field else ""
    condition = Q(**{f"{prefix}name__contains": term})
    if _NUMBER_RE.match(identity.normalize_student_number(term)):
        return condition | identity.number_q(term, field=field)
    return condition | Q(**{f"{prefix}number_masked__icontains": term})


def student_list(
    user, *, filters: StudentFilters, after: int | None = None, limit: int = 50
) -> Page:
    """One page of students in scope, ordered by id; ``after`` is the last id seen."""
    qs = students_in_scope(user).select_related("record", "record__school")
    qs = _search(qs, filters.q)
    if filters.school_id:
        qs = qs.filter(record__school_id=filters.school_id)
    if filters.grade:
        qs = qs.filter(record__grade=filters.grade)
    if filters.class_name:
        qs = qs.filter(record__class_name=filters.class_name)
    if filters.state:
        qs = qs.filter(record__state=filters.state)
    if filters.area_prefix:
        qs = qs.filter(record__area_code__startswith=filters.area_prefix)
    if after:
        qs = qs.filter(pk__gt=after)
    rows = list(qs.order_by("pk")[: limit + 1])
    has_more = len(rows) > limit
    rows = rows[:limit]
    return Page(
        rows=rows, next_cursor=rows[-1].pk if has_more and rows else None, has_more=has_more
    )


@dataclass
class StudentDetail:
    student: Student
    events: list[StatusEvent]
    numbers: list[StudentNumber]
    revisions: list[BasicInfoRevision]


def student_detail(user, *, student_id: int) -> StudentDetail:
    student = access_student(user, student_id=student_id)
    events = list(
        StatusEvent.objects.filter(record_id=student.pk)
        .select_related("school")
        .order_by("effective_date", "occurred_at", "pk")
    )
    return StudentDetail(
        student=student,
        events=events,
        numbers=list(student.numbers.order_by("issued_at")),
        revisions=list(student.revisions.all()),
    )


def status_as_of(user, *, student_id: int, on: date) -> StatusEvent | None:
    """The record as it stood on ``on``: its last event effective on or before that day."""
    student = access_student(user, student_id=student_id)
    return (
        StatusEvent.objects.filter(record_id=student.pk, effective_date__lte=on)
        .select_related("school")
        .order_by("-effective_date", "-occurred_at", "-pk")
        .first()
    )


def nonbasic_schemas_visible(user) -> list:
    """Every filed version a user may read: the national level sees every province's
    filings; everyone else sees the national default and their own province's."""
    from xueji.accounts.scope import scope_for

    from .models import NonBasicSchema

    scope = scope_for(user)
    qs = NonBasicSchema.objects.order_by("province_code", "version")
    if scope.everything:
        return list(qs)
    if scope.empty:
        return []
    province = (scope.area_prefix or "")[:2]
    if scope.school_id is not None:
        from xueji.schools.models import School

        province = (
            School.objects.filter(pk=scope.school_id)
            .values_list("province_code", flat=True)
            .first()
            or ""
        )
    return list(qs.filter(province_code__in=["", province]))
