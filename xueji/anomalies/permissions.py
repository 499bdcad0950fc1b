"""Access to findings and merges: a finding is in an account's scope when the unit that
must act on it lies in the account's subtree (its own unit or below). Out of scope looks
the same as missing."""

from typing import Any

from django.db.models import Q, QuerySet

from xueji.accounts.permissions import require_permission
from xueji.accounts.rules import Permission
from xueji.accounts.scope import EVERY_ROW, NO_ROW, Scope, scope_for
from xueji.errors import NotFound

from .models import Finding, MergeRecord


def unit_q(scope: Scope, *, field: str = "unit") -> Q:
    """Rows whose ``field`` (a unit) lies in the scope's subtree."""
    if scope.everything:
        return EVERY_ROW
    if scope.school_id is not None:
        return Q(**{f"{field}__school_id": scope.school_id})
    if scope.area_prefix is not None:
        return Q(**{f"{field}__area_prefix__startswith": scope.area_prefix})
    return NO_ROW


def findings_in_scope(user: Any) -> QuerySet[Finding]:
    return Finding.objects.filter(unit_q(scope_for(user)))


def access_finding(user: Any, finding_id: int, *, for_update: bool = False) -> Finding:
    """The finding, if its unit is the account's or below (``ANOMALY_VIEW`` required)."""
    require_permission(user, Permission.ANOMALY_VIEW)
    rows = findings_in_scope(user).filter(pk=finding_id)
    if for_update:
        rows = rows.select_for_update(of=("self",))
    finding = rows.select_related("unit").first()
    if finding is None:
        raise NotFound("finding")
    return finding


def access_finding_resolve(user: Any, finding_id: int, *, for_update: bool = False) -> Finding:
    """A finding the account may resolve: a reviewer of its unit or a unit above. The role
    is checked first: without it every finding is refused alike (403)."""
    require_permission(user, Permission.ANOMALY_RESOLVE)
    return access_finding(user, finding_id, for_update=for_update)


def access_merge(
    user: Any, merge_id: int, *, for_update: bool = False, resolve: bool = False
) -> MergeRecord:
    """A merge whose finding is in scope (``resolve``: for undoing it, a reviewer)."""
    require_permission(user, Permission.ANOMALY_RESOLVE if resolve else Permission.ANOMALY_VIEW)
    rows = MergeRecord.objects.filter(unit_q(scope_for(user), field="finding__unit"), pk=merge_id)
    if for_update:
        rows = rows.select_for_update(of=("self",))
    merge = rows.select_related("finding", "finding__unit").first()
    if merge is None:
        raise NotFound("merge")
    return merge
