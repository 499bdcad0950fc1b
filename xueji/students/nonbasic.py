"""Non-basic information (非基础学籍信息): province-defined, versioned field schemas.

A schema is a list of field definitions. Each province files its own version; the
national default below applies where a province has filed none.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass

from django.utils.translation import gettext as _

from xueji.errors import FieldError

FIELD_TYPES = ("text", "phone", "bool", "choice", "date")

DEFAULT_SCHEMA_FIELDS: list[dict] = [
    {
        "key": "address",
        "label": "现住址",
        "label_en": "Current address",
        "type": "text",
        "max_length": 200,
    },
    {
        "key": "household_address",
        "label": "户籍地址",
        "label_en": "Household address",
        "type": "text",
        "max_length": 200,
    },
    {"key": "phone", "label": "联系电话", "label_en": "Phone", "type": "phone"},
    # The school the student came from (its code or full name): the duplicate linkage
    # weighs a second registration naming the first record's school.
    {
        "key": "previous_school",
        "label": "原就读学校",
        "label_en": "Previous school",
        "type": "text",
        "max_length": 100,
    },
    {"key": "left_behind", "label": "留守儿童", "label_en": "Left-behind child", "type": "bool"},
    {"key": "migrant", "label": "随迁子女", "label_en": "Migrant child", "type": "bool"},
    {"key": "orphan", "label": "孤儿", "label_en": "Orphan", "type": "bool"},
    {
        "key": "disability",
        "label": "残疾类型",
        "label_en": "Disability type",
        "type": "choice",
        "code_table": "disability",
    },
    {
        "key": "regular_class",
        "label": "随班就读",
        "label_en": "Learning in regular class",
        "type": "bool",
    },
    {"key": "only_child", "label": "独生子女", "label_en": "Only child", "type": "bool"},
]
# Guardians and family members are structured (students.Guardian): their ID numbers serve
# sign-in and the duplicate check. The schema says how many are required.
DEFAULT_GUARDIANS_REQUIRED = 0

_TRUE = {"1", "是", "true", "True", "TRUE", "y", "Y", "yes", "是的", "√"}
_FALSE = {"0", "否", "false", "False", "FALSE", "n", "N", "no", "", "×"}
_PHONE_RE = re.compile(r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8}(-\d{1,6})?)$")


@dataclass(frozen=True)
class SchemaField:
    key: str
    label: str
    type: str
    required: bool = False
    max_length: int = 200
    code_table: str = ""


def schema_fields(raw: list[dict]) -> list[SchemaField]:
    return [
        SchemaField(
            key=f["key"],
            label=f.get("label", f["key"]),
            type=f.get("type", "text"),
            required=bool(f.get("required", False)),
            max_length=int(f.get("max_length", 200)),
            code_table=f.get("code_table", ""),
        )
        for f in raw
    ]


def validate_schema_definition(raw: list[dict]) -> list[FieldError]:
    """A province's submitted schema: keys unique and well-formed, known types."""
    errors = []
    seen = set()
    for index, definition in enumerate(raw):
        key = str(definition.get("key", ""))
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", key):
            errors.append(
                FieldError(
                    f"fields[{index}].key",
                    "schema.key",
                    _("字段标识须为小写字母开头的字母、数字或下划线"),
                    key,
                )
            )
        elif key in seen:
            errors.append(
                FieldError(f"fields[{index}].key", "schema.key_duplicate", _("字段标识重复"), key)
            )
        seen.add(key)
        if definition.get("type", "text") not in FIELD_TYPES:
            errors.append(
                FieldError(
                    f"fields[{index}].type",
                    "schema.type",
                    _("未知的字段类型"),
                    str(definition.get("type")),
                )
            )
    return errors


def clean_non_basic(
    fields: list[SchemaField], data: dict, *, code_sets: Mapping[str, frozenset[str]]
) -> tuple[dict, list[FieldError]]:
    """Values for the schema's fields, typed; unknown keys in ``data`` are ignored."""
    clean: dict = {}
    errors: list[FieldError] = []
    for field in fields:
        raw = data.get(field.key)
        value = "" if raw is None else str(raw).strip()
        if isinstance(raw, bool):
            value = "1" if raw else "0"
        if not value:
            if field.required:
                errors.append(FieldError(field.key, "required", _("%s不能为空") % field.label))
            elif field.type == "bool":
                clean[field.key] = False
            continue
        if field.type == "bool":
            if value in _TRUE:
                clean[field.key] = True
            elif value in _FALSE:
                clean[field.key] = False
            else:
                errors.append(
                    FieldError(field.key, "bool", _("%s应填“是”或“否”") % field.label, value)
                )
        elif field.type == "phone":
            if _PHONE_RE.match(value):
                clean[field.key] = value
            else:
                errors.append(
                    FieldError(
                        field.key,
                        "phone",
                        _("%s格式不正确（手机号11位或区号-号码）") % field.label,
                        value,
                    )
                )
        elif field.type == "choice":
            allowed = code_sets.get(field.code_table, frozenset())
            if value in allowed:
                clean[field.key] = value
            else:
                errors.append(
                    FieldError(
                        field.key, "code_unknown", _("%s代码不在代码表中") % field.label, value
                    )
                )
        elif len(value) > field.max_length:
            errors.append(
                FieldError(
                    field.key,
                    "too_long",
                    _("%(label)s不能超过%(n)d个字符")
                    % {"label": field.label, "n": field.max_length},
                    value[:40],
                )
            )
        else:
            clean[field.key] = value
    return clean, errors
