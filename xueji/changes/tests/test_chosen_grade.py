"""A grade chosen when a transfer was filed follows a yearly promotion that happens while the
request is open, instead of undoing it."""

from types import SimpleNamespace

from xueji.changes.effects import _chosen_grade


def _record(grade: str):
    return SimpleNamespace(grade=grade)


def test_no_grade_chosen_keeps_the_record_grade():
    assert _chosen_grade({}, "13", _record("14")) is None


def test_chosen_grade_applies_as_is_when_the_record_did_not_move():
    assert _chosen_grade({"grade": "13"}, "13", _record("13")) == "13"


def test_chosen_grade_moves_on_with_a_promotion_in_between():
    # Filed in grade 3 asking for grade 3 at the new school; promoted to grade 4 meanwhile.
    assert _chosen_grade({"grade": "13"}, "13", _record("14")) == "14"


def test_a_stage_change_in_between_keeps_the_chosen_grade():
    assert _chosen_grade({"grade": "16"}, "16", _record("21")) == "16"
