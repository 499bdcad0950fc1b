"""Scoped counts of status records: the home pages' tables and a school's grades.

Every count is one grouped query over the records in the user's scope, never a query per row.
"""

from django.db.models import Count, Q
from django.db.models.functions import Substr
from django.utils.translation import gettext as _

from xueji.accounts.models import UnitKind
from xueji.accounts.scope import scope_for
from xueji.divisions.selectors import division_children, division_full_name
from xueji.schools.rules import GRADES, SEPARATE_AREA_CODES, SEPARATE_PREFIX, SchoolType
from xueji.schools.selectors import schools_visible

from .models import StatusRecord
from .rules import ON_ROLL, StatusState


def roll_summary(user) -> dict:
    """What the home page of the user's unit shows: its school's grades and classes, its
    county's schools, or the schools and students of each child division."""
    unit = user.unit
    if unit.kind == UnitKind.SCHOOL and unit.school_id is not None:
        return _school_summary(unit.school_id)
    if unit.kind == UnitKind.COUNTY:
        return _county_summary(user)
    children = _child_areas(unit)
    if not children:
        # A city without counties (东莞, 中山…): its schools hang directly under it.
        return _county_summary(user)
    return _area_summary(user, unit, children)


def school_grade_counts(school_id: int) -> list[dict]:
    """Students on a school's roll by grade (with the number of classes)."""
    rows = list(
        StatusRecord.objects.filter(school_id=school_id, state__in=ON_ROLL)
        .values("grade")
        .annotate(
            on_roll=Count("pk"),
            enrolled=Count("pk", filter=Q(state=StatusState.ENROLLED)),
            classes=Count("class_name", distinct=True),
        )
        .order_by("grade")
    )
    for row in rows:
        grade = GRADES.get(row["grade"])
        row["name"] = grade.name if grade else row["grade"]
    return rows


def _total(rows: list[dict], *keys: str) -> dict:
    return {key: sum(row[key] for row in rows) for key in keys}


def _area_summary(user, unit, children: list[tuple[str, object]]) -> dict:
    """Schools and students per child division: two grouped queries, no per-row query.
    Schools in scope under no child division (a school registered at the unit's own
    division code) come in one more row, so the totals are the whole subtree's."""
    width = len(children[0][0])
    scope = scope_for(user)
    schools = dict(
        schools_visible(user)
        .annotate(key=Substr("area_code", 1, width))
        .values("key")
        .annotate(n=Count("pk"))
        .order_by()
        .values_list("key", "n")
    )
    students = {
        row["key"]: row
        for row in StatusRecord.objects.filter(scope.q(area_field="area_code"))
        .annotate(key=Substr("area_code", 1, width))
        .values("key")
        .annotate(
            on_roll=Count("pk", filter=Q(state__in=ON_ROLL)),
            enrolled=Count("pk", filter=Q(state=StatusState.ENROLLED)),
        )
        .order_by()
    }
    rows = []
    for prefix, name in children:
        counts = students.get(prefix, {})
        rows.append(
            {
                "prefix": prefix,
                "name": name,
                "schools": schools.pop(prefix, 0),
                "on_roll": counts.get("on_roll", 0),
                "enrolled": counts.get("enrolled", 0),
            }
        )
        students.pop(prefix, None)
    if schools or students:
        rows.append(
            {
                "prefix": unit.area_prefix,
                "name": _("直属学校"),
                "schools": sum(schools.values()),
                "on_roll": sum(row["on_roll"] for row in students.values()),
                "enrolled": sum(row["enrolled"] for row in students.values()),
            }
        )
    return {
        "area_rows": rows,
        "area_totals": _total(rows, "schools", "on_roll", "enrolled"),
        "child_label": _child_label(unit.kind),
    }


def _child_areas(unit) -> list[tuple[str, object]]:
    """(code prefix, name) of the divisions one level below the unit."""
    if unit.kind == UnitKind.NATIONAL:
        rows = [(d.prefix, d.name) for d in division_children(None)]
        return [*rows, (SEPARATE_PREFIX, _("单列管理学校"))]
    if unit.kind == UnitKind.SEPARATE:
        return [(code, SchoolType(kind).label) for kind, code in SEPARATE_AREA_CODES.items()]
    return [(d.prefix, d.name) for d in division_children(unit.division_code)]


def _child_label(kind: str) -> str:
    labels: dict[str, str] = {
        UnitKind.NATIONAL: _("省份"),
        UnitKind.PROVINCE: _("地市"),
        UnitKind.CITY: _("区县"),
        UnitKind.SEPARATE: _("类别"),
    }
    return labels.get(kind, _("区划"))


def _county_summary(user) -> dict:
    """A county's schools, each with its students: one grouped query."""
    rows = list(
        schools_visible(user)
        .values("pk", "code", "name", "state")
        .annotate(
            on_roll=Count("records", filter=Q(records__state__in=ON_ROLL)),
            enrolled=Count("records", filter=Q(records__state=StatusState.ENROLLED)),
        )
        .order_by("code")
    )
    for row in rows:
        row["schools"] = 1
    return {
        "school_rows": rows,
        "area_totals": _total(rows, "schools", "on_roll", "enrolled"),
        "area_name": division_full_name(user.unit.division_code),
    }


def _school_summary(school_id: int) -> dict:
    """Students on the school's roll by grade and class: one grouped query."""
    rows = list(
        StatusRecord.objects.filter(school_id=school_id, state__in=ON_ROLL)
        .values("grade", "class_name")
        .annotate(on_roll=Count("pk"), enrolled=Count("pk", filter=Q(state=StatusState.ENROLLED)))
        .order_by("grade", "class_name")
    )
    grades: list[dict] = []
    for row in rows:
        if not grades or grades[-1]["grade"] != row["grade"]:
            grade = GRADES.get(row["grade"])
            grades.append(
                {
                    "grade": row["grade"],
                    "name": grade.name if grade else row["grade"],
                    "classes": [],
                    "on_roll": 0,
                    "enrolled": 0,
                }
            )
        grades[-1]["classes"].append(row)
        grades[-1]["on_roll"] += row["on_roll"]
        grades[-1]["enrolled"] += row["enrolled"]
    return {"grades": grades, "school_totals": _total(grades, "on_roll", "enrolled")}
