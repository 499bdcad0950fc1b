"""Row snapshots for reversible merges: every concrete column of a row as JSON, and the
row put back exactly from one.

A snapshot is taken from the database (never from an object in memory), so that what
is compared later — the row as the merge left it against the row as it is now — is the
database's own representation on both sides.
"""

import uuid
from collections.abc import Iterable
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from django.apps import apps
from django.db import models
from django.db.models.functions import Cast

from xueji.students.fields import EncryptedJSONField, EncryptedNumberField


def label_of(model: type[models.Model]) -> str:
    return model._meta.label


def model_of(label: str) -> type[models.Model]:
    return apps.get_model(label)


def _columns(model: type[models.Model]) -> list[models.Field]:
    return [f for f in model._meta.concrete_fields]


def _jsonable(value: Any) -> Any:
    """A column value as JSON, losslessly (microseconds kept, unlike DjangoJSONEncoder)."""
    if isinstance(value, models.fields.files.FieldFile):
        return value.name or ""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    return value


def rows_of(model: type[models.Model], pks: Iterable[Any]) -> dict[Any, dict[str, Any]]:
    """{pk: {column attname: JSON value}} of the rows, read from the database."""
    wanted = list(pks)
    if not wanted:
        return {}
    columns = _columns(model)
    names = [f.attname for f in columns]
    # Encrypted columns (student numbers, phones, non-basic data) are kept as the database
    # holds them, sealed: the snapshot lives in the merge record, which must not hold them in
    # clear; restoring writes the ciphertext back as it was.
    sealed = {
        f.attname: Cast(f.attname, output_field=models.TextField())
        for f in columns
        if isinstance(f, EncryptedNumberField | EncryptedJSONField)
    }
    rows = model._default_manager.filter(pk__in=wanted)
    if sealed:
        rows = rows.annotate(**{f"_sealed_{name}": cast for name, cast in sealed.items()})
    selected = [f"_sealed_{name}" if name in sealed else name for name in names]
    out: dict[Any, dict[str, Any]] = {}
    for values in rows.values_list(*selected):
        row = {name: _jsonable(value) for name, value in zip(names, values, strict=True)}
        out[row[model._meta.pk.attname]] = row
    return out


def row_restore(model: type[models.Model], pk: Any, row: dict[str, Any]) -> None:
    """Write every column of the row back (one UPDATE; no ``save()``, no signals)."""
    values = {}
    for f in _columns(model):
        if f.primary_key or f.attname not in row:
            continue
        raw = row[f.attname]
        if isinstance(f, models.JSONField | EncryptedNumberField | EncryptedJSONField):
            values[f.attname] = raw  # JSON as it is; a ciphertext is written back sealed
        else:
            values[f.attname] = f.to_python(raw)
    model._default_manager.filter(pk=pk).update(**values)
