"""Settings of the read-audit benchmark's servers: the development settings made
production-like where it matters for throughput — DEBUG off (no query log), no API rate
limit (one token carries the whole load). ``XUEJI_READ_AUDIT`` (on|off) comes from the
environment of each server, as in ``config.settings.base``."""

from config.settings.dev import *  # noqa: F403
from config.settings.dev import XUEJI_SECURITY

DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
XUEJI_SECURITY = {**XUEJI_SECURITY, "api_rate_per_minute": 0}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "ERROR"},
}
