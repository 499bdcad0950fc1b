"""File the national default non-basic schema (version 1)."""

from django.db import migrations
from django.utils import timezone


def create_default(apps, schema_editor):
    from xueji.students.nonbasic import DEFAULT_SCHEMA_FIELDS

    schema_model = apps.get_model("students", "NonBasicSchema")
    if not schema_model.objects.filter(province_code="").exists():
        schema_model.objects.create(
            province_code="",
            version=1,
            fields=DEFAULT_SCHEMA_FIELDS,
            filed_at=timezone.now(),
            filed_by="system",
            note="全国默认方案",
        )


class Migration(migrations.Migration):
    dependencies = [("students", "0001_initial")]

    operations = [migrations.RunPython(create_default, migrations.RunPython.noop)]
