"""Check resident-ID and residence-permit numbers from the command line.

    python manage.py idcheck 11010519491231002X 810000199001010012
    python manage.py idcheck < numbers.txt

One line per number: ``NUMBER<TAB>ok`` or ``NUMBER<TAB>invalid<TAB>reason``. The exit
status is 0 when every number is valid and 1 otherwise. No database is needed.
"""

import sys

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.translation import gettext as _

from xueji.divisions.refdata import known_area_codes
from xueji.students.rules import IdType, normalize_id, validate_id

# Numbers starting with these belong to Hong Kong, Macau and Taiwan residence permits.
PERMIT_LEADS = ("81", "82", "83")


def id_type_for(number: str) -> str:
    """Residence permit for an 81/82/83 prefix, resident ID otherwise."""
    normalized = normalize_id(IdType.RESIDENT_ID, number)
    return IdType.RESIDENCE_PERMIT if normalized.startswith(PERMIT_LEADS) else IdType.RESIDENT_ID


class Command(BaseCommand):
    help = _(
        "校验居民身份证号码和港澳台居民居住证号码（81/82/83 开头按居住证校验）。"
        "不给参数时从标准输入逐行读取。全部有效时退出码为 0，否则为 1。"
    )
    # Pure rules and shipped reference data only: no checks, no database.
    requires_system_checks: list[str] = []
    requires_migrations_checks = False
    # call_command("idcheck", stdin=io.StringIO(...)) feeds numbers in tests.
    stealth_options = ("stdin",)

    def add_arguments(self, parser):
        parser.add_argument("numbers", nargs="*", metavar="NUMBER", help=_("要校验的号码"))

    def handle(self, *args, **options):
        numbers = options["numbers"] or self._read_lines(options.get("stdin") or sys.stdin)
        areas = known_area_codes()
        today = timezone.localdate()
        invalid = 0
        for raw in numbers:
            shown = raw.strip()
            check = validate_id(
                id_type_for(shown), shown, today=today, area_known=areas.__contains__
            )
            if check.ok:
                self.stdout.write(f"{shown}\tok")
            else:
                invalid += 1
                self.stdout.write(f"{shown}\tinvalid\t{check.message}")
        if invalid:
            raise CommandError(
                _("%(invalid)d 个号码无效（共 %(total)d 个）")
                % {"invalid": invalid, "total": len(numbers)},
                returncode=1,
            )

    @staticmethod
    def _read_lines(stream) -> list[str]:
        """Non-blank lines, stripped; the stripped form is what gets printed back."""
        return [line.strip() for line in stream if line.strip()]
