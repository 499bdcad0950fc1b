"""Account administration services: create, roles, disable/enable, password reset, unlock,
API tokens. Every refusal answers with the right error and leaves an audit event."""

from datetime import timedelta

import pytest
from django.contrib.auth import authenticate

from tests.factories import PASSWORD, SchoolFactory, authority_user, make_user
from xueji import clock
from xueji.accounts.models import ApiToken, Role, User
from xueji.accounts.services import (
    account_create,
    account_disable,
    account_enable,
    account_password_reset,
    account_token_issue,
    account_token_revoke,
    account_unlock,
    account_update_roles,
    unit_for_code,
    user_create,
)
from xueji.accounts.tokens import TokenRefused, api_token_authenticate
from xueji.audit.models import AuditEvent
from xueji.errors import Conflict, Forbidden, NotFound, ValidationFailed

SYS = Role.SYSTEM_ADMIN
SEC = Role.SECURITY_ADMIN
AUD = Role.AUDIT_ADMIN


@pytest.fixture
def county_admin(db):
    """The system admin of 天河区 (440106)."""
    return authority_user("440106", roles=(SYS,))


@pytest.fixture
def province_admin(db):
    return authority_user("440000", roles=(SYS,))


def refusals(actor) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action="account.refused", actor_id=actor.pk))


def codes(error: ValidationFailed) -> set[str]:
    return {e.code for e in error.errors}


# ---------------------------------------------------------------- account_create


def test_county_admin_creates_a_school_clerk_who_must_change_the_first_password(
    county_admin, school
):
    created = account_create(
        actor=county_admin,
        unit_code=school.code,
        username="new-clerk",
        roles=[Role.CLERK],
        full_name=" 李老师 ",
        phone="13800138000",
    )
    user = User.objects.get(pk=created.user.pk)
    assert user.unit == school.unit
    assert user.role_set == {Role.CLERK}
    assert user.must_change_password is True
    assert user.full_name == "李老师"
    assert created.initial_password and user.check_password(created.initial_password)
    event = AuditEvent.objects.get(action="account.create", object_id=str(user.pk))
    assert event.actor_id == county_admin.pk
    assert created.initial_password not in str(event.detail)


def test_a_chosen_first_password_is_used_and_not_echoed(county_admin, school):
    created = account_create(
        actor=county_admin,
        unit_code="",
        username="county-reviewer",
        roles=[Role.REVIEWER],
        password="Chosen-Passw0rd-2026",
    )
    assert created.initial_password == ""
    assert created.user.unit == county_admin.unit
    assert created.user.check_password("Chosen-Passw0rd-2026")


def test_admin_duties_are_granted_strictly_below(county_admin, school):
    created = account_create(
        actor=county_admin, unit_code=school.code, username="school-sec", roles=[SEC]
    )
    assert created.user.role_set == {SEC}
    with pytest.raises(ValidationFailed) as refused:
        account_create(actor=county_admin, unit_code="", username="peer-sys", roles=[SYS])
    assert codes(refused.value) == {"grant.admin_not_below"}
    assert not User.objects.filter(username="peer-sys").exists()
    [event] = refusals(county_admin)
    assert event.detail["attempted"] == "account.create"
    assert event.detail["reasons"] == ["grant.admin_not_below"]


@pytest.mark.parametrize("unit_code", ["440100", "440000", "440104", "510104"])
def test_no_account_above_or_beside_the_admins_unit(county_admin, unit_code):
    with pytest.raises(NotFound):
        account_create(
            actor=county_admin, unit_code=unit_code, username="x-" + unit_code, roles=["clerk"]
        )
    assert not User.objects.filter(username="x-" + unit_code).exists()
    assert refusals(county_admin)[0].detail["unit_code"] == unit_code


def test_a_school_outside_the_subtree_is_not_found(county_admin, other_school):
    with pytest.raises(NotFound):
        account_create(
            actor=county_admin, unit_code=other_school.code, username="far", roles=["clerk"]
        )
    assert len(refusals(county_admin)) == 1


