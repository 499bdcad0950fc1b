"""Reads of change requests are audited with the student each request is about (issue 10,
finding 3): the list (the requests on the page), one request (page and API), the queue of
the handling unit, the form to file a change for a student."""

import pytest

from tests.read_audit import read_events, read_ids
from xueji.changes.tests import test_views as views_tests
from xueji.changes.tests.test_views import client_of

pytestmark = pytest.mark.django_db

# fixtures of the pages' tests, shared
at_2026 = views_tests.at_2026
chengdu = views_tests.chengdu
media = views_tests.media
transfer = views_tests.transfer


def test_list_page_and_api_name_the_students_of_the_requests_shown(
    transfer, other_school_user, make_student
):
    make_student(name="没有申请")  # not on the list: no read of it
    client = client_of(other_school_user)
    assert client.get("/changes/").status_code == 200
    assert read_ids() == [transfer.student_id]
    answer = client.get("/api/changes").json()["items"]
    assert [item["id"] for item in answer] == [transfer.pk]
    assert read_ids(channel="api") == [transfer.student_id]


def test_detail_page_and_api_name_the_student(transfer, chengdu):
    client = client_of(chengdu)
    assert client.get(f"/changes/{transfer.pk}/").status_code == 200
    assert client.get(f"/api/changes/{transfer.pk}").status_code == 200
    events = list(read_events())
    assert [(e.object_id, e.channel, e.detail["change_request"]) for e in events] == [
        (str(transfer.student_id), "web", transfer.pk),
        (str(transfer.student_id), "api", transfer.pk),
    ]


def test_the_queue_page_and_api_name_the_students_waiting(transfer, chengdu):
    client = client_of(chengdu)
    assert client.get("/changes/queue/").status_code == 200
    assert read_ids() == [transfer.student_id]
    assert client.get("/api/changes/queue").status_code == 200
    assert read_ids(channel="api") == [transfer.student_id]


def test_the_filing_form_for_a_student_is_a_read(school_user, make_student):
    student = make_student()
    response = client_of(school_user).get(f"/changes/new/?student={student.pk}")
    assert response.status_code == 200
    assert read_ids() == [student.pk]
