"""The linkage input: one row per student record, streamed from the registry into Arrow.

Only what the comparison needs leaves the database: names, birth date, sex, the blind
index of the ID (``id_key``, never the decrypted number — and not the student number
either, since a G number is the ID itself), the blind indexes of every guardian's ID, the
school's area, the birthplace, the mark of the latest semester confirmation (核准)
that covered the record, keyed indexes of the phones and addresses on the record, and the
school it came from (原就读学校, non-basic data), resolved to a school of the registry.
Cancelled records (注销, a duplicate already removed) are left out.

The rows come through a chunked (server-side on PostgreSQL) cursor and become Arrow
record batches, which DuckDB reads in place and Spark takes as a DataFrame.
"""

import unicodedata
from collections.abc import Callable, Iterable, Iterator
from datetime import date
from typing import Any, NamedTuple

import pyarrow as pa
import pyarrow.compute as pc
from django.db import connection

from xueji.enrolment.models import StatusRecord
from xueji.enrolment.rules import StatusState
from xueji.schools.models import School
from xueji.students import identity
from xueji.students.models import Guardian, NonBasicInfo, Student
from xueji.verification.models import Campaign, RollMark
from xueji.verification.rules import SEEN_MARKS, Mark

from .names import name_features


class RegistryRow(NamedTuple):
    """One record as read from the registry, before the name and date features."""

    student_id: int
    name: str
    sex: str
    birth_date: date
    birthplace_code: str
    id_type: str
    id_key: str | None
    number_kind: str
    area_code: str
    province_code: str
    # Blind indexes of the guardians' IDs, in the order they were entered.
    guardian_keys: tuple[str, ...] = ()
    # The latest confirmation campaign's mark for the record: "present" (data wrong
    # counts: the student is there), "absent", or None (not marked, or no campaign yet).
    attendance: str | None = None
    # The school of the status record (two records both confirmed present at one school
    # are two children).
    school_id: int | None = None
    # Keyed indexes (``contact_keys``) of the phones (the guardians', the student's) and
    # addresses (current, household) on the record: what a record registered by the other
    # parent, with no guardian in common, still shares with the first one.
    contact_keys: tuple[str, ...] = ()
    # The schools the record says the student came from (原就读学校, resolved to school
    # ids): a second registration at a new school often names the school of the first.
    previous_schools: tuple[int, ...] = ()


SCHEMA = pa.schema(
    [
        ("unique_id", pa.int64()),
        ("name", pa.string()),
        ("surname", pa.string()),
        ("given", pa.string()),
        ("surname_key", pa.string()),
        ("given_key", pa.string()),
        ("name_key", pa.string()),
        ("initials", pa.string()),
        ("given_masks", pa.list_(pa.string())),
        ("birth_date", pa.date32()),
        ("birth_year", pa.int32()),
        ("birth_month", pa.int32()),
        ("birth_day", pa.int32()),
        # The birth date and its day/month swap as one unordered key; null when a swap is
        # not a valid other date (day > 12, or day == month).
        ("birth_date_pair", pa.string()),
        # Days since 1970-01-01, and two grids of four-day buckets offset by two days: two
        # dates at most two days apart share a bucket of one grid (blocking across a
        # month or year end: 2017-12-31 and 2018-01-01).
        ("birth_days", pa.int32()),
        ("birth_near_a", pa.int32()),
        ("birth_near_b", pa.int32()),
        ("sex", pa.string()),
        ("id_type", pa.string()),
        ("id_key", pa.string()),
        ("guardian_keys", pa.list_(pa.string())),
        ("contact_keys", pa.list_(pa.string())),
        ("attendance", pa.string()),
        ("school_id", pa.int64()),
        # The schools the record came from (null when none), and those with its own
        # school: two records whose trails meet at different current schools.
        ("previous_schools", pa.list_(pa.string())),
        ("school_trail", pa.list_(pa.string())),
        ("number_kind", pa.string()),
        ("area_code", pa.string()),
        ("province_code", pa.string()),
        ("birthplace_code", pa.string()),
    ]
)


