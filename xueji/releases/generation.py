"""The set-based generation of a release: the population as one query, k-anonymity as a
window count in the database, the file written with its visible mark and hidden fingerprint.

Nothing here queries per row: the population, the group sizes and the table's counts are each
one SQL statement; Python only computes the keyed pseudonyms and row order of the rows the
database returns and writes them out.
"""

import csv
import hashlib
import io
from dataclasses import dataclass
from typing import Any

import xlsxwriter
from django.conf import settings
from django.db import connection
from django.db.models import Count, F, IntegerField, QuerySet, Window
from django.db.models.expressions import Expression
from django.db.models.functions import Cast, ExtractYear, Mod

from xueji.audit.trail import inert
from xueji.enrolment.models import StatusRecord

from .models import DataRelease
from .rules import (
    COUNT_TITLE,
    FIELD_TITLES,
    FIELDS,
    PSEUDONYM_TITLE,
    SUPPRESSED_CELL,
    BirthGeneralisation,
    IdentifierMethod,
    OutputFormat,
    ReleaseKind,
    birth_label,
    pseudonym,
    release_key,
    row_order_key,
)


def master_key() -> bytes:
    """The key every release key derives from: ``XUEJI_RELEASE_KEY``, else the secret key."""
    configured = getattr(settings, "XUEJI_RELEASE_KEY", "") or ""
    source = configured or settings.SECRET_KEY
    return hashlib.sha256(b"xueji.release.master:" + source.encode()).digest()


def key_of(release: DataRelease) -> bytes:
    return release_key(master_key(), release.key_salt)


def population(release: DataRelease) -> QuerySet[StatusRecord]:
    """The status records a release covers: its scope and its filters."""
    records = StatusRecord.objects.all()
    if release.scope_school_id is not None:
        records = records.filter(school_id=release.scope_school_id)
    elif release.scope_prefix:
        records = records.filter(area_code__startswith=release.scope_prefix)
    filters = release.filters or {}
    if filters.get("stages"):
        records = records.filter(stage__in=filters["stages"])
    if filters.get("grades"):
        records = records.filter(grade__in=filters["grades"])
    if filters.get("states"):
        records = records.filter(state__in=filters["states"])
    return records


def _expression(field: str, birth: str) -> Expression | F:
    """The released value of ``field``, generalised in the database where it must be, so
    that groups are counted on what is released."""
    if field == "birth":
        year = Cast(ExtractYear("student__birth_date"), IntegerField())
        if birth == BirthGeneralisation.FIVE_YEARS:
            return Cast(year - Mod(year, 5), IntegerField())
        return year
    if field == "entry_year":
        return Cast(ExtractYear("entry_date"), IntegerField())
    sources = {
        "sex": "student__sex",
        "ethnicity": "student__ethnicity",
        "nationality": "student__nationality",
        "household_type": "student__household_type",
        "health": "student__health",
        "county": "area_code",
        "school_type": "school__school_type",
        "stage": "stage",
        "grade": "grade",
        "state": "state",
    }
    return F(sources[field])


def _columns(release: DataRelease) -> list[str]:
    return [f for f in FIELDS if f in release.fields]


def _cell(field: str, value: Any, birth: str) -> str:
    if field == "birth":
        return birth_label(value, birth)
    return "" if value is None else str(value)


@dataclass
class Generated:
    content: bytes
    extension: str
    rows: int
    population: int
    suppressed: int


def mark_text(release: DataRelease) -> str:
    """The visible watermark: who received it, who approved it, until when. Stored data:
    always Chinese."""
    recipient = release.recipient
    person = recipient.full_name or recipient.username
    approver_unit = release.approver_unit.name if release.approver_unit else ""
    return (
        f"数据发布 {release.reference} · 接收单位：{release.recipient_organisation} · "
        f"接收人：{person}（{recipient.username}） · 批准人：{release.approver_name}"
        f"（{approver_unit}） · 下载截止：{release.expires_on.isoformat()} · "
        "仅限申请用途使用，不得转给他人或再次发布"
    )


