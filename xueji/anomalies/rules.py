"""Anomalies (Art. 25) as declared tables and pure rules: the kinds of finding, their
states and resolutions, the configurable thresholds, the age band of a grade, the
survivor a merge suggests, and the lowest unit covering two units. No database, no clock:
dates are passed in."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _

from xueji.schools.rules import GRADES


class FindingKind(models.TextChoices):
    DUPLICATE = "duplicate", _("重复学籍")
    EMPTY_RECORD = "empty_record", _("空挂学籍")
    SEPARATION = "separation", _("人籍分离")
    STEP_OVERDUE = "step_overdue", _("变动环节逾期")
    DEATH_OVERDUE = "death_overdue", _("死亡未及时注销")
    AGE_GRADE = "age_grade", _("年龄与年级不符")
    TEMPORARY_NUMBER = "temporary_number", _("临时学籍号长期未转正")
    CLOSED_SCHOOL = "closed_school", _("撤并学校仍有在籍学生")


# Kinds whose subject is a pair of records (``other_student`` set).
PAIR_KINDS = frozenset({FindingKind.DUPLICATE})


class FindingState(models.TextChoices):
    OPEN = "open", _("待处理")
    RESOLVED = "resolved", _("已解决")
    DISMISSED = "dismissed", _("已排除")


class Resolution(models.TextChoices):
    # The detector no longer sees it: the data were put right.
    AUTO = "auto", _("数据已更正（复查不再发现）")
    MERGED = "merged", _("已合并学籍")
    DIFFERENT_PEOPLE = "different_people", _("确认非同一人")
    DISMISSED = "dismissed", _("核实无误，排除")


class MergeState(models.TextChoices):
    MERGED = "merged", _("已合并")
    UNDONE = "undone", _("已撤销合并")


class Verdict(models.TextChoices):
    DIFFERENT_PEOPLE = "different_people", _("非同一人")


# Evidence sources: each kind's detector fills one or more; a finding stays open while any
# source still sees it.
class Source(models.TextChoices):
    RULE = "rule", _("确定性规则")
    LINKAGE = "linkage", _("概率匹配（Splink）")
    CAMPAIGN = "campaign", _("学期核准")
    SILENCE = "silence", _("长期无记录")
    SIGHTING = "sighting", _("在校名单")
    STEP = "step", _("核办环节")
    DEATH = "death", _("死亡注销")
    AGE = "age", _("年龄")
    NUMBER = "number", _("学籍号")
    SCHOOL = "school", _("学校状态")
    # The registration's duplicate check met candidates outside the clerk's scope and the
    # clerk registered anyway (xueji.students.disclosure): no detector run clears it.
    REGISTRATION = "registration", _("注册查重")


# Which sources each kind has, and which of them the plain ``detect`` run fills (the
# linkage is its own, heavier nightly step).
SOURCES: dict[str, tuple[str, ...]] = {
    FindingKind.DUPLICATE: (Source.RULE, Source.LINKAGE),
    FindingKind.EMPTY_RECORD: (Source.CAMPAIGN, Source.SILENCE),
    FindingKind.SEPARATION: (Source.CAMPAIGN, Source.SIGHTING),
    FindingKind.STEP_OVERDUE: (Source.STEP,),
    FindingKind.DEATH_OVERDUE: (Source.DEATH,),
    FindingKind.AGE_GRADE: (Source.AGE,),
    FindingKind.TEMPORARY_NUMBER: (Source.NUMBER,),
    FindingKind.CLOSED_SCHOOL: (Source.SCHOOL,),
}
DETECT_SOURCES: dict[str, tuple[str, ...]] = {
    kind: tuple(s for s in sources if s != Source.LINKAGE) for kind, sources in SOURCES.items()
}

# Reason codes of the deterministic duplicate rules (stored in the evidence).
RULE_REASONS: dict[str, Any] = {
    "name_same": _("姓名相同"),
    "name_similar": _("姓名相近"),
    "birth_date_same": _("出生日期相同"),
    "sex_same": _("性别相同"),
    "guardian_same": _("监护人身份证件号相同"),
    "id_types_differ": _("证件类型不同或缺证件"),
}


# ---------------------------------------------------------------- thresholds

# Every threshold, with its default; a deployment overrides them in settings.XUEJI.
DEFAULTS: dict[str, Any] = {
    # Empty records: no sign of the student (an event that is not a yearly batch, or a
    # "present" mark at a campaign) for this many months.
    "ANOMALY_SILENT_MONTHS": 12,
    # Separation: attendance-list sightings younger than this many days count.
    "ANOMALY_SIGHTING_DAYS": 180,
    # Age out of line with grade: years below / above the grade's usual age.
    "ANOMALY_AGE_BELOW": 2,
    "ANOMALY_AGE_ABOVE": 3,
    # Schools whose students may be of any age for their grade (special education).
    "ANOMALY_AGE_EXEMPT_SCHOOL_TYPES": ("514",),
    # Temporary L numbers older than this many days.
    "ANOMALY_TEMP_NUMBER_DAYS": 180,
    # A death must be cancelled within this many working days of the date of death.
    "ANOMALY_DEATH_WORKDAYS": 60,
    # The nightly linkage: pairs at or above this match probability become findings for
    # people to review. The model is cautious (a shared guardian is discounted for
    # brothers and sisters), so its probabilities run low: on the benchmark registry of
    # 1,000,000 the pairs at 0.3 are still 99 % true duplicates and hold 99 % of them,
    # against 98 % at 0.9 (docs/benchmarks.md).
    "ANOMALY_LINKAGE_THRESHOLD": 0.3,
}


def threshold(config: Mapping[str, Any], key: str) -> Any:
    """A threshold from the deployment's settings, else its default."""
    return config.get(key, DEFAULTS[key])


