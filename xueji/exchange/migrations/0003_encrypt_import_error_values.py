"""Encrypt the cells kept with import errors (``ImportRowError.value``); reverse decrypts.

A mistyped ID number in an error row is still nearly an ID number: the cell as typed is
sealed like the ID numbers (AES-256-GCM, associated data ``exchange.import_error_value``)
and shown only masked. Batches commit one by one; a re-run skips values already sealed.
"""

from django.db import migrations, transaction

import xueji.students.fields
from xueji import fieldcrypto

BATCH = 2000
CONTEXT = "exchange.import_error_value"  # models.ERROR_VALUE_CONTEXT


def _rewrite(apps, schema_editor, *, encrypting: bool) -> None:
    fieldcrypto.reset_cache()
    connection = schema_editor.connection
    table = apps.get_model("exchange", "ImportRowError")._meta.db_table
    last = 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id, value FROM {table} WHERE id > %s AND value <> '' ORDER BY id LIMIT %s",
                [last, BATCH],
            )
            rows = cursor.fetchall()
        if not rows:
            return
        last = rows[-1][0]
        changed = [
            (
                fieldcrypto.encrypt(value, context=CONTEXT)
                if encrypting
                else fieldcrypto.decrypt(value, context=CONTEXT),
                pk,
            )
            for pk, value in rows
            if fieldcrypto.is_encrypted(value) != encrypting
        ]
        if changed:
            with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
                cursor.executemany(f"UPDATE {table} SET value = %s WHERE id = %s", changed)


def encrypt_values(apps, schema_editor) -> None:
    _rewrite(apps, schema_editor, encrypting=True)


def decrypt_values(apps, schema_editor) -> None:
    _rewrite(apps, schema_editor, encrypting=False)


class Migration(migrations.Migration):
    atomic = False  # each batch commits by itself

    dependencies = [("exchange", "0002_importjob_heartbeat")]

    operations = [
        migrations.AlterField(
            model_name="importrowerror",
            name="value",
            field=xueji.students.fields.EncryptedNumberField(
                blank=True,
                context=CONTEXT,
                default="",
                lenient=True,
                max_length=1200,
                verbose_name="值",
            ),
        ),
        migrations.RunPython(encrypt_values, decrypt_values, elidable=False),
    ]
