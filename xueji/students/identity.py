"""The one module that reads and writes ID numbers, and the vocabulary of sensitive fields.

At rest, ``id_number`` (students and guardians) holds the normalised number encrypted with
AES-256-GCM (``xueji.fieldcrypto``): ``v<key version>$…``, bound to its column by the
associated data, so a value copied from a guardian to a student does not decrypt. Exact
search and the one-record-per-ID uniqueness use ``id_key``, a keyed blind index
(HMAC-SHA256 under ``XUEJI_BLIND_INDEX_KEY``, or a key derived from the secret key) of the
normalised number: equal numbers give equal indexes, and the index reveals nothing without
the key.

Rotating the field keys (``rotate_field_keys``) re-encrypts values and leaves the index
alone. Changing the blind-index key changes every index: existing rows stop matching until
``rotate_field_keys --reindex`` has recomputed them from the decrypted numbers, so it runs
with registration stopped.

Masking (``mask_number``, ``mask_student_number``, ``mask_address``; the first two come from
``xueji.masking``) and the names of the fields a user may reveal
(``parse_reveal_field``) live here too: pure functions, no database.
"""

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from functools import cache

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from xueji import fieldcrypto

# Re-exported: the rest of the code takes masking from here.
from xueji.masking import mask_number as mask_number
from xueji.masking import mask_numbers_in_text as mask_numbers_in_text
from xueji.masking import mask_student_number as mask_student_number

from .fields import seal_json
from .rules import IdType, _strip, _to_halfwidth, normalize_id

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

# The associated data of each encrypted column (never change: stored values depend on it).
STUDENT_ID_CONTEXT = "students.id_number"
GUARDIAN_ID_CONTEXT = "students.guardian_id_number"
# Student numbers (``Student.number`` and every issued ``StudentNumber.number``).
STUDENT_NUMBER_CONTEXT = "students.student_number"
# A guardian's phone (``Guardian.phone``) and a student's whole non-basic information
# (``NonBasicInfo.data``: addresses, phones, disability, orphan, left-behind…).
GUARDIAN_PHONE_CONTEXT = "students.guardian_phone"
NON_BASIC_CONTEXT = "students.non_basic"


@cache
def _index_key() -> bytes:
    configured = getattr(settings, "XUEJI_BLIND_INDEX_KEY", "") or ""
    material = configured or f"xueji-blind-index:{settings.SECRET_KEY}"
    return hashlib.sha256(material.encode()).digest()


@cache
def _keyed_hmac() -> "hmac.HMAC":
    # Keyed once; each index copies it (the bulk import indexes two numbers per row).
    return hmac.new(_index_key(), digestmod=hashlib.sha256)


def reset_index_key() -> None:
    """Forget the loaded blind-index key (settings changed at run time)."""
    _index_key.cache_clear()
    _keyed_hmac.cache_clear()


@receiver(setting_changed)
def _settings_changed(*, setting: str, **kwargs) -> None:
    if setting in ("XUEJI_BLIND_INDEX_KEY", "SECRET_KEY"):
        reset_index_key()


def _family(id_type: str) -> str:
    return "CN" if id_type in _NATIONAL_FAMILY else str(id_type)


def blind_index(id_type: str, normalized_number: str) -> str:
    """The keyed index of an already-normalised number (64 hex characters)."""
    mac = _keyed_hmac().copy()
    mac.update(f"{_family(id_type)}:{normalized_number}".encode())
    return mac.hexdigest()


def id_key(id_type: str, raw_number: str) -> str | None:
    """Normalise and index a number; ``None`` when there is no number."""
    if not id_type or not raw_number or not raw_number.strip():
        return None
    return blind_index(id_type, normalize_id(id_type, raw_number))


def normalize_student_number(text: str) -> str:
    """A typed-in student number as it is stored: half-width, no spaces, upper case."""
    return "".join(_strip(_to_halfwidth(text or "")).split()).upper()


def number_key(number: str) -> str:
    """The keyed blind index of a student number (G, J or L; 64 hex characters).

    Under the same key as the ID numbers' index, in its own namespace (``SN:``), so a G
    number's index differs from its ID number's."""
    mac = _keyed_hmac().copy()
    mac.update(f"SN:{normalize_student_number(number)}".encode())
    return mac.hexdigest()


def seal_number(number: str) -> str:
    """A student number as the database stores it (bulk SQL paths; the model field does the
    same on save)."""
    return fieldcrypto.encrypt(normalize_student_number(number), context=STUDENT_NUMBER_CONTEXT)


def seal_phone(phone: str) -> str:
    """A guardian's phone as the database stores it (bulk SQL paths)."""
    return fieldcrypto.encrypt(phone or "", context=GUARDIAN_PHONE_CONTEXT)


def read_phone(stored: str) -> str:
    """A guardian's phone from the raw column (bulk SQL reads; the model field decrypts)."""
    return decrypt_stored(stored or "", context=GUARDIAN_PHONE_CONTEXT)


def seal_non_basic(data: dict) -> str:
    """A student's non-basic information as the database stores it (bulk SQL paths)."""
    return seal_json(data, context=NON_BASIC_CONTEXT)


def read_non_basic(stored) -> dict:
    """Non-basic information from the raw column (bulk SQL reads): a dict, {} for none."""
    if stored is None or stored == "":
        return {}
    if isinstance(stored, str):
        if fieldcrypto.is_encrypted(stored):
            stored = fieldcrypto.decrypt(stored, context=NON_BASIC_CONTEXT)
        stored = json.loads(stored)
    return stored if isinstance(stored, dict) else {}


def number_q(number: str, *, field: str = ""):
    """The condition "this student number" on a Student queryset (``field`` '') or through
    a relation (``field="student"``): through the blind index, never the encrypted column.
    Every lookup by student number goes through this."""
    from django.db.models import Q

    prefix = f"{field}__" if field else ""
    return Q(**{f"{prefix}number_key": number_key(number)})


