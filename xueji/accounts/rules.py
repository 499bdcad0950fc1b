"""Permissions as a typed enum and what each role grants; the admin duties, what an admin
may do to which account, and the security rules (dormancy, training, tokens). Pure: time is
passed in, nothing reads the database."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from xueji.errors import FieldError

from .models import Role, UnitKind


class Permission(models.TextChoices):
    DIVISION_VIEW = "division.view", _("查看行政区划")
    SCHOOL_VIEW = "school.view", _("查看学校")
    SCHOOL_EDIT = "school.edit", _("维护学校")
    STUDENT_VIEW = "student.view", _("查看学生")
    STUDENT_REGISTER = "student.register", _("注册学生")
    STUDENT_IMPORT = "student.import", _("批量导入学生")
    STATISTICS_VIEW = "statistics.view", _("查看统计")
    ACCOUNT_MANAGE = "account.manage", _("管理账号")
    AUDIT_VIEW = "audit.view", _("查看审计日志")
    SCHEMA_FILE = "schema.file", _("备案非基础信息方案")
    # Seals, lockouts, second-factor resets, the security page (the security admin).
    SECURITY_MANAGE = "security.manage", _("安全管理")
    # Yearly promotion and graduation batches (school clerks: their school; reviewers: their area).
    STATUS_BATCH = "status.batch", _("学籍批量处理（升级、毕业）")
    # Status changes (issue 4): see requests in scope, file them, handle (核办) a step of
    # one's own unit, and edit a province's rule set (province and national units only).
    CHANGE_VIEW = "change.view", _("查看学籍变动")
    CHANGE_FILE = "change.file", _("申请学籍变动")
    CHANGE_HANDLE = "change.handle", _("核办学籍变动")
    RULESET_EDIT = "ruleset.edit", _("维护学籍变动规则")
    # Load a year of the working-day calendar (national reviewers only; see xueji.workdays).
    CALENDAR_MANAGE = "calendar.manage", _("载入工作日历")
    # The dropout-control ledger (控辍保学台账, xueji/changes/ledger.py): read the cases in
    # scope, add follow-ups; closing a case with a reason is for authorities (unit level).
    DROPOUT_VIEW = "dropout.view", _("查看控辍保学台账")
    DROPOUT_FOLLOW_UP = "dropout.follow_up", _("登记控辍保学跟进")
    # Semester confirmation (核准, xueji/verification): see campaigns and their progress;
    # open and close them (national and province reviewers); mark and sign off a school's
    # roll (school clerks).
    CAMPAIGN_VIEW = "campaign.view", _("查看学籍核准")
    CAMPAIGN_MANAGE = "campaign.manage", _("发起学籍核准")
    CAMPAIGN_CONFIRM = "campaign.confirm", _("核准本校名册")
    # Anomalies (xueji/anomalies): the review queue of one's unit and subtree; importing
    # attendance lists (rows naming schools in scope); resolving findings (merge, undo a
    # merge, "different people", dismiss) is for reviewers of the finding's unit or above.
    ANOMALY_VIEW = "anomaly.view", _("查看学籍异常")
    ANOMALY_SIGHTING = "anomaly.sighting", _("导入在校名单")
    ANOMALY_RESOLVE = "anomaly.resolve", _("处理学籍异常（合并、确认非同一人）")
    # Data releases (xueji/releases, Art. 24): see the releases of one's subtree, ask for one,
    # review one's own unit's requests, approve (reviewers of authorities at county level or
    # above: xueji.releases.rules). Downloading needs no permission: only the named recipient.
    RELEASE_VIEW = "release.view", _("查看数据发布")
    RELEASE_REQUEST = "release.request", _("申请数据发布")
    RELEASE_REVIEW = "release.review", _("审核数据发布")
    RELEASE_APPROVE = "release.approve", _("批准数据发布")
    # Early warnings (xueji/audit/warnings.py): status workers read the deadline warnings
    # of their unit and subtree; security admins the security warnings (Art. 23).
    WARNING_VIEW = "warning.view", _("查看预警")


ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    Role.CLERK: frozenset(
        {
            Permission.DIVISION_VIEW,
            Permission.SCHOOL_VIEW,
            Permission.STUDENT_VIEW,
            Permission.STUDENT_REGISTER,
            Permission.STUDENT_IMPORT,
            Permission.CHANGE_VIEW,
            Permission.CHANGE_FILE,
            Permission.CHANGE_HANDLE,
            Permission.STATUS_BATCH,
            Permission.DROPOUT_VIEW,
            Permission.DROPOUT_FOLLOW_UP,
            Permission.CAMPAIGN_VIEW,
            Permission.CAMPAIGN_CONFIRM,
            Permission.ANOMALY_VIEW,
            Permission.ANOMALY_SIGHTING,
            Permission.WARNING_VIEW,
        }
    ),
    Role.REVIEWER: frozenset(
        {
            Permission.DIVISION_VIEW,
            Permission.SCHOOL_VIEW,
            Permission.SCHOOL_EDIT,
            Permission.STUDENT_VIEW,
            Permission.STATISTICS_VIEW,
            Permission.SCHEMA_FILE,
            Permission.CHANGE_VIEW,
            Permission.CHANGE_FILE,
            Permission.CHANGE_HANDLE,
            Permission.RULESET_EDIT,
            Permission.CALENDAR_MANAGE,
            Permission.STATUS_BATCH,
            Permission.DROPOUT_VIEW,
            Permission.DROPOUT_FOLLOW_UP,
            Permission.CAMPAIGN_VIEW,
            Permission.CAMPAIGN_MANAGE,
            Permission.ANOMALY_VIEW,
            Permission.ANOMALY_SIGHTING,
            Permission.ANOMALY_RESOLVE,
            Permission.RELEASE_VIEW,
            Permission.RELEASE_REQUEST,
            Permission.RELEASE_REVIEW,
            Permission.RELEASE_APPROVE,
            Permission.WARNING_VIEW,
        }
    ),
    # Aggregates only, never personal data; may ask for a (de-identified) release.
    Role.STATISTICIAN: frozenset(
        {
            Permission.DIVISION_VIEW,
            Permission.SCHOOL_VIEW,
            Permission.STATISTICS_VIEW,
            Permission.CAMPAIGN_VIEW,
            Permission.RELEASE_VIEW,
            Permission.RELEASE_REQUEST,
        }
    ),
    Role.SYSTEM_ADMIN: frozenset(
        {Permission.DIVISION_VIEW, Permission.SCHOOL_VIEW, Permission.ACCOUNT_MANAGE}
    ),
    Role.SECURITY_ADMIN: frozenset(
        {Permission.DIVISION_VIEW, Permission.SECURITY_MANAGE, Permission.WARNING_VIEW}
    ),
    Role.AUDIT_ADMIN: frozenset({Permission.AUDIT_VIEW}),
}


def permissions_for(roles: frozenset[str] | set[str]) -> frozenset[str]:
    granted: set[str] = set()
    for role in roles:
        granted |= ROLE_PERMISSIONS.get(role, frozenset())
    return frozenset(granted)


# ---------------------------------------------------------------- separated admin duties

# 三员分立: the three admin duties. No account holds two of them, and an admin account
# holds no work role either: whoever manages accounts, security or the audit trail does
# not also process student data (docs/security.md, "Separated duties").
ADMIN_ROLES: frozenset[str] = frozenset({Role.SYSTEM_ADMIN, Role.SECURITY_ADMIN, Role.AUDIT_ADMIN})
WORK_ROLES: frozenset[str] = frozenset({Role.CLERK, Role.REVIEWER, Role.STATISTICIAN})

# Depth of each unit kind in the tree (the separately listed schools hang off the nation).
UNIT_DEPTH: dict[str, int] = {
    UnitKind.NATIONAL: 0,
    UnitKind.PROVINCE: 1,
    UnitKind.SEPARATE: 1,
    UnitKind.CITY: 2,
    UnitKind.COUNTY: 3,
    UnitKind.SCHOOL: 4,
}


class UnitLike(Protocol):
    pk: Any
    kind: str
    area_prefix: str


@dataclass(frozen=True)
class Refusal:
    """Why an admin action is refused: a stable code, a Chinese message, and how to answer
    (``forbidden``: 403, ``not_found``: 404 like a missing row, ``invalid``: 422 on ``field``)."""

    code: str
    message: str
    kind: str = "forbidden"
    field: str = ""


def unit_within(outer: UnitLike, inner: UnitLike) -> bool:
    """Whether ``inner`` lies in ``outer``'s subtree (``outer`` itself included).

    The nation holds every unit; a school unit holds only itself; an authority holds the
    units whose area prefix extends its own (deeper units carry longer prefixes, and a
    school carries its county's code, so the prefix test follows the parent chain).
    """
    if outer.pk == inner.pk:
        return True
    if outer.kind == UnitKind.NATIONAL:
        return True
    if outer.kind == UnitKind.SCHOOL or inner.kind == UnitKind.NATIONAL:
        return False
    return (
        bool(outer.area_prefix)
        and inner.area_prefix.startswith(outer.area_prefix)
        and UNIT_DEPTH[inner.kind] > UNIT_DEPTH[outer.kind]
    )


def unit_strictly_below(outer: UnitLike, inner: UnitLike) -> bool:
    return outer.pk != inner.pk and unit_within(outer, inner)


def role_set_refusal(roles: Iterable[str]) -> Refusal | None:
    """The role set one account may hold: known roles, at least one, at most one admin
    duty, and an admin duty alone."""
    wanted = set(roles)
    unknown = sorted(wanted - set(Role.values))
    if unknown:
        return Refusal(
            "role.unknown", gettext("未知角色：%s") % ", ".join(unknown), "invalid", "roles"
        )
    if not wanted:
        return Refusal("role.empty", gettext("请至少授予一个角色。"), "invalid", "roles")
    if len(wanted & ADMIN_ROLES) > 1:
        return Refusal(
            "role.two_admin_duties",
            gettext(
                "一个账号不能同时担任两种管理员职责（系统管理员、安全管理员、审计管理员三员分立）。"
            ),
            "invalid",
            "roles",
        )
    if wanted & ADMIN_ROLES and wanted & WORK_ROLES:
        return Refusal(
            "role.admin_with_work",
            gettext("管理员账号不能同时担任学籍管理员、审核员或统计人员：管理员不处理学生数据。"),
            "invalid",
            "roles",
        )
    return None


_DUTY_MISSING: dict[str, Any] = {
    Role.SYSTEM_ADMIN: _("只有系统管理员可以执行此操作。"),
    Role.SECURITY_ADMIN: _("只有安全管理员可以执行此操作。"),
    Role.AUDIT_ADMIN: _("只有审计管理员可以执行此操作。"),
}


def duty_refusal(*, duty: str, actor_roles: Iterable[str]) -> Refusal | None:
    """Refused unless the actor holds the admin duty the action belongs to."""
    if duty in set(actor_roles):
        return None
    return Refusal("admin.duty_missing", str(_DUTY_MISSING[duty]))


def manage_refusal(
    *,
    duty: str,
    actor_id: Any,
    actor_unit: UnitLike | None,
    actor_roles: Iterable[str],
    target_id: Any,
    target_unit: UnitLike | None,
    target_roles: Iterable[str],
    strictly_below: bool = False,
) -> Refusal | None:
    """Whether an admin acting in ``duty`` may act on the target account.

    Refused: without the duty; outside the actor's subtree (answered like a missing row);
    on one's own account (no admin raises or frees itself); on another admin account
    unless its unit is strictly below (peers cannot take each other over); and, for the
    actions reserved to an admin "above" (unseal, unlock), on any account not strictly
    below. The nation has nobody above it: there a national peer may act, never oneself
    (as for the second-factor reset).
    """
    refusal = duty_refusal(duty=duty, actor_roles=actor_roles)
    if refusal is not None:
        return refusal
    if actor_unit is None or target_unit is None or not unit_within(actor_unit, target_unit):
        return Refusal("admin.out_of_scope", "", "not_found")
    if target_id == actor_id:
        return Refusal("admin.self", gettext("不能对自己的账号执行此操作。"))
    below = unit_strictly_below(actor_unit, target_unit)
    if strictly_below and not below and target_unit.kind != UnitKind.NATIONAL:
        return Refusal("admin.not_above", gettext("只有上级单位的管理员可以对该账号执行此操作。"))
    if set(target_roles) & ADMIN_ROLES and not below:
        return Refusal("admin.peer_admin", gettext("管理员账号只能由上级单位的系统管理员管理。"))
    return None


def grant_refusal(
    *, actor_unit: UnitLike, target_unit: UnitLike, roles: Iterable[str]
) -> Refusal | None:
    """What a system admin may grant: work roles at its own unit or below, admin duties
    only to units strictly below (so no admin creates its peer or its superior)."""
    wanted = set(roles)
    refusal = role_set_refusal(wanted)
    if refusal is not None:
        return refusal
    if not unit_within(actor_unit, target_unit):
        return Refusal("admin.out_of_scope", "", "not_found")
    if wanted & ADMIN_ROLES and not unit_strictly_below(actor_unit, target_unit):
        return Refusal(
            "grant.admin_not_below",
            gettext("管理员角色只能授予下级单位的账号，不能授予本单位或上级单位的账号。"),
            "invalid",
            "roles",
        )
    return None


# ---------------------------------------------------------------- dormant sealing

DORMANT_SEAL_REASON = "超过六个月未使用，自动封存"  # stored data: always Chinese


def dormant_cutoff(*, now: datetime, dormant_days: int) -> datetime:
    """Accounts last used strictly before this moment are dormant."""
    return now - timedelta(days=dormant_days)


def is_dormant(*, last_used: datetime, now: datetime, dormant_days: int) -> bool:
    """Unused for *more* than ``dormant_days``: exactly ``dormant_days`` is not yet dormant."""
    return last_used < dormant_cutoff(now=now, dormant_days=dormant_days)


# ---------------------------------------------------------------- passwords

PASSWORD_EXPIRY_WARNING_DAYS = 14


def password_expires_at(*, changed_at: datetime, max_age_days: int) -> datetime:
    return changed_at + timedelta(days=max_age_days)


# ---------------------------------------------------------------- training before posting


def training_valid(*, completed_on: date, expires_on: date | None, today: date) -> bool:
    """A record counts from its completion date through its expiry date (inclusive)."""
    return completed_on <= today and (expires_on is None or today <= expires_on)


def training_record_errors(
    *,
    course: str,
    completed_on: date | None,
    certificate_no: str,
    expires_on: date | None,
    today: date,
) -> list[FieldError]:
    errors = []
    if not course.strip():
        errors.append(FieldError("course", "training.course_missing", gettext("请填写培训课程。")))
    if not certificate_no.strip():
        errors.append(
            FieldError(
                "certificate_no", "training.certificate_missing", gettext("请填写证书编号。")
            )
        )
    if completed_on is None:
        errors.append(
            FieldError("completed_on", "training.date_missing", gettext("请填写培训日期。"))
        )
    elif completed_on > today:
        errors.append(
            FieldError("completed_on", "training.date_future", gettext("培训日期不能晚于今天。"))
        )
    if expires_on is None:
        errors.append(
            FieldError("expires_on", "training.expiry_missing", gettext("请填写证书有效期。"))
        )
    elif completed_on is not None and expires_on <= completed_on:
        errors.append(
            FieldError("expires_on", "training.expiry_before", gettext("有效期必须晚于培训日期。"))
        )
    return errors


# ---------------------------------------------------------------- API tokens

TOKEN_MAX_DAYS = 365
TOKEN_MAX_RATE = 6000  # requests per minute; 0 means the policy default


def token_errors(
    *, now: datetime, expires_at: datetime | None, rate_per_minute: int
) -> list[FieldError]:
    errors = []
    if expires_at is None:
        errors.append(
            FieldError("expires_at", "token.expiry_missing", gettext("请填写令牌到期时间。"))
        )
    elif expires_at <= now:
        errors.append(
            FieldError("expires_at", "token.expiry_past", gettext("到期时间必须晚于现在。"))
        )
    elif expires_at > now + timedelta(days=TOKEN_MAX_DAYS):
        errors.append(
            FieldError(
                "expires_at",
                "token.expiry_too_far",
                gettext("令牌有效期最长 %d 天。") % TOKEN_MAX_DAYS,
            )
        )
    if not 0 <= rate_per_minute <= TOKEN_MAX_RATE:
        errors.append(
            FieldError(
                "rate_per_minute",
                "token.rate_range",
                gettext("每分钟请求上限须在 0 到 %d 之间（0 表示采用默认值）。") % TOKEN_MAX_RATE,
            )
        )
    return errors
