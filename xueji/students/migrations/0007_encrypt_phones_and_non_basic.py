"""Encrypt the guardians' phones and the students' non-basic information; reverse decrypts.

``Guardian.phone`` is sealed like the ID numbers (AES-256-GCM, associated data
``students.guardian_phone``; widened to 255 characters for the ciphertext).
``NonBasicInfo.data`` — addresses, phones and the sensitive flags (disability, orphan,
left-behind, migrant…) — becomes one encrypted JSON value (``students.non_basic``); on
PostgreSQL the column turns from ``jsonb`` into ``text``.

The data step is not atomic: each batch commits on its own and a re-run skips values
already sealed. The reverse decrypts in place (raw SQL) before the columns get their old
types back.
"""

import json

from django.db import migrations, models, transaction

import xueji.students.fields
from xueji import fieldcrypto

BATCH = 2000
PHONE_CONTEXT = "students.guardian_phone"  # identity.GUARDIAN_PHONE_CONTEXT
NON_BASIC_CONTEXT = "students.non_basic"  # identity.NON_BASIC_CONTEXT


def _plain_json(value) -> str:
    # PostgreSQL's jsonb comes back parsed, SQLite's JSON as text.
    parsed = json.loads(value) if isinstance(value, str) else value
    return json.dumps(parsed, ensure_ascii=False, sort_keys=True)


def _rewrite(apps, schema_editor, *, model_name: str, column: str, encrypting: bool) -> None:
    fieldcrypto.reset_cache()
    connection = schema_editor.connection
    table = apps.get_model("students", model_name)._meta.db_table
    context = PHONE_CONTEXT if column == "phone" else NON_BASIC_CONTEXT
    last = 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id, {column} FROM {table} WHERE id > %s ORDER BY id LIMIT %s",
                [last, BATCH],
            )
            rows = cursor.fetchall()
        if not rows:
            return
        last = rows[-1][0]
        changed = []
        for pk, value in rows:
            if value is None or value == "":
                continue
            sealed = isinstance(value, str) and fieldcrypto.is_encrypted(value)
            if encrypting and not sealed:
                plain = value if column == "phone" else _plain_json(value)
                changed.append((fieldcrypto.encrypt(plain, context=context), pk))
            elif not encrypting and sealed:
                changed.append((fieldcrypto.decrypt(value, context=context), pk))
        if changed:
            with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
                cursor.executemany(f"UPDATE {table} SET {column} = %s WHERE id = %s", changed)


def encrypt(apps, schema_editor) -> None:
    _rewrite(apps, schema_editor, model_name="Guardian", column="phone", encrypting=True)
    _rewrite(apps, schema_editor, model_name="NonBasicInfo", column="data", encrypting=True)


def decrypt(apps, schema_editor) -> None:
    _rewrite(apps, schema_editor, model_name="Guardian", column="phone", encrypting=False)
    _rewrite(apps, schema_editor, model_name="NonBasicInfo", column="data", encrypting=False)


class Migration(migrations.Migration):
    # Each batch commits by itself: a large registry is not rewritten in one transaction.
    atomic = False

    dependencies = [("students", "0006_encrypt_student_numbers")]

    operations = [
        migrations.AlterField(
            model_name="guardian",
            name="phone",
            field=xueji.students.fields.EncryptedTextField(
                blank=True,
                context=PHONE_CONTEXT,
                default="",
                max_length=255,
                verbose_name="联系电话",
            ),
        ),
        migrations.AlterField(
            model_name="nonbasicinfo",
            name="data",
            field=xueji.students.fields.EncryptedJSONField(
                context=NON_BASIC_CONTEXT, default=dict, verbose_name="内容"
            ),
        ),
        migrations.RunPython(encrypt, decrypt, elidable=False),
    ]
