"""The national issuer's signing keys: ES256 (P-256, through joserfc) by default, SM2 with
SM3 (国密, through gmalg) as a configured alternative.

Keys come from ``XUEJI_CREDENTIAL_KEYS``: a list of ``{"kid", "alg", "file", "state"}``,
each file a private JWK (``{"kty": "EC", "crv": "P-256" | "SM2", "d", "x", "y"}``, or a
PEM for P-256). ``state`` is the rotation step (docs/identity.md):

- ``active``: signs new credentials (exactly one), published in the JWKS;
- ``previous``: rotated out, signs nothing, still published: its credentials verify until
  they expire;
- ``retired``: withdrawn (compromised, or its credentials all expired), not published:
  presentations of its credentials are refused.

Unset, one ES256 key is derived from the secret key (development only).
"""

import hashlib
import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import gmalg
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey

from .rules import b64url_decode, b64url_encode

ES256 = "ES256"
# JOSE has no registered name for SM2; "SM2" here is SM2 signing with SM3 over the signer's
# identity (the default ID of GB/T 35276, 1234567812345678), the signature r‖s, 64 bytes.
SM2 = "SM2"
SM2_ID = b"1234567812345678"
ALGORITHMS = (ES256, SM2)


class KeyState:
    ACTIVE = "active"
    PREVIOUS = "previous"
    RETIRED = "retired"


class KeyConfigError(RuntimeError):
    """The configured keys are unusable (no active key, an unreadable file, …)."""


def _pad32(value: bytes) -> bytes:
    return value.rjust(32, b"\0")


@dataclass
class SigningKey:
    """One key: signs (when it has the private part) and verifies a JWS's signing input."""

    kid: str
    alg: str
    state: str
    public_jwk: dict
    _ec: ECKey | None = field(default=None, repr=False)
    _sm2: Any = field(default=None, repr=False)

    @property
    def can_sign(self) -> bool:
        if self._ec is not None:
            return self._ec.is_private
        return self._sm2 is not None and self._sm2.can_sign

    def sign_compact(self, header: dict, payload: dict) -> str:
        """The compact JWS of ``payload`` (JSON, UTF-8) under ``header`` plus alg and kid."""
        header = {**header, "alg": self.alg, **({"kid": self.kid} if self.kid else {})}
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        if self._ec is not None:
            return jws.serialize_compact(header, body, self._ec, algorithms=[ES256])
        signing_input = (
            b64url_encode(json.dumps(header, separators=(",", ":")).encode("utf-8"))
            + "."
            + b64url_encode(body)
        )
        r, s = self._sm2.sign(signing_input.encode("ascii"))
        return f"{signing_input}.{b64url_encode(_pad32(r) + _pad32(s))}"

    def verify(self, token: str) -> bool:
        """The signature of a compact JWS under this key (its header's alg must be ours)."""
        if self._ec is not None:
            try:
                jws.deserialize_compact(token, self._ec, algorithms=[ES256])
            except (JoseError, ValueError):
                return False
            return True
        try:
            signing_input, signature_b64 = token.rsplit(".", 1)
            signature = b64url_decode(signature_b64)
        except ValueError:
            return False
        if len(signature) != 64:
            return False
        return bool(self._sm2.verify(signing_input.encode("ascii"), signature[:32], signature[32:]))


def key_from_jwk(jwk: dict, *, kid: str = "", state: str = KeyState.ACTIVE) -> SigningKey:
    """A signing key (or a verifying one, without ``d``) from a JWK."""
    kid = kid or jwk.get("kid", "")
    crv = jwk.get("crv")
    if jwk.get("kty") != "EC" or crv not in ("P-256", "SM2"):
        raise KeyConfigError(f"key {kid!r}: only EC P-256 (ES256) and SM2 keys are supported")
    public = {k: jwk[k] for k in ("kty", "crv", "x", "y")}
    if crv == "P-256":
        public_jwk = {**public, "kid": kid, "alg": ES256, "use": "sig"} if kid else public
        return SigningKey(kid, ES256, state, public_jwk, _ec=ECKey.import_key(dict(jwk)))
    point = b"\x04" + _pad32(b64url_decode(jwk["x"])) + _pad32(b64url_decode(jwk["y"]))
    secret = b64url_decode(jwk["d"]) if jwk.get("d") else None
    sm2 = gmalg.SM2(sk=secret, uid=SM2_ID, pk=point)
    public_jwk = {**public, "kid": kid, "alg": SM2, "use": "sig"} if kid else public
    return SigningKey(kid, SM2, state, public_jwk, _sm2=sm2)


