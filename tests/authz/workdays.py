"""Routes of the working-day calendar (xueji/workdays).

Reading: every account of an authority (the matrix's reviewers; the school clerks are
refused with 403). Loading a year: the national level with ``calendar.manage`` (none of
the matrix's actors, so 403 for all; the national case is in xueji/workdays/tests).
"""

from tests.authz.vocab import NONE, SIGNED_IN, Policy, Sample
from xueji.accounts.rules import Permission
from xueji.workdays.permissions import LOAD_LEVELS, VIEW_LEVELS


def _year_2030(world) -> dict:
    return {
        "year": 2030,
        "notice": "矩阵测试通知",
        "holidays": [{"start": "2030-01-01", "end": "2030-01-01", "name": "元旦"}],
        "makeup_days": [],
    }


POLICY: dict[str, Policy] = {
    "api:list_calendar_years": Policy(
        "api/workdays/years",
        SIGNED_IN,
        NONE,
        levels=VIEW_LEVELS,
        sample=Sample("GET", "/api/workdays/years"),
    ),
    "api:load_calendar_year": Policy(
        "api/workdays/years",
        Permission.CALENDAR_MANAGE,
        NONE,
        levels=LOAD_LEVELS,
        methods=("POST",),
        sample=Sample("POST", "/api/workdays/years", _year_2030, ok=201),
    ),
    "api:workdays_due": Policy(
        "api/workdays/due",
        SIGNED_IN,
        NONE,
        levels=VIEW_LEVELS,
        sample=Sample("GET", "/api/workdays/due?start=2026-02-12&n=10"),
    ),
    "workdays:years": Policy(
        "workdays/", SIGNED_IN, NONE, levels=VIEW_LEVELS, sample=Sample("GET", "/workdays/")
    ),
    "workdays:year": Policy(
        "workdays/<int:year>/",
        SIGNED_IN,
        NONE,
        levels=VIEW_LEVELS,
        sample=Sample("GET", "/workdays/2026/"),
    ),
    "workdays:load": Policy(
        "workdays/load/",
        Permission.CALENDAR_MANAGE,
        NONE,
        levels=LOAD_LEVELS,
        methods=("GET", "POST"),
        sample=Sample("GET", "/workdays/load/"),
    ),
}


def setup(world) -> dict:
    """The samples read 2026: make sure the seeded years are there (a flushed database
    has lost what the data migration wrote)."""
    from xueji.workdays.seeding import calendar_seed

    calendar_seed()
    return {}
