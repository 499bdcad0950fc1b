"""What production refuses (issue 10, finding 8): short field keys, SQLite, public API
documentation, common passwords dressed up. Each failed before: `check --deploy` accepted a
3-byte XUEJI_FIELD_KEYS, production started on SQLite, /api/docs and /api/openapi.json
answered anyone, and `Password123!` was accepted."""

import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import Client, override_settings

from tests.factories import authority_user
from xueji import deploy
from xueji.accounts.checks import api_docs_check, database_check, field_keys_check
from xueji.accounts.passwords import common_pattern, password_field_errors
from xueji.accounts.tests.test_headers import _production_environment

BASE_DIR = Path(settings.BASE_DIR)
GOOD_KEY = "A" * 43  # 32 bytes, base64url
GOOD_INDEX_KEY = "i" * 32


def _start_production(**env) -> subprocess.CompletedProcess:
    """Load the production settings with the usual environment changed by ``env``."""
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=BASE_DIR,
        env=_production_environment() | env,
        capture_output=True,
        text=True,
    )


def _ids(errors) -> set[str]:
    return {e.id for e in errors}


# ---------------------------------------------------------------- field keys


@pytest.mark.db_independent
@pytest.mark.parametrize(
    "keys",
    [
        {"1": "YWJj"},  # "abc": 3 bytes (the finding)
        {"1": "A" * 42},  # 31 bytes
        {"1": GOOD_KEY, "2": "A" * 20},  # one short key among good ones
        {"1": "not base64 at all!"},
        {},  # derived from the secret key
    ],
)
def test_check_deploy_refuses_field_keys_other_than_32_bytes(keys):
    with override_settings(XUEJI_FIELD_KEYS=keys, XUEJI_BLIND_INDEX_KEY=GOOD_INDEX_KEY):
        assert "xueji.E001" in _ids(field_keys_check(None))
        with pytest.raises(SystemCheckError, match=r"xueji\.E001"):
            call_command("check", deploy=True, fail_level="ERROR")


@pytest.mark.db_independent
def test_a_32_byte_key_passes():
    with override_settings(
        XUEJI_FIELD_KEYS={"1": GOOD_KEY},
        XUEJI_FIELD_KEY_CURRENT="1",
        XUEJI_BLIND_INDEX_KEY="x" * 32,
    ):
        assert field_keys_check(None) == []
    assert deploy.field_key_problems({"1": GOOD_KEY}, "2")  # current names no key


@pytest.mark.db_independent
def test_a_short_blind_index_key_is_refused():
    with override_settings(XUEJI_FIELD_KEYS={"1": GOOD_KEY}, XUEJI_BLIND_INDEX_KEY="short"):
        assert _ids(field_keys_check(None)) == {"xueji.E002"}


@pytest.mark.db_independent
def test_production_does_not_start_with_a_short_field_key():
    result = _start_production(XUEJI_FIELD_KEYS="1:YWJj")
    assert result.returncode != 0
    assert "XUEJI_FIELD_KEYS version '1' is 3 bytes" in result.stderr


# ---------------------------------------------------------------- SQLite


@pytest.mark.db_independent
def test_sqlite_is_refused_for_production():
    sqlite = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "x.sqlite3"}}
    postgres = {"default": {"ENGINE": "django.db.backends.postgresql", "NAME": "xueji"}}
    assert deploy.database_problems(sqlite)
    assert deploy.database_problems(postgres) == []
    # The check reads the settings in force: the SQLite test database fails it.
    problems = _ids(database_check(None))
    on_sqlite = settings.DATABASES["default"]["ENGINE"].endswith("sqlite3")
    assert problems == ({"xueji.E003"} if on_sqlite else set())


@pytest.mark.db_independent
def test_production_does_not_start_on_sqlite():
    result = _start_production(DATABASE_URL="sqlite:////tmp/xueji-prod-test.sqlite3")
    assert result.returncode != 0
    assert "production needs PostgreSQL" in result.stderr


@pytest.mark.db_independent
def test_production_starts_with_good_settings():
    result = _start_production()
    assert result.returncode == 0, result.stderr


# ---------------------------------------------------------------- API documentation


@pytest.mark.parametrize("path", ["/api/docs", "/api/openapi.json"])
def test_api_docs_need_a_signed_in_account_by_default(path, db):
    assert settings.XUEJI_API_DOCS == "signed_in"  # the base (production) default
    assert Client().get(path).status_code == 401
    client = Client()
    client.force_login(authority_user("440106"))
    assert client.get(path).status_code == 200


@pytest.mark.parametrize("path", ["/api/docs", "/api/openapi.json"])
def test_api_docs_can_be_switched_off(path, db):
    client = Client()
    client.force_login(authority_user("440106"))
    with override_settings(XUEJI_API_DOCS="off"):
        assert client.get(path).status_code == 404


@pytest.mark.parametrize("path", ["/api/docs", "/api/openapi.json"])
def test_public_api_docs_are_refused_in_production(path, db):
    with override_settings(XUEJI_API_DOCS="public"):
        assert Client().get(path).status_code == 200  # development: the demo's visitors
        assert _ids(api_docs_check(None)) == {"xueji.E004"}
    assert api_docs_check(None) == []
    result = _start_production(XUEJI_API_DOCS="public")
    assert result.returncode != 0 and "XUEJI_API_DOCS is 'public'" in result.stderr


# ---------------------------------------------------------------- passwords


@pytest.mark.parametrize(
    "password",
    ["Password123!", "P@ssw0rd2024", "Qwerty_2025", "Aa123456!", "Welcome2024!", "Woaini1314!"],
)
def test_common_passwords_dressed_up_are_refused(password, school_user):
    assert common_pattern(password)
    codes = {e.code for e in password_field_errors(password, school_user)}
    assert "password.common_pattern" in codes


@pytest.mark.parametrize("password", ["Xk9#mQ2-vLp", "Huang-Shan-77x", "Lanzhou-River-9x"])
def test_uncommon_passwords_pass(password, school_user):
    assert not common_pattern(password)
    assert password_field_errors(password, school_user) == []


def test_a_password_may_not_contain_the_user_name(school_user):
    codes = {e.code for e in password_field_errors("My-Clerk-Pass-42", school_user)}
    assert codes == {"password.contains_username"}  # school_user is "clerk"
