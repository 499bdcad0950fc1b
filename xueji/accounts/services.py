"""Writes of units and accounts. Every write is audited in its own transaction."""

import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime

from django.db import transaction
from django.utils import translation
from django.utils.text import format_lazy
from django.utils.translation import gettext as _

from xueji import clock
from xueji.audit.events import STORED_LANGUAGE, AuditAction, ObjectType
from xueji.audit.services import audit_record, audit_record_many
from xueji.divisions.models import DivisionLevel
from xueji.divisions.refdata import GROUPING_NAMES
from xueji.divisions.selectors import division_path, level_of_code
from xueji.errors import Conflict, DomainError, FieldError, Forbidden, NotFound, ValidationFailed
from xueji.schools.models import School
from xueji.schools.rules import SEPARATE_PREFIX

from .models import ApiToken, Role, RoleGrant, TrainingRecord, Unit, UnitKind, User
from .passwords import password_apply
from .policy import security_policy
from .rules import (
    ADMIN_ROLES,
    DORMANT_SEAL_REASON,
    Refusal,
    duty_refusal,
    grant_refusal,
    is_dormant,
    manage_refusal,
    role_set_refusal,
    token_errors,
    training_record_errors,
    unit_within,
)
from .scope import scope_for
from .selectors import access_token, accounts_in_subtree, dormant_accounts
from .tokens import IssuedToken, api_token_issue, api_token_revoke

_KIND_OF_LEVEL: dict[int, UnitKind] = {
    DivisionLevel.PROVINCE: UnitKind.PROVINCE,
    DivisionLevel.CITY: UnitKind.CITY,
    DivisionLevel.COUNTY: UnitKind.COUNTY,
}


def unit_ensure_national() -> Unit:
    unit = Unit.objects.filter(kind=UnitKind.NATIONAL).first()
    if unit is None:
        unit = Unit.objects.create(
            kind=UnitKind.NATIONAL, name="教育部", area_prefix=""
        )  # stored data: always Chinese
    return unit


def unit_ensure_separate() -> Unit:
    unit = Unit.objects.filter(kind=UnitKind.SEPARATE).first()
    if unit is None:
        unit = Unit.objects.create(
            kind=UnitKind.SEPARATE,
            name="单列管理学校（海外中国学校、港澳内地课程学校）",  # stored data
            parent=unit_ensure_national(),
            area_prefix=SEPARATE_PREFIX,
        )
    return unit


def unit_ensure_for_division(*, division_code: str) -> Unit:
    """The authority unit of a division, creating it and its ancestors when missing."""
    path = division_path(division_code)
    if not path or path[-1].code != division_code:
        raise ValidationFailed(
            [
                FieldError(
                    "division_code", "division.unknown", _("未知的行政区划代码：%s") % division_code
                )
            ]
        )
    parent = unit_ensure_national()
    for division in path:
        kind = _KIND_OF_LEVEL[level_of_code(division.code)]
        unit = Unit.objects.filter(kind=kind, division_code=division.code).first()
        if unit is None:
            suffix = {
                UnitKind.PROVINCE: "教育厅",
                UnitKind.CITY: "教育局",
                UnitKind.COUNTY: "教育局",
            }[kind]
            name = division.name
            if name in GROUPING_NAMES:
                name = f"{parent.name.removesuffix('教育厅').removesuffix('教育局')}{name}"
            unit = Unit.objects.create(
                kind=kind,
                name=f"{name}{suffix}",
                parent=parent,
                area_prefix=division.prefix,
                division_code=division.code,
            )
        parent = unit
    return parent


def unit_ensure_for_school(school) -> Unit:
    unit = Unit.objects.filter(school=school).first()
    if unit is not None:
        return unit
    if school.listed_separately:
        parent = unit_ensure_separate()
    else:
        parent = unit_ensure_for_division(division_code=school.division_code)
    return Unit.objects.create(
        kind=UnitKind.SCHOOL,
        name=school.name,
        parent=parent,
        area_prefix=school.area_code,
        division_code=school.division_code,
        school=school,
    )


