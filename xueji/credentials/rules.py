"""Pure rules of the enrolment credential: the SD-JWT pieces (RFC 9901), the claims of an
SD-JWT VC, and the IETF Token Status List. No database, no clock: times are passed in.

An issued credential is ``<issuer-signed JWT>~<disclosure>~…~`` and a presentation is
``<issuer-signed JWT>~<chosen disclosures>~<KB-JWT>``. A disclosure is the base64url of the
JSON array ``[salt, name, value]``; the signed payload holds only its digest (in ``_sd``).
"""

import base64
import binascii
import hashlib
import json
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import IntEnum, StrEnum

import gmalg

SEPARATOR = "~"
SD_TYP = "dc+sd-jwt"
KB_TYP = "kb+jwt"
STATUS_LIST_TYP = "statuslist+jwt"
# Every claim but these is selectively disclosable (issuer, type, validity and the
# machinery: key binding and status).
ALWAYS_VISIBLE = frozenset({"iss", "vct", "iat", "exp", "nbf", "cnf", "status", "_sd_alg"})


# ----------------------------------------------------------------- encoding and digests


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class EncodingError(ValueError):
    """Not base64url without padding, or not the JSON it should hold."""


def b64url_decode(text: str) -> bytes:
    if not text or "=" in text or any(c in text for c in "+/ \n"):
        raise EncodingError("not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as error:
        raise EncodingError("not base64url") from error


def _sm3_value(data: bytes) -> bytes:
    hasher = gmalg.SM3()
    hasher.update(data)
    return hasher.value()


# ``_sd_alg`` names from the IANA "Named Information Hash Algorithm" registry; "sm3" for the
# 国密 suite (not registered there: a relying party on SM2 keys must know it).
HASHES: dict[str, Callable[[bytes], bytes]] = {
    "sha-256": lambda data: hashlib.sha256(data).digest(),
    "sm3": _sm3_value,
}
DEFAULT_SD_ALG = "sha-256"


def digest(text: str, sd_alg: str) -> str:
    """The base64url digest of the ASCII text (a disclosure, or a presentation for
    ``sd_hash``)."""
    return b64url_encode(HASHES[sd_alg](text.encode("ascii")))


def disclosure_encode(salt: str, name: str, value: object) -> str:
    # Any JSON serialization is allowed (RFC 9901 §4.2.1): the digest covers the bytes sent.
    text = json.dumps([salt, name, value], ensure_ascii=False, separators=(",", ":"))
    return b64url_encode(text.encode("utf-8"))


@dataclass(frozen=True)
class Disclosure:
    encoded: str
    salt: str
    name: str | None  # None: an array element
    value: object


def disclosure_decode(encoded: str) -> Disclosure:
    try:
        content = json.loads(b64url_decode(encoded))
    except (EncodingError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise EncodingError("disclosure is not base64url JSON") from error
    if not isinstance(content, list) or not content or not isinstance(content[0], str):
        raise EncodingError("disclosure is not an array starting with a salt")
    if len(content) == 3 and isinstance(content[1], str):
        return Disclosure(encoded, content[0], content[1], content[2])
    if len(content) == 2:
        return Disclosure(encoded, content[0], None, content[1])
    raise EncodingError("disclosure has neither 2 nor 3 elements")


def conceal(
    claims: dict, *, salts: Callable[[], str], sd_alg: str = DEFAULT_SD_ALG
) -> tuple[dict, list[str]]:
    """(payload, disclosures): every claim not in ``ALWAYS_VISIBLE`` replaced by the digest
    of its disclosure; a nested object (the school) stays visible with its members
    concealed the same way. Digests are sorted, so their order tells nothing."""
    payload: dict = {}
    disclosures: list[str] = []
    digests: list[str] = []
    for name, value in claims.items():
        if name in ALWAYS_VISIBLE:
            payload[name] = value
            continue
        if isinstance(value, dict):
            inner, inner_disclosures = conceal(value, salts=salts, sd_alg=sd_alg)
            payload[name] = inner
            disclosures += inner_disclosures
            continue
        encoded = disclosure_encode(salts(), name, value)
        disclosures.append(encoded)
        digests.append(digest(encoded, sd_alg))
    if digests:
        payload["_sd"] = sorted(digests)
    return payload, disclosures


class UnpackError(ValueError):
    """A disclosure nobody refers to, referred to twice, or clashing with a visible claim."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def reveal(payload: dict, disclosures: list[str], *, sd_alg: str) -> tuple[dict, list[str]]:
    """The claims the disclosures reveal, merged into the payload (RFC 9901 §7.1, step 3):
    (claims, names of the disclosed claims as paths like ``school.code``).

    Refuses a disclosure whose digest appears nowhere, a digest that appears twice, a
    disclosed name that is already a visible claim or is ``_sd``/``...``."""
    by_digest: dict[str, Disclosure] = {}
    for encoded in disclosures:
        key = digest(encoded, sd_alg)
        if key in by_digest:
            raise UnpackError("disclosure.duplicate")
        by_digest[key] = disclosure_decode(encoded)
    used: set[str] = set()
    seen_digests: set[str] = set()
    revealed: list[str] = []

    def walk(node: object, path: str) -> object:
        if isinstance(node, list):
            out = []
            for item in node:
                if isinstance(item, dict) and set(item) == {"..."}:
                    ref = item["..."]
                    if ref in seen_digests:
                        raise UnpackError("digest.duplicate")
                    seen_digests.add(ref)
                    found = by_digest.get(ref)
                    if found is None:
                        continue
                    if found.name is not None:
                        raise UnpackError("disclosure.malformed")
                    used.add(ref)
                    out.append(walk(found.value, path))
                else:
                    out.append(walk(item, path))
            return out
        if not isinstance(node, dict):
            return node
        result: dict = {}
        for name, value in node.items():
            if name in ("_sd", "_sd_alg"):
                continue
            result[name] = walk(value, f"{path}{name}.")
        for ref in node.get("_sd", []):
            if not isinstance(ref, str) or ref in seen_digests:
                raise UnpackError("digest.duplicate")
            seen_digests.add(ref)
            found = by_digest.get(ref)
            if found is None:
                continue  # not disclosed (or a decoy)
            if found.name is None or found.name in ("_sd", "...") or found.name in result:
                raise UnpackError("disclosure.malformed")
            used.add(ref)
            result[found.name] = walk(found.value, f"{path}{found.name}.")
            revealed.append(f"{path}{found.name}")
        return result

    claims = walk(payload, "")
    if set(by_digest) - used:
        raise UnpackError("disclosure.unreferenced")
    assert isinstance(claims, dict)
    return claims, sorted(revealed)


def disclosure_paths(payload: dict, disclosures: list[str], *, sd_alg: str) -> dict[str, str]:
    """Path of each disclosure's claim (``name``, ``school.code``) → the disclosure: what a
    holder chooses from."""
    _claims, _paths = reveal(payload, disclosures, sd_alg=sd_alg)
    out: dict[str, str] = {}
    by_digest = {digest(d, sd_alg): d for d in disclosures}

    def walk(node: object, path: str) -> None:
        if not isinstance(node, dict):
            return
        for ref in node.get("_sd", []):
            encoded = by_digest.get(ref)
            if encoded is not None:
                found = disclosure_decode(encoded)
                out[f"{path}{found.name}"] = encoded
                walk(found.value, f"{path}{found.name}.")
        for name, value in node.items():
            if name != "_sd":
                walk(value, f"{path}{name}.")

    walk(payload, "")
    return out


# ----------------------------------------------------------------- the compact forms


@dataclass(frozen=True)
class Parts:
    """A split SD-JWT: the issuer-signed JWT, the disclosures and the KB-JWT ("" if none)."""

    issuer_jwt: str
    disclosures: list[str]
    kb_jwt: str

    @property
    def presented(self) -> str:
        """What ``sd_hash`` covers: everything up to and including the last ``~``."""
        return SEPARATOR.join([self.issuer_jwt, *self.disclosures, ""])


def split(text: str) -> Parts:
    pieces = text.strip().split(SEPARATOR)
    if len(pieces) < 2 or pieces[0].count(".") != 2:
        raise EncodingError("not an SD-JWT (JWT~disclosures~[KB-JWT])")
    if any(not piece for piece in pieces[1:-1]):
        raise EncodingError("empty disclosure")
    return Parts(pieces[0], pieces[1:-1], pieces[-1])


def combine(issuer_jwt: str, disclosures: list[str], kb_jwt: str = "") -> str:
    return SEPARATOR.join([issuer_jwt, *disclosures, kb_jwt])


def jwt_unverified(token: str) -> tuple[dict, dict, bytes, bytes]:
    """(header, payload, signing input, signature) of a compact JWS, unverified."""
    try:
        header_b64, payload_b64, signature_b64 = token.split(".")
        header = json.loads(b64url_decode(header_b64))
        payload = json.loads(b64url_decode(payload_b64))
        signature = b64url_decode(signature_b64)
    except (ValueError, UnicodeDecodeError) as error:
        raise EncodingError("not a compact JWS") from error
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise EncodingError("JWS header or payload is not an object")
    return header, payload, f"{header_b64}.{payload_b64}".encode("ascii"), signature


# ----------------------------------------------------------------- the enrolment claims


@dataclass(frozen=True)
class EnrolmentFacts:
    """What the credential states, as the registry holds it at issuance."""

    student_number: str
    name: str
    school_code: str
    school_name: str
    stage: str
    grade: str
    enrolment_status: str


def credential_claims(
    facts: EnrolmentFacts,
    *,
    issuer: str,
    vct: str,
    issued_at: int,
    expires_at: int,
    holder_jwk: dict,
    status_uri: str,
    status_index: int,
    issue_date: str,
) -> dict:
    """The SD-JWT VC claims before concealment. ``enrolment_status`` is the registry's
    status (在籍在校…); ``status`` is the Token Status List reference."""
    return {
        "iss": issuer,
        "vct": vct,
        "iat": issued_at,
        "exp": expires_at,
        "cnf": {"jwk": holder_jwk},
        "status": {"status_list": {"idx": status_index, "uri": status_uri}},
        "student_number": facts.student_number,
        "name": facts.name,
        "school": {"code": facts.school_code, "name": facts.school_name},
        "stage": facts.stage,
        "grade": facts.grade,
        "enrolment_status": facts.enrolment_status,
        "issue_date": issue_date,
    }


# Paths a holder may disclose, in the order the portal offers them.
DISCLOSABLE = (
    "student_number",
    "name",
    "school.code",
    "school.name",
    "stage",
    "grade",
    "enrolment_status",
    "issue_date",
)


# ----------------------------------------------------------------- token status list


class TokenStatus(IntEnum):
    """Status values of draft-ietf-oauth-status-list (two bits per credential)."""

    VALID = 0
    INVALID = 1
    SUSPENDED = 2


STATUS_BITS = 2


def status_list_pack(size: int, marks: Mapping[int, int], *, bits: int = STATUS_BITS) -> bytes:
    """The raw byte array: entry ``i`` at bits ``(i % (8/bits)) * bits`` of byte
    ``i * bits // 8`` (least significant first); unmarked entries are VALID (0)."""
    per_byte = 8 // bits
    data = bytearray((size + per_byte - 1) // per_byte)
    for index, value in marks.items():
        data[index // per_byte] |= value << ((index % per_byte) * bits)
    return bytes(data)


def status_list_encode(raw: bytes) -> str:
    """``lst``: the zlib (RFC 1950) compressed byte array, base64url."""
    return b64url_encode(zlib.compress(raw, 9))


def status_list_value(lst: str, index: int, *, bits: int = STATUS_BITS) -> int:
    raw = zlib.decompress(b64url_decode(lst))
    return status_at(raw, index, bits=bits)


def status_at(raw: bytes, index: int, *, bits: int = STATUS_BITS) -> int:
    per_byte = 8 // bits
    position = index // per_byte
    if index < 0 or position >= len(raw):
        raise IndexError("status index outside the list")
    return (raw[position] >> ((index % per_byte) * bits)) & ((1 << bits) - 1)


# ----------------------------------------------------------------- verification outcomes


class Reason(StrEnum):
    """Why a presentation is refused (stable codes; Chinese text in ``REASON_TEXT``)."""

    MALFORMED = "credential.malformed"
    TYP = "credential.typ"
    ALG = "credential.alg"
    UNKNOWN_KEY = "credential.unknown_key"
    KEY_RETIRED = "credential.key_retired"
    SIGNATURE = "credential.signature"
    ISSUER = "credential.issuer"
    VCT = "credential.vct"
    EXPIRED = "credential.expired"
    NOT_YET_VALID = "credential.not_yet_valid"
    DISCLOSURE = "credential.disclosure"
    KB_MISSING = "presentation.kb_missing"
    KB_SIGNATURE = "presentation.kb_signature"
    KB_NONCE = "presentation.nonce"
    KB_AUDIENCE = "presentation.audience"
    KB_SD_HASH = "presentation.sd_hash"
    KB_STALE = "presentation.stale"
    STATUS_UNAVAILABLE = "status.unavailable"
    REVOKED = "status.revoked"
    SUSPENDED = "status.suspended"
    NOT_ALLOWED = "presentation.not_allowed"


def kb_fresh(kb_iat: object, *, now: int, max_age: int, skew: int = 60) -> bool:
    """A KB-JWT issued within ``max_age`` seconds (and not from the future beyond skew)."""
    return isinstance(kb_iat, int) and now - max_age <= kb_iat <= now + skew
