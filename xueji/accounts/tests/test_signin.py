"""The sign-in pipeline: lockout, the attempt log, who may work, the second-factor handoff."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.contrib.auth import SESSION_KEY, authenticate
from django.contrib.auth.hashers import MD5PasswordHasher
from django.test import Client, override_settings
from django.urls import reverse

from tests.factories import PASSWORD, authority_user, make_user
from xueji import clock
from xueji.accounts import twofactor
from xueji.accounts.authentication import (
    PENDING_NEXT,
    PENDING_USER,
    SIGNED_IN_AT,
    access_block_reason,
)
from xueji.accounts.models import LoginAttempt, Role, TrainingRecord, User
from xueji.accounts.selectors import lockouts_in_scope
from xueji.accounts.signin_rules import is_locked, lock_after_failure
from xueji.audit.models import AuditEvent

pytestmark = pytest.mark.django_db

BAD = "您的账号或密码不正确"
NOW = datetime(2025, 3, 1, 2, 0, tzinfo=UTC)


class Clock:
    """The registry clock, held still and moved by hand."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def moment(monkeypatch) -> Clock:
    held = Clock(clock.now().replace(microsecond=0))
    monkeypatch.setattr(clock, "now", lambda: held.now)
    return held


def attempt(client: Client, username: str, password: str, **extra):
    return client.post(
        reverse("web:login"),
        {"username": username, "password": password, **extra},
        headers={"User-Agent": "pytest-browser/1.0"},
    )


def page_text(response) -> str:
    return response.content.decode()


def reasons(username: str) -> list[str]:
    return list(
        LoginAttempt.objects.filter(username=username)
        .order_by("pk")
        .values_list("reason", flat=True)
    )


def is_signed_in(client: Client) -> bool:
    return SESSION_KEY in client.session


# ---------------------------------------------------------------- pure rules


def test_lock_rule():
    assert lock_after_failure(4, threshold=5, minutes=15, now=NOW) is None
    assert lock_after_failure(5, threshold=5, minutes=15, now=NOW) == NOW + timedelta(minutes=15)
    assert lock_after_failure(50, threshold=0, minutes=15, now=NOW) is None  # lockout off
    assert is_locked(NOW + timedelta(seconds=1), NOW)
    assert not is_locked(NOW, NOW)  # the lock ends at its stated minute
    assert not is_locked(None, NOW)


# ---------------------------------------------------------------- lockout


def test_five_wrong_passwords_lock_the_account(school_user, moment):
    client = Client()
    for _ in range(4):
        response = attempt(client, "clerk", "Wrong-Passw0rd")
        assert BAD in page_text(response)
    school_user.refresh_from_db()
    assert school_user.failed_logins == 4 and school_user.locked_until is None

    response = attempt(client, "clerk", "Wrong-Passw0rd")
    until = moment.now + timedelta(minutes=15)
    # The lock answers like a wrong password: it would tell an existing name otherwise.
    assert BAD in page_text(response) and "账号已锁定" not in page_text(response)
    school_user.refresh_from_db()
    assert school_user.locked_until == until
    assert reasons("clerk") == ["bad_password"] * 5
    lock = AuditEvent.objects.get(action="account.lock")
    assert lock.object_id == str(school_user.pk) and lock.detail["failures"] == 5


def test_the_right_password_is_refused_while_locked(school_user, moment):
    client = Client()
    for _ in range(5):
        attempt(client, "clerk", "Wrong-Passw0rd")
    moment.advance(minutes=14, seconds=59)
    response = attempt(client, "clerk", PASSWORD)
    assert response.status_code == 200
    assert BAD in page_text(response) and "账号已锁定" not in page_text(response)
    assert not is_signed_in(client)
    assert reasons("clerk")[-1] == "locked"


