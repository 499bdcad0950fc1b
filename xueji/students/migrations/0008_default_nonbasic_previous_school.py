"""File version 2 of the national default non-basic schema: the previous school
(原就读学校), which the duplicate linkage weighs."""

from django.db import migrations
from django.utils import timezone

NOTE = "全国默认方案：增加原就读学校"
PREVIOUS_SCHOOL = {
    "key": "previous_school",
    "label": "原就读学校",
    "label_en": "Previous school",
    "type": "text",
    "max_length": 100,
}


def file_version(apps, schema_editor):
    schema_model = apps.get_model("students", "NonBasicSchema")
    latest = schema_model.objects.filter(province_code="").order_by("-version").first()
    if latest is None or any(f.get("key") == "previous_school" for f in latest.fields):
        return  # none yet (filed on first use, with the field), or filed already
    fields = list(latest.fields)
    after_phone = next((i + 1 for i, f in enumerate(fields) if f.get("key") == "phone"), None)
    fields.insert(len(fields) if after_phone is None else after_phone, PREVIOUS_SCHOOL)
    schema_model.objects.create(
        province_code="",
        version=latest.version + 1,
        fields=fields,
        filed_at=timezone.now(),
        filed_by="system",
        note=NOTE,
    )


def withdraw_version(apps, schema_editor):
    schema_model = apps.get_model("students", "NonBasicSchema")
    info_model = apps.get_model("students", "NonBasicInfo")
    for schema in schema_model.objects.filter(province_code="", note=NOTE):
        if not info_model.objects.filter(schema=schema).exists():
            schema.delete()


class Migration(migrations.Migration):
    dependencies = [("students", "0007_encrypt_phones_and_non_basic")]

    operations = [migrations.RunPython(file_version, withdraw_version)]
