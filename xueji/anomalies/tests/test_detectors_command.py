"""The operator's ``detect`` command and the nightly task: each kind by hand with progress
and counts, all of them, and the Splink linkage ingested as duplicate findings."""

import io
from datetime import date

import pytest
from django.core.management import CommandError, call_command

from xueji.anomalies.models import Finding
from xueji.anomalies.rules import FindingKind
from xueji.anomalies.services import linkage_available, linkage_run
from xueji.anomalies.tasks import detect_anomalies_task

from .planting import hold, register

pytestmark = pytest.mark.django_db


@pytest.fixture
def held(monkeypatch):
    return hold(monkeypatch)


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("detect", *args, stdout=out)
    return out.getvalue()


def test_one_kind_by_hand_with_progress_and_counts(held, school):
    register(school, born=date(2012, 1, 5))
    output = run("age_grade", "--progress")
    assert "… age_grade/age" in output
    assert "年龄与年级不符：发现 1，新增 1" in output
    assert "年龄与年级不符：发现 1，新增 0，更新 0，不变 1" in run("age_grade")


def test_all_kinds_without_the_linkage(held, school):
    register(school, name="黄小明")
    register(school, name="黄小明", with_id=False)
    output = run("--all", "--no-linkage")
    for label in FindingKind.labels:
        assert str(label) in output
    assert Finding.objects.filter(kind=FindingKind.DUPLICATE).count() == 1


def test_a_kind_must_be_named_and_known(db):
    with pytest.raises(CommandError):
        run()
    with pytest.raises(CommandError):
        run("nonsense")
    with pytest.raises(CommandError):
        run("--today", "2025-13-01", "age_grade")


def test_the_nightly_task_runs_every_detector(held, school):
    register(school, born=date(2012, 1, 5))
    result = detect_anomalies_task.call(with_linkage=False)
    assert {run["kind"] for run in result["detectors"]} == set(FindingKind.values)
    assert result["linkage"] is None
    assert Finding.objects.filter(kind=FindingKind.AGE_GRADE).count() == 1


@pytest.mark.skipif(not linkage_available(), reason="splink is not installed")
def test_the_splink_linkage_on_duckdb_becomes_duplicate_findings(held, school):
    """End to end: the registry read, linked on DuckDB, and the pairs ingested."""
    kept = register(school, name="欧阳思琪", born=date(2016, 4, 12))
    again = register(school, name="欧阳思淇", born=date(2016, 4, 12), with_id=False)
    for name in ("张伟", "王芳", "李娜", "刘洋", "陈静", "杨磊"):
        register(school, name=name, born=date(2015, 1, 1))
    counts = linkage_run(backend="duckdb", threshold_probability=0.5)
    assert counts is not None
    pairs = {
        (f.student_id, f.other_student_id): f
        for f in Finding.objects.filter(kind=FindingKind.DUPLICATE)
    }
    assert (kept.pk, again.pk) in pairs
    evidence = pairs[(kept.pk, again.pk)].evidence["linkage"]
    assert evidence["probability"] >= 0.5
    assert evidence["backend"] == "duckdb"
    assert "birth_date_exact" in evidence["reasons"]
