"""The portal's limits and pure rules: code lifetime and tries, send rate, session idle
time, and how names, phones and codes are masked. No database, no clock (time passed in)."""

import re
import secrets
from datetime import datetime, timedelta
from enum import StrEnum

CODE_DIGITS = 6
CODE_TTL = timedelta(minutes=10)
CODE_MAX_ATTEMPTS = 5  # wrong codes that kill a code
SENDS_PER_HOUR = 5  # codes per student + guardian in any sliding hour
SEND_WINDOW = timedelta(hours=1)
SESSION_IDLE = timedelta(minutes=30)

_CODE_RE = re.compile(rf"(?<!\d)\d{{{CODE_DIGITS}}}(?!\d)")


class CodeState(StrEnum):
    USABLE = "usable"
    USED = "used"
    EXPIRED = "expired"
    EXHAUSTED = "exhausted"  # too many wrong tries


def code_new() -> str:
    """A fresh six-digit code from the system's secure random source."""
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def code_normalise(text: str) -> str:
    """What a guardian typed: spaces and full-width digits tolerated."""
    digits = "".join(ch for ch in (text or "") if not ch.isspace())
    return digits.translate(str.maketrans("０１２３４５６７８９", "0123456789"))


def code_state(
    *, now: datetime, expires_at: datetime, attempts: int, used_at: datetime | None
) -> CodeState:
    if used_at is not None:
        return CodeState.USED
    if attempts >= CODE_MAX_ATTEMPTS:
        return CodeState.EXHAUSTED
    if now >= expires_at:
        return CodeState.EXPIRED
    return CodeState.USABLE


def send_allowed(sent_in_window: int) -> bool:
    """Whether another code may go out to one student + guardian this hour."""
    return sent_in_window < SENDS_PER_HOUR


def session_idle(*, active_at: datetime, now: datetime) -> bool:
    """Whether a guardian's session has been idle too long (30 minutes)."""
    return now - active_at >= SESSION_IDLE


def mask_phone(phone: str) -> str:
    """138****8000 for a mobile number; other numbers keep two characters at each end."""
    digits = re.sub(r"\D", "", phone or "")
    if len(digits) == 11:
        return digits[:3] + "****" + digits[-4:]
    if len(digits) > 4:
        return digits[:2] + "*" * (len(digits) - 4) + digits[-2:]
    return "*" * len(digits)


def mask_name(name: str) -> str:
    """张*明, 李*, 欧阳**: the first character (and the last of three or more) shown."""
    name = (name or "").strip()
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    if len(name) == 3:
        return name[0] + "*" + name[-1]
    return name[:2] + "*" * (len(name) - 2)


def mask_codes(text: str) -> str:
    """A message with every six-digit run (the code) replaced by stars."""
    return _CODE_RE.sub("*" * CODE_DIGITS, text or "")