EPOCH = date(1970, 1, 1)


def birth_date_pair(born: date) -> str | None:
    """'YYYY-MM-DD|YYYY-MM-DD' of the date and its day/month swap, smaller first."""
    if born.day > 12 or born.day == born.month:
        return None
    swapped = date(born.year, born.day, born.month)
    low, high = sorted((born, swapped))
    return f"{low.isoformat()}|{high.isoformat()}"


def phone_digits(value: str | None) -> str:
    """A phone number's digits, without a +86 / 0086 prefix; '' when too short to tell."""
    digits = "".join(ch for ch in unicodedata.normalize("NFKC", value or "") if ch.isdigit())
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and len(digits) - len(prefix) == 11:
            digits = digits[len(prefix) :]
    return digits if len(digits) >= 7 else ""


def address_text(value: str | None) -> str:
    """An address as compared: full-width folded, spaces and punctuation dropped; ''
    when too short to tell one household from another."""
    text = "".join(
        ch
        for ch in unicodedata.normalize("NFKC", value or "")
        if not (ch.isspace() or unicodedata.category(ch).startswith("P"))
    )
    return text if len(text) >= 6 else ""


def contact_keys(phones: Iterable[str | None], addresses: Iterable[str | None]) -> tuple[str, ...]:
    """Keyed indexes (``identity.blind_index``, families ``phone`` and ``address``) of a
    record's phones and addresses, each once, sorted: never the phone or address itself."""
    keys = {identity.blind_index("phone", d) for d in map(phone_digits, phones) if d}
    keys |= {identity.blind_index("address", a) for a in map(address_text, addresses) if a}
    return tuple(sorted(keys))


def _blanks_to_none(values: Iterable[str | None]) -> list[str | None]:
    return [value or None for value in values]


def _as_date(value: date | str) -> date:
    return date.fromisoformat(value) if isinstance(value, str) else value  # SQLite: text


