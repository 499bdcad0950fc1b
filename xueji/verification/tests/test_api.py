"""The campaign API: open and list, progress, the roll in keyset pages, marking, all present
except, sign-off with its refusals, close; scope; constant queries on the roll."""

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from xueji.verification.models import Campaign

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def post(client: Client, path: str, body: dict | None = None):
    return client.post(path, body or {}, content_type="application/json")


def test_a_province_opens_and_lists_its_campaign(schools, province_user, other_school_user):
    client = client_for(province_user)
    response = post(
        client,
        "/api/campaigns",
        {"province_code": "44", "school_year": 2026, "semester": 1, "deadline": "2026-12-31"},
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["scope_name"] == "广东省" and body["schools_total"] == 4 and body["state"] == "open"
    assert [c["id"] for c in client.get("/api/campaigns").json()] == [body["id"]]
    assert client_for(other_school_user).get("/api/campaigns").json() == []
    again = post(
        client,
        "/api/campaigns",
        {"province_code": "44", "school_year": 2026, "semester": 1, "deadline": "2026-12-31"},
    )
    assert again.status_code == 409 and again.json()["code"] == "campaign.overlap"


def test_a_county_cannot_open(schools, county_user):
    response = post(
        client_for(county_user),
        "/api/campaigns",
        {"province_code": "44", "school_year": 2026, "semester": 1, "deadline": "2026-12-31"},
    )
    assert response.status_code == 403
    assert not Campaign.objects.exists()


def test_a_clerk_marks_the_roll_and_signs_off(
    schools, enrol, open_campaign, school_user, county_user
):
    a, b, _c = enrol(schools.tianhe, 3)
    campaign = open_campaign("44")
    client = client_for(school_user)
    base = f"/api/campaigns/{campaign.pk}/roll"
    opened = post(client, f"{base}/open")
    assert opened.status_code == 200 and opened.json()["total"] == 3
    marked = post(
        client, f"{base}/marks", {"student_ids": [a.pk], "mark": "absent", "note": "转学未办手续"}
    )
    assert marked.json()["absent"] == 1 and marked.json()["unmarked"] == 2
    refused = post(client, f"{base}/sign-off")
    assert refused.status_code == 409 and refused.json()["code"] == "confirmation.unmarked"
    rest = post(client, f"{base}/all-present", {"except_ids": {str(b.pk): "data_wrong"}})
    assert (rest.json()["present"], rest.json()["data_wrong"], rest.json()["unmarked"]) == (1, 1, 0)
    unexplained = post(client, f"{base}/sign-off")
    assert unexplained.json()["code"] == "confirmation.data_wrong_unexplained"
    assert unexplained.json()["detail"]["unexplained_student_ids"] == [b.pk]
    post(client, f"{base}/marks", {"student_ids": [b.pk], "mark": "data_wrong", "note": "性别有误"})
    signed = post(client, f"{base}/sign-off", {"note": "已核"})
    assert signed.status_code == 200 and signed.json()["state"] == "signed_off"
    # the county sees 100 %
    progress = client_for(county_user).get(f"/api/campaigns/{campaign.pk}/progress").json()
    row = next(r for r in progress["rows"] if r["school_id"] == schools.tianhe.pk)
    assert (row["percent"], row["signed_off"], row["absent"]) == (100, 1, 1)
    assert progress["level"] == "schools" and progress["total"]["students"] == 3


def test_marking_is_validated(schools, enrol, open_campaign, school_user):
    student = enrol(schools.tianhe, 1)[0]
    campaign = open_campaign("44")
    client = client_for(school_user)
    wrong = post(
        client,
        f"/api/campaigns/{campaign.pk}/roll/marks",
        {"student_ids": [student.pk], "mark": "gone"},
    )
    assert wrong.status_code == 422
    empty = post(
        client, f"/api/campaigns/{campaign.pk}/roll/marks", {"student_ids": [], "mark": "present"}
    )
    assert empty.status_code == 422


def test_the_roll_pages_by_student_id(schools, enrol, open_campaign, school_user, county_user):
    students = enrol(schools.tianhe, 5)
    campaign = open_campaign("44")
    post(client_for(school_user), f"/api/campaigns/{campaign.pk}/roll/open")
    url = f"/api/campaigns/{campaign.pk}/schools/{schools.tianhe.pk}/roll"
    client = client_for(county_user)
    first = client.get(url, {"limit": 3}).json()
    assert [i["student_id"] for i in first["items"]] == sorted(s.pk for s in students)[:3]
    assert first["items"][0]["mark"] == "unmarked" and first["items"][0]["grade"] == "13"
    second = client.get(url, {"limit": 3, "after": first["next_cursor"]}).json()
    assert len(second["items"]) == 2 and second["next_cursor"] is None
    assert first["confirmation"]["total"] == 5


def test_the_roll_takes_the_same_queries_for_more_students(
    schools, enrol, open_campaign, school_user
):
    enrol(schools.tianhe, 2)
    campaign = open_campaign("44")
    client = client_for(school_user)
    post(client, f"/api/campaigns/{campaign.pk}/roll/open")
    url = f"/api/campaigns/{campaign.pk}/schools/{schools.tianhe.pk}/roll"
    client.get(url)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    few = queries()
    enrol(schools.tianhe, 5)
    post(client, f"/api/campaigns/{campaign.pk}/roll/open")
    assert len(client.get(url).json()["items"]) == 7
    assert queries() == few


def test_scope_of_the_api(
    schools, enrol, open_campaign, school_user, other_school_user, county_user
):
    student = enrol(schools.tianhe, 1)[0]
    campaign = open_campaign("")
    other = client_for(other_school_user)
    # another school: the roll is not found, and marking names a student not on its roll
    assert (
        other.get(f"/api/campaigns/{campaign.pk}/schools/{schools.tianhe.pk}/roll").status_code
        == 404
    )
    marked = post(
        other,
        f"/api/campaigns/{campaign.pk}/roll/marks",
        {"student_ids": [student.pk], "mark": "absent"},
    )
    assert marked.status_code == 404
    # the county reads, but does not mark
    county = client_for(county_user)
    assert county.get(f"/api/campaigns/{campaign.pk}/progress?area=4401").status_code == 404
    assert (
        post(
            county,
            f"/api/campaigns/{campaign.pk}/roll/marks",
            {"student_ids": [student.pk], "mark": "absent"},
        ).status_code
        == 403
    )
    assert post(county, f"/api/campaigns/{campaign.pk}/close").status_code == 403


def test_the_nation_closes(schools, open_campaign, national_user):
    campaign = open_campaign("")
    response = post(client_for(national_user), f"/api/campaigns/{campaign.pk}/close")
    assert response.status_code == 200 and response.json()["state"] == "closed"
