"""Validation of school data, shared by the form, the API and the xlsx import."""

from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from xueji.errors import FieldError

from .rules import (
    SEPARATE_AREA_CODES,
    SEPARATELY_LISTED_TYPES,
    ManagingLevel,
    Operator,
    SchoolState,
    SchoolType,
    is_valid_school_code,
)


@dataclass
class CleanSchool:
    code: str
    name: str
    school_type: str
    operator: str
    division_code: str
    area_code: str
    province_code: str
    managing_level: str
    listed_separately: bool
    address: str


# What a school row must carry (the import template's marks and notes follow it):
# key → the condition under which it is required ('' = always).
SCHOOL_REQUIRED: dict[str, str | Promise] = {
    "code": "",
    "name": "",
    "school_type": "",
    "division_code": gettext_lazy("单列管理的学校（学校类型 901、902）不填，其余学校必填"),
}


def clean_school(
    data: dict, *, county_codes: frozenset[str]
) -> tuple[CleanSchool | None, list[FieldError]]:
    errors: list[FieldError] = []

    def text(key: str) -> str:
        value = data.get(key)
        return "" if value is None else str(value).strip()

    code = text("code")
    if not is_valid_school_code(code):
        errors.append(FieldError("code", "school.code_format", _("学校标识码应为10位数字"), code))
    name = text("name")
    if not name:
        errors.append(FieldError("name", "required", _("学校名称不能为空")))
    elif len(name) > 128:
        errors.append(FieldError("name", "too_long", _("学校名称不能超过128个字符"), name))
    school_type = text("school_type")
    if school_type not in SchoolType.values:
        errors.append(
            FieldError("school_type", "school.type_unknown", _("未知的学校类型代码"), school_type)
        )
    operator = text("operator") or Operator.PUBLIC
    if operator not in Operator.values:
        errors.append(
            FieldError(
                "operator",
                "school.operator_unknown",
                _("办学性质应为 1（公办）或 2（民办）"),
                operator,
            )
        )
    managing_level = text("managing_level") or ManagingLevel.COUNTY
    if managing_level not in ManagingLevel.values:
        errors.append(
            FieldError(
                "managing_level", "school.level_unknown", _("未知的学籍主管层级"), managing_level
            )
        )
    listed = school_type in SEPARATELY_LISTED_TYPES
    division_code = text("division_code")
    if listed:
        area_code = SEPARATE_AREA_CODES[SchoolType(school_type)]
        division_code = ""
        managing_level = ManagingLevel.NATIONAL
    else:
        area_code = division_code
        if division_code not in county_codes:
            errors.append(
                FieldError(
                    "division_code",
                    "division.unknown",
                    _("所在区县应为现行有效的县级行政区划代码（6位）"),
                    division_code,
                )
            )
    if errors:
        return None, errors
    return (
        CleanSchool(
            code=code,
            name=name,
            school_type=school_type,
            operator=operator,
            division_code=division_code,
            area_code=area_code,
            province_code=area_code[:2],
            managing_level=managing_level,
            listed_separately=listed,
            address=text("address")[:255],
        ),
        [],
    )


__all__ = ["CleanSchool", "SchoolState", "clean_school"]