def to_batch(rows: Iterable[RegistryRow]) -> pa.RecordBatch:
    """Arrow batch of linkage input rows (``SCHEMA``) with the derived name and date keys.

    Column by column: names and birth dates repeat, so each distinct one is worked out
    once per batch.
    """
    rows = list(rows)
    if not rows:
        return pa.RecordBatch.from_pylist([], schema=SCHEMA)
    (
        ids,
        names,
        sexes,
        born_values,
        birthplaces,
        id_types,
        id_keys,
        kinds,
        areas,
        provinces,
        guardians,
        attendance,
        school_ids,
        contacts,
        previous,
    ) = (list(column) for column in zip(*rows, strict=True))
    features = {name: name_features(name) for name in set(names)}
    dates = {value: _as_date(value) for value in set(born_values)}
    pairs = {value: birth_date_pair(day) for value, day in dates.items()}
    day_numbers = {value: (day - EPOCH).days for value, day in dates.items()}
    born = [dates[value] for value in born_values]
    born_array = pa.array(born, type=pa.date32())
    columns = {
        "unique_id": pa.array(ids, type=pa.int64()),
        "name": pa.array(names, type=pa.string()),
        "surname": pa.array([features[n].surname or None for n in names], type=pa.string()),
        "given": pa.array([features[n].given for n in names], type=pa.string()),
        "surname_key": pa.array([features[n].surname_key or None for n in names], type=pa.string()),
        "given_key": pa.array([features[n].given_key for n in names], type=pa.string()),
        "name_key": pa.array([features[n].name_key or None for n in names], type=pa.string()),
        "initials": pa.array([features[n].initials for n in names], type=pa.string()),
        "given_masks": pa.array(
            [list(features[n].given_masks) for n in names], type=pa.list_(pa.string())
        ),
        "birth_date": born_array,
        "birth_year": pc.year(born_array).cast(pa.int32()),
        "birth_month": pc.month(born_array).cast(pa.int32()),
        "birth_day": pc.day(born_array).cast(pa.int32()),
        "birth_date_pair": pa.array([pairs[value] for value in born_values], type=pa.string()),
        "birth_days": pa.array([day_numbers[value] for value in born_values], type=pa.int32()),
        "birth_near_a": pa.array(
            [day_numbers[value] // 4 for value in born_values], type=pa.int32()
        ),
        "birth_near_b": pa.array(
            [(day_numbers[value] + 2) // 4 for value in born_values], type=pa.int32()
        ),
        "sex": pa.array(_blanks_to_none(sexes), type=pa.string()),
        # A document type without a number says nothing.
        "id_type": pa.array(
            [t or None if k else None for t, k in zip(id_types, id_keys, strict=True)],
            type=pa.string(),
        ),
        "id_key": pa.array(_blanks_to_none(id_keys), type=pa.string()),
        # No guardian with an ID: null, not an empty list (Splink's null level).
        "guardian_keys": pa.array(
            [list(keys) if keys else None for keys in guardians], type=pa.list_(pa.string())
        ),
        "contact_keys": pa.array(
            [list(keys) if keys else None for keys in contacts], type=pa.list_(pa.string())
        ),
        "attendance": pa.array(_blanks_to_none(attendance), type=pa.string()),
        "school_id": pa.array(school_ids, type=pa.int64()),
        "previous_schools": pa.array(
            [[str(s) for s in sorted(set(p))] if p else None for p in previous],
            type=pa.list_(pa.string()),
        ),
        "school_trail": pa.array(
            [
                sorted({str(s) for s in (*p, school) if s is not None}) or None
                for p, school in zip(previous, school_ids, strict=True)
            ],
            type=pa.list_(pa.string()),
        ),
        "number_kind": pa.array(kinds, type=pa.string()),
        "area_code": pa.array(_blanks_to_none(areas), type=pa.string()),
        "province_code": pa.array(_blanks_to_none(provinces), type=pa.string()),
        "birthplace_code": pa.array(_blanks_to_none(birthplaces), type=pa.string()),
    }
    return pa.RecordBatch.from_arrays([columns[f.name] for f in SCHEMA], schema=SCHEMA)


def to_table(rows: Iterable[RegistryRow], *, chunk_rows: int = 50_000) -> pa.Table:
    """The linkage input table of any rows (tests and the benchmark build them directly)."""
    return pa.Table.from_batches(list(_batches(iter(rows), chunk_rows)), schema=SCHEMA)


def _batches(rows: Iterator[RegistryRow], chunk_rows: int) -> Iterator[pa.RecordBatch]:
    while True:
        chunk = [row for _, row in zip(range(chunk_rows), rows, strict=False)]
        if not chunk:
            return
        yield to_batch(chunk)


def registry_sql(*, limit: int | None = None) -> str:
    """One row per student: the student, its status record, its guardians' keys (joined
    by commas) and its mark in the latest confirmation campaign that listed it (by school
    year and semester, as the detectors count it)."""
    student = Student._meta.db_table
    record = StatusRecord._meta.db_table
    guardian = Guardian._meta.db_table
    mark, campaign = RollMark._meta.db_table, Campaign._meta.db_table
    # Guardians in the order entered: PostgreSQL orders inside the aggregate; SQLite
    # (before 3.44) has no ORDER BY there and concatenates in the subquery's order.
    aggregate = (
        "string_agg(k.id_key, ',' ORDER BY k.id)"
        if connection.vendor == "postgresql"
        else "group_concat(k.id_key, ',')"
    )
    phones = (
        "string_agg(g.phone, ',')"
        if connection.vendor == "postgresql"
        else "group_concat(g.phone, ',')"
    )
    nonbasic = NonBasicInfo._meta.db_table
    # Correlated lookups on the student foreign keys' indexes, cheaper than grouping the
    # whole guardian and mark tables. Blind indexes are hexadecimal: no comma inside.
    sql = f"""
        SELECT s.id, s.name, s.sex, s.birth_date, s.birthplace_code, s.id_type, s.id_key,
               s.number_kind, r.area_code, r.province_code,
               (SELECT {aggregate} FROM (
                    SELECT g.id, g.id_key FROM {guardian} g
                     WHERE g.student_id = s.id AND g.id_key IS NOT NULL
                     ORDER BY g.id) k),
               (SELECT m.mark FROM {mark} m JOIN {campaign} c ON c.id = m.campaign_id
                 WHERE m.student_id = s.id
                 ORDER BY c.school_year DESC, c.semester DESC, c.id DESC LIMIT 1),
               r.school_id,
               (SELECT {phones} FROM {guardian} g
                 WHERE g.student_id = s.id AND g.phone <> ''),
               n.data
          FROM {student} s
          LEFT JOIN {record} r ON r.student_id = s.id
          LEFT JOIN {nonbasic} n ON n.student_id = s.id
         WHERE r.state IS NULL OR r.state <> '{StatusState.CANCELLED.value}'
         ORDER BY s.id
    """
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return sql


# The latest mark → what it says of the student's presence.
_ATTENDANCE = {
    **{str(mark): "present" for mark in SEEN_MARKS},
    str(Mark.ABSENT): "absent",
}


def _registry_row(row: tuple[Any, ...], schools: dict[str, int]) -> RegistryRow:
    *head, guardians, latest_mark, school_id, guardian_phones, non_basic = row
    keys = tuple(guardians.split(",")) if guardians else ()
    # Phones and non-basic data are encrypted at rest (students.0007): decrypted here, in
    # the worker, only to be turned into keyed indexes. Ciphertexts hold no comma.
    data = identity.read_non_basic(non_basic)
    phones = [identity.read_phone(p) for p in guardian_phones.split(",")] if guardian_phones else []
    contacts = contact_keys(
        [*phones, _text(data.get("phone"))],
        [_text(data.get("address")), _text(data.get("household_address"))],
    )
    came_from = schools.get(school_text(_text(data.get("previous_school"))))
    return RegistryRow._make(
        (
            *head,
            keys,
            _ATTENDANCE.get(latest_mark or ""),
            school_id,
            contacts,
            (came_from,) if came_from is not None and came_from != school_id else (),
        )
    )


def school_text(value: str) -> str:
    """A school as named on a record (its code or its full name): full-width folded,
    spaces dropped."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", value) if not ch.isspace())


def school_lookup() -> dict[str, int]:
    """School code → id, and full name → id where no other school has that name."""
    found: dict[str, int] = {}
    names: dict[str, int | None] = {}
    for pk, code, name in School.objects.values_list("id", "code", "name").order_by("id"):
        found[school_text(code)] = pk
        key = school_text(name)
        names[key] = None if key in names else pk
    for name, only in names.items():
        if only is not None:
            found.setdefault(name, only)
    return found


def _text(value: Any) -> str:
    """A non-basic value as text (JSON may hold a number or a boolean)."""
    return value if isinstance(value, str) else ""


def registry_table(
    *,
    limit: int | None = None,
    chunk_rows: int = 50_000,
    progress: Callable[[int], None] | None = None,
) -> pa.Table:
    """Stream the registry (or its first ``limit`` students) into the linkage input."""
    batches: list[pa.RecordBatch] = []
    done = 0
    schools = school_lookup()
    # chunked_cursor: a named (server-side) cursor on PostgreSQL, so a million rows never
    # sit in the client at once; on SQLite rows are stepped through as fetched.
    with connection.chunked_cursor() as cursor:
        cursor.execute(registry_sql(limit=limit))
        while True:
            chunk = cursor.fetchmany(chunk_rows)
            if not chunk:
                break
            batches.append(to_batch(_registry_row(row, schools) for row in chunk))
            done += len(chunk)
            if progress:
                progress(done)
    return pa.Table.from_batches(batches, schema=SCHEMA)
