"""The password policy: pure rules, Django's validators, the writers, and the forced change."""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.test import Client, override_settings
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from tests.factories import PASSWORD, make_user
from xueji import clock
from xueji.accounts.models import PasswordHistory, User
from xueji.accounts.passwords import (
    ChangeDue,
    character_classes,
    password_apply,
    password_change,
    password_change_due,
    password_rule_breaks,
)
from xueji.accounts.services import user_create
from xueji.audit.models import AuditEvent
from xueji.errors import Forbidden, ValidationFailed

NOW = datetime(2025, 3, 1, 2, 0, tzinfo=UTC)


def codes(password: str, username: str = "zhangsan") -> set[str]:
    return {
        b.code
        for b in password_rule_breaks(password, username=username, min_length=10, min_classes=3)
    }


# ---------------------------------------------------------------- pure rules


@pytest.mark.parametrize(
    ("password", "expected"),
    [
        ("abcdefghij", 1),
        ("abcdeFGHIJ", 2),
        ("abcdeFGH12", 3),
        ("abcdeFG-12", 4),
        ("学籍管理系统密码设置", 1),  # Chinese characters count as "other"
        ("", 0),
    ],
)
def test_character_classes(password, expected):
    assert character_classes(password) == expected


def test_good_password_breaks_no_rule():
    assert codes("Xueji-Policy-7") == set()
    assert codes(PASSWORD, "clerk") == set()


@pytest.mark.parametrize(
    ("password", "broken"),
    [
        ("Ab1-xyz", {"password.too_short"}),  # 7 characters
        ("Ab1-xyzab", {"password.too_short"}),  # 9: one short of the minimum
        ("abcdefghijkl", {"password.too_few_classes"}),
        ("abcdefgh1234", {"password.too_few_classes"}),  # two classes
        ("Zhangsan-2025", {"password.contains_username"}),  # user name, any case
        ("my-ZHANGSAN-9x", {"password.contains_username"}),
        (
            "zhangsan",
            {"password.too_short", "password.too_few_classes", "password.contains_username"},
        ),
    ],
)
def test_bad_passwords_name_every_broken_rule(password, broken):
    assert codes(password) == broken


def test_rule_messages_are_chinese():
    breaks = password_rule_breaks("abc", username="abc", min_length=10, min_classes=3)
    assert [b.message for b in breaks] == [
        "密码至少需要 10 个字符。",
        "密码须包含大写字母、小写字母、数字、其他字符中的至少 3 类。",
        "密码不得包含用户名。",
    ]


@given(
    st.text(alphabet="abcdefghijklmnop", min_size=4, max_size=8),
    st.text(alphabet="ABCDEFGHIJKLMNOP", min_size=3, max_size=8),
    st.text(alphabet="0123456789", min_size=3, max_size=8),
)
def test_three_classes_and_enough_length_pass(lower, upper, digits):
    """Any password of ≥ 10 characters from three classes passes when it holds no user name."""
    assert codes(lower + upper + digits, username="x_y_z") == set()


@given(st.text(min_size=0, max_size=30), st.text(alphabet="abcXYZ", min_size=1, max_size=5))
def test_a_password_holding_the_user_name_is_always_refused(rest, username):
    password = rest + username.upper() + rest
    assert "password.contains_username" in codes(password, username)


@pytest.mark.parametrize(
    ("must_change", "age_days", "expected"),
    [
        (True, 1, ChangeDue.FIRST),
        (False, 1, None),
        (False, 89, None),
        (False, 90, ChangeDue.EXPIRED),
        (False, 400, ChangeDue.EXPIRED),
    ],
)
def test_password_change_due(must_change, age_days, expected):
    changed_at = NOW - timedelta(days=age_days)
    assert (
        password_change_due(
            must_change=must_change, changed_at=changed_at, now=NOW, max_age_days=90
        )
        == expected
    )


