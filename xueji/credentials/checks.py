"""``check --deploy``: the issuer keys must be configured in production (the key derived from
the secret key is for development only), and must load."""

from django.core.checks import Error, Tags, Warning, register

from .keys import KeyConfigError, configured, key_ring


@register(Tags.security, deploy=True)
def credential_keys(app_configs, **kwargs):
    if not configured():
        return [
            Warning(
                "XUEJI_CREDENTIAL_KEYS is not set: credentials would be signed with a key "
                "derived from the secret key",
                hint="credential_keygen, then XUEJI_CREDENTIAL_KEYS (docs/identity.md)",
                id="credentials.W001",
            )
        ]
    try:
        key_ring()
    except (KeyConfigError, OSError, ValueError, KeyError) as error:
        return [Error(f"XUEJI_CREDENTIAL_KEYS cannot be loaded: {error}", id="credentials.E001")]
    return []
