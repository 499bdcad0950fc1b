"""Settings shared by every environment.

Everything that differs between a laptop and a province data centre comes from the
environment: ``DATABASE_URL``, ``XUEJI_SECRET_KEY``, ``XUEJI_DATA_DIR``.
"""

import os
from pathlib import Path
from typing import Any

import dj_database_url
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent.parent
DATA_DIR = Path(os.environ.get("XUEJI_DATA_DIR", BASE_DIR / "var"))

SECRET_KEY = os.environ.get("XUEJI_SECRET_KEY", "")
DEBUG = False
ALLOWED_HOSTS = [h for h in os.environ.get("XUEJI_ALLOWED_HOSTS", "").split(",") if h]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    # ninja's templates and static files: /api/docs is served from here (Swagger UI without
    # a CDN or inline script, so it runs under the CSP), not from ninja's CDN fallback.
    "ninja",
    "django_tasks",
    "django_tasks_db",
    "xueji.divisions",
    "xueji.accounts",
    "xueji.audit",
    "xueji.schools",
    "xueji.students",
    "xueji.enrolment",
    "xueji.changes",
    "xueji.exchange",
    "xueji.workdays",
    "xueji.archives",
    "xueji.portal",
    "xueji.anomalies",
    "xueji.verification",
    "xueji.releases",
    "xueji.credentials",
    "xueji.web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # CSP and Permissions-Policy on every response, static files included.
    "xueji.accounts.middleware.SecurityHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Early, so sign-in, sign-out and session ends are audited with the request's origin.
    "xueji.audit.middleware.RequestContextMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Import uploads over the size limit are refused while the body streams in.
    "xueji.exchange.uploads.ImportUploadLimitMiddleware",
    # NUL characters in any input and unparseable multipart bodies: 422/400, never a 500.
    "xueji.request_guard.RequestGuardMiddleware",
    # Idle/absolute session expiry, single session, blocked accounts, forced password change.
    "xueji.accounts.middleware.AccountSessionMiddleware",
    # Reads of personal data collected during the request, written once before it answers.
    "xueji.audit.reads.ReadAuditMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "xueji" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "xueji.web.context.navigation",
                "xueji.audit.views.warning_badge",
            ],
        },
    },
]


def database_from_env(url: str | None) -> dict:
    """Build the default database from a URL, SQLite tuned for concurrent readers."""
    if url:
        return dict(dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True))
    return sqlite_database(DATA_DIR / "xueji.sqlite3")


def sqlite_database(path: Path | str) -> dict:
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(path),
        "OPTIONS": {
            # IMMEDIATE takes the write lock at BEGIN: no deadlock upgrading a read lock.
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                "PRAGMA foreign_keys=ON; PRAGMA busy_timeout=30000; PRAGMA cache_size=-65536;"
            ),
        },
    }


DATABASES = {"default": database_from_env(os.environ.get("DATABASE_URL"))}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["xueji.accounts.backends.UnitAccountBackend"]
LOGIN_URL = "web:login"
LOGIN_REDIRECT_URL = "web:home"
LOGOUT_REDIRECT_URL = "web:login"

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
# The password policy (xueji/accounts/passwords.py): length, three of four character
# classes, no user name, none of the last five, no common password however dressed up
# ("Password123!"); numbers from XUEJI_SECURITY.
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "xueji.accounts.passwords.PasswordPolicyValidator"},
    {"NAME": "xueji.accounts.passwords.PasswordHistoryValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "xueji.accounts.passwords.CommonPatternValidator"},
]

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("简体中文")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
MEDIA_ROOT = DATA_DIR / "media"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Sessions (requirements §8): the idle timeout, absolute lifetime and single-session rule are
# enforced by xueji.accounts.middleware from XUEJI_SECURITY; the cookie age below is only
# the default idle timeout (complete_sign_in sets the policy's on each session).
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = 30 * 60
SESSION_SAVE_EVERY_REQUEST = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
# Pages put the token in the form (and htmx's headers); no script reads the cookie.
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# No inline script or style anywhere (pages use xueji/app.js and app.css with data
# attributes); data: images for Bootstrap's and Swagger UI's inline SVG icons.
XUEJI_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'self'; frame-ancestors 'none'; form-action 'self'"
)
# Path prefix → a different policy for that route (none needed so far).
XUEJI_CSP_ROUTES: dict[str, str] = {}
XUEJI_PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), "
    "microphone=(), payment=(), usb=()"
)

