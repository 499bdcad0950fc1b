"""The guardian's session: a key of its own in the Django session, not an account sign-in.

``PENDING_KEY`` holds the id of the code just sent (or nothing, when the numbers matched
nobody: the next page looks the same either way). ``GUARDIAN_KEY`` holds the signed-in
guardian and when it last did something; 30 minutes idle ends it.
"""

from datetime import UTC, datetime

from django.http import HttpRequest

from xueji import clock

from . import rules
from .actor import GuardianActor

PENDING_KEY = "xueji.portal.pending"
GUARDIAN_KEY = "xueji.portal.guardian"


def pending_set(request: HttpRequest, code_id: int | None) -> None:
    request.session[PENDING_KEY] = {"code_id": code_id}


def pending(request: HttpRequest) -> dict | None:
    """The pending sign-in (``{"code_id": …}``), or ``None`` when no code was asked for."""
    value = request.session.get(PENDING_KEY)
    return value if isinstance(value, dict) else None


def session_open(request: HttpRequest, guardian: GuardianActor) -> None:
    """Start the guardian's session under a new session key (no fixation)."""
    request.session.pop(PENDING_KEY, None)
    request.session.cycle_key()
    stamp = clock.now().timestamp()
    request.session[GUARDIAN_KEY] = {
        "student_id": guardian.student_id,
        "guardian_id": guardian.guardian_id,
        "number_masked": guardian.number_masked,
        "signed_in_at": stamp,
        "active_at": stamp,
    }


def session_guardian(request: HttpRequest) -> tuple[GuardianActor | None, bool]:
    """The signed-in guardian, and whether the session has just ended for being idle (the
    guardian is then returned for the audit event, and the key is gone). A live session's
    idle clock restarts."""
    data = request.session.get(GUARDIAN_KEY)
    if not isinstance(data, dict) or "number_masked" not in data:
        # (A session opened before numbers were masked held the full number: it ends.)
        request.session.pop(GUARDIAN_KEY, None)
        return None, False
    guardian = GuardianActor(
        student_id=int(data["student_id"]),
        guardian_id=int(data["guardian_id"]),
        number_masked=str(data["number_masked"]),
    )
    now = clock.now()
    active_at = datetime.fromtimestamp(float(data["active_at"]), tz=UTC)
    if rules.session_idle(active_at=active_at, now=now):
        request.session.pop(GUARDIAN_KEY, None)
        return guardian, True
    request.session[GUARDIAN_KEY] = {**data, "active_at": now.timestamp()}
    return guardian, False


def session_close(request: HttpRequest) -> None:
    request.session.pop(GUARDIAN_KEY, None)
    request.session.pop(PENDING_KEY, None)
    request.session.cycle_key()
