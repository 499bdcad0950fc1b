"""Encrypt the student numbers (students and every issued number); reverse decrypts.

A G student number is ``G`` + the resident ID number, so it is stored like the ID number:
``number`` holds it sealed with AES-256-GCM (associated data ``students.student_number``),
``number_key`` its keyed blind index (unique: a number is never issued twice; every lookup
by number goes through it) and ``number_masked`` the form lists show
(``G330102********4761``).

Steps: widen ``number`` (and drop its plain-text unique index), add the two columns, fill
them batch by batch, then make the index unique. The data step is not atomic: each batch
commits on its own and a re-run only touches rows without an index yet. The reverse
decrypts in place (raw SQL, so the model field does not encrypt again) before the column is
narrowed back to 19 characters with its unique index.
"""

from django.db import migrations, models, transaction

import xueji.students.fields
from xueji import fieldcrypto

BATCH = 2000
CONTEXT = "students.student_number"  # identity.STUDENT_NUMBER_CONTEXT
TABLES = ("Student", "StudentNumber")


def _encrypt(apps, schema_editor) -> None:
    from xueji.students import identity

    fieldcrypto.reset_cache()
    identity.reset_index_key()
    connection = schema_editor.connection
    for model_name in TABLES:
        table = apps.get_model("students", model_name)._meta.db_table
        last = 0
        while True:
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT id, number FROM {table} WHERE id > %s AND number_key IS NULL "
                    "ORDER BY id LIMIT %s",
                    [last, BATCH],
                )
                rows = cursor.fetchall()
            if not rows:
                break
            last = rows[-1][0]
            changed = []
            for pk, stored in rows:
                plain = (
                    fieldcrypto.decrypt(stored, context=CONTEXT)
                    if fieldcrypto.is_encrypted(stored)
                    else identity.normalize_student_number(stored)
                )
                changed.append(
                    (
                        fieldcrypto.encrypt(plain, context=CONTEXT),
                        identity.number_key(plain),
                        identity.mask_student_number(plain),
                        pk,
                    )
                )
            with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
                cursor.executemany(
                    f"UPDATE {table} SET number = %s, number_key = %s, number_masked = %s "
                    "WHERE id = %s",
                    changed,
                )


def _decrypt(apps, schema_editor) -> None:
    fieldcrypto.reset_cache()
    connection = schema_editor.connection
    for model_name in TABLES:
        table = apps.get_model("students", model_name)._meta.db_table
        last = 0
        while True:
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT id, number FROM {table} WHERE id > %s ORDER BY id LIMIT %s",
                    [last, BATCH],
                )
                rows = cursor.fetchall()
            if not rows:
                break
            last = rows[-1][0]
            changed = [
                (fieldcrypto.decrypt(stored, context=CONTEXT), pk)
                for pk, stored in rows
                if fieldcrypto.is_encrypted(stored)
            ]
            with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
                cursor.executemany(
                    f"UPDATE {table} SET number = %s, number_key = NULL WHERE id = %s", changed
                )


def _fields(model_name: str) -> list:
    return [
        migrations.AlterField(
            model_name=model_name,
            name="number",
            field=xueji.students.fields.EncryptedNumberField(
                context=CONTEXT, max_length=255, verbose_name="学籍号"
            ),
        ),
        migrations.AddField(
            model_name=model_name,
            name="number_key",
            field=xueji.students.fields.NumberKeyField(max_length=64, null=True, source="number"),
        ),
        migrations.AddField(
            model_name=model_name,
            name="number_masked",
            field=xueji.students.fields.MaskedNumberField(
                blank=True, default="", max_length=19, source="number", verbose_name="学籍号"
            ),
        ),
    ]


def _unique(model_name: str):
    return migrations.AlterField(
        model_name=model_name,
        name="number_key",
        field=xueji.students.fields.NumberKeyField(
            max_length=64, null=True, source="number", unique=True
        ),
    )


class Migration(migrations.Migration):
    # Each batch commits by itself: a large registry is not rewritten in one transaction.
    atomic = False

    dependencies = [("students", "0005_mask_numbers_in_history")]

    operations = [
        *_fields("student"),
        *_fields("studentnumber"),
        migrations.RunPython(_encrypt, _decrypt, elidable=False),
        _unique("student"),
        _unique("studentnumber"),
    ]
