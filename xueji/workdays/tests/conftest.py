import pytest


@pytest.fixture
def calendar(db):
    """The seeded years 2004–2026 (written by the data migration; re-seeded here in case a
    transactional test flushed the tables)."""
    from xueji.workdays.seeding import calendar_seed

    calendar_seed()
