"""Schools over the API; every endpoint calls one selector or service."""

from django.http import HttpRequest
from ninja import Router, Status

from xueji.accounts.permissions import require_permission
from xueji.accounts.rules import Permission
from xueji.i18n import gettext_lazy_str as _

from . import services
from .permissions import access_school
from .schemas import SchoolIn, SchoolOut, SchoolPage, SchoolPatch
from .selectors import school_list

router = Router(tags=[_("学校")])


@router.get("/schools", response=SchoolPage, summary=_("学校列表（范围内，键集分页）"))
def list_schools(
    request: HttpRequest,
    q: str = "",
    school_type: str = "",
    state: str = "",
    after: int = 0,
    limit: int = 50,
):
    require_permission(request.auth, Permission.SCHOOL_VIEW)  # type: ignore[attr-defined]
    limit = max(1, min(limit, 500))
    qs = school_list(request.auth, search=q, school_type=school_type, state=state).order_by("pk")  # type: ignore[attr-defined]
    rows = list(qs.filter(pk__gt=after)[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return {"items": rows, "next_cursor": rows[-1].pk if more and rows else None}


@router.get("/schools/{school_id}", response=SchoolOut, summary=_("学校详情"))
def get_school(request: HttpRequest, school_id: int):
    require_permission(request.auth, Permission.SCHOOL_VIEW)  # type: ignore[attr-defined]
    return access_school(request.auth, school_id=school_id)  # type: ignore[attr-defined]


@router.post("/schools", response={201: SchoolOut}, summary=_("新建学校"))
def create_school(request: HttpRequest, payload: SchoolIn):
    return Status(201, services.school_create(actor=request.auth, data=payload.dict()))  # type: ignore[attr-defined]


@router.patch("/schools/{school_id}", response=SchoolOut, summary=_("修改学校"))
def update_school(request: HttpRequest, school_id: int, payload: SchoolPatch):
    data = payload.dict(exclude_none=True)
    return services.school_update(actor=request.auth, school_id=school_id, data=data)  # type: ignore[attr-defined]