def user_create(
    *,
    actor: User | None,
    unit: Unit,
    username: str,
    password: str,
    roles: Iterable[str],
    full_name: str = "",
) -> User:
    roles = list(dict.fromkeys(roles))
    # Known roles, at most one admin duty, an admin duty alone (三员分立), for every caller.
    refusal = role_set_refusal(roles)
    if refusal is not None:
        raise ValidationFailed([FieldError(refusal.field, refusal.code, refusal.message)])
    if User.objects.filter(username=username).exists():
        raise ValidationFailed([FieldError("username", "username.taken", _("用户名已存在"))])
    with transaction.atomic():
        user = User(username=username, unit=unit, full_name=full_name)
        # Policy-checked, hashed, remembered; changed by the holder at first sign-in.
        password_apply(user=user, new_password=password, must_change=True, actor=actor)
        RoleGrant.objects.bulk_create([RoleGrant(user=user, role=r) for r in roles])
        audit_record(
            actor=actor,
            action=AuditAction.ACCOUNT_CREATE,
            object_type=ObjectType.USER,
            object_id=user.pk,
            summary=f"创建账号 {username}（{unit.name}）",
            detail={"roles": roles, "unit_id": unit.pk},
        )
    return user


# ---------------------------------------------------------------- account administration
#
# The system admin (accounts, training records, tokens) and the security admin (seals,
# lockouts) act on accounts of their unit's subtree only; rules.manage_refusal and
# rules.grant_refusal hold the rules, docs/security.md says why. Every refusal is answered
# with a Chinese message and recorded as an ``account.refused`` audit event, written after
# the refused transaction rolled back (callers must not wrap these services in a
# transaction of their own, or the record of a refusal rolls back with it).


@dataclass(frozen=True)
class SystemActor:
    """The author of the audit events of scheduled jobs (no account acts)."""

    username: str
    pk: None = None
    unit_id: None = None


SEALING_JOB = SystemActor(username="system:seal_dormant_accounts")


@dataclass(frozen=True)
class AccountCreated:
    user: User
    # The generated first password (shown once); empty when the admin chose it.
    initial_password: str


@contextmanager
def _refusals_recorded(
    *,
    actor: User,
    action: AuditAction,
    object_type: ObjectType = ObjectType.USER,
    object_id: object = "",
    detail: dict | None = None,
) -> Iterator[None]:
    """Record any domain refusal raised inside as an ``account.refused`` audit event."""
    try:
        yield
    except DomainError as error:
        reasons = [e.code for e in error.errors] or [error.detail.get("reason", error.code)]
        # The message was rendered in the session's language; the stored summary is Chinese,
        # so another language keeps the stable code instead.
        why = error.message if translation.get_language() == STORED_LANGUAGE else error.code
        with transaction.atomic():
            audit_record(
                actor=actor,
                action=AuditAction.ACCOUNT_REFUSED,
                object_type=object_type,
                object_id=str(object_id),
                summary=format_lazy("拒绝{}：{}", action.label, why),
                detail={
                    "attempted": action.value,
                    "code": error.code,
                    "reasons": reasons,
                    **(detail or {}),
                },
            )
        raise


def _refusal_error(refusal: Refusal, *, what: str = "account") -> DomainError:
    if refusal.kind == "not_found":
        return NotFound(what)
    if refusal.kind == "invalid":
        return ValidationFailed([FieldError(refusal.field, refusal.code, refusal.message)])
    error = Forbidden(refusal.message)
    error.detail = {"reason": refusal.code}
    return error


def _require_duty(actor: User, duty: str) -> None:
    refusal = duty_refusal(duty=duty, actor_roles=actor.role_set)
    if refusal is not None:
        raise _refusal_error(refusal)


def _managed_account(actor: User, *, duty: str, user_id: int, strictly_below: bool = False) -> User:
    """The target account, locked for update, once the actor's duty, the subtree and the
    rules allow the action (an account outside the subtree is not found)."""
    _require_duty(actor, duty)
    target = (
        accounts_in_subtree(actor)
        .select_related("unit")
        .select_for_update(of=("self",))
        .filter(pk=user_id)
        .first()
    )
    if target is None:
        raise NotFound("account")
    refusal = manage_refusal(
        duty=duty,
        actor_id=actor.pk,
        actor_unit=actor.unit,
        actor_roles=actor.role_set,
        target_id=target.pk,
        target_unit=target.unit,
        target_roles=target.role_set,
        strictly_below=strictly_below,
    )
    if refusal is not None:
        raise _refusal_error(refusal)
    return target


