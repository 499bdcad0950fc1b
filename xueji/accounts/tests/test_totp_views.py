"""Second-factor pages, the reset API, the ``totp_code`` demo command and the demo accounts:
sign-in with password then code, enrolment at first sign-in, recovery codes, reset."""

import base64
import re
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client, override_settings
from django.urls import reverse

from tests.factories import PASSWORD, SchoolFactory, authority_user, make_user
from xueji import clock
from xueji.accounts import twofactor
from xueji.accounts.models import LoginAttempt, RecoveryCode, Role, TotpDevice, User
from xueji.audit.models import AuditEvent
from xueji.exchange.demo_accounts import DEMO_PASSWORD, DEMO_TOTP_SECRETS, ensure_demo_accounts

pytestmark = pytest.mark.django_db

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
SECOND_FACTOR = "/accounts/second-factor/"
ENROL = "/accounts/second-factor/enrol/"
STATUS = "/accounts/me/second-factor/"

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
INLINE_HANDLER = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)
INLINE_STYLE = re.compile(r"\sstyle\s*=", re.IGNORECASE)


def code_now(secret: str, steps: int = 0) -> str:
    return twofactor.totp_code_at(secret, twofactor.totp_step(clock.now().timestamp()) + steps)


def install(user, secret: str = SECRET) -> None:
    twofactor.totp_device_install(user=user, secret=secret, now=clock.now())


def park(client: Client, user, *, age: timedelta = timedelta(0)) -> None:
    """What the sign-in pipeline leaves after a correct password."""
    session = client.session
    session["xj_pending_user"] = user.pk
    session["xj_pending_at"] = (clock.now() - age).timestamp()
    session.save()


def signed_in_as(client: Client) -> int | None:
    value = client.session.get("_auth_user_id")
    return int(value) if value is not None else None


def assert_no_inline_code(html: str) -> None:
    assert not INLINE_SCRIPT.search(html)
    assert not INLINE_HANDLER.search(html)
    assert not INLINE_STYLE.search(html)


def secret_on_page(html: str) -> str:
    match = re.search(r'<code class="xj-secret[^"]*">([A-Z2-7 ]+)</code>', html)
    assert match, "the secret is shown for manual entry"
    return match.group(1).replace(" ", "")


# ----------------------------------------------------------------- the sign-in, end to end


def test_password_then_code_then_home(client, county_user):
    """The whole sign-in through the pages: password → second-factor page → code → home."""
    install(county_user)
    response = client.post(
        reverse("web:login"), {"username": county_user.username, "password": PASSWORD}
    )
    assert response.status_code == 302 and response["Location"] == SECOND_FACTOR
    assert signed_in_as(client) is None
    page = client.get(SECOND_FACTOR)
    assert page.status_code == 200
    assert "输入动态验证码" in page.content.decode()
    assert_no_inline_code(page.content.decode())
    response = client.post(SECOND_FACTOR, {"code": code_now(SECRET)})
    assert response.status_code == 302 and response["Location"] == reverse("web:home")
    assert signed_in_as(client) == county_user.pk
    assert "xj_pending_user" not in client.session
    assert client.get(reverse("web:home")).status_code == 200
    assert LoginAttempt.objects.filter(user=county_user, reason="ok").count() == 1


def test_the_sign_in_keeps_the_page_asked_for(client, county_user):
    install(county_user)
    client.post(
        reverse("web:login") + "?next=/schools/",
        {"username": county_user.username, "password": PASSWORD, "next": "/schools/"},
    )
    response = client.post(SECOND_FACTOR, {"code": code_now(SECRET)})
    assert response["Location"] == "/schools/"


def test_a_school_clerk_signs_in_without_a_second_factor(client, school_user):
    response = client.post(
        reverse("web:login"), {"username": school_user.username, "password": PASSWORD}
    )
    assert response["Location"] == reverse("web:home")
    assert signed_in_as(client) == school_user.pk


