"""The one clock: every service asks here for "now" so tests can move time."""

from datetime import date, datetime

from django.utils import timezone


def now() -> datetime:
    """The current aware datetime (UTC inside, shown in Asia/Shanghai)."""
    return timezone.now()


def today() -> date:
    """Today's date in Asia/Shanghai, the registry's legal time zone."""
    return timezone.localdate()
