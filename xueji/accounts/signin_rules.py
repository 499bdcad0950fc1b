"""Pure rules of signing in and staying in (requirements §8): lockout, session lifetime,
the API rate window. Time is always passed in; nothing here reads the clock or the database.

Dormancy and training validity are in ``accounts.rules`` (``is_dormant``, ``training_valid``).
"""

from datetime import datetime, timedelta
from enum import StrEnum


class SessionEnd(StrEnum):
    """Why a signed-in session is ended by the server."""

    IDLE = "idle"  # no request for longer than the idle timeout
    ABSOLUTE = "absolute"  # older than the absolute lifetime, however busy
    SUPERSEDED = "superseded"  # single-session policy: a newer sign-in took over


def is_locked(locked_until: datetime | None, now: datetime) -> bool:
    """Whether a lock set by repeated failures is still in force."""
    return locked_until is not None and now < locked_until


def lock_after_failure(
    failures_in_row: int, *, threshold: int, minutes: int, now: datetime
) -> datetime | None:
    """The end of the lock that ``failures_in_row`` failures cause, or None (no lock).

    A threshold of 0 switches lockout off.
    """
    if threshold <= 0 or failures_in_row < threshold:
        return None
    return now + timedelta(minutes=minutes)


def session_end(
    *,
    signed_in_at: datetime,
    active_at: datetime,
    now: datetime,
    idle_minutes: int,
    absolute_hours: int,
) -> SessionEnd | None:
    """Whether a session has outlived its absolute lifetime or its idle timeout."""
    if absolute_hours > 0 and now - signed_in_at >= timedelta(hours=absolute_hours):
        return SessionEnd.ABSOLUTE
    if idle_minutes > 0 and now - active_at >= timedelta(minutes=idle_minutes):
        return SessionEnd.IDLE
    return None


def rate_window(now: datetime, *, seconds: int = 60) -> tuple[int, int]:
    """The fixed rate-limit window ``now`` falls in, and the seconds until the next one."""
    stamp = int(now.timestamp())
    window = stamp // seconds
    return window, (window + 1) * seconds - stamp
