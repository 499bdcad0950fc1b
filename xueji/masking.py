"""Masking of ID numbers and student numbers: pure functions, no database, no settings.

``xueji.students.identity`` is where the rest of the code takes them from; they live here
so that lower layers (the audit trail) can scrub free text without importing the students
app. A G student number is ``G`` + the 18-character resident ID number, so a full student
number is as sensitive as the ID itself.
"""

import re

# A student number (G/J: 17 digits and a check character; L: 18 digits) or an 18-character
# resident-ID-style number, standing alone (not inside a longer run of letters or digits,
# such as a hex digest).
_NUMBER_IN_TEXT = re.compile(
    r"(?<![0-9A-Za-z])(?:[GJ][0-9]{17}[0-9Xx]|L[0-9]{18}|[0-9]{17}[0-9Xx])(?![0-9A-Za-z])"
)


def mask_number(number: str) -> str:
    """Keep the first 6 and last 4 characters of long numbers (e.g. 110101********1234)."""
    if not number:
        return ""
    if len(number) >= 15:
        return number[:6] + "*" * (len(number) - 10) + number[-4:]
    if len(number) > 4:
        return number[:2] + "*" * (len(number) - 4) + number[-2:]
    return "*" * len(number)


def mask_student_number(text: str) -> str:
    """A student number as lists show it: the kind letter and the division (7 characters),
    8 stars, the last 4 (``G330102********4761``). The stars hide the birth date a G, J or L
    number carries (and the middle of the ID number in a G number). Anything that is not a
    19-character number is masked like an ID number."""
    if not text:
        return ""
    text = text.strip().upper()
    if len(text) == 19:
        return text[:7] + "*" * 8 + text[-4:]
    return mask_number(text)


def _mask_match(match: re.Match) -> str:
    found = match.group(0)
    return mask_student_number(found) if len(found) == 19 else mask_number(found.upper())


def mask_numbers_in_text(text: str) -> str:
    """``text`` with every full student number and 18-character ID number in it masked."""
    if not text or not isinstance(text, str):
        return text
    return _NUMBER_IN_TEXT.sub(_mask_match, text)


def mask_numbers_in(value):
    """The same for every string inside a JSON-like value (dicts, lists; keys untouched)."""
    if isinstance(value, str):
        return mask_numbers_in_text(value)
    if isinstance(value, dict):
        return {key: mask_numbers_in(item) for key, item in value.items()}
    if isinstance(value, list):
        return [mask_numbers_in(item) for item in value]
    return value
