"""System checks of the audit trail's settings."""

from django.conf import settings
from django.core.checks import Error, Warning, register

from .chain import RETENTION_FLOOR_DAYS


@register("security")
def audit_retention(app_configs, **kwargs) -> list[Error]:
    days = settings.XUEJI.get("AUDIT_RETENTION_DAYS", 365)
    if isinstance(days, int) and days >= RETENTION_FLOOR_DAYS:
        return []
    return [
        Error(
            f"XUEJI['AUDIT_RETENTION_DAYS'] is {days!r}: the audit trail is kept at least "
            f"{RETENTION_FLOOR_DAYS} days (six months).",
            id="audit.E001",
        )
    ]


@register("security", deploy=True)
def audit_signing_key(app_configs, **kwargs) -> list[Warning]:
    if getattr(settings, "XUEJI_AUDIT_SIGNING_KEY", ""):
        return []
    return [
        Warning(
            "XUEJI_AUDIT_SIGNING_KEY is not set: audit checkpoints are signed with a key derived "
            "from the secret key.",
            hint="Generate one with `manage.py audit_checkpoint --new-key` (docs/security.md).",
            id="audit.W001",
        )
    ]
