"""The second factor: the pure rules (RFC 6238 vectors, drift, replay, who needs it) and the
services (enrolment, verification, recovery codes, lockout, reset by a security admin above)."""

import base64
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from django.test import override_settings
from hypothesis import given
from hypothesis import strategies as st

from tests.factories import authority_user, make_user
from xueji import fieldcrypto
from xueji.accounts import twofactor
from xueji.accounts.models import LoginAttempt, RecoveryCode, Role, TotpDevice, UnitKind, User
from xueji.accounts.services import unit_ensure_for_division, unit_ensure_national
from xueji.accounts.twofactor import (
    AccountLocked,
    pending_expired,
    recovery_code_format,
    recovery_code_normalize,
    reset_permitted,
    second_factor_rule,
    totp_check,
    totp_code_at,
)
from xueji.audit.models import AuditEvent
from xueji.errors import Forbidden, NotFound, ValidationFailed

# RFC 6238 appendix B: the SHA-1 seed "12345678901234567890" and its 8-digit codes.
RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()
RFC_VECTORS = [
    (59, "94287082"),
    (1111111109, "07081804"),
    (1111111111, "14050471"),
    (1234567890, "89005924"),
    (2000000000, "69279037"),
    (20000000000, "65353130"),
]
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
T0 = datetime(2026, 3, 2, 9, 0, 15, tzinfo=UTC)


