"""Who sees which campaign and which school's confirmation.

A campaign is visible to the accounts whose scope meets it: a national campaign to every
unit; a province's campaign to the nation, that province and the units below it; to a
school, the campaigns it takes part in (it has a confirmation row). A school's confirmation
(its roll) is visible inside the campaign to the school itself and the authorities above
it. Anything else is "not found", like a missing row.
"""

from django.db.models import Exists, OuterRef, Q, QuerySet

from xueji.accounts.models import UnitKind
from xueji.accounts.scope import scope_for
from xueji.errors import NotFound

from .models import Campaign, SchoolConfirmation


def campaigns_visible(user) -> QuerySet[Campaign]:
    scope = scope_for(user)
    if scope.everything:
        return Campaign.objects.all()
    if scope.school_id is not None:
        return Campaign.objects.filter(
            Exists(
                SchoolConfirmation.objects.filter(
                    campaign_id=OuterRef("pk"), school_id=scope.school_id
                )
            )
        )
    if scope.area_prefix is not None:
        return Campaign.objects.filter(Q(province_code="") | Q(province_code=scope.area_prefix[:2]))
    return Campaign.objects.none()


def access_campaign(user, campaign_id: int) -> Campaign:
    campaign = campaigns_visible(user).filter(pk=campaign_id).first()
    if campaign is None:
        raise NotFound("campaign")
    return campaign


def confirmations_visible(user, campaign: Campaign) -> QuerySet[SchoolConfirmation]:
    return SchoolConfirmation.objects.filter(scope_for(user).q(), campaign=campaign)


def access_confirmation(user, campaign: Campaign, school_id: int) -> SchoolConfirmation:
    confirmation = (
        confirmations_visible(user, campaign)
        .filter(school_id=school_id)
        .select_related("school")
        .first()
    )
    if confirmation is None:
        raise NotFound("confirmation")
    confirmation.campaign = campaign
    return confirmation


def own_school_id(user) -> int | None:
    """The school of a school account (the only accounts that mark a roll)."""
    unit = getattr(user, "unit", None)
    if unit is None or unit.kind != UnitKind.SCHOOL:
        return None
    return unit.school_id
