"""Searches by ID number or student number never put the number in a URL (issue 10,
finding 1: "ID searches put ID numbers into the access log through ?q="). Pages post their
search form and continue under a token; the API takes the term in a POST body and refuses
it in a query string. The search still finds the student, by G, J or L number and by ID."""

import re
from datetime import date

import pytest
from django.test import Client

from tests.factories import registration
from xueji.accounts.services import api_token_issue
from xueji.students.services import student_register
from xueji.web import search

pytestmark = pytest.mark.django_db


@pytest.fixture
def students(school_user, school):
    """A G student (resident ID) and an L student (no ID yet)."""
    g_data = registration(school, born=date(2016, 9, 1))
    g = student_register(actor=school_user, data=g_data).student
    l_data = registration(school, id_type="", id_number="", born=date(2016, 9, 2))
    temporary = student_register(actor=school_user, data=l_data).student
    return {"g": g, "id": g_data["id_number"], "l": temporary}


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def urls_of(response) -> list[str]:
    """Every URL the exchange touched: the redirect chain and the links of the final page."""
    chain = [url for url, _status in response.redirect_chain]
    links = re.findall(r'(?:href|action|hx-get|hx-post)="([^"]*)"', response.content.decode())
    return chain + links + [response.request["PATH_INFO"] + "?" + response.request["QUERY_STRING"]]


@pytest.mark.parametrize("which", ["g", "id", "l"])
def test_the_student_list_finds_a_number_without_putting_it_in_a_url(students, school_user, which):
    term = students[which] if which == "id" else students[which].number
    student = students["l"] if which == "l" else students["g"]
    client = signed_in(school_user)
    response = client.post("/students/", {"q": term, "grade": ""}, follow=True)
    assert response.status_code == 200
    assert f"/students/{student.pk}/" in response.content.decode()  # found
    for url in urls_of(response):
        assert term not in url and term.lower() not in url
    # The token in the URL stands for the term in this session only.
    token = re.search(r"[?&]s=([^&\"]+)", response.redirect_chain[-1][0]).group(1)
    other = signed_in(school_user).get(f"/students/?s={token}")
    assert f"/students/{student.pk}/" in other.content.decode()  # no filter: the whole list
    assert "s=" in response.redirect_chain[-1][0]


def test_a_number_typed_into_the_url_is_moved_out_of_it(students, school_user):
    """An old bookmark with ?q=<number> still finds the student, and the page the browser
    ends on (its address bar, history and next Referer) no longer carries the number."""
    number = students["g"].number
    response = signed_in(school_user).get(f"/students/?q={number}&state=", follow=True)
    assert response.redirect_chain and response.redirect_chain[0][1] == 303
    final = response.redirect_chain[-1][0]
    assert number not in final and "s=" in final
    assert f"/students/{students['g'].pk}/" in response.content.decode()


def test_a_name_may_still_travel_in_the_url(students, school_user):
    name = students["g"].name
    response = signed_in(school_user).get("/students/", {"q": name})
    assert response.status_code == 200 and not search.is_sensitive(name)


@pytest.mark.parametrize(
    "path", ["/changes/", "/dropouts/", "/anomalies/"], ids=["changes", "dropouts", "queue"]
)
def test_other_search_boxes_post_and_continue_under_a_token(students, county_user, path):
    number = students["g"].number
    client = signed_in(county_user)
    page = client.get(path).content.decode()
    form = re.search(r'<form method="(\w+)"[^>]*role="search"', page)
    assert form is not None and form.group(1) == "post"
    response = client.post(path, {"q": number}, follow=True)
    assert response.status_code == 200
    assert all(number not in url for url in urls_of(response))
    assert "s=" in response.redirect_chain[-1][0]


def test_the_api_takes_a_number_in_the_body_and_refuses_it_in_the_url(students, school_user):
    secret = api_token_issue(actor=school_user, user=school_user, name="t", expires_at=None).secret
    client = Client(headers={"Authorization": f"Bearer {secret}"})
    for term, student in (
        (students["g"].number, students["g"]),
        (students["id"], students["g"]),
        (students["l"].number, students["l"]),
    ):
        found = client.post("/api/students/search", {"q": term}, content_type="application/json")
        assert found.status_code == 200
        assert [item["id"] for item in found.json()["items"]] == [student.pk]
        assert term not in found.content.decode()  # list answers are masked
        refused = client.get("/api/students", {"q": term})
        assert refused.status_code == 422
        assert refused.json()["errors"][0]["code"] == "search.number_in_url"
        assert "/api/students/search" in refused.json()["message"]
    for path in ("/api/changes", "/api/dropouts"):
        assert client.get(path, {"q": students["g"].number}).status_code == 422
        answer = client.post(
            f"{path}/search", {"q": students["g"].number}, content_type="application/json"
        )
        assert answer.status_code == 200
    # A name still works in the query string.
    named = client.get("/api/students", {"q": students["g"].name})
    assert students["g"].pk in [item["id"] for item in named.json()["items"]]
