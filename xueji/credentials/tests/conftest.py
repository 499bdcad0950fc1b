import json

import pytest

from xueji.credentials import services
from xueji.credentials.keys import key_from_jwk, key_ring, new_private_jwk

# The portal's signed-in guardian (its clock held at 2026-03-10).
from xueji.portal.tests.conftest import family, guardian_client, held  # noqa: F401

ISSUER = "https://xueji.test"


def key_file(tmp_path, name: str, alg: str = "ES256") -> str:
    path = tmp_path / f"{name}.jwk"
    path.write_text(json.dumps(new_private_jwk(alg)))
    return str(path)


@pytest.fixture
def issuer_keys(settings, tmp_path):
    """One active ES256 issuer key from a key file, kid ``k1``."""
    settings.XUEJI_CREDENTIAL = {**settings.XUEJI_CREDENTIAL, "ISSUER": ISSUER}
    settings.XUEJI_CREDENTIAL_KEYS = [
        {"kid": "k1", "alg": "ES256", "file": key_file(tmp_path, "k1"), "state": "active"}
    ]
    services._VERIFIER.clear()
    yield key_ring()
    services._VERIFIER.clear()


@pytest.fixture
def holder():
    """A holder's own key (a wallet's): private JWK and signing key."""
    private = new_private_jwk("ES256")
    return private, key_from_jwk(private)


@pytest.fixture
def enrolled(make_student, issuer_keys):
    """A student on the roll of the default school (grade 13)."""
    return make_student(grade="13")
