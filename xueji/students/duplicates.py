"""The duplicate check (重复学籍) run before a record is created: one rule, two callers.

One-by-one registration (``candidates``) and the bulk import (``registry_matches`` for the
registry, ``FileIndex`` inside the file) ask the same question with the same rule,
``match``: first the exact ID number, anywhere in the registry and in any state (the
callers do that, it is a refusal, not a candidate); then two records are possibly one
person when

- they have the same sex, the same birth date **or its day/month swap**, and similar names
  (characters or pinyin, ``score_name`` ≥ ``XUEJI["DUPLICATE_NAME_SCORE"]``); or
- they share a guardian's ID and have a fairly similar name (15 points lower) or the same
  birth date;

and never when both carry resident ID numbers and the numbers differ: two valid resident
ID numbers are two people (the registry refuses a second record for one number, and a
child with two household registrations is the police's to find).

The checks are set-based, so that a file of a million rows costs what its blocks cost:
records are compared only inside a block of one (birth date, sex) — the date or its swap —
or one guardian's ID; names inside a block are scored by ``rapidfuzz.process.extract``
(one call per record and block, the pairs scored in C). A ``RegistryIndex`` reads each
registry block once, with one ``VALUES`` join on the ``student_dup_block`` index per
thousand blocks, and keeps its ids and names only: an import passes one index to every
chunk (a chunk of 20,000 rows touches nearly every block of a registry, so reading the
blocks per chunk read the registry once per chunk); the rest of a row is read only for
the pairs whose names are similar enough.
"""

import sys
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date

from django.conf import settings
from django.db import connection
from django.utils.translation import gettext as _
from rapidfuzz import fuzz, process

from . import identity
from .models import Guardian, Student
from .rules import IdType

BLOCKS_PER_QUERY = 1000
GUARDIAN_SLACK = 15  # a shared guardian lowers the name score needed by this much


@dataclass
class Candidate:
    student_id: int
    number_masked: str  # the candidate may sit outside the clerk's scope
    name: str
    birth_date: date
    sex: str
    school_name: str
    state: str
    score: int
    reasons: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Probe:
    """What the check compares of a record: a new one, a row of a file or a registered one."""

    name: str
    name_key: str
    sex: str
    birth_date: date
    id_type: str = ""
    id_key: str | None = None
    guardian_keys: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Match:
    """A registered student the probe may be: the candidate and the school it is at."""

    candidate: Candidate
    school_id: int | None


def name_threshold() -> int:
    return int(settings.XUEJI["DUPLICATE_NAME_SCORE"])


def score_name(name_a: str, key_a: str, name_b: str, key_b: str) -> tuple[int, list[str]]:
    """Similarity 0–100 of two names and why, in characters and in pinyin."""
    reasons = []
    if name_a == name_b:
        return 100, [_("姓名相同")]
    char_score = int(fuzz.ratio(name_a, name_b))
    key_score = int(fuzz.ratio(key_a, key_b)) if key_a and key_b else 0
    if key_a and key_a == key_b:
        reasons.append(_("姓名拼音相同（同音字）"))
        key_score = 100
    elif key_score >= 90:
        reasons.append(_("姓名拼音相近（%(score)d）") % {"score": key_score})
    if char_score >= 50 and not reasons:
        reasons.append(_("姓名字形相近（%(score)d）") % {"score": char_score})
    return max(char_score, key_score), reasons


def swapped(day: date) -> date | None:
    """The date with day and month swapped, when that is another valid date."""
    if day.day > 12 or day.day == day.month:
        return None
    try:
        return date(day.year, day.day, day.month)
    except ValueError:  # pragma: no cover - day ≤ 12 is always a valid month
        return None


def two_people(a: Probe, b: Probe) -> bool:
    """Two different resident ID numbers are two people, whatever else they share."""
    return bool(
        a.id_type == IdType.RESIDENT_ID
        and b.id_type == IdType.RESIDENT_ID
        and a.id_key
        and b.id_key
        and a.id_key != b.id_key
    )


def match(a: Probe, b: Probe, *, threshold: int | None = None) -> tuple[int, list[str]] | None:
    """The one rule: ``(score, reasons)`` when ``a`` and ``b`` may be one person, else None."""
    if two_people(a, b):
        return None
    threshold = name_threshold() if threshold is None else threshold
    same_day = a.birth_date == b.birth_date
    swap = not same_day and swapped(a.birth_date) == b.birth_date
    by_date = a.sex == b.sex and (same_day or swap)
    shared_guardian = not a.guardian_keys.isdisjoint(b.guardian_keys)
    if not by_date and not shared_guardian:
        return None
    score, name_reasons = score_name(a.name, a.name_key, b.name, b.name_key)
    reasons: list[str] = []
    if by_date and score >= threshold:
        reasons.append(_("出生日期、性别相同") if same_day else _("性别相同，出生日期日月颠倒"))
        reasons += name_reasons
    if shared_guardian and (score >= threshold - GUARDIAN_SLACK or same_day):
        if not reasons:
            reasons += name_reasons
        reasons.append(_("监护人身份证件号相同"))
    return (score, reasons) if reasons else None


