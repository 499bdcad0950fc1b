"""Local development and the demo: SQLite under ./var unless DATABASE_URL says otherwise."""

from .base import *  # noqa: F403
from .base import DATA_DIR, SECRET_KEY

DEBUG = True
SECRET_KEY = SECRET_KEY or "dev-only-not-secret-xueji"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]
DATA_DIR.mkdir(parents=True, exist_ok=True)
# The demo's API documentation is open to visitors who have not signed in yet.
XUEJI_API_DOCS = "public"
