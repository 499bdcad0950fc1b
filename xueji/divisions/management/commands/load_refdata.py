"""Load the shipped reference data (divisions and national code tables) into the database.

    python manage.py load_refdata

Safe to run any number of times: only rows that differ from the data files are written.
"""

from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from xueji.divisions.refdata import load_reference_data


class Command(BaseCommand):
    help = _("把随程序发布的参考数据（行政区划和国家代码表）载入数据库；可重复执行。")

    def handle(self, *args, **options):
        counts = load_reference_data()
        width = max(len(name) for name in counts)
        for name, count in counts.items():
            self.stdout.write(f"{name:<{width}}  {count:>6}")
        self.stdout.write(self.style.SUCCESS(_("参考数据已载入。")))