def test_password_without_change_date_counts_as_expired_unless_expiry_is_off():
    assert (
        password_change_due(must_change=False, changed_at=None, now=NOW, max_age_days=90)
        == ChangeDue.EXPIRED
    )
    old = NOW - timedelta(days=1000)
    assert password_change_due(must_change=False, changed_at=old, now=NOW, max_age_days=0) is None


# ---------------------------------------------------------------- Django's validate_password


@pytest.mark.django_db
def test_validate_password_applies_the_policy(school_user):
    with pytest.raises(ValidationError) as caught:
        validate_password("clerk", school_user)
    assert {e.code for e in caught.value.error_list} == {
        "password.too_short",
        "password.too_few_classes",
        "password.contains_username",
    }
    validate_password("Another-Passw0rd", school_user)  # no error


@pytest.mark.django_db
def test_common_passwords_are_still_refused(school_user):
    with pytest.raises(ValidationError) as caught:
        validate_password("PE#5GZ29ptzmse", school_user)  # on Django's list of leaked ones
    assert "password_too_common" in {e.code for e in caught.value.error_list}


@pytest.mark.django_db
@override_settings(XUEJI_SECURITY={"password_min_length": 14, "password_min_classes": 4})
def test_policy_numbers_come_from_settings(school_user):
    with pytest.raises(ValidationError) as caught:
        validate_password("Qmwnebrt-123", school_user)  # 12 characters, four classes
    assert [e.code for e in caught.value.error_list] == ["password.too_short"]
    with pytest.raises(ValidationError):
        validate_password("Qmwnebrtzy12345", school_user)  # three classes only
    validate_password("Qmwnebrt-12345", school_user)


# ---------------------------------------------------------------- history of five


@pytest.mark.django_db
def test_none_of_the_last_five_passwords_may_come_back(school_user):
    """After p1…p6 (p6 current), p2…p6 are refused and p1, six back, is allowed."""
    passwords = [f"Rotation-{n}-Pass" for n in range(1, 7)]
    for password in passwords:
        password_apply(user=school_user, new_password=password, must_change=False)
    assert PasswordHistory.objects.filter(user=school_user).count() == 5
    for reused in passwords[1:]:
        with pytest.raises(ValidationFailed) as caught:
            password_apply(user=school_user, new_password=reused, must_change=False)
        assert caught.value.errors[0].code in ("password.reused", "password.same_as_current")
    password_apply(user=school_user, new_password=passwords[0], must_change=False)
    assert school_user.check_password(passwords[0])


@pytest.mark.django_db
def test_the_current_password_is_refused_even_without_history(school_user):
    PasswordHistory.objects.filter(user=school_user).delete()
    with pytest.raises(ValidationFailed) as caught:
        password_apply(user=school_user, new_password=PASSWORD, must_change=False)
    assert caught.value.errors[0].code == "password.same_as_current"
    assert caught.value.errors[0].message == "新密码不得与当前密码相同。"


@pytest.mark.django_db
@override_settings(XUEJI_SECURITY={"password_history": 2})
def test_history_length_is_policy(school_user):
    """With a history of 2, the third-last password is free again; the last two are not."""
    for password in ("Rotation-1-Pass", "Rotation-2-Pass", "Rotation-3-Pass"):
        password_apply(user=school_user, new_password=password, must_change=False)
    with pytest.raises(ValidationFailed) as caught:
        password_apply(user=school_user, new_password="Rotation-2-Pass", must_change=False)
    assert caught.value.errors[0].code == "password.reused"
    password_apply(user=school_user, new_password="Rotation-1-Pass", must_change=False)
    school_user.refresh_from_db()
    assert school_user.check_password("Rotation-1-Pass")


# ---------------------------------------------------------------- the writers