def test_first_sign_in_enrols_before_entering(client, county_user):
    """No device yet: the second step is the enrolment, and the code activates it."""
    client.post(reverse("web:login"), {"username": county_user.username, "password": PASSWORD})
    response = client.get(SECOND_FACTOR)
    assert response.status_code == 302 and response["Location"] == ENROL
    page = client.get(ENROL)
    html = page.content.decode()
    assert page.status_code == 200
    assert_no_inline_code(html)
    assert page["Cache-Control"].startswith("max-age=0") or "no-store" in page["Cache-Control"]
    qr = re.search(r'<img class="xj-qr[^"]*" src="data:image/svg\+xml;base64,([^"]+)"', html)
    assert qr, "the QR code is an SVG data image"
    svg = base64.b64decode(qr.group(1)).decode()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg and "<script" not in svg
    secret = secret_on_page(html)
    # Reloading the page keeps the secret that was scanned.
    assert secret_on_page(client.get(ENROL).content.decode()) == secret
    device = TotpDevice.objects.get(user=county_user)
    assert device.confirmed_at is None

    # a wrong code: refused, nothing active, not signed in
    wrong = f"{(int(code_now(secret)) + 1) % 1_000_000:06d}"
    response = client.post(ENROL, {"code": wrong})
    assert response.status_code == 200
    assert "验证码不正确" in response.content.decode()
    assert signed_in_as(client) is None
    device.refresh_from_db()
    assert device.confirmed_at is None

    # the current code: active, signed in, recovery codes shown once
    response = client.post(ENROL, {"code": code_now(secret)})
    html = response.content.decode()
    assert response.status_code == 200
    assert_no_inline_code(html)
    codes = re.findall(r"<li><code>([A-Z2-9]{5}-[A-Z2-9]{5})</code></li>", html)
    assert len(codes) == 10
    assert signed_in_as(client) == county_user.pk
    device.refresh_from_db()
    assert device.confirmed_at is not None
    assert twofactor.recovery_code_use(user=county_user, code=codes[0], now=clock.now()) == 9


def test_a_replayed_code_is_refused_on_the_page(client, county_user):
    install(county_user)
    code = code_now(SECRET)
    park(client, county_user)
    assert client.post(SECOND_FACTOR, {"code": code}).status_code == 302
    other = Client()
    park(other, county_user)
    response = other.post(SECOND_FACTOR, {"code": code})
    assert response.status_code == 200
    assert "已使用过" in response.content.decode()
    assert signed_in_as(other) is None
    assert LoginAttempt.objects.filter(user=county_user, reason="bad_second_factor").count() == 1


def test_a_recovery_code_signs_in_once(client, county_user):
    install(county_user)
    with_codes = twofactor.recovery_codes_regenerate(
        user=county_user, code=code_now(SECRET), now=clock.now()
    )
    park(client, county_user)
    response = client.post(SECOND_FACTOR, {"code": with_codes[0]}, follow=True)
    assert signed_in_as(client) == county_user.pk
    assert "恢复码" in response.content.decode()
    again = Client()
    park(again, county_user)
    assert again.post(SECOND_FACTOR, {"code": with_codes[0]}).status_code == 200
    assert signed_in_as(again) is None


def test_a_stale_pending_sign_in_is_dropped(client, county_user):
    install(county_user)
    park(client, county_user, age=timedelta(minutes=5, seconds=5))
    response = client.post(SECOND_FACTOR, {"code": code_now(SECRET)})
    assert response.status_code == 302 and response["Location"] == reverse("web:login")
    assert signed_in_as(client) is None
    assert "xj_pending_user" not in client.session


def test_an_iso_pending_time_is_understood(client, county_user):
    install(county_user)
    session = client.session
    session["xj_pending_user"] = county_user.pk
    session["xj_pending_at"] = clock.now().isoformat()
    session.save()
    assert client.post(SECOND_FACTOR, {"code": code_now(SECRET)}).status_code == 302
    assert signed_in_as(client) == county_user.pk


def test_without_a_pending_sign_in_the_pages_send_to_sign_in(client):
    for url in (SECOND_FACTOR, ENROL):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"] == reverse("web:login")


@override_settings(XUEJI_SECURITY={"lockout_threshold": 2})
def test_wrong_codes_lock_out_and_drop_the_pending_sign_in(client, county_user):
    install(county_user)
    park(client, county_user)
    client.post(SECOND_FACTOR, {"code": "000001"})
    client.post(SECOND_FACTOR, {"code": "000002"})
    county_user.refresh_from_db()
    assert county_user.locked_until is not None
    response = client.post(SECOND_FACTOR, {"code": code_now(SECRET)}, follow=True)
    assert signed_in_as(client) is None
    assert "锁定" in response.content.decode()
    assert "xj_pending_user" not in client.session


