"""Sessions: idle timeout, absolute lifetime, single session, forged and expired cookies,
accounts blocked while signed in, and the once-a-minute last-use stamp."""

from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.models import Session
from django.test import Client, override_settings
from django.urls import reverse

from tests.factories import PASSWORD
from xueji import clock
from xueji.accounts.models import TrainingRecord, User
from xueji.accounts.signin_rules import SessionEnd, session_end
from xueji.audit.models import AuditEvent

pytestmark = pytest.mark.django_db

HOME = "/"
NOW = datetime(2025, 3, 1, 2, 0, tzinfo=UTC)


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def moment(monkeypatch) -> Clock:
    held = Clock(clock.now().replace(microsecond=0))
    monkeypatch.setattr(clock, "now", lambda: held.now)
    return held


def signed_in_client(username: str = "clerk") -> Client:
    client = Client()
    response = client.post(reverse("web:login"), {"username": username, "password": PASSWORD})
    assert response.status_code == 302, response.content.decode()[:500]
    return client


def sent_to_sign_in(response) -> bool:
    return response.status_code == 302 and response["Location"].startswith(reverse("web:login"))


def login_page_text(client: Client) -> str:
    return client.get(reverse("web:login")).content.decode()


# ---------------------------------------------------------------- the pure rule


@pytest.mark.parametrize(
    ("signed_in", "active", "expected"),
    [
        (timedelta(hours=1), timedelta(minutes=29), None),
        (timedelta(hours=1), timedelta(minutes=30), SessionEnd.IDLE),
        (timedelta(hours=11, minutes=59), timedelta(0), None),
        (timedelta(hours=12), timedelta(0), SessionEnd.ABSOLUTE),
        (timedelta(hours=13), timedelta(minutes=45), SessionEnd.ABSOLUTE),
    ],
)
def test_session_end_rule(signed_in, active, expected):
    assert (
        session_end(
            signed_in_at=NOW - signed_in,
            active_at=NOW - active,
            now=NOW,
            idle_minutes=30,
            absolute_hours=12,
        )
        == expected
    )


# ---------------------------------------------------------------- idle and absolute


def test_idle_session_ends_after_thirty_minutes(school_user, moment):
    client = signed_in_client()
    moment.advance(minutes=29)
    assert client.get(HOME).status_code == 200
    moment.advance(minutes=29)  # 58 minutes in, but never 30 idle
    assert client.get(HOME).status_code == 200
    moment.advance(minutes=30)
    assert sent_to_sign_in(client.get(HOME))
    assert "较长时间未操作" in login_page_text(client)
    event = AuditEvent.objects.get(action="account.sign_out")
    assert event.detail == {"reason": "idle"} and event.actor_id == school_user.pk


@override_settings(XUEJI_SECURITY={"session_idle_minutes": 5})
def test_idle_timeout_is_policy(school_user, moment):
    client = signed_in_client()
    assert client.session.get_expiry_age() == 5 * 60  # the cookie follows the policy
    moment.advance(minutes=5)
    assert sent_to_sign_in(client.get(HOME))


def test_busy_session_ends_at_its_absolute_lifetime(school_user, moment):
    client = signed_in_client()
    for _ in range(35):  # a request every 20 minutes: 11 h 40 min
        moment.advance(minutes=20)
        assert client.get(HOME).status_code == 200
    moment.advance(minutes=20)  # 12 h
    assert sent_to_sign_in(client.get(HOME))
    assert "最长使用时限" in login_page_text(client)
    assert AuditEvent.objects.get(action="account.sign_out").detail == {"reason": "absolute"}


def test_api_call_of_an_expired_session_gets_401(school_user, moment):
    client = signed_in_client()
    assert client.get("/api/me").status_code == 200
    moment.advance(minutes=31)
    assert client.get("/api/me").status_code == 401


# ---------------------------------------------------------------- forged and expired cookies