@pytest.mark.django_db
def test_password_apply_stamps_remembers_and_audits(school_user, monkeypatch):
    moment = datetime(2025, 5, 6, 7, 8, tzinfo=UTC)
    monkeypatch.setattr(clock, "now", lambda: moment)
    password_apply(user=school_user, new_password="Fresh-Passw0rd", must_change=True)
    school_user.refresh_from_db()
    assert school_user.check_password("Fresh-Passw0rd")
    assert school_user.password_changed_at == moment
    assert school_user.must_change_password is True
    newest = PasswordHistory.objects.filter(user=school_user).latest("pk")
    assert newest is not None and newest.password == school_user.password
    event = AuditEvent.objects.filter(action="account.password_set").latest("pk")
    assert event.object_id == str(school_user.pk)
    assert event.detail == {"must_change": True, "by_self": False}
    assert "Fresh-Passw0rd" not in str(event.detail) + event.summary


@pytest.mark.django_db
def test_password_apply_refuses_a_weak_password_and_changes_nothing(school_user):
    before = school_user.password
    with pytest.raises(ValidationFailed) as caught:
        password_apply(user=school_user, new_password="short", must_change=False)
    assert caught.value.message == "密码不符合安全策略。"
    assert {e.field for e in caught.value.errors} == {"password"}
    school_user.refresh_from_db()
    assert school_user.password == before


