"""Who delivers a one-time code: pluggable by ``settings.XUEJI_PORTAL_SENDER``.

The setting is the dotted path of a class (instantiated without arguments) or of an object
with ``send(*, phone: str, message: str) -> None``. A production deployment points it at
its SMS gateway's adapter; the embedded default, ``OutboxSender``, writes the message to
the outbox table (the outbox page) and the console (logger ``xueji.portal``) — for
development and demonstrations: ``manage.py check --deploy`` warns about it (portal.W001).
"""

import logging
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

from xueji import clock

from . import rules
from .models import CodeChannel, OutboxMessage

DEFAULT_SENDER = "xueji.portal.senders.OutboxSender"
logger = logging.getLogger("xueji.portal")


class Sender(Protocol):
    def send(self, *, phone: str, message: str) -> None: ...


class OutboxSender:
    """The embedded sender: the outbox table and the console. The console shows the code
    only with ``DEBUG`` on (a production log must not hold sign-in codes)."""

    def send(self, *, phone: str, message: str) -> None:
        to = rules.mask_phone(phone)
        OutboxMessage.objects.create(
            to=to, body=message, created_at=clock.now(), channel=CodeChannel.SMS
        )
        shown = message if settings.DEBUG else rules.mask_codes(message)
        logger.info("portal outbox → %s: %s", to, shown)


def sender() -> Sender:
    """The configured sender."""
    target = import_string(getattr(settings, "XUEJI_PORTAL_SENDER", "") or DEFAULT_SENDER)
    return target() if isinstance(target, type) else target
