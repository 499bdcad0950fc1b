"""Reads of the semester roll are audited with the students on the page shown (issue 10,
finding 3): the roll page (one page of it, and a search in it) and the roll API."""

import re

import pytest

from tests.read_audit import last_request_ids, read_events, read_ids
from xueji.verification import views
from xueji.verification.tests.test_views import client_for, roll_url

pytestmark = pytest.mark.django_db


def rows_on(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'id="roll-(\d+)"', html)]


@pytest.fixture
def opened(schools, enrol, open_campaign, school_user):
    students = enrol(schools.tianhe, 3)
    campaign = open_campaign("44")
    client = client_for(school_user)
    assert client.post(f"/verification/{campaign.pk}/roll/open/").status_code == 302
    return campaign, students, client


def test_the_roll_page_names_the_students_of_the_page_shown(opened, schools, monkeypatch):
    campaign, students, client = opened
    monkeypatch.setattr(views, "ROLL_PAGE_SIZE", 2)
    first = client.get(roll_url(campaign, schools.tianhe)).content.decode()
    shown = rows_on(first)
    assert len(shown) == 2
    assert read_ids() == shown
    assert read_events().first().detail["campaign"] == campaign.pk
    second = client.get(roll_url(campaign, schools.tianhe) + "?page=2").content.decode()
    assert last_request_ids() == rows_on(second)
    assert sorted(shown + rows_on(second)) == sorted(s.pk for s in students)


def test_a_search_in_the_roll_names_what_it_found(opened, schools):
    campaign, students, client = opened
    target = students[1]
    page = client.get(roll_url(campaign, schools.tianhe), {"q": target.name}).content.decode()
    assert target.pk in rows_on(page)
    assert read_ids() == rows_on(page)
    assert {e.detail["kind"] for e in read_events()} == {"search"}


def test_the_roll_api_names_the_students_answered(opened, schools):
    campaign, students, client = opened
    url = f"/api/campaigns/{campaign.pk}/schools/{schools.tianhe.pk}/roll"
    answer = client.get(url, {"limit": 2}).json()
    assert [item["student_id"] for item in answer["items"]] == sorted(s.pk for s in students)[:2]
    assert read_ids() == [item["student_id"] for item in answer["items"]]
    rest = client.get(url, {"limit": 2, "after": answer["next_cursor"]}).json()["items"]
    assert last_request_ids() == [item["student_id"] for item in rest]
