"""Province rule sets: publishing a version, who sees which layer, and the rules in force with
where each value came from.

Three layers decide a change type's rule: the code defaults (``DEFAULT_RULES``), the national
rule set and the province's rule set. Each published version of a layer holds only the keys
that layer changes, and is never edited or deleted: a new version is added instead. The
engine (``services.rule_in_force``) takes, per layer, the newest version whose
``effective_from`` has passed, and a request keeps the merged rule it was filed under.

Who edits: the national level edits the national layer and every province's; a province
edits its own. Who reads: the national level every layer; every other unit the national
layer and its own province's.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from xueji import clock
from xueji.accounts.models import UnitKind
from xueji.accounts.permissions import has_permission, require_permission
from xueji.accounts.rules import Permission
from xueji.audit.events import AuditAction, ObjectType
from xueji.audit.services import audit_record
from xueji.divisions.models import DivisionLevel
from xueji.divisions.selectors import division_names
from xueji.errors import Conflict, FieldError, Forbidden, NotFound, ValidationFailed
from xueji.schools.rules import SEPARATE_PREFIX

from .models import RuleSet
from .rules import (
    ChangeRule,
    ChangeType,
    MaterialKind,
    effective_rule,
    validate_rule_overrides,
)
from .services import ruleset_in_force

NATIONAL = ""
# The keys of a ChangeRule, in the order pages show them.
RULE_KEYS = ("enabled", "chain", "step_days", "deadlines", "materials", "blocked", "options")
# An effective-from a little in the past (a client's clock, a slow form) means "now".
BACKDATE_GRACE = timedelta(minutes=5)
PUBLISH_ATTEMPTS = 3


# ----------------------------------------------------------------- layers and who sees them


def province_codes() -> dict[str, str]:
    """Code → name of every province a rule set may be published for (the current
    province-level divisions, and 99 for the separately listed schools)."""
    from xueji.divisions.models import Division

    codes = {
        code[:2]: name
        for code, name in Division.objects.filter(
            level=DivisionLevel.PROVINCE, valid_to__isnull=True
        ).values_list("code", "name")
    }
    codes[SEPARATE_PREFIX] = _("单列管理学校")
    return dict(sorted(codes.items()))


def layer_name(province_code: str) -> str:
    """ "全国" for the national layer, the province's name otherwise."""
    if province_code == NATIONAL:
        return _("全国")
    if province_code == SEPARATE_PREFIX:
        return _("单列管理学校")
    return division_names().get(f"{province_code}0000", province_code)


def actor_province(actor: Any) -> str | None:
    """The province an account belongs to: '' for the national level, the two-digit code
    for every unit below it (99 for the separately listed schools), None without a unit."""
    if not getattr(actor, "is_authenticated", False) or not actor.is_active:
        return None
    unit = getattr(actor, "unit", None)
    if unit is None:
        return None
    if unit.kind == UnitKind.NATIONAL:
        return NATIONAL
    prefix = unit.area_prefix or ""
    return prefix[:2] if len(prefix) >= 2 else None


def layer_visible(actor: Any, province_code: str) -> bool:
    province = actor_province(actor)
    if province is None:
        return False
    return province == NATIONAL or province_code in (NATIONAL, province)


def access_rules(actor: Any, province_code: str) -> None:
    """Reading a layer: ``change.view``, and the layer is the national one, the actor's own
    province's, or any for the national level. Another province reads as not found."""
    require_permission(actor, Permission.CHANGE_VIEW)
    if not layer_visible(actor, province_code):
        raise NotFound("ruleset")


def _edit_refusal(actor: Any, province_code: str) -> Exception | None:
    if not has_permission(actor, Permission.RULESET_EDIT):
        return Forbidden()
    unit = getattr(actor, "unit", None)
    if unit is not None and unit.kind == UnitKind.NATIONAL:
        return None
    if unit is None or unit.kind != UnitKind.PROVINCE:
        return Forbidden(_("只有省级或国家级学籍主管部门可以维护学籍变动规则。"))
    if province_code == NATIONAL:
        return Forbidden(_("全国默认规则只能由国家级学籍主管部门维护。"))
    if province_code != unit.area_prefix[:2]:
        return NotFound("ruleset")
    return None


def access_rules_edit(actor: Any, province_code: str) -> None:
    """Editing a layer: ``ruleset.edit`` at the national level (every layer) or a province
    (its own). Any other level is refused (Forbidden); another province reads as not found."""
    refusal = _edit_refusal(actor, province_code)
    if refusal is not None:
        raise refusal


