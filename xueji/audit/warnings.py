"""Early warnings (预警): raising, resolving and reading them.

Any part of the system that watches a deadline (transfer steps, death cancellations, the
working-day calendar) calls ``warning_raise`` from its daily sweep and ``warning_resolve``
once the subject is dealt with. Raising is idempotent, so a sweep may run any number of
times a day; every newly raised warning is audited.
"""

from datetime import date, datetime
from typing import Any

from django.db import IntegrityError, models, transaction
from django.db.models import Count, F, Q, QuerySet
from django.utils.translation import gettext_lazy as _

from xueji import clock
from xueji.accounts.models import Unit, UnitKind
from xueji.accounts.scope import scope_for
from xueji.masking import mask_numbers_in, mask_numbers_in_text

from .events import AuditAction, ObjectType, object_type_of
from .models import EarlyWarning, WarningRole
from .services import audit_record

# ---------------------------------------------------------------- kinds


class WarningKind(models.TextChoices):
    """The kinds the registry raises, with the title the pages and the API show. A raiser
    spells its kind from here (``xueji/changes``, ``xueji/verification``); a test checks that
    every raised kind has its title."""

    STEP_OVERDUE = "change.step_overdue", _("变动环节超过办理期限")
    CALENDAR_MISSING = "calendar.missing", _("缺少工作日历，办理期限无法计算")
    CAMPAIGN_OVERDUE = "campaign.overdue", _("学期核准逾期未签报")
    # security warnings (xueji/audit/watch.py, Art. 23): for the security admins
    BULK_READS = "security.bulk_reads", _("单个账号短时间内大量查阅学生信息")
    EXPORTS = "security.exports", _("单个账号大量导出学生信息")
    OFF_HOURS = "security.off_hours", _("非工作时间查阅或登录")
    NEW_NETWORK = "security.new_network", _("账号从未使用过的网络登录")
    FAILED_SIGNINS_ACCOUNT = "security.failed_signins_account", _("同一账号登录连续失败")
    FAILED_SIGNINS_ADDRESS = "security.failed_signins_address", _("同一地址登录连续失败")
    BLOCKED_ACCOUNT_ATTEMPTS = (
        "security.blocked_account_attempts",
        _("尝试登录封存、停用或锁定的账号"),
    )
    SCOPE_PROBING = "security.scope_probing", _("试探辖区外学生信息")
    MASS_CHANGES = "security.mass_changes", _("同一学校大量学籍变动")
    DUPLICATE_SEARCH = "security.duplicate_search", _("以查重代替查询")
    TOKEN_REFUSALS = "security.token_refusals", _("API 令牌多次被拒绝")
    AUDIT_VERIFY_FAILED = "security.audit_verify_failed", _("审计链校验失败")
    READ_LIMIT = "security.read_limit", _("超过每日查阅或导出上限")


SECURITY_PREFIX = "security."


def is_security_kind(kind: str) -> bool:
    """Security warnings go to security admins; the others to the parties of status work."""
    return kind.startswith(SECURITY_PREFIX)


def kind_title(kind: str) -> str:
    """The Chinese (or English) title of a kind; a kind without one reads "其他预警", never
    its code."""
    if kind in WarningKind.values:
        return str(WarningKind(kind).label)
    return str(_("其他预警"))


# ---------------------------------------------------------------- services


def _raise_one(
    *,
    kind: str,
    unit: Unit,
    role: str,
    subject_type: str,
    subject_id: str,
    message: str,
    due_date: date | None,
    detail: dict,
    now: datetime,
) -> tuple[EarlyWarning, bool]:
    """The open warning for this unit, touched or newly created; ``True`` when new."""
    key = {"kind": kind, "subject_type": subject_type, "subject_id": subject_id, "unit": unit}
    existing = EarlyWarning.objects.filter(resolved_at__isnull=True, **key).first()
    if existing is None:
        try:
            # A savepoint: a concurrent sweep that inserted first trips the partial unique
            # constraint, and this transaction carries on with the row it created.
            with transaction.atomic():
                created = EarlyWarning.objects.create(
                    **key,
                    role=role,
                    message=message[:255],
                    detail=detail,
                    due_date=due_date,
                    raised_at=now,
                    last_seen_at=now,
                )
            return created, True
        except IntegrityError:
            existing = EarlyWarning.objects.get(resolved_at__isnull=True, **key)
    existing.last_seen_at = now
    existing.message = message[:255]
    existing.due_date = due_date
    existing.detail = detail
    existing.save(update_fields=["last_seen_at", "message", "due_date", "detail"])
    return existing, False


