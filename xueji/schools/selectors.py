"""Scoped reads of schools."""

from django.db.models import Count, Q, QuerySet

from xueji.accounts.scope import scope_for

from .models import School


def schools_visible(user) -> QuerySet[School]:
    return School.objects.filter(scope_for(user).q(area_field="area_code", school_field="pk"))


def school_list(
    user,
    *,
    search: str = "",
    area_prefix: str = "",
    school_type: str = "",
    state: str = "",
    with_counts: bool = False,
) -> QuerySet[School]:
    qs = schools_visible(user)
    if search:
        qs = qs.filter(Q(code=search) | Q(name__contains=search))
    if area_prefix:
        qs = qs.filter(area_code__startswith=area_prefix)
    if school_type:
        qs = qs.filter(school_type=school_type)
    if state:
        qs = qs.filter(state=state)
    if with_counts:
        qs = qs.annotate(student_count=Count("records"))
    return qs.order_by("area_code", "code")
