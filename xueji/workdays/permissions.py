"""Who may read the calendar and who may load a year of it.

The calendar is national reference data: every signed-in account of an authority (any
unit but a school) reads it; only the national level loads a year, with the
``calendar.manage`` permission (national reviewers).
"""

from django.utils.translation import gettext as _

from xueji.accounts.models import UnitKind
from xueji.accounts.permissions import has_permission
from xueji.accounts.rules import Permission
from xueji.errors import Forbidden

VIEW_LEVELS = frozenset(kind for kind in UnitKind.values if kind != UnitKind.SCHOOL)
LOAD_LEVELS = frozenset({UnitKind.NATIONAL.value})


def _unit_kind(user) -> str:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return ""
    unit = getattr(user, "unit", None)
    return unit.kind if unit is not None else ""


def can_view_calendar(user) -> bool:
    return _unit_kind(user) in VIEW_LEVELS


def can_load_calendar(user) -> bool:
    return _unit_kind(user) in LOAD_LEVELS and has_permission(user, Permission.CALENDAR_MANAGE)


def access_calendar_view(user) -> None:
    if not can_view_calendar(user):
        raise Forbidden(_("工作日历仅供教育行政部门的账号查看。"))


def access_calendar_load(user) -> None:
    if not can_load_calendar(user):
        raise Forbidden(_("只有国家级学籍审核员可以载入工作日历。"))