def test_a_sealed_account_cannot_finish_its_sign_in(client, county_user):
    install(county_user)
    park(client, county_user)
    User.objects.filter(pk=county_user.pk).update(sealed_at=clock.now(), sealed_reason="测试")
    response = client.post(SECOND_FACTOR, {"code": code_now(SECRET)})
    assert response["Location"] == reverse("web:login")
    assert signed_in_as(client) is None


# ----------------------------------------------------------------- the signed-in account


def test_status_page_regenerates_recovery_codes_for_a_current_code(client, county_user):
    install(county_user)
    client.force_login(county_user)
    page = client.get(STATUS)
    html = page.content.decode()
    assert page.status_code == 200 and "已绑定" in html
    assert_no_inline_code(html)
    assert client.post(STATUS, {"code": "000000"}).status_code == 200
    assert not RecoveryCode.objects.filter(user=county_user).exists()
    response = client.post(STATUS, {"code": code_now(SECRET)})
    codes = re.findall(
        r"<li><code>([A-Z2-9]{5}-[A-Z2-9]{5})</code></li>", response.content.decode()
    )
    assert len(codes) == 10
    assert AuditEvent.objects.filter(action="account.recovery_codes_regenerate").count() == 1


def test_status_page_of_a_school_clerk(client, school_user):
    client.force_login(school_user)
    html = client.get(STATUS).content.decode()
    assert "不要求" in html and "未绑定" in html


def test_a_signed_in_account_can_enrol(client, school_user):
    client.force_login(school_user)
    secret = secret_on_page(client.get(ENROL).content.decode())
    response = client.post(ENROL, {"code": code_now(secret)})
    assert response.status_code == 200
    assert twofactor.second_factor_status(school_user).enrolled
    assert client.get(ENROL)["Location"] == STATUS


# ----------------------------------------------------------------- reset: page and API


@pytest.fixture
def enrolled_county(county_user):
    install(county_user)
    return county_user


def reset_url(user) -> str:
    return reverse("accounts:twofactor_reset", args=[user.pk])


def test_reset_page_for_the_security_admin_above(client, enrolled_county):
    admin = authority_user("440100", roles=(Role.SECURITY_ADMIN,))
    client.force_login(admin)
    page = client.get(reset_url(enrolled_county))
    assert page.status_code == 200
    assert enrolled_county.username in page.content.decode()
    assert_no_inline_code(page.content.decode())
    # A blank reason is refused (and audited).
    assert client.post(reset_url(enrolled_county), {"reason": ""}).status_code == 200
    assert TotpDevice.objects.filter(user=enrolled_county).exists()
    assert AuditEvent.objects.filter(action="account.totp_reset_refused").count() == 1
    response = client.post(reset_url(enrolled_county), {"reason": "手机丢失"})
    assert response.status_code == 302
    assert not TotpDevice.objects.filter(user=enrolled_county).exists()
    assert AuditEvent.objects.filter(action="account.totp_reset").count() == 1


@pytest.mark.parametrize(
    ("division", "role", "status"),
    [
        ("440106", Role.SECURITY_ADMIN, 403),  # same unit
        ("440105", Role.SECURITY_ADMIN, 404),  # sibling county
        ("510000", Role.SECURITY_ADMIN, 404),  # another province
        ("440000", Role.SYSTEM_ADMIN, 403),  # not a security admin
        ("440000", Role.REVIEWER, 403),
    ],
)
def test_reset_page_refuses_everyone_else(client, enrolled_county, division, role, status):
    client.force_login(authority_user(division, roles=(role,)))
    assert client.get(reset_url(enrolled_county)).status_code == status
    assert client.post(reset_url(enrolled_county), {"reason": "越权"}).status_code == status
    assert TotpDevice.objects.filter(user=enrolled_county).exists()
    assert AuditEvent.objects.filter(action="account.totp_reset_refused").count() == 1


def api_reset(client: Client, user, reason: str = "更换手机"):
    return client.post(
        f"/api/accounts/{user.pk}/second-factor/reset",
        {"reason": reason},
        content_type="application/json",
    )


def test_reset_api_for_the_security_admin_above(client, enrolled_county):
    client.force_login(authority_user("440000", roles=(Role.SECURITY_ADMIN,)))
    response = api_reset(client, enrolled_county)
    assert response.status_code == 200
    assert response.json() == {
        "user_id": enrolled_county.pk,
        "username": enrolled_county.username,
        "enrolled": False,
    }
    assert not TotpDevice.objects.filter(user=enrolled_county).exists()