def _reason_required(reason: str) -> str:
    reason = reason.strip()
    if not reason:
        raise ValidationFailed([FieldError("reason", "reason.missing", _("请填写原因。"))])
    return reason[:255]


_PASSWORD_CLASSES = (
    "abcdefghijkmnpqrstuvwxyz",
    "ABCDEFGHJKLMNPQRSTUVWXYZ",
    "23456789",
    "-_.+=@#%",
)


def temporary_password(*, username: str, length: int = 16) -> str:
    """A random first or reset password: every character class, never the user name."""
    alphabet = "".join(_PASSWORD_CLASSES)
    while True:
        chars = [secrets.choice(c) for c in _PASSWORD_CLASSES]
        chars += [secrets.choice(alphabet) for _i in range(length - len(chars))]
        secrets.SystemRandom().shuffle(chars)
        password = "".join(chars)
        if not username or username.lower() not in password.lower():
            return password


def unit_for_code(*, actor: User, unit_code: str) -> Unit:
    """The unit an admin names by code: '' its own, a 6-digit division code (an authority;
    created when missing), a 10-digit school code, or '99' (the separately listed schools).
    Outside the actor's subtree it is not found, as if it did not exist."""
    code = unit_code.strip()
    own = actor.unit
    if own is None:
        raise NotFound("unit")
    if code == "":
        return own
    unit: Unit | None = None
    scope = scope_for(actor)
    if code == SEPARATE_PREFIX:
        unit = unit_ensure_separate() if scope.everything else None
    elif len(code) == 6 and code.isdigit():
        if scope.covers_area(code):
            try:
                unit = unit_ensure_for_division(division_code=code)
            except ValidationFailed as error:  # an unknown division: the form's field
                raise ValidationFailed(
                    [FieldError("unit_code", e.code, e.message, value=code) for e in error.errors]
                ) from error
    elif len(code) == 10 and code.isdigit():
        school = (
            School.objects.filter(scope.q(area_field="area_code", school_field="pk"))
            .filter(code=code)
            .first()
        )
        if school is not None:
            unit = unit_ensure_for_school(school)
    else:
        raise ValidationFailed(
            [
                FieldError(
                    "unit_code",
                    "unit.code_format",
                    _("单位请填写6位行政区划代码或10位学校标识码，留空为本单位。"),
                    value=code[:20],
                )
            ]
        )
    if unit is None or not unit_within(own, unit):
        raise NotFound("unit")
    return unit


def account_create(
    *,
    actor: User,
    unit_code: str,
    username: str,
    roles: Iterable[str],
    full_name: str = "",
    phone: str = "",
    password: str = "",
) -> AccountCreated:
    """A system admin creates an account in its subtree, granting only what it may grant.
    The holder must change the first password at sign-in; without ``password`` a random
    one is generated and returned (shown once)."""
    wanted = list(dict.fromkeys(roles))
    username = username.strip()
    with _refusals_recorded(
        actor=actor,
        action=AuditAction.ACCOUNT_CREATE,
        detail={"username": username[:150], "unit_code": unit_code[:20], "roles": wanted},
    ):
        _require_duty(actor, Role.SYSTEM_ADMIN)
        if not username:
            raise ValidationFailed(
                [FieldError("username", "username.missing", _("请填写用户名。"))]
            )
        with transaction.atomic():
            unit = unit_for_code(actor=actor, unit_code=unit_code)
            assert actor.unit is not None
            refusal = grant_refusal(actor_unit=actor.unit, target_unit=unit, roles=wanted)
            if refusal is not None:
                raise _refusal_error(refusal, what="unit")
            initial = "" if password else temporary_password(username=username)
            user = user_create(
                actor=actor,
                unit=unit,
                username=username,
                password=password or initial,
                roles=wanted,
                full_name=full_name.strip(),
            )
            # The first password is the admin's, not the holder's: changed at first sign-in.
            user.must_change_password = True
            user.phone = phone.strip()[:32]
            user.save(update_fields=["must_change_password", "phone"])
    return AccountCreated(user=user, initial_password=initial)