def _date_blocks(probe: Probe) -> list[tuple[date, str]]:
    other = swapped(probe.birth_date)
    blocks = [(probe.birth_date, probe.sex)]
    if other is not None:
        blocks.append((other, probe.sex))
    return blocks


def _similar_pairs(
    queries: Sequence[Probe], names: Sequence[str], keys: Sequence[str | None], threshold: int
) -> list[tuple[int, int]]:
    """(query index, pool index) of the pairs whose names score ≥ ``threshold`` in
    characters or in pinyin (the rule's name score is the larger of the two), the pool
    given as its ``names`` and pinyin ``keys``; rapidfuzz scores one query against the
    whole pool in one call."""
    if not queries or not names:
        return []
    found: list[tuple[int, int]] = []
    for qi, query in enumerate(queries):
        hits = {
            pi
            for _choice, _score, pi in process.extract(
                query.name, names, scorer=fuzz.ratio, score_cutoff=threshold, limit=None
            )
        }
        if query.name_key:
            hits.update(
                pi
                for _choice, _score, pi in process.extract(
                    query.name_key, keys, scorer=fuzz.ratio, score_cutoff=threshold, limit=None
                )
            )
        found += [(qi, pi) for pi in sorted(hits)]
    return found


def exact_match(id_type: str, id_number: str) -> Student | None:
    key = identity.id_key(id_type, id_number) if id_number else None
    if key is None:
        return None
    return Student.objects.select_related("record", "record__school").filter(id_key=key).first()


# -- against the registry ----------------------------------------------------------------------


def _block_rows(blocks: list[tuple[date, str]]) -> list[tuple]:
    """Registered students of the given (birth date, sex) blocks: ``(id, name, name_key,
    birth_date, sex)``. One query joins a VALUES list to the ``student_dup_block`` index
    (an index search per block), blocks in index order."""
    rows: list[tuple] = []
    ordered = sorted(blocks)
    for start in range(0, len(ordered), BLOCKS_PER_QUERY):
        part = ordered[start : start + BLOCKS_PER_QUERY]
        values = ", ".join(["(%s, %s)"] * len(part))
        params: list = []
        for birth_date, sex in part:
            params += [connection.ops.adapt_datefield_value(birth_date), sex]
        with connection.cursor() as cursor:
            # No ORDER BY: the pairs are sorted once scored.
            cursor.execute(
                f"WITH b (birth_date, sex) AS (VALUES {values}) "
                "SELECT s.id, s.name, s.name_key, s.birth_date, s.sex "
                "FROM b JOIN students_student s ON s.birth_date = b.birth_date "
                "AND s.sex = b.sex",
                params,
            )
            rows += cursor.fetchall()
    return rows


class RegistryIndex:
    """The registry's (birth date, sex) blocks asked for so far, each read once: their
    students' ids, names and pinyin keys (names repeat: one string each, interned).

    An import keeps one for the whole file: its own rows reach the registry only at its
    end (the merge), and a student another clerk registers meanwhile is missed by the
    chunks already checked either way. Memory: about 80 bytes a student of the blocks
    read (a registry of a million: about 80 MB).
    """

    def __init__(self) -> None:
        self.blocks: dict[tuple[date, str], tuple[list[int], list[str], list[str | None]]] = {}

    def pools(
        self, blocks: Iterable[tuple[date, str]]
    ) -> dict[tuple[date, str], tuple[list[int], list[str], list[str | None]]]:
        """The given blocks (read from the registry when not yet read)."""
        wanted = set(blocks)
        missing = [block for block in wanted if block not in self.blocks]
        for block in missing:
            self.blocks[block] = ([], [], [])
        for pk, name, name_key, birth_date, sex in _block_rows(missing):
            if isinstance(birth_date, str):  # SQLite hands back raw SQL dates as text
                birth_date = date.fromisoformat(birth_date)
            ids, names, keys = self.blocks[(birth_date, sex)]
            ids.append(pk)
            names.append(sys.intern(name))
            keys.append(sys.intern(name_key) if name_key else None)
        return {block: self.blocks[block] for block in wanted}


def _as_probe(row: tuple, guardians: dict[int, set[str]]) -> Probe:
    pk, name, name_key, birth_date, sex, id_type, id_key = row
    if isinstance(birth_date, str):  # SQLite hands back raw SQL dates as text
        birth_date = date.fromisoformat(birth_date)
    return Probe(
        name=name,
        name_key=name_key,
        sex=sex,
        birth_date=birth_date,
        id_type=id_type,
        id_key=id_key,
        guardian_keys=frozenset(guardians.get(pk, ())),
    )


