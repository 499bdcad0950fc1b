"""Encrypt the ID numbers stored in plain text (students and guardians); reverse decrypts.

Rows are read in primary-key order, a batch at a time, and each batch commits on its own
(the migration is not atomic), so an interrupted run leaves only whole batches done and a
second run picks up where it stopped: it touches only values without the ``v…$`` prefix.
The blind index (``id_key``) is computed from the plaintext and does not change.
"""

from django.db import migrations, transaction

from xueji import fieldcrypto

BATCH = 2000
# The associated data of each column: the same strings as ``xueji.students.identity``.
COLUMNS = (("Student", "students.id_number"), ("Guardian", "students.guardian_id_number"))


def _batches(model):
    """(pk, id_number) of every row with a number, in pk order, one batch at a time.

    Filtering on the prefix happens in Python: SQLite's LIKE ignores case, and a passport
    number may start with a capital V.
    """
    last = 0
    while True:
        rows = list(
            model.objects.filter(pk__gt=last)
            .exclude(id_number="")
            .order_by("pk")
            .values_list("pk", "id_number")[:BATCH]
        )
        if not rows:
            return
        last = rows[-1][0]
        yield rows


def _rewrite(apps, *, encrypting: bool) -> None:
    fieldcrypto.reset_cache()
    for model_name, context in COLUMNS:
        model = apps.get_model("students", model_name)
        for rows in _batches(model):
            changed = []
            for pk, stored in rows:
                if fieldcrypto.is_encrypted(stored) == encrypting:
                    continue  # already in the wanted form: a re-run skips it
                value = (
                    fieldcrypto.encrypt(stored, context=context)
                    if encrypting
                    else fieldcrypto.decrypt(stored, context=context)
                )
                changed.append(model(pk=pk, id_number=value))
            if changed:
                with transaction.atomic():
                    model.objects.bulk_update(changed, ["id_number"], batch_size=500)


def encrypt_numbers(apps, schema_editor) -> None:
    _rewrite(apps, encrypting=True)


def decrypt_numbers(apps, schema_editor) -> None:
    _rewrite(apps, encrypting=False)


class Migration(migrations.Migration):
    # Each batch commits by itself: a large registry is not rewritten in one transaction.
    atomic = False

    dependencies = [("students", "0002_default_nonbasic_schema")]

    operations = [migrations.RunPython(encrypt_numbers, decrypt_numbers, elidable=False)]
