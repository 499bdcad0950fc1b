"""The columns of the import files: key, Chinese header, code table, and whether required.

The same list builds the downloadable template, maps headers when reading, and labels the
error report, so the three can never disagree. Which student columns are required (and
when) comes from ``xueji.students.validation.REQUIRED``, the rule the validation itself
follows, so the template's marks and notes cannot disagree with it either.
"""

from dataclasses import dataclass, replace

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from xueji.divisions.models import CodeTable
from xueji.schools.validation import SCHOOL_REQUIRED
from xueji.students.validation import REQUIRED


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    required: bool = False
    code_table: str = ""
    text: bool = True  # formatted as text in the template (IDs, codes)
    width: int = 14
    note: str | Promise = ""
    aliases: tuple[str, ...] = ()
    # Required only in some rows: the condition, in words ('' = whenever required). A file
    # may leave out a column that is required only conditionally.
    required_if: str | Promise = ""

    @property
    def header_required(self) -> bool:
        """Whether a file must have this column at all."""
        return self.required and not self.required_if


_STUDENT_COLUMNS: tuple[Column, ...] = (
    Column("school_code", "学校标识码", width=14, note=_("10位学校标识码")),
    Column("name", "姓名", width=12, aliases=("学生姓名",)),
    Column("former_name", "曾用名"),
    Column("name_pinyin", "姓名拼音", note=_("可不填，系统自动生成")),
    Column("sex", "性别", note=_("1 男，2 女"), width=8),
    Column("birth_date", "出生日期", note="YYYY-MM-DD", width=12),
    Column("birthplace_code", "出生地", note=_("6位行政区划代码")),
    Column("native_place_code", "籍贯", note=_("6位行政区划代码")),
    Column(
        "ethnicity", "民族", code_table=CodeTable.ETHNICITY, note=_("GB 3304 两位代码"), width=8
    ),
    Column(
        "nationality",
        "国籍/地区",
        code_table=CodeTable.COUNTRY,
        note=_("ISO 3166 三位字母，默认 CHN"),
        width=10,
    ),
    Column(
        "id_type",
        "身份证件类型",
        code_table=CodeTable.ID_TYPE,
        note=_("1 居民身份证 … 9 其他"),
        width=10,
    ),
    Column(
        "id_number",
        "身份证件号",
        width=22,
        note=_("请以文本格式填写"),
        aliases=("身份证号", "证件号码"),
    ),
    Column("id_valid_until", "证件有效期", note=_("YYYY-MM-DD 或 长期")),
    Column("hmt_code", "港澳台侨外", code_table=CodeTable.HMT, width=10),
    Column("household_place_code", "户口所在地", note=_("6位行政区划代码")),
    Column("household_type", "户口性质", code_table=CodeTable.HOUSEHOLD_TYPE, width=10),
    Column("health", "健康状况", code_table=CodeTable.HEALTH, width=10),
    Column("grade", "年级", code_table=CodeTable.GRADE, note=_("11 一年级 … 33 高三"), width=8),
    Column("class_name", "班级", width=10),
    Column("entry_date", "入学年月", note="YYYY-MM", width=10),
    Column("entry_mode", "入学方式", code_table=CodeTable.ENTRY_MODE, width=10),
    Column(
        "attendance",
        "就读方式",
        code_table=CodeTable.ATTENDANCE,
        note=_("1 走读，2 住校"),
        width=10,
    ),
    Column("guardian_name", "监护人姓名", width=12),
    Column("guardian_relation", "监护人关系", code_table=CodeTable.RELATION, width=10),
    Column("guardian_id_type", "监护人证件类型", code_table=CodeTable.ID_TYPE, width=10),
    Column("guardian_id_number", "监护人证件号", width=22),
    Column("guardian_phone", "监护人电话", width=14),
    Column("address", "现住址", width=30),
    Column("phone", "联系电话", width=14),
    Column("left_behind", "留守儿童", note=_("是/否"), width=8),
    Column("migrant", "随迁子女", note=_("是/否"), width=8),
    Column("orphan", "孤儿", note=_("是/否"), width=8),
    Column("disability", "残疾类型", code_table=CodeTable.DISABILITY, width=10),
    Column("regular_class", "随班就读", note=_("是/否"), width=8),
)


def _with_requirements(
    columns: tuple[Column, ...], required: dict[str, str | Promise]
) -> tuple[Column, ...]:
    return tuple(
        replace(c, required=c.key in required, required_if=required.get(c.key, "")) for c in columns
    )


STUDENT_COLUMNS = _with_requirements(_STUDENT_COLUMNS, REQUIRED)

_SCHOOL_COLUMNS: tuple[Column, ...] = (
    Column("code", "学校标识码", width=14),
    Column("name", "学校名称", width=30),
    Column("school_type", "学校类型", code_table=CodeTable.SCHOOL_TYPE, width=12),
    Column(
        "operator", "办学性质", code_table=CodeTable.OPERATOR, note=_("1 公办，2 民办"), width=10
    ),
    Column("division_code", "所在区县", note=_("6位县级行政区划代码"), width=12),
    Column("managing_level", "学籍主管层级", note=_("county/city/province，默认 county"), width=12),
    Column("address", "地址", width=30),
)
SCHOOL_COLUMNS = _with_requirements(_SCHOOL_COLUMNS, SCHOOL_REQUIRED)


COLUMNS_BY_KIND = {"students": STUDENT_COLUMNS, "schools": SCHOOL_COLUMNS}


def header_map(columns: tuple[Column, ...]) -> dict[str, str]:
    """Header text (and aliases, and the keys themselves) → column key."""
    mapping: dict[str, str] = {}
    for column in columns:
        mapping[column.header] = column.key
        mapping[column.key] = column.key
        for alias in column.aliases:
            mapping[alias] = column.key
    return mapping


def label_of(columns: tuple[Column, ...], key: str) -> str:
    for column in columns:
        if column.key == key:
            return column.header
    # Nested keys (guardians[0].name) fall back to the column they start with.
    for column in columns:
        if key.startswith(column.key):
            return column.header
    return key


# Columns whose cells are personal data that error reports show masked (see
# ``models.masked_cell``): by key, each with how it is masked.
_SENSITIVE_KEYS = {
    "id_number": "number",
    "guardian_id_number": "number",
    "number": "number",
    "student_number": "number",
    "phone": "number",
    "guardian_phone": "number",
    "address": "address",
    "left_behind": "flag",
    "migrant": "flag",
    "orphan": "flag",
    "disability": "flag",
    "regular_class": "flag",
}
_SENSITIVE_BY_NAME = {
    **_SENSITIVE_KEYS,
    **{
        column.header: _SENSITIVE_KEYS[column.key]
        for column in STUDENT_COLUMNS  # a school's address is not personal data
        if column.key in _SENSITIVE_KEYS
    },
    "学籍号": "number",
}


def sensitive_kind(column: str) -> str:
    """'number', 'address', 'flag' for a sensitive column (header or key), else ''."""
    return _SENSITIVE_BY_NAME.get(column, "")
