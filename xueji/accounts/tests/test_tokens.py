"""API tokens: refused for accounts that may not work, expired or revoked (replays
included), every refusal logged; a per-token rate limit answered with 429 and Retry-After."""

from datetime import timedelta

import pytest
from django.test import Client, override_settings

from xueji import clock
from xueji.accounts.models import ApiToken, LoginAttempt, TrainingRecord, User
from xueji.accounts.tokens import api_token_issue, api_token_revoke
from xueji.audit.models import AuditEvent

pytestmark = pytest.mark.django_db


class Clock:
    def __init__(self, start) -> None:
        self.now = start

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def moment(monkeypatch) -> Clock:
    # At the start of a minute: the rate window does not roll over mid-test.
    held = Clock(clock.now().replace(second=0, microsecond=0))
    monkeypatch.setattr(clock, "now", lambda: held.now)
    return held


def issue(user, **options):
    return api_token_issue(
        actor=user,
        user=user,
        name="client",
        expires_at=options.pop("expires_at", clock.now() + timedelta(days=30)),
        **options,
    )


def call(secret: str, path: str = "/api/me"):
    return Client().get(path, headers={"Authorization": f"Bearer {secret}"})


def logged(issued) -> list[str]:
    return list(
        LoginAttempt.objects.filter(username=f"token:{issued.token.prefix}")
        .order_by("pk")
        .values_list("reason", flat=True)
    )


# ---------------------------------------------------------------- accounts that may not work


def _seal(user):
    User.objects.filter(pk=user.pk).update(sealed_at=clock.now())


def _disable(user):
    User.objects.filter(pk=user.pk).update(disabled_at=clock.now())


def _deactivate(user):
    User.objects.filter(pk=user.pk).update(is_active=False)


def _lock(user):
    User.objects.filter(pk=user.pk).update(locked_until=clock.now() + timedelta(minutes=10))


def _untrain(user):
    TrainingRecord.objects.filter(user=user).delete()


def _make_dormant(user):
    User.objects.filter(pk=user.pk).update(last_seen_at=clock.now() - timedelta(days=200))


@pytest.mark.parametrize(
    ("spoil", "reason", "message"),
    [
        (_seal, "sealed", "账号已封存"),
        (_disable, "disabled", "账号已停用"),
        (_deactivate, "inactive", "账号未启用"),
        (_lock, "locked", "账号已锁定"),
        (_untrain, "untrained", "先培训后上岗"),
        (_make_dormant, "sealed", "账号已封存"),
    ],
)
def test_token_of_an_account_that_may_not_work_gets_401(school_user, spoil, reason, message):
    issued = issue(school_user)
    assert call(issued.secret).status_code == 200
    spoil(school_user)
    response = call(issued.secret)
    assert response.status_code == 401
    body = response.json()
    assert body["code"] == "auth.token_refused" and message in body["message"]
    assert logged(issued) == [reason]
    row = LoginAttempt.objects.get(username=f"token:{issued.token.prefix}")
    assert row.user == school_user and row.success is False


def test_token_of_a_sealed_account_gets_401_on_every_endpoint(school_user, make_student):
    student = make_student()
    issued = issue(school_user)
    _seal(school_user)
    for path in ("/api/me", "/api/students", f"/api/students/{student.pk}", "/api/schools"):
        assert call(issued.secret, path).status_code == 401, path
    assert logged(issued) == ["sealed"] * 4


# ---------------------------------------------------------------- expired, revoked, forged


def test_a_revoked_token_replayed_gets_401_and_is_logged(school_user):
    issued = issue(school_user)
    assert call(issued.secret).status_code == 200
    api_token_revoke(actor=school_user, token=issued.token)
    assert ApiToken.objects.get(pk=issued.token.pk).revoked_at is not None
    assert AuditEvent.objects.filter(action="api_token.revoke").count() == 1
    for _ in range(2):
        response = call(issued.secret)
        assert response.status_code == 401
        assert response.json()["message"] == "API 令牌已吊销。"
    assert logged(issued) == ["token_revoked", "token_revoked"]


def test_an_expired_token_gets_401_and_is_logged(school_user, moment):
    issued = issue(school_user, expires_at=moment.now + timedelta(hours=1))
    assert call(issued.secret).status_code == 200
    moment.advance(hours=1)
    response = call(issued.secret)
    assert response.status_code == 401 and response.json()["message"] == "API 令牌已过期。"
    assert logged(issued) == ["token_expired"]


def test_a_forged_secret_says_nothing_but_is_logged_against_the_account(school_user):
    issued = issue(school_user)
    forged = issued.secret[:-2] + ("zz" if not issued.secret.endswith("zz") else "yy")
    response = call(forged)
    assert response.status_code == 401
    assert response.json()["message"] == "API 令牌无效。"
    row = LoginAttempt.objects.get(username=f"token:{issued.token.prefix}")
    assert (row.reason, row.user) == ("token_unknown", school_user)


def test_a_malformed_token_is_logged(db):
    assert call("not-a-token").status_code == 401
    assert LoginAttempt.objects.get(username="token:?").reason == "token_unknown"


def test_a_refused_token_does_not_fall_back_to_the_session(school_user):
    client = Client()
    client.force_login(school_user)
    response = client.get("/api/me", headers={"Authorization": "Bearer xj_0000000000_nope"})
    assert response.status_code == 401


def test_token_use_keeps_the_account_from_counting_as_dormant(school_user, moment):
    User.objects.filter(pk=school_user.pk).update(last_seen_at=moment.now - timedelta(days=100))
    issued = issue(school_user)
    assert call(issued.secret).status_code == 200
    school_user.refresh_from_db()
    assert school_user.last_seen_at == moment.now


# ---------------------------------------------------------------- rate limit


def test_429_after_the_tokens_own_limit_with_retry_after(school_user, moment):
    issued = issue(school_user, rate_per_minute=3)
    for _ in range(3):
        assert call(issued.secret).status_code == 200
    moment.advance(seconds=20)
    response = call(issued.secret)
    assert response.status_code == 429
    assert response["Retry-After"] == "40"
    body = response.json()
    assert body["code"] == "rate_limited" and "40 秒后重试" in body["message"]
    for _ in range(3):
        assert call(issued.secret).status_code == 429
    assert logged(issued) == ["rate_limited"]  # once per window, not per excess request
    moment.advance(seconds=40)  # the next minute
    assert call(issued.secret).status_code == 200


@override_settings(XUEJI_SECURITY={"api_rate_per_minute": 2})
def test_tokens_without_their_own_limit_get_the_policys(school_user, moment):
    issued = issue(school_user)
    assert [call(issued.secret).status_code for _ in range(3)] == [200, 200, 429]


def test_each_token_counts_on_its_own(school_user, moment):
    first = issue(school_user, rate_per_minute=1)
    second = issue(school_user, rate_per_minute=1)
    assert call(first.secret).status_code == 200
    assert call(first.secret).status_code == 429
    assert call(second.secret).status_code == 200


def test_session_calls_are_not_counted_against_tokens(school_user, moment):
    issued = issue(school_user, rate_per_minute=1)
    client = Client()
    client.force_login(school_user)
    for _ in range(3):
        assert client.get("/api/me").status_code == 200
    assert call(issued.secret).status_code == 200
