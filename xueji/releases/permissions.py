"""Who may see, review, approve and download a data release.

A release belongs to the unit that asked for it: every account whose scope holds that unit
sees it (``release.view``), and so does its named recipient. Reviewing is for the reviewers
of the requesting unit itself; approving for the reviewers of an authority at county level or
above whose subtree holds it (``rules.approval_refusal``). Downloading is for the recipient
alone: for everybody else a release's file is "not found", like a missing row.
"""

from django.db.models import Q

from xueji.accounts.permissions import has_permission, require_permission
from xueji.accounts.rules import Permission
from xueji.accounts.scope import EVERY_ROW, NO_ROW, scope_for
from xueji.errors import NotFound
from xueji.i18n import gettext_lazy_str as _

from .errors import ReleaseRefused
from .models import DataRelease
from .rules import approval_refusal


def releases_in_scope_q(user) -> Q:
    """Releases asked for by a unit in the user's subtree (its own unit included)."""
    scope = scope_for(user)
    if scope.everything:
        return EVERY_ROW
    if scope.school_id is not None:
        return Q(unit__school_id=scope.school_id)
    if scope.area_prefix is not None:
        # Authorities and schools below carry the authority's prefix in their own.
        return Q(unit__area_prefix__startswith=scope.area_prefix)
    return NO_ROW


def releases_visible_q(user) -> Q:
    """What the user may read: the subtree's releases (``release.view``) and its own
    received ones."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return NO_ROW
    received = Q(recipient_id=user.pk)
    if has_permission(user, Permission.RELEASE_VIEW):
        return releases_in_scope_q(user) | received
    return received


def access_release(user, *, release_id: int) -> DataRelease:
    """One release the user may read, or ``NotFound``."""
    release = (
        DataRelease.objects.filter(releases_visible_q(user), pk=release_id)
        .select_related("unit", "recipient", "scope_school", "approver_unit")
        .first()
    )
    if release is None:
        raise NotFound("release")
    return release


def _in_scope(user, release_id: int) -> DataRelease:
    release = (
        DataRelease.objects.filter(releases_in_scope_q(user), pk=release_id)
        .select_related("unit", "recipient", "approver_unit")
        .first()
    )
    if release is None:
        raise NotFound("release")
    return release


def access_release_review(user, *, release_id: int) -> DataRelease:
    """The review step: a reviewer of the requesting unit, not the requester (403); out of
    scope 404."""
    require_permission(user, Permission.RELEASE_REVIEW)
    release = _in_scope(user, release_id)
    if user.unit_id != release.unit_id:
        raise ReleaseRefused(
            "release.reviewer_other_unit", _("数据发布申请由申请单位的审核员审核。")
        )
    if user.pk == release.requested_by_id:
        raise ReleaseRefused("release.reviewer_is_requester", _("申请人不能审核自己的申请。"))
    return release


def access_release_approve(user, *, release_id: int) -> DataRelease:
    """The approval step: a reviewer of an authority at county level or above holding the
    requesting unit, who neither asked for nor reviewed the release (403); out of scope 404."""
    require_permission(user, Permission.RELEASE_APPROVE)
    release = _in_scope(user, release_id)
    refusal = approval_refusal(
        approver_id=user.pk,
        approver_unit_kind=user.unit.kind,
        requester_id=release.requested_by_id,
        reviewer_id=release.reviewed_by_id,
    )
    if refusal is not None:
        raise ReleaseRefused(refusal.code, refusal.message)
    return release


def access_basis_document(user, *, release_id: int) -> DataRelease:
    """The uploaded approval document: for the accounts that see the release in their scope."""
    require_permission(user, Permission.RELEASE_VIEW)
    release = _in_scope(user, release_id)
    if not release.basis_document:
        raise NotFound("release_basis_document")
    return release