def account_update_roles(*, actor: User, user_id: int, roles: Iterable[str]) -> User:
    """Replace an account's roles: never one's own, never beyond what the actor may grant."""
    wanted = list(dict.fromkeys(roles))
    with (
        _refusals_recorded(
            actor=actor,
            action=AuditAction.ACCOUNT_ROLES,
            object_id=user_id,
            detail={"roles": wanted},
        ),
        transaction.atomic(),
    ):
        target = _managed_account(actor, duty=Role.SYSTEM_ADMIN, user_id=user_id)
        assert actor.unit is not None and target.unit is not None
        refusal = grant_refusal(actor_unit=actor.unit, target_unit=target.unit, roles=wanted)
        if refusal is not None:
            raise _refusal_error(refusal)
        before = sorted(target.role_set)
        RoleGrant.objects.filter(user=target).exclude(role__in=wanted).delete()
        RoleGrant.objects.bulk_create(
            [RoleGrant(user=target, role=r) for r in wanted if r not in before]
        )
        target._role_cache = frozenset(wanted)  # type: ignore[attr-defined]
        audit_record(
            actor=actor,
            action=AuditAction.ACCOUNT_ROLES,
            object_type=ObjectType.USER,
            object_id=target.pk,
            summary=f"修改账号 {target.username} 的角色",
            detail={"before": before, "after": sorted(wanted)},
        )
    return target


def account_disable(*, actor: User, user_id: int, reason: str) -> User:
    """The holder left the post: the account can no longer sign in nor use its tokens, and
    its sessions end at their next request (an inactive account is nobody)."""
    with _refusals_recorded(actor=actor, action=AuditAction.ACCOUNT_DISABLE, object_id=user_id):
        reason = _reason_required(reason)
        with transaction.atomic():
            target = _managed_account(actor, duty=Role.SYSTEM_ADMIN, user_id=user_id)
            if not target.is_active or target.disabled_at is not None:
                raise Conflict("account.already_disabled", _("该账号已停用。"))
            target.is_active = False
            target.disabled_at = clock.now()
            target.disabled_reason = reason
            target.current_session_key = ""
            target.save(
                update_fields=["is_active", "disabled_at", "disabled_reason", "current_session_key"]
            )
            audit_record(
                actor=actor,
                action=AuditAction.ACCOUNT_DISABLE,
                object_type=ObjectType.USER,
                object_id=target.pk,
                summary=f"停用账号 {target.username}",
                detail={"reason": reason},
            )
    return target


def account_enable(*, actor: User, user_id: int, reason: str = "") -> User:
    """Reopen a disabled account. One unused for longer than the dormancy limit meanwhile
    comes back sealed: only a security admin above may unseal it."""
    with (
        _refusals_recorded(actor=actor, action=AuditAction.ACCOUNT_ENABLE, object_id=user_id),
        transaction.atomic(),
    ):
        target = _managed_account(actor, duty=Role.SYSTEM_ADMIN, user_id=user_id)
        if target.is_active and target.disabled_at is None:
            raise Conflict("account.not_disabled", _("该账号未停用。"))
        now = clock.now()
        target.is_active = True
        target.disabled_at = None
        target.disabled_reason = ""
        fields = ["is_active", "disabled_at", "disabled_reason"]
        last_used = target.last_seen_at or target.date_joined
        sealed = target.sealed_at is None and is_dormant(
            last_used=last_used, now=now, dormant_days=security_policy().dormant_days
        )
        if sealed:
            target.sealed_at = now
            target.sealed_reason = DORMANT_SEAL_REASON
            fields += ["sealed_at", "sealed_reason"]
        target.save(update_fields=fields)
        audit_record(
            actor=actor,
            action=AuditAction.ACCOUNT_ENABLE,
            object_type=ObjectType.USER,
            object_id=target.pk,
            summary=f"启用账号 {target.username}",
            detail={"reason": reason.strip()[:255], "sealed_as_dormant": sealed},
        )
        if sealed:
            audit_record(
                actor=actor,
                action=AuditAction.ACCOUNT_SEAL,
                object_type=ObjectType.USER,
                object_id=target.pk,
                summary=f"封存账号 {target.username}：{DORMANT_SEAL_REASON}",
                detail={"reason": DORMANT_SEAL_REASON, "last_used": last_used.isoformat()},
            )
    return target


