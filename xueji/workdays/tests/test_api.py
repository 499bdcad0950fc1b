"""The calendar over the API."""

from django.test import Client

from xueji.workdays.models import CalendarYear

PAYLOAD = {
    "year": 2027,
    "notice": "国办发明电〔2026〕测试号",
    "holidays": [
        {"start": "2027-01-01", "end": "2027-01-03", "name": "元旦"},
        {"start": "2027-02-06", "end": "2027-02-14", "name": "春节"},
    ],
    "makeup_days": ["2027-02-20"],
}


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_years_lists_the_counts(calendar, county_user):
    response = client_for(county_user).get("/api/workdays/years")
    assert response.status_code == 200
    years = {row["year"]: row for row in response.json()}
    assert set(years) == set(range(2004, 2027))
    assert years[2026] | {"loaded_at": None} == {
        "year": 2026,
        "source": "chinesecalendar",
        "notice": "",
        "loaded_at": None,
        "loaded_by": "system",
        "days": 365,
        "workdays": 248,
        "holidays": 33,
        "makeup_days": 6,
    }


def test_due_across_the_spring_festival(calendar, county_user):
    response = client_for(county_user).get("/api/workdays/due?start=2026-02-12&n=10")
    assert response.status_code == 200
    assert response.json() == {"start": "2026-02-12", "n": 10, "due": "2026-03-04"}


def test_due_into_an_unloaded_year_is_409_calendar_missing(calendar, county_user):
    response = client_for(county_user).get("/api/workdays/due?start=2026-12-24&n=10")
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "calendar.missing"
    assert body["detail"] == {"year": 2027}
    assert "2027 年工作日历未载入" in body["message"]


def test_due_refuses_a_negative_n(calendar, county_user):
    response = client_for(county_user).get("/api/workdays/due?start=2026-02-12&n=-1")
    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "calendar.n_range"


def test_school_accounts_are_refused(calendar, school_user):
    response = client_for(school_user).get("/api/workdays/due?start=2026-02-12&n=10")
    assert response.status_code == 403


def test_national_loads_a_year_then_due_reaches_into_it(calendar, national_user):
    client = client_for(national_user)
    response = client.post("/api/workdays/years", PAYLOAD, content_type="application/json")
    assert response.status_code == 201
    body = response.json()
    assert (body["year"], body["source"], body["days"], body["makeup_days"]) == (
        2027,
        "notice",
        365,
        1,
    )
    due = client.get("/api/workdays/due?start=2026-12-24&n=10").json()
    assert due["due"] == "2027-01-08"
    again = client.post("/api/workdays/years", PAYLOAD, content_type="application/json")
    assert again.status_code == 409
    assert again.json()["code"] == "calendar.year_loaded"


def test_load_errors_name_the_item(calendar, national_user):
    payload = {**PAYLOAD, "makeup_days": ["2027-02-20", "2027-02-22"]}
    response = client_for(national_user).post(
        "/api/workdays/years", payload, content_type="application/json"
    )
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert (error["field"], error["code"], error["row"]) == (
        "makeup_days",
        "calendar.makeup_not_weekend",
        2,
    )


def test_county_cannot_load_a_year(calendar, county_user):
    response = client_for(county_user).post(
        "/api/workdays/years", PAYLOAD, content_type="application/json"
    )
    assert response.status_code == 403
    assert not CalendarYear.objects.filter(year=2027).exists()
