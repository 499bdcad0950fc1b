"""Issuing student numbers (学籍号): G from the resident ID, J by sequence, L at random.

Every number ever issued is kept in ``StudentNumber`` with a unique constraint, so a
number can never be issued twice, even after it is retired by an upgrade or a merge.
"""

import secrets
from collections.abc import Iterable
from datetime import date

from . import identity
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


# How many J sequences of a prefix one probe of the blind index asks about.
_PROBE = 20


def _chunks(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]


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
        """Load the next free J sequence for each 'J'+division+date prefix.

        Numbers are stored encrypted, so there is no range to scan: the issuer asks the
        blind index which of the first ``_PROBE`` sequences of each prefix are taken, and the
        next ``_PROBE`` for the prefixes whose window was full, until a window has a free
        tail. Sequences are issued in order and never reused, so the next one is one past
        the highest taken.
        """
        wanted = [p for p in set(prefixes) if p not in self._next_j]
        start = 1
        while wanted and start <= 999:
            stop = min(999, start + _PROBE - 1)
            keys: dict[str, tuple[str, int]] = {}
            for prefix in wanted:
                self._next_j.setdefault(prefix, 1)
                division, day = prefix[1:7], prefix[7:15]
                birth = date(int(day[:4]), int(day[4:6]), int(day[6:8]))
                for sequence in range(start, stop + 1):
                    keys[identity.number_key(j_number(division, birth, sequence))] = (
                        prefix,
                        sequence,
                    )
            full: set[str] = set()
            for part in _chunks(list(keys), 900):
                for key in StudentNumber.objects.filter(number_key__in=part).values_list(
                    "number_key", flat=True
                ):
                    prefix, sequence = keys[str(key)]
                    if sequence + 1 > self._next_j[prefix]:
                        self._next_j[prefix] = sequence + 1
                    if sequence == stop:
                        full.add(prefix)
            wanted = sorted(full)
            start = stop + 1

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
            if not StudentNumber.objects.filter(identity.number_q(number)).exists():
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
        by_key = identity.number_keys(drafts)
        clashes = {
            by_key[str(key)]
            for part in _chunks(list(by_key), 900)
            for key in StudentNumber.objects.filter(number_key__in=part).values_list(
                "number_key", flat=True
            )
        }
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