def new_private_jwk(alg: str) -> dict:
    """A fresh private key as a JWK (``credential_keygen``, the tests, the portal's holder
    keys)."""
    if alg == ES256:
        return ECKey.generate_key("P-256").as_dict(private=True)
    if alg == SM2:
        secret, point = gmalg.SM2().generate_keypair()
        return {
            "kty": "EC",
            "crv": "SM2",
            "d": b64url_encode(_pad32(secret)),
            "x": b64url_encode(point[1:33]),
            "y": b64url_encode(point[33:65]),
        }
    raise KeyConfigError(f"unknown algorithm {alg!r}")


def thumbprint(public_jwk: dict) -> str:
    """RFC 7638 thumbprint (SHA-256) of an EC public key."""
    members = {k: public_jwk[k] for k in ("crv", "kty", "x", "y")}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True)
    return b64url_encode(hashlib.sha256(canonical.encode("utf-8")).digest())


def _load_file(path: str) -> dict:
    text = Path(path).read_text(encoding="utf-8")
    if text.lstrip().startswith("-----BEGIN"):
        return ECKey.import_key(text).as_dict(private=True)
    return json.loads(text)


def _derived_development_key() -> dict:
    # Development only (deploy check credentials.W001): a P-256 key from the secret key.
    seed = hashlib.sha256(f"xueji-credential-key:{settings.SECRET_KEY}".encode()).digest()
    order = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    private = ec.derive_private_key(int.from_bytes(seed, "big") % (order - 1) + 1, ec.SECP256R1())
    numbers = private.public_key().public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "d": b64url_encode(private.private_numbers().private_value.to_bytes(32, "big")),
        "x": b64url_encode(numbers.x.to_bytes(32, "big")),
        "y": b64url_encode(numbers.y.to_bytes(32, "big")),
    }


@dataclass(frozen=True)
class KeyRing:
    keys: tuple[SigningKey, ...]

    @property
    def active(self) -> SigningKey:
        for key in self.keys:
            if key.state == KeyState.ACTIVE:
                return key
        raise KeyConfigError("no active credential key")

    def get(self, kid: str) -> SigningKey | None:
        for key in self.keys:
            if key.kid == kid:
                return key
        return None

    def jwks(self) -> dict:
        """The published keys: active and previous, never retired ones."""
        return {
            "keys": [
                key.public_jwk
                for key in self.keys
                if key.state in (KeyState.ACTIVE, KeyState.PREVIOUS)
            ]
        }


def configured() -> bool:
    return bool(getattr(settings, "XUEJI_CREDENTIAL_KEYS", None))


@cache
def key_ring() -> KeyRing:
    entries = getattr(settings, "XUEJI_CREDENTIAL_KEYS", None) or []
    keys: list[SigningKey] = []
    for entry in entries:
        state = entry.get("state", KeyState.ACTIVE)
        if state not in (KeyState.ACTIVE, KeyState.PREVIOUS, KeyState.RETIRED):
            raise KeyConfigError(f"key {entry.get('kid')!r}: unknown state {state!r}")
        jwk = entry["jwk"] if "jwk" in entry else _load_file(entry["file"])
        key = key_from_jwk(jwk, kid=entry["kid"], state=state)
        if entry.get("alg") and entry["alg"] != key.alg:
            raise KeyConfigError(f"key {entry['kid']!r} is {key.alg}, not {entry['alg']}")
        keys.append(key)
    if not keys:
        keys.append(key_from_jwk(_derived_development_key(), kid="dev-es256"))
    if sum(1 for key in keys if key.state == KeyState.ACTIVE) != 1:
        raise KeyConfigError("exactly one credential key must be active")
    return KeyRing(tuple(keys))


@receiver(setting_changed)
def _settings_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in ("XUEJI_CREDENTIAL_KEYS", "SECRET_KEY"):
        key_ring.cache_clear()
