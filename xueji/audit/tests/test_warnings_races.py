"""Two sweeps raising the same warning at once: one open warning, one audit event.

Real threads on real connections, so PostgreSQL only (SQLite serialises writers). Both
threads pass the look-up for an open warning before either inserts; the partial unique
constraint lets one insert win and the other takes the winner's row over.
"""

import threading

import pytest
from django.db import connection

from xueji.audit import warnings
from xueji.audit.models import AuditEvent, EarlyWarning

if connection.vendor != "postgresql":
    pytest.skip(
        "concurrency tests need PostgreSQL (set XUEJI_TEST_DATABASE_URL)", allow_module_level=True
    )

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(
        transaction=True,
        available_apps=["xueji.accounts", "xueji.audit", "xueji.schools", "xueji.students"],
    ),
]

TIMEOUT = 30


def test_concurrent_raises_make_one_open_warning(monkeypatch, school):
    gate = threading.Barrier(2, timeout=TIMEOUT)
    real_create = EarlyWarning.objects.create

    def gated_create(**kwargs):
        gate.wait()  # both have looked and found nothing
        return real_create(**kwargs)

    monkeypatch.setattr(EarlyWarning.objects, "create", gated_create)
    results: list = [None, None]

    def sweep(index: int) -> None:
        try:
            results[index] = warnings.warning_raise(
                kind="transfer.step_overdue",
                unit=school.unit,
                subject_type="changes.step",
                subject_id=7,
                message="转学审批步骤已超期",
                escalate=False,
            )
        except BaseException as error:
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT * 2)
        assert not thread.is_alive(), "a thread hung"

    assert not [r for r in results if isinstance(r, BaseException)], results
    assert {r[0].pk for r in results} == {EarlyWarning.objects.get().pk}
    assert AuditEvent.objects.filter(action="warning.raise").count() == 1
