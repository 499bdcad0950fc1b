"""Reference data over the API: the division tree and the code tables.

Reference data carry no personal data and no scope: every signed-in role with
``division.view`` reads the whole tree, whatever its unit. Denied: anonymous or a dead
token (401), a role without ``division.view`` (403), an unknown code or table (404).
"""

import pytest
from django.test import Client

from tests.factories import authority_user
from xueji import clock
from xueji.accounts.models import Role
from xueji.accounts.tokens import api_token_issue

pytestmark = pytest.mark.django_db

PATHS = ("/api/divisions", "/api/divisions/440106", "/api/codes/ethnicity")


def client_for(user, via: str = "session") -> Client:
    if via == "token":
        secret = api_token_issue(actor=user, user=user, name="test", expires_at=None).secret
        return Client(headers={"Authorization": f"Bearer {secret}"})
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize("path", PATHS)
def test_anonymous_gets_401(path):
    assert Client().get(path).status_code == 401


@pytest.mark.parametrize("path", PATHS)
def test_expired_and_revoked_tokens_get_401(path, school_user):
    expired = api_token_issue(
        actor=school_user, user=school_user, name="old", expires_at=clock.now()
    )
    revoked = api_token_issue(actor=school_user, user=school_user, name="gone", expires_at=None)
    revoked.token.revoked_at = clock.now()
    revoked.token.save(update_fields=["revoked_at"])
    for issued in (expired, revoked):
        headers = {"Authorization": f"Bearer {issued.secret}"}
        assert Client().get(path, headers=headers).status_code == 401


@pytest.mark.parametrize("path", PATHS)
def test_role_without_division_view_gets_403(path):
    auditor = authority_user("440106", roles=(Role.AUDIT_ADMIN,))
    response = client_for(auditor).get(path)
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    "role", [Role.CLERK, Role.REVIEWER, Role.STATISTICIAN, Role.SYSTEM_ADMIN, Role.SECURITY_ADMIN]
)
def test_every_role_with_division_view_reads_reference_data(path, role):
    user = authority_user("510104", roles=(role,))
    assert client_for(user).get(path).status_code == 200


@pytest.mark.parametrize("via", ["session", "token"])
def test_provinces_without_parent(via, school_user):
    response = client_for(school_user, via).get("/api/divisions")
    assert response.status_code == 200
    provinces = {row["code"]: row for row in response.json()}
    assert len(provinces) == 34
    assert provinces["440000"]["name"] == "广东省" and provinces["440000"]["level"] == 1
    assert provinces["440000"]["parent_code"] == ""


def test_children_of_a_city(school_user):
    rows = client_for(school_user).get("/api/divisions", {"parent": "440100"}).json()
    by_code = {row["code"]: row for row in rows}
    assert by_code["440106"]["name"] == "天河区"
    assert all(row["parent_code"] == "440100" and row["level"] == 3 for row in rows)


def test_reference_data_is_not_scoped(other_school_user):
    """A Chengdu clerk reads Guangzhou's divisions: reference data, not personal data."""
    response = client_for(other_school_user).get("/api/divisions/440106")
    assert response.status_code == 200
    assert response.json() == {
        "code": "440106",
        "name": "天河区",
        "level": 3,
        "parent_code": "440100",
    }


@pytest.mark.parametrize("code", ["449999", "000000", "abc"])
def test_unknown_division_is_404(code, school_user):
    response = client_for(school_user).get(f"/api/divisions/{code}")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_unknown_parent_has_no_children(school_user):
    assert client_for(school_user).get("/api/divisions", {"parent": "449900"}).json() == []


@pytest.mark.parametrize(
    ("table", "code", "name"),
    [("ethnicity", "01", "汉族"), ("country", "CHN", "中国"), ("grade", "13", "三年级")],
)
def test_code_tables(table, code, name, school_user):
    response = client_for(school_user, "token").get(f"/api/codes/{table}")
    assert response.status_code == 200
    items = {item["code"]: item for item in response.json()}
    assert items[code]["name"] == name


def test_unknown_code_table_is_404(school_user):
    response = client_for(school_user).get("/api/codes/nonsense")
    assert response.status_code == 404