def row_level(release: DataRelease, key: bytes) -> tuple[list[str], list[list[str]], int]:
    """Headers, rows (in the release's keyed order) and the population size.

    Every combination of the released fields covers at least ``release.k`` people: the
    group size is a window count over the generalised values, and rows of smaller groups are
    suppressed by the same query."""
    columns = _columns(release)
    records = population(release)
    total = records.count()
    expressions = {f"v_{field}": _expression(field, release.birth) for field in columns}
    kept = (
        records.annotate(**expressions)
        .annotate(group_size=Window(Count("pk"), partition_by=[F(name) for name in expressions]))
        .filter(group_size__gte=release.k)
        .order_by()
        .values_list("pk", *expressions)
    )
    pseudonymised = release.identifiers == IdentifierMethod.PSEUDONYM
    keyed = []
    # Straight from the cursor: the values are plain codes and integers, and Django's
    # per-value converters would cost more than the whole query.
    sql, params = kept.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        while chunk := cursor.fetchmany(5000):
            for student_id, *values in chunk:
                cells = [
                    _cell(field, value, release.birth)
                    for field, value in zip(columns, values, strict=True)
                ]
                if pseudonymised:
                    # The pseudonym is keyed by release and student: its order is the
                    # release's keyed order.
                    name = pseudonym(key, student_id)
                    keyed.append((name, [name, *cells]))
                else:
                    keyed.append((row_order_key(key, str(student_id)), cells))
    keyed.sort(key=lambda pair: pair[0])
    headers = [FIELD_TITLES[f] for f in columns]
    if pseudonymised:
        headers.insert(0, PSEUDONYM_TITLE)
    return headers, [cells for _order, cells in keyed], total


def table(release: DataRelease, key: bytes) -> tuple[list[str], list[list[str]], int, int]:
    """Headers, rows (keyed order), the population and the number of suppressed cells: one
    row per combination of the fields with its count; counts under the threshold are shown
    as "<threshold". No totals are printed (a total would give a suppressed cell back)."""
    columns = _columns(release)
    records = population(release)
    expressions = {f"v_{field}": _expression(field, release.birth) for field in columns}
    counts = (
        records.annotate(**expressions)
        .values(*expressions)
        .annotate(n=Count("pk"))
        .order_by()
        .values_list(*expressions, "n")
    )
    total, suppressed, keyed = 0, 0, []
    for *values, n in counts:
        total += n
        cells = [
            _cell(field, value, release.birth) for field, value in zip(columns, values, strict=True)
        ]
        if n < release.threshold:
            suppressed += 1
            cells.append(SUPPRESSED_CELL.format(threshold=release.threshold))
        else:
            cells.append(str(n))
        keyed.append((row_order_key(key, "|".join(cells[:-1])), cells))
    keyed.sort(key=lambda pair: pair[0])
    headers = [FIELD_TITLES[f] for f in columns] + [COUNT_TITLE]
    return headers, [cells for _order, cells in keyed], total, suppressed


def write_csv(mark: str, headers: list[str], rows: list[list[str]]) -> bytes:
    """UTF-8 with BOM; the mark as the first and the last line; every cell inert."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([f"# {mark}"])
    writer.writerow(headers)
    writer.writerows([inert(cell) for cell in row] for row in rows)
    writer.writerow([f"# {mark}"])
    return out.getvalue().encode("utf-8-sig")


def write_xlsx(mark: str, headers: list[str], rows: list[list[str]], reference: str) -> bytes:
    """The mark above the table, in every printed page's header and in the document's
    properties; text cells only, never formulas or links."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(
        buffer,
        {
            "in_memory": True,
            "constant_memory": True,
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "strings_to_numbers": False,
        },
    )
    book.set_properties({"title": mark, "subject": reference, "comments": mark})
    sheet = book.add_worksheet("数据发布")
    sheet.set_header(f"&C{mark[:200]}")
    sheet.write_string(0, 0, f"# {mark}", book.add_format({"bold": True, "font_color": "#B00020"}))
    sheet.write_row(1, 0, headers, book.add_format({"bold": True}))
    for index, row in enumerate(rows, start=2):
        sheet.write_row(index, 0, row)
    sheet.write_string(len(rows) + 2, 0, f"# {mark}")
    book.close()
    return buffer.getvalue()


def generate(release: DataRelease) -> Generated:
    key = key_of(release)
    if release.kind == ReleaseKind.TABLE:
        headers, rows, total, suppressed = table(release, key)
    else:
        headers, rows, total = row_level(release, key)
        suppressed = total - len(rows)
    mark = mark_text(release)
    if release.output_format == OutputFormat.XLSX:
        content, extension = write_xlsx(mark, headers, rows, release.reference), ".xlsx"
    else:
        content, extension = write_csv(mark, headers, rows), ".csv"
    return Generated(
        content=content,
        extension=extension,
        rows=len(rows),
        population=total,
        suppressed=suppressed,
    )
