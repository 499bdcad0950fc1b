"""Scoped reads of campaigns: the list, the progress roll-up, a school's roll, and the
marks the anomaly detectors read.

The roll-up is one grouped query over the campaign's school confirmations (each carries
its counts): rows for a prefix of the area code one level below the area shown. Every
level is computed from the same rows, so the levels add up by construction.
"""

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.db.models import Count, F, Q, QuerySet, Sum
from django.db.models.functions import Substr
from django.utils.translation import gettext as _

from xueji import clock
from xueji.accounts.permissions import require_permission
from xueji.accounts.rules import Permission
from xueji.accounts.scope import scope_for
from xueji.divisions.selectors import division_names
from xueji.errors import NotFound
from xueji.schools.rules import GRADES, SEPARATE_AREA_CODES, SEPARATE_PREFIX, SchoolType
from xueji.students.selectors import name_or_number

from .models import Campaign, RollMark, SchoolConfirmation
from .permissions import access_campaign, access_confirmation, campaigns_visible
from .rules import (
    SCHOOLS,
    CampaignState,
    ConfirmationState,
    Mark,
    child_level,
    is_overdue,
    parent_areas,
    progress_percent,
    valid_area,
)

# ---------------------------------------------------------------- campaigns


def campaign_list(user) -> QuerySet[Campaign]:
    """The campaigns the user's scope meets, newest semester first, each with the number
    of its schools that signed off (in the user's scope) as ``signed_in_scope`` and the
    schools in scope as ``schools_in_scope``."""
    require_permission(user, Permission.CAMPAIGN_VIEW)
    scope = scope_for(user)
    in_scope = scope.q(
        area_field="confirmations__area_code", school_field="confirmations__school_id"
    )
    return (
        campaigns_visible(user)
        .annotate(
            schools_in_scope=Count("confirmations", filter=in_scope),
            signed_in_scope=Count(
                "confirmations",
                filter=in_scope & Q(confirmations__state=ConfirmationState.SIGNED_OFF),
            ),
        )
        .order_by("-school_year", "-semester", "province_code", "-pk")
    )


@dataclass
class OpenCampaign:
    """An open campaign as the home page shows it: the user's subtree only."""

    campaign: Campaign
    schools: int
    signed_off: int
    students: int
    unmarked: int
    overdue: int  # schools not signed off once the deadline has passed

    @property
    def percent(self) -> int:
        return progress_percent(
            marked=self.students - self.unmarked,
            students=self.students,
            schools=self.schools,
            signed_off=self.signed_off,
        )


def open_campaigns(user, *, today: date | None = None) -> list[OpenCampaign]:
    """The open campaigns the user's scope meets, with the schools of its whole subtree
    (all of it, nothing outside): how many signed off, students and unmarked, overdue
    schools. One query, whatever the number of schools."""
    today = today or clock.today()
    scope = scope_for(user)
    in_scope = scope.q(
        area_field="confirmations__area_code", school_field="confirmations__school_id"
    )
    rows = (
        campaign_list(user)
        .filter(state=CampaignState.OPEN)
        .annotate(
            students_in_scope=Sum("confirmations__total", filter=in_scope),
            unmarked_in_scope=Sum("confirmations__unmarked", filter=in_scope),
        )
    )
    out = []
    for campaign in rows:
        # campaign_list's annotations (their types do not survive a second annotate)
        schools = campaign.schools_in_scope  # type: ignore[attr-defined]
        signed = campaign.signed_in_scope  # type: ignore[attr-defined]
        if not schools:
            continue
        late = is_overdue(deadline=campaign.deadline, today=today, signed_off=False)
        out.append(
            OpenCampaign(
                campaign=campaign,
                schools=schools,
                signed_off=signed,
                students=campaign.students_in_scope or 0,
                unmarked=campaign.unmarked_in_scope or 0,
                overdue=schools - signed if late else 0,
            )
        )
    return out


def campaign_get(user, campaign_id: int) -> Campaign:
    require_permission(user, Permission.CAMPAIGN_VIEW)
    return access_campaign(user, campaign_id)


# ---------------------------------------------------------------- progress


@dataclass
class ProgressRow:
    """One child unit (or school) of the roll-up."""

    key: str
    name: str
    schools: int = 0
    signed_off: int = 0
    overdue: int = 0
    students: int = 0
    marked: int = 0
    present: int = 0
    absent: int = 0
    data_wrong: int = 0
    unmarked: int = 0
    school_id: int | None = None
    state: str = ""
    place: str = ""  # a school's county, in the list of overdue schools

    @property
    def percent(self) -> int:
        return progress_percent(
            marked=self.marked,
            students=self.students,
            schools=self.schools,
            signed_off=self.signed_off,
        )

    @property
    def signed_percent(self) -> int:
        return self.signed_off * 100 // self.schools if self.schools else 0

    def add(self, other: "ProgressRow") -> None:
        for name in SUMMED:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "name": self.name,
            **{name: getattr(self, name) for name in SUMMED},
            "percent": self.percent,
            "signed_percent": self.signed_percent,
            "school_id": self.school_id,
            "state": self.state,
        }


