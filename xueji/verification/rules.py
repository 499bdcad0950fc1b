"""Semester confirmation (核准, Art. 25) as declared tables and pure rules: states, marks,
scopes, the roll-up levels, deadlines and what a sign-off needs. No database, no clock."""

from dataclasses import dataclass
from datetime import date

from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from xueji.errors import FieldError


class Semester(models.IntegerChoices):
    """The autumn semester runs September–January, the spring one February–August
    (xueji.changes.rules.semester_of); the school year is named by its autumn."""

    AUTUMN = 1, _("秋季学期")
    SPRING = 2, _("春季学期")


class CampaignState(models.TextChoices):
    OPEN = "open", _("进行中")
    CLOSED = "closed", _("已结束")


class ConfirmationState(models.TextChoices):
    NOT_STARTED = "not_started", _("未开始")
    IN_PROGRESS = "in_progress", _("核准中")
    SIGNED_OFF = "signed_off", _("已签报")


class Mark(models.TextChoices):
    PRESENT = "present", _("在校")
    ABSENT = "absent", _("缺")
    DATA_WRONG = "data_wrong", _("信息有误")
    UNMARKED = "unmarked", _("未标记")


# The marks a clerk sets by hand (``unmarked`` undoes a mark).
SETTABLE_MARKS = frozenset(Mark.values)
# Marks that say the student is at the school: present, or there with wrong data.
SEEN_MARKS = (Mark.PRESENT, Mark.DATA_WRONG)

# Most students one marking call may name (a whole school goes through "all present except").
MARK_BATCH_LIMIT = 5000

# A school year a campaign may name: the registry's working range.
FIRST_SCHOOL_YEAR = 2000
LAST_SCHOOL_YEAR = 2100

# What the warnings say about the subject of a campaign warning.
OVERDUE_KIND = "campaign.overdue"
CONFIRMATION_SUBJECT = "verification.confirmation"


def semester_label(school_year: int, semester: int) -> str:
    """ "2025–2026 学年秋季学期"."""
    return gettext("%(start)d–%(end)d 学年%(semester)s") % {
        "start": school_year,
        "end": school_year + 1,
        "semester": Semester(semester).label,
    }


def default_title(*, school_year: int, semester: int, scope_name: str) -> str:
    """The title a campaign gets when none is given (stored data: always Chinese)."""
    season = "秋季" if semester == Semester.AUTUMN else "春季"
    return f"{scope_name}{school_year}–{school_year + 1}学年{season}学期学籍核准"


def scopes_overlap(province_a: str, province_b: str) -> bool:
    """A national campaign ('') overlaps every province's; two provinces' never do."""
    return not province_a or not province_b or province_a == province_b


def campaign_errors(
    *, school_year: int | None, semester: int | None, deadline: date | None, today: date
) -> list[FieldError]:
    """What an opening must satisfy: a known semester, a school year in range, and a
    deadline neither past nor beyond the end of that semester's school year."""
    errors = []
    if semester not in Semester.values:
        errors.append(
            FieldError("semester", "campaign.semester", gettext("学期须为 1（秋季）或 2（春季）。"))
        )
    if school_year is None or not FIRST_SCHOOL_YEAR <= school_year <= LAST_SCHOOL_YEAR:
        errors.append(
            FieldError(
                "school_year", "campaign.school_year", gettext("请填写有效的学年（如 2025）。")
            )
        )
    if deadline is None:
        errors.append(
            FieldError("deadline", "campaign.deadline_missing", gettext("请填写截止日期。"))
        )
    elif deadline < today:
        errors.append(
            FieldError("deadline", "campaign.deadline_past", gettext("截止日期不能早于今天。"))
        )
    elif school_year is not None and deadline > date(school_year + 1, 8, 31):
        errors.append(
            FieldError(
                "deadline",
                "campaign.deadline_after_year",
                gettext("截止日期不能晚于该学年结束（次年 8 月 31 日）。"),
            )
        )
    return errors


def is_overdue(*, deadline: date, today: date, signed_off: bool) -> bool:
    """Late from the day after the deadline until signed off (the deadline day itself is fine)."""
    return not signed_off and today > deadline


def progress_percent(*, marked: int, students: int, schools: int, signed_off: int) -> int:
    """Whole percent of students marked, rounded down: 100 only when every one is. A unit
    without students counts as done once all its schools have signed off."""
    if students <= 0:
        return 100 if schools and signed_off == schools else 0
    return min(100, marked * 100 // students)


# ---------------------------------------------------------------- roll-up levels

SCHOOLS = "schools"


@dataclass(frozen=True)
class Level:
    """One level of the progress roll-up: rows are grouped by the first ``width`` digits
    of the school's area code, or are single schools (``width`` 0, ``kind`` schools)."""

    kind: str  # "province", "city", "county" or SCHOOLS
    width: int


def child_level(area: str) -> Level:
    """The rows shown for an area prefix: the nation's provinces, a province's cities, a
    city's counties, a county's schools. The separately listed schools (area '99…') have
    no cities or counties: their rows are the schools themselves."""
    if area.startswith("99"):
        return Level(SCHOOLS, 0)
    return {
        0: Level("province", 2),
        2: Level("city", 4),
        4: Level("county", 6),
    }.get(len(area), Level(SCHOOLS, 0))


def valid_area(area: str) -> bool:
    """A drill-down target: '' (the nation) or a 2-, 4- or 6-digit code prefix."""
    return area == "" or (area.isdigit() and len(area) in (2, 4, 6))


def parent_areas(area: str) -> list[str]:
    """The drill-down trail above ``area``: '' first, then each shorter prefix."""
    if area.startswith("99"):
        return [""] if area else []
    return [area[:width] for width in (0, 2, 4) if width < len(area)]


# ---------------------------------------------------------------- sign-off


@dataclass(frozen=True)
class SignOffRefusal:
    code: str
    message: str


def sign_off_refusal(*, unmarked: int, unexplained: int) -> SignOffRefusal | None:
    """A school signs off only when every student on its roll is marked and every student
    marked "data wrong" is explained: a change or correction filed for the student since
    the campaign opened, or a note on the mark saying why (see docs/semester.md)."""
    if unmarked:
        return SignOffRefusal(
            "confirmation.unmarked",
            gettext("尚有 %d 名学生未标记，请全部标记后再签报。") % unmarked,
        )
    if unexplained:
        return SignOffRefusal(
            "confirmation.data_wrong_unexplained",
            gettext("有 %d 名学生标为“信息有误”，但既未提交变动申请或信息更正，也未填写说明。")
            % unexplained,
        )
    return None
