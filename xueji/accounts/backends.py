"""Sign-in by user name and password; accounts without a unit cannot sign in."""

from django.contrib.auth.backends import ModelBackend


class UnitAccountBackend(ModelBackend):
    def user_can_authenticate(self, user) -> bool:
        return super().user_can_authenticate(user) and getattr(user, "unit_id", None) is not None
