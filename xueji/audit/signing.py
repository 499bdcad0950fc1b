"""Signed checkpoints of the audit chains (Ed25519, ``cryptography``).

A checkpoint records every partition's head (sequence number and hash) at one moment,
chained to the previous checkpoint by its digest, and is signed with the deployment's
private key (``XUEJI_AUDIT_SIGNING_KEY``: 32 bytes, base64url). Whoever holds the public
key (``audit_checkpoint_export`` writes it with the checkpoints) can check that the trail
they are shown still contains the links the deployment signed: rows deleted from the end of
a chain, or a chain rewritten from scratch, no longer match a signed head.
"""

import base64
import hashlib
import hmac
import json
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.db import transaction

from xueji import clock

from .chain import _at_text

ALGORITHM = "ed25519"
FORMAT = "xueji-audit-checkpoints-1"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def key_is_configured() -> bool:
    return bool(getattr(settings, "XUEJI_AUDIT_SIGNING_KEY", ""))


def private_key() -> Ed25519PrivateKey:
    """The configured key; unset, one derived from the secret key (development only: the
    deploy check ``audit.W001`` flags it)."""
    configured = getattr(settings, "XUEJI_AUDIT_SIGNING_KEY", "")
    if configured:
        seed = _unb64(configured)
        if len(seed) != 32:
            raise ValueError("XUEJI_AUDIT_SIGNING_KEY must be 32 bytes (base64url)")
    else:
        seed = hmac.new(
            settings.SECRET_KEY.encode(), b"xueji-audit-signing", hashlib.sha256
        ).digest()
    return Ed25519PrivateKey.from_private_bytes(seed)


def public_key_text(key: Ed25519PrivateKey | None = None) -> str:
    raw = (
        (key or private_key())
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    return _b64(raw)


def new_key() -> str:
    """A fresh private key for ``XUEJI_AUDIT_SIGNING_KEY``."""
    return _b64(
        Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
    )


def signature_valid(payload: str, signature: str, public_key: str) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(_unb64(public_key)).verify(
            _unb64(signature), payload.encode()
        )
    except (InvalidSignature, ValueError):
        return False
    return True


def heads_of(payload: str) -> dict[int, tuple[int, str]]:
    data = json.loads(payload)
    return {int(p): (int(seq), str(h)) for p, (seq, h) in data["heads"].items()}


def checkpoint_create():
    """Sign the current heads. Runs in its own transaction; returns the checkpoint."""
    from .models import AuditChainHead, AuditCheckpoint

    with transaction.atomic():
        # A share lock would do; FOR UPDATE keeps writers out while the heads are read.
        heads = {
            str(h.partition): [h.seq, h.head_hash]
            for h in AuditChainHead.objects.select_for_update().order_by("partition")
        }
        previous = AuditCheckpoint.objects.order_by("-pk").first()
        at = clock.now()
        payload = json.dumps(
            {
                "format": FORMAT,
                "at": _at_text(at),
                "heads": heads,
                "previous": hashlib.sha256(previous.payload.encode()).hexdigest()
                if previous
                else "",
            },
            ensure_ascii=False,
            separators=(",", ":"),
            sort_keys=True,
        )
        key = private_key()
        return AuditCheckpoint.objects.create(
            at=at,
            payload=payload,
            signature=_b64(key.sign(payload.encode())),
            algorithm=ALGORITHM,
            public_key=public_key_text(key),
        )


def export(checkpoints) -> dict[str, Any]:
    """What ``audit_checkpoint_export`` writes: each checkpoint's signed payload and
    signature, and the public key to check them with (docs/security.md, "Checking a
    checkpoint")."""
    return {
        "format": FORMAT,
        "algorithm": ALGORITHM,
        "public_key": public_key_text(),
        "checkpoints": [
            {
                "id": c.pk,
                "payload": c.payload,
                "signature": c.signature,
                "public_key": c.public_key,
            }
            for c in checkpoints
        ],
    }
