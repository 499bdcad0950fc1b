"""Reads of findings are audited with the students they show (issue 10, finding 3): the
queue (both students of each pair on the page) and one finding (page and API)."""

import re

import pytest

from tests.read_audit import read_events, read_ids
from xueji.anomalies.models import Finding
from xueji.anomalies.tests import test_queue as queue_tests
from xueji.anomalies.tests.test_queue import client_for

pytestmark = pytest.mark.django_db

# fixtures of the queue's tests, shared
held = queue_tests.held
planted = queue_tests.planted


def expected(findings) -> list[int]:
    """Both students of each finding, in the order of the findings."""
    ids: list[int] = []
    for finding in findings:
        ids.append(finding.student_id)
        if finding.other_student_id:
            ids.append(finding.other_student_id)
    return ids


def shown_on(html: str) -> list[Finding]:
    """The findings linked from a queue page, in the order shown."""
    ids = list(dict.fromkeys(int(n) for n in re.findall(r'href="/anomalies/(\d+)/"', html)))
    return [Finding.objects.get(pk=pk) for pk in ids]


def test_the_queue_page_names_both_students_of_each_finding_on_it(planted, school_user):
    page = client_for(school_user).get("/anomalies/")
    shown = shown_on(page.content.decode())
    assert {f.pk for f in shown} == {planted["school_pair"].pk, planted["aged"].pk}
    ids = read_ids()
    assert ids == expected(shown)
    assert planted["first"].pk in ids and planted["second"].pk in ids
    assert planted["split"][0].pk not in ids


def test_the_queue_api_names_the_students_of_the_findings_answered(planted, school_user):
    answer = client_for(school_user).get("/api/anomalies/findings").json()["items"]
    shown = [Finding.objects.get(pk=item["id"]) for item in answer]
    assert {f.pk for f in shown} == {planted["school_pair"].pk, planted["aged"].pk}
    assert read_ids() == expected(shown)


def test_a_finding_page_and_api_name_both_students(planted, school_user):
    pair = planted["school_pair"]
    client = client_for(school_user)
    assert client.get(f"/anomalies/{pair.pk}/").status_code == 200
    assert client.get(f"/api/anomalies/findings/{pair.pk}").status_code == 200
    events = list(read_events())
    assert [(int(e.object_id), e.channel) for e in events] == [
        (pair.student_id, "web"),
        (pair.other_student_id, "web"),
        (pair.student_id, "api"),
        (pair.other_student_id, "api"),
    ]
    assert {e.detail["finding"] for e in events} == {pair.pk}
