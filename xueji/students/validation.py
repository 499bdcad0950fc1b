"""Validation of a registration: one function for the form, the API and the bulk import.

``clean_registration`` takes loosely typed input (strings from forms and csv, native cells
from xlsx), checks every rule, and returns either a typed ``CleanRegistration`` or the
list of broken rules with field, code and Chinese message. It never touches the database:
the code tables come in a ``CodeBook`` loaded once per request or per import.
"""

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import partial

from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from xueji.divisions.models import CodeItem, CodeTable
from xueji.divisions.refdata import known_area_codes
from xueji.errors import FieldError
from xueji.schools.rules import GRADES

from .names import name_key, name_pinyin, name_problem
from .nonbasic import DEFAULT_SCHEMA_FIELDS, SchemaField, clean_non_basic, schema_fields
from .rules import IdType, validate_id

# Every input key, in the order of the import template.
BASIC_KEYS = (
    "school_code",
    "name",
    "former_name",
    "name_pinyin",
    "sex",
    "birth_date",
    "birthplace_code",
    "native_place_code",
    "ethnicity",
    "nationality",
    "id_type",
    "id_number",
    "id_valid_until",
    "hmt_code",
    "household_place_code",
    "household_type",
    "health",
    "grade",
    "class_name",
    "entry_date",
    "entry_mode",
    "attendance",
)
GUARDIAN_KEYS = (
    "guardian_name",
    "guardian_relation",
    "guardian_id_type",
    "guardian_id_number",
    "guardian_phone",
)
ID_TYPES_WITH_BIRTH = {
    IdType.RESIDENT_ID,
    IdType.RESIDENCE_PERMIT,
}  # What a registration must carry, in one place: the registration form's * marks (and the
# correction form's), the import template's 必填 marks and notes, and the "cannot be
# empty" refusals of ``clean_registration`` all follow it (a test checks each key).
# key → the condition under which the field is required ('' = always).
REQUIRED: dict[str, str | Promise] = {
    "school_code": "",
    "name": "",
    "sex": "",
    "birth_date": gettext_lazy("填写了居民身份证号或居住证号时可不填，取证件号中的出生日期"),
    "ethnicity": gettext_lazy("国籍/地区为中国（CHN）时必填"),
    "grade": "",
    "entry_date": "",
    "guardian_relation": gettext_lazy("填写了监护人时必填"),
}

_SEX_WORDS = {"1": "1", "男": "1", "m": "1", "M": "1", "2": "2", "女": "2", "f": "2", "F": "2"}
_DATE_RE = re.compile(r"^(\d{4})[-/.年]?(\d{1,2})[-/.月]?(\d{1,2})日?$")
_MONTH_RE = re.compile(r"^(\d{4})[-/.年]?(\d{1,2})月?(?:[-/.](\d{1,2})日?)?$")
_CLASS_RE = re.compile(r"^[\w\-（）()·]{1,32}$")
_PINYIN_RE = re.compile(r"[A-Za-zü: ]{1,128}")
_GUARDIAN_PHONE_RE = re.compile(r"1[3-9]\d{9}|0\d{2,3}-?\d{7,8}")
_ID_TYPES = frozenset(IdType.values)
# Field labels go into messages only when a rule is broken: translated lazily, so that a
# valid row (the bulk import checks millions) costs no gettext lookup.
_LABELS: dict[str, Promise] = {
    "id_number": gettext_lazy("身份证件号"),
    "guardian_id_number": gettext_lazy("监护人身份证件号"),
    "ethnicity": gettext_lazy("民族"),
    "hmt_code": gettext_lazy("港澳台侨外"),
    "health": gettext_lazy("健康状况"),
    "household_type": gettext_lazy("户口性质"),
    "entry_mode": gettext_lazy("入学方式"),
    "attendance": gettext_lazy("就读方式"),
    "birthplace_code": gettext_lazy("出生地"),
    "native_place_code": gettext_lazy("籍贯"),
    "household_place_code": gettext_lazy("户口所在地"),
}