def test_the_lock_ends_after_its_minutes(school_user, moment):
    client = Client()
    for _ in range(5):
        attempt(client, "clerk", "Wrong-Passw0rd")
    moment.advance(minutes=15)
    response = attempt(client, "clerk", PASSWORD)
    assert response.status_code == 302 and is_signed_in(client)
    school_user.refresh_from_db()
    assert (school_user.failed_logins, school_user.locked_until) == (0, None)
    assert reasons("clerk")[-1] == "ok"


def test_a_success_resets_the_count(school_user, moment):
    client = Client()
    for _ in range(4):
        attempt(client, "clerk", "Wrong-Passw0rd")
    attempt(client, "clerk", PASSWORD)
    client.post(reverse("web:logout"))
    for _ in range(4):
        attempt(client, "clerk", "Wrong-Passw0rd")
    school_user.refresh_from_db()
    assert school_user.failed_logins == 4 and school_user.locked_until is None


def test_after_a_lock_a_new_run_of_failures_is_needed(school_user, moment):
    client = Client()
    for _ in range(5):
        attempt(client, "clerk", "Wrong-Passw0rd")
    moment.advance(minutes=16)
    attempt(client, "clerk", "Wrong-Passw0rd")
    school_user.refresh_from_db()
    assert not is_locked(school_user.locked_until, moment.now)
    assert school_user.failed_logins == 1


@override_settings(XUEJI_SECURITY={"lockout_threshold": 3, "lockout_minutes": 60})
def test_threshold_and_minutes_are_policy(school_user, moment):
    client = Client()
    for _ in range(3):
        attempt(client, "clerk", "Wrong-Passw0rd")
    school_user.refresh_from_db()
    assert school_user.locked_until == moment.now + timedelta(minutes=60)


def test_unknown_user_name_gets_the_wrong_password_message_and_is_logged(db):
    response = attempt(Client(), "nobody-here", "Whatever-123")
    assert BAD in page_text(response)
    row = LoginAttempt.objects.get(username="nobody-here")
    assert (row.reason, row.user, row.success) == ("unknown_user", None, False)
    assert row.ip == "127.0.0.1" and row.user_agent == "pytest-browser/1.0"


def test_unknown_user_names_lock_like_accounts(db, moment):
    """Issue 10, finding 7: an unknown name never locked, so a lock told an existing one."""
    client = Client()
    for _ in range(5):
        attempt(client, "nobody-here", "Whatever-123")
    assert reasons("nobody-here") == ["unknown_user"] * 5
    moment.advance(minutes=14, seconds=59)
    response = attempt(client, "nobody-here", "Whatever-123")
    assert BAD in page_text(response)
    assert reasons("nobody-here")[-1] == "locked"
    moment.advance(seconds=1)  # the lock ends after lockout_minutes, as an account's does
    attempt(client, "nobody-here", "Whatever-123")
    assert reasons("nobody-here")[-1] == "unknown_user"
    # a new full run of failures is needed to lock again
    for _ in range(3):
        attempt(client, "nobody-here", "Whatever-123")
    assert reasons("nobody-here")[-1] == "unknown_user"
    attempt(client, "nobody-here", "Whatever-123")
    attempt(client, "nobody-here", "Whatever-123")
    assert reasons("nobody-here")[-2:] == ["unknown_user", "locked"]


@override_settings(XUEJI_SECURITY={"lockout_threshold": 3, "lockout_minutes": 60})
def test_unknown_names_follow_the_lockout_policy(db, moment):
    client = Client()
    for _ in range(4):
        attempt(client, "nobody-here", "Whatever-123")
    assert reasons("nobody-here") == ["unknown_user"] * 3 + ["locked"]
    moment.advance(minutes=59)
    attempt(client, "nobody-here", "Whatever-123")
    assert reasons("nobody-here")[-1] == "locked"