def can_edit_rules(actor: Any, province_code: str) -> bool:
    return _edit_refusal(actor, province_code) is None


# ----------------------------------------------------------------- selectors


def rulesets_visible(actor: Any) -> QuerySet[RuleSet]:
    """Every version the actor may read: all of them nationally; the national layer and the
    actor's own province's otherwise (read-only below the province)."""
    require_permission(actor, Permission.CHANGE_VIEW)
    province = actor_province(actor)
    if province is None:
        return RuleSet.objects.none()
    if province == NATIONAL:
        return RuleSet.objects.all()
    return RuleSet.objects.filter(province_code__in=[NATIONAL, province])


def ruleset_history(actor: Any, province_code: str) -> list[RuleSet]:
    """The versions of one layer, newest first."""
    access_rules(actor, province_code)
    return list(rulesets_visible(actor).filter(province_code=province_code).order_by("-version"))


def ruleset_detail(actor: Any, ruleset_id: int) -> RuleSet:
    ruleset = rulesets_visible(actor).filter(pk=ruleset_id).first()
    if ruleset is None:
        raise NotFound("ruleset")
    return ruleset


def ruleset_previous(ruleset: RuleSet) -> RuleSet | None:
    return (
        RuleSet.objects.filter(province_code=ruleset.province_code, version__lt=ruleset.version)
        .order_by("-version")
        .first()
    )


@dataclass(frozen=True)
class Source:
    """Where a value of the merged rule came from."""

    layer: str  # "default", "national" or "province"
    version: int | None = None
    province_code: str = ""

    @property
    def label(self) -> str:
        if self.layer == "national":
            return _("全国第%d版") % (self.version or 0)
        if self.layer == "province":
            return _("%(name)s第%(version)d版") % {
                "name": layer_name(self.province_code),
                "version": self.version or 0,
            }
        return _("系统默认")

    def as_dict(self) -> dict:
        return {
            "layer": self.layer,
            "version": self.version,
            "province_code": self.province_code,
            "label": self.label,
        }


DEFAULT_SOURCE = Source("default")


@dataclass(frozen=True)
class EffectiveRule:
    change_type: str
    rule: ChangeRule
    sources: dict[str, Source]  # per key of the rule

    @property
    def label(self) -> str:
        return str(ChangeType(self.change_type).label)


@dataclass(frozen=True)
class EffectiveRules:
    province_code: str
    at: datetime
    national: RuleSet | None
    province: RuleSet | None
    types: list[EffectiveRule]


def merge_with_sources(
    change_type: str,
    *,
    national: RuleSet | None,
    province: RuleSet | None,
) -> EffectiveRule:
    """The merged rule of one type (the engine's ``effective_rule``) and, per key, the
    layer whose value won."""
    sources = dict.fromkeys(RULE_KEYS, DEFAULT_SOURCE)
    for ruleset, layer in ((national, "national"), (province, "province")):
        if ruleset is None:
            continue
        for key in (ruleset.rules or {}).get(change_type, {}):
            sources[key] = Source(layer, ruleset.version, ruleset.province_code)
    rule = effective_rule(
        change_type,
        national=national.rules if national else {},
        province=province.rules if province else None,
    )
    return EffectiveRule(change_type=change_type, rule=rule, sources=sources)


def effective_rules(province_code: str, at: datetime) -> EffectiveRules:
    """For each change type, the rule in force in ``province_code`` ('' = the national
    layer alone) at ``at``, with where each value came from. Not scoped: callers check
    ``access_rules`` first."""
    national = ruleset_in_force(NATIONAL, at=at)
    province = ruleset_in_force(province_code, at=at) if province_code else None
    return EffectiveRules(
        province_code=province_code,
        at=at,
        national=national,
        province=province,
        types=[
            merge_with_sources(change_type, national=national, province=province)
            for change_type in ChangeType.values
        ],
    )


# ----------------------------------------------------------------- editing: the layer below


@dataclass(frozen=True)
class EditContext:
    """What the edit page starts from: the merged rules of the layer below (defaults, plus
    the national set in force for a province), the layer's newest version, and the merged
    rules as they stand with that version (scheduled or not)."""

    province_code: str
    below: dict[str, dict]
    latest: RuleSet | None
    current: dict[str, dict]


