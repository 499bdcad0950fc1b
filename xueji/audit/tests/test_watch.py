"""Security warning rules: each fires at its threshold and not one below; rule sets per
province; evaluation is idempotent and moves its watermark."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import transaction

from tests import factories
from xueji.accounts.models import LoginAttempt, Role
from xueji.accounts.services import unit_ensure_national
from xueji.audit.chain import append_raw
from xueji.audit.models import AuditEvent, EarlyWarning, WarningRole, WarningRuleSet
from xueji.audit.watch import warnings_evaluate
from xueji.audit.watch_rules import (
    DEFAULT_WATCH_RULES,
    RuleOverrideError,
    WatchRule,
    effective_watch_rules,
    is_off_hours,
    network_of,
    validate_watch_overrides,
    window_start,
)

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
# Tuesday 10:05 local time: a working day in working hours (weekday fallback without a calendar).
T0 = datetime(2026, 3, 3, 10, 5, tzinfo=SHANGHAI)
NOW = T0 + timedelta(minutes=20)
SINCE = T0 - timedelta(minutes=5)
T0_SIGN = datetime(2026, 3, 3, 10, 1, tzinfo=SHANGHAI)


def _events(user, action, n, *, at=T0, object_ids=None, detail=None, ip="10.1.2.3"):
    rows = [
        AuditEvent(
            at=at + timedelta(seconds=i),
            actor_id=user.pk if user else None,
            actor_username=user.username if user else "",
            unit_id=user.unit_id if user else None,
            action=action,
            object_type="students.student",
            object_id=str(object_ids[i] if object_ids else 1000 + i),
            detail=detail or {},
            ip=ip,
        )
        for i in range(n)
    ]
    with transaction.atomic():
        append_raw("default", rows)


def _attempts(n, *, user=None, username=None, reason="bad_password", ip="10.9.9.9", at=T0):
    LoginAttempt.objects.bulk_create(
        [
            LoginAttempt(
                username=username or (user.username if user else "nobody"),
                user=user,
                at=at + timedelta(seconds=i),
                ip=ip,
                success=reason == "ok",
                reason=reason,
            )
            for i in range(n)
        ]
    )


def _threshold(rule: str, threshold: int, province: str = "", **more):
    version = WarningRuleSet.objects.filter(province_code=province).count() + 1
    WarningRuleSet.objects.create(
        province_code=province,
        version=version,
        effective_from=T0 - timedelta(days=30),
        rules={rule: {"threshold": threshold, **more}},
        created_at=T0 - timedelta(days=30),
    )


def _evaluate():
    return warnings_evaluate(now=NOW, since=SINCE)


def _kinds(kind):
    return list(
        EarlyWarning.objects.filter(kind=f"security.{kind}")
        .order_by("role", "pk")
        .values_list("role", "unit_id", "subject_id")
    )


# ----------------------------------------------------------------- pure rules


def test_province_layer_overrides_one_key_of_the_national_layer():
    rules = effective_watch_rules(
        national={"bulk_reads": {"threshold": 100}},
        province={"bulk_reads": {"window_minutes": 30}},
    )
    assert rules["bulk_reads"].threshold == 100
    assert rules["bulk_reads"].window_minutes == 30
    assert rules["exports"] == DEFAULT_WATCH_RULES["exports"]


@pytest.mark.parametrize(
    "overrides",
    [
        {"nope": {"threshold": 1}},
        {"bulk_reads": {"threshold": 0}},
        {"bulk_reads": {"threshold": True}},
        {"bulk_reads": {"window_minutes": 99999}},
        {"bulk_reads": {"colour": 1}},
        {"off_hours": {"work_start": "8点"}},
        {"exports": {"enabled": "yes"}},
    ],
)
def test_bad_overrides_are_refused_naming_the_rule(overrides):
    with pytest.raises(RuleOverrideError) as error:
        validate_watch_overrides(overrides)
    assert error.value.path.split(".")[0] == next(iter(overrides))


def test_windows_align_to_local_time():
    at = datetime(2026, 3, 3, 10, 47, tzinfo=SHANGHAI)
    assert window_start(at, 60) == datetime(2026, 3, 3, 10, 0, tzinfo=SHANGHAI)
    assert window_start(at, 1440) == datetime(2026, 3, 3, 0, 0, tzinfo=SHANGHAI)
    assert window_start(at, 15) == datetime(2026, 3, 3, 10, 45, tzinfo=SHANGHAI)


def test_off_hours_and_networks():
    rule = DEFAULT_WATCH_RULES["off_hours"]
    assert not is_off_hours(datetime(2026, 3, 3, 8, 0), workday=True, rule=rule)
    assert is_off_hours(datetime(2026, 3, 3, 7, 59), workday=True, rule=rule)
    assert is_off_hours(datetime(2026, 3, 3, 18, 0), workday=True, rule=rule)
    assert is_off_hours(datetime(2026, 3, 3, 10, 0), workday=False, rule=rule)
    assert is_off_hours(datetime(2026, 3, 7, 10, 0), workday=None, rule=rule)  # Saturday
    assert network_of("10.1.2.3") == "10.1.2.0/24"
    assert network_of("2001:db8::1") == "2001:db8::/64"
    assert network_of("") == ""


# ----------------------------------------------------------------- each rule at its threshold


@pytest.fixture
def clerk(school):
    return factories.make_user(school.unit, username="watched")


@pytest.mark.parametrize("below", [True, False])
def test_bulk_reads_fire_at_the_default_threshold(clerk, below):
    threshold = DEFAULT_WATCH_RULES["bulk_reads"].threshold
    _events(clerk, "student.read", threshold - 1 if below else threshold)
    _evaluate()
    rows = _kinds("bulk_reads")
    if below:
        assert rows == []
        return
    key = f"{clerk.pk}@202603031000"
    assert rows == [
        (WarningRole.ABOVE, clerk.unit.parent_id, key),
        (WarningRole.PARTY, clerk.unit_id, key),
    ]
    warning = EarlyWarning.objects.get(role=WarningRole.PARTY)
    assert warning.detail["count"] == threshold
    assert warning.detail["students"][:2] == ["1000", "1001"]
    assert warning.detail["addresses"] == ["10.1.2.3"]
    assert "watched" in warning.message and str(threshold) in warning.message


def test_bulk_reads_count_distinct_students(clerk):
    _threshold("bulk_reads", 3)
    _events(clerk, "student.read", 6, object_ids=[1, 2, 1, 2, 1, 2])
    _evaluate()
    assert _kinds("bulk_reads") == []
    _events(clerk, "student.read", 1, object_ids=[3], at=T0 + timedelta(minutes=1))
    _evaluate()
    assert len(_kinds("bulk_reads")) == 2


ACCOUNT_AUDIT_RULES = [
    ("exports", "student.export", {}),
    ("scope_probing", "student.not_found", {}),
    ("scope_probing", "student.duplicate_outside", {}),
    ("scope_probing", "change.file_refused_outside", {}),
    ("duplicate_search", "student.read", {"kind": "check"}),
]


@pytest.mark.parametrize(("rule", "action", "detail"), ACCOUNT_AUDIT_RULES)
@pytest.mark.parametrize("below", [True, False])
def test_account_audit_rules_fire_at_threshold(clerk, rule, action, detail, below):
    _threshold(rule, 4)
    _events(clerk, action, 3 if below else 4, detail=detail)
    _evaluate()
    assert len(_kinds(rule)) == (0 if below else 2)


def test_plain_reads_are_no_duplicate_search(clerk):
    _threshold("duplicate_search", 4)
    _events(clerk, "student.read", 10, detail={"kind": "list"})
    _evaluate()
    assert _kinds("duplicate_search") == []


@pytest.mark.parametrize("below", [True, False])
def test_off_hours_reads_and_sign_ins(clerk, below):
    _threshold("off_hours", 3)
    evening = datetime(2026, 3, 3, 21, 0, tzinfo=SHANGHAI)
    _events(clerk, "student.read", 1, at=evening)
    _events(clerk, "account.sign_in", 1 if below else 2, at=evening + timedelta(minutes=5))
    # Working-hour reads never count.
    _events(clerk, "student.read", 10, at=T0)
    warnings_evaluate(now=evening + timedelta(minutes=30), since=T0)
    assert len(_kinds("off_hours")) == (0 if below else 2)


def test_off_hours_follows_the_working_day_calendar(clerk):
    """A weekday that the calendar marks as a holiday is outside working hours all day."""
    from xueji.workdays.models import CalendarDay

    CalendarDay.objects.update_or_create(
        date=T0.date(), defaults={"is_workday": False, "name": "节假日"}
    )
    _threshold("off_hours", 3)
    _events(clerk, "student.read", 3, at=T0)
    _evaluate()
    assert len(_kinds("off_hours")) == 2


@pytest.mark.parametrize("below", [True, False])
def test_failed_signins_per_account(clerk, below):
    _attempts(4 if below else 5, user=clerk)
    _evaluate()
    assert len(_kinds("failed_signins_account")) == (0 if below else 2)


@pytest.mark.parametrize("below", [True, False])
def test_failed_signins_per_address_go_to_the_national_unit(db, below):
    national = unit_ensure_national()
    for i in range(19 if below else 20):
        _attempts(1, username=f"guess{i}", reason="unknown_user", at=T0 + timedelta(seconds=i))
    _evaluate()
    rows = _kinds("failed_signins_address")
    if below:
        assert rows == []
        return
    assert rows == [(WarningRole.PARTY, national.pk, "10.9.9.9@202603031000")]
    warning = EarlyWarning.objects.get()
    assert warning.detail["usernames"][:2] == ["guess0", "guess1"]


@pytest.mark.parametrize("reason", ["locked", "sealed", "disabled"])
@pytest.mark.parametrize("below", [True, False])
def test_attempts_on_blocked_accounts(clerk, reason, below):
    _attempts(2 if below else 3, user=clerk, reason=reason)
    _evaluate()
    assert len(_kinds("blocked_account_attempts")) == (0 if below else 2)


@pytest.mark.parametrize("below", [True, False])
def test_token_refusals(clerk, below):
    _attempts(9 if below else 10, user=clerk, username="token:abc", reason="token_revoked")
    _evaluate()
    assert len(_kinds("token_refusals")) == (0 if below else 2)
    # Token refusals are not failed sign-ins of the account.
    assert _kinds("failed_signins_account") == []


@pytest.mark.parametrize("below", [True, False])
def test_sign_in_from_a_new_network(clerk, below):
    _attempts(3, user=clerk, reason="ok", ip="10.1.2.3", at=T0 - timedelta(days=3))
    _attempts(1, user=clerk, reason="ok", ip="10.1.2.77" if below else "172.16.0.5", at=T0)
    _evaluate()
    rows = _kinds("new_network")
    assert len(rows) == (0 if below else 2)
    if not below:
        warning = EarlyWarning.objects.filter(role=WarningRole.PARTY).get()
        assert warning.detail["networks"] == ["172.16.0.0/24"]
        assert warning.detail["known_networks"] == ["10.1.2.0/24"]


def test_first_ever_sign_in_is_no_new_network(clerk):
    _attempts(1, user=clerk, reason="ok", ip="172.16.0.5", at=T0)
    _evaluate()
    assert _kinds("new_network") == []


@pytest.mark.parametrize("below", [True, False])
def test_mass_status_changes_at_one_school(clerk, school, below):
    _threshold("mass_changes", 3)
    _events(clerk, "change.complete", 2 if below else 3, detail={"school_id": school.pk})
    _evaluate()
    rows = _kinds("mass_changes")
    assert len(rows) == (0 if below else 2)
    if not below:
        assert rows[1] == (WarningRole.PARTY, school.unit.pk, f"{school.pk}@202603030000")


@pytest.mark.parametrize("below", [True, False])
def test_failed_audit_verify(db, below):
    national = unit_ensure_national()
    if below:
        _events(None, "audit.checkpoint", 1)
    else:
        _events(None, "audit.verify_failed", 1, detail={"problems": ["partition 0 seq 3"]})
    _evaluate()
    rows = _kinds("audit_verify_failed")
    assert rows == ([] if below else [(WarningRole.PARTY, national.pk, "trail@202603030000")])


# ----------------------------------------------------------------- layers, idempotency


def test_a_province_override_applies_to_its_accounts_only(clerk, other_school):
    other = factories.make_user(other_school.unit, username="sichuan")
    _threshold("bulk_reads", 5)
    _threshold("bulk_reads", 3, province="44")
    _events(clerk, "student.read", 3)
    _events(other, "student.read", 3)
    _evaluate()
    assert {subject.split("@")[0] for _r, _u, subject in _kinds("bulk_reads")} == {str(clerk.pk)}


def test_a_disabled_rule_never_fires(clerk):
    _threshold("exports", 1, enabled=False)
    _events(clerk, "student.export", 50)
    _evaluate()
    assert _kinds("exports") == []


def test_evaluating_again_raises_nothing_twice_even_after_resolving(clerk):
    _threshold("bulk_reads", 3)
    _events(clerk, "student.read", 3)
    first = _evaluate()
    assert first.raised == 1
    EarlyWarning.objects.update(resolved_at=NOW)
    again = _evaluate()
    assert again.raised == 0 and again.findings == 1
    assert EarlyWarning.objects.count() == 2


def test_the_watermark_moves_and_the_running_window_is_read_again(clerk):
    """The second run starts at the first run's end, but re-reads the window still running:
    reads on both sides of the first run add up."""
    _threshold("bulk_reads", 4)
    _events(clerk, "student.read", 2, object_ids=[1, 2])
    report = warnings_evaluate(now=T0 + timedelta(minutes=1), since=SINCE)
    assert report.raised == 0
    _events(clerk, "student.read", 2, object_ids=[3, 4], at=T0 + timedelta(minutes=2))
    report = warnings_evaluate(now=T0 + timedelta(minutes=5))
    assert report.since == T0 + timedelta(minutes=1)
    assert report.raised == 1
    assert AuditEvent.objects.filter(action="warning.evaluate").count() == 1


def test_a_security_admin_is_no_exception(school):
    """Rules watch every account, the security admins' own included."""
    admin = factories.make_user(school.unit, roles=(Role.SECURITY_ADMIN,), username="sec")
    _threshold("exports", 2)
    _events(admin, "student.export", 2)
    _evaluate()
    assert len(_kinds("exports")) == 2