def account_password_reset(*, actor: User, user_id: int) -> str:
    """A system admin gives the account a random password, to be changed at the next
    sign-in; returns it (shown once, never stored in clear)."""
    with (
        _refusals_recorded(
            actor=actor, action=AuditAction.ACCOUNT_PASSWORD_RESET, object_id=user_id
        ),
        transaction.atomic(),
    ):
        target = _managed_account(actor, duty=Role.SYSTEM_ADMIN, user_id=user_id)
        password = temporary_password(username=target.username)
        password_apply(user=target, new_password=password, must_change=True, actor=actor)
        audit_record(
            actor=actor,
            action=AuditAction.ACCOUNT_PASSWORD_RESET,
            object_type=ObjectType.USER,
            object_id=target.pk,
            summary=f"重置账号 {target.username} 的密码",
        )
    return password


def account_seal_dormant(*, now: datetime | None = None) -> int:
    """Seal every active account unused for more than ``dormant_days`` (since last seen, or
    since created if never used): one UPDATE, then one audit row per sealed account.
    Returns how many were sealed."""
    now = now or clock.now()
    days = security_policy().dormant_days
    with transaction.atomic():
        count = dormant_accounts(now=now).update(sealed_at=now, sealed_reason=DORMANT_SEAL_REASON)
        if count:
            # The rows just written are the ones carrying this exact instant and reason.
            sealed = User.objects.filter(sealed_at=now, sealed_reason=DORMANT_SEAL_REASON)
            audit_record_many(
                actor=SEALING_JOB,
                events=(
                    {
                        "action": AuditAction.ACCOUNT_SEAL,
                        "object_type": ObjectType.USER,
                        "object_id": str(pk),
                        "summary": f"封存账号 {username}：{DORMANT_SEAL_REASON}"[:255],
                        "detail": {
                            "reason": DORMANT_SEAL_REASON,
                            "last_used": (last_seen or joined).isoformat(),
                            "dormant_days": days,
                        },
                    }
                    for pk, username, last_seen, joined in sealed.values_list(
                        "pk", "username", "last_seen_at", "date_joined"
                    )
                ),
            )
    return count


def account_unseal(*, actor: User, user_id: int, reason: str) -> User:
    """Only a security admin of a unit strictly above the account's unit reopens a sealed
    account, with a reason. The account counts as used now, so the next sweep leaves it."""
    with _refusals_recorded(actor=actor, action=AuditAction.ACCOUNT_UNSEAL, object_id=user_id):
        reason = _reason_required(reason)
        with transaction.atomic():
            target = _managed_account(
                actor, duty=Role.SECURITY_ADMIN, user_id=user_id, strictly_below=True
            )
            if target.sealed_at is None:
                raise Conflict("account.not_sealed", _("该账号未封存。"))
            was = {"sealed_at": target.sealed_at.isoformat(), "reason": target.sealed_reason}
            target.sealed_at = None
            target.sealed_reason = ""
            target.last_seen_at = clock.now()
            target.save(update_fields=["sealed_at", "sealed_reason", "last_seen_at"])
            audit_record(
                actor=actor,
                action=AuditAction.ACCOUNT_UNSEAL,
                object_type=ObjectType.USER,
                object_id=target.pk,
                summary=f"解封账号 {target.username}",
                detail={"reason": reason, "was": was},
            )
    return target


def account_unlock(*, actor: User, user_id: int, reason: str) -> User:
    """End a lockout before it runs out: a security admin above, with a reason."""
    with _refusals_recorded(actor=actor, action=AuditAction.ACCOUNT_UNLOCK, object_id=user_id):
        reason = _reason_required(reason)
        with transaction.atomic():
            target = _managed_account(
                actor, duty=Role.SECURITY_ADMIN, user_id=user_id, strictly_below=True
            )
            if target.locked_until is None or target.locked_until <= clock.now():
                raise Conflict("account.not_locked", _("该账号未被锁定。"))
            until = target.locked_until.isoformat()
            target.locked_until = None
            target.failed_logins = 0
            target.save(update_fields=["locked_until", "failed_logins"])
            audit_record(
                actor=actor,
                action=AuditAction.ACCOUNT_UNLOCK,
                object_type=ObjectType.USER,
                object_id=target.pk,
                summary=f"解除账号 {target.username} 的锁定",
                detail={"reason": reason, "locked_until": until},
            )
    return target


