"""``/api/me``: who the caller is, by session or by token; nobody without credentials."""

from datetime import timedelta

import pytest
from django.test import Client

from tests.factories import PASSWORD
from xueji import clock
from xueji.accounts.models import ApiToken, User
from xueji.accounts.tokens import api_token_issue

pytestmark = pytest.mark.django_db


def bearer(secret: str) -> dict:
    return {"Authorization": f"Bearer {secret}"}


def issue(user, **overrides):
    return api_token_issue(
        actor=user, user=user, name="client", expires_at=overrides.get("expires_at")
    )


def test_anonymous_gets_401():
    response = Client().get("/api/me")
    assert response.status_code == 401


def test_session_shows_the_signed_in_account(school_user, school):
    client = Client()
    client.force_login(school_user)
    response = client.get("/api/me")
    assert response.status_code == 200
    assert response.json() == {
        "username": "clerk",
        "full_name": "",
        "unit_id": school.unit.pk,
        "unit_name": school.name,
        "unit_kind": "school",
        "roles": ["clerk"],
    }


def test_session_from_the_sign_in_form_works(school_user):
    client = Client()
    assert client.login(username="clerk", password=PASSWORD)
    assert client.get("/api/me").json()["username"] == "clerk"


@pytest.mark.parametrize(
    "fixture", ["county_user", "city_user", "province_user", "national_user", "other_school_user"]
)
def test_token_shows_the_token_owner_at_every_level(fixture, request):
    user = request.getfixturevalue(fixture)
    response = Client().get("/api/me", headers=bearer(issue(user).secret))
    assert response.status_code == 200
    body = response.json()
    assert (body["username"], body["unit_id"]) == (user.username, user.unit_id)
    assert body["unit_kind"] == user.unit.kind


def test_token_use_is_stamped(school_user):
    issued = issue(school_user)
    Client().get("/api/me", headers=bearer(issued.secret))
    issued.token.refresh_from_db()
    assert issued.token.last_used_at is not None


def test_only_the_hash_of_a_token_is_stored(school_user):
    issued = issue(school_user)
    stored = ApiToken.objects.get(pk=issued.token.pk)
    assert issued.secret not in (stored.key_hash, stored.prefix, stored.name)
    assert issued.secret.startswith(f"xj_{stored.prefix}_")


def test_expired_token_gets_401(school_user):
    issued = issue(school_user, expires_at=clock.now() - timedelta(minutes=1))
    assert Client().get("/api/me", headers=bearer(issued.secret)).status_code == 401


def test_token_expiring_later_still_works(school_user):
    issued = issue(school_user, expires_at=clock.now() + timedelta(days=1))
    assert Client().get("/api/me", headers=bearer(issued.secret)).status_code == 200


def test_revoked_token_gets_401(school_user):
    issued = issue(school_user)
    ApiToken.objects.filter(pk=issued.token.pk).update(revoked_at=clock.now())
    assert Client().get("/api/me", headers=bearer(issued.secret)).status_code == 401


@pytest.mark.parametrize(
    "mangle",
    [
        lambda s: s[:-1] + ("A" if s[-1] != "A" else "B"),  # wrong secret, right prefix
        lambda s: "xj_0000000000_" + s.split("_", 2)[2],  # unknown prefix
        lambda s: s.replace("xj_", "zz_", 1),
        lambda s: "",
    ],
)
def test_forged_token_gets_401(mangle, school_user):
    secret = issue(school_user).secret
    assert Client().get("/api/me", headers=bearer(mangle(secret))).status_code == 401


def test_token_of_an_inactive_account_gets_401(school_user):
    issued = issue(school_user)
    User.objects.filter(pk=school_user.pk).update(is_active=False)
    assert Client().get("/api/me", headers=bearer(issued.secret)).status_code == 401


def test_account_without_unit_gets_401_by_session_and_by_token():
    orphan = User.objects.create(username="orphan")
    client = Client()
    client.force_login(orphan)
    assert client.get("/api/me").status_code == 401
    issued = issue(orphan)
    assert Client().get("/api/me", headers=bearer(issued.secret)).status_code == 401


def test_session_of_a_deactivated_account_gets_401(school_user):
    client = Client()
    client.force_login(school_user)
    User.objects.filter(pk=school_user.pk).update(is_active=False)
    assert client.get("/api/me").status_code == 401
