"""The security page: what a security admin sees in its subtree, and its unseal and unlock
actions."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.test import Client

from tests.factories import authority_user, make_user
from xueji import clock
from xueji.accounts.models import LoginAttempt, Role, TotpDevice, User
from xueji.accounts.selectors import security_overview
from xueji.accounts.twofactor import second_factor_required
from xueji.audit.events import AuditAction, ObjectType
from xueji.audit.services import audit_record

SEC = Role.SECURITY_ADMIN


@pytest.fixture
def county_security(db):
    return authority_user("440106", roles=(SEC,))


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def ids(qs) -> set[int]:
    return set(qs.values_list("pk", flat=True))


def test_each_list_holds_the_right_accounts_of_the_subtree(county_security, school, other_school):
    now = clock.now()
    locked = make_user(school.unit)
    User.objects.filter(pk=locked.pk).update(locked_until=now + timedelta(minutes=10))
    lock_over = make_user(school.unit)
    User.objects.filter(pk=lock_over.pk).update(locked_until=now - timedelta(minutes=1))
    sealed = make_user(school.unit)
    User.objects.filter(pk=sealed.pk).update(sealed_at=now, sealed_reason="x")
    disabled = make_user(school.unit)
    User.objects.filter(pk=disabled.pk).update(is_active=False, disabled_at=now)
    # 90-day passwords, 14 days' warning: changed 76 days ago is due soon, 75 is not yet.
    due_soon = make_user(school.unit)
    User.objects.filter(pk=due_soon.pk).update(password_changed_at=now - timedelta(days=76))
    not_yet = make_user(school.unit)
    User.objects.filter(pk=not_yet.pk).update(password_changed_at=now - timedelta(days=75))
    untrained = make_user(school.unit, in_service=False)
    User.objects.filter(pk=untrained.pk).update(password_changed_at=now)
    elsewhere = make_user(other_school.unit)
    User.objects.filter(pk=elsewhere.pk).update(
        locked_until=now + timedelta(minutes=10), sealed_at=now
    )

    overview = security_overview(county_security, now=now)
    assert ids(overview.locked) == {locked.pk}
    assert ids(overview.sealed) == {sealed.pk}
    assert ids(overview.disabled) == {disabled.pk}
    expiring = ids(overview.password_expiring)
    assert due_soon.pk in expiring and not_yet.pk not in expiring
    assert ids(overview.untrained) == {untrained.pk}
    everything = set().union(
        *(ids(getattr(overview, f)) for f in ("locked", "sealed", "disabled", "untrained"))
    )
    assert elsewhere.pk not in everything | expiring


def test_second_factor_list_matches_the_two_factor_rule(county_security, school):
    """The set-based query gives the same answer as twofactor.second_factor_required."""
    accounts = [
        make_user(school.unit),  # a school clerk: not required
        make_user(school.unit, roles=(Role.SYSTEM_ADMIN,)),  # an admin: required
        authority_user("440106"),  # above school level: required
        authority_user("440106", roles=(Role.AUDIT_ADMIN,)),
    ]
    enrolled = authority_user("440106")
    TotpDevice.objects.create(
        user=enrolled, secret="x", confirmed_at=clock.now(), created_at=clock.now()
    )
    pending = authority_user("440106")
    TotpDevice.objects.create(user=pending, secret="x", created_at=clock.now())
    listed = ids(security_overview(county_security).without_second_factor)
    for user in [*accounts, pending, county_security]:
        user = User.objects.select_related("unit").get(pk=user.pk)
        assert (user.pk in listed) is second_factor_required(user), user.role_set
    assert enrolled.pk not in listed


def test_page_shows_counts_and_action_links_where_the_admin_may_act(county_security, school):
    now = clock.now()
    sealed_below = make_user(school.unit, username="sealed-below")
    sealed_here = authority_user("440106")
    User.objects.filter(pk__in=[sealed_below.pk, sealed_here.pk]).update(
        sealed_at=now, sealed_reason="超过六个月未使用，自动封存"
    )
    locked = make_user(school.unit, username="locked-one")
    User.objects.filter(pk=locked.pk).update(locked_until=now + timedelta(minutes=5))
    LoginAttempt.objects.create(
        username="locked-one", user=locked, at=now, success=False, reason="bad_password"
    )
    with transaction.atomic():
        audit_record(
            actor=None,
            action=AuditAction.ACCOUNT_LOCK,
            object_type=ObjectType.USER,
            object_id=locked.pk,
            summary="锁定账号 locked-one 至 12:00",
        )
    response = client_for(county_security).get("/accounts/security/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "锁定账号 locked-one 至 12:00" in body
    assert f"/accounts/security/{sealed_below.pk}/unseal/" in body
    # An account of its own unit is for the security admin above.
    assert f"/accounts/security/{sealed_here.pk}/unseal/" not in body
    assert f"/accounts/security/{locked.pk}/unlock/" in body
    assert f"/accounts/{locked.pk}/second-factor/reset/" in body
    assert "bad_password" in body


def test_page_is_for_security_admins_only(school_user, county_user):
    system_admin = authority_user("440106", roles=(Role.SYSTEM_ADMIN,))
    for user in (school_user, county_user, system_admin):
        assert client_for(user).get("/accounts/security/").status_code == 403


def test_unseal_through_the_page(county_security, school):
    clerk = make_user(school.unit)
    User.objects.filter(pk=clerk.pk).update(sealed_at=clock.now(), sealed_reason="x")
    client = client_for(county_security)
    url = f"/accounts/security/{clerk.pk}/unseal/"
    assert client.get(url).status_code == 200
    missing = client.post(url, {"reason": ""})
    assert missing.status_code == 200 and "请填写原因" in missing.content.decode()
    done = client.post(url, {"reason": "核实返岗"})
    assert done.status_code == 302 and done["Location"] == "/accounts/security/"
    assert User.objects.get(pk=clerk.pk).sealed_at is None


def test_unlock_through_the_page_and_the_sibling_gets_404(county_security, school):
    clerk = make_user(school.unit)
    User.objects.filter(pk=clerk.pk).update(locked_until=clock.now() + timedelta(minutes=5))
    sibling = authority_user("440104", roles=(SEC,))
    assert client_for(sibling).get(f"/accounts/security/{clerk.pk}/unlock/").status_code == 404
    response = client_for(county_security).post(
        f"/accounts/security/{clerk.pk}/unlock/", {"reason": "本人来电"}
    )
    assert response.status_code == 302
    assert User.objects.get(pk=clerk.pk).locked_until is None


def test_unseal_over_the_api(county_security, school):
    clerk = make_user(school.unit)
    User.objects.filter(pk=clerk.pk).update(sealed_at=clock.now(), sealed_reason="x")
    client = client_for(county_security)
    refused = client.post(
        f"/api/accounts/{clerk.pk}/unseal", {"reason": ""}, content_type="application/json"
    )
    assert refused.status_code == 422
    response = client.post(
        f"/api/accounts/{clerk.pk}/unseal", {"reason": "核实"}, content_type="application/json"
    )
    assert response.status_code == 200 and response.json()["sealed_at"] is None
