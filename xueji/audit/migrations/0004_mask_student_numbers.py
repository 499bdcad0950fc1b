"""Mask the full student numbers and ID numbers older versions wrote into the audit trail
(summaries such as "注册学生 G…", details, the ``guardian:<number>`` actor name) and into
early-warning messages. New rows are masked when written (``audit_record``).

Not reversible: the masked digits are gone (reversing leaves the rows as they are). Each
batch commits on its own (the migration is not atomic) and a re-run finds nothing left.
Later migrations that protect the trail against edits must come after this one.
"""

from django.db import migrations

from xueji.students.scrub import scrub_model


def mask_numbers(apps, schema_editor) -> None:
    scrub_model(apps.get_model("audit", "AuditEvent"), ("summary", "detail", "actor_username"))
    scrub_model(apps.get_model("audit", "EarlyWarning"), ("message", "detail"))


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("audit", "0003_vocabulary")]

    operations = [migrations.RunPython(mask_numbers, migrations.RunPython.noop, elidable=False)]
