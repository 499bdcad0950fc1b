"""What a registration requires is said in one place (``validation.REQUIRED``): the form's *
marks, the import template's marks and notes and the validation's refusals agree, field by
field (issue 11 #4: 民族 was refused when empty but neither marked nor noted)."""

import io
import re
from datetime import date

import openpyxl
import pytest

from tests.factories import SchoolFactory, registration
from xueji.exchange.columns import STUDENT_COLUMNS
from xueji.exchange.reports import build_template
from xueji.students.forms import CorrectionForm, RegistrationForm
from xueji.students.validation import BASIC_KEYS, GUARDIAN_KEYS, REQUIRED, CodeBook
from xueji.students.validation import clean_registration as clean

pytestmark = pytest.mark.django_db

TODAY = date(2026, 3, 10)


@pytest.fixture
def book() -> CodeBook:
    return CodeBook.load()


@pytest.fixture
def row() -> dict:
    return registration(SchoolFactory())


def fields_refused(data: dict, book: CodeBook) -> set[str]:
    _clean, errors = clean(data, book=book, today=TODAY)
    return {error.field for error in errors}


def test_the_base_row_is_valid(row, book):
    assert fields_refused(row, book) == set()


@pytest.mark.parametrize("key", [*BASIC_KEYS, *GUARDIAN_KEYS])
def test_an_empty_field_is_refused_exactly_when_it_is_required(key, row, book):
    """Every key: emptied in a row that meets every condition of ``REQUIRED`` (Chinese
    nationality, a guardian named, no ID number to take the birth date from), it is
    refused if and only if ``REQUIRED`` lists it."""
    data = {**row, "id_type": "", "id_number": "", key: ""}
    if key == "nationality":
        data[key] = ""  # empty nationality means CHN
    refused = fields_refused(data, book)
    assert (key in refused) == (key in REQUIRED), (key, refused)


def test_conditions_lift_the_requirement(row, book):
    assert "ethnicity" not in fields_refused({**row, "ethnicity": "", "nationality": "USA"}, book)
    # The birth date comes from the resident ID number.
    assert "birth_date" not in fields_refused({**row, "birth_date": ""}, book)
    no_guardian = {k: v for k, v in row.items() if not k.startswith("guardian_")}
    assert "guardian_relation" not in fields_refused(no_guardian, book)
    for key, condition in REQUIRED.items():
        assert not condition or re.search(r"[\u4e00-\u9fff]", str(condition)), key


def _marked(html: str) -> set[str]:
    """The fields whose label carries the required mark."""
    return set(re.findall(r'<label[^>]*for="id_(\w+)"[^>]*>[^<]*<span class="xj-required"', html))


def test_the_registration_form_marks_exactly_the_required_fields(client, school_user):
    client.force_login(school_user)
    html = client.get("/students/register/").content.decode()
    form_keys = set(RegistrationForm.IDENTITY + RegistrationForm.IN_SCHOOL)
    form_keys |= set(RegistrationForm.HOUSEHOLD + RegistrationForm.GUARDIAN)
    assert _marked(html) & form_keys == set(REQUIRED)
    assert "国籍/地区为中国（CHN）时必填" in html  # the condition is said next to the field


def test_the_correction_form_marks_what_registration_requires():
    assert CorrectionForm.marked_required - {"reason"} == set(REQUIRED) & set(CorrectionForm.FIELDS)


def test_the_import_template_marks_and_notes_exactly_the_required_columns():
    assert {c.key for c in STUDENT_COLUMNS if c.required} == set(REQUIRED)
    book = openpyxl.load_workbook(io.BytesIO(build_template(STUDENT_COLUMNS)))
    data, notes = book["导入数据"], book["填写说明"]
    headers = [cell.value for cell in next(data.iter_rows(max_row=1))]
    by_header = {c.header: c for c in STUDENT_COLUMNS}
    starred = {by_header[h.rstrip("*")].key for h in headers if h.endswith("*")}
    assert starred == set(REQUIRED)
    said = {}
    for header, required, *_rest in notes.iter_rows(min_row=2, values_only=True):
        said[by_header[header].key] = required or ""
    for key in by_header.values():
        expected = str(REQUIRED[key.key]) or "是" if key.key in REQUIRED else ""
        assert said[key.key] == expected, key.key
    assert said["ethnicity"] == "国籍/地区为中国（CHN）时必填"


# ----------------------------------------------------------------- schools (the same rule)


SCHOOL_ROW = {
    "code": "1144010699",
    "name": "天河区测试小学",
    "school_type": "211",
    "operator": "1",
    "division_code": "440106",
    "managing_level": "county",
    "address": "天河路1号",
}


@pytest.mark.parametrize("key", list(SCHOOL_ROW))
def test_an_empty_school_field_is_refused_exactly_when_it_is_required(key):
    from xueji.schools.validation import SCHOOL_REQUIRED, clean_school

    counties = frozenset({"440106"})
    assert clean_school(SCHOOL_ROW, county_codes=counties)[1] == []
    _clean, errors = clean_school({**SCHOOL_ROW, key: ""}, county_codes=counties)
    assert (key in {e.field for e in errors}) == (key in SCHOOL_REQUIRED), key


def test_the_school_template_marks_exactly_the_required_columns():
    from xueji.exchange.columns import SCHOOL_COLUMNS
    from xueji.schools.validation import SCHOOL_REQUIRED

    assert {c.key for c in SCHOOL_COLUMNS if c.required} == set(SCHOOL_REQUIRED)
    assert {c.key for c in SCHOOL_COLUMNS if c.header_required} == {"code", "name", "school_type"}