def warning_raise(
    *,
    kind: str,
    unit: Unit,
    subject_type: str,
    subject_id: str | int,
    message: str,
    due_date: date | None = None,
    detail: dict | None = None,
    escalate: bool = True,
    now: datetime | None = None,
) -> list[EarlyWarning]:
    """Raise (or keep up) a warning for ``unit`` and, when ``escalate``, its parent unit.

    Idempotent: an open warning of the same kind and subject for a unit is touched
    (``last_seen_at``, and the message and due date brought up to date), never duplicated.
    Each newly created warning writes an audit event. Returns the party's warning first,
    then the one of the level above (when there is one).
    """
    now = now or clock.now()
    subject = str(subject_id)
    # A warning is read in lists by many: it never holds a full student or ID number.
    message = mask_numbers_in_text(str(message))
    detail = mask_numbers_in(detail or {})
    targets: list[tuple[Unit, str]] = [(unit, WarningRole.PARTY)]
    if escalate and unit.parent_id is not None:
        parent = unit.parent
        assert parent is not None
        targets.append((parent, WarningRole.ABOVE))
    raised = []
    with transaction.atomic():
        for target, role in targets:
            warning, created = _raise_one(
                kind=kind,
                unit=target,
                role=role,
                subject_type=subject_type,
                subject_id=subject,
                message=message,
                due_date=due_date,
                detail=detail,
                now=now,
            )
            if created:
                audit_record(
                    actor=None,
                    action=AuditAction.WARNING_RAISE,
                    object_type=ObjectType.WARNING,
                    object_id=warning.pk,
                    summary=f"预警：{message}",  # stored data: always Chinese
                    detail={
                        "kind": kind,
                        "unit_id": target.pk,
                        "role": role,
                        "subject_type": subject_type,
                        "subject_id": subject,
                        "due_date": due_date.isoformat() if due_date else None,
                    },
                )
            raised.append(warning)
    return raised


def warning_resolve(
    *,
    subject_type: str,
    subject_id: str | int,
    kind: str | None = None,
    reason: str = "",
    actor: Any = None,
    now: datetime | None = None,
) -> int:
    """Resolve every open warning of the subject (the party's and the level above's);
    ``kind`` narrows it to one kind. Returns how many were resolved (0: nothing open)."""
    now = now or clock.now()
    subject = str(subject_id)
    with transaction.atomic():
        open_rows = EarlyWarning.objects.filter(
            subject_type=subject_type, subject_id=subject, resolved_at__isnull=True
        )
        if kind is not None:
            open_rows = open_rows.filter(kind=kind)
        count = open_rows.update(
            resolved_at=now,
            resolved_by_username=(getattr(actor, "username", "") or "")[:150],
            resolved_reason=reason[:255],
        )
        if count:
            audit_record(
                actor=actor,
                action=AuditAction.WARNING_RESOLVE,
                # Warning subjects are named like the vocabulary's object types.
                object_type=object_type_of(subject_type),
                object_id=subject,
                summary=f"解除预警 {count} 条",  # stored data: always Chinese
                detail={"kind": kind, "count": count, "reason": reason[:255]},
            )
    return count


# ---------------------------------------------------------------- selectors

URGENT_FIRST = (F("due_date").asc(nulls_last=True), F("raised_at").desc(), F("pk").desc())
RECENT_FIRST = (F("resolved_at").desc(nulls_last=True), F("pk").desc())


