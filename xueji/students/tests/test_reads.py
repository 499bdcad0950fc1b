"""Every read of a student's data is audited with the ids of the students shown (issue 10,
finding 3): the list and its search (page and API, the ids on the page only), one student's
record, the record as of a day, the correction form, the duplicate check's answers."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import SchoolFactory, make_user
from tests.read_audit import last_request_ids, read_events, read_ids
from xueji.students.tests.test_api import api_payload, client_for

pytestmark = pytest.mark.django_db


def page_ids(html: str) -> list[int]:
    """The students linked from a list page, in the order shown."""
    return [int(n) for n in re.findall(r'href="/students/(\d+)/"', html)]


@pytest.fixture
def five(make_student):
    return [make_student() for _i in range(5)]


def test_list_page_names_exactly_the_students_on_the_page(school_user, five, settings):
    settings.XUEJI = {**settings.XUEJI, "PAGE_SIZE": 2}
    client = client_for(school_user)
    first = client.get(reverse("students:list"))
    shown = page_ids(first.content.decode())
    assert shown == [five[0].pk, five[1].pk]
    assert read_ids() == shown
    assert read_events().first().detail["kind"] == "list"
    second = client.get(reverse("students:list"), {"after": five[1].pk})
    assert last_request_ids() == page_ids(second.content.decode()) == [five[2].pk, five[3].pk]


@pytest.mark.parametrize("via", ["session", "token"])
def test_list_api_names_the_students_of_the_answer(via, school_user, five):
    response = client_for(school_user, via).get("/api/students", {"limit": 3})
    answered = [item["id"] for item in response.json()["items"]]
    assert answered == [s.pk for s in five[:3]]
    assert read_ids() == answered
    assert {e.channel for e in read_events()} == {"api"}


def test_a_county_reads_every_school_of_its_subtree(county_user, make_student, school):
    """Scope both ways: the county's list reads students of two of its schools."""
    neighbour = SchoolFactory(name="天河区第二小学", division_code="440106")
    here = make_student()
    there = make_student(school=neighbour, actor=make_user(neighbour.unit))
    response = client_for(county_user).get("/api/students")
    answered = [item["id"] for item in response.json()["items"]]
    assert sorted(answered) == sorted([here.pk, there.pk])
    assert read_ids() == answered
    assert {e.unit_id for e in read_events()} == {county_user.unit_id}


def test_search_page_and_api_name_the_students_found(school_user, five):
    target = five[3]
    page = client_for(school_user).get(reverse("students:list"), {"q": target.name})
    found = page_ids(page.content.decode())
    assert target.pk in found
    assert read_ids() == found
    assert {e.detail["kind"] for e in read_events()} == {"search"}
    answer = client_for(school_user).get("/api/students", {"q": target.name}).json()["items"]
    assert last_request_ids() == [item["id"] for item in answer]


def test_detail_page_and_api(school_user, five):
    student = five[2]
    client = client_for(school_user)
    assert client.get(reverse("students:detail", args=[student.pk])).status_code == 200
    assert client.get(f"/api/students/{student.pk}").status_code == 200
    events = list(read_events())
    assert [(e.object_id, e.channel, e.detail["view"]) for e in events] == [
        (str(student.pk), "web", "students:detail"),
        (str(student.pk), "api", "api:get_student"),
    ]


def test_as_of_api(school_user, five):
    student = five[0]
    response = client_for(school_user).get(f"/api/students/{student.pk}/as-of?on=2025-01-01")
    assert response.status_code == 200
    [event] = read_events()
    assert event.object_id == str(student.pk)
    assert event.detail == {
        "view": "api:student_as_of",
        "kind": "as_of",
        "count": 1,
        "on": "2025-01-01",
    }


def test_correction_form_is_a_read(school_user, five):
    response = client_for(school_user).get(reverse("students:correct", args=[five[4].pk]))
    assert response.status_code == 200
    assert read_ids() == [five[4].pk]


def test_the_duplicate_checks_answer_is_a_read_of_the_students_it_names(school_user, school):
    client = client_for(school_user)
    payload = api_payload(school, name="欧阳晓东")
    assert client.post("/api/students", payload, content_type="application/json").status_code == 201
    existing = read_events()  # registering returns the new record: no read event
    assert list(existing) == []
    answer = client.post("/api/students/validate", payload, content_type="application/json")
    assert answer.status_code == 200
    from xueji.students.models import Student

    registered = Student.objects.get(name="欧阳晓东")
    assert read_ids() == [registered.pk]
    assert read_events().get().detail["kind"] == "check"


def test_a_check_that_finds_nobody_reads_nobody(school_user, school):
    payload = api_payload(school, name="司马长风")
    answer = client_for(school_user).post(
        "/api/students/validate", payload, content_type="application/json"
    )
    assert answer.json()["ok"] is True
    assert list(read_events()) == []


def test_a_signed_out_visitor_reads_nothing_and_nothing_is_logged(five):
    response = Client().get(reverse("students:detail", args=[five[0].pk]))
    assert response.status_code == 302
    assert list(read_events()) == []