def number_keys(numbers) -> dict[str, str]:
    """blind index → number, for ``number_key__in`` lookups of many numbers."""
    return {number_key(n): normalize_student_number(n) for n in numbers if n}


def search_keys(raw_number: str) -> list[str]:
    """Every index a typed-in number could have, whatever its document type."""
    keys = []
    for family in ALL_FAMILIES:
        id_type = IdType.RESIDENT_ID if family == "CN" else family
        number = normalize_id(id_type, raw_number)
        if number:
            keys.append(blind_index(id_type, number))
    return keys


def context_of(obj) -> str:
    """The encryption context of a Student or Guardian (historical models in migrations too)."""
    return GUARDIAN_ID_CONTEXT if obj._meta.model_name == "guardian" else STUDENT_ID_CONTEXT


def write_id(obj, id_type: str, raw_number: str) -> None:
    """Set type, encrypted number and index on a Student or Guardian (unsaved change)."""
    number = normalize_id(id_type, raw_number) if raw_number else ""
    obj.id_type = id_type if number else (id_type or "")
    obj.id_number = fieldcrypto.encrypt(number, context=context_of(obj))
    obj.id_key = blind_index(id_type, number) if number else None


def stored_value(id_type: str, normalized_number: str, *, guardian: bool = False) -> str:
    """What goes into the ``id_number`` column for bulk paths (same as ``write_id``):
    the encrypted number, '' for none. ``guardian`` picks the guardians' column."""
    context = GUARDIAN_ID_CONTEXT if guardian else STUDENT_ID_CONTEXT
    return fieldcrypto.encrypt(normalized_number, context=context)


def decrypt_stored(stored: str, *, context: str) -> str:
    """The plaintext of a stored ``id_number``. A value without the ``v…$`` prefix is a
    number written before encryption (the data migration encrypts them all) and is
    returned as it is rather than failing a page."""
    if not stored or not fieldcrypto.is_encrypted(stored):
        return stored or ""
    return fieldcrypto.decrypt(stored, context=context)


def read_id(obj) -> str:
    """The full number. Callers show it only where the task needs it (see ``student_reveal``)."""
    return decrypt_stored(obj.id_number or "", context=context_of(obj))


def index_of(obj) -> str | None:
    """The blind index the row should carry under the current key (for re-indexing)."""
    number = read_id(obj)
    return blind_index(obj.id_type, number) if number and obj.id_type else None


# ---------------------------------------------------------------- masking


def read_number(obj) -> str:
    """The full student number of a Student or StudentNumber (decrypted by the model field).
    Callers show it only where the task needs it (``permissions.may_see_full_number``,
    ``student_reveal``, printing)."""
    return obj.number or ""


def mask_address(text: str) -> str:
    """Keep the region at the start of an address (at most 6 characters, never more than
    half of it) and hide the rest behind a fixed run of stars, so the length tells nothing."""
    if not text:
        return ""
    keep = min(6, len(text) // 2)
    return text[:keep] + "*" * 6


def masked_id(obj) -> str:
    return mask_number(read_id(obj))


def is_sensitive_non_basic(key: str, field_type: str = "") -> bool:
    """Non-basic fields shown masked: phone numbers (by type or key) and addresses."""
    return field_type == "phone" or key.endswith("phone") or key.endswith("address")


def mask_non_basic(key: str, value, field_type: str = ""):
    """A non-basic value as lists and details show it (sensitive text masked)."""
    if not isinstance(value, str) or not value or not is_sensitive_non_basic(key, field_type):
        return value
    return mask_address(value) if key.endswith("address") else mask_number(value)


# ---------------------------------------------------------------- reveal field names

REVEAL_REASON_MIN = 4
# The reveal field naming the student number (before non-basic keys: a schema key of the
# same spelling cannot shadow it).
NUMBER_FIELD = "number"
REVEAL_REASON_MAX = 200


@dataclass(frozen=True)
class RevealField:
    """What a reveal names: the student's ID number or student number, a non-basic key, or a
    guardian's field.

    Spelled ``id_number``, ``number``, ``<non-basic key>`` (``phone``, ``address``…),
    ``guardian:<id>:id_number`` or ``guardian:<id>:phone``.
    """

    name: str  # "id_number", "number", a non-basic key, or the guardian's "id_number" / "phone"
    guardian_id: int | None = None

    def __str__(self) -> str:
        if self.guardian_id is None:
            return self.name
        return f"guardian:{self.guardian_id}:{self.name}"


GUARDIAN_REVEALABLE = ("id_number", "phone")
_GUARDIAN_FIELD_RE = re.compile(r"guardian:(?P<id>[1-9][0-9]{0,17}):(?P<name>id_number|phone)")
# ``id_number`` or a non-basic key (schema keys follow the same pattern).
_PLAIN_FIELD_RE = re.compile(r"[a-z][a-z0-9_]{0,39}")


def parse_reveal_field(text: str) -> RevealField | None:
    """The field a reveal request names, or ``None`` when the spelling is not one of ours.

    Whether a non-basic key is sensitive depends on the student's schema (a province may
    define its own phone fields): the service checks that.
    """
    text = (text or "").strip()
    match = _GUARDIAN_FIELD_RE.fullmatch(text)
    if match:
        return RevealField(match["name"], int(match["id"]))
    if _PLAIN_FIELD_RE.fullmatch(text):
        return RevealField(text)
    return None


def reveal_reason_ok(reason: str) -> bool:
    """A reveal needs a reason a reader of the audit trail can judge (4 characters or more)."""
    return len((reason or "").strip()) >= REVEAL_REASON_MIN
