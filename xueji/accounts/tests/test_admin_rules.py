"""The pure rules of account administration: subtrees, separated admin duties, what an
admin may grant and to whom, dormancy, training validity and token limits. No database."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import combinations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xueji.accounts.models import Role, UnitKind
from xueji.accounts.rules import (
    ADMIN_ROLES,
    TOKEN_MAX_DAYS,
    TOKEN_MAX_RATE,
    WORK_ROLES,
    grant_refusal,
    is_dormant,
    manage_refusal,
    role_set_refusal,
    token_errors,
    training_record_errors,
    training_valid,
    unit_strictly_below,
    unit_within,
)


@dataclass(frozen=True)
class U:
    pk: int
    kind: str
    area_prefix: str


NATION = U(1, UnitKind.NATIONAL, "")
GD = U(2, UnitKind.PROVINCE, "44")
GZ = U(3, UnitKind.CITY, "4401")
TIANHE = U(4, UnitKind.COUNTY, "440106")
YUEXIU = U(5, UnitKind.COUNTY, "440104")
SCHOOL_A = U(6, UnitKind.SCHOOL, "440106")
SCHOOL_B = U(7, UnitKind.SCHOOL, "440106")  # a neighbour in the same county
SC = U(8, UnitKind.PROVINCE, "51")
JINJIANG = U(9, UnitKind.COUNTY, "510104")
SEPARATE = U(10, UnitKind.SEPARATE, "99")
OVERSEAS = U(11, UnitKind.SCHOOL, "990100")
ALL_UNITS = (NATION, GD, GZ, TIANHE, YUEXIU, SCHOOL_A, SCHOOL_B, SC, JINJIANG, SEPARATE, OVERSEAS)

SYS = Role.SYSTEM_ADMIN
SEC = Role.SECURITY_ADMIN


# ---------------------------------------------------------------- subtrees


@pytest.mark.parametrize(
    ("outer", "inner", "expected"),
    [
        (NATION, SCHOOL_A, True),
        (NATION, SEPARATE, True),
        (GD, GZ, True),
        (GD, SCHOOL_A, True),
        (GZ, TIANHE, True),
        (TIANHE, SCHOOL_A, True),
        (TIANHE, TIANHE, True),
        (TIANHE, YUEXIU, False),  # a sibling county
        (TIANHE, GZ, False),  # the city above
        (GD, NATION, False),
        (GD, JINJIANG, False),  # another province
        (SCHOOL_A, SCHOOL_A, True),
        (SCHOOL_A, SCHOOL_B, False),  # a school's subtree is itself, even with one area code
        (SCHOOL_A, TIANHE, False),  # its county shares the code but lies above
        (SEPARATE, OVERSEAS, True),
        (GD, OVERSEAS, False),
    ],
)
def test_unit_within(outer, inner, expected):
    assert unit_within(outer, inner) is expected


def test_strictly_below_excludes_the_unit_itself():
    assert unit_strictly_below(TIANHE, SCHOOL_A)
    assert not unit_strictly_below(TIANHE, TIANHE)
    assert not unit_strictly_below(SCHOOL_A, SCHOOL_A)


_units = st.sampled_from(ALL_UNITS)


@given(_units, _units, _units)
def test_within_is_a_partial_order(a, b, c):
    """Reflexive, antisymmetric and transitive: the subtrees form a tree."""
    assert unit_within(a, a)
    if unit_within(a, b) and unit_within(b, a):
        assert a == b
    if unit_within(a, b) and unit_within(b, c):
        assert unit_within(a, c)


@given(_units, _units)
def test_strictly_below_is_irreflexive_and_never_both_ways(a, b):
    assert not unit_strictly_below(a, a)
    assert not (unit_strictly_below(a, b) and unit_strictly_below(b, a))


# ---------------------------------------------------------------- role sets (三员分立)


@pytest.mark.parametrize("pair", list(combinations(sorted(ADMIN_ROLES), 2)))
def test_two_admin_duties_are_refused(pair):
    refusal = role_set_refusal(pair)
    assert refusal is not None
    assert refusal.code == "role.two_admin_duties"
    assert refusal.kind == "invalid" and refusal.field == "roles"


@pytest.mark.parametrize("admin", sorted(ADMIN_ROLES))
@pytest.mark.parametrize("work", sorted(WORK_ROLES))
def test_an_admin_duty_excludes_every_work_role(admin, work):
    refusal = role_set_refusal([admin, work])
    assert refusal is not None and refusal.code == "role.admin_with_work"


def test_unknown_and_empty_role_sets_are_refused():
    unknown = role_set_refusal(["king"])
    assert unknown is not None and unknown.code == "role.unknown" and "king" in unknown.message
    empty = role_set_refusal([])
    assert empty is not None and empty.code == "role.empty"


@given(st.sets(st.sampled_from(Role.values)))
def test_role_set_rule(roles):
    """Allowed exactly when non-empty and either work roles only or one admin duty alone."""
    allowed = bool(roles) and (not roles & ADMIN_ROLES or len(roles) == 1)
    assert (role_set_refusal(roles) is None) is allowed


# ---------------------------------------------------------------- managing an account


def _manage(actor_unit, target_unit, *, actor_roles=(SYS,), target_roles=(Role.CLERK,), **kw):
    return manage_refusal(
        duty=kw.pop("duty", SYS),
        actor_id=1,
        actor_unit=actor_unit,
        actor_roles=actor_roles,
        target_id=kw.pop("target_id", 2),
        target_unit=target_unit,
        target_roles=target_roles,
        **kw,
    )


def test_an_admin_manages_work_accounts_of_its_unit_and_below():
    assert _manage(TIANHE, TIANHE, target_roles=(Role.REVIEWER,)) is None
    assert _manage(TIANHE, SCHOOL_A) is None
    assert _manage(GD, SCHOOL_A) is None


def test_without_the_duty_the_action_is_forbidden():
    refusal = _manage(TIANHE, SCHOOL_A, actor_roles=(Role.REVIEWER,))
    assert refusal is not None and refusal.code == "admin.duty_missing"
    assert refusal.kind == "forbidden"
    # The security admin's duty is not the system admin's.
    refusal = _manage(TIANHE, SCHOOL_A, actor_roles=(SEC,))
    assert refusal is not None and refusal.code == "admin.duty_missing"


@pytest.mark.parametrize("target", [YUEXIU, GZ, JINJIANG, NATION])
def test_outside_the_subtree_is_not_found(target):
    refusal = _manage(TIANHE, target)
    assert refusal is not None and refusal.kind == "not_found"


def test_no_admin_acts_on_its_own_account():
    refusal = _manage(TIANHE, TIANHE, target_id=1, target_roles=(SYS,))
    assert refusal is not None and refusal.code == "admin.self"


def test_peer_admins_cannot_take_each_other_over():
    for role in ADMIN_ROLES:
        refusal = _manage(TIANHE, TIANHE, target_roles=(role,))
        assert refusal is not None and refusal.code == "admin.peer_admin"
    assert _manage(TIANHE, SCHOOL_A, target_roles=(SYS,)) is None


def test_actions_reserved_to_an_admin_above():
    """Unseal and unlock: a security admin of a unit strictly above."""
    kw = {"duty": SEC, "actor_roles": (SEC,), "strictly_below": True}
    assert _manage(TIANHE, SCHOOL_A, **kw) is None
    same = _manage(SCHOOL_A, SCHOOL_A, **kw)
    assert same is not None and same.code == "admin.not_above"
    sibling = _manage(YUEXIU, SCHOOL_A, **kw)
    assert sibling is not None and sibling.kind == "not_found"
    # The nation has nobody above: a national peer may act, never on itself.
    assert _manage(NATION, NATION, **kw) is None
    own = _manage(NATION, NATION, target_id=1, **kw)
    assert own is not None and own.code == "admin.self"


# ---------------------------------------------------------------- granting roles


def test_work_roles_at_own_unit_and_below():
    for unit in (TIANHE, SCHOOL_A):
        assert grant_refusal(actor_unit=TIANHE, target_unit=unit, roles=[Role.CLERK]) is None
        assert grant_refusal(actor_unit=TIANHE, target_unit=unit, roles=[Role.STATISTICIAN]) is None


@pytest.mark.parametrize("role", sorted(ADMIN_ROLES))
def test_admin_duties_only_strictly_below(role):
    assert grant_refusal(actor_unit=TIANHE, target_unit=SCHOOL_A, roles=[role]) is None
    assert grant_refusal(actor_unit=GD, target_unit=TIANHE, roles=[role]) is None
    refusal = grant_refusal(actor_unit=TIANHE, target_unit=TIANHE, roles=[role])
    assert refusal is not None and refusal.code == "grant.admin_not_below"
    # A school admin has nobody below it: it grants no admin duty at all.
    refusal = grant_refusal(actor_unit=SCHOOL_A, target_unit=SCHOOL_A, roles=[role])
    assert refusal is not None and refusal.code == "grant.admin_not_below"


def test_nothing_is_granted_above_or_beside_the_actor():
    for unit in (GZ, YUEXIU, NATION, JINJIANG):
        refusal = grant_refusal(actor_unit=TIANHE, target_unit=unit, roles=[Role.CLERK])
        assert refusal is not None and refusal.kind == "not_found"


def test_grant_checks_the_role_set_first():
    refusal = grant_refusal(actor_unit=GD, target_unit=TIANHE, roles=[SYS, SEC])
    assert refusal is not None and refusal.code == "role.two_admin_duties"


@given(_units, _units, st.sets(st.sampled_from(Role.values), min_size=1))
def test_granted_admin_duties_always_land_strictly_below(actor_unit, target_unit, roles):
    if grant_refusal(actor_unit=actor_unit, target_unit=target_unit, roles=roles) is None:
        assert unit_within(actor_unit, target_unit)
        if roles & ADMIN_ROLES:
            assert unit_strictly_below(actor_unit, target_unit)


# ---------------------------------------------------------------- dormancy

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_dormancy_boundary_is_strict():
    """Unused for exactly dormant_days is not yet dormant; a moment more is."""
    days = 183
    assert not is_dormant(last_used=NOW - timedelta(days=days), now=NOW, dormant_days=days)
    assert is_dormant(
        last_used=NOW - timedelta(days=days, microseconds=1), now=NOW, dormant_days=days
    )
    assert not is_dormant(last_used=NOW, now=NOW, dormant_days=days)


@given(st.integers(min_value=1, max_value=1000), st.integers(min_value=0, max_value=2000))
def test_dormancy_matches_elapsed_days(days, elapsed_hours):
    last_used = NOW - timedelta(hours=elapsed_hours)
    assert is_dormant(last_used=last_used, now=NOW, dormant_days=days) is (
        elapsed_hours > days * 24
    )


# ---------------------------------------------------------------- training

TODAY = date(2026, 3, 1)


@pytest.mark.parametrize(
    ("completed", "expires", "valid"),
    [
        (date(2025, 9, 1), date(2027, 9, 1), True),
        (date(2025, 9, 1), TODAY, True),  # the expiry date itself still counts
        (date(2024, 9, 1), TODAY - timedelta(days=1), False),  # expired
        (TODAY + timedelta(days=1), date(2028, 1, 1), False),  # not yet taken
        (date(2025, 9, 1), None, True),  # no expiry on file
    ],
)
def test_training_valid(completed, expires, valid):
    assert training_valid(completed_on=completed, expires_on=expires, today=TODAY) is valid


def _training_codes(**overrides) -> set[str]:
    data = {
        "course": "岗前培训",
        "completed_on": date(2025, 9, 1),
        "certificate_no": "PX1",
        "expires_on": date(2027, 9, 1),
        "today": TODAY,
    }
    data.update(overrides)
    return {e.code for e in training_record_errors(**data)}


def test_training_record_errors():
    assert _training_codes() == set()
    assert _training_codes(course="  ") == {"training.course_missing"}
    assert _training_codes(certificate_no="") == {"training.certificate_missing"}
    assert _training_codes(completed_on=None) == {"training.date_missing"}
    assert _training_codes(completed_on=TODAY + timedelta(days=1)) == {"training.date_future"}
    assert _training_codes(expires_on=None) == {"training.expiry_missing"}
    assert _training_codes(expires_on=date(2025, 9, 1)) == {"training.expiry_before"}


# ---------------------------------------------------------------- tokens


def _token_codes(expires_at, rate=0) -> set[str]:
    return {e.code for e in token_errors(now=NOW, expires_at=expires_at, rate_per_minute=rate)}


def test_token_expiry_is_required_and_at_most_a_year():
    assert _token_codes(NOW + timedelta(days=90)) == set()
    assert _token_codes(NOW + timedelta(days=TOKEN_MAX_DAYS)) == set()
    assert _token_codes(None) == {"token.expiry_missing"}
    assert _token_codes(NOW) == {"token.expiry_past"}
    assert _token_codes(NOW + timedelta(days=TOKEN_MAX_DAYS, seconds=1)) == {"token.expiry_too_far"}


def test_token_rate_range():
    ok = NOW + timedelta(days=1)
    assert _token_codes(ok, 0) == set()
    assert _token_codes(ok, TOKEN_MAX_RATE) == set()
    assert _token_codes(ok, -1) == {"token.rate_range"}
    assert _token_codes(ok, TOKEN_MAX_RATE + 1) == {"token.rate_range"}
