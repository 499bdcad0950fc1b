"""Schools over the API: list, detail, create and edit, each allowed in scope and denied
out of scope (404), for the wrong role (403) and without credentials (401)."""

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.factories import SchoolFactory, authority_user, make_user
from xueji import clock
from xueji.accounts.models import Role
from xueji.accounts.services import unit_ensure_separate
from xueji.accounts.tokens import api_token_issue
from xueji.audit.models import AuditEvent
from xueji.schools.models import School

pytestmark = pytest.mark.django_db


def client_for(user, via: str = "session") -> Client:
    if via == "token":
        secret = api_token_issue(actor=user, user=user, name="test", expires_at=None).secret
        return Client(headers={"Authorization": f"Bearer {secret}"})
    client = Client()
    client.force_login(user)
    return client


def new_school(**overrides) -> dict:
    return {
        "code": "1144019999",
        "name": "天河区新建小学",
        "school_type": "211",
        "operator": "1",
        "division_code": "440106",
        "address": "天河路1号",
        **overrides,
    }


# ----------------------------------------------------------------- anonymous and tokens


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/schools"),
        ("get", "/api/schools/1"),
        ("post", "/api/schools"),
        ("patch", "/api/schools/1"),
    ],
)
def test_anonymous_gets_401(method, path):
    response = getattr(Client(), method)(path, {}, content_type="application/json")
    assert response.status_code == 401


def test_expired_and_revoked_tokens_get_401(county_user):
    expired = api_token_issue(
        actor=county_user, user=county_user, name="old", expires_at=clock.now()
    )
    revoked = api_token_issue(actor=county_user, user=county_user, name="gone", expires_at=None)
    revoked.token.revoked_at = clock.now()
    revoked.token.save(update_fields=["revoked_at"])
    for issued in (expired, revoked):
        response = Client().get(
            "/api/schools", headers={"Authorization": f"Bearer {issued.secret}"}
        )
        assert response.status_code == 401


# ----------------------------------------------------------------- list


@pytest.mark.parametrize("via", ["session", "token"])
def test_list_shows_schools_in_scope(via, school, other_school, county_user):
    neighbour = SchoolFactory(division_code="440106")
    SchoolFactory(division_code="440104")
    response = client_for(county_user, via).get("/api/schools")
    assert response.status_code == 200
    assert {row["id"] for row in response.json()["items"]} == {school.pk, neighbour.pk}


def test_school_clerk_lists_its_own_school_only(school, other_school, school_user):
    SchoolFactory(division_code="440106")
    items = client_for(school_user).get("/api/schools").json()["items"]
    assert [row["code"] for row in items] == [school.code]


def test_national_lists_separately_listed_schools_and_provinces_do_not(
    national_user, province_user, school
):
    overseas = SchoolFactory(
        school_type="901",
        division_code="",
        area_code="990100",
        province_code="99",
        listed_separately=True,
    )
    national = {r["id"] for r in client_for(national_user).get("/api/schools").json()["items"]}
    assert {school.pk, overseas.pk} <= national
    provincial = client_for(province_user).get("/api/schools").json()["items"]
    assert overseas.pk not in {r["id"] for r in provincial}
    separate = make_user(unit_ensure_separate(), roles=(Role.REVIEWER,))
    assert [r["id"] for r in client_for(separate).get("/api/schools").json()["items"]] == [
        overseas.pk
    ]


def test_list_pages_by_keyset_and_filters(county_user):
    schools = [SchoolFactory(division_code="440106") for _ in range(5)]
    junior = SchoolFactory(division_code="440106", school_type="311", name="天河区第九中学")
    client = client_for(county_user)
    seen, after = [], 0
    while True:
        page = client.get("/api/schools", {"limit": 2, "after": after}).json()
        seen += [row["id"] for row in page["items"]]
        if page["next_cursor"] is None:
            break
        after = page["next_cursor"]
    assert seen == sorted(s.pk for s in [*schools, junior])
    assert [r["id"] for r in client.get("/api/schools?school_type=311").json()["items"]] == [
        junior.pk
    ]
    assert [r["id"] for r in client.get("/api/schools", {"q": "第九"}).json()["items"]] == [
        junior.pk
    ]
    by_code = client.get("/api/schools", {"q": schools[0].code}).json()["items"]
    assert [r["id"] for r in by_code] == [schools[0].pk]


def test_list_query_count_does_not_grow_with_page_size(county_user, django_assert_max_num_queries):
    for _ in range(8):
        SchoolFactory(division_code="440106")
    client = client_for(county_user)
    client.get("/api/schools?limit=1")
    with CaptureQueriesContext(connection) as one_row:
        client.get("/api/schools?limit=1")
    with django_assert_max_num_queries(len(one_row.captured_queries)):
        assert len(client.get("/api/schools?limit=8").json()["items"]) == 8


# ----------------------------------------------------------------- detail