def ruleset_edit_context(actor: Any, province_code: str) -> EditContext:
    access_rules_edit(actor, province_code)
    if province_code and province_code not in province_codes():
        raise NotFound("province")
    latest = RuleSet.objects.filter(province_code=province_code).order_by("-version").first()
    national: dict = {}
    if province_code:
        in_force = ruleset_in_force(NATIONAL, at=clock.now())
        national = in_force.rules if in_force else {}
    below = {
        t: effective_rule(t, national=national, province=None).as_json() for t in ChangeType.values
    }
    layer = latest.rules if latest else {}
    current = {
        t: (
            effective_rule(t, national=national, province=layer)
            if province_code
            else effective_rule(t, national=layer, province=None)
        ).as_json()
        for t in ChangeType.values
    }
    return EditContext(province_code=province_code, below=below, latest=latest, current=current)


def normalised(key: str, value: Any) -> Any:
    """A rule value in one canonical JSON form, so equal rules compare equal: materials in
    the code-table order, blocks with every key."""
    if key == "chain":
        return list(value or [])
    if key == "materials":
        order = {kind: i for i, kind in enumerate(MaterialKind.values)}
        return sorted(value or [], key=lambda kind: order.get(kind, len(order)))
    if key == "blocked":
        return [
            {
                "grades": list(block.get("grades") or []),
                "semester": int(block.get("semester") or 0),
                "from_md": block.get("from_md") or "",
                "to_md": block.get("to_md") or "",
                "note": block.get("note") or "",
            }
            for block in value or []
        ]
    if key in ("deadlines", "options"):
        return dict(value or {})
    return value


def overrides_against(below: dict[str, dict], wanted: dict[str, dict]) -> dict[str, dict]:
    """Only what ``wanted`` changes compared with ``below``: the content of a layer."""
    overrides: dict[str, dict] = {}
    for change_type, values in wanted.items():
        base = below.get(change_type, {})
        changed = {
            key: normalised(key, value)
            for key, value in values.items()
            if normalised(key, value) != normalised(key, base.get(key))
        }
        if changed:
            overrides[change_type] = changed
    return overrides


# ----------------------------------------------------------------- diffs between versions


@dataclass(frozen=True)
class RuleChange:
    """One key of one change type that differs between two versions of a layer; ``None``
    means the layer did not set it (the layer below applies)."""

    change_type: str
    key: str
    before: Any
    after: Any

    @property
    def path(self) -> str:
        return f"{self.change_type}.{self.key}"

    def as_dict(self) -> dict:
        return {"path": self.path, "before": self.before, "after": self.after}


def rules_diff(before: dict, after: dict) -> list[RuleChange]:
    """The keys two layer contents set differently, in change-type and key order."""
    changes = []
    types = [t for t in ChangeType.values if t in before or t in after]
    types += sorted((set(before) | set(after)) - set(ChangeType.values))
    for change_type in types:
        old = before.get(change_type) or {}
        new = after.get(change_type) or {}
        keys = [k for k in RULE_KEYS if k in old or k in new]
        keys += sorted((set(old) | set(new)) - set(RULE_KEYS))
        for key in keys:
            was = normalised(key, old[key]) if key in old else None
            now = normalised(key, new[key]) if key in new else None
            if was != now:
                changes.append(RuleChange(change_type, key, was, now))
    return changes


# ----------------------------------------------------------------- publishing


def _clean_rules(rules: dict) -> dict:
    """The stored form: change types with nothing to override left out."""
    return {t: v for t, v in rules.items() if v != {}}


