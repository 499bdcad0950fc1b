"""Account administration pages and API: allowed in the subtree, refused outside it, secrets
shown once, lists without a query per row."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.factories import SchoolFactory, authority_user, make_user
from xueji import clock
from xueji.accounts.models import ApiToken, Role, TrainingRecord, User

SYS = Role.SYSTEM_ADMIN


@pytest.fixture
def county_admin(db):
    return authority_user("440106", roles=(SYS,))


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# ---------------------------------------------------------------- pages


def test_list_shows_the_subtree_only(county_admin, school_user, other_school_user):
    response = client_for(county_admin).get("/accounts/admin/")
    assert response.status_code == 200
    body = response.content.decode()
    assert f"/accounts/admin/{school_user.pk}/" in body
    assert f"/accounts/admin/{other_school_user.pk}/" not in body


def test_list_search_and_filters(county_admin, school):
    make_user(school.unit, username="wang-clerk")
    make_user(school.unit, roles=(Role.STATISTICIAN,), username="li-stats")
    client = client_for(county_admin)
    body = client.get("/accounts/admin/?q=wang").content.decode()
    assert "wang-clerk" in body and "li-stats" not in body
    body = client.get("/accounts/admin/?role=statistician").content.decode()
    assert "li-stats" in body and "wang-clerk" not in body


def test_list_queries_do_not_grow_with_rows(county_admin, school):
    client = client_for(county_admin)
    client.get("/accounts/admin/")  # the session's first request stamps last_seen_at

    def count(n: int) -> int:
        for _ in range(n):
            make_user(SchoolFactory(division_code="440106").unit)
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/accounts/admin/").status_code == 200
        return len(captured)

    assert count(1) == count(6)


def test_pages_refuse_clerks_reviewers_and_other_admins(school_user, county_user):
    security = authority_user("440106", roles=(Role.SECURITY_ADMIN,))
    for user in (school_user, county_user, security):
        client = client_for(user)
        assert client.get("/accounts/admin/").status_code == 403
        assert client.get(f"/accounts/admin/{school_user.pk}/").status_code == 403


def test_detail_out_of_subtree_is_404(county_admin, other_school_user):
    client = client_for(county_admin)
    assert client.get(f"/accounts/admin/{other_school_user.pk}/").status_code == 404
    assert client.get(f"/accounts/admin/{other_school_user.pk}/tokens/").status_code == 404


def test_detail_masks_the_phone_and_notes_a_peer_admin(county_admin, school_user):
    User.objects.filter(pk=school_user.pk).update(phone="13812345678")
    body = client_for(county_admin).get(f"/accounts/admin/{school_user.pk}/").content.decode()
    assert "138****5678" in body and "13812345678" not in body
    peer = authority_user("440106", roles=(Role.AUDIT_ADMIN,))
    body = client_for(county_admin).get(f"/accounts/admin/{peer.pk}/").content.decode()
    assert "管理员账号只能由上级单位的系统管理员管理" in body
    assert f"/accounts/admin/{peer.pk}/roles/" not in body


def test_create_page_shows_the_first_password_once(county_admin, school):
    client = client_for(county_admin)
    assert client.get("/accounts/admin/new/").status_code == 200
    response = client.post(
        "/accounts/admin/new/",
        {"unit_code": school.code, "username": "page-clerk", "roles": ["clerk"]},
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    user = User.objects.get(username="page-clerk")
    secret = response.context["secret"]
    assert user.check_password(secret) and secret in response.content.decode()
    assert user.must_change_password


def test_create_page_places_refusals_on_their_fields(county_admin, other_school):
    client = client_for(county_admin)
    response = client.post(
        "/accounts/admin/new/",
        {"unit_code": other_school.code, "username": "far", "roles": ["clerk"]},
    )
    assert response.status_code == 200
    assert response.context["form"].errors["unit_code"]
    response = client.post(
        "/accounts/admin/new/", {"unit_code": "", "username": "peer", "roles": ["security_admin"]}
    )
    assert "管理员角色只能授予下级单位的账号" in str(response.context["form"].errors["roles"])
    assert not User.objects.filter(username__in=["far", "peer"]).exists()


def test_roles_disable_enable_and_reset_pages(county_admin, school_user):
    client = client_for(county_admin)
    base = f"/accounts/admin/{school_user.pk}"
    assert client.get(f"{base}/roles/").status_code == 200
    response = client.post(f"{base}/roles/", {"roles": ["clerk", "statistician"]})
    assert response.status_code == 302
    assert User.objects.get(pk=school_user.pk).role_set == {"clerk", "statistician"}

    assert client.post(f"{base}/disable/", {"reason": ""}).status_code == 200
    assert User.objects.get(pk=school_user.pk).is_active
    assert client.post(f"{base}/disable/", {"reason": "离岗"}).status_code == 302
    assert not User.objects.get(pk=school_user.pk).is_active
    assert client.post(f"{base}/enable/", {"reason": ""}).status_code == 302
    assert User.objects.get(pk=school_user.pk).is_active

    response = client.post(f"{base}/password/")
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    assert User.objects.get(pk=school_user.pk).check_password(response.context["secret"])


def test_training_page_records(county_admin, school):
    clerk = make_user(school.unit, in_service=False)
    client = client_for(county_admin)
    url = f"/accounts/admin/{clerk.pk}/training/"
    assert "先培训后上岗" in client.get(url).content.decode()
    bad = client.post(
        url, {"course": "", "certificate_no": "", "completed_on": "", "expires_on": ""}
    )
    assert bad.status_code == 200 and bad.context["form"].errors
    today = clock.today()
    good = client.post(
        url,
        {
            "course": "岗前培训",
            "certificate_no": "PX9",
            "completed_on": (today - timedelta(days=1)).isoformat(),
            "expires_on": (today + timedelta(days=365)).isoformat(),
        },
    )
    assert good.status_code == 302
    assert TrainingRecord.objects.filter(user=clerk, certificate_no="PX9").exists()


def test_token_pages_issue_once_and_the_holder_revokes(county_admin, school_user):
    client = client_for(county_admin)
    url = f"/accounts/admin/{school_user.pk}/tokens/"
    too_long = client.post(url, {"name": "x", "days": 400, "rate_per_minute": 0})
    assert "最长" in str(too_long.context["form"].errors["days"])
    issued = client.post(url, {"name": "区平台", "days": 30, "rate_per_minute": 60})
    assert issued.status_code == 200 and "no-store" in issued["Cache-Control"]
    secret = issued.context["secret"]
    token = ApiToken.objects.get(user=school_user)
    assert token.rate_per_minute == 60
    # The list never shows the secret again.
    assert secret not in client.get(url).content.decode()

    holder = client_for(school_user)
    mine = holder.get("/accounts/me/tokens/")
    assert mine.status_code == 200 and token.prefix in mine.content.decode()
    assert holder.get(f"/accounts/tokens/{token.pk}/revoke/").status_code == 405
    response = holder.post(f"/accounts/tokens/{token.pk}/revoke/", {"back": "mine"})
    assert response.status_code == 302 and response["Location"] == "/accounts/me/tokens/"
    assert ApiToken.objects.get(pk=token.pk).revoked_at is not None


def test_another_accounts_token_is_not_found_on_the_revoke_page(county_admin, school, school_user):
    token = ApiToken.objects.create(user=school_user, name="x", prefix="abc123", key_hash="0")
    colleague = make_user(school.unit)
    assert client_for(colleague).post(f"/accounts/tokens/{token.pk}/revoke/").status_code == 404
    assert ApiToken.objects.get(pk=token.pk).revoked_at is None


def test_menu_shows_admin_entries_by_duty(county_admin, school_user):
    body = client_for(county_admin).get("/").content.decode()
    assert "/accounts/admin/" in body and "/accounts/workload/" in body
    assert "/accounts/security/" not in body
    body = client_for(school_user).get("/").content.decode()
    assert "/accounts/admin/" not in body and "/accounts/me/tokens/" in body


# ---------------------------------------------------------------- API


def test_api_create_get_and_list(county_admin, school, other_school_user):
    client = client_for(county_admin)
    response = client.post(
        "/api/accounts",
        {"unit_code": school.code, "username": "api-clerk", "roles": ["clerk"]},
        content_type="application/json",
    )
    assert response.status_code == 201
    body = response.json()
    assert body["account"]["roles"] == ["clerk"] and body["account"]["must_change_password"]
    assert body["initial_password"]
    user_id = body["account"]["id"]
    assert client.get(f"/api/accounts/{user_id}").json()["username"] == "api-clerk"
    assert client.get(f"/api/accounts/{other_school_user.pk}").status_code == 404
    listed = client.get("/api/accounts?limit=1").json()
    assert len(listed["items"]) == 1 and listed["next_cursor"]
    usernames = {a["username"] for a in client.get("/api/accounts?limit=500").json()["items"]}
    assert "api-clerk" in usernames and other_school_user.username not in usernames


def test_api_refusals_carry_codes(county_admin, school):
    client = client_for(county_admin)
    response = client.post(
        "/api/accounts",
        {"unit_code": school.code, "username": "two", "roles": ["system_admin", "audit_admin"]},
        content_type="application/json",
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "role.two_admin_duties"
    response = client.put(
        f"/api/accounts/{county_admin.pk}/roles",
        {"roles": ["system_admin", "security_admin"]},
        content_type="application/json",
    )
    assert response.status_code == 403 and response.json()["detail"]["reason"] == "admin.self"


def test_api_token_lifecycle(county_admin, school_user):
    client = client_for(county_admin)
    expires = (clock.now() + timedelta(days=10)).isoformat()
    response = client.post(
        f"/api/accounts/{school_user.pk}/tokens",
        {"name": "接口", "expires_at": expires, "rate_per_minute": 10},
        content_type="application/json",
    )
    assert response.status_code == 201
    secret = response.json()["secret"]
    token_id = response.json()["token"]["id"]
    me = Client().get("/api/me", headers={"Authorization": f"Bearer {secret}"})
    assert me.status_code == 200 and me.json()["username"] == school_user.username
    listed = client.get(f"/api/accounts/{school_user.pk}/tokens").json()
    assert [t["id"] for t in listed] == [token_id] and "secret" not in listed[0]
    holder = client_for(school_user)
    assert [t["id"] for t in holder.get("/api/accounts/me/tokens").json()] == [token_id]
    assert holder.post(f"/api/accounts/tokens/{token_id}/revoke").status_code == 200
    assert Client().get("/api/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 401


def test_api_trainings_disable_and_reset(county_admin, school):
    clerk = make_user(school.unit, in_service=False)
    client = client_for(county_admin)
    today = clock.today()
    response = client.post(
        f"/api/accounts/{clerk.pk}/trainings",
        {
            "course": "岗前培训",
            "completed_on": today.isoformat(),
            "certificate_no": "A1",
            "expires_on": (today + timedelta(days=30)).isoformat(),
        },
        content_type="application/json",
    )
    assert response.status_code == 201 and response.json()["valid_today"]
    assert len(client.get(f"/api/accounts/{clerk.pk}/trainings").json()) == 1
    disabled = client.post(
        f"/api/accounts/{clerk.pk}/disable", {"reason": "离岗"}, content_type="application/json"
    )
    assert disabled.status_code == 200 and not disabled.json()["is_active"]
    enabled = client.post(f"/api/accounts/{clerk.pk}/enable", {}, content_type="application/json")
    assert enabled.json()["is_active"]
    reset = client.post(f"/api/accounts/{clerk.pk}/password-reset")
    assert User.objects.get(pk=clerk.pk).check_password(reset.json()["temporary_password"])


def test_api_is_refused_to_non_admins_and_out_of_subtree(school_user, other_school_user):
    assert client_for(school_user).get("/api/accounts").status_code == 403
    far_admin = authority_user("510104", roles=(SYS,))
    client = client_for(far_admin)
    assert client.get(f"/api/accounts/{school_user.pk}").status_code == 404
    assert (
        client.post(
            f"/api/accounts/{school_user.pk}/disable",
            {"reason": "x"},
            content_type="application/json",
        ).status_code
        == 404
    )
    assert client.get(f"/api/accounts/{other_school_user.pk}").status_code == 200


def test_admin_and_security_pages_have_no_inline_script_or_style(county_admin, school_user):
    """Ready for the strict CSP, like every other page."""
    from xueji.web.tests.test_pages import INLINE_HANDLER, INLINE_SCRIPT, INLINE_STYLE

    security = authority_user("440106", roles=(Role.SECURITY_ADMIN,))
    pages = [
        (county_admin, "/accounts/admin/"),
        (county_admin, "/accounts/admin/new/"),
        (county_admin, f"/accounts/admin/{school_user.pk}/"),
        (county_admin, f"/accounts/admin/{school_user.pk}/roles/"),
        (county_admin, f"/accounts/admin/{school_user.pk}/disable/"),
        (county_admin, f"/accounts/admin/{school_user.pk}/training/"),
        (county_admin, f"/accounts/admin/{school_user.pk}/tokens/"),
        (county_admin, "/accounts/workload/"),
        (school_user, "/accounts/me/tokens/"),
        (security, "/accounts/security/"),
    ]
    for user, url in pages:
        response = client_for(user).get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert not INLINE_SCRIPT.search(html), url
        assert not INLINE_HANDLER.search(html), url
        assert not INLINE_STYLE.search(html), url