SUMMED = (
    "schools",
    "signed_off",
    "overdue",
    "students",
    "marked",
    "present",
    "absent",
    "data_wrong",
    "unmarked",
)


@dataclass
class Progress:
    campaign: Campaign
    area: str  # the area shown ('' the nation); a school account sees its school
    level: str  # the kind of the rows: province, city, county or schools
    rows: list[ProgressRow]
    total: ProgressRow
    trail: list[tuple[str, str]] = field(default_factory=list)  # (area, name) above
    today: date | None = None
    # Above the school level, once the deadline has passed: the first OVERDUE_LISTED
    # schools not signed off (total.overdue counts them all).
    overdue_schools: list[ProgressRow] = field(default_factory=list)


OVERDUE_LISTED = 50


def area_name(area: str) -> str:
    """The name of a roll-up key: a province, city or county, or the separate list."""
    if area == "":
        return _("全国")
    if area.startswith(SEPARATE_PREFIX):
        if area == SEPARATE_PREFIX:
            return _("单列管理学校")
        for kind, code in SEPARATE_AREA_CODES.items():
            if code.startswith(area):
                return str(SchoolType(kind).label)
        return area
    code = area.ljust(6, "0")
    return division_names().get(code, area)


def _default_area(user) -> str:
    scope = scope_for(user)
    if scope.everything:
        return ""
    return scope.area_prefix or ""


def campaign_progress(
    user, campaign_id: int, *, area: str | None = None, today: date | None = None
) -> Progress:
    """The roll-up one level below ``area`` (default: the user's own level): the nation's
    provinces, a province's cities, a city's counties, a county's schools; a school
    account sees its own school. Each row: schools, signed off and overdue; students,
    marked, present, absent, data wrong; percent of students marked. Above the school
    level and past the deadline, the overdue schools are listed too (the first
    ``OVERDUE_LISTED``). An area outside the user's scope is not found. Two queries (three
    with the overdue list), whatever the number of rows."""
    require_permission(user, Permission.CAMPAIGN_VIEW)
    campaign = access_campaign(user, campaign_id)
    today = today or clock.today()
    scope = scope_for(user)
    base = SchoolConfirmation.objects.filter(campaign=campaign)
    if scope.school_id is not None:
        rows = _school_rows(base.filter(school_id=scope.school_id), campaign, today)
        total = _sum(rows, "")
        total.name = rows[0].name if rows else ""
        return Progress(campaign, "", SCHOOLS, rows, total, [], today)
    if area is None:
        area = _default_area(user)
    if not valid_area(area) or not scope.covers_area(area):
        raise NotFound("area")
    level = child_level(area)
    shown = base.filter(area_code__startswith=area) if area else base
    if level.kind == SCHOOLS:
        rows = _school_rows(shown, campaign, today)
    else:
        rows = _area_rows(shown, level.width, campaign, today)
    total = _sum(rows, area)
    own = _default_area(user)
    trail = [
        (a, area_name(a)) for a in parent_areas(area) if a.startswith(own) and len(a) >= len(own)
    ]
    overdue: list[ProgressRow] = []
    if level.kind != SCHOOLS and total.overdue:
        overdue = _school_rows(
            shown.exclude(state=ConfirmationState.SIGNED_OFF),
            campaign,
            today,
            limit=OVERDUE_LISTED,
        )
        for row in overdue:
            row.place = area_name(row.place)
    return Progress(campaign, area, level.kind, rows, total, trail, today, overdue)


def _sum(rows: list[ProgressRow], area: str) -> ProgressRow:
    total = ProgressRow(key=area, name=area_name(area))
    for row in rows:
        total.add(row)
    return total


COUNTS = {
    "students": Sum("total"),
    "unmarked": Sum("unmarked"),
    "present": Sum("present"),
    "absent": Sum("absent"),
    "data_wrong": Sum("data_wrong"),
}


def _area_rows(
    confirmations: QuerySet[SchoolConfirmation], width: int, campaign: Campaign, today: date
) -> list[ProgressRow]:
    late = is_overdue(deadline=campaign.deadline, today=today, signed_off=False)
    grouped = (
        confirmations.annotate(key=Substr("area_code", 1, width))
        .values("key")
        .annotate(
            schools=Count("pk"),
            signed_off=Count("pk", filter=Q(state=ConfirmationState.SIGNED_OFF)),
            **COUNTS,
        )
        .order_by("key")
    )
    rows = []
    for item in grouped:
        students, unmarked = item["students"] or 0, item["unmarked"] or 0
        rows.append(
            ProgressRow(
                key=item["key"],
                name=area_name(item["key"]),
                schools=item["schools"],
                signed_off=item["signed_off"],
                overdue=item["schools"] - item["signed_off"] if late else 0,
                students=students,
                marked=students - unmarked,
                present=item["present"] or 0,
                absent=item["absent"] or 0,
                data_wrong=item["data_wrong"] or 0,
                unmarked=unmarked,
            )
        )
    return rows


