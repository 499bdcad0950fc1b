"""Named fixtures shared by every test: accounts at each level, schools in and out of scope."""

import os
from pathlib import Path

import pytest
from django.conf import settings
from django.db.backends.signals import connection_created
from django.utils import translation
from hypothesis import settings as hypothesis_settings

from tests import factories

# An example's run time follows the machine's load (CI shares two cores among two pytest-xdist
# workers, a browser and Spark): no per-example deadline, whose misses under load were flakes,
# not findings. Tests that set their own settings keep them.
hypothesis_settings.register_profile("xueji", deadline=None)
hypothesis_settings.load_profile("xueji")


def _reverse_unordered_selects(sender, connection, **kwargs) -> None:
    """On SQLite, every SELECT without ORDER BY returns its rows in reverse order.

    PostgreSQL promises no order without ORDER BY and often returns insertion order by luck,
    so a test (or a page) that relies on the order of an unordered query passes locally and
    fails in CI. Reversing turns that luck into a failure on every SQLite run.
    """
    if connection.vendor == "sqlite":
        connection.connection.execute("PRAGMA reverse_unordered_selects = ON")


connection_created.connect(_reverse_unordered_selects)


@pytest.fixture(autouse=True)
def _default_language():
    """Each test starts in the default language (zh-hans) and leaves it so: a test that
    activates English (or a response rendered in English) would otherwise leave the thread's
    language behind for whichever test random order runs next on that worker."""
    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture
def school(db):
    """A primary school in 广州市天河区 (440106)."""
    return factories.SchoolFactory(name="天河区第一实验小学", division_code="440106")


@pytest.fixture
def other_school(db):
    """A primary school in 成都市锦江区 (510104): another province."""
    return factories.SchoolFactory(name="锦江区实验小学", division_code="510104")


@pytest.fixture
def school_user(school):
    return factories.make_user(school.unit, username="clerk")


@pytest.fixture
def other_school_user(other_school):
    return factories.make_user(other_school.unit, username="clerk2")


@pytest.fixture
def county_user(db):
    return factories.authority_user("440106")


@pytest.fixture
def city_user(db):
    return factories.authority_user("440100")


@pytest.fixture
def province_user(db):
    return factories.authority_user("440000")


@pytest.fixture
def national_user(db):
    from xueji.accounts.services import unit_ensure_national

    return factories.make_user(unit_ensure_national(), roles=("reviewer",), username="national")


@pytest.fixture
def make_student(school_user):
    """Register a student through the service; returns the Student."""
    from xueji.students.services import student_register

    def make(school=None, actor=None, confirm_distinct=True, **overrides):
        # Faker draws from a small pool of names and every default birth date is the same:
        # two made students may look alike. Tests of the duplicate check pass False.
        target = school or school_user.unit.school
        result = student_register(
            actor=actor or school_user,
            data=factories.registration(target, **overrides),
            confirm_distinct=confirm_distinct,
        )
        return result.student

    return make


@pytest.fixture(autouse=True)
def reference_data(request):
    """Transactional tests flush every table afterwards, reference data included: reload it."""
    marker = request.node.get_closest_marker("django_db")
    by_marker = marker is not None and bool(
        marker.kwargs.get("transaction") or (marker.args and marker.args[0])
    )
    if not by_marker and not {"live_server", "transactional_db"} & set(request.fixturenames):
        return
    request.getfixturevalue("transactional_db")
    from xueji.divisions.models import Division
    from xueji.divisions.refdata import load_reference_data
    from xueji.divisions.selectors import clear_caches

    if not Division.objects.exists():
        load_reference_data()
        clear_caches()
    # The statutory calendar (2004–2026) is seeded by a migration too.
    from xueji.workdays.seeding import calendar_seed

    calendar_seed()


@pytest.hookimpl(tryfirst=True)  # before xdist's worker reads the groups from the marks
def pytest_collection_modifyitems(config, items):
    """Run ``db_independent`` tests once, and keep the browser tests on one xdist worker.

    A ``db_independent`` test starts a subprocess whose settings ignore
    ``XUEJI_TEST_DATABASE_URL``: the PostgreSQL pass of ``make test`` would repeat the SQLite
    pass's run exactly, so it skips it.

    Under pytest-xdist, every browser test goes to one worker, in collection order:
    Playwright's sync API allows one instance per thread, and modules launch their own
    (tests/e2e/conftest.py for the session, some app tests for their module); on one worker
    they never overlap. ``--dist loadgroup`` honours the group.
    """
    if os.environ.get("XUEJI_TEST_DATABASE_URL"):
        once = pytest.mark.skip(reason="database-independent: runs in the SQLite pass")
        for item in items:
            if item.get_closest_marker("db_independent"):
                item.add_marker(once)
    if not config.pluginmanager.hasplugin("xdist"):
        return
    for item in items:
        if item.get_closest_marker("e2e"):
            item.add_marker(pytest.mark.xdist_group("browser"))


# ---------------------------------------------------------------- the browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium through Playwright's sync API, one per test session: two sync
    Playwright instances cannot live in one thread (the second finds the first's event loop),
    so every browser test, wherever it lives, takes its pages from this one."""
    if not CHROMIUM.exists():
        pytest.skip("chromium is not installed (.ci/run installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()
