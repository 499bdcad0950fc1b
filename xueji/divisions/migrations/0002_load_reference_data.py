"""Load the shipped reference data (division tree, national code tables)."""

from django.db import migrations


def load(apps, schema_editor):
    from xueji.divisions.refdata import load_reference_data

    load_reference_data(
        division_model=apps.get_model("divisions", "Division"),
        code_item_model=apps.get_model("divisions", "CodeItem"),
    )


class Migration(migrations.Migration):
    dependencies = [("divisions", "0001_initial")]

    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
