"""Dormant sealing (封存): the daily sweep, its command and task, and unsealing by a
security admin above."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django_tasks import TaskResultStatus

from tests.factories import SchoolFactory, authority_user, make_user
from xueji import clock
from xueji.accounts.models import Role, User
from xueji.accounts.rules import DORMANT_SEAL_REASON
from xueji.accounts.services import account_seal_dormant, account_token_issue, account_unseal
from xueji.accounts.tasks import seal_dormant_accounts
from xueji.accounts.tokens import TokenRefused, api_token_authenticate
from xueji.audit.models import AuditEvent
from xueji.errors import Conflict, Forbidden, NotFound, ValidationFailed

SEC = Role.SECURITY_ADMIN


def last_used(user, ago: timedelta) -> None:
    User.objects.filter(pk=user.pk).update(last_seen_at=clock.now() - ago)


def sealed_ids() -> set[int]:
    return set(User.objects.filter(sealed_at__isnull=False).values_list("pk", flat=True))


# ---------------------------------------------------------------- the sweep


def test_sealing_boundary_is_exactly_policy_dormant_days(db, school):
    now = clock.now()
    exactly = make_user(school.unit)
    beyond = make_user(school.unit)
    User.objects.filter(pk=exactly.pk).update(last_seen_at=now - timedelta(days=183))
    User.objects.filter(pk=beyond.pk).update(last_seen_at=now - timedelta(days=183, seconds=1))
    assert account_seal_dormant(now=now) == 1
    assert sealed_ids() == {beyond.pk}
    user = User.objects.get(pk=beyond.pk)
    assert user.sealed_at == now and user.sealed_reason == DORMANT_SEAL_REASON


def test_never_used_accounts_count_from_their_creation(db, school):
    never = make_user(school.unit, in_service=False)
    User.objects.filter(pk=never.pk).update(
        last_seen_at=None, date_joined=clock.now() - timedelta(days=200)
    )
    fresh = make_user(school.unit, in_service=False)
    User.objects.filter(pk=fresh.pk).update(last_seen_at=None)
    assert account_seal_dormant() == 1
    assert sealed_ids() == {never.pk}


def test_disabled_and_already_sealed_accounts_are_left_alone(db, school):
    old = clock.now() - timedelta(days=400)
    disabled = make_user(school.unit)
    User.objects.filter(pk=disabled.pk).update(last_seen_at=old, is_active=False)
    sealed = make_user(school.unit)
    User.objects.filter(pk=sealed.pk).update(
        last_seen_at=old, sealed_at=old, sealed_reason="人工封存"
    )
    assert account_seal_dormant() == 0
    assert User.objects.get(pk=sealed.pk).sealed_reason == "人工封存"
    assert not User.objects.get(pk=disabled.pk).sealed_at


@override_settings(XUEJI_SECURITY={"dormant_days": 30})
def test_the_limit_comes_from_the_policy(db, school):
    user = make_user(school.unit)
    last_used(user, timedelta(days=31))
    assert account_seal_dormant() == 1


def test_each_sealed_account_is_audited_by_the_job(db, school):
    users = [make_user(school.unit) for _ in range(3)]
    for user in users:
        last_used(user, timedelta(days=190))
    account_seal_dormant()
    events = AuditEvent.objects.filter(action="account.seal")
    assert {e.object_id for e in events} == {str(u.pk) for u in users}
    assert {e.actor_username for e in events} == {"system:seal_dormant_accounts"}
    assert all(e.detail["reason"] == DORMANT_SEAL_REASON for e in events)


def test_the_sweep_is_set_based(db, school):
    """The same number of queries for 2 accounts as for 12: one UPDATE, one read, one
    bulk insert of audit rows."""

    def sweep(n: int) -> int:
        for _ in range(n):
            last_used(make_user(school.unit), timedelta(days=200))
        with CaptureQueriesContext(connection) as queries:
            assert account_seal_dormant() == n
        return len(queries)

    assert sweep(2) == sweep(12)


def test_command_prints_counts_and_dry_run_changes_nothing(db, school):
    user = make_user(school.unit)
    last_used(user, timedelta(days=200))
    out = StringIO()
    call_command("seal_dormant_accounts", "--dry-run", stdout=out)
    assert "1" in out.getvalue() and "试运行" in out.getvalue()
    assert sealed_ids() == set()
    out = StringIO()
    call_command("seal_dormant_accounts", stdout=out)
    assert "已封存 1 个" in out.getvalue()
    assert sealed_ids() == {user.pk}
    event = AuditEvent.objects.get(action="account.seal")
    assert event.channel == "cli" and event.request_id


def test_task_wraps_the_same_service(db, school):
    user = make_user(school.unit)
    last_used(user, timedelta(days=200))
    result = seal_dormant_accounts.enqueue()
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == 1
    assert sealed_ids() == {user.pk}


def test_a_sealed_accounts_token_is_refused(db, school_user):
    admin = authority_user("440106", roles=(Role.SYSTEM_ADMIN,))
    issued = account_token_issue(
        actor=admin, user_id=school_user.pk, name="x", expires_at=clock.now() + timedelta(days=9)
    )
    last_used(school_user, timedelta(days=200))
    account_seal_dormant()
    with pytest.raises(TokenRefused):
        api_token_authenticate(issued.secret)


# ---------------------------------------------------------------- unsealing


@pytest.fixture
def sealed_clerk(school_user):
    last_used(school_user, timedelta(days=200))
    account_seal_dormant()
    return User.objects.get(pk=school_user.pk)


def test_a_security_admin_above_unseals_with_a_reason(db, sealed_clerk):
    county_security = authority_user("440106", roles=(SEC,))
    account_unseal(actor=county_security, user_id=sealed_clerk.pk, reason="本人返岗，已核实")
    user = User.objects.get(pk=sealed_clerk.pk)
    assert user.sealed_at is None and user.sealed_reason == ""
    # Counted as used now: the next sweep leaves it.
    assert user.last_seen_at is not None
    assert clock.now() - user.last_seen_at < timedelta(minutes=1)
    assert account_seal_dormant() == 0
    event = AuditEvent.objects.get(action="account.unseal")
    assert event.detail["reason"] == "本人返岗，已核实"
    assert event.detail["was"]["reason"] == DORMANT_SEAL_REASON
    with pytest.raises(Conflict):
        account_unseal(actor=county_security, user_id=sealed_clerk.pk, reason="again")


def test_a_province_security_admin_unseals_too(db, sealed_clerk):
    province_security = authority_user("440000", roles=(SEC,))
    account_unseal(actor=province_security, user_id=sealed_clerk.pk, reason="核实")
    sealed_clerk.refresh_from_db()
    assert sealed_clerk.sealed_at is None and sealed_clerk.sealed_reason == ""
    event = AuditEvent.objects.get(action="account.unseal")
    assert event.actor_id == province_security.pk


def test_unseal_by_a_sibling_units_security_admin_is_not_found(db, sealed_clerk):
    for code in ("440104", "510104"):
        sibling = authority_user(code, roles=(SEC,))
        with pytest.raises(NotFound):
            account_unseal(actor=sibling, user_id=sealed_clerk.pk, reason="x")
        assert AuditEvent.objects.filter(action="account.refused", actor_id=sibling.pk).exists()
    neighbour_school = SchoolFactory(division_code="440106")
    with pytest.raises(NotFound):
        account_unseal(
            actor=make_user(neighbour_school.unit, roles=(SEC,)),
            user_id=sealed_clerk.pk,
            reason="x",
        )
    assert User.objects.get(pk=sealed_clerk.pk).sealed_at is not None


def test_unseal_by_the_same_units_security_admin_is_forbidden(db, school, sealed_clerk):
    same = make_user(school.unit, roles=(SEC,))
    with pytest.raises(Forbidden) as refused:
        account_unseal(actor=same, user_id=sealed_clerk.pk, reason="x")
    assert refused.value.detail["reason"] == "admin.not_above"


def test_unseal_needs_the_security_duty_and_a_reason(db, sealed_clerk):
    system_admin = authority_user("440106", roles=(Role.SYSTEM_ADMIN,))
    with pytest.raises(Forbidden):
        account_unseal(actor=system_admin, user_id=sealed_clerk.pk, reason="x")
    security = authority_user("440106", roles=(SEC,))
    with pytest.raises(ValidationFailed) as refused:
        account_unseal(actor=security, user_id=sealed_clerk.pk, reason=" ")
    assert {e.code for e in refused.value.errors} == {"reason.missing"}
    assert AuditEvent.objects.filter(action="account.refused").count() == 2
    assert User.objects.get(pk=sealed_clerk.pk).sealed_at is not None


def test_no_security_admin_unseals_itself(db):
    security = authority_user("440106", roles=(SEC,))
    User.objects.filter(pk=security.pk).update(sealed_at=clock.now(), sealed_reason="x")
    security.refresh_from_db()
    with pytest.raises(Forbidden) as refused:
        account_unseal(actor=security, user_id=security.pk, reason="x")
    assert refused.value.detail["reason"] == "admin.self"