def _guardian_students(keys: set[str]) -> dict[str, set[int]]:
    """Guardian ID key → the students listing that guardian."""
    found: dict[str, set[int]] = {}
    ordered = sorted(keys)
    for start in range(0, len(ordered), 900):
        for key, student_id in Guardian.objects.filter(
            id_key__in=ordered[start : start + 900]
        ).values_list("id_key", "student_id"):
            found.setdefault(str(key), set()).add(student_id)
    return found


def _student_rows(ids: Iterable[int]) -> list[tuple]:
    ordered = sorted(set(ids))
    rows: list[tuple] = []
    for start in range(0, len(ordered), 900):
        rows += Student.objects.filter(pk__in=ordered[start : start + 900]).values_list(
            "id", "name", "name_key", "birth_date", "sex", "id_type", "id_key"
        )
    return rows


def _guardian_keys_of(ids: Iterable[int]) -> dict[int, set[str]]:
    ordered = sorted(set(ids))
    found: dict[int, set[str]] = {}
    for start in range(0, len(ordered), 900):
        for student_id, key in Guardian.objects.filter(
            student_id__in=ordered[start : start + 900], id_key__isnull=False
        ).values_list("student_id", "id_key"):
            found.setdefault(student_id, set()).add(str(key))
    return found


def registry_matches(
    probes: Sequence[Probe],
    *,
    exclude_ids: Iterable[int] = (),
    limit: int = 10,
    index: RegistryIndex | None = None,
) -> list[list[Match]]:
    """For each probe, the registered students the rule (``match``) says it may be, best
    first (at most ``limit``). Set-based: one pass over the blocks of all probes; the
    blocks come from ``index`` (an import passes one for all its chunks), read once."""
    threshold = name_threshold()
    excluded = set(exclude_ids)
    index = RegistryIndex() if index is None else index
    # Candidate pairs: (probe index, student id), from the date blocks and the guardians.
    pairs: set[tuple[int, int]] = set()
    by_block: dict[tuple[date, str], list[int]] = {}
    for position, probe in enumerate(probes):
        for block in _date_blocks(probe):
            by_block.setdefault(block, []).append(position)
    for block, (ids, names, keys) in index.pools(by_block).items():
        if not ids:
            continue
        indexes = by_block[block]
        for qi, pi in _similar_pairs([probes[i] for i in indexes], names, keys, threshold):
            pairs.add((indexes[qi], ids[pi]))
    wanted_keys = {k for p in probes for k in p.guardian_keys}
    if wanted_keys:
        sharing = _guardian_students(wanted_keys)
        for position, probe in enumerate(probes):
            for key in probe.guardian_keys:
                for student_id in sharing.get(key, ()):
                    pairs.add((position, student_id))
    pairs = {(i, s) for i, s in pairs if s not in excluded}
    # The whole row only for the students some probe may be.
    registered = {row[0]: row for row in _student_rows(s for _i, s in pairs)}
    guardians = _guardian_keys_of(registered) if wanted_keys else {}
    scored: dict[int, list[tuple[int, int, list[str]]]] = {}
    for position, student_id in sorted(pairs):
        if student_id not in registered:
            continue  # removed since its block was read
        verdict = match(
            probes[position], _as_probe(registered[student_id], guardians), threshold=threshold
        )
        if verdict is not None:
            scored.setdefault(position, []).append((student_id, *verdict))
    details = _details({s for hits in scored.values() for s, _score, _r in hits})
    result: list[list[Match]] = []
    for position in range(len(probes)):
        hits = sorted(scored.get(position, []), key=lambda h: (-h[1], h[0]))[:limit]
        result.append(
            [_match(details[student_id], score, reasons) for student_id, score, reasons in hits]
        )
    return result


def _details(ids: set[int]) -> dict[int, Student]:
    found: dict[int, Student] = {}
    ordered = sorted(ids)
    for start in range(0, len(ordered), 900):
        for student in (
            Student.objects.filter(pk__in=ordered[start : start + 900])
            .select_related("record__school")
            .only(
                "id",
                "number_masked",
                "name",
                "birth_date",
                "sex",
                "record__state",
                "record__school_id",
                "record__school__name",
            )
        ):
            found[student.pk] = student
    return found


def _match(other: Student, score: int, reasons: list[str]) -> Match:
    record = getattr(other, "record", None)
    return Match(
        Candidate(
            student_id=other.pk,
            number_masked=other.number_masked,
            name=other.name,
            birth_date=other.birth_date,
            sex=other.sex,
            school_name=record.school.name if record else "",
            state=record.state if record else "",
            score=score,
            reasons=reasons,
        ),
        record.school_id if record else None,
    )