def _school_rows(
    confirmations: QuerySet[SchoolConfirmation],
    campaign: Campaign,
    today: date,
    *,
    limit: int | None = None,
) -> list[ProgressRow]:
    rows = []
    values = confirmations.values(
        "school_id",
        "area_code",
        "state",
        "total",
        "present",
        "absent",
        "data_wrong",
        "unmarked",
        name=F("school__name"),
        code=F("school__code"),
    ).order_by("area_code", "school__code")
    for item in values[:limit] if limit is not None else values:
        signed = item["state"] == ConfirmationState.SIGNED_OFF
        rows.append(
            ProgressRow(
                key=item["code"],
                name=item["name"],
                schools=1,
                signed_off=1 if signed else 0,
                overdue=1
                if is_overdue(deadline=campaign.deadline, today=today, signed_off=signed)
                else 0,
                students=item["total"],
                marked=item["total"] - item["unmarked"],
                present=item["present"],
                absent=item["absent"],
                data_wrong=item["data_wrong"],
                unmarked=item["unmarked"],
                school_id=item["school_id"],
                state=item["state"],
                place=item["area_code"],
            )
        )
    return rows


# ---------------------------------------------------------------- a school's roll


@dataclass
class Roll:
    campaign: Campaign
    confirmation: SchoolConfirmation
    marks: QuerySet[RollMark]
    grades: list[tuple[str, str]]  # (code, name) of the grades on the roll
    classes: list[str]


def school_roll(
    user,
    campaign_id: int,
    school_id: int,
    *,
    grade: str = "",
    class_name: str = "",
    mark: str = "",
    search: str = "",
) -> Roll:
    """A school's roll in a campaign: its marks with the students' number, name, grade and
    class (one joined query), filtered by grade, class, mark and a search text (part of
    the name or of the student number), ordered by grade, class and number. The school itself and the authorities above it (personal data: student
    view needed too); anyone else: not found."""
    require_permission(user, Permission.CAMPAIGN_VIEW)
    require_permission(user, Permission.STUDENT_VIEW)
    campaign = access_campaign(user, campaign_id)
    confirmation = access_confirmation(user, campaign, school_id)
    marks = (
        RollMark.objects.filter(campaign=campaign, school_id=school_id)
        .select_related("student", "student__record")
        .order_by(
            "student__record__grade",
            "student__record__class_name",
            "student__number_masked",
            "student_id",
        )
    )
    if grade:
        marks = marks.filter(student__record__grade=grade)
    if class_name:
        marks = marks.filter(student__record__class_name=class_name)
    if mark in Mark.values:
        marks = marks.filter(mark=mark)
    if search := search.strip():
        marks = marks.filter(name_or_number(search, field="student"))
    pairs = list(
        RollMark.objects.filter(campaign=campaign, school_id=school_id)
        .values_list("student__record__grade", "student__record__class_name")
        .distinct()
        .order_by("student__record__grade", "student__record__class_name")
    )
    grades = list(dict.fromkeys(g for g, _c in pairs))
    classes = sorted({c for g, c in pairs if c and (not grade or g == grade)})
    return Roll(
        campaign=campaign,
        confirmation=confirmation,
        marks=marks,
        grades=[(g, str(GRADES[g].name) if g in GRADES else g) for g in grades],
        classes=classes,
    )


def school_confirmations(user, campaign_ids: list[int]) -> dict[int, SchoolConfirmation]:
    """A school account's confirmation in each of the campaigns (one query)."""
    school_id = scope_for(user).school_id
    if school_id is None:
        return {}
    rows = SchoolConfirmation.objects.filter(campaign_id__in=campaign_ids, school_id=school_id)
    return {row.campaign_id: row for row in rows}


# ---------------------------------------------------------------- for the detectors


def marks_for_detectors(
    *,
    campaign_id: int | None = None,
    mark: str | None = Mark.ABSENT,
    area_prefix: str = "",
    school_id: int | None = None,
) -> QuerySet[RollMark]:
    """System read (no account): the marks the empty-record and person–record-separation
    detectors take as evidence — by default every "absent" mark, narrowed by campaign,
    mark, area prefix or school. Each row: campaign, student, school, mark, note, when
    and by whom."""
    rows = RollMark.objects.all()
    if campaign_id is not None:
        rows = rows.filter(campaign_id=campaign_id)
    if mark is not None:
        rows = rows.filter(mark=mark)
    if area_prefix:
        rows = rows.filter(area_code__startswith=area_prefix)
    if school_id is not None:
        rows = rows.filter(school_id=school_id)
    return rows
