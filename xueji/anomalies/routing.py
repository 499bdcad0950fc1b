"""Which unit must act on a finding: a school's unit, a school's status authority, or the
lowest unit covering two schools (a pair's common ancestor in the unit tree).

Set-based: the authority units (a few thousand nationally) are read once, school units
only for the schools a detector names, in chunks; nothing is read per student.
"""

from collections.abc import Iterable

from xueji.accounts.models import Unit, UnitKind
from xueji.accounts.services import unit_ensure_for_school, unit_ensure_national
from xueji.schools.models import School

from .rules import lowest_common

CHUNK = 2000


class UnitMap:
    """Unit ids and their parents, loaded once per detector run."""

    def __init__(self) -> None:
        self.parent: dict[int, int | None] = {}
        self.kind: dict[int, str] = {}
        self.of_school: dict[int, int] = {}
        for unit_id, parent_id, kind in Unit.objects.exclude(kind=UnitKind.SCHOOL).values_list(
            "id", "parent_id", "kind"
        ):
            self.parent[unit_id] = parent_id
            self.kind[unit_id] = kind
        self.national_id = (
            next((u for u, k in self.kind.items() if k == UnitKind.NATIONAL), None)
            or unit_ensure_national().pk
        )

    def load_schools(self, school_ids: Iterable[int]) -> None:
        """Know the units of these schools (creating the few that have none yet)."""
        wanted = sorted({s for s in school_ids if s is not None} - set(self.of_school))
        for start in range(0, len(wanted), CHUNK):
            chunk = wanted[start : start + CHUNK]
            for unit_id, parent_id, school_id in Unit.objects.filter(
                school_id__in=chunk
            ).values_list("id", "parent_id", "school_id"):
                self._add_school_unit(unit_id, parent_id, school_id)
        missing = [s for s in wanted if s not in self.of_school]
        for school in School.objects.filter(pk__in=missing):
            unit = unit_ensure_for_school(school)
            self._add_parents(unit)
            self._add_school_unit(unit.pk, unit.parent_id, school.pk)

    def _add_school_unit(self, unit_id: int, parent_id: int | None, school_id: int) -> None:
        self.parent[unit_id] = parent_id
        self.kind[unit_id] = UnitKind.SCHOOL
        self.of_school[school_id] = unit_id

    def _add_parents(self, unit: Unit) -> None:
        parent = unit.parent
        while parent is not None and parent.pk not in self.parent:
            self.parent[parent.pk] = parent.parent_id
            self.kind[parent.pk] = parent.kind
            parent = parent.parent

    def school_unit(self, school_id: int) -> int:
        if school_id not in self.of_school:
            self.load_schools([school_id])
        return self.of_school[school_id]

    def chain(self, unit_id: int) -> list[int]:
        """The unit and its ancestors, up to the nation."""
        chain = []
        current: int | None = unit_id
        while current is not None and current not in chain:
            chain.append(current)
            current = self.parent.get(current)
        return chain

    def common(self, *unit_ids: int) -> int:
        """The lowest unit covering all of ``unit_ids``."""
        ids = [u for u in unit_ids if u is not None]
        if not ids:
            return self.national_id
        lowest = ids[0]
        for other in ids[1:]:
            lowest = lowest_common(self.chain(lowest), self.chain(other)) or self.national_id
        return lowest

    def schools_common(self, *school_ids: int) -> int:
        return self.common(*(self.school_unit(s) for s in school_ids))
