"""The national rule set, version 1: no overrides, so the code defaults (``DEFAULT_RULES``)
apply; in force since the epoch, so every request names the version it was filed under."""

from datetime import UTC, datetime

from django.db import migrations
from django.utils import timezone

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NOTE = "全国默认规则（系统默认值）"


def create_national_v1(apps, schema_editor):
    rule_set = apps.get_model("changes", "RuleSet")
    if rule_set.objects.filter(province_code="", version=1).exists():
        return
    rule_set.objects.create(
        province_code="",
        version=1,
        effective_from=EPOCH,
        rules={},
        note=NOTE,
        created_at=timezone.now(),
        created_by_username="system",
    )


def remove_national_v1(apps, schema_editor):
    # Only the row this migration wrote, and only while nothing else was published.
    rule_set = apps.get_model("changes", "RuleSet")
    if not rule_set.objects.filter(province_code="", version__gt=1).exists():
        rule_set.objects.filter(province_code="", version=1, rules={}, note=NOTE).delete()


class Migration(migrations.Migration):
    dependencies = [("changes", "0002_dropout_ledger")]

    operations = [migrations.RunPython(create_national_v1, remove_national_v1)]
