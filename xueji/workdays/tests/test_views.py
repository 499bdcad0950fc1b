"""The calendar pages: every authority reads, only the national level loads."""

from datetime import date

import pytest
from django.test import Client

from xueji.workdays import selectors
from xueji.workdays.models import CalendarYear

FORM = {
    "year": "2027",
    "notice": "国办发明电〔2026〕测试号",
    "holidays": "2027-01-01 2027-01-03 元旦\r\n2027-02-06 2027-02-14 春节\r\n",
    "makeup_days": "2027-02-20\r\n",
}


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_years_page_lists_counts_and_offers_the_form_to_the_national_level(calendar, national_user):
    response = client_for(national_user).get("/workdays/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "/workdays/2026/" in page
    assert "248" in page  # 2026's working days
    assert 'name="holidays"' in page
    assert 'value="2027"' in page  # the year after the latest loaded


def test_county_reads_the_years_without_the_form(calendar, county_user):
    response = client_for(county_user).get("/workdays/")
    assert response.status_code == 200
    assert 'name="holidays"' not in response.content.decode()


def test_school_accounts_do_not_see_the_calendar_pages(calendar, school_user):
    client = client_for(school_user)
    assert client.get("/workdays/").status_code == 403
    assert client.get("/workdays/2026/").status_code == 403


def test_year_page_marks_holidays_and_make_up_days(calendar, county_user):
    response = client_for(county_user).get("/workdays/2026/")
    assert response.status_code == 200
    page = response.content.decode()
    assert 'data-day="2026-02-14" data-kind="makeup"' in page
    assert 'data-day="2026-02-16" data-kind="holiday"' in page
    assert 'data-day="2026-10-10" data-kind="makeup"' in page
    assert 'data-day="2026-03-07" data-kind="rest"' in page
    assert 'data-day="2026-03-09" data-kind="work"' in page
    assert client_for(county_user).get("/workdays/2031/").status_code == 404


def test_national_loads_a_year_through_the_page(calendar, national_user):
    response = client_for(national_user).post("/workdays/load/", FORM)
    assert response.status_code == 302
    assert response["Location"] == "/workdays/2027/"
    assert CalendarYear.objects.get(year=2027).notice == FORM["notice"]
    assert selectors.due_date(date(2026, 12, 24), 10) == date(2027, 1, 8)


def test_county_cannot_load_a_year(calendar, county_user):
    client = client_for(county_user)
    assert client.get("/workdays/load/").status_code == 403
    assert client.post("/workdays/load/", FORM).status_code == 403
    assert not CalendarYear.objects.filter(year=2027).exists()


@pytest.mark.parametrize(
    ("changes", "shown"),
    [
        ({"holidays": "2027-01-01 2027-01-03 元旦\n2027-02-06 2027-2-14 春节"}, "节假日第 2 行"),
        ({"makeup_days": "2027-02-20\n2027-02-22"}, "调休上班日第 2 行：2027-02-22 是星期一"),
        (
            {"holidays": "2027-01-03 2027-01-01 元旦"},
            "节假日第 1 行：结束日期 2027-01-01 早于开始日期",
        ),
        (
            {"year": "2026", "holidays": "2026-01-01 元旦", "makeup_days": ""},
            "2026 年工作日历已载入",
        ),
        ({"year": "2026"}, "节假日第 1 行：2027-01-01 不在 2026 年内"),
    ],
)
def test_the_form_shows_errors_by_line(calendar, national_user, changes, shown):
    response = client_for(national_user).post("/workdays/load/", {**FORM, **changes})
    assert response.status_code == 422
    assert shown in response.content.decode()
    assert not CalendarYear.objects.filter(year=2027).exists()