def test_a_malformed_unit_code_is_a_field_error(county_admin, province_admin):
    with pytest.raises(ValidationFailed) as refused:
        account_create(actor=county_admin, unit_code="44-01", username="x", roles=["clerk"])
    assert codes(refused.value) == {"unit.code_format"}
    assert len(refusals(county_admin)) == 1
    with pytest.raises(ValidationFailed) as refused:
        account_create(actor=province_admin, unit_code="449999", username="x", roles=["clerk"])
    assert {e.field for e in refused.value.errors} == {"unit_code"}


@pytest.mark.parametrize(
    ("roles", "code"),
    [
        ([SYS, SEC], "role.two_admin_duties"),
        ([SEC, AUD], "role.two_admin_duties"),
        ([AUD, Role.STATISTICIAN], "role.admin_with_work"),
        ([], "role.empty"),
        (["king"], "role.unknown"),
    ],
)
def test_role_sets_breaking_the_separation_are_refused(province_admin, roles, code):
    with pytest.raises(ValidationFailed) as refused:
        account_create(actor=province_admin, unit_code="440106", username="bad", roles=roles)
    assert codes(refused.value) == {code}
    assert not User.objects.filter(username="bad").exists()
    assert len(refusals(province_admin)) == 1


def test_user_create_itself_refuses_two_admin_duties(db, school):
    """The operator command and the fixtures go through user_create: the rule holds there too."""
    with pytest.raises(ValidationFailed) as refused:
        user_create(
            actor=None,
            unit=school.unit,
            username="both",
            password=PASSWORD,
            roles=[SYS, AUD],
        )
    assert codes(refused.value) == {"role.two_admin_duties"}


def test_only_a_system_admin_creates_accounts(db, school):
    for role in (SEC, AUD):
        actor = authority_user("440106", roles=(role,))
        with pytest.raises(Forbidden):
            account_create(actor=actor, unit_code=school.code, username="n", roles=["clerk"])
        assert refusals(actor)[0].detail["reasons"] == ["admin.duty_missing"]
    reviewer = authority_user("440106")
    with pytest.raises(Forbidden):
        account_create(actor=reviewer, unit_code=school.code, username="n", roles=["clerk"])
    assert not User.objects.filter(username="n").exists()


def test_a_taken_user_name_is_refused_and_recorded(county_admin, school_user, school):
    with pytest.raises(ValidationFailed) as refused:
        account_create(actor=county_admin, unit_code=school.code, username="clerk", roles=["clerk"])
    assert codes(refused.value) == {"username.taken"}
    assert len(refusals(county_admin)) == 1


def test_unit_codes_name_authorities_schools_and_the_own_unit(province_admin, school):
    assert unit_for_code(actor=province_admin, unit_code="") == province_admin.unit
    county = unit_for_code(actor=province_admin, unit_code="440106")
    assert county.kind == "county" and county.division_code == "440106"
    assert unit_for_code(actor=province_admin, unit_code=school.code) == school.unit
    with pytest.raises(NotFound):
        unit_for_code(actor=province_admin, unit_code="99")


# ---------------------------------------------------------------- account_update_roles


def test_roles_are_replaced_and_audited(county_admin, school_user):
    account_update_roles(
        actor=county_admin, user_id=school_user.pk, roles=[Role.CLERK, Role.STATISTICIAN]
    )
    school_user = User.objects.get(pk=school_user.pk)
    assert school_user.role_set == {Role.CLERK, Role.STATISTICIAN}
    event = AuditEvent.objects.get(action="account.roles")
    assert event.detail == {"before": ["clerk"], "after": ["clerk", "statistician"]}


def test_no_admin_changes_its_own_roles(county_admin):
    with pytest.raises(Forbidden) as refused:
        account_update_roles(actor=county_admin, user_id=county_admin.pk, roles=[SYS, SEC])
    assert refused.value.detail["reason"] == "admin.self"
    assert User.objects.get(pk=county_admin.pk).role_set == {SYS}
    assert refusals(county_admin)[0].detail["reasons"] == ["admin.self"]


