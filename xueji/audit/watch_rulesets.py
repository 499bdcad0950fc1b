"""Publishing a version of the security warning rules (national or one province's), and
the rules in force for a province with where each value came from.

The same versioning as the change rule sets (``xueji/changes/rulesets.py``): a version
holds only the keys its layer changes, is never edited, and the newest whose
``effective_from`` has passed is in force. The national security admins publish the
national layer and any province's; a province's security admins their own province's.
"""

from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils.translation import gettext as _

from xueji import clock
from xueji.accounts.models import UnitKind
from xueji.accounts.permissions import require_permission
from xueji.accounts.rules import Permission
from xueji.errors import FieldError, Forbidden, ValidationFailed

from .events import AuditAction, ObjectType
from .models import WarningRuleSet
from .services import audit_record
from .watch import NATIONAL, RulesInForce
from .watch_rules import RuleOverrideError, WatchRuleConfig, validate_watch_overrides

BACKDATE_GRACE = timedelta(minutes=5)


def _require_editor(actor: Any, province_code: str) -> None:
    require_permission(actor, Permission.SECURITY_MANAGE)
    unit = getattr(actor, "unit", None)
    if unit is not None and unit.kind == UnitKind.NATIONAL:
        return
    if (
        unit is not None
        and unit.kind == UnitKind.PROVINCE
        and province_code
        and (unit.area_prefix or "")[:2] == province_code
    ):
        return
    raise Forbidden(_("只有国家级或本省的安全管理员可以维护安全预警规则。"))


def warning_ruleset_publish(
    *,
    actor: Any,
    province_code: str,
    rules: Any,
    effective_from: datetime | None = None,
    note: str = "",
) -> WarningRuleSet:
    """Add the next version of one layer ('' = national). Refuses unknown rules or keys and
    bad values (naming the rule and key) and an effective time in the past."""
    _require_editor(actor, province_code)
    now = clock.now()
    effective_from = effective_from or now
    if effective_from < now - BACKDATE_GRACE:
        raise ValidationFailed(
            [FieldError("effective_from", "effective_from.past", _("生效时间不能早于现在"))]
        )
    try:
        clean = validate_watch_overrides(rules)
    except RuleOverrideError as error:
        raise ValidationFailed(
            [FieldError(f"rules.{error.path}", "rules.invalid", error.message)]
        ) from None
    for attempt in range(3):
        try:
            with transaction.atomic():
                latest = WarningRuleSet.objects.filter(province_code=province_code).aggregate(
                    v=Max("version")
                )["v"]
                ruleset = WarningRuleSet.objects.create(
                    province_code=province_code,
                    version=(latest or 0) + 1,
                    effective_from=max(effective_from, now),
                    rules=clean,
                    note=note[:255],
                    created_at=now,
                    created_by_username=getattr(actor, "username", ""),
                )
                audit_record(
                    actor=actor,
                    action=AuditAction.WARNING_RULESET_PUBLISH,
                    object_type=ObjectType.WARNING_RULESET,
                    object_id=ruleset.pk,
                    summary=f"发布安全预警规则 {province_code or '全国'} 第 {ruleset.version} 版",
                    detail={"province_code": province_code, "rules": clean},
                )
                return ruleset
        except IntegrityError:  # a concurrent publish took the version number
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def watch_rules_in_force(province_code: str = NATIONAL) -> dict[str, WatchRuleConfig]:
    """The rules a province's accounts are watched by now."""
    return RulesInForce(clock.now()).for_province(province_code)
