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


def _twice(make_student, name: str, again_name: str, born: date):
    """A student and the same child registered again without an ID."""
    guardian = factories.resident_id("440106", date(1984, 2, born.day), "2")
    first = make_student(name=name, born=born, guardian_id_number=guardian)
    again = make_student(
        name=again_name, born=born, id_type="", id_number="", guardian_id_number=guardian
    )
    return first, again


def test_m_estimated_from_labelled_pairs_is_saved_and_kept_with_the_u_model(make_student, tmp_path):
    """--labels CSV --estimate-m PATH, starting from a --model with u values."""
    # given: two known pairs, the second a mistyped given name
    one = _twice(make_student, "王梓涵", "王梓涵", date(2016, 5, 3))
    two = _twice(make_student, "李子轩", "李子杰", date(2015, 8, 9))
    make_student(name="陈一诺", born=date(2015, 2, 11))
    labels = tmp_path / "labels.csv"
    labels.write_text(
        "student_id_a,student_id_b\n"
        + "".join(f"{a.pk},{b.pk}\n" for a, b in (one, two))
        + "999999,1\n",  # a student who is not there
        encoding="utf-8",
    )
    u_model = tmp_path / "u.json"
    call_command("link_duplicates", "--estimate-u", str(u_model), stdout=StringIO())
    out = tmp_path / "model.json"
    stdout = StringIO()

    # when
    call_command(
        "link_duplicates",
        "--model",
        str(u_model),
        "--labels",
        str(labels),
        "--estimate-m",
        str(out),
        stdout=stdout,
    )

    # then
    model = json.loads(out.read_text(encoding="utf-8"))
    assert model["m_pairs"] == 2
    assert model["u"] == json.loads(u_model.read_text(encoding="utf-8"))["u"]
    # One pair of two has a one-character difference (built-in m 0.07).
    assert model["m"]["given_one_char"] > 0.07
    text = stdout.getvalue()
    assert "1 对中有学生不在比对范围内" in text and "据 2 对标注估计 m 值" in text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("a,b\n1,x\n", "第 2 行：须为两个学生编号"),
        ("a,b\n3,4\n5\n", "第 3 行：须为两个学生编号"),
        ("a,b\n7,7\n", "第 2 行：两个学生编号相同"),
        ("a,b\n\n", "没有可用的标注记录对"),
    ],
)
def test_bad_label_files_are_refused_with_the_line(make_student, tmp_path, content, message):
    make_student(born=date(2016, 3, 1))
    make_student(born=date(2016, 3, 2))
    labels = tmp_path / "labels.csv"
    labels.write_text(content, encoding="utf-8")
    out = tmp_path / "model.json"

    with pytest.raises(CommandError, match=message):
        call_command(
            "link_duplicates", "--labels", str(labels), "--estimate-m", str(out), stdout=StringIO()
        )

    assert not out.exists()


def test_labels_and_estimate_m_go_together(tmp_path):
    with pytest.raises(CommandError, match="须同时给出"):
        call_command("link_duplicates", "--estimate-m", str(tmp_path / "m.json"), stdout=StringIO())