def test_a_peer_admin_cannot_be_changed(county_admin):
    peer = authority_user("440106", roles=(AUD,))
    with pytest.raises(Forbidden) as refused:
        account_update_roles(actor=county_admin, user_id=peer.pk, roles=[Role.REVIEWER])
    assert refused.value.detail["reason"] == "admin.peer_admin"


def test_a_role_the_admin_cannot_grant_is_refused(county_admin):
    reviewer = authority_user("440106")
    with pytest.raises(ValidationFailed) as refused:
        account_update_roles(actor=county_admin, user_id=reviewer.pk, roles=[SEC])
    assert codes(refused.value) == {"grant.admin_not_below"}
    assert User.objects.get(pk=reviewer.pk).role_set == {Role.REVIEWER}


def test_accounts_outside_the_subtree_are_not_found(county_admin, other_school_user):
    city = authority_user("440100")
    for target in (other_school_user, city):
        with pytest.raises(NotFound):
            account_update_roles(actor=county_admin, user_id=target.pk, roles=["reviewer"])
    with pytest.raises(NotFound):
        account_update_roles(actor=county_admin, user_id=987654, roles=["reviewer"])
    assert len(refusals(county_admin)) == 3


def test_a_school_admin_manages_only_its_school(db, school):
    school_admin = make_user(school.unit, roles=(SYS,))
    neighbour = make_user(SchoolFactory(division_code="440106").unit)
    with pytest.raises(NotFound):
        account_update_roles(actor=school_admin, user_id=neighbour.pk, roles=["reviewer"])
    colleague = make_user(school.unit)
    account_update_roles(actor=school_admin, user_id=colleague.pk, roles=["statistician"])


# ---------------------------------------------------------------- disable / enable


def test_disabling_needs_a_reason_and_ends_the_account(county_admin, school_user):
    with pytest.raises(ValidationFailed) as refused:
        account_disable(actor=county_admin, user_id=school_user.pk, reason="  ")
    assert codes(refused.value) == {"reason.missing"}
    assert refusals(county_admin)[0].detail["attempted"] == "account.disable"

    account_disable(actor=county_admin, user_id=school_user.pk, reason="调离岗位")
    user = User.objects.get(pk=school_user.pk)
    assert not user.is_active and user.disabled_at is not None
    assert user.disabled_reason == "调离岗位"
    assert authenticate(username="clerk", password=PASSWORD) is None
    assert AuditEvent.objects.get(action="account.disable").detail == {"reason": "调离岗位"}
    with pytest.raises(Conflict):
        account_disable(actor=county_admin, user_id=school_user.pk, reason="again")


def test_enabling_reopens_and_a_dormant_account_comes_back_sealed(county_admin, school_user):
    with pytest.raises(Conflict):
        account_enable(actor=county_admin, user_id=school_user.pk)
    account_disable(actor=county_admin, user_id=school_user.pk, reason="休假")
    user = account_enable(actor=county_admin, user_id=school_user.pk, reason="返岗")
    assert user.is_active and user.disabled_at is None and user.sealed_at is None

    account_disable(actor=county_admin, user_id=school_user.pk, reason="长期离岗")
    User.objects.filter(pk=school_user.pk).update(last_seen_at=clock.now() - timedelta(days=400))
    user = account_enable(actor=county_admin, user_id=school_user.pk)
    assert user.is_active and user.sealed_at is not None
    assert AuditEvent.objects.filter(action="account.seal", object_id=str(user.pk)).exists()


# ---------------------------------------------------------------- password reset


def test_password_reset_gives_a_temporary_password_to_change(county_admin, school_user):
    temporary = account_password_reset(actor=county_admin, user_id=school_user.pk)
    user = User.objects.get(pk=school_user.pk)
    assert user.check_password(temporary) and not user.check_password(PASSWORD)
    assert user.must_change_password is True
    event = AuditEvent.objects.get(action="account.password_reset")
    assert event.actor_id == county_admin.pk and temporary not in str(event.detail)


def test_password_reset_is_the_system_admins(db, school_user):
    security = authority_user("440106", roles=(SEC,))
    with pytest.raises(Forbidden):
        account_password_reset(actor=security, user_id=school_user.pk)
    assert User.objects.get(pk=school_user.pk).check_password(PASSWORD)