@dataclass(frozen=True)
class CodeBook:
    """The code tables a registration is checked against, loaded once."""

    codes: Mapping[str, frozenset[str]]
    area_known: Callable[[str], bool]
    schema: tuple[SchemaField, ...]

    def has(self, table: str, code: str) -> bool:
        return code in self.codes.get(table, frozenset())

    @classmethod
    def load(cls, *, schema_fields_raw: list[dict] | None = None) -> "CodeBook":
        codes: dict[str, set[str]] = {}
        for table, code in CodeItem.objects.filter(active=True).values_list("table", "code"):
            codes.setdefault(table, set()).add(code)
        areas = known_area_codes()
        return cls(
            codes={k: frozenset(v) for k, v in codes.items()},
            area_known=areas.__contains__,
            schema=tuple(schema_fields(schema_fields_raw or DEFAULT_SCHEMA_FIELDS)),
        )


@dataclass
class CleanGuardian:
    name: str
    relation: str
    id_type: str
    id_number: str
    phone: str


@dataclass
class CleanRegistration:
    school_code: str
    name: str
    former_name: str
    name_pinyin: str
    name_key: str
    sex: str
    birth_date: date
    birthplace_code: str
    native_place_code: str
    ethnicity: str
    nationality: str
    id_type: str
    id_number: str  # normalised, '' when none
    id_valid_until: date | None
    hmt_code: str
    household_place_code: str
    household_type: str
    health: str
    grade: str
    stage: str
    class_name: str
    entry_date: date
    entry_mode: str
    attendance: str
    guardians: list[CleanGuardian] = field(default_factory=list)
    non_basic: dict = field(default_factory=dict)


# Fields typed as codes, dates or numbers: full-width digits and letters (１１４４…, typed
# with a Chinese input method) mean their ASCII forms. Names, addresses and free text are
# kept as typed (xueji/students/names.py says why).
_CODE_KEYS = frozenset(
    {
        "school_code",
        "sex",
        "birth_date",
        "birthplace_code",
        "native_place_code",
        "ethnicity",
        "nationality",
        "id_type",
        "id_valid_until",
        "hmt_code",
        "household_place_code",
        "household_type",
        "health",
        "grade",
        "entry_date",
        "entry_mode",
        "attendance",
        "guardian_relation",
        "guardian_id_type",
        "guardian_phone",
        "phone",
        "disability",
    }
)