TASKS = {
    "default": {
        "BACKEND": "django_tasks_db.DatabaseBackend",
    }
}

DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

# Registry policy (configurable per deployment).
XUEJI: dict[str, Any] = {
    # Largest accepted import file, bytes.
    "IMPORT_MAX_BYTES": int(os.environ.get("XUEJI_IMPORT_MAX_BYTES", 20 * 1024 * 1024)),
    # Limits of an import file's content, checked while it is read (docs/import.md): data
    # rows, columns holding a value, characters in one cell; for xlsx also the unpacked size
    # of a part of the zip (bytes) and its compression ratio (a "zip bomb" is refused).
    "IMPORT_MAX_ROWS": 200_000,
    "IMPORT_MAX_COLUMNS": 200,
    "IMPORT_MAX_CELL_CHARS": 2_000,
    "IMPORT_MAX_XLSX_UNPACKED_BYTES": 512 * 1024 * 1024,
    "IMPORT_MAX_XLSX_RATIO": 100,
    # A running import's worker writes a heartbeat every N seconds; a running import
    # without one for N minutes is marked failed (its worker died) and the clerk is told
    # to resubmit the file.
    "IMPORT_HEARTBEAT_SECONDS": 30,
    "IMPORT_STALE_MINUTES": 10,
    # Rows handled per chunk by the bulk import pipeline. Two chunks are in memory at once
    # (one checked, the next cleaned): 20,000 made the largest allowed file peak at
    # 514 MB; 2,500 keeps it under 300 MB (docs/benchmarks.md, import memory).
    "IMPORT_CHUNK_ROWS": 2_500,
    # Processes validating the next chunk while this one loads: None = one per spare core,
    # 0 = validate in the importing process.
    "IMPORT_WORKERS": None,
    # Days a finished import (its file and its error rows with the cells as typed) is kept;
    # purge_imports deletes what is older.
    "IMPORT_RETENTION_DAYS": int(os.environ.get("XUEJI_IMPORT_RETENTION_DAYS", 90)),
    # Name similarity (0-100, rapidfuzz) from which a registered student is a candidate duplicate.
    "DUPLICATE_NAME_SCORE": 85,
    # Engine of the nightly duplicate linkage (xueji/anomalies/linkage.py): "duckdb" or "spark".
    "LINKAGE_BACKEND": os.environ.get("XUEJI_LINKAGE_BACKEND", "duckdb"),
    # Anomaly detectors (xueji/anomalies/rules.py DEFAULTS, docs/anomalies.md): no sign of
    # a student for N months is an empty record; attendance sightings younger than N days
    # count; the age band around a grade's usual age (years below, above); temporary L
    # numbers older than N days; a death cancelled within N working days. The linkage's
    # threshold (match probability from which a pair becomes a finding, and is printed by
    # link_duplicates) is "ANOMALY_LINKAGE_THRESHOLD": unset here, so the one default in
    # xueji/anomalies/rules.py DEFAULTS (0.3) applies; set it here to override both.
    "ANOMALY_SILENT_MONTHS": 12,
    "ANOMALY_SIGHTING_DAYS": 180,
    "ANOMALY_AGE_BELOW": 2,
    "ANOMALY_AGE_ABOVE": 3,
    "ANOMALY_TEMP_NUMBER_DAYS": 180,
    "ANOMALY_DEATH_WORKDAYS": 60,
    # Page size of list pages and list endpoints.
    "PAGE_SIZE": 50,
    # The audit trail (xueji/audit): days kept before `audit_purge` may delete (at least 183,
    # six months: check audit.E001); chains written concurrently (xueji/audit/chain.py).
    "AUDIT_RETENTION_DAYS": int(os.environ.get("XUEJI_AUDIT_RETENTION_DAYS", 365)),
    "AUDIT_CHAIN_PARTITIONS": 16,
    # Every read of personal data is audited (xueji/audit/reads.py). "off" exists only for
    # the read-audit benchmark's baseline (bench/read_audit_bench.py); production refuses it.
    "READ_AUDIT": os.environ.get("XUEJI_READ_AUDIT", "on") != "off",
    # Data releases (xueji/releases, docs/releases.md): the k every row-level release meets at
    # least (every combination of its fields covers k people or is suppressed) and the
    # smallest table cell shown; a request may ask for more, never for less.
    "RELEASE_MIN_K": int(os.environ.get("XUEJI_RELEASE_MIN_K", 5)),
    "RELEASE_CELL_THRESHOLD": int(os.environ.get("XUEJI_RELEASE_CELL_THRESHOLD", 5)),
}
# The key release pseudonyms, row orders and traces derive from (each release salts its own).
# Unset: derived from the secret key; set it so that a rotated secret key keeps old traces.
XUEJI_RELEASE_KEY = os.environ.get("XUEJI_RELEASE_KEY", "")

