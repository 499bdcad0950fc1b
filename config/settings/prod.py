"""Production: secrets and hosts must come from the environment."""

import os

from django.core.exceptions import ImproperlyConfigured

from xueji import deploy

from .base import *  # noqa: F403
from .base import (
    DATABASES,
    SECRET_KEY,
    XUEJI,
    XUEJI_API_DOCS,
    XUEJI_BLIND_INDEX_KEY,
    XUEJI_FIELD_KEY_CURRENT,
    XUEJI_FIELD_KEYS,
)

# Reads of personal data are always audited in production: the switch is for the benchmark.
if not XUEJI["READ_AUDIT"]:
    raise ImproperlyConfigured(
        "XUEJI_READ_AUDIT=off is refused in production: every read of personal data is audited"
    )

if not SECRET_KEY:
    raise ImproperlyConfigured("XUEJI_SECRET_KEY must be set in production")
if not os.environ.get("DATABASE_URL"):
    raise ImproperlyConfigured("DATABASE_URL must point at PostgreSQL in production")
# Keys derived from the secret key would make every ID number unreadable (and every index
# wrong) the day the secret key changes: production names its keys explicitly.
if not os.environ.get("XUEJI_FIELD_KEYS"):
    raise ImproperlyConfigured("XUEJI_FIELD_KEYS must be set in production (see docs/security.md)")
if not os.environ.get("XUEJI_BLIND_INDEX_KEY"):
    raise ImproperlyConfigured(
        "XUEJI_BLIND_INDEX_KEY must be set in production (see docs/security.md)"
    )
# Short keys, SQLite, public API documentation (issue 10, finding 8): the same rules as
# the `check --deploy` errors xueji.E001-E004.
_problems = deploy.production_problems(
    field_keys=XUEJI_FIELD_KEYS,
    field_key_current=XUEJI_FIELD_KEY_CURRENT,
    blind_index_key=XUEJI_BLIND_INDEX_KEY,
    databases=DATABASES,
    api_docs=XUEJI_API_DOCS,
)
if _problems:
    raise ImproperlyConfigured("; ".join(_problems) + " (see docs/security.md)")

# HTTPS only: secure cookies with the __Host- prefix (no Domain, Path=/, Secure), HSTS for
# a year, plain HTTP redirected.
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_NAME = "__Host-xueji_session"
CSRF_COOKIE_NAME = "__Host-xueji_csrf"
SECURE_SSL_REDIRECT = True
SECURE_HSTS_SECONDS = 31_536_000
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
# Submitting the domain to the browsers' HSTS preload list is the domain owner's decision
# (government domains are often shared): `check --deploy` need not warn about it.
SILENCED_SYSTEM_CHECKS = ["security.W021"]
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
