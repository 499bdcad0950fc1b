"""Seed the working-day calendar for 2004–2026 from the chinesecalendar package."""

from datetime import date

from django.db import migrations
from django.utils import timezone


def seed(apps, schema_editor):
    from xueji.workdays.seeding import seed_library_years

    seed_library_years(
        apps.get_model("workdays", "CalendarYear"),
        apps.get_model("workdays", "CalendarDay"),
        loaded_at=timezone.now(),
    )


def unseed(apps, schema_editor):
    from xueji.workdays.seeding import SEED_YEARS

    year_model = apps.get_model("workdays", "CalendarYear")
    day_model = apps.get_model("workdays", "CalendarDay")
    # Only the package's years: a year the national level reloaded from a notice stays.
    years = list(
        year_model.objects.filter(year__in=list(SEED_YEARS), source="chinesecalendar").values_list(
            "year", flat=True
        )
    )
    for year in years:
        day_model.objects.filter(date__range=(date(year, 1, 1), date(year, 12, 31))).delete()
    year_model.objects.filter(year__in=years).delete()


class Migration(migrations.Migration):
    dependencies = [("workdays", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]