# Security policy (see xueji/accounts/policy.py for every key and its default).
XUEJI_SECURITY: dict = {}
# Field encryption keys: {"1": "<base64url 32 bytes>", ...}; the current version writes.
# Unset: one key derived from the secret key (development only).
XUEJI_FIELD_KEYS: dict = {}
XUEJI_FIELD_KEY_CURRENT = os.environ.get("XUEJI_FIELD_KEY_CURRENT", "")
if os.environ.get("XUEJI_FIELD_KEYS"):
    # "1:key1,2:key2"
    XUEJI_FIELD_KEYS = dict(
        item.split(":", 1) for item in os.environ["XUEJI_FIELD_KEYS"].split(",")
    )
XUEJI_BLIND_INDEX_KEY = os.environ.get("XUEJI_BLIND_INDEX_KEY", "")
# Ed25519 private key (32 bytes, base64url) signing the audit checkpoints; unset: derived from
# the secret key (development only, deploy check audit.W001). Public keys of earlier signing
# keys whose checkpoints still verify: XUEJI_AUDIT_PREVIOUS_PUBLIC_KEYS="key1,key2".
XUEJI_AUDIT_SIGNING_KEY = os.environ.get("XUEJI_AUDIT_SIGNING_KEY", "")
XUEJI_AUDIT_PREVIOUS_PUBLIC_KEYS = [
    k for k in os.environ.get("XUEJI_AUDIT_PREVIOUS_PUBLIC_KEYS", "").split(",") if k
]
# The trusted student digital identity (xueji/credentials, docs/identity.md): the issuer
# identifier (the public URL of this registry), the credential type, validity, status-list
# size and cache time, and how old a key-binding JWT may be.
XUEJI_CREDENTIAL: dict[str, Any] = {
    "ISSUER": os.environ.get("XUEJI_CREDENTIAL_ISSUER", "https://xueji.example.gov.cn"),
    "VCT": "urn:cn:moe:xueji:student-enrolment:1",
    "VALID_DAYS": 365,
    "STATUS_LIST_SIZE": 131_072,
    "STATUS_LIST_TTL": 300,
    "KB_MAX_AGE": 300,
}
# Issuer keys: [{"kid", "alg": "ES256" | "SM2", "file": private JWK or PEM, "state":
# "active" | "previous" | "retired"}] (xueji/credentials/keys.py); from the environment as
# XUEJI_CREDENTIAL_KEYS="kid:alg:state:path,…". Unset: a development key from the secret key.
XUEJI_CREDENTIAL_KEYS: list[dict] = [
    dict(zip(("kid", "alg", "state", "file"), item.split(":", 3), strict=True))
    for item in os.environ.get("XUEJI_CREDENTIAL_KEYS", "").split(",")
    if item
]
# Who delivers the guardian portal's one-time codes: the dotted path of a class with
# ``send(*, phone, message)``. The embedded outbox is for development (docs/portal.md).
# The API documentation (/api/docs, /api/openapi.json): "signed_in" (the default: any
# signed-in account), "off" (404), or "public" (development only; production refuses it).
XUEJI_API_DOCS = os.environ.get("XUEJI_API_DOCS", "signed_in")
XUEJI_PORTAL_SENDER = os.environ.get("XUEJI_PORTAL_SENDER", "xueji.portal.senders.OutboxSender")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {"xueji": {"handlers": ["console"], "level": "INFO", "propagate": False}},
}
