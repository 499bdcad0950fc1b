"""The shipped reference data: the division tree and the national code tables.

The JSON files under ``data/`` are the source of truth (``data/generate.py`` rebuilds them
from PyPI data packages). ``load_reference_data`` copies them into the database;
``known_area_codes`` and ``province_codes`` read the files directly, so the ID validator
works before the database exists.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

from django.db import models, transaction

DATA_DIR = Path(__file__).resolve().parent / "data"
CODES_DIR = DATA_DIR / "codes"
CURRENT_FILE = DATA_DIR / "divisions.json"
HISTORICAL_FILE = DATA_DIR / "divisions_historical.json"

# Names of the rows that group counties rather than name a place (GB/T 2260 keeps them so
# every county has a city-level parent); a full place name leaves them out.
GROUPING_NAMES = frozenset({"市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划"})

_DIVISION_FIELDS = ("name", "level", "parent_code", "valid_to")
_CODE_ITEM_FIELDS = ("name", "name_en", "sort", "extra", "active")
_BATCH = 500


def _read(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return json.load(handle)


def division_rows() -> list[dict[str, Any]]:
    """Every division version, current and historical, as stored in the data files."""
    return _read(CURRENT_FILE) + _read(HISTORICAL_FILE)


def code_table_rows() -> dict[str, list[dict[str, Any]]]:
    """Table name → items, one file per table."""
    return {path.stem: _read(path) for path in sorted(CODES_DIR.glob("*.json"))}


@functools.cache
def known_area_codes() -> frozenset[str]:
    """Every province, city and county code that is or ever was in GB/T 2260 (since 1980).

    Resident ID numbers keep the area code of their first issue, so a code abolished
    decades ago is still a valid ID prefix.
    """
    return frozenset(row["code"] for row in division_rows())


@functools.cache
def province_codes() -> frozenset[str]:
    """The two-digit prefixes of the provinces (including 71 Taiwan, 81 and 82)."""
    return frozenset(row["code"][:2] for row in division_rows() if row["level"] == 1)


def load_reference_data(
    *,
    division_model: type[models.Model] | None = None,
    code_item_model: type[models.Model] | None = None,
) -> dict[str, int]:
    """Make the Division and CodeItem tables match the data files; return rows per table.

    Idempotent: only rows that differ are written, so a second run changes nothing.
    Division versions no longer in the files are deleted; code items no longer in the files
    are kept (stored records may still carry them) and marked inactive. A data migration
    passes its historical models in; everyone else uses the defaults.
    """
    if division_model is None or code_item_model is None:
        from .models import CodeItem, Division

        division_model = division_model or Division
        code_item_model = code_item_model or CodeItem

    divisions = [
        division_model(
            code=row["code"],
            name=row["name"],
            level=row["level"],
            parent_code=row["parent_code"],
            valid_from=date.fromisoformat(row["valid_from"]),
            valid_to=date.fromisoformat(row["valid_to"]) if row["valid_to"] else None,
        )
        for row in division_rows()
    ]
    tables = code_table_rows()
    items = [
        code_item_model(
            table=table,
            code=row["code"],
            name=row["name"],
            name_en=row.get("name_en", ""),
            sort=row.get("sort", 0),
            extra=row.get("extra") or {},
            active=True,
        )
        for table, rows in tables.items()
        for row in rows
    ]

    counts = {"divisions": len(divisions)}
    counts.update({table: len(rows) for table, rows in tables.items()})
    with transaction.atomic():
        _sync(
            division_model,
            divisions,
            key_fields=("code", "valid_from"),
            value_fields=_DIVISION_FIELDS,
            deactivate_stale=False,
        )
        _sync(
            code_item_model,
            items,
            key_fields=("table", "code"),
            value_fields=_CODE_ITEM_FIELDS,
            deactivate_stale=True,
        )
    return counts


def _sync(
    model: type[models.Model],
    wanted: list[models.Model],
    *,
    key_fields: tuple[str, ...],
    value_fields: tuple[str, ...],
    deactivate_stale: bool,
) -> None:
    """Upsert ``wanted`` by its natural key, writing only rows that differ.

    Rows in the table but not in ``wanted`` are deleted, or marked inactive when
    ``deactivate_stale`` is set.
    """

    def key(obj: Any) -> tuple:
        return tuple(getattr(obj, f) for f in key_fields)

    def values(obj: Any) -> tuple:
        return tuple(getattr(obj, f) for f in value_fields)

    existing = {
        key(obj): obj for obj in model._default_manager.only("pk", *key_fields, *value_fields)
    }
    changed = [
        obj
        for obj in wanted
        if key(obj) not in existing or values(existing[key(obj)]) != values(obj)
    ]
    if changed:
        # Upsert on the natural-key unique constraint: works on SQLite and PostgreSQL.
        model._default_manager.bulk_create(
            changed,
            batch_size=_BATCH,
            update_conflicts=True,
            unique_fields=list(key_fields),
            update_fields=list(value_fields),
        )
    wanted_keys = {key(obj) for obj in wanted}
    stale = [obj.pk for k, obj in existing.items() if k not in wanted_keys]
    for chunk in _chunks(stale, _BATCH):
        queryset = model._default_manager.filter(pk__in=chunk)
        if deactivate_stale:
            queryset.filter(active=True).update(active=False)
        else:
            queryset.delete()


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