def test_every_rule_has_a_kind_title():
    from xueji.audit.warnings import WarningKind

    assert {f"security.{rule}" for rule in WatchRule} <= set(WarningKind.values)


# ----------------------------------------------------------------- publishing rule sets


def test_publishing_versions_per_layer(province_user):
    from xueji.audit.watch_rulesets import warning_ruleset_publish, watch_rules_in_force

    national = factories.make_user(
        unit_ensure_national(), roles=(Role.SECURITY_ADMIN,), username="natsec"
    )
    guangdong = factories.make_user(
        province_user.unit, roles=(Role.SECURITY_ADMIN,), username="gdsec"
    )
    first = warning_ruleset_publish(
        actor=national, province_code="", rules={"exports": {"threshold": 900}}
    )
    second = warning_ruleset_publish(
        actor=national, province_code="", rules={"exports": {"threshold": 800}}
    )
    own = warning_ruleset_publish(
        actor=guangdong, province_code="44", rules={"bulk_reads": {"threshold": 50}}
    )
    assert (first.version, second.version, own.version) == (1, 2, 1)
    assert watch_rules_in_force("44")["exports"].threshold == 800
    assert watch_rules_in_force("44")["bulk_reads"].threshold == 50
    assert watch_rules_in_force("51")["bulk_reads"].threshold == 300
    assert AuditEvent.objects.filter(action="warning.ruleset_publish").count() == 3


