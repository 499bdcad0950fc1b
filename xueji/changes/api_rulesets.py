"""Province rule sets over the API: the rules in force with the source of each value, the
versions of a layer, and publishing a new version. Same selectors and service as the pages.

``province``: omitted, the caller's own province (the national layer for a national
account); ``national`` (or empty) the national layer alone; else a two-digit code.
"""

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from ninja import Router, Schema, Status

from xueji import clock
from xueji.api_types import IsoDateTime
from xueji.i18n import gettext_lazy_str as _

from .models import RuleSet
from .rulesets import (
    EffectiveRule,
    effective_rules,
    layer_name,
    layer_requested,
    ruleset_history,
    ruleset_publish,
    ruleset_status,
)
from .services import ruleset_in_force

router = Router(tags=[_("学籍变动规则")])


class SourceOut(Schema):
    layer: str  # default | national | province
    version: int | None
    province_code: str
    label: str


class BlockOut(Schema):
    grades: list[str]
    semester: int
    from_md: str
    to_md: str
    note: str


class TypeRuleOut(Schema):
    change_type: str
    label: str
    enabled: bool
    chain: list[str]
    step_days: int
    deadlines: dict[str, int]
    materials: list[str]
    blocked: list[BlockOut]
    options: dict[str, Any]
    # Per key of the rule: which layer's value is in force.
    sources: dict[str, SourceOut]


class EffectiveOut(Schema):
    province_code: str
    province_name: str
    at: datetime
    national_version: int | None
    province_version: int | None
    types: list[TypeRuleOut]


class VersionOut(Schema):
    id: int
    province_code: str
    version: int
    effective_from: datetime
    status: str  # in_force | scheduled | superseded
    rules: dict[str, Any]
    note: str
    created_at: datetime
    created_by: str


class PublishIn(Schema):
    province_code: str = ""
    rules: dict[str, Any]
    note: str = ""
    effective_from: IsoDateTime | None = None


def _type_out(effective: EffectiveRule) -> dict:
    data = effective.rule.as_json()
    return {
        **data,
        "change_type": effective.change_type,
        "label": effective.label,
        "blocked": [
            {**block, "grades": list(block["grades"]), "semester": int(block["semester"])}
            for block in data["blocked"]
        ],
        "sources": {key: source.as_dict() for key, source in effective.sources.items()},
    }


def _version_out(ruleset: RuleSet, *, in_force: RuleSet | None, now: datetime) -> dict:
    return {
        "id": ruleset.pk,
        "province_code": ruleset.province_code,
        "version": ruleset.version,
        "effective_from": ruleset.effective_from,
        "status": ruleset_status(ruleset, in_force=in_force, now=now),
        "rules": ruleset.rules or {},
        "note": ruleset.note,
        "created_at": ruleset.created_at,
        "created_by": ruleset.created_by_username,
    }


@router.get(
    "/rules",
    response=EffectiveOut,
    summary=_("某省现行（或某一时刻生效）的学籍变动规则，逐项注明来源"),
)
def get_effective_rules(
    request: HttpRequest, province: str | None = None, at: IsoDateTime | None = None
):
    actor = request.auth  # type: ignore[attr-defined]
    province_code = layer_requested(actor, province)
    if at is not None and timezone.is_naive(at):
        at = timezone.make_aware(at)  # a time without offset is Shanghai time
    effective = effective_rules(province_code, at or clock.now())
    return {
        "province_code": province_code,
        "province_name": layer_name(province_code),
        "at": effective.at,
        "national_version": effective.national.version if effective.national else None,
        "province_version": effective.province.version if effective.province else None,
        "types": [_type_out(e) for e in effective.types],
    }


@router.get(
    "/rules/versions",
    response=list[VersionOut],
    summary=_("某一层规则（全国或某省）的全部版本，新版本在前"),
)
def list_rule_versions(request: HttpRequest, province: str | None = None):
    actor = request.auth  # type: ignore[attr-defined]
    province_code = layer_requested(actor, province)
    now = clock.now()
    in_force = ruleset_in_force(province_code, at=now)
    return [
        _version_out(r, in_force=in_force, now=now) for r in ruleset_history(actor, province_code)
    ]


@router.post(
    "/rules/versions",
    response={201: VersionOut},
    summary=_("发布新版本（省级：本省；国家级：全国或任一省）；rules 只写本层调整的项"),
)
def publish_rule_version(request: HttpRequest, payload: PublishIn):
    """Errors name the rule by path (``transfer.chain``, ``transfer.blocked[0].from_md``)."""
    ruleset = ruleset_publish(
        actor=request.auth,  # type: ignore[attr-defined]
        province_code=payload.province_code,
        rules=payload.rules,
        note=payload.note,
        effective_from=payload.effective_from,
    )
    now = clock.now()
    in_force = ruleset_in_force(ruleset.province_code, at=now)
    return Status(201, _version_out(ruleset, in_force=in_force, now=now))
