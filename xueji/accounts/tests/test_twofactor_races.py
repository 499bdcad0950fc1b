"""Two requests with one second-factor code at the same moment: exactly one passes.

Real threads on real connections, so PostgreSQL only (SQLite serialises writers). Runs
outside a test transaction; the flush afterwards is limited to the apps written here.
"""

import threading

import pytest
from django.db import connection

from tests.factories import authority_user
from xueji import clock
from xueji.accounts import twofactor
from xueji.accounts.models import LoginAttempt
from xueji.errors import ValidationFailed

if connection.vendor != "postgresql":
    pytest.skip(
        "concurrency tests need PostgreSQL (set XUEJI_TEST_DATABASE_URL)", allow_module_level=True
    )

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(
        transaction=True, available_apps=["xueji.accounts", "xueji.audit", "xueji.schools"]
    ),
]

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
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


def test_one_totp_code_passes_once_under_concurrency():
    user = authority_user("440106")
    now = clock.now()
    twofactor.totp_device_install(user=user, secret=SECRET, now=now)
    code = twofactor.totp_code_at(SECRET, twofactor.totp_step(now.timestamp()))

    def attempt():
        return twofactor.totp_verify(user=user, code=code, now=now)

    results = run_together(attempt, attempt, attempt)
    passed = [r for r in results if isinstance(r, int)]
    refused = [r for r in results if isinstance(r, ValidationFailed)]
    assert len(passed) == 1 and len(refused) == 2, results
    assert LoginAttempt.objects.filter(user=user, reason="bad_second_factor").count() == 2


def test_one_recovery_code_passes_once_under_concurrency():
    user = authority_user("440106")
    now = clock.now()
    twofactor.totp_device_install(user=user, secret=SECRET, now=now)
    code = twofactor.totp_code_at(SECRET, twofactor.totp_step(now.timestamp()))
    recovery = twofactor.recovery_codes_regenerate(user=user, code=code, now=now)[0]

    def attempt():
        return twofactor.recovery_code_use(user=user, code=recovery, now=now)

    results = run_together(attempt, attempt)
    assert sorted(type(r).__name__ for r in results) == ["ValidationFailed", "int"], results