# ---------------------------------------------------------------- pairs and semesters


def ordered_pair(a: int, b: int) -> tuple[int, int]:
    """A pair of student ids as stored: (smaller, larger). Refuses a pair of one."""
    if a == b:
        raise ValueError("a pair needs two different students")
    return (a, b) if a < b else (b, a)


def semester_start(school_year: int, semester: int) -> date:
    """The first day of a semester: 1 September (autumn) or 1 February (spring), matching
    xueji.changes.rules.semester_of."""
    return date(school_year, 9, 1) if semester == 1 else date(school_year + 1, 2, 1)


def months_before(day: date, months: int) -> date:
    """The same day ``months`` months earlier (the month's last day when it is shorter)."""
    month_index = day.year * 12 + day.month - 1 - months
    year, month = divmod(month_index, 12)
    month += 1
    for candidate in range(day.day, 27, -1):
        try:
            return date(year, month, candidate)
        except ValueError:
            continue
    return date(year, month, min(day.day, 28))


# ---------------------------------------------------------------- age and grade


def age_on(born: date, day: date) -> int:
    """Full years of age on ``day``."""
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def school_year_start(school_year: int) -> date:
    """The reference day of a school year's ages: 1 September of its autumn."""
    return date(school_year, 9, 1)


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


@dataclass(frozen=True)
class AgeBand:
    """Birth dates in line with a grade: ``earliest`` ≤ birth date ≤ ``latest``."""

    grade: str
    usual_age: int
    earliest: date
    latest: date


def age_band(grade: str, *, reference: date, below: int, above: int) -> AgeBand | None:
    """The birth dates in line with ``grade`` on ``reference``: an age on that day from the
    grade's usual age minus ``below`` to its usual age plus ``above`` (inclusive)."""
    info = GRADES.get(grade)
    if info is None:
        return None
    usual = info.usual_entry_age
    youngest_ok = max(usual - below, 0)
    oldest_ok = usual + above
    # Age ≥ youngest_ok ⟺ born on or before reference − youngest_ok years.
    latest = _years_before(reference, youngest_ok)
    # Age ≤ oldest_ok ⟺ born after reference − (oldest_ok + 1) years.
    earliest = _years_before(reference, oldest_ok + 1) + timedelta(days=1)
    return AgeBand(grade=grade, usual_age=usual, earliest=earliest, latest=latest)


def age_in_line(born: date, grade: str, *, reference: date, below: int, above: int) -> bool:
    band = age_band(grade, reference=reference, below=below, above=above)
    return band is None or band.earliest <= born <= band.latest


# ---------------------------------------------------------------- merges

NUMBER_KIND_RANK = {"G": 0, "J": 1, "L": 2}


def suggest_survivor(records: list[Mapping[str, Any]]) -> int:
    """Which of two records a merge should keep: the formal number (G, then J, before a
    temporary L), then a record still on the roll, then the older registration.

    Each record: ``id``, ``number_kind``, ``on_roll`` (bool), ``registered_at``."""
    ranked = sorted(
        records,
        key=lambda r: (
            NUMBER_KIND_RANK.get(r["number_kind"], 3),
            0 if r["on_roll"] else 1,
            r["registered_at"],
            r["id"],
        ),
    )
    return int(ranked[0]["id"])


# ---------------------------------------------------------------- units


def lowest_common(chain_a: list[int], chain_b: list[int]) -> int | None:
    """The lowest unit on both chains (each a unit id followed by its ancestors' ids)."""
    on_b = set(chain_b)
    for unit_id in chain_a:
        if unit_id in on_b:
            return unit_id
    return None
