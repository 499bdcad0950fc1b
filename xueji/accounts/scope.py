"""The one function that decides what an account may see: its unit's subtree.

Every selector filters through ``scope_for(user).q(...)``; every single-object access goes
through an ``access_*`` function that uses ``Scope.covers``. Nothing else decides scope.
"""

from dataclasses import dataclass

from django.db.models import Q

from .models import UnitKind

# "Every row", as a condition that is never empty. Django drops an empty ``Q()`` from an OR
# (``Q() | Q(x)`` is ``Q(x)``), so a filter built as ``scope.q(...) | other`` would lose the
# nation's "everything" and keep only ``other``. Use this, never ``Q()``, for "no limit".
EVERY_ROW = Q(pk__isnull=False)
NO_ROW = Q(pk__in=[])


@dataclass(frozen=True)
class Scope:
    """``everything`` (national), an area-code prefix (province, city, county, the separate
    list), one school, or nothing (an account without a unit)."""

    everything: bool = False
    area_prefix: str | None = None
    school_id: int | None = None

    @property
    def empty(self) -> bool:
        return not self.everything and self.area_prefix is None and self.school_id is None

    def q(self, *, area_field: str = "area_code", school_field: str = "school_id") -> Q:
        """A filter for rows that carry an area code and a school reference. Never an
        empty ``Q()``: it may be ORed with other conditions (``EVERY_ROW``)."""
        if self.everything:
            return EVERY_ROW
        if self.school_id is not None:
            return Q(**{school_field: self.school_id})
        if self.area_prefix is not None:
            return Q(**{f"{area_field}__startswith": self.area_prefix})
        return NO_ROW

    def covers(self, *, area_code: str, school_id: int | None = None) -> bool:
        if self.everything:
            return True
        if self.school_id is not None:
            return school_id == self.school_id
        if self.area_prefix is not None:
            return area_code.startswith(self.area_prefix)
        return False

    def covers_area(self, area_code: str) -> bool:
        """Whether a whole area (for registering a school there, say) lies in scope."""
        if self.everything:
            return True
        if self.area_prefix is not None and self.school_id is None:
            return area_code.startswith(self.area_prefix)
        return False


NOTHING = Scope()


def scope_for(user) -> Scope:
    unit = getattr(user, "unit", None) if getattr(user, "is_authenticated", False) else None
    if unit is None or not user.is_active:
        return NOTHING
    if unit.kind == UnitKind.NATIONAL:
        return Scope(everything=True)
    if unit.kind == UnitKind.SCHOOL:
        return Scope(school_id=unit.school_id)
    return Scope(area_prefix=unit.area_prefix)
