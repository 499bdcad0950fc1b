"""Encryption of sensitive fields at rest: AES-256-GCM with a key version on every value.

A stored value looks like ``v1$<base64url(nonce ‖ ciphertext ‖ tag)>``. Keys come from
settings (``XUEJI_FIELD_KEYS``: version → 32-byte key, base64url) or, when none is
configured, one key derived from the secret key (fine for development, not production);
``XUEJI_FIELD_KEY_CURRENT`` names the version new values are written with. Values written
under an older version stay readable until ``rotate_field_keys`` re-encrypts them.
The associated data binds a ciphertext to its column, so a value copied to another column
does not decrypt.
"""

import base64
import hashlib
import os
from functools import cache

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

PREFIX_SEPARATOR = "$"


class FieldKeyError(RuntimeError):
    """A value names a key version this deployment does not have."""


def _decode_key(text: str) -> bytes:
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if len(raw) != 32:
        raise FieldKeyError("field keys must be 32 bytes (base64url)")
    return raw


@cache
def _keys() -> dict[str, bytes]:
    configured = getattr(settings, "XUEJI_FIELD_KEYS", None) or {}
    if configured:
        return {str(version): _decode_key(value) for version, value in configured.items()}
    derived = hashlib.sha256(f"xueji-field-key:{settings.SECRET_KEY}".encode()).digest()
    return {"1": derived}


@cache
def _cipher(version: str) -> AESGCM:
    """One AESGCM object per key version: building it costs more than sealing an ID number,
    and the bulk import encrypts a million of them."""
    key = _keys().get(version)
    if key is None:
        raise FieldKeyError(f"no field key version {version!r}")
    return AESGCM(key)


def versions() -> list[str]:
    """Every configured key version."""
    return sorted(_keys(), key=lambda v: (len(v), v))


@cache
def current_version() -> str:
    configured = getattr(settings, "XUEJI_FIELD_KEY_CURRENT", "") or ""
    keys = _keys()
    if configured:
        if configured not in keys:
            raise FieldKeyError(f"current field key version {configured!r} is not configured")
        return configured
    return max(keys, key=lambda v: (len(v), v))


def reset_cache() -> None:
    """Forget the loaded keys (tests and key rotation change settings at run time)."""
    _keys.cache_clear()
    _cipher.cache_clear()
    current_version.cache_clear()


@receiver(setting_changed)
def _settings_changed(*, setting: str, **kwargs) -> None:
    # override_settings in tests: keys read before the change must not linger.
    if setting in ("XUEJI_FIELD_KEYS", "XUEJI_FIELD_KEY_CURRENT", "SECRET_KEY"):
        reset_cache()


def encrypt(plaintext: str, *, context: str, version: str | None = None) -> str:
    """Encrypt ``plaintext`` for the column named by ``context``; '' stays ''."""
    if plaintext == "":
        return ""
    version = version or current_version()
    nonce = os.urandom(12)
    sealed = _cipher(version).encrypt(nonce, plaintext.encode("utf-8"), context.encode())
    return f"v{version}{PREFIX_SEPARATOR}" + base64.urlsafe_b64encode(
        nonce + sealed
    ).decode().rstrip("=")


def version_of(stored: str) -> str | None:
    if not stored.startswith("v") or PREFIX_SEPARATOR not in stored:
        return None
    return stored[1 : stored.index(PREFIX_SEPARATOR)]


def is_encrypted(stored: str) -> bool:
    return version_of(stored) is not None


def decrypt(stored: str, *, context: str) -> str:
    """The plaintext of a stored value ('' stays '')."""
    if stored == "":
        return ""
    version = version_of(stored)
    if version is None:
        raise FieldKeyError("value is not encrypted")
    body = stored[stored.index(PREFIX_SEPARATOR) + 1 :]
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    return _cipher(version).decrypt(raw[:12], raw[12:], context.encode()).decode("utf-8")


def new_key() -> str:
    """A fresh random key, base64url, for XUEJI_FIELD_KEYS."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
