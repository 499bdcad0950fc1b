"""Tests: SQLite by default; PostgreSQL when XUEJI_TEST_DATABASE_URL is set."""

import os
import tempfile
from pathlib import Path

from .base import *  # noqa: F403
from .base import XUEJI, database_from_env, sqlite_database

SECRET_KEY = "test-only-not-secret"  # noqa: S105
DEBUG = False
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
DATA_DIR = Path(tempfile.mkdtemp(prefix="xueji-test-"))
MEDIA_ROOT = DATA_DIR / "media"

_pg = os.environ.get("XUEJI_TEST_DATABASE_URL")
if _pg:
    DATABASES = {"default": database_from_env(_pg)}
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # Named after the URL's database ("test" gives "xueji_test"), so runs against different
    # URLs on one server never share a test database (pytest-xdist appends _gw0, _gw1, ...).
    DATABASES["default"]["TEST"] = {"NAME": f"xueji_{DATABASES['default']['NAME']}"}
else:
    DATABASES = {"default": sqlite_database(DATA_DIR / "test.sqlite3")}

# Argon2 is deliberately slow; tests hash thousands of passwords.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
XUEJI = {**XUEJI, "IMPORT_CHUNK_ROWS": 500}
