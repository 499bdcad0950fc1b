"""The demo accounts, one for each level, over the generated data."""

from dataclasses import dataclass

from django.utils.translation import gettext as _

from xueji.accounts.models import Role, Unit, User
from xueji.accounts.services import (
    unit_ensure_for_division,
    unit_ensure_for_school,
    unit_ensure_national,
    user_create,
)
from xueji.schools.models import School

DEMO_PASSWORD = "Xueji-Demo-2026"  # noqa: S105 - printed for the demo on purpose


@dataclass
class DemoAccount:
    level: str
    username: str
    password: str
    unit: str
    roles: list[str]


def ensure_demo_accounts() -> list[DemoAccount]:
    """National, province, city, county and school accounts over the busiest county."""
    school = (
        School.objects.filter(listed_separately=False, school_type__in=["211", "312"])
        .order_by("code")
        .first()
        or School.objects.filter(listed_separately=False).order_by("code").first()
    )
    if school is None:
        return []
    county = school.division_code
    units: list[tuple[str, str, Unit, list[str]]] = [
        (_("国家级"), "demo-national", unit_ensure_national(), [Role.REVIEWER]),
        (
            _("省级"),
            "demo-province",
            unit_ensure_for_division(division_code=county[:2] + "0000"),
            [Role.REVIEWER],
        ),
        (
            _("地市级"),
            "demo-city",
            unit_ensure_for_division(division_code=county[:4] + "00"),
            [Role.REVIEWER],
        ),
        (
            _("县区级"),
            "demo-county",
            unit_ensure_for_division(division_code=county),
            [Role.REVIEWER],
        ),
        (_("学校"), "demo-school", unit_ensure_for_school(school), [Role.CLERK]),
    ]
    accounts = []
    for level, username, unit, roles in units:
        if not User.objects.filter(username=username).exists():
            user_create(
                actor=None, unit=unit, username=username, password=DEMO_PASSWORD, roles=roles
            )
        accounts.append(
            DemoAccount(
                level, username, DEMO_PASSWORD, unit.name, [str(Role(r).label) for r in roles]
            )
        )
    return accounts