def test_password_reset_out_of_subtree_is_not_found(county_admin, other_school_user):
    with pytest.raises(NotFound):
        account_password_reset(actor=county_admin, user_id=other_school_user.pk)


# ---------------------------------------------------------------- unlock


def _lock(user):
    User.objects.filter(pk=user.pk).update(
        failed_logins=5, locked_until=clock.now() + timedelta(minutes=15)
    )


def test_a_security_admin_above_unlocks(db, school_user):
    _lock(school_user)
    security = authority_user("440106", roles=(SEC,))
    account_unlock(actor=security, user_id=school_user.pk, reason="本人来电核实")
    user = User.objects.get(pk=school_user.pk)
    assert user.locked_until is None and user.failed_logins == 0
    with pytest.raises(Conflict):
        account_unlock(actor=security, user_id=school_user.pk, reason="again")


def test_unlock_by_the_same_units_security_admin_is_refused(db, school, school_user):
    _lock(school_user)
    same_unit = make_user(school.unit, roles=(SEC,))
    with pytest.raises(Forbidden) as refused:
        account_unlock(actor=same_unit, user_id=school_user.pk, reason="x")
    assert refused.value.detail["reason"] == "admin.not_above"
    assert refusals(same_unit)


# ---------------------------------------------------------------- API tokens


def test_a_token_issued_to_a_clerk_works_until_revoked(county_admin, school_user):
    issued = account_token_issue(
        actor=county_admin,
        user_id=school_user.pk,
        name="区数据交换",
        expires_at=clock.now() + timedelta(days=30),
        rate_per_minute=30,
    )
    token = ApiToken.objects.get(pk=issued.token.pk)
    assert token.rate_per_minute == 30
    assert issued.secret not in token.key_hash
    assert api_token_authenticate(issued.secret) == school_user
    # The holder sees and revokes its own token.
    account_token_revoke(actor=school_user, token_id=token.pk)
    with pytest.raises(TokenRefused):
        api_token_authenticate(issued.secret)
    with pytest.raises(Conflict):
        account_token_revoke(actor=school_user, token_id=token.pk)
    assert AuditEvent.objects.filter(action="api_token.revoke").count() == 1


@pytest.mark.parametrize(
    ("expires_in", "code"),
    [(None, "token.expiry_missing"), (timedelta(days=366), "token.expiry_too_far")],
)
def test_token_expiry_is_required_and_at_most_a_year(county_admin, school_user, expires_in, code):
    with pytest.raises(ValidationFailed) as refused:
        account_token_issue(
            actor=county_admin,
            user_id=school_user.pk,
            name="x",
            expires_at=clock.now() + expires_in if expires_in else None,
        )
    assert codes(refused.value) == {code}
    assert not ApiToken.objects.exists()
    assert refusals(county_admin)


def test_no_token_for_admins_nor_oneself(county_admin, school):
    school_admin = make_user(school.unit, roles=(AUD,))
    later = clock.now() + timedelta(days=30)
    with pytest.raises(Forbidden) as refused:
        account_token_issue(actor=county_admin, user_id=school_admin.pk, name="x", expires_at=later)
    assert refused.value.detail["reason"] == "token.admin_account"
    with pytest.raises(Forbidden):
        account_token_issue(actor=county_admin, user_id=county_admin.pk, name="x", expires_at=later)
    assert not ApiToken.objects.exists()


def test_tokens_are_revoked_by_the_holder_or_an_admin_above_only(
    county_admin, school, school_user, other_school_user
):
    issued = account_token_issue(
        actor=county_admin,
        user_id=school_user.pk,
        name="x",
        expires_at=clock.now() + timedelta(days=30),
    )
    colleague = make_user(school.unit)
    for stranger in (colleague, other_school_user, authority_user("510104", roles=(SYS,))):
        with pytest.raises(NotFound):
            account_token_revoke(actor=stranger, token_id=issued.token.pk)
    account_token_revoke(actor=county_admin, token_id=issued.token.pk)
    assert ApiToken.objects.get(pk=issued.token.pk).revoked_at is not None
