"""The 预警 page, its menu badge and GET /api/warnings."""

from datetime import date

import pytest
from django.test import Client

from tests import factories
from xueji.audit.warnings import warning_raise, warning_resolve

pytestmark = pytest.mark.django_db


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _raise(unit, subject_id, message, **overrides):
    return warning_raise(
        kind=overrides.pop("kind", "transfer.step_overdue"),
        unit=unit,
        subject_type="changes.step",
        subject_id=subject_id,
        message=message,
        due_date=overrides.pop("due_date", date(2020, 1, 2)),
        **overrides,
    )


@pytest.fixture
def raised(school, other_school):
    _raise(school.unit, 1, "甲校转学步骤超期", detail={"url": "/students/"})
    _raise(other_school.unit, 2, "乙校转学步骤超期")


def test_school_sees_its_own_warnings_only(raised, school_user):
    response = _client(school_user).get("/warnings/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "甲校转学步骤超期" in body and "乙校转学步骤超期" not in body
    assert 'href="/students/"' in body  # the raiser's link
    assert "辖区预警" not in body  # no subtree tab for a school
    [row] = response.context["rows"]
    assert row["days_overdue"] > 0


def test_a_school_asking_for_the_area_tab_still_sees_only_its_own(raised, school_user):
    response = _client(school_user).get("/warnings/", {"tab": "area"})
    assert response.context["tab"] == "mine"
    assert [r["warning"].subject_id for r in response.context["rows"]] == ["1"]


def test_county_sees_escalations_and_its_subtree(raised, county_user):
    client = _client(county_user)
    mine = client.get("/warnings/")
    assert [r["warning"].role for r in mine.context["rows"]] == ["above"]
    area = client.get("/warnings/", {"tab": "area"})
    body = area.content.decode()
    assert "甲校转学步骤超期" in body and "乙校转学步骤超期" not in body
    assert [r["warning"].role for r in area.context["rows"]] == ["party"]


def test_other_county_sees_nothing_of_school_a(raised, school):
    outsider = factories.authority_user("510104")
    for tab in ("mine", "area"):
        body = _client(outsider).get("/warnings/", {"tab": tab}).content.decode()
        assert "甲校转学步骤超期" not in body
        assert school.name not in body


def test_resolved_filter(raised, school_user):
    warning_resolve(subject_type="changes.step", subject_id=1, reason="已办结")
    client = _client(school_user)
    assert client.get("/warnings/").context["rows"] == []
    resolved = client.get("/warnings/", {"state": "resolved"})
    assert [r["warning"].subject_id for r in resolved.context["rows"]] == ["1"]
    assert "已办结" in resolved.content.decode()


def test_page_is_paginated(school, school_user, settings):
    settings.XUEJI = {**settings.XUEJI, "PAGE_SIZE": 2}
    for n in range(5):
        _raise(school.unit, n, f"预警{n}", escalate=False)
    client = _client(school_user)
    first = client.get("/warnings/")
    assert len(first.context["rows"]) == 2 and first.context["page_obj"].paginator.num_pages == 3
    last = client.get("/warnings/", {"page": 3})
    assert len(last.context["rows"]) == 1


def test_menu_badge_counts_open_warnings_of_the_unit(raised, school_user):
    body = _client(school_user).get("/").content.decode()
    assert 'href="/warnings/"' in body
    assert '<span class="badge text-bg-danger">1<' in body


def test_statistician_may_not_read_warnings(school, raised):
    statistician = factories.make_user(school.unit, roles=("statistician",))
    client = _client(statistician)
    assert client.get("/warnings/").status_code == 403
    assert client.get("/api/warnings").status_code == 403
    assert 'href="/warnings/"' not in client.get("/").content.decode()


def test_anonymous_is_sent_to_sign_in(db):
    response = Client().get("/warnings/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert Client().get("/api/warnings").status_code == 401


def test_api_lists_own_and_subtree_warnings(raised, school_user, county_user, other_school_user):
    mine = _client(school_user).get("/api/warnings").json()
    assert mine["count"] == 1
    [item] = mine["items"]
    assert item["message"] == "甲校转学步骤超期" and item["role"] == "party"
    assert item["subject_id"] == "1" and item["url"] == "/students/"
    assert item["days_overdue"] > 0 and item["due_date"] == "2020-01-02"
    assert _client(other_school_user).get("/api/warnings").json()["items"][0]["subject_id"] == "2"
    area = _client(county_user).get("/api/warnings", {"tab": "area"}).json()
    assert [(i["subject_id"], i["role"]) for i in area["items"]] == [("1", "party")]
    # A school's "area" is itself.
    assert _client(school_user).get("/api/warnings", {"tab": "area"}).json()["count"] == 1


def test_api_resolved_state_and_paging(school, school_user):
    for n in range(3):
        _raise(school.unit, n, f"预警{n}", escalate=False)
    warning_resolve(subject_type="changes.step", subject_id=0)
    client = _client(school_user)
    assert client.get("/api/warnings", {"state": "resolved"}).json()["count"] == 1
    page = client.get("/api/warnings", {"limit": 1, "offset": 1}).json()
    assert page["count"] == 2 and len(page["items"]) == 1
    assert client.get("/api/warnings", {"state": "bogus"}).status_code == 422