def ruleset_publish(
    *,
    actor: Any,
    province_code: str,
    rules: dict,
    note: str,
    effective_from: datetime | None = None,
) -> RuleSet:
    """Publish a new version of one layer: '' the national defaults (national level only),
    else a province's overrides (that province, or the national level).

    ``rules`` holds, per change type, only the keys this layer changes; it replaces the
    layer's previous version as a whole. The version number is the layer's last plus one;
    two publishers racing for it are decided by the unique (province, version) constraint
    (the loser retries, and after a few attempts gets a Conflict). ``effective_from``
    defaults to now and may lie in the future (a scheduled version); it may not precede
    the layer's newest version's, so a scheduled version is never silently skipped.
    """
    province_code = (province_code or "").strip()
    access_rules_edit(actor, province_code)
    note = (note or "").strip()
    errors: list[FieldError] = []
    if province_code and province_code not in province_codes():
        errors.append(FieldError("province_code", "ruleset.province_unknown", _("未知的省份代码")))
    errors += validate_rule_overrides(rules, national=province_code == NATIONAL)
    if not note:
        errors.append(FieldError("note", "ruleset.note_required", _("请填写本次调整的说明")))
    elif len(note) > 255:
        errors.append(FieldError("note", "ruleset.note_too_long", _("说明不能超过 255 个字")))
    if effective_from is not None and timezone.is_naive(effective_from):
        effective_from = timezone.make_aware(effective_from)
    if effective_from is not None and effective_from < clock.now() - BACKDATE_GRACE:
        errors.append(FieldError("effective_from", "ruleset.backdated", _("生效时间不能早于现在")))
    content = _clean_rules(rules) if isinstance(rules, dict) else {}
    with transaction.atomic():
        for _attempt in range(PUBLISH_ATTEMPTS):
            latest = (
                RuleSet.objects.filter(province_code=province_code).order_by("-version").first()
            )
            # "Now" is read after the newest version: a racer that just committed took
            # effect before this moment, never after it.
            now = clock.now()
            effective_from = max(effective_from or now, now)
            problems = list(errors)
            if latest is not None:
                problems += _against_latest(latest, content, effective_from)
            if problems:
                raise ValidationFailed(problems, _("规则未通过校验，未发布。"))
            try:
                with transaction.atomic():
                    ruleset = RuleSet.objects.create(
                        province_code=province_code,
                        version=(latest.version + 1) if latest else 1,
                        effective_from=effective_from,
                        rules=content,
                        note=note,
                        created_at=now,
                        created_by_id=getattr(actor, "pk", None),
                        created_by_username=getattr(actor, "username", "") or "",
                    )
            except IntegrityError:
                continue  # another publisher took this number: read the newest again
            break
        else:
            raise Conflict(
                "ruleset.concurrent_publish",
                _("同一时间有其他人发布了该规则的新版本，请刷新后重试。"),
            )
        changes = rules_diff(latest.rules if latest else {}, content)
        audit_record(
            actor=actor,
            action=AuditAction.RULESET_PUBLISH,
            object_type=ObjectType.RULESET,
            object_id=ruleset.pk,
            summary=(
                f"发布{layer_name(province_code)}学籍变动规则第{ruleset.version}版"
                f"（{len(changes)}项调整）"
            ),
            detail={
                "province_code": province_code,
                "version": ruleset.version,
                "effective_from": effective_from.isoformat(),
                "scheduled": effective_from > now,
                "note": note,
                "changes": [change.as_dict() for change in changes],
            },
        )
    return ruleset


def _against_latest(latest: RuleSet, content: dict, effective_from: datetime) -> list[FieldError]:
    errors = []
    if effective_from < latest.effective_from:
        errors.append(
            FieldError(
                "effective_from",
                "ruleset.before_latest",
                _(
                    "生效时间不能早于第%(version)d版的生效时间（%(at)s）；"
                    "如需替换尚未生效的版本，请发布生效时间不早于它的新版本。"
                )
                % {
                    "version": latest.version,
                    "at": timezone.localtime(latest.effective_from).strftime("%Y-%m-%d %H:%M"),
                },
            )
        )
    if not rules_diff(latest.rules or {}, content):
        errors.append(
            FieldError(
                "rules",
                "ruleset.unchanged",
                _("与第%d版内容相同，无需发布新版本。") % latest.version,
            )
        )
    return errors


def layer_requested(actor: Any, province: str | None) -> str:
    """The layer a page or API call asks for: the actor's own province when it names none
    (the national layer for the national level); '', "national" or "00" for the national
    layer; else a two-digit province code. Unknown or out-of-scope layers read as not found."""
    if province is None:
        own = actor_province(actor)
        if own is None:
            raise NotFound("ruleset")
        province = own
    province = province.strip()
    if province in ("national", "00"):
        province = NATIONAL
    access_rules(actor, province)
    if province and province not in province_codes():
        raise NotFound("province")
    return province


def ruleset_status(ruleset: RuleSet, *, in_force: RuleSet | None, now: datetime) -> str:
    """ "in_force", "scheduled" (not yet effective) or "superseded"."""
    if in_force is not None and ruleset.pk == in_force.pk:
        return "in_force"
    if ruleset.effective_from > now:
        return "scheduled"
    return "superseded"
