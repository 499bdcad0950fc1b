"""Access to one school: in scope or not found."""

from xueji.accounts.scope import scope_for
from xueji.errors import NotFound

from .models import School


def access_school(user, *, school_id: int | None = None, code: str | None = None) -> School:
    """The school, when it exists and lies in the user's scope; otherwise ``NotFound``."""
    qs = School.objects.filter(scope_for(user).q(area_field="area_code", school_field="pk"))
    if school_id is not None:
        qs = qs.filter(pk=school_id)
    elif code is not None:
        qs = qs.filter(code=code)
    else:
        raise NotFound("school")
    school = qs.first()
    if school is None:
        raise NotFound("school")
    return school