def candidates(
    *,
    name: str,
    name_key: str,
    sex: str,
    birth_date: date,
    guardian_numbers: list[tuple[str, str]] = (),  # type: ignore[assignment]
    id_type: str = "",
    id_number: str = "",
    exclude_ids: set[int] | None = None,
    limit: int = 10,
) -> list[Candidate]:
    """One-by-one registration's candidates: ``registry_matches`` for one probe."""
    probe = Probe(
        name=name,
        name_key=name_key,
        sex=sex,
        birth_date=birth_date,
        id_type=id_type,
        id_key=identity.id_key(id_type, id_number) if id_number else None,
        guardian_keys=frozenset(
            k for k in (identity.id_key(t, n) for t, n in guardian_numbers if n) if k
        ),
    )
    matches = registry_matches([probe], exclude_ids=exclude_ids or (), limit=limit)[0]
    return [m.candidate for m in matches]


# -- inside a file -----------------------------------------------------------------------------


class FileIndex:
    """The rows of one file checked so far, for the same rule inside the file.

    ``check`` takes the rows of a chunk in file order and answers, for each row that may be
    a person of an earlier row, that row's number and the rule's reasons; every row given
    becomes an earlier row for the ones after it.

    Memory: a file of 200,000 rows stays here whole while it is checked, so a row is kept
    compact (a tuple, keys as 32 bytes, dates shared) and made a ``Probe`` again only when
    a later row's block or guardian reaches it (about 830 bytes a row as probes, 520 so).
    """

    def __init__(self, threshold: int | None = None) -> None:
        self.threshold = name_threshold() if threshold is None else threshold
        self.rows = array("q")
        self.kept: list[tuple] = []  # (name, name_key, sex, birth_date, id_type, id_key, guardians)
        self.blocks: dict[tuple[date, str], list[int]] = {}  # positions in rows/kept
        self.guardians: dict[bytes, list[int]] = {}
        self.dates: dict[date, date] = {}

    def _keep(self, probe: Probe) -> None:
        birth_date = self.dates.setdefault(probe.birth_date, probe.birth_date)
        self.kept.append(
            (
                probe.name,
                probe.name_key,
                probe.sex,
                birth_date,
                probe.id_type,
                bytes.fromhex(probe.id_key) if probe.id_key else None,
                tuple(bytes.fromhex(k) for k in probe.guardian_keys),
            )
        )

    def probe(self, position: int) -> Probe:
        name, name_key, sex, birth_date, id_type, id_key, guardians = self.kept[position]
        return Probe(
            name=name,
            name_key=name_key,
            sex=sex,
            birth_date=birth_date,
            id_type=id_type,
            id_key=id_key.hex() if id_key is not None else None,
            guardian_keys=frozenset(k.hex() for k in guardians),
        )

    def check(self, items: Sequence[tuple[int, Probe]]) -> dict[int, tuple[int, list[str]]]:
        start = len(self.rows)
        fresh: dict[int, Probe] = {}  # this chunk's probes, as given
        for row, probe in items:
            position = len(self.rows)
            self.rows.append(row)
            self._keep(probe)
            fresh[position] = probe
            self.blocks.setdefault((probe.birth_date, probe.sex), []).append(position)
            for key in self.kept[position][6]:
                self.guardians.setdefault(key, []).append(position)

        def probe_at(position: int) -> Probe:
            return fresh.get(position) or self.probe(position)

        queries: dict[tuple[date, str], list[int]] = {}
        for position in range(start, len(self.rows)):
            for block in _date_blocks(fresh[position]):
                queries.setdefault(block, []).append(position)
        pairs: set[tuple[int, int]] = set()
        for block, positions in queries.items():
            pool = self.blocks.get(block)
            if not pool:
                continue
            for qi, pi in _similar_pairs(
                [fresh[p] for p in positions],
                [self.kept[p][0] for p in pool],
                [self.kept[p][1] or None for p in pool],
                self.threshold,
            ):
                if pool[pi] < positions[qi]:
                    pairs.add((positions[qi], pool[pi]))
        for position in range(start, len(self.rows)):
            for key in self.kept[position][6]:
                for earlier in self.guardians[key]:
                    if earlier >= position:
                        break
                    pairs.add((position, earlier))
        found: dict[int, tuple[int, list[str]]] = {}
        for position, earlier in sorted(pairs):
            if self.rows[position] in found:
                continue
            verdict = match(fresh[position], probe_at(earlier), threshold=self.threshold)
            if verdict is not None:
                found[self.rows[position]] = (self.rows[earlier], verdict[1])
        return found