def test_one_message_for_unknown_names_wrong_passwords_and_locks(school_user, moment):
    """The answers to an unknown name, a wrong password, a lock (wrong or right password)
    and a locked unknown name are the same page text."""

    def message(username: str, password: str) -> str:
        response = attempt(Client(), username, password)
        assert response.status_code == 200 and not is_signed_in(Client())
        text = page_text(response)
        start = text.index(BAD)
        return text[start : text.index("<", start)]

    unknown = message("nobody-here", "Wrong-Passw0rd")
    wrong = message("clerk", "Wrong-Passw0rd")
    for _ in range(4):
        message("clerk", "Wrong-Passw0rd")
    school_user.refresh_from_db()
    assert is_locked(school_user.locked_until, moment.now)
    locked_wrong = message("clerk", "Wrong-Passw0rd")
    locked_right = message("clerk", PASSWORD)
    for _ in range(4):
        message("nobody-here", "Wrong-Passw0rd")
    unknown_locked = message("nobody-here", "Wrong-Passw0rd")
    assert reasons("nobody-here")[-1] == "locked"
    assert unknown == wrong == locked_wrong == locked_right == unknown_locked
    assert "5" in unknown and "15" in unknown  # the policy is said, for everyone alike


class CountingHasher(MD5PasswordHasher):
    """The test hasher, counting every hash computed (encode) or checked (verify)."""

    algorithm = "counting_md5"
    calls = 0
    _verifying = False

    def encode(self, password, salt):
        if not CountingHasher._verifying:  # MD5's verify encodes: one check, counted once
            CountingHasher.calls += 1
        return super().encode(password, salt)

    def verify(self, password, encoded):
        CountingHasher.calls += 1
        CountingHasher._verifying = True
        try:
            return super().verify(password, encoded)
        finally:
            CountingHasher._verifying = False


@override_settings(PASSWORD_HASHERS=[f"{__name__}.CountingHasher"])
def test_every_refusal_runs_the_password_hasher(school, moment):
    """Same timing class: an unknown name, a wrong password, a locked account (right or
    wrong password) and a locked unknown name each cost one hash computation, never none.
    Counted, not timed."""
    user = make_user(school.unit, username="counted")
    assert user.password.startswith("counting_md5$")

    def hashes(username: str, password: str) -> int:
        before = CountingHasher.calls
        response = attempt(Client(), username, password)
        assert BAD in page_text(response)
        return CountingHasher.calls - before

    assert hashes("nobody-here", "Wrong-Passw0rd") == 1
    assert hashes("counted", "Wrong-Passw0rd") == 1
    for _ in range(4):
        hashes("counted", "Wrong-Passw0rd")
    user.refresh_from_db()
    assert is_locked(user.locked_until, moment.now)
    assert hashes("counted", "Wrong-Passw0rd") == 1
    assert hashes("counted", PASSWORD) == 1
    assert reasons("counted")[-2:] == ["locked", "locked"]
    for _ in range(4):
        hashes("nobody-here", "Wrong-Passw0rd")
    assert hashes("nobody-here", "Wrong-Passw0rd") == 1
    assert reasons("nobody-here")[-1] == "locked"


# ---------------------------------------------------------------- who may work


def _seal(user):
    User.objects.filter(pk=user.pk).update(sealed_at=clock.now(), sealed_reason="test")


def _disable(user):
    User.objects.filter(pk=user.pk).update(disabled_at=clock.now(), disabled_reason="离岗")


def _deactivate(user):
    User.objects.filter(pk=user.pk).update(is_active=False)


def _untrain(user):
    TrainingRecord.objects.filter(user=user).delete()


def _training_expired(user):
    TrainingRecord.objects.filter(user=user).update(expires_on=clock.today() - timedelta(days=1))


def _training_in_future(user):
    TrainingRecord.objects.filter(user=user).update(completed_on=clock.today() + timedelta(days=3))


