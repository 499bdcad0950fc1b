"""Sign-in by user name and password; accounts without a unit cannot sign in.

The sign-in page goes through ``accounts.authentication.sign_in`` (lockout, attempt log,
second factor). This backend is what Django's own ``authenticate()`` reaches (tests'
``Client.login``, anything else that calls it): it refuses what the pipeline refuses —
locked accounts and accounts that may not work — so no side door skips the policy.
Loading the user of an open session (``get_user``) keeps the cheap checks only; the
session middleware does the rest.
"""

from django.contrib.auth.backends import ModelBackend

from xueji import clock

from . import signin_rules
from .authentication import access_block_reason


class UnitAccountBackend(ModelBackend):
    def user_can_authenticate(self, user) -> bool:
        return super().user_can_authenticate(user) and getattr(user, "unit_id", None) is not None

    def authenticate(self, request, username=None, password=None, **kwargs):
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            return None
        now = clock.now()
        if signin_rules.is_locked(user.locked_until, now):
            return None
        if access_block_reason(user, now=now) is not None:
            return None
        return user
