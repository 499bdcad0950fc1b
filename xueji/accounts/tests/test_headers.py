"""Transport and browser hardening: CSP and the other security headers on every response,
CSRF on every form, and the production settings (secure cookies, HSTS, HTTPS redirect)."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

BASE_DIR = Path(settings.BASE_DIR)
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'self'; frame-ancestors 'none'; form-action 'self'"
)


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def assert_hardened(response) -> None:
    assert response["Content-Security-Policy"] == CSP
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert "camera=()" in response["Permissions-Policy"]


@pytest.mark.parametrize(
    "path",
    ["/login/", "/api/docs", "/api/openapi.json", "/api/me", "/healthz", "/no-such-page/", "/"],
)
def test_anonymous_responses_carry_the_security_headers(path):
    """Pages, the API (JSON and its 401), redirects and 404s alike."""
    assert_hardened(Client().get(path))


@pytest.mark.parametrize("path", ["/", "/students/", "/api/me", "/accounts/password/"])
def test_signed_in_responses_carry_the_security_headers(school_user, path):
    assert_hardened(signed_in(school_user).get(path))


def test_the_policy_forbids_inline_script_and_framing():
    directives = dict(d.strip().split(" ", 1) for d in CSP.split(";"))
    assert "'unsafe-inline'" not in CSP and "'unsafe-eval'" not in CSP
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"


INLINE = [
    re.compile(r"<script(?![^>]*\b(?:src=|type=\"application/json\"))[^>]*>", re.IGNORECASE),
    re.compile(r"\son[a-z]+\s*=", re.IGNORECASE),
    re.compile(r"\sstyle\s*=", re.IGNORECASE),
]


@pytest.mark.parametrize("path", ["/login/", "/api/docs"])
def test_public_pages_have_nothing_inline(path, school_user):
    client = signed_in(school_user) if path.startswith("/api/") else Client()
    html = client.get(path).content.decode()
    assert not any(pattern.search(html) for pattern in INLINE)
    # Only where something is loaded from: a random CSRF token may well contain "cdn".
    assert not re.search(r"""(?:src|href)=["'][^"']*cdn""", html, re.IGNORECASE)


def test_password_page_has_nothing_inline(school_user):
    html = signed_in(school_user).get(reverse("accounts:password_change")).content.decode()
    assert not any(pattern.search(html) for pattern in INLINE)


def test_api_docs_come_from_our_static_files(school_user):
    html = signed_in(school_user).get("/api/docs").content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in html
    assert "/static/ninja/swagger-ui-init.js" in html


# ---------------------------------------------------------------- CSRF


def test_sign_in_without_csrf_token_is_refused(school_user):
    client = Client(enforce_csrf_checks=True)
    response = client.post(reverse("web:login"), {"username": "clerk", "password": PASSWORD})
    assert response.status_code == 403


def test_sign_out_without_csrf_token_is_refused(school_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(school_user)
    assert client.post(reverse("web:logout")).status_code == 403
    assert client.get("/").status_code == 200  # still signed in


def test_password_change_without_csrf_token_is_refused(school_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(school_user)
    response = client.post(
        reverse("accounts:password_change"),
        {"old_password": PASSWORD, "new_password": "New-Passw0rd-1", "confirm": "New-Passw0rd-1"},
    )
    assert response.status_code == 403


def test_session_cookie_flags(school_user):
    client = Client()
    client.post(reverse("web:login"), {"username": "clerk", "password": PASSWORD})
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    assert settings.CSRF_COOKIE_HTTPONLY and settings.CSRF_COOKIE_SAMESITE == "Lax"


# ---------------------------------------------------------------- production settings


def _production_environment() -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "XUEJI_", "DATABASE_"))
    }
    env.update(
        XUEJI_SECRET_KEY="prod-test-" + "k" * 60,
        XUEJI_FIELD_KEYS="1:" + "A" * 43,
        XUEJI_BLIND_INDEX_KEY="prod-test-index-" + "i" * 40,
        # The audit checkpoints' own Ed25519 seed (32 bytes, base64url); unset, audit.W001.
        XUEJI_AUDIT_SIGNING_KEY="S" * 43,
        DATABASE_URL="postgresql://xueji@127.0.0.1:1/xueji",
        XUEJI_ALLOWED_HOSTS="xueji.example.cn",
        # A deployment plugs in its SMS gateway (the outbox would warn, portal.W001).
        XUEJI_PORTAL_SENDER="sms_gateway.XuejiSender",
        DJANGO_SETTINGS_MODULE="config.settings.prod",
    )
    return env


@pytest.mark.db_independent
def test_production_settings_are_https_only():
    script = (
        "import json\n"
        "from django.conf import settings as s\n"
        "names = ['SESSION_COOKIE_SECURE', 'CSRF_COOKIE_SECURE', 'SECURE_SSL_REDIRECT',"
        " 'SECURE_HSTS_SECONDS', 'SECURE_HSTS_INCLUDE_SUBDOMAINS', 'SESSION_COOKIE_SAMESITE',"
        " 'SESSION_COOKIE_HTTPONLY', 'CSRF_COOKIE_HTTPONLY', 'X_FRAME_OPTIONS',"
        " 'SESSION_COOKIE_NAME', 'CSRF_COOKIE_NAME', 'XUEJI_CSP', 'MIDDLEWARE']\n"
        "print(json.dumps({n: getattr(s, n) for n in names}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()\n" + script],
        cwd=BASE_DIR,
        env=_production_environment(),
        capture_output=True,
        text=True,
        check=True,
    )
    prod = json.loads(result.stdout)
    assert prod["SESSION_COOKIE_SECURE"] and prod["CSRF_COOKIE_SECURE"]
    assert prod["SECURE_SSL_REDIRECT"]
    assert prod["SECURE_HSTS_SECONDS"] >= 31_536_000 and prod["SECURE_HSTS_INCLUDE_SUBDOMAINS"]
    assert prod["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert prod["SESSION_COOKIE_HTTPONLY"] and prod["CSRF_COOKIE_HTTPONLY"]
    assert prod["X_FRAME_OPTIONS"] == "DENY"
    assert prod["SESSION_COOKIE_NAME"].startswith("__Host-")
    assert prod["CSRF_COOKIE_NAME"].startswith("__Host-")
    assert prod["XUEJI_CSP"] == CSP
    assert "xueji.accounts.middleware.SecurityHeadersMiddleware" in prod["MIDDLEWARE"]
    assert "xueji.accounts.middleware.AccountSessionMiddleware" in prod["MIDDLEWARE"]


@pytest.mark.db_independent
def test_production_settings_pass_djangos_deployment_checks(tmp_path):
    # The credential issuer's key file (unset: credentials.W001).
    from xueji.credentials.keys import new_private_jwk

    key = tmp_path / "issuer.jwk"
    key.write_text(json.dumps(new_private_jwk("ES256")))
    env = {**_production_environment(), "XUEJI_CREDENTIAL_KEYS": f"prod-1:ES256:active:{key}"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