@pytest.mark.django_db
@override_settings(
    PASSWORD_HASHERS=[
        "django.contrib.auth.hashers.Argon2PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    ]
)
def test_passwords_are_hashed_with_argon2(school_user):
    from config.settings import base

    assert base.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")
    password_apply(user=school_user, new_password="Argon-Hashed-9", must_change=False)
    assert school_user.password.startswith("argon2$")


@pytest.mark.django_db
def test_user_create_goes_through_the_policy(school):
    user = user_create(
        actor=None, unit=school.unit, username="newclerk", password=PASSWORD, roles=["clerk"]
    )
    assert user.must_change_password is True  # changed by the holder at first sign-in
    assert user.password_changed_at is not None
    assert PasswordHistory.objects.filter(user=user).count() == 1
    with pytest.raises(ValidationFailed) as caught:
        user_create(
            actor=None,
            unit=school.unit,
            username="wangwu",
            password="Wangwu-2025-pass",
            roles=["clerk"],
        )
    assert [e.code for e in caught.value.errors] == ["password.contains_username"]
    assert not User.objects.filter(username="wangwu").exists()


@pytest.mark.django_db
def test_password_change_needs_the_old_password_and_audits_refusals(school_user):
    with pytest.raises(ValidationFailed) as caught:
        password_change(
            actor=school_user,
            user=school_user,
            old_password="not-it",
            new_password="Brand-New-Pass1",
        )
    assert [(e.field, e.code) for e in caught.value.errors] == [
        ("old_password", "password.old_wrong")
    ]
    refused = AuditEvent.objects.get(action="account.password_change_refused")
    assert refused.detail == {"codes": ["password.old_wrong"]}

    with pytest.raises(ValidationFailed) as caught:
        password_change(
            actor=school_user, user=school_user, old_password=PASSWORD, new_password="clerk"
        )
    assert {e.field for e in caught.value.errors} == {"new_password"}
    assert AuditEvent.objects.filter(action="account.password_change_refused").count() == 2

    password_change(
        actor=school_user,
        user=school_user,
        old_password=PASSWORD,
        new_password="Brand-New-Pass1",
    )
    school_user.refresh_from_db()
    assert school_user.check_password("Brand-New-Pass1")
    assert school_user.must_change_password is False


@pytest.mark.django_db
def test_nobody_changes_another_accounts_password_this_way(school_user, other_school_user):
    with pytest.raises(Forbidden):
        password_change(
            actor=other_school_user,
            user=school_user,
            old_password=PASSWORD,
            new_password="Brand-New-Pass1",
        )


# ---------------------------------------------------------------- the forced change


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def first_timer(school):
    """A trained clerk whose password an administrator set: the first sign-in must change it."""
    user = make_user(school.unit, username="firsttimer")
    User.objects.filter(pk=user.pk).update(must_change_password=True)
    user.must_change_password = True
    return user


@pytest.mark.django_db
def test_first_sign_in_is_sent_to_the_password_page(first_timer):
    client = Client()
    response = client.post(reverse("web:login"), {"username": "firsttimer", "password": PASSWORD})
    assert response.status_code == 302
    response = client.get(reverse("web:home"))
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:password_change")
    for path in ("/students/", "/schools/", "/imports/"):
        assert client.get(path)["Location"] == reverse("accounts:password_change")
    page = client.get(reverse("accounts:password_change"))
    assert page.status_code == 200
    assert "初始密码" in page.content.decode()


@pytest.mark.django_db
def test_only_the_password_page_sign_out_language_and_static_stay_open(first_timer):
    client = signed_in(first_timer)
    assert client.get("/static/xueji/app.js").status_code != 302
    response = client.get(reverse("web:home"), headers={"HX-Request": "true"})
    assert (response.status_code, response["HX-Redirect"]) == (
        204,
        reverse("accounts:password_change"),
    )
    response = client.post(reverse("set_language"), {"language": "en"})
    assert response.status_code == 302 and client.cookies["django_language"].value == "en"
    response = client.post(reverse("web:logout"))
    assert response["Location"] == reverse("web:login")
    assert client.get(reverse("web:home"))["Location"].startswith(reverse("web:login"))


@pytest.mark.django_db
def test_api_calls_of_a_session_that_must_change_get_403(first_timer):
    response = signed_in(first_timer).get("/api/me")
    assert response.status_code == 403
    assert response.json()["code"] == "password.change_required"


@pytest.mark.django_db
def test_an_expired_password_forces_a_change(school_user, monkeypatch):
    changed = school_user.password_changed_at
    monkeypatch.setattr(clock, "now", lambda: changed + timedelta(days=89))
    User.objects.filter(pk=school_user.pk).update(last_seen_at=changed + timedelta(days=89))
    assert signed_in(school_user).get(reverse("web:home")).status_code == 200
    monkeypatch.setattr(clock, "now", lambda: changed + timedelta(days=90, minutes=1))
    client = signed_in(school_user)
    response = client.get(reverse("web:home"))
    assert response["Location"] == reverse("accounts:password_change")
    assert "超过 90 天" in client.get(reverse("accounts:password_change")).content.decode()


@pytest.mark.django_db
def test_password_page_changes_the_password_and_keeps_this_session(first_timer):
    client = Client()
    client.post(reverse("web:login"), {"username": "firsttimer", "password": PASSWORD})
    other = Client()
    other.force_login(first_timer)
    url = reverse("accounts:password_change")

    response = client.post(
        url, {"old_password": PASSWORD, "new_password": "Mine-Now-2025", "confirm": "Mine-Now-2026"}
    )
    assert "两次输入的新密码不一致" in response.content.decode()
    response = client.post(
        url, {"old_password": "wrong", "new_password": "Mine-Now-2025", "confirm": "Mine-Now-2025"}
    )
    assert "原密码不正确" in response.content.decode()
    response = client.post(
        url, {"old_password": PASSWORD, "new_password": PASSWORD, "confirm": PASSWORD}
    )
    assert "新密码不得与当前密码相同" in response.content.decode()

    response = client.post(
        url, {"old_password": PASSWORD, "new_password": "Mine-Now-2025", "confirm": "Mine-Now-2025"}
    )
    assert response.status_code == 302 and response["Location"] == reverse("web:home")
    assert client.get(reverse("web:home")).status_code == 200
    first_timer.refresh_from_db()
    assert first_timer.must_change_password is False
    assert first_timer.current_session_key == client.session.session_key
    # Every other session of the account ends with the old password.
    assert other.get(reverse("web:home")).status_code == 302


@pytest.mark.django_db
def test_password_page_needs_sign_in(client):
    response = client.get(reverse("accounts:password_change"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("web:login"))
