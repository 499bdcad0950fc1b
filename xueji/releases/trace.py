"""Which release a leaked copy came from (``manage.py release_trace FILE``).

Two hidden fingerprints, tried in this order:

- pseudonyms: a row-level release with pseudonyms carries, in each pseudonym's last two hex
  digits, a tag keyed by the release; a copy whose pseudonyms verify under one release's key
  (at least 90 % of at least 20 rows; under any other key a row matches with probability
  1/256) came from that release, whatever rows it kept and in whatever order;
- row order: every release writes its rows in an order keyed by the release, so a run of
  consecutive rows of a copy (100 rows, say) found in one release's stored file names it.

The visible mark, when the copy still has it, is reported too, but a mark can be cut off or
forged: the verdict rests on the fingerprints.
"""

import csv
import io
import re
from dataclasses import dataclass, field

from django.core.files.storage import default_storage

from .generation import key_of
from .models import DataRelease
from .rules import (
    COUNT_TITLE,
    FIELD_TITLES,
    PSEUDONYM,
    PSEUDONYM_TITLE,
    IdentifierMethod,
    ReleaseKind,
    find_run,
    pseudonym_verifies,
    trace_named,
)

TITLES = frozenset({*FIELD_TITLES.values(), PSEUDONYM_TITLE, COUNT_TITLE})
_MARK_REFERENCE = re.compile(r"数据发布\s+(SJFB-\d{4}-[0-9A-F]{8})")
# Rows compared: enough to decide, few enough to stay fast on a full copy.
PSEUDONYM_SAMPLE = 2000
ORDER_SAMPLE = 1000


@dataclass
class Copy:
    rows: list[tuple[str, ...]]
    marks: list[str] = field(default_factory=list)

    @property
    def mark_references(self) -> list[str]:
        found = []
        for mark in self.marks:
            match = _MARK_REFERENCE.search(mark)
            if match and match.group(1) not in found:
                found.append(match.group(1))
        return found


@dataclass
class TraceMatch:
    release: DataRelease
    method: str  # "pseudonym" or "order"
    matched: int
    compared: int
    position: int | None = None  # the copy's first row in the release's file (0-based)


@dataclass
class TraceResult:
    copy: Copy
    matches: list[TraceMatch]


def _cells(values) -> tuple[str, ...]:
    cells = ["" if v is None else str(v).strip() for v in values]
    while cells and cells[-1] == "":
        cells.pop()
    return tuple(cells)


def read_copy(content: bytes) -> Copy:
    """The data rows of a csv or xlsx copy, without marks, headers and empty rows."""
    if content[:2] == b"PK":
        from openpyxl import load_workbook

        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
        raw = [
            _cells(row) for sheet in book.worksheets for row in sheet.iter_rows(values_only=True)
        ]
        book.close()
    else:
        try:
            text = content.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = content.decode("gb18030", errors="replace")
        raw = [_cells(row) for row in csv.reader(io.StringIO(text))]
    copy = Copy(rows=[])
    for row in raw:
        if not row:
            continue
        if row[0].startswith("#") or _MARK_REFERENCE.search(row[0]):
            copy.marks.append(row[0])
        elif all(cell in TITLES for cell in row if cell):
            continue  # a header row
        else:
            copy.rows.append(row)
    return copy


def _pseudonym_column(rows: list[tuple[str, ...]]) -> int | None:
    if not rows:
        return None
    for column in range(max(len(r) for r in rows)):
        hits = sum(1 for r in rows if len(r) > column and PSEUDONYM.match(r[column]))
        if hits >= 0.9 * len(rows):
            return column
    return None


def _stored_rows(release: DataRelease) -> list[tuple[str, ...]]:
    with default_storage.open(release.file.name, "rb") as handle:
        return read_copy(handle.read()).rows


def trace(content: bytes) -> TraceResult:
    """Every release the copy's fingerprints name (normally one)."""
    copy = read_copy(content)
    matches: list[TraceMatch] = []
    generated = DataRelease.objects.exclude(file="").select_related(
        "recipient", "approver_unit", "unit"
    )
    column = _pseudonym_column(copy.rows)
    if column is not None:
        values = [row[column] for row in copy.rows[:PSEUDONYM_SAMPLE]]
        candidates = generated.filter(identifiers=IdentifierMethod.PSEUDONYM, kind=ReleaseKind.ROWS)
        for release in candidates.order_by("pk").iterator():
            key = key_of(release)
            matched = sum(1 for value in values if pseudonym_verifies(key, value))
            if trace_named(matched=matched, total=len(values)):
                matches.append(TraceMatch(release, "pseudonym", matched, len(values)))
        if matches:
            return TraceResult(copy, matches)
    needle = copy.rows[:ORDER_SAMPLE]
    if needle:
        width = len(needle[0])
        for release in generated.order_by("pk").iterator():
            stored = _stored_rows(release)
            if not stored or len(stored[0]) != width:
                continue
            position = find_run(stored, needle)
            if position is not None:
                matches.append(TraceMatch(release, "order", len(needle), len(needle), position))
    return TraceResult(copy, matches)