@pytest.mark.parametrize("via", ["session", "token"])
def test_detail_in_scope_and_out_of_scope(via, school, other_school, school_user):
    client = client_for(school_user, via)
    mine = client.get(f"/api/schools/{school.pk}")
    assert mine.status_code == 200 and mine.json()["code"] == school.code
    out_of_scope = client.get(f"/api/schools/{other_school.pk}")
    missing = client.get("/api/schools/999999999")
    assert out_of_scope.status_code == missing.status_code == 404
    assert out_of_scope.json() == missing.json()


def test_neighbouring_school_is_out_of_a_clerks_scope(school, school_user):
    neighbour = SchoolFactory(division_code="440106")
    assert client_for(school_user).get(f"/api/schools/{neighbour.pk}").status_code == 404


def test_roles_without_school_view_get_403(school):
    auditor = authority_user("440106", roles=(Role.AUDIT_ADMIN,))
    client = client_for(auditor)
    assert client.get("/api/schools").status_code == 403
    assert client.get(f"/api/schools/{school.pk}").status_code == 403


# ----------------------------------------------------------------- create


@pytest.mark.parametrize("via", ["session", "token"])
def test_county_reviewer_creates_a_school_in_its_county(via, county_user):
    response = client_for(county_user, via).post(
        "/api/schools", new_school(), content_type="application/json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["code"], body["area_code"], body["state"]) == ("1144019999", "440106", "open")
    created = School.objects.get(code="1144019999")
    assert created.unit.parent == county_user.unit
    assert AuditEvent.objects.filter(action="school.create", object_id=str(created.pk)).exists()


def test_creating_a_school_outside_the_area_is_refused(county_user):
    response = client_for(county_user).post(
        "/api/schools", new_school(division_code="440104"), content_type="application/json"
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "scope.outside"
    assert not School.objects.filter(code="1144019999").exists()


def test_only_the_national_level_creates_separately_listed_schools(national_user, province_user):
    payload = new_school(school_type="902", division_code="", code="9900000001")
    refused = client_for(province_user).post(
        "/api/schools", payload, content_type="application/json"
    )
    assert refused.status_code == 422
    created = client_for(national_user).post(
        "/api/schools", payload, content_type="application/json"
    )
    assert created.status_code == 201
    assert (created.json()["area_code"], created.json()["listed_separately"]) == ("990200", True)


def test_clerk_may_not_create_or_edit_schools(school, school_user):
    client = client_for(school_user)
    created = client.post("/api/schools", new_school(), content_type="application/json")
    assert created.status_code == 403 and created.json()["code"] == "forbidden"
    edited = client.patch(
        f"/api/schools/{school.pk}", {"name": "改名"}, content_type="application/json"
    )
    assert edited.status_code == 403
    assert not School.objects.filter(code="1144019999").exists()
    school.refresh_from_db()
    assert school.name != "改名"


def test_duplicate_code_is_409(county_user, school):
    response = client_for(county_user).post(
        "/api/schools", new_school(code=school.code), content_type="application/json"
    )
    assert response.status_code == 409
    assert response.json()["code"] == "school.code_taken"


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("code", "123", "school.code_format"),
        ("school_type", "999", "school.type_unknown"),
        ("division_code", "449999", "division.unknown"),
        ("name", "", "required"),
    ],
)
def test_bad_school_is_422(field, value, code, county_user):
    response = client_for(county_user).post(
        "/api/schools", new_school(**{field: value}), content_type="application/json"
    )
    assert response.status_code == 422
    assert (field, code) in {(e["field"], e["code"]) for e in response.json()["errors"]}


# ----------------------------------------------------------------- edit


@pytest.mark.parametrize("via", ["session", "token"])
def test_reviewer_edits_a_school_in_scope(via, school, county_user):
    response = client_for(county_user, via).patch(
        f"/api/schools/{school.pk}",
        {"name": "天河区第一实验小学（新校区）", "address": "新地址"},
        content_type="application/json",
    )
    assert response.status_code == 200
    school.refresh_from_db()
    assert (school.name, school.address) == ("天河区第一实验小学（新校区）", "新地址")
    assert school.unit.name == school.name
    assert AuditEvent.objects.filter(action="school.update").count() == 1


def test_editing_a_school_out_of_scope_is_not_found(other_school, county_user):
    response = client_for(county_user).patch(
        f"/api/schools/{other_school.pk}", {"name": "越权改名"}, content_type="application/json"
    )
    missing = client_for(county_user).patch(
        "/api/schools/999999999", {"name": "越权改名"}, content_type="application/json"
    )
    assert response.status_code == missing.status_code == 404
    assert response.json() == missing.json()
    other_school.refresh_from_db()
    assert other_school.name != "越权改名"
    assert not AuditEvent.objects.filter(action="school.update").exists()


def test_session_patch_needs_csrf(school, county_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(county_user)
    refused = client.patch(
        f"/api/schools/{school.pk}", {"name": "无令牌"}, content_type="application/json"
    )
    assert refused.status_code == 403
    client.cookies["csrftoken"] = "t" * 32
    accepted = client.patch(
        f"/api/schools/{school.pk}",
        {"name": "有令牌"},
        content_type="application/json",
        headers={"X-CSRFToken": "t" * 32},
    )
    assert accepted.status_code == 200
    school.refresh_from_db()
    assert school.name == "有令牌"