def code_at(secret: str, when: datetime, steps: int = 0) -> str:
    return totp_code_at(secret, int(when.timestamp()) // 30 + steps)


# ----------------------------------------------------------------- pure: TOTP


@pytest.mark.parametrize(("at", "eight_digits"), RFC_VECTORS)
def test_generator_matches_the_rfc_6238_vectors(at, eight_digits):
    """pyotp (which the checks rely on) reproduces the RFC's 8-digit SHA-1 codes."""
    assert pyotp.TOTP(RFC_SECRET, digits=8).at(at) == eight_digits


@pytest.mark.parametrize(("at", "eight_digits"), RFC_VECTORS)
def test_check_accepts_the_rfc_vectors_as_six_digit_codes(at, eight_digits):
    """Six-digit codes are the RFC value modulo 10^6: its last six digits."""
    assert totp_check(RFC_SECRET, eight_digits[-6:], at_unix=at, last_step=0) == at // 30


def test_check_refuses_a_wrong_code():
    at, eight_digits = RFC_VECTORS[3]
    wrong = f"{(int(eight_digits[-6:]) + 1) % 1_000_000:06d}"
    assert totp_check(RFC_SECRET, wrong, at_unix=at, last_step=0) is None


def test_a_used_code_is_refused_within_its_own_step():
    """No replay: once step T was accepted, a code of step T (or earlier) never passes."""
    at = 1_234_567_890
    code = pyotp.TOTP(SECRET).at(at)
    step = totp_check(SECRET, code, at_unix=at, last_step=0)
    assert step == at // 30
    assert totp_check(SECRET, code, at_unix=at + 1, last_step=step) is None
    # Nor the previous step's code, although it is inside the drift window.
    earlier = totp_code_at(SECRET, step - 1)
    assert totp_check(SECRET, earlier, at_unix=at, last_step=step) is None


@pytest.mark.parametrize("drift", [-1, 0, 1])
def test_one_step_of_clock_drift_either_way_is_accepted(drift):
    at = 1_700_000_010
    code = totp_code_at(SECRET, at // 30 + drift)
    assert totp_check(SECRET, code, at_unix=at, last_step=0) == at // 30 + drift


@pytest.mark.parametrize("drift", [-2, 2, -3, 3])
def test_two_steps_off_is_refused(drift):
    at = 1_700_000_010
    code = totp_code_at(SECRET, at // 30 + drift)
    assert totp_check(SECRET, code, at_unix=at, last_step=0) is None


@given(
    at=st.integers(min_value=300, max_value=4_000_000_000),
    drift=st.integers(min_value=-4, max_value=4),
)
def test_drift_window_property(at, drift):
    """Within ±1 step a code passes (returning its step); further off it fails unless it
    happens to equal a code inside the window (a 1-in-a-million collision)."""
    step = at // 30 + drift
    code = totp_code_at(SECRET, step)
    result = totp_check(SECRET, code, at_unix=at, last_step=0)
    window = {s: totp_code_at(SECRET, s) for s in range(at // 30 - 1, at // 30 + 2)}
    if abs(drift) <= 1:
        assert result == step
    else:
        assert result is None or window[result] == code


@given(at=st.integers(min_value=60, max_value=4_000_000_000))
def test_replay_property(at):
    code = totp_code_at(SECRET, at // 30)
    step = totp_check(SECRET, code, at_unix=at, last_step=0)
    assert step is not None
    assert totp_check(SECRET, code, at_unix=at, last_step=step) is None


@pytest.mark.parametrize("code", ["", "12345", "1234567", "12a456", "１２３４５６", "abcdef"])
def test_malformed_codes_are_refused(code):
    assert totp_check(SECRET, code, at_unix=1_700_000_000, last_step=0) is None


def test_spaces_inside_a_code_are_ignored():
    at = 1_700_000_000
    code = totp_code_at(SECRET, at // 30)
    assert totp_check(SECRET, f"{code[:3]} {code[3:]}", at_unix=at, last_step=0) == at // 30


# ----------------------------------------------------------------- pure: who needs it


@pytest.mark.parametrize(
    ("kind", "roles", "required"),
    [
        (UnitKind.NATIONAL, {Role.REVIEWER}, True),
        (UnitKind.PROVINCE, {Role.STATISTICIAN}, True),
        (UnitKind.CITY, {Role.REVIEWER}, True),
        (UnitKind.COUNTY, {Role.CLERK}, True),
        (UnitKind.SEPARATE, {Role.REVIEWER}, True),
        (UnitKind.SCHOOL, {Role.CLERK}, False),
        (UnitKind.SCHOOL, {Role.REVIEWER, Role.STATISTICIAN}, False),
        (UnitKind.SCHOOL, {Role.SYSTEM_ADMIN}, True),
        (UnitKind.SCHOOL, {Role.SECURITY_ADMIN}, True),
        (UnitKind.SCHOOL, {Role.AUDIT_ADMIN}, True),
        (None, set(), False),
        (None, {Role.AUDIT_ADMIN}, True),
    ],
)
def test_who_needs_a_second_factor(kind, roles, required):
    assert second_factor_rule(unit_kind=kind, roles=roles) is required


def test_pending_sign_in_lasts_five_minutes():
    assert not pending_expired(T0, T0 + timedelta(minutes=5))
    assert pending_expired(T0, T0 + timedelta(minutes=5, seconds=1))
    assert pending_expired(T0, T0 - timedelta(seconds=1))  # from the future: forged
    assert pending_expired(None, T0)


def test_recovery_codes_read_back_however_typed():
    assert recovery_code_format("ABCDE23456") == "ABCDE-23456"
    assert recovery_code_normalize(" abcde-23456 ") == "ABCDE23456"


def test_recovery_codes_are_unambiguous_and_distinct():
    codes = {twofactor.recovery_code_new() for _ in range(200)}
    assert len(codes) == 200
    assert all(len(c) == 10 and not set(c) & set("01OIL") for c in codes)


@pytest.mark.parametrize(
    ("actor_unit", "actor_kind", "target_unit", "target_kind", "ancestors", "ok"),
    [
        (1, UnitKind.PROVINCE, 3, UnitKind.COUNTY, [2, 1, 0], True),  # province above county
        (2, UnitKind.CITY, 3, UnitKind.COUNTY, [2, 1, 0], True),
        (3, UnitKind.COUNTY, 3, UnitKind.COUNTY, [2, 1, 0], False),  # same unit
        (4, UnitKind.COUNTY, 3, UnitKind.COUNTY, [2, 1, 0], False),  # sibling
        (3, UnitKind.COUNTY, 2, UnitKind.CITY, [1, 0], False),  # below the target
        (0, UnitKind.NATIONAL, 0, UnitKind.NATIONAL, [], True),  # national: another national
        (None, None, 3, UnitKind.COUNTY, [2, 1, 0], False),
    ],
)
def test_reset_needs_a_unit_strictly_above(
    actor_unit, actor_kind, target_unit, target_kind, ancestors, ok
):
    assert (
        reset_permitted(
            actor_id=10,
            actor_unit_id=actor_unit,
            actor_unit_kind=actor_kind,
            target_id=20,
            target_unit_id=target_unit,
            target_unit_kind=target_kind,
            target_ancestor_ids=ancestors,
        )
        is ok
    )


def test_a_national_account_cannot_reset_itself():
    assert not reset_permitted(
        actor_id=10,
        actor_unit_id=0,
        actor_unit_kind=UnitKind.NATIONAL,
        target_id=10,
        target_unit_id=0,
        target_unit_kind=UnitKind.NATIONAL,
        target_ancestor_ids=[],
    )


# ----------------------------------------------------------------- services: enrolment


def enrol(user, now=T0) -> tuple[str, list[str]]:
    """Enrol ``user`` through the services; returns the secret and the recovery codes."""
    enrolment = twofactor.totp_enrolment_begin(user=user, now=now)
    codes = twofactor.totp_device_confirm(user=user, code=code_at(enrolment.secret, now), now=now)
    return enrolment.secret, codes


@pytest.mark.django_db
def test_required_for_authority_accounts_and_admins(school, school_user, county_user):
    assert not twofactor.second_factor_required(school_user)
    assert twofactor.second_factor_required(county_user)
    admin = make_user(school.unit, roles=(Role.SYSTEM_ADMIN,))
    assert twofactor.second_factor_required(admin)


@pytest.mark.django_db
def test_enrolment_is_inactive_until_a_correct_code(county_user):
    # given an enrolment in progress
    enrolment = twofactor.totp_enrolment_begin(user=county_user, now=T0)
    device = TotpDevice.objects.get(user=county_user)
    assert device.confirmed_at is None
    assert not twofactor.second_factor_status(county_user).enrolled
    # when a wrong code is typed, then nothing is activated and the failure is logged
    wrong = f"{(int(code_at(enrolment.secret, T0)) + 1) % 1_000_000:06d}"
    with pytest.raises(ValidationFailed) as refused:
        twofactor.totp_device_confirm(user=county_user, code=wrong, now=T0)
    assert refused.value.errors[0].code == "second_factor.bad_code"
    device.refresh_from_db()
    assert device.confirmed_at is None
    assert not RecoveryCode.objects.filter(user=county_user).exists()
    assert LoginAttempt.objects.filter(user=county_user, reason="bad_second_factor").count() == 1
    # when the current code is typed, then the device is active with fresh recovery codes
    codes = twofactor.totp_device_confirm(
        user=county_user, code=code_at(enrolment.secret, T0), now=T0
    )
    device.refresh_from_db()
    assert device.confirmed_at == T0
    assert device.last_step == int(T0.timestamp()) // 30
    assert len(codes) == 10 and all(len(c) == 11 and c[5] == "-" for c in codes)
    assert RecoveryCode.objects.filter(user=county_user, used_at__isnull=True).count() == 10
    assert AuditEvent.objects.filter(action="account.totp_enrol", object_id=county_user.pk)


@pytest.mark.django_db
def test_the_secret_is_encrypted_at_rest(county_user):
    enrolment = twofactor.totp_enrolment_begin(user=county_user, now=T0)
    stored = TotpDevice.objects.get(user=county_user).secret
    assert enrolment.secret not in stored
    assert fieldcrypto.is_encrypted(stored)
    assert fieldcrypto.decrypt(stored, context="accounts.totp_secret") == enrolment.secret
    assert len(enrolment.secret) == 32  # 160 bits, base32


@pytest.mark.django_db
def test_recovery_codes_are_stored_hashed(county_user):
    _, codes = enrol(county_user)
    hashes = list(RecoveryCode.objects.filter(user=county_user).values_list("code_hash", flat=True))
    for code in codes:
        raw = recovery_code_normalize(code)
        assert not any(raw in h for h in hashes)


@pytest.mark.django_db
def test_a_new_enrolment_session_draws_a_new_secret(county_user):
    first = twofactor.totp_enrolment_begin(user=county_user, now=T0)
    resumed = twofactor.totp_enrolment_begin(user=county_user, now=T0, resume=first.mark)
    assert resumed.secret == first.secret
    fresh = twofactor.totp_enrolment_begin(user=county_user, now=T0 + timedelta(seconds=5))
    assert fresh.secret != first.secret
    # The abandoned secret no longer confirms anything.
    with pytest.raises(ValidationFailed):
        twofactor.totp_device_confirm(
            user=county_user, code=code_at(first.secret, T0 + timedelta(seconds=5)), now=T0
        )


@pytest.mark.django_db
def test_an_enrolled_account_cannot_start_over(county_user):
    enrol(county_user)
    with pytest.raises(Exception) as refused:
        twofactor.totp_enrolment_begin(user=county_user, now=T0)
    assert getattr(refused.value, "code", "") == "second_factor.enrolled"


# ----------------------------------------------------------------- services: verification


@pytest.mark.django_db
def test_verify_accepts_a_current_code_once(county_user):
    secret, _ = enrol(county_user, now=T0 - timedelta(minutes=10))
    now = T0
    code = code_at(secret, now)
    assert twofactor.totp_verify(user=county_user, code=code, now=now) == int(now.timestamp()) // 30
    # The same code a few seconds later, still inside its 30 s: refused and logged.
    with pytest.raises(ValidationFailed):
        twofactor.totp_verify(user=county_user, code=code, now=now + timedelta(seconds=3))
    assert LoginAttempt.objects.filter(user=county_user, reason="bad_second_factor").count() == 1
    county_user.refresh_from_db()
    assert county_user.failed_logins == 1


@pytest.mark.django_db
def test_verify_drift_of_one_step_passes_and_two_fails(county_user):
    secret, _ = enrol(county_user, now=T0 - timedelta(minutes=10))
    assert twofactor.totp_verify(user=county_user, code=code_at(secret, T0, -1), now=T0)
    with pytest.raises(ValidationFailed):
        twofactor.totp_verify(user=county_user, code=code_at(secret, T0, 2), now=T0)
    later = T0 + timedelta(minutes=2)
    assert twofactor.totp_verify(user=county_user, code=code_at(secret, later, 1), now=later)
    with pytest.raises(ValidationFailed):
        twofactor.totp_verify(user=county_user, code=code_at(secret, later, -2), now=later)


@pytest.mark.django_db
def test_an_account_without_a_device_never_passes(county_user):
    with pytest.raises(ValidationFailed):
        twofactor.totp_verify(user=county_user, code="123456", now=T0)


@pytest.mark.django_db
@override_settings(XUEJI_SECURITY={"lockout_threshold": 3, "lockout_minutes": 15})
def test_wrong_codes_lock_the_account(county_user):
    secret, _ = enrol(county_user, now=T0 - timedelta(minutes=10))
    for _ in range(3):
        with pytest.raises(ValidationFailed):
            twofactor.totp_verify(user=county_user, code="000000", now=T0)
    county_user.refresh_from_db()
    assert county_user.locked_until == T0 + timedelta(minutes=15)
    assert AuditEvent.objects.filter(action="account.lock", object_id=county_user.pk).exists()
    # Locked: even the right code is refused, and the refusal is logged.
    with pytest.raises(AccountLocked):
        twofactor.totp_verify(user=county_user, code=code_at(secret, T0), now=T0)
    assert LoginAttempt.objects.filter(user=county_user, reason="locked").exists()
    later = T0 + timedelta(minutes=16)
    assert twofactor.totp_verify(user=county_user, code=code_at(secret, later), now=later)


@pytest.mark.django_db
def test_a_recovery_code_works_once(county_user):
    _, codes = enrol(county_user, now=T0)
    assert twofactor.second_factor_verify(user=county_user, code=codes[3].lower(), now=T0) == (
        "recovery"
    )
    with pytest.raises(ValidationFailed):
        twofactor.second_factor_verify(user=county_user, code=codes[3], now=T0)
    assert RecoveryCode.objects.filter(user=county_user, used_at__isnull=True).count() == 9
    assert AuditEvent.objects.filter(action="account.recovery_code_use").count() == 1
    assert LoginAttempt.objects.filter(user=county_user, reason="bad_second_factor").count() == 1


@pytest.mark.django_db
def test_an_unknown_recovery_code_is_refused(county_user):
    enrol(county_user, now=T0)
    with pytest.raises(ValidationFailed):
        twofactor.recovery_code_use(user=county_user, code="ABCDE-FGHJK", now=T0)


@pytest.mark.django_db
def test_regenerating_recovery_codes_needs_a_current_code(county_user):
    secret, old = enrol(county_user, now=T0 - timedelta(minutes=10))
    with pytest.raises(ValidationFailed):
        twofactor.recovery_codes_regenerate(user=county_user, code="000000", now=T0)
    new = twofactor.recovery_codes_regenerate(user=county_user, code=code_at(secret, T0), now=T0)
    assert set(new).isdisjoint(old)
    with pytest.raises(ValidationFailed):
        twofactor.recovery_code_use(user=county_user, code=old[0], now=T0)
    assert twofactor.recovery_code_use(user=county_user, code=new[0], now=T0) == 9


@pytest.mark.django_db
def test_demo_install_binds_a_known_secret(county_user):
    twofactor.totp_device_install(user=county_user, secret=SECRET, now=T0)
    assert twofactor.totp_device_holds(county_user, SECRET)
    assert twofactor.totp_verify(user=county_user, code=code_at(SECRET, T0), now=T0)
    # Installing again keeps the device (and its replay guard).
    twofactor.totp_device_install(user=county_user, secret=SECRET, now=T0)
    with pytest.raises(ValidationFailed):
        twofactor.totp_verify(user=county_user, code=code_at(SECRET, T0), now=T0)


# ----------------------------------------------------------------- services: reset


def security_admin(division_code: str):
    return authority_user(division_code, roles=(Role.SECURITY_ADMIN,))


@pytest.fixture
def enrolled_county(county_user):
    enrol(county_user)
    return county_user


def refusals() -> list[str]:
    return list(
        AuditEvent.objects.filter(action="account.totp_reset_refused").values_list(
            "detail__code", flat=True
        )
    )


@pytest.mark.django_db
@pytest.mark.parametrize("above", ["440000", "440100"])
def test_security_admin_of_a_unit_above_resets(enrolled_county, above):
    actor = security_admin(above)
    twofactor.totp_reset(actor=actor, user_id=enrolled_county.pk, reason="手机丢失")
    assert not TotpDevice.objects.filter(user=enrolled_county).exists()
    assert not RecoveryCode.objects.filter(user=enrolled_county).exists()
    event = AuditEvent.objects.get(action="account.totp_reset")
    assert event.actor_id == actor.pk and event.object_id == str(enrolled_county.pk)
    assert event.detail["reason"] == "手机丢失"
    # The account enrols again at next sign-in.
    assert twofactor.second_factor_required(enrolled_county)
    assert not twofactor.second_factor_status(enrolled_county).enrolled


@pytest.mark.django_db
def test_county_security_admin_resets_a_school_account(school):
    clerk_admin = make_user(school.unit, roles=(Role.SYSTEM_ADMIN,))
    enrol(clerk_admin)
    twofactor.totp_reset(actor=security_admin("440106"), user_id=clerk_admin.pk, reason="换手机")
    assert not TotpDevice.objects.filter(user=clerk_admin).exists()


@pytest.mark.django_db
def test_security_admin_of_the_same_unit_is_refused(enrolled_county):
    with pytest.raises(Forbidden):
        twofactor.totp_reset(
            actor=security_admin("440106"), user_id=enrolled_county.pk, reason="同级"
        )
    assert TotpDevice.objects.filter(user=enrolled_county).exists()
    assert refusals() == ["forbidden"]


@pytest.mark.django_db
@pytest.mark.parametrize("elsewhere", ["440105", "510000", "510104"])
def test_security_admin_of_a_sibling_or_other_province_finds_nothing(enrolled_county, elsewhere):
    with pytest.raises(NotFound):
        twofactor.totp_reset(
            actor=security_admin(elsewhere), user_id=enrolled_county.pk, reason="越权"
        )
    assert TotpDevice.objects.filter(user=enrolled_county).exists()
    assert refusals() == ["not_found"]


@pytest.mark.django_db
@pytest.mark.parametrize("role", [Role.SYSTEM_ADMIN, Role.AUDIT_ADMIN, Role.REVIEWER])
def test_only_a_security_admin_may_reset(enrolled_county, role):
    actor = authority_user("440000", roles=(role,))
    with pytest.raises(Forbidden):
        twofactor.totp_reset(actor=actor, user_id=enrolled_county.pk, reason="无权")
    assert TotpDevice.objects.filter(user=enrolled_county).exists()
    assert refusals() == ["forbidden"]


@pytest.mark.django_db
def test_a_reset_needs_a_reason(enrolled_county):
    with pytest.raises(ValidationFailed) as refused:
        twofactor.totp_reset(actor=security_admin("440000"), user_id=enrolled_county.pk, reason=" ")
    assert refused.value.errors[0].field == "reason"
    assert TotpDevice.objects.filter(user=enrolled_county).exists()
    assert refusals() == ["validation_failed"]


@pytest.mark.django_db
def test_a_missing_account_reads_as_not_found():
    with pytest.raises(NotFound):
        twofactor.totp_reset(actor=security_admin("440000"), user_id=987654, reason="不存在")


@pytest.mark.django_db
def test_national_accounts_are_reset_by_another_national_security_admin(national_user):
    enrol(national_user)
    nation = unit_ensure_national()
    actor = make_user(nation, roles=(Role.SECURITY_ADMIN,))
    with pytest.raises(Forbidden):
        twofactor.totp_reset(actor=actor, user_id=actor.pk, reason="自己")
    with pytest.raises(NotFound):
        twofactor.totp_reset(
            actor=security_admin("440000"), user_id=national_user.pk, reason="下级"
        )
    twofactor.totp_reset(actor=actor, user_id=national_user.pk, reason="更换设备")
    assert not TotpDevice.objects.filter(user=national_user).exists()


@pytest.mark.django_db
def test_reset_does_not_touch_other_accounts(enrolled_county):
    other = authority_user("440106")
    enrol(other)
    twofactor.totp_reset(actor=security_admin("440000"), user_id=enrolled_county.pk, reason="丢失")
    assert TotpDevice.objects.filter(user=other).exists()
    assert RecoveryCode.objects.filter(user=other).count() == 10


@pytest.mark.django_db
def test_unit_ancestry_walks_to_the_nation():
    county = unit_ensure_for_division(division_code="440106")
    ancestors = twofactor._unit_ancestor_ids(county.pk)
    assert ancestors[-1] == unit_ensure_national().pk
    assert len(ancestors) == 3
    assert User.objects.count() == 0
