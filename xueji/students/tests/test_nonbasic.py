"""Province-defined non-basic schemas: filing, versions, and registration against them."""

import pytest

from tests.factories import registration
from xueji.errors import Forbidden, ValidationFailed
from xueji.students.models import NonBasicInfo, NonBasicSchema
from xueji.students.nonbasic import DEFAULT_SCHEMA_FIELDS, SchemaField, clean_non_basic
from xueji.students.selectors import nonbasic_schemas_visible
from xueji.students.services import nonbasic_schema_file, student_register

pytestmark = pytest.mark.django_db

GUANGDONG_FIELDS = [
    *DEFAULT_SCHEMA_FIELDS,
    {"key": "school_bus", "label": "乘坐校车", "type": "bool"},
    {"key": "dialect", "label": "家庭常用语言", "type": "text", "required": True, "max_length": 20},
]


def test_default_schema_is_filed_by_migration():
    default = NonBasicSchema.objects.get(province_code="", version=1)
    assert [f["key"] for f in default.fields][:3] == ["address", "household_address", "phone"]


def test_province_files_versions_and_registration_follows_its_schema(
    province_user, school_user, school
):
    first = nonbasic_schema_file(actor=province_user, fields=GUANGDONG_FIELDS, note="广东省方案")
    second = nonbasic_schema_file(actor=province_user, fields=GUANGDONG_FIELDS)
    assert (first.province_code, first.version, second.version) == ("44", 1, 2)

    with pytest.raises(ValidationFailed) as caught:
        student_register(actor=school_user, data=registration(school))
    assert ("dialect", "required") in {(e.field, e.code) for e in caught.value.errors}

    student = student_register(
        actor=school_user, data=registration(school, dialect="粤语", school_bus="是")
    ).student
    info = NonBasicInfo.objects.get(student=student)
    assert info.schema_id == second.pk
    assert info.data["dialect"] == "粤语" and info.data["school_bus"] is True


def test_other_province_keeps_the_default(province_user, other_school_user, other_school):
    nonbasic_schema_file(actor=province_user, fields=GUANGDONG_FIELDS)
    student = student_register(actor=other_school_user, data=registration(other_school)).student
    assert NonBasicInfo.objects.get(student=student).schema.province_code == ""


def test_visibility_of_filed_schemas(province_user, national_user, other_school_user):
    nonbasic_schema_file(actor=province_user, fields=GUANGDONG_FIELDS)
    assert {s.province_code for s in nonbasic_schemas_visible(national_user)} == {"", "44"}
    assert {s.province_code for s in nonbasic_schemas_visible(province_user)} == {"", "44"}
    assert {s.province_code for s in nonbasic_schemas_visible(other_school_user)} == {""}


def test_county_cannot_file_a_schema(county_user):
    with pytest.raises(Forbidden):
        nonbasic_schema_file(actor=county_user, fields=GUANGDONG_FIELDS)


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ([{"key": "Bad Key", "label": "x"}], "schema.key"),
        ([{"key": "a", "label": "x"}, {"key": "a", "label": "y"}], "schema.key_duplicate"),
        ([{"key": "a", "label": "x", "type": "blob"}], "schema.type"),
    ],
)
def test_bad_schema_definitions_are_refused(province_user, fields, code):
    with pytest.raises(ValidationFailed) as caught:
        nonbasic_schema_file(actor=province_user, fields=fields)
    assert code in {e.code for e in caught.value.errors}
    assert not NonBasicSchema.objects.filter(province_code="44").exists()


def test_clean_non_basic_types():
    fields = [
        SchemaField("flag", "标志", "bool"),
        SchemaField("tel", "电话", "phone"),
        SchemaField("kind", "类型", "choice", code_table="disability"),
    ]
    clean, errors = clean_non_basic(
        fields,
        {"flag": "是", "tel": "020-12345678", "kind": "4"},
        code_sets={"disability": frozenset({"4"})},
    )
    assert errors == [] and clean == {"flag": True, "tel": "020-12345678", "kind": "4"}
    _, errors = clean_non_basic(
        fields,
        {"flag": "也许", "tel": "123", "kind": "9"},
        code_sets={"disability": frozenset({"4"})},
    )
    assert [e.code for e in errors] == ["bool", "phone", "code_unknown"]
