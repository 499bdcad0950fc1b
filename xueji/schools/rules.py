"""School types, stages and grades: the fixed national tables the domain logic relies on.

The same codes are shipped as reference data (``divisions/data/codes``) for drop-downs and
imports; this module is the source for logic.
"""

from dataclasses import dataclass

from django.db import models
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


class SchoolType(models.TextChoices):
    PRIMARY = "211", _("小学")
    JUNIOR = "311", _("初级中学")
    NINE_YEAR = "312", _("九年一贯制学校")
    TWELVE_YEAR = "345", _("十二年一贯制学校")
    COMPLETE_SECONDARY = "341", _("完全中学")
    SENIOR = "342", _("高级中学")
    SPECIAL_EDUCATION = "514", _("特殊教育学校")
    SPECIALISED = "371", _("专门学校")
    OVERSEAS_CHINESE = "901", _("海外中国学校")
    HKMO_MAINLAND_CURRICULUM = "902", _("港澳内地课程学校")


class Stage(models.TextChoices):
    PRIMARY = "1", _("小学")
    JUNIOR = "2", _("初中")
    SENIOR = "3", _("高中")


class Operator(models.TextChoices):
    PUBLIC = "1", _("公办")
    PRIVATE = "2", _("民办")


class ManagingLevel(models.TextChoices):
    COUNTY = "county", _("县级")
    CITY = "city", _("地市级")
    PROVINCE = "province", _("省级")
    NATIONAL = "national", _("国家级")


class SchoolState(models.TextChoices):
    OPEN = "open", _("正常办学")
    MERGED = "merged", _("已合并")
    CLOSED = "closed", _("已撤销")


STAGES_BY_TYPE: dict[str, tuple[str, ...]] = {
    SchoolType.PRIMARY: ("1",),
    SchoolType.JUNIOR: ("2",),
    SchoolType.NINE_YEAR: ("1", "2"),
    SchoolType.TWELVE_YEAR: ("1", "2", "3"),
    SchoolType.COMPLETE_SECONDARY: ("2", "3"),
    SchoolType.SENIOR: ("3",),
    SchoolType.SPECIAL_EDUCATION: ("1", "2", "3"),
    SchoolType.SPECIALISED: ("2", "3"),
    SchoolType.OVERSEAS_CHINESE: ("1", "2", "3"),
    SchoolType.HKMO_MAINLAND_CURRICULUM: ("1", "2", "3"),
}

# Art. 27: listed separately, under the national-level unit, outside every province.
SEPARATELY_LISTED_TYPES = frozenset(
    {SchoolType.OVERSEAS_CHINESE, SchoolType.HKMO_MAINLAND_CURRICULUM}
)
# The pseudo area code of separately listed schools: '99' is no province code, so they
# fall outside every province's scope and inside only the national level's.
SEPARATE_AREA_CODES = {
    SchoolType.OVERSEAS_CHINESE: "990100",
    SchoolType.HKMO_MAINLAND_CURRICULUM: "990200",
}
SEPARATE_PREFIX = "99"


@dataclass(frozen=True)
class Grade:
    code: str
    stage: str
    year: int
    name: str | Promise
    usual_entry_age: int


def _grade(code: str, name: str | Promise, age: int) -> Grade:
    return Grade(code=code, stage=code[0], year=int(code[1]), name=name, usual_entry_age=age)


GRADES: dict[str, Grade] = {
    g.code: g
    for g in [
        _grade("11", _("一年级"), 6),
        _grade("12", _("二年级"), 7),
        _grade("13", _("三年级"), 8),
        _grade("14", _("四年级"), 9),
        _grade("15", _("五年级"), 10),
        _grade("16", _("六年级"), 11),
        _grade("21", _("初一"), 12),
        _grade("22", _("初二"), 13),
        _grade("23", _("初三"), 14),
        _grade("24", _("初四"), 15),
        _grade("31", _("高一"), 15),
        _grade("32", _("高二"), 16),
        _grade("33", _("高三"), 17),
    ]
}


def stages_for(school_type: str) -> tuple[str, ...]:
    return STAGES_BY_TYPE.get(school_type, ())


def grade_allowed(school_type: str, grade_code: str) -> bool:
    """A grade is allowed at a school when the school's type offers the grade's stage."""
    grade = GRADES.get(grade_code)
    return grade is not None and grade.stage in stages_for(school_type)


def is_valid_school_code(code: str) -> bool:
    """学校标识码: ten digits, the first of which is 1–9 (national numbering practice)."""
    return len(code) == 10 and code.isdigit() and code[0] != "0"
