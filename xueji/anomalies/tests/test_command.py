"""``manage.py link_duplicates``: the pairs found, printed and written as CSV."""

import csv
import json
from datetime import date
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests import factories

pytestmark = pytest.mark.django_db


def test_the_command_prints_and_writes_the_duplicate_pair(make_student, tmp_path):
    # given: a student registered again without an ID, a mistyped given name
    guardian_number = factories.resident_id("440106", date(1984, 2, 2), "2")
    first = make_student(name="王梓涵", born=date(2016, 5, 3), guardian_id_number=guardian_number)
    again = make_student(
        name="王梓函",
        born=date(2016, 5, 3),
        id_type="",
        id_number="",
        guardian_id_number=guardian_number,
    )
    make_student(name="陈一诺", born=date(2015, 2, 11))
    make_student(name="刘欣怡", born=date(2014, 7, 30))
    out_path = tmp_path / "pairs.csv"
    stdout = StringIO()

    # when
    call_command("link_duplicates", "--backend", "duckdb", "--out", str(out_path), stdout=stdout)

    # then
    text = stdout.getvalue()
    assert "王梓涵" in text and "王梓函" in text
    assert "有相同的监护人身份证件号，出生日期相同" in text
    with out_path.open(encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    assert [(int(r["student_id_l"]), int(r["student_id_r"])) for r in rows] == [
        tuple(sorted((first.pk, again.pk)))
    ]
    assert "guardian_same_born" in rows[0]["reasons"].split()
    assert float(rows[0]["probability"]) >= 0.99


def test_a_threshold_outside_zero_and_one_is_refused():
    with pytest.raises(CommandError):
        call_command("link_duplicates", "--threshold", "1.5", stdout=StringIO())


def test_a_model_estimated_by_the_command_is_used_by_the_next_run(make_student, tmp_path):
    """--estimate-u saves u values per level; --model links with them."""
    for day in range(1, 13):
        make_student(born=date(2016, 3, day))
    model_path = tmp_path / "model.json"

    call_command("link_duplicates", "--estimate-u", str(model_path), stdout=StringIO())
    stdout = StringIO()
    call_command("link_duplicates", "--model", str(model_path), stdout=stdout)

    model = json.loads(model_path.read_text(encoding="utf-8"))
    assert "birth_date_exact" in model["u"]
    assert "12 条记录" in stdout.getvalue()