def code_text(value) -> str:
    """A code-like cell as text: NFKC (full-width → ASCII), stripped; an xlsx number loses
    its ``.0``."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value)
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    return text.strip()


def _text(data: Mapping, key: str) -> str:
    if key in _CODE_KEYS:
        return code_text(data.get(key))
    value = data.get(key)
    if type(value) is str:
        return value.strip()  # csv cells and form fields: the common case first
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def parse_date(value) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip() if value is not None else ""
    match = _DATE_RE.match(text)
    if not match:
        return None
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None


def parse_month(value) -> date | None:
    """Entry year-month (YYYY-MM, also a full date): the first of that month."""
    if isinstance(value, datetime | date):
        return date(value.year, value.month, 1)
    text = str(value).strip() if value is not None else ""
    match = _MONTH_RE.match(text)
    if not match:
        return None
    try:
        return date(int(match[1]), int(match[2]), 1)
    except ValueError:
        return None


def _check_id_cell(
    data: Mapping, key: str, errors: list[FieldError], label: str | Promise
) -> str | None:
    """An ID typed into Excel as a number has already lost its last digits: refuse it."""
    value = data.get(key)
    if isinstance(value, int | float) and not isinstance(value, bool):
        errors.append(
            FieldError(
                key,
                "id.numeric_cell",
                _(
                    "%s在表格中被存为数字，超过15位的数字已丢失精度；请将该列设为“文本”格式后重新填写"
                )
                % label,
                f"{value:.0f}" if isinstance(value, float) else str(value),
            )
        )
        return None
    return _text(data, key)


def clean_registration(
    data: Mapping,
    *,
    book: CodeBook,
    today: date,
    schema: tuple[SchemaField, ...] | list[SchemaField] | None = None,
) -> tuple[CleanRegistration | None, list[FieldError]]:
    """Check every rule; ``schema`` is the province's non-basic schema (default: the book's)."""
    errors: list[FieldError] = []
    add = errors.append
    text = partial(_text, data)

    school_code = text("school_code")
    if not school_code:
        add(FieldError("school_code", "required", _("学校标识码不能为空")))

    name = _text(data, "name") if not isinstance(data.get("name"), str) else data["name"].strip()
    problem = name_problem(name)
    if problem:
        add(FieldError("name", "name.invalid", problem, name))
    former_name = text("former_name")
    if former_name and name_problem(former_name):
        add(
            FieldError(
                "former_name",
                "name.invalid",
                _("曾用名：%s") % name_problem(former_name),
                former_name,
            )
        )

    sex_raw = text("sex")
    sex = _SEX_WORDS.get(sex_raw, "")
    if not sex:
        add(FieldError("sex", "sex.invalid", _("性别应为 1（男）或 2（女）"), sex_raw))

    birth_raw = data.get("birth_date")
    birth_date = parse_date(birth_raw) if birth_raw not in (None, "") else None
    if birth_raw not in (None, "") and birth_date is None:
        add(
            FieldError(
                "birth_date",
                "date.invalid",
                _("出生日期不是有效日期（格式 YYYY-MM-DD）"),
                str(birth_raw),
            )
        )
    elif birth_date is not None and birth_date > today:
        add(FieldError("birth_date", "date.future", _("出生日期不能晚于今天"), str(birth_raw)))
    elif birth_date is not None and birth_date.year < today.year - 40:
        add(
            FieldError(
                "birth_date", "date.too_old", _("出生日期过早，不符合中小学生年龄"), str(birth_raw)
            )
        )

    nationality = text("nationality").upper() or "CHN"
    if not book.has(CodeTable.COUNTRY, nationality):
        add(
            FieldError(
                "nationality",
                "code_unknown",
                _("国籍/地区代码不在 ISO 3166 代码表中（应为3位字母，如 CHN）"),
                nationality,
            )
        )

    id_type = text("id_type")
    id_number_raw = _check_id_cell(data, "id_number", errors, _LABELS["id_number"])
    if id_number_raw and not id_type:
        id_type = IdType.RESIDENT_ID
    id_number = ""
    if id_type and id_type not in _ID_TYPES:
        add(FieldError("id_type", "code_unknown", _("身份证件类型代码不正确"), id_type))
    elif id_number_raw:
        check = validate_id(id_type, id_number_raw, today=today, area_known=book.area_known)
        if not check.ok:
            add(FieldError("id_number", check.code, check.message, id_number_raw))
        else:
            id_number = check.number
            if check.birth_date and id_type in ID_TYPES_WITH_BIRTH:
                if birth_date is None and birth_raw in (None, ""):
                    birth_date = check.birth_date
                elif birth_date is not None and birth_date != check.birth_date:
                    add(
                        FieldError(
                            "birth_date",
                            "id.birth_mismatch",
                            _("出生日期与身份证件号中的出生日期（%s）不一致")
                            % check.birth_date.isoformat(),
                            str(birth_raw),
                        )
                    )
            if check.sex and sex and check.sex != sex and id_type in ID_TYPES_WITH_BIRTH:
                add(
                    FieldError(
                        "sex", "id.sex_mismatch", _("性别与身份证件号第17位所示性别不一致"), sex_raw
                    )
                )
    elif id_type in (
        IdType.HKMO_PERMIT,
        IdType.TW_PERMIT,
        IdType.PASSPORT,
        IdType.FOREIGN_PERMANENT,
        IdType.RESIDENCE_PERMIT,
    ):
        add(FieldError("id_number", "required", _("已选择证件类型，证件号不能为空")))

    if birth_date is None and not any(e.field == "birth_date" for e in errors):
        add(FieldError("birth_date", "required", _("出生日期不能为空")))

    id_valid_raw = data.get("id_valid_until")
    id_valid_until = None
    if id_valid_raw not in (None, ""):
        id_valid_until = parse_date(id_valid_raw)
        if id_valid_until is None and str(id_valid_raw).strip() not in ("长期", "长期有效"):
            add(
                FieldError(
                    "id_valid_until", "date.invalid", _("证件有效期不是有效日期"), str(id_valid_raw)
                )
            )

    def coded(
        key: str, table: str, label: str | Promise, *, required: bool = False, default: str = ""
    ) -> str:
        value = text(key) or default
        if not value:
            if required:
                add(FieldError(key, "required", _("%s不能为空") % label))
            return ""
        if not book.has(table, value) and value.isdigit() and book.has(table, value.zfill(2)):
            value = value.zfill(2)  # "01" typed into an Excel number cell arrives as 1
        if not book.has(table, value):
            add(FieldError(key, "code_unknown", _("%s代码不在代码表中") % label, value))
        return value

    def area(key: str, label: str | Promise) -> str:
        value = text(key)
        if isinstance(data.get(key), float | int):
            value = str(int(data[key]))
        if value and not (len(value) == 6 and value.isdigit() and book.area_known(value)):
            add(
                FieldError(key, "division.unknown", _("%s应为有效的6位行政区划代码") % label, value)
            )
        return value

    ethnicity = coded(
        "ethnicity", CodeTable.ETHNICITY, _LABELS["ethnicity"], required=nationality == "CHN"
    )
    if ethnicity and len(ethnicity) == 1:
        ethnicity = "0" + ethnicity
    hmt_code = coded("hmt_code", CodeTable.HMT, _LABELS["hmt_code"], default="00")
    health = coded("health", CodeTable.HEALTH, _LABELS["health"], default="10")
    household_type = coded("household_type", CodeTable.HOUSEHOLD_TYPE, _LABELS["household_type"])
    entry_mode = coded("entry_mode", CodeTable.ENTRY_MODE, _LABELS["entry_mode"])
    attendance = coded("attendance", CodeTable.ATTENDANCE, _LABELS["attendance"], default="1")
    birthplace_code = area("birthplace_code", _LABELS["birthplace_code"])
    native_place_code = area("native_place_code", _LABELS["native_place_code"])
    household_place_code = area("household_place_code", _LABELS["household_place_code"])

    grade = text("grade")
    grade_info = GRADES.get(grade)
    if grade_info is None:
        add(
            FieldError(
                "grade",
                "grade.unknown",
                _("年级代码不正确（如 11 表示小学一年级，21 表示初一，31 表示高一）"),
                grade,
            )
        )
    class_name = text("class_name")
    if class_name and not _CLASS_RE.match(class_name):
        add(
            FieldError(
                "class_name",
                "class.invalid",
                _("班级名称最多32个字符，只能包含文字、数字和括号"),
                class_name,
            )
        )

    entry_raw = data.get("entry_date")
    entry_date = parse_month(entry_raw) if entry_raw not in (None, "") else None
    if entry_raw in (None, ""):
        add(FieldError("entry_date", "required", _("入学年月不能为空")))
    elif entry_date is None:
        add(FieldError("entry_date", "date.invalid", _("入学年月格式应为 YYYY-MM"), str(entry_raw)))
    elif entry_date > today:
        add(FieldError("entry_date", "date.future", _("入学年月不能晚于本月"), str(entry_raw)))
    elif birth_date is not None and entry_date <= birth_date:
        add(FieldError("entry_date", "date.order", _("入学年月不能早于出生日期"), str(entry_raw)))

    pinyin = text("name_pinyin")
    if pinyin and not _PINYIN_RE.fullmatch(pinyin):
        add(FieldError("name_pinyin", "pinyin.invalid", _("姓名拼音只能包含字母和空格"), pinyin))

    guardians: list[CleanGuardian] = []
    raw_guardians = data.get("guardians")
    guardian_rows: list[Mapping] = list(raw_guardians) if isinstance(raw_guardians, list) else []
    if not guardian_rows and _text(data, "guardian_name"):
        guardian_rows = [{k.removeprefix("guardian_"): data.get(k) for k in GUARDIAN_KEYS}]
    for index, row in enumerate(guardian_rows[:6]):
        prefix = "guardian_" if not isinstance(raw_guardians, list) else f"guardians[{index}]."
        g_name = _text(row, "name")
        if name_problem(g_name):
            add(
                FieldError(
                    f"{prefix}name",
                    "name.invalid",
                    _("监护人姓名：%s") % name_problem(g_name),
                    g_name,
                )
            )
        relation = _text(row, "relation")
        if not relation:
            add(FieldError(f"{prefix}relation", "required", _("监护人与学生关系不能为空")))
        elif not book.has(CodeTable.RELATION, relation):
            add(
                FieldError(
                    f"{prefix}relation", "code_unknown", _("与学生关系代码不在代码表中"), relation
                )
            )
        g_type = code_text(row.get("id_type"))
        g_number = _check_id_cell(row, "id_number", errors, _LABELS["guardian_id_number"])
        if g_type and g_type not in _ID_TYPES:
            # Checked like the student's own type: validate_id raises on an unknown type.
            add(
                FieldError(
                    f"{prefix}id_type", "code_unknown", _("监护人身份证件类型代码不正确"), g_type
                )
            )
            g_number = ""
        elif g_number:
            g_type = g_type or IdType.RESIDENT_ID
            g_check = validate_id(g_type, g_number, today=today, area_known=book.area_known)
            if not g_check.ok:
                add(
                    FieldError(
                        f"{prefix}id_number", g_check.code, _("监护人") + g_check.message, g_number
                    )
                )
            g_number = g_check.number
        phone = _text(row, "phone")
        if phone and not _GUARDIAN_PHONE_RE.fullmatch(phone):
            add(FieldError(f"{prefix}phone", "phone", _("监护人联系电话格式不正确"), phone))
        guardians.append(
            CleanGuardian(g_name, relation, g_type if g_number else "", g_number or "", phone)
        )

    nested = data.get("non_basic")
    non_basic_source: Mapping = nested if isinstance(nested, Mapping) else data
    non_basic, nb_errors = clean_non_basic(
        list(schema if schema is not None else book.schema),
        dict(non_basic_source),
        code_sets=book.codes,
    )
    errors.extend(nb_errors)

    if errors:
        return None, errors
    assert birth_date is not None and entry_date is not None and grade_info is not None
    return (
        CleanRegistration(
            school_code=school_code,
            name=name,
            former_name=former_name,
            name_pinyin=pinyin.lower() if pinyin else name_pinyin(name),
            name_key=name_key(name),
            sex=sex,
            birth_date=birth_date,
            birthplace_code=birthplace_code,
            native_place_code=native_place_code,
            ethnicity=ethnicity,
            nationality=nationality,
            id_type=id_type if id_number else "",
            id_number=id_number,
            id_valid_until=id_valid_until,
            hmt_code=hmt_code,
            household_place_code=household_place_code,
            household_type=household_type,
            health=health,
            grade=grade,
            stage=grade_info.stage,
            class_name=class_name,
            entry_date=entry_date,
            entry_mode=entry_mode,
            attendance=attendance,
            guardians=guardians,
            non_basic=non_basic,
        ),
        [],
    )
