"""The quality page: per semester and kind, what was found, what is still open, resolved
and dismissed — for the unit and everything below it, with the open findings per unit
directly below, as a table and as chart data."""

import json
import re
from datetime import date

import pytest
from django.test import Client

from tests.factories import SchoolFactory, authority_user
from xueji.anomalies.models import Finding
from xueji.anomalies.rules import FindingKind
from xueji.anomalies.selectors import quality
from xueji.anomalies.services import detect_all, detector_run, finding_dismiss
from xueji.schools.rules import SchoolState

from .planting import hold, register

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(monkeypatch, school):
    """Spring 2025: two over-age pupils (one dismissed) and a closed neighbour school in
    another county of the city; autumn 2025: one more over-age pupil, and the spring's
    undismissed one corrected (resolved)."""
    held = hold(monkeypatch, date(2025, 4, 10))
    neighbour = SchoolFactory(division_code="440104", name="越秀区某小学")
    first = register(school, born=date(2012, 1, 5))
    second = register(school, born=date(2011, 6, 1))
    register(neighbour)
    neighbour.state, neighbour.closed_on = SchoolState.CLOSED, date(2025, 3, 31)
    neighbour.save()
    detect_all(kinds=[FindingKind.AGE_GRADE, FindingKind.CLOSED_SCHOOL])
    finding_dismiss(
        actor=authority_user("440106"),
        finding_id=Finding.objects.get(student=second).pk,
        reason="经评估随班就读",
    )
    held.go(date(2025, 10, 15))
    register(school, born=date(2010, 9, 9))
    type(first).objects.filter(pk=first.pk).update(birth_date=date(2017, 3, 8))
    detector_run(kind=FindingKind.AGE_GRADE)
    return held


def test_the_figures_add_up_per_semester_and_kind(history):
    figures = quality(authority_user("440100"))  # the city: both counties
    labels = [row.label for row in figures.rows]
    assert labels == ["2024–2025 学年春季学期", "2025–2026 学年秋季学期"]
    spring, autumn = figures.rows
    age = spring.cells[FindingKind.AGE_GRADE]
    # found in spring: two; one dismissed; the other corrected in autumn (resolved).
    # The dismissal held for spring only: autumn's run raised that pupil again.
    assert (age.found, age.open, age.resolved, age.dismissed) == (2, 0, 1, 1)
    assert spring.cells[FindingKind.CLOSED_SCHOOL].open == 1
    assert autumn.cells[FindingKind.AGE_GRADE].found == 2
    assert figures.totals[FindingKind.AGE_GRADE].found == 4
    assert figures.open_total == sum(row.total.open for row in figures.rows)


def test_the_figures_cover_only_the_units_subtree(history):
    county = quality(authority_user("440106"))
    assert county.totals[FindingKind.CLOSED_SCHOOL].found == 0  # the neighbour is 440104's
    assert county.totals[FindingKind.AGE_GRADE].found == 4
    nowhere = quality(authority_user("510104"))
    assert nowhere.rows == []


def test_an_authority_sees_the_open_findings_per_unit_below(history):
    figures = quality(authority_user("440100"))
    areas = {area.name: area for area in figures.areas}
    assert set(areas) == {"天河区教育局", "越秀区教育局"}
    assert areas["天河区教育局"].open == {FindingKind.AGE_GRADE: 2}
    assert areas["越秀区教育局"].open == {FindingKind.CLOSED_SCHOOL: 1}


def test_the_page_shows_the_table_and_the_chart_data(history):
    client = Client()
    client.force_login(authority_user("440100"))
    response = client.get("/anomalies/quality/")
    assert response.status_code == 200
    html = response.content.decode()
    data = json.loads(
        re.search(
            r'<script id="quality-chart-data" type="application/json">(.*?)</script>', html, re.S
        ).group(1)
    )
    assert data["semesters"] == ["2024–2025 学年春季学期", "2025–2026 学年秋季学期"]
    series = {s["name"]: s["data"] for s in data["series"]}
    assert series["年龄与年级不符"] == [2, 2]
    assert "vendor/echarts/echarts.min.js" in html
    assert "<script>" not in html  # no inline script (CSP)