def test_reset_api_refusals_are_answered_and_audited(client, enrolled_county):
    client.force_login(authority_user("440105", roles=(Role.SECURITY_ADMIN,)))
    assert api_reset(client, enrolled_county).status_code == 404
    client.force_login(authority_user("440000", roles=(Role.SECURITY_ADMIN,)))
    response = api_reset(client, enrolled_county, reason="  ")
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "reason"
    client.force_login(authority_user("440000", roles=(Role.REVIEWER,)))
    assert api_reset(client, enrolled_county).status_code == 403
    assert Client().post(f"/api/accounts/{enrolled_county.pk}/second-factor/reset").status_code == (
        401
    )
    assert AuditEvent.objects.filter(action="account.totp_reset_refused").count() == 3
    assert TotpDevice.objects.filter(user=enrolled_county).exists()


def test_after_a_reset_the_account_enrols_again_at_sign_in(client, enrolled_county):
    twofactor.totp_reset(
        actor=authority_user("440000", roles=(Role.SECURITY_ADMIN,)),
        user_id=enrolled_county.pk,
        reason="手机丢失",
    )
    client.post(reverse("web:login"), {"username": enrolled_county.username, "password": PASSWORD})
    assert client.get(SECOND_FACTOR)["Location"] == ENROL


# ----------------------------------------------------------------- the demo


@pytest.fixture
def demo_accounts(db):
    SchoolFactory(division_code="440106")
    return ensure_demo_accounts()


def test_demo_accounts_follow_the_policy(demo_accounts):
    by_name = {a.username: a for a in demo_accounts}
    assert set(by_name) == {*DEMO_TOTP_SECRETS, "demo-school"}
    for username, secret in DEMO_TOTP_SECRETS.items():
        user = User.objects.get(username=username)
        assert by_name[username].totp_secret == secret
        assert twofactor.totp_device_holds(user, secret)
        assert not user.must_change_password and user.password_changed_at is not None
    school = User.objects.get(username="demo-school")
    assert by_name["demo-school"].totp_secret == ""
    assert not TotpDevice.objects.filter(user=school).exists()
    assert school.trainings.exists()
    # Running the demo again changes nothing.
    ensure_demo_accounts()
    assert TotpDevice.objects.count() == len(DEMO_TOTP_SECRETS)
    assert school.trainings.count() == 1


def test_demo_sign_in_with_the_printed_secret(client, demo_accounts):
    client.post(reverse("web:login"), {"username": "demo-county", "password": DEMO_PASSWORD})
    response = client.post(SECOND_FACTOR, {"code": code_now(DEMO_TOTP_SECRETS["demo-county"])})
    assert response["Location"] == reverse("web:home")
    assert client.get(reverse("web:home")).status_code == 200


@override_settings(DEBUG=True)
def test_totp_code_prints_the_demo_code(demo_accounts):
    out = StringIO()
    call_command("totp_code", "demo-county", stdout=out, stderr=StringIO())
    assert out.getvalue().strip() == code_now(DEMO_TOTP_SECRETS["demo-county"])


def test_totp_code_refuses_outside_debug(demo_accounts):
    with pytest.raises(CommandError, match="DEBUG"):
        call_command("totp_code", "demo-county", stdout=StringIO())


@override_settings(DEBUG=True)
def test_totp_code_refuses_other_accounts(demo_accounts, county_user):
    install(county_user)
    for username in (county_user.username, "demo-school", "demo-nobody"):
        with pytest.raises(CommandError):
            call_command("totp_code", username, stdout=StringIO())


@override_settings(DEBUG=True)
def test_totp_code_refuses_a_demo_account_with_its_own_authenticator(client, demo_accounts):
    user = User.objects.get(username="demo-city")
    twofactor.totp_reset(
        actor=make_user(
            User.objects.get(username="demo-national").unit, roles=(Role.SECURITY_ADMIN,)
        ),
        user_id=user.pk,
        reason="改用自己的验证器",
    )
    enrolment = twofactor.totp_enrolment_begin(user=user, now=clock.now())
    twofactor.totp_device_confirm(user=user, code=code_now(enrolment.secret), now=clock.now())
    with pytest.raises(CommandError):
        call_command("totp_code", "demo-city", stdout=StringIO())
