"""Masking the full student numbers and ID numbers that older versions wrote into stored
text: audit summaries, history reasons, reports, the names guardians acted under.

Used by the data migrations that clean existing rows (``audit.0004``, ``students.0005``);
new rows are written masked by the code itself. Rows are read in primary-key order, a batch
at a time, and each batch commits on its own, so an interrupted run leaves whole batches
done and a second run finds nothing left in them (masking is idempotent).
"""

from django.db import transaction

from xueji.masking import mask_numbers_in

BATCH = 2000


def scrub_model(model, fields: tuple[str, ...], *, batch: int = BATCH) -> int:
    """Mask the numbers in ``fields`` (text or JSON) of every row; returns rows changed."""
    changed_total = 0
    last = 0
    pk_name = model._meta.pk.attname
    while True:
        rows = list(
            model._default_manager.filter(pk__gt=last)
            .order_by("pk")
            .values_list(pk_name, *fields)[:batch]
        )
        if not rows:
            return changed_total
        last = rows[-1][0]
        changed = []
        for pk, *values in rows:
            masked = [mask_numbers_in(value) for value in values]
            if masked != values:
                changed.append(model(pk=pk, **dict(zip(fields, masked, strict=True))))
        if changed:
            with transaction.atomic():
                model._default_manager.bulk_update(changed, list(fields), batch_size=500)
            changed_total += len(changed)


def scrub_snapshot(snapshot: dict, scrubbed: dict[str, tuple[str, ...]]) -> dict:
    """A merge snapshot with the same columns masked as ``scrub_model`` masked in the
    tables (``scrubbed``: model label → fields), so that an undo still finds every row as
    the merge left it."""
    if not isinstance(snapshot, dict):
        return snapshot

    def rows(item: dict, keys: tuple[str, ...]) -> dict:
        fields = scrubbed.get(item.get("model", ""), ())
        out = dict(item)
        for key in keys:
            row = item.get(key)
            if isinstance(row, dict) and fields:
                out[key] = {
                    name: mask_numbers_in(value) if name in fields else value
                    for name, value in row.items()
                }
        return out

    return {
        **snapshot,
        "updated": [rows(i, ("before", "after")) for i in snapshot.get("updated", [])],
        "created": [rows(i, ("row",)) for i in snapshot.get("created", [])],
    }