def _ordered(qs: QuerySet[EarlyWarning], *, open_only: bool, resolved_only: bool):
    if resolved_only:
        return qs.filter(resolved_at__isnull=False).order_by(*RECENT_FIRST)
    if open_only:
        return qs.filter(resolved_at__isnull=True).order_by(*URGENT_FIRST)
    return qs.order_by(F("resolved_at").desc(nulls_first=True), *URGENT_FIRST)


def _visible_kinds(user, qs: QuerySet[EarlyWarning]) -> QuerySet[EarlyWarning]:
    """Security warnings for the security admins, the others for status work (the two
    never meet in one account: admin duties exclude work roles)."""
    from xueji.accounts.permissions import has_permission
    from xueji.accounts.rules import Permission

    security = has_permission(user, Permission.SECURITY_MANAGE)
    work = has_permission(user, Permission.STUDENT_VIEW)
    if security and not work:
        return qs.filter(kind__startswith=SECURITY_PREFIX)
    if work and not security:
        return qs.exclude(kind__startswith=SECURITY_PREFIX)
    return qs


def warnings_for(
    user, *, open_only: bool = True, resolved_only: bool = False
) -> QuerySet[EarlyWarning]:
    """Warnings addressed to the user's own unit (as the party or the level above).

    Open ones most urgent first (earliest due date, then newest); ``resolved_only`` gives
    the resolved ones, latest first; ``open_only=False`` gives both, open first.
    """
    unit_id = getattr(user, "unit_id", None) if getattr(user, "is_authenticated", False) else None
    if unit_id is None or not user.is_active:
        return EarlyWarning.objects.none()
    qs = _visible_kinds(user, EarlyWarning.objects.filter(unit_id=unit_id).select_related("unit"))
    return _ordered(qs, open_only=open_only, resolved_only=resolved_only)


def warnings_in_scope(
    user, *, open_only: bool = True, resolved_only: bool = False
) -> QuerySet[EarlyWarning]:
    """The authority overview (辖区预警): warnings of every unit in the user's subtree,
    each problem once, at the unit that must act (role ``party``).

    The subtree is the scope: units whose area prefix extends the user's (a school unit
    carries its county's code), everything for the nation, only itself for a school.
    """
    scope = scope_for(user)
    qs = EarlyWarning.objects.filter(
        scope.q(area_field="unit__area_prefix", school_field="unit__school_id"),
        role=WarningRole.PARTY,
    ).select_related("unit")
    return _ordered(_visible_kinds(user, qs), open_only=open_only, resolved_only=resolved_only)


def warning_count(user) -> int:
    """Open warnings addressed to the user's unit (the menu badge)."""
    return warnings_for(user).order_by().count()


def warning_counts(user) -> dict[str, int]:
    """Open warnings addressed to the user's unit (``mine``, as ``warnings_for``) and those
    of every unit in its subtree, each problem once (``area``, as ``warnings_in_scope``):
    one query."""
    unit_id = getattr(user, "unit_id", None) if getattr(user, "is_authenticated", False) else None
    if unit_id is None or not user.is_active:
        return {"mine": 0, "area": 0}
    area = scope_for(user).q(area_field="unit__area_prefix", school_field="unit__school_id") & Q(
        role=WarningRole.PARTY
    )
    mine = Q(unit_id=unit_id)
    visible = _visible_kinds(user, EarlyWarning.objects.all())
    return visible.filter(mine | area, resolved_at__isnull=True).aggregate(
        mine=Count("pk", filter=mine), area=Count("pk", filter=area)
    )


def sees_area_warnings(user) -> bool:
    """Whether the 辖区预警 tab applies: authorities, not schools."""
    unit = getattr(user, "unit", None)
    return unit is not None and unit.kind != UnitKind.SCHOOL


def days_overdue(due_date: date | None, today: date) -> int:
    """Calendar days past the due date (0 when not yet due or without a date)."""
    if due_date is None or today <= due_date:
        return 0
    return (today - due_date).days
