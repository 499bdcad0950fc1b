"""Scoped reads of data releases."""

from django.db.models import QuerySet

from xueji.accounts.permissions import has_permission
from xueji.accounts.rules import Permission

from .models import DataRelease
from .permissions import releases_in_scope_q


def release_list(user, *, state: str = "") -> QuerySet[DataRelease]:
    """The releases of the user's subtree (``release.view``), newest first."""
    if not has_permission(user, Permission.RELEASE_VIEW):
        return DataRelease.objects.none()
    releases = DataRelease.objects.filter(releases_in_scope_q(user))
    if state:
        releases = releases.filter(state=state)
    return releases.select_related("unit", "recipient").order_by("-requested_at", "-pk")


def releases_received(user) -> QuerySet[DataRelease]:
    """The releases naming the user as recipient, newest first."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return DataRelease.objects.none()
    return (
        DataRelease.objects.filter(recipient_id=user.pk)
        .select_related("unit", "recipient", "approver_unit")
        .order_by("-requested_at", "-pk")
    )


def releases_visible(user) -> QuerySet[DataRelease]:
    """Everything the user may read: its subtree's releases and its received ones."""
    from .permissions import releases_visible_q

    return (
        DataRelease.objects.filter(releases_visible_q(user))
        .select_related("unit", "recipient", "approver_unit")
        .order_by("-requested_at", "-pk")
    )
