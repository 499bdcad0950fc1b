"""Role checks. Scope checks live with each app's ``access_*`` functions."""

from xueji.errors import Forbidden

from .rules import permissions_for


def has_permission(user, permission: str) -> bool:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return permission in permissions_for(user.role_set)


def require_permission(user, permission: str) -> None:
    if not has_permission(user, permission):
        raise Forbidden()
