"""Recompute the duplicate-check key of names holding a character pypinyin cannot read.

Such a character used to become "?" and the last hex digits of its code point that were
letters (the pinyin style drops digits), so different rare characters shared a key
(𠇔 → "?d"). The key now spells the whole code point in letters
(``xueji.students.names.unread_token``). Only keys containing "?" can change; the rows are
few (rare-character names), read and updated a batch at a time.
"""

from django.db import migrations

from xueji.students.names import name_key

BATCH = 2000


def rekey(apps, schema_editor):
    student_model = apps.get_model("students", "Student")
    last = 0
    while True:
        rows = list(
            student_model.objects.filter(pk__gt=last, name_key__contains="?")
            .order_by("pk")
            .values_list("pk", "name", "name_key")[:BATCH]
        )
        if not rows:
            return
        last = rows[-1][0]
        for pk, name, old in rows:
            new = name_key(name)
            if new != old:
                student_model.objects.filter(pk=pk).update(name_key=new)


class Migration(migrations.Migration):
    dependencies = [("students", "0003_encrypt_id_numbers")]

    operations = [migrations.RunPython(rekey, migrations.RunPython.noop)]
