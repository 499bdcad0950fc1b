"""What production refuses (issue 10, finding 8), as pure functions of the settings.

Used twice: ``config/settings/prod.py`` refuses to start with any problem, and the system
checks in ``xueji.accounts.checks`` (``check --deploy``) report them for whatever settings
module is run. Nothing here reads Django's settings or the database.
"""

import base64
import binascii
from collections.abc import Mapping

MIN_KEY_BYTES = 32
API_DOCS_MODES = ("public", "signed_in", "off")


def _key_bytes(text: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None


def field_key_problems(keys: Mapping[str, str] | None, current: str = "") -> list[str]:
    """Field-encryption keys: configured (a key derived from the secret key is for
    development only), each exactly 32 bytes of base64url, the current version present."""
    if not keys:
        return ["XUEJI_FIELD_KEYS is not set: field keys would be derived from the secret key"]
    problems = []
    for version, text in keys.items():
        raw = _key_bytes(str(text).strip())
        if raw is None or len(raw) != MIN_KEY_BYTES:
            size = "not base64url" if raw is None else f"{len(raw)} bytes"
            problems.append(
                f"XUEJI_FIELD_KEYS version {version!r} is {size}: each key must be "
                f"{MIN_KEY_BYTES} random bytes, base64url"
            )
    if current and current not in keys:
        problems.append(f"XUEJI_FIELD_KEY_CURRENT {current!r} is not a version of XUEJI_FIELD_KEYS")
    return problems


def blind_index_key_problems(key: str | None) -> list[str]:
    """The blind-index (HMAC) key: set, and at least 32 characters."""
    if not key:
        return [
            "XUEJI_BLIND_INDEX_KEY is not set: the index key would be derived from the secret key"
        ]
    if len(key) < MIN_KEY_BYTES:
        return [
            f"XUEJI_BLIND_INDEX_KEY has {len(key)} characters: at least {MIN_KEY_BYTES} "
            "random characters are needed"
        ]
    return []


def database_problems(databases: Mapping[str, Mapping]) -> list[str]:
    """Production runs on PostgreSQL: SQLite has no roles, no row locks between processes
    and no audit triggers a database superuser could not simply drop with the file."""
    return [
        f"DATABASES[{alias!r}] is {config.get('ENGINE')}: production needs PostgreSQL"
        for alias, config in databases.items()
        if "postgresql" not in str(config.get("ENGINE", ""))
    ]


def api_docs_problems(mode: str) -> list[str]:
    """The API documentation (/api/docs, /api/openapi.json) is not public in production:
    ``signed_in`` (the default) or ``off``."""
    if mode not in API_DOCS_MODES:
        return [f"XUEJI_API_DOCS {mode!r} is not one of {', '.join(API_DOCS_MODES)}"]
    if mode == "public":
        return ["XUEJI_API_DOCS is 'public': the API documentation must require sign-in"]
    return []


def production_problems(
    *,
    field_keys: Mapping[str, str] | None,
    field_key_current: str,
    blind_index_key: str | None,
    databases: Mapping[str, Mapping],
    api_docs: str,
) -> list[str]:
    return [
        *field_key_problems(field_keys, field_key_current),
        *blind_index_key_problems(blind_index_key),
        *database_problems(databases),
        *api_docs_problems(api_docs),
    ]
