"""System check: the embedded outbox sender is for development and demonstrations only.

It stores each one-time code in the database (and, with ``DEBUG``, prints it): a deployment
serving real guardians plugs in an SMS gateway (``XUEJI_PORTAL_SENDER``, docs/portal.md).
"""

from django.conf import settings
from django.core.checks import Warning, register

OUTBOX_SENDER = "xueji.portal.senders.OutboxSender"


@register("security", deploy=True)
def outbox_sender_in_production(app_configs, **kwargs) -> list[Warning]:
    sender = getattr(settings, "XUEJI_PORTAL_SENDER", OUTBOX_SENDER)
    if settings.DEBUG or sender != OUTBOX_SENDER:
        return []
    return [
        Warning(
            "XUEJI_PORTAL_SENDER is the embedded outbox: guardians receive no text message.",
            hint="Set XUEJI_PORTAL_SENDER to the SMS gateway's sender class (docs/portal.md).",
            id="portal.W001",
        )
    ]
