"""Issuing student numbers (学籍号): G from the resident ID, J by sequence, L at random.

Every number ever issued is kept in ``StudentNumber`` with a unique constraint, so a
number can never be issued twice, even after it is retired by an upgrade or a merge.
"""

import secrets
from collections.abc import Iterable
from datetime import date

from django.db.models import Q

from .models import NumberKind, StudentNumber
from .rules import IdType, g_number, j_number, l_number


def kind_for(*, id_type: str, id_number: str, nationality: str) -> str:
    """G for a checked resident ID; L (temporary) for a citizen whose ID is still to come;
    J for everyone without a usable resident ID (permits, passports, other)."""
    if id_number and id_type == IdType.RESIDENT_ID:
        return NumberKind.G
    if not id_number and nationality == "CHN":
        return NumberKind.L
    return NumberKind.J


class NumberIssuer:
    """Hands out J and L numbers for one transaction, knowing what is already taken.

    J sequences continue from the highest number issued for the same division and birth
    date; L numbers are random and re-drawn on collision. Bulk paths prime the issuer
    with one query per chunk instead of one per row.
    """

    def __init__(self) -> None:
        self._next_j: dict[str, int] = {}
        self._taken: set[str] = set()

    def prime(self, prefixes: Iterable[str]) -> None:
        """Load the highest J sequence for each 'J'+division+date prefix."""
        wanted = [p for p in set(prefixes) if p not in self._next_j]
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            for prefix in chunk:
                self._next_j[prefix] = 1
            condition = Q()
            for prefix in chunk:
                # A key range, not ``startswith``: SQLite answers LIKE by reading every
                # issued number, a range comes from the unique index on any database.
                upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
                condition |= Q(number__gte=prefix, number__lt=upper)
            for number in StudentNumber.objects.filter(condition).values_list("number", flat=True):
                prefix = number[:15]
                sequence = int(number[15:18])
                if sequence + 1 > self._next_j.get(prefix, 1):
                    self._next_j[prefix] = sequence + 1

    def issue(self, *, kind: str, id_number: str, division_code: str, birth_date: date) -> str:
        if kind == NumberKind.G:
            return g_number(id_number)
        if kind == NumberKind.J:
            prefix = f"J{division_code}{birth_date:%Y%m%d}"
            if prefix not in self._next_j:
                self.prime([prefix])
            sequence = self._next_j[prefix]
            if sequence > 999:
                raise OverflowError(f"J sequence exhausted for {prefix}")
            self._next_j[prefix] = sequence + 1
            return j_number(division_code, birth_date, sequence)
        for _attempt in range(50):
            number = l_number(division_code, birth_date, f"{secrets.randbelow(10_000):04d}")
            if number in self._taken:
                continue
            if not StudentNumber.objects.filter(number=number).exists():
                self._taken.add(number)
                return number
        raise OverflowError(f"no free temporary number for {division_code}/{birth_date}")

    def issue_l_many(self, keys: list[tuple[str, date]]) -> list[str]:
        """Random L numbers for many rows with one existence query per chunk."""
        drafts = []
        for division_code, birth_date in keys:
            while True:
                number = l_number(division_code, birth_date, f"{secrets.randbelow(10_000):04d}")
                if number not in self._taken:
                    self._taken.add(number)
                    drafts.append(number)
                    break
        clashes = set(
            StudentNumber.objects.filter(number__in=drafts).values_list("number", flat=True)
        )
        for index, number in enumerate(drafts):
            if number in clashes:
                division_code, birth_date = keys[index]
                drafts[index] = self.issue(
                    kind=NumberKind.L,
                    id_number="",
                    division_code=division_code,
                    birth_date=birth_date,
                )
        return drafts
