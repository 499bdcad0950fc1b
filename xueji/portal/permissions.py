"""Who may see and act on what in the portal.

A signed-in guardian sees the transfer requests of the one student the sign-in named, and
acts (withdraws, adds materials) only on those applied for online (channel ``guardian``);
anything else reads as not found, like a missing row. The outbox page is for development
(``DEBUG``) or for a security administrator of the national level.
"""

from django.conf import settings
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from xueji.accounts.models import UnitKind
from xueji.accounts.permissions import has_permission
from xueji.accounts.rules import Permission
from xueji.changes.models import ChangeRequest
from xueji.changes.rules import ChangeType, Channel
from xueji.errors import Forbidden, NotFound

from .actor import GuardianActor


def requests_of(guardian: GuardianActor) -> QuerySet[ChangeRequest]:
    """The transfer requests of the guardian's student, whoever filed them."""
    return ChangeRequest.objects.filter(
        student_id=guardian.student_id, change_type=ChangeType.TRANSFER
    )


def access_request(guardian: GuardianActor, request_id: int) -> ChangeRequest:
    request = (
        requests_of(guardian)
        .filter(pk=request_id)
        .select_related("student", "school", "target_school")
        .first()
    )
    if request is None:
        raise NotFound("change_request")
    return request


def may_act_on(request: ChangeRequest) -> bool:
    """A guardian withdraws or completes only what was applied for online."""
    return request.channel == Channel.GUARDIAN


def access_own_request(guardian: GuardianActor, request_id: int) -> ChangeRequest:
    request = access_request(guardian, request_id)
    if not may_act_on(request):
        raise Forbidden(_("该申请由学校或主管部门办理，请与学校联系。"))
    return request


def can_view_outbox(user) -> bool:
    """Development (``DEBUG``), or a national-level account holding ``security.manage``."""
    if settings.DEBUG:
        return True
    unit = getattr(user, "unit", None)
    return (
        has_permission(user, Permission.SECURITY_MANAGE)
        and unit is not None
        and unit.kind == UnitKind.NATIONAL
    )


def access_outbox(user) -> None:
    if not can_view_outbox(user):
        raise Forbidden()
