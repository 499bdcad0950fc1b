"""The one module that reads and writes ID numbers.

Today the number is stored as given (normalised) and a keyed blind index (HMAC-SHA256)
serves exact search and uniqueness. Encryption at rest with key versions slots in here
(``write_id``/``read_id``) without touching callers.
"""

import hashlib
import hmac
from functools import cache

from django.conf import settings

from .rules import IdType, normalize_id

# Types whose numbers share one national namespace (both are GB 11643-style numbers).
_NATIONAL_FAMILY = {IdType.RESIDENT_ID, IdType.RESIDENCE_PERMIT}
ALL_FAMILIES = (
    "CN",
    IdType.HKMO_PERMIT,
    IdType.TW_PERMIT,
    IdType.PASSPORT,
    IdType.FOREIGN_PERMANENT,
    IdType.OTHER,
)


@cache
def _index_key() -> bytes:
    configured = getattr(settings, "XUEJI_BLIND_INDEX_KEY", "") or ""
    material = configured or f"xueji-blind-index:{settings.SECRET_KEY}"
    return hashlib.sha256(material.encode()).digest()


def _family(id_type: str) -> str:
    return "CN" if id_type in _NATIONAL_FAMILY else str(id_type)


def blind_index(id_type: str, normalized_number: str) -> str:
    """The keyed index of an already-normalised number (64 hex characters)."""
    message = f"{_family(id_type)}:{normalized_number}".encode()
    return hmac.new(_index_key(), message, hashlib.sha256).hexdigest()


def id_key(id_type: str, raw_number: str) -> str | None:
    """Normalise and index a number; ``None`` when there is no number."""
    if not id_type or not raw_number or not raw_number.strip():
        return None
    return blind_index(id_type, normalize_id(id_type, raw_number))


def search_keys(raw_number: str) -> list[str]:
    """Every index a typed-in number could have, whatever its document type."""
    keys = []
    for family in ALL_FAMILIES:
        id_type = IdType.RESIDENT_ID if family == "CN" else family
        number = normalize_id(id_type, raw_number)
        if number:
            keys.append(blind_index(id_type, number))
    return keys


def write_id(obj, id_type: str, raw_number: str) -> None:
    """Set type, stored value and index on a Student or Guardian (unsaved change)."""
    number = normalize_id(id_type, raw_number) if raw_number else ""
    obj.id_type = id_type if number else (id_type or "")
    obj.id_number = number
    obj.id_key = blind_index(id_type, number) if number else None


def stored_value(id_type: str, normalized_number: str) -> str:
    """What goes into the ``id_number`` column for bulk paths (same as ``write_id``)."""
    return normalized_number


def read_id(obj) -> str:
    """The full number. Callers show it only where the task needs it."""
    return obj.id_number or ""


def mask_number(number: str) -> str:
    """Keep the first 6 and last 4 characters of long numbers (e.g. 110101********1234)."""
    if not number:
        return ""
    if len(number) >= 15:
        return number[:6] + "*" * (len(number) - 10) + number[-4:]
    if len(number) > 4:
        return number[:2] + "*" * (len(number) - 4) + number[-2:]
    return "*" * len(number)


def masked_id(obj) -> str:
    return mask_number(read_id(obj))
