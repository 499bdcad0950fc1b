"""Issuing, presenting and verifying an SD-JWT VC (RFC 9901, SD-JWT VC): the verifier
library. It needs no database: keys come from a ``KeySource`` (the registry's key ring, or
a JWKS fetched from ``/.well-known/jwks.json``), status lists from a fetcher.

``Verifier.verify`` checks, in order: the form; the issuer-signed JWT's ``typ``, key and
signature (cached by the JWT's exact text: a holder presents the same one many times);
issuer, type and validity; the disclosures (each digest present once, RFC 9901 §7.1); the
key-binding JWT (holder key from ``cnf``, ``nonce``, ``aud``, ``iat``, ``sd_hash``); and
the status in the Token Status List (cached until the list's ``ttl``).
"""

import json
import secrets
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from .keys import ES256, SM2, KeyState, SigningKey, key_from_jwk
from .rules import (
    DEFAULT_SD_ALG,
    HASHES,
    KB_TYP,
    SD_TYP,
    STATUS_LIST_TYP,
    EncodingError,
    Reason,
    TokenStatus,
    UnpackError,
    b64url_decode,
    combine,
    conceal,
    digest,
    disclosure_decode,
    disclosure_paths,
    jwt_unverified,
    kb_fresh,
    reveal,
    split,
    status_at,
)


def new_salt() -> str:
    # 128 bits (RFC 9901 §4.2.1 asks for at least that).
    return secrets.token_urlsafe(16)


def issue(
    claims: dict,
    *,
    key: SigningKey,
    sd_alg: str = DEFAULT_SD_ALG,
    salts: Callable[[], str] = new_salt,
) -> str:
    """The issued SD-JWT VC: ``<JWT>~<every disclosure>~``."""
    payload, disclosures = conceal(claims, salts=salts, sd_alg=sd_alg)
    payload["_sd_alg"] = sd_alg
    token = key.sign_compact({"typ": SD_TYP}, payload)
    return combine(token, disclosures)


def present(
    issued: str,
    *,
    disclose: Iterable[str],
    holder_key: SigningKey | None,
    nonce: str = "",
    audience: str = "",
    now: int | None = None,
) -> str:
    """A presentation of ``issued`` revealing the claim paths in ``disclose`` (a nested
    claim brings the disclosures of its parents), bound to ``nonce`` and ``audience`` by a
    KB-JWT signed with the holder's key (none without a key)."""
    parts = split(issued)
    _header, payload, _input, _signature = jwt_unverified(parts.issuer_jwt)
    sd_alg = payload.get("_sd_alg", DEFAULT_SD_ALG)
    by_path = disclosure_paths(payload, parts.disclosures, sd_alg=sd_alg)
    wanted = set(disclose)
    chosen = [
        encoded
        for path, encoded in by_path.items()
        if path in wanted or any(w.startswith(f"{path}.") for w in wanted)
    ]
    unknown = wanted - set(by_path)
    if unknown:
        raise ValueError(f"no such disclosable claim: {sorted(unknown)}")
    presented = combine(parts.issuer_jwt, chosen, "")
    if holder_key is None:
        return presented
    kb_payload = {
        "iat": int(time.time()) if now is None else now,
        "aud": audience,
        "nonce": nonce,
        "sd_hash": digest(presented, sd_alg),
    }
    return presented + holder_key.sign_compact({"typ": KB_TYP}, kb_payload)


# ----------------------------------------------------------------- verification


class KeySource(Protocol):
    def find(self, kid: str) -> SigningKey | None: ...


@dataclass(frozen=True)
class RingSource:
    """The registry's own key ring: knows retired keys by name."""

    keys: tuple[SigningKey, ...]

    def find(self, kid: str) -> SigningKey | None:
        for key in self.keys:
            if key.kid == kid:
                return key
        return None


def jwks_source(jwks: dict) -> RingSource:
    """A relying party's offline source: the published JWKS (retired keys are absent, so
    their credentials read as signed by an unknown key)."""
    keys = []
    for jwk in jwks.get("keys", []):
        try:
            keys.append(key_from_jwk(jwk, kid=jwk.get("kid", ""), state=KeyState.PREVIOUS))
        except (KeyError, ValueError, RuntimeError):
            continue
    return RingSource(tuple(keys))


@dataclass
class Verdict:
    valid: bool
    reason: str = ""
    claims: dict = field(default_factory=dict)  # the disclosed claims, plus iss/vct/iat/exp
    disclosed: list[str] = field(default_factory=list)
    kid: str = ""
    key_bound: bool = False  # a KB-JWT was checked against nonce and audience

    def as_dict(self) -> dict:
        return {
            "valid": self.valid,
            "reason": self.reason,
            "claims": self.claims,
            "disclosed": self.disclosed,
            "key_bound": self.key_bound,
        }