def test_publishing_is_refused_to_other_levels_and_bad_rules(province_user):
    from xueji.audit.watch_rulesets import warning_ruleset_publish
    from xueji.errors import Forbidden, ValidationFailed

    guangdong = factories.make_user(
        province_user.unit, roles=(Role.SECURITY_ADMIN,), username="gdsec"
    )
    with pytest.raises(Forbidden):
        warning_ruleset_publish(actor=guangdong, province_code="", rules={})
    with pytest.raises(Forbidden):
        warning_ruleset_publish(actor=guangdong, province_code="51", rules={})
    with pytest.raises(Forbidden):
        warning_ruleset_publish(actor=province_user, province_code="44", rules={})
    with pytest.raises(ValidationFailed) as error:
        warning_ruleset_publish(
            actor=guangdong, province_code="44", rules={"bulk_reads": {"threshold": -1}}
        )
    assert error.value.errors[0].field == "rules.bulk_reads.threshold"
    assert WarningRuleSet.objects.count() == 0


# ----------------------------------------------------------------- who reads them


def test_security_admins_read_security_warnings_and_clerks_the_deadlines(client, clerk, school):
    from xueji.audit.warnings import warning_raise, warnings_for

    admin = factories.make_user(school.unit.parent, roles=(Role.SECURITY_ADMIN,), username="sec")
    reviewer = factories.make_user(school.unit.parent, roles=(Role.REVIEWER,), username="rev")
    _threshold("bulk_reads", 3)
    _events(clerk, "student.read", 3)
    _evaluate()
    warning_raise(
        kind="change.step_overdue",
        unit=school.unit.parent,
        subject_type="changes.step",
        subject_id=7,
        message="变动环节超期",
    )
    assert [w.kind for w in warnings_for(admin)] == ["security.bulk_reads"]
    assert [w.kind for w in warnings_for(reviewer)] == ["change.step_overdue"]
    # The page opens for the security admin (it needed student.view before).
    client.force_login(admin)
    response = client.get("/warnings/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "单个账号短时间内大量查阅学生信息" in page and "账号 watched" in page
    assert "变动环节超期" not in page