def test_forged_session_cookie_is_sent_to_sign_in(school_user):
    client = Client()
    client.cookies[settings.SESSION_COOKIE_NAME] = "forgedsessionkey0123456789abcdef"
    assert sent_to_sign_in(client.get(HOME))
    assert client.get("/api/me").status_code == 401


def test_tampered_session_cookie_is_sent_to_sign_in(school_user):
    client = signed_in_client()
    key = client.cookies[settings.SESSION_COOKIE_NAME].value
    client.cookies[settings.SESSION_COOKIE_NAME] = key[:-1] + ("a" if key[-1] != "a" else "b")
    assert sent_to_sign_in(client.get(HOME))


def test_expired_session_cookie_is_sent_to_sign_in(school_user):
    client = signed_in_client()
    Session.objects.update(expire_date=clock.now() - timedelta(seconds=1))
    assert sent_to_sign_in(client.get(HOME))


def test_session_from_before_a_password_change_is_void(school_user):
    client = signed_in_client()
    school_user.set_password("Changed-Elsewhere-1")
    school_user.save(update_fields=["password"])
    assert sent_to_sign_in(client.get(HOME))


# ---------------------------------------------------------------- single session


@override_settings(XUEJI_SECURITY={"single_session": True})
def test_a_newer_sign_in_ends_the_older_session(school_user):
    older = signed_in_client()
    newer = signed_in_client()
    assert newer.get(HOME).status_code == 200
    assert sent_to_sign_in(older.get(HOME))
    assert "已在其他地方登录" in login_page_text(older)
    assert newer.get(HOME).status_code == 200
    event = AuditEvent.objects.get(action="account.sign_out")
    assert event.detail == {"reason": "superseded"}


def test_without_the_single_session_policy_both_sessions_live(school_user):
    older = signed_in_client()
    newer = signed_in_client()
    assert older.get(HOME).status_code == 200
    assert newer.get(HOME).status_code == 200


# ---------------------------------------------------------------- accounts blocked while in


def test_sealing_ends_an_open_session_at_its_next_request(school_user):
    client = signed_in_client()
    User.objects.filter(pk=school_user.pk).update(sealed_at=clock.now())
    assert sent_to_sign_in(client.get(HOME))
    assert "账号已封存" in login_page_text(client)
    assert AuditEvent.objects.get(action="account.sign_out").detail == {"reason": "sealed"}


def test_disabling_ends_an_open_api_session(school_user):
    client = signed_in_client()
    User.objects.filter(pk=school_user.pk).update(disabled_at=clock.now())
    assert client.get("/api/me").status_code == 401


def test_a_lapsed_training_is_noticed_within_a_minute(school_user, moment):
    client = signed_in_client()
    TrainingRecord.objects.filter(user=school_user).delete()
    moment.advance(seconds=30)
    assert client.get(HOME).status_code == 200  # checked once a minute, not per request
    moment.advance(seconds=31)
    assert sent_to_sign_in(client.get(HOME))
    assert "先培训后上岗" in login_page_text(client)


# ---------------------------------------------------------------- last use


def test_last_seen_is_stamped_at_most_once_a_minute(school_user, moment):
    client = signed_in_client()
    signed_in_at = moment.now
    moment.advance(seconds=59)
    client.get(HOME)
    school_user.refresh_from_db()
    assert school_user.last_seen_at == signed_in_at
    moment.advance(seconds=2)
    client.get(HOME)
    school_user.refresh_from_db()
    assert school_user.last_seen_at == moment.now


def test_forced_login_sessions_get_their_clocks_at_the_first_request(school_user, moment):
    """A session opened without the pipeline (tests, or one older than this policy)
    starts its idle and absolute clocks at its first request."""
    client = Client()
    client.force_login(school_user)
    assert client.get(HOME).status_code == 200
    moment.advance(minutes=31)
    assert sent_to_sign_in(client.get(HOME))
    assert SESSION_KEY not in client.session