class Refused(Exception):
    def __init__(self, reason: Reason) -> None:
        super().__init__(reason.value)
        self.reason = reason


HOLDER_ALGS = {"P-256": ES256, "SM2": SM2}


@dataclass
class _CachedList:
    raw: bytes
    bits: int
    until: float


class Verifier:
    """Verifies presentations for one issuer. ``status_fetcher(uri)`` returns the signed
    status-list JWT; ``clock()`` the current Unix time."""

    def __init__(
        self,
        *,
        keys: KeySource,
        issuer: str,
        vct: str,
        status_fetcher: Callable[[str], str] | None,
        kb_max_age: int = 300,
        clock: Callable[[], float] = time.time,
        cache_size: int = 4096,
        default_ttl: int = 300,
    ) -> None:
        self.keys = keys
        self.issuer = issuer
        self.vct = vct
        self.status_fetcher = status_fetcher
        self.kb_max_age = kb_max_age
        self.clock = clock
        self.cache_size = cache_size
        self.default_ttl = default_ttl
        self._signed: OrderedDict[str, tuple[str, dict]] = OrderedDict()
        self._lists: dict[str, _CachedList] = {}
        self._holders: OrderedDict[tuple, SigningKey] = OrderedDict()

    def _holder_key(self, jwk: dict) -> SigningKey:
        """The holder's key from ``cnf``, parsed once per key (parsing costs about as much
        as one signature check)."""
        name = (jwk.get("crv"), jwk.get("x"), jwk.get("y"))
        key = self._holders.get(name)
        if key is None:
            key = key_from_jwk(jwk)
            self._holders[name] = key
            if len(self._holders) > self.cache_size:
                self._holders.popitem(last=False)
        return key

    def forget_status(self, uri: str) -> None:
        """Drop a cached status list (the registry re-signed it)."""
        self._lists.pop(uri, None)

    # -- the issuer-signed JWT

    def _issuer_payload(self, token: str) -> tuple[SigningKey, dict]:
        cached = self._signed.get(token)
        if cached is not None:
            kid, payload = cached
            key = self.keys.find(kid)
            # A key retired since the first check stops verifying at once.
            if key is None or key.state == KeyState.RETIRED:
                raise Refused(Reason.KEY_RETIRED if key else Reason.UNKNOWN_KEY)
            self._signed.move_to_end(token)
            return key, payload
        try:
            header, payload, _input, _signature = jwt_unverified(token)
        except EncodingError:
            raise Refused(Reason.MALFORMED) from None
        if header.get("typ") != SD_TYP:
            raise Refused(Reason.TYP)
        key = self.keys.find(str(header.get("kid", "")))
        if key is None:
            raise Refused(Reason.UNKNOWN_KEY)
        if key.state == KeyState.RETIRED:
            raise Refused(Reason.KEY_RETIRED)
        if header.get("alg") != key.alg:
            raise Refused(Reason.ALG)
        if not key.verify(token):
            raise Refused(Reason.SIGNATURE)
        self._signed[token] = (key.kid, payload)
        if len(self._signed) > self.cache_size:
            self._signed.popitem(last=False)
        return key, payload

    # -- the status list

    def _status(self, reference: object, now: float) -> int:
        if not isinstance(reference, dict) or not isinstance(reference.get("status_list"), dict):
            raise Refused(Reason.MALFORMED)
        entry = reference["status_list"]
        uri, index = entry.get("uri"), entry.get("idx")
        if not isinstance(uri, str) or not isinstance(index, int):
            raise Refused(Reason.MALFORMED)
        cached = self._lists.get(uri)
        if cached is None or cached.until <= now:
            cached = self._fetch_list(uri, now)
            self._lists[uri] = cached
        try:
            return status_at(cached.raw, index, bits=cached.bits)
        except IndexError:
            raise Refused(Reason.STATUS_UNAVAILABLE) from None

    def _fetch_list(self, uri: str, now: float) -> _CachedList:
        if self.status_fetcher is None:
            raise Refused(Reason.STATUS_UNAVAILABLE)
        try:
            token = self.status_fetcher(uri)
            header, payload, _input, _signature = jwt_unverified(token)
        except (EncodingError, OSError, LookupError, ValueError):
            raise Refused(Reason.STATUS_UNAVAILABLE) from None
        key = self.keys.find(str(header.get("kid", "")))
        if (
            header.get("typ") != STATUS_LIST_TYP
            or key is None
            or key.state == KeyState.RETIRED
            or header.get("alg") != key.alg
            or not key.verify(token)
            or payload.get("sub") != uri
        ):
            raise Refused(Reason.STATUS_UNAVAILABLE)
        exp = payload.get("exp")
        if isinstance(exp, int) and exp <= now:
            raise Refused(Reason.STATUS_UNAVAILABLE)
        listing = payload.get("status_list") or {}
        try:
            raw = zlib.decompress(b64url_decode(listing["lst"]))
            bits = int(listing["bits"])
        except (KeyError, ValueError, TypeError, zlib.error, EncodingError):
            raise Refused(Reason.STATUS_UNAVAILABLE) from None
        ttl = payload.get("ttl")
        if not isinstance(ttl, int):
            ttl = self.default_ttl
        until = now + ttl
        if isinstance(exp, int):
            until = min(until, exp)
        return _CachedList(raw, bits, until)

    # -- the whole presentation

    def verify(
        self,
        text: str,
        *,
        nonce: str | None = None,
        audience: str | None = None,
        allowed: Iterable[str] | None = None,
        check_status: bool = True,
    ) -> Verdict:
        """The verdict on one presentation (or one issued credential, without a nonce).
        With ``nonce`` and ``audience`` a KB-JWT is required and must match both;
        ``allowed`` limits which claims may be disclosed."""
        now = self.clock()
        kid = ""
        try:
            try:
                parts = split(text)
            except EncodingError:
                raise Refused(Reason.MALFORMED) from None
            key, payload = self._issuer_payload(parts.issuer_jwt)
            kid = key.kid
            if payload.get("iss") != self.issuer:
                raise Refused(Reason.ISSUER)
            if payload.get("vct") != self.vct:
                raise Refused(Reason.VCT)
            exp, nbf = payload.get("exp"), payload.get("nbf")
            if not isinstance(exp, int) or exp <= now:
                raise Refused(Reason.EXPIRED)
            if isinstance(nbf, int) and nbf > now + 60:
                raise Refused(Reason.NOT_YET_VALID)
            sd_alg = payload.get("_sd_alg", DEFAULT_SD_ALG)
            if sd_alg not in HASHES:
                raise Refused(Reason.ALG)
            try:
                claims, disclosed = reveal(payload, parts.disclosures, sd_alg=sd_alg)
            except (UnpackError, EncodingError):
                raise Refused(Reason.DISCLOSURE) from None
            key_bound = self._key_binding(parts, payload, sd_alg, nonce, audience, now)
            if allowed is not None and set(disclosed) - set(allowed):
                raise Refused(Reason.NOT_ALLOWED)
            if check_status:
                status = self._status(payload.get("status"), now)
                if status == TokenStatus.SUSPENDED:
                    raise Refused(Reason.SUSPENDED)
                if status != TokenStatus.VALID:
                    raise Refused(Reason.REVOKED)
        except Refused as refusal:
            return Verdict(False, refusal.reason.value, kid=kid)
        claims.pop("cnf", None)
        return Verdict(True, "", claims, disclosed, kid, key_bound)

    def _key_binding(
        self,
        parts,
        payload: dict,
        sd_alg: str,
        nonce: str | None,
        audience: str | None,
        now: float,
    ) -> bool:
        required = nonce is not None or audience is not None
        if not parts.kb_jwt:
            if required:
                raise Refused(Reason.KB_MISSING)
            return False
        try:
            header, kb, _input, _signature = jwt_unverified(parts.kb_jwt)
            holder_jwk = payload["cnf"]["jwk"]
            holder = self._holder_key(holder_jwk)
        except (EncodingError, KeyError, TypeError, ValueError, RuntimeError):
            raise Refused(Reason.KB_SIGNATURE) from None
        if header.get("typ") != KB_TYP or header.get("alg") != HOLDER_ALGS.get(
            holder_jwk.get("crv")
        ):
            raise Refused(Reason.KB_SIGNATURE)
        if not holder.verify(parts.kb_jwt):
            raise Refused(Reason.KB_SIGNATURE)
        if kb.get("sd_hash") != digest(parts.presented, sd_alg):
            raise Refused(Reason.KB_SD_HASH)
        if nonce is not None and kb.get("nonce") != nonce:
            raise Refused(Reason.KB_NONCE)
        if audience is not None and kb.get("aud") != audience:
            raise Refused(Reason.KB_AUDIENCE)
        if not kb_fresh(kb.get("iat"), now=int(now), max_age=self.kb_max_age):
            raise Refused(Reason.KB_STALE)
        return required


def decoded(text: str) -> dict:
    """The parts of an SD-JWT in readable form (docs, the command's ``--show``)."""
    parts = split(text)
    header, payload, _input, _signature = jwt_unverified(parts.issuer_jwt)
    out = {
        "header": header,
        "payload": payload,
        "disclosures": [
            [d.salt, d.name, d.value] if d.name is not None else [d.salt, d.value]
            for d in map(disclosure_decode, parts.disclosures)
        ],
    }
    if parts.kb_jwt:
        kb_header, kb_payload, _i, _s = jwt_unverified(parts.kb_jwt)
        out["kb_jwt"] = {"header": kb_header, "payload": kb_payload}
    return json.loads(json.dumps(out, ensure_ascii=False))