@pytest.mark.parametrize(
    ("spoil", "reason", "message"),
    [
        (_seal, "sealed", "账号已封存，请联系上级安全管理员解封"),
        (_disable, "disabled", "账号已停用"),
        (_deactivate, "inactive", "账号未启用"),
        (_untrain, "untrained", "须完成学籍管理员培训后方可使用（先培训后上岗）"),
        (_training_expired, "untrained", "先培训后上岗"),
        (_training_in_future, "untrained", "先培训后上岗"),
    ],
)
def test_an_account_that_may_not_work_is_refused_with_its_reason(
    school_user, spoil, reason, message
):
    spoil(school_user)
    client = Client()
    response = attempt(client, "clerk", PASSWORD)
    assert response.status_code == 200
    assert message in page_text(response)
    assert not is_signed_in(client)
    assert reasons("clerk") == [reason]


def test_training_valid_to_its_last_day_counts(school_user):
    TrainingRecord.objects.filter(user=school_user).update(expires_on=clock.today())
    assert attempt(Client(), "clerk", PASSWORD).status_code == 302


def test_reviewers_need_no_training(county_user):
    assert access_block_reason(county_user, now=clock.now()) is None


def test_a_dormant_account_is_refused_as_sealed_before_the_nightly_job(school_user):
    now = clock.now()
    User.objects.filter(pk=school_user.pk).update(last_seen_at=now - timedelta(days=184))
    school_user.refresh_from_db()
    assert school_user.sealed_at is None
    assert access_block_reason(school_user, now=now) == (
        "sealed",
        "账号已封存，请联系上级安全管理员解封",
    )
    User.objects.filter(pk=school_user.pk).update(last_seen_at=now - timedelta(days=182))
    school_user.refresh_from_db()
    assert access_block_reason(school_user, now=now) is None


def test_a_never_used_account_counts_from_its_creation(school):
    user = make_user(school.unit, username="neverused")
    User.objects.filter(pk=user.pk).update(
        last_seen_at=None, date_joined=clock.now() - timedelta(days=200)
    )
    response = attempt(Client(), "neverused", PASSWORD)
    assert "账号已封存" in page_text(response)
    assert reasons("neverused") == ["sealed"]


def test_a_wrong_password_on_a_sealed_account_says_only_wrong_password(school_user):
    _seal(school_user)
    response = attempt(Client(), "clerk", "Wrong-Passw0rd")
    assert BAD in page_text(response) and "封存" not in page_text(response)


def test_djangos_authenticate_refuses_what_the_pipeline_refuses(school_user):
    assert authenticate(username="clerk", password=PASSWORD) == school_user
    User.objects.filter(pk=school_user.pk).update(locked_until=clock.now() + timedelta(minutes=5))
    assert authenticate(username="clerk", password=PASSWORD) is None
    User.objects.filter(pk=school_user.pk).update(locked_until=None)
    _seal(school_user)
    assert authenticate(username="clerk", password=PASSWORD) is None


# ---------------------------------------------------------------- a successful sign-in


def test_sign_in_opens_the_session_and_records_it(school_user, moment):
    client = Client()
    response = attempt(client, "clerk", PASSWORD)
    assert response.status_code == 302 and response["Location"] == reverse("web:home")
    school_user.refresh_from_db()
    assert school_user.last_seen_at == moment.now
    assert school_user.current_session_key == client.session.session_key
    assert client.session[SIGNED_IN_AT] == moment.now.timestamp()
    row = LoginAttempt.objects.get(username="clerk")
    assert (row.reason, row.success, row.user) == ("ok", True, school_user)
    event = AuditEvent.objects.get(action="account.sign_in")
    assert (event.actor_id, event.ip, event.channel) == (school_user.pk, "127.0.0.1", "web")


def test_sign_out_is_audited(school_user):
    client = Client()
    attempt(client, "clerk", PASSWORD)
    client.post(reverse("web:logout"))
    event = AuditEvent.objects.get(action="account.sign_out")
    assert event.actor_id == school_user.pk and event.detail == {"reason": "user"}
    school_user.refresh_from_db()
    assert school_user.current_session_key == ""


