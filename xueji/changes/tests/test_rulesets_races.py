"""Publishers racing for one layer's next version number: never two versions with one
number, and each publisher either gets its own number or a Conflict.

Real threads on real connections, so PostgreSQL only (SQLite serialises writers). Runs
outside a test transaction; the flush afterwards is limited to the apps written here.
"""

import threading

import pytest
from django.db import connection

from tests.factories import authority_user
from xueji.changes.models import RuleSet
from xueji.changes.rulesets import ruleset_publish
from xueji.errors import Conflict

if connection.vendor != "postgresql":
    pytest.skip(
        "concurrency tests need PostgreSQL (set XUEJI_TEST_DATABASE_URL)", allow_module_level=True
    )

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(
        transaction=True,
        available_apps=["xueji.accounts", "xueji.audit", "xueji.schools", "xueji.changes"],
    ),
]

TIMEOUT = 30


def run_together(*calls):
    barrier = threading.Barrier(len(calls), timeout=TIMEOUT)
    results: list = [None] * len(calls)

    def worker(index: int, call) -> None:
        try:
            barrier.wait()
            results[index] = call()
        except BaseException as error:
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT * 2)
        assert not thread.is_alive(), "a thread hung (lock wait?)"
    return results


def test_racing_publishers_never_share_a_version_number():
    province = authority_user("440000")

    def publish(days: int):
        return lambda: ruleset_publish(
            actor=province,
            province_code="44",
            rules={"transfer": {"step_days": days}},
            note=f"并发发布 {days}",
        )

    results = run_together(publish(5), publish(6), publish(7), publish(8))
    published = [r for r in results if isinstance(r, RuleSet)]
    unexpected = [r for r in results if not isinstance(r, RuleSet | Conflict)]
    assert not unexpected, unexpected
    assert published
    versions = sorted(RuleSet.objects.filter(province_code="44").values_list("version", flat=True))
    assert versions == list(range(1, len(published) + 1))
    assert sorted(r.version for r in published) == versions
