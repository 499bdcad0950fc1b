"""Reference data over the API: the division tree and the code tables."""

from django.http import HttpRequest
from ninja import Router, Schema

from xueji.accounts.permissions import require_permission
from xueji.accounts.rules import Permission
from xueji.errors import NotFound
from xueji.i18n import gettext_lazy_str as _

from .models import CodeTable
from .selectors import code_items, division_children, division_current

router = Router(tags=[_("行政区划与代码")])


class DivisionOut(Schema):
    code: str
    name: str
    level: int
    parent_code: str


class CodeOut(Schema):
    code: str
    name: str
    name_en: str


@router.get(
    "/divisions", response=list[DivisionOut], summary=_("下级行政区划（不带 parent 为全部省级）")
)
def list_divisions(request: HttpRequest, parent: str = ""):
    require_permission(request.auth, Permission.DIVISION_VIEW)  # type: ignore[attr-defined]
    return division_children(parent or None)


@router.get("/divisions/{code}", response=DivisionOut, summary=_("行政区划"))
def get_division(request: HttpRequest, code: str):
    require_permission(request.auth, Permission.DIVISION_VIEW)  # type: ignore[attr-defined]
    division = division_current(code)
    if division is None:
        raise NotFound("division")
    return division


@router.get("/codes/{table}", response=list[CodeOut], summary=_("代码表"))
def list_codes(request: HttpRequest, table: str):
    require_permission(request.auth, Permission.DIVISION_VIEW)  # type: ignore[attr-defined]
    if table not in CodeTable.values:
        raise NotFound("code_table")
    return code_items(table)