def test_next_stays_on_this_site(school_user):
    response = attempt(Client(), "clerk", PASSWORD, next="/students/")
    assert response["Location"] == "/students/"
    response = attempt(Client(), "clerk", PASSWORD, next="https://evil.example/steal")
    assert response["Location"] == reverse("web:home")


def test_signed_in_visitor_of_the_sign_in_page_goes_home(school_user):
    client = Client()
    attempt(client, "clerk", PASSWORD)
    assert client.get(reverse("web:login"))["Location"] == reverse("web:home")


def test_empty_form_is_refused_by_the_form(db):
    response = Client().post(reverse("web:login"), {"username": "", "password": ""})
    assert response.status_code == 200
    assert not LoginAttempt.objects.exists()


# ---------------------------------------------------------------- second factor handoff


def test_second_factor_accounts_are_parked_not_signed_in(county_user, monkeypatch):
    monkeypatch.setattr(twofactor, "second_factor_required", lambda user: True)
    client = Client()
    response = attempt(client, county_user.username, PASSWORD, next="/students/")
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:second_factor")
    assert not is_signed_in(client)
    assert client.session[PENDING_USER] == county_user.pk
    assert client.session[PENDING_NEXT] == "/students/"
    # The password step is not a sign-in: no "ok" yet, nothing reset.
    assert not LoginAttempt.objects.filter(reason="ok").exists()
    assert client.get(reverse("web:home")).status_code == 302


def test_accounts_without_second_factor_sign_in_directly(school_user, monkeypatch):
    monkeypatch.setattr(twofactor, "second_factor_required", lambda user: False)
    client = Client()
    attempt(client, "clerk", PASSWORD)
    assert is_signed_in(client) and PENDING_USER not in client.session


# ---------------------------------------------------------------- lockouts for the security page


def test_lockouts_in_scope_show_the_subtree_only(school_user, other_school_user, moment):
    security = authority_user("440106", roles=(Role.SECURITY_ADMIN,))
    client = Client()
    for username in ("clerk", "clerk2"):
        for _ in range(5):
            attempt(client, username, "Wrong-Passw0rd")
    lockouts = lockouts_in_scope(security, now=moment.now)
    assert list(lockouts.locked_now) == [school_user]
    assert [e.object_id for e in lockouts.recent] == [str(school_user.pk)]

    moment.advance(minutes=20)
    later = lockouts_in_scope(security, now=moment.now)
    assert list(later.locked_now) == []
    assert later.recent.count() == 1  # still among the recent lockouts
    assert lockouts_in_scope(security, now=moment.now + timedelta(days=31)).recent.count() == 0


def test_a_school_clerks_lockout_is_not_seen_from_another_province(school_user, moment):
    outsider = authority_user("510104", roles=(Role.SECURITY_ADMIN,))
    for _ in range(5):
        attempt(Client(), "clerk", "Wrong-Passw0rd")
    lockouts = lockouts_in_scope(outsider, now=moment.now)
    assert not lockouts.locked_now.exists() and not lockouts.recent.exists()


def test_training_record_dates_are_inclusive(school_user):
    TrainingRecord.objects.filter(user=school_user).update(
        completed_on=date(2025, 1, 1), expires_on=date(2025, 12, 31)
    )
    first = datetime(2025, 1, 1, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
    last = datetime(2025, 12, 31, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai
    after = datetime(2025, 12, 31, 16, 30, tzinfo=UTC)  # 00:30 on 1 January in Shanghai
    for now, allowed in ((first, True), (last, True), (after, False)):
        school_user.last_seen_at = now - timedelta(hours=1)  # in daily use
        blocked = access_block_reason(school_user, now=now)
        assert (blocked is None) == allowed
        assert allowed or blocked == ("untrained", "须完成学籍管理员培训后方可使用（先培训后上岗）")
