"""How a record's history reads: each event's title and what it changed.

A completed change is stored as one ``change`` event; the page says which change it was
(转学, 留级…) and what moved (from which school to which, from which grade to which), never
"学籍变动 在籍在校 → 在籍在校". The student page, a sending school's backup and the API read
the history through ``history_rows``.
"""

from collections.abc import Iterable
from typing import Any

from django.utils.translation import gettext as _

from xueji.changes.rules import ChangeType
from xueji.schools.models import School
from xueji.schools.rules import GRADES

from .models import Programme, StatusEvent
from .rules import EventKind, StatusState

SCHOOL_KEYS = ("from_school", "to_school", "placement_school")


def _label(choices: Any, value: str) -> str:
    try:
        return str(choices(value).label)
    except ValueError:
        return value


def grade_name(code: str) -> str:
    grade = GRADES.get(code)
    return str(grade.name) if grade else code


def _school_names(events: list[StatusEvent]) -> dict[str, str]:
    """Code → name of the schools events name by code only (events written before the
    names were stored with them): one query for the whole history."""
    codes = {
        code
        for event in events
        for key in SCHOOL_KEYS
        if (code := (event.detail or {}).get(key)) and not (event.detail or {}).get(f"{key}_name")
    }
    if not codes:
        return {}
    return dict(School.objects.filter(code__in=codes).values_list("code", "name"))


def _school(detail: dict, key: str, names: dict[str, str], fallback: str = "") -> str:
    return detail.get(f"{key}_name") or names.get(detail.get(key) or "", "") or fallback


def change_text(event: StatusEvent, *, names: dict[str, str], previous_school: str = "") -> str:
    """What a completed change did, in a sentence ('' when the state change says it all)."""
    detail = event.detail or {}
    change_type = event.change_type
    if change_type == ChangeType.TRANSFER:
        return _("从%(from)s转入%(to)s") % {
            "from": _school(detail, "from_school", names, previous_school) or _("原学校"),
            "to": _school(detail, "to_school", names, event.school.name),
        }
    if change_type == ChangeType.SPECIALISED:
        return _("安置到%(school)s") % {
            "school": _school(detail, "placement_school", names, _("专门学校"))
        }
    if detail.get("from_grade") or detail.get("to_grade"):
        return _("年级由%(from)s改为%(to)s") % {
            "from": grade_name(detail.get("from_grade") or ""),
            "to": grade_name(detail.get("to_grade") or event.grade),
        }
    if change_type == ChangeType.PROGRAMME and detail.get("to_programme"):
        return _("培养类型由%(from)s改为%(to)s") % {
            "from": _label(Programme, detail.get("from_programme") or ""),
            "to": _label(Programme, detail["to_programme"]),
        }
    if change_type == ChangeType.DEFER and detail.get("until"):
        return _("缓学至 %(until)s") % {"until": detail["until"]}
    if change_type == ChangeType.RETURN and detail.get("abroad_until"):
        return _("出境学习 %(from)s 至 %(until)s") % {
            "from": detail.get("abroad_from") or "?",
            "until": detail["abroad_until"],
        }
    if change_type == ChangeType.DEATH and detail.get("died_on"):
        return _("死亡日期 %(date)s") % {"date": detail["died_on"]}
    return ""


def history_rows(events: Iterable[StatusEvent]) -> list[dict]:
    """The rows of a history table, in the events' order: ``title`` (the change type for a
    completed change, else the event kind), ``change`` (what moved), ``from_state`` (only
    when the state changed) and ``to_state``, ``grade`` (its name)."""
    events = list(events)
    names = _school_names(events)
    rows = []
    previous_school = ""
    for event in events:
        title = _label(EventKind, event.kind)
        if event.kind == EventKind.CHANGE and event.change_type:
            title = _label(ChangeType, event.change_type)
        from_state = event.from_state if event.from_state != event.to_state else ""
        rows.append(
            {
                "event": event,
                "kind": title,
                "change": change_text(event, names=names, previous_school=previous_school)
                if event.kind == EventKind.CHANGE
                else "",
                "from_state": _label(StatusState, from_state) if from_state else "",
                "to_state": _label(StatusState, event.to_state),
                "grade": grade_name(event.grade),
            }
        )
        previous_school = event.school.name
    return rows