def training_record_create(
    *,
    actor: User,
    user_id: int,
    course: str,
    completed_on: date | None,
    certificate_no: str,
    expires_on: date | None,
) -> TrainingRecord:
    """先培训后上岗: a system admin of the account's unit or above records a training
    (course, date, certificate number, expiry)."""
    with (
        _refusals_recorded(actor=actor, action=AuditAction.TRAINING_RECORD, object_id=user_id),
        transaction.atomic(),
    ):
        target = _managed_account(actor, duty=Role.SYSTEM_ADMIN, user_id=user_id)
        errors = training_record_errors(
            course=course,
            completed_on=completed_on,
            certificate_no=certificate_no,
            expires_on=expires_on,
            today=clock.today(),
        )
        if errors:
            raise ValidationFailed(errors)
        assert completed_on is not None
        record = TrainingRecord.objects.create(
            user=target,
            course=course.strip()[:128],
            completed_on=completed_on,
            certificate_no=certificate_no.strip()[:64],
            expires_on=expires_on,
            recorded_by=actor.username,
            recorded_at=clock.now(),
        )
        audit_record(
            actor=actor,
            action=AuditAction.TRAINING_RECORD,
            object_type=ObjectType.USER,
            object_id=target.pk,
            summary=f"登记 {target.username} 的培训：{record.course}",
            detail={
                "training_id": record.pk,
                "certificate_no": record.certificate_no,
                "completed_on": completed_on.isoformat(),
                "expires_on": expires_on.isoformat() if expires_on else None,
            },
        )
    return record


def account_token_issue(
    *,
    actor: User,
    user_id: int,
    name: str,
    expires_at: datetime | None,
    rate_per_minute: int = 0,
) -> IssuedToken:
    """A system admin issues an API token to an account of its subtree (not its own, not an
    admin's: a token would bypass the second factor). Expiry is required, at most a year
    ahead; the secret is returned once."""
    with (
        _refusals_recorded(actor=actor, action=AuditAction.API_TOKEN_ISSUE, object_id=user_id),
        transaction.atomic(),
    ):
        target = _managed_account(actor, duty=Role.SYSTEM_ADMIN, user_id=user_id)
        errors = token_errors(
            now=clock.now(), expires_at=expires_at, rate_per_minute=rate_per_minute
        )
        if not name.strip():
            errors.insert(0, FieldError("name", "token.name_missing", _("请填写令牌名称。")))
        if errors:
            raise ValidationFailed(errors)
        if target.role_set & ADMIN_ROLES:
            error = Forbidden(_("管理员账号不能持有 API 令牌：令牌会绕过第二因素。"))
            error.detail = {"reason": "token.admin_account"}
            raise error
        if not target.is_active or target.sealed_at is not None:
            raise Conflict("account.inactive", _("该账号已停用或封存，不能签发令牌。"))
        issued = api_token_issue(
            actor=actor,
            user=target,
            name=name.strip()[:64],
            expires_at=expires_at,
            rate_per_minute=rate_per_minute,
        )
    return issued


def account_token_revoke(*, actor: User, token_id: int) -> ApiToken:
    """An account revokes its own token; a system admin the tokens of accounts it manages."""
    with (
        _refusals_recorded(
            actor=actor,
            action=AuditAction.API_TOKEN_REVOKE,
            object_type=ObjectType.API_TOKEN,
            object_id=token_id,
        ),
        transaction.atomic(),
    ):
        found = access_token(actor, token_id=token_id)
        token = (
            ApiToken.objects.select_for_update(of=("self",))
            .select_related("user", "user__unit")
            .get(pk=found.pk)
        )
        if token.user_id != actor.pk:
            refusal = manage_refusal(
                duty=Role.SYSTEM_ADMIN,
                actor_id=actor.pk,
                actor_unit=actor.unit,
                actor_roles=actor.role_set,
                target_id=token.user_id,
                target_unit=token.user.unit,
                target_roles=token.user.role_set,
            )
            if refusal is not None:
                raise _refusal_error(refusal, what="api_token")
        if token.revoked_at is not None:
            raise Conflict("api_token.revoked", _("该令牌已吊销。"))
        return api_token_revoke(actor=actor, token=token)
