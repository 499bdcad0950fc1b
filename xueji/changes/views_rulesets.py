"""Rule-set pages: the rules in force with the source of each value, one version with its
diff, and the edit page that publishes a new version.

Each view parses, calls one selector or service, and renders. Reading needs
``change.view`` (every unit reads the national layer and its own province's; the national
level every province's); editing needs ``ruleset.edit`` at the province or national level.
"""

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from xueji import clock
from xueji.errors import FieldError, NotFound, ValidationFailed
from xueji.schools.rules import GRADES
from xueji.web.views import page

from .forms_rulesets import PublishForm, TypeSection
from .rules import ENTRY, GRADUATING, ChangeType, MaterialKind, Party
from .rulesets import (
    NATIONAL,
    RULE_KEYS,
    EffectiveRule,
    actor_province,
    can_edit_rules,
    effective_rules,
    layer_name,
    layer_requested,
    overrides_against,
    province_codes,
    rules_diff,
    ruleset_detail,
    ruleset_edit_context,
    ruleset_history,
    ruleset_publish,
    ruleset_status,
)
from .services import ruleset_in_force

KEY_LABELS = {
    "enabled": gettext_lazy("开放办理"),
    "chain": gettext_lazy("审核环节及顺序"),
    "step_days": gettext_lazy("每步时限"),
    "deadlines": gettext_lazy("分环节时限"),
    "materials": gettext_lazy("必需材料"),
    "blocked": gettext_lazy("不予办理的时段和年级"),
    "options": gettext_lazy("其他设置"),
}
STATUS_LABELS = {
    "in_force": gettext_lazy("生效中"),
    "scheduled": gettext_lazy("待生效"),
    "superseded": gettext_lazy("已被替代"),
}


# ----------------------------------------------------------------- describing values


def _label(choices: Any, value: str) -> str:
    try:
        return str(choices(value).label)
    except ValueError:
        return value


def describe_block(block: dict) -> str:
    grades = [
        str(_("起始年级"))
        if g == ENTRY
        else str(_("毕业年级"))
        if g == GRADUATING
        else str(GRADES[g].name)
        if g in GRADES
        else g
        for g in block.get("grades") or []
    ]
    parts = ["、".join(grades) if grades else _("所有年级")]
    semester = int(block.get("semester") or 0)
    if semester:
        parts.append(_("第一学期") if semester == 1 else _("第二学期"))
    start, end = block.get("from_md") or "", block.get("to_md") or ""
    if start or end:
        parts.append(_("%(start)s 至 %(end)s") % {"start": start or "01-01", "end": end or "12-31"})
    text = " · ".join(str(p) for p in parts)
    note = block.get("note") or ""
    return f"{text}（{note}）" if note else text


def describe_option(key: str, value: Any) -> str:
    if key == "max_days":
        return _("最长 %s 天") % value
    if key == "from_effective":
        return _("期限自生效日期起算") if value else _("期限自收到之日起算")
    if key == "move_record":
        return _("学籍随安置转入") if value else _("学籍保留在原学校")
    return f"{key} = {value}"


def describe(key: str, value: Any) -> str:
    """A rule value in words; ``None`` is a key the layer does not set."""
    if value is None:
        return _("（未设置，沿用下层规则）")
    if key == "enabled":
        return _("开放") if value else _("不开放")
    if key == "chain":
        return " → ".join(_label(Party, p) for p in value) or _("无")
    if key == "step_days":
        return _("%d 个工作日") % value
    if key == "deadlines":
        return "；".join(
            _("%(party)s %(days)d 个工作日") % {"party": _label(Party, p), "days": d}
            for p, d in value.items()
        ) or _("无")
    if key == "materials":
        return "、".join(_label(MaterialKind, m) for m in value) or _("无")
    if key == "blocked":
        return "；".join(describe_block(b) for b in value) or _("无")
    if key == "options":
        return "；".join(describe_option(k, v) for k, v in value.items()) or _("无")
    return str(value)


def _row(effective: EffectiveRule) -> dict:
    data = effective.rule.as_json()
    return {
        "change_type": effective.change_type,
        "label": effective.label,
        "enabled": data["enabled"],
        "chain": [_label(Party, p) for p in data["chain"]],
        "cells": {key: describe(key, data[key]) for key in RULE_KEYS},
        "blocked": [describe_block(b) for b in data["blocked"]],
        "materials": [_label(MaterialKind, m) for m in data["materials"]],
        "sources": effective.sources,
        "has_deadlines": bool(data["deadlines"]),
        "has_options": bool(data["options"]),
    }


def _history(actor: Any, province_code: str) -> list[dict]:
    now = clock.now()
    in_force = ruleset_in_force(province_code, at=now)
    return [
        {
            "ruleset": ruleset,
            "status": ruleset_status(ruleset, in_force=in_force, now=now),
            "status_label": STATUS_LABELS[ruleset_status(ruleset, in_force=in_force, now=now)],
        }
        for ruleset in ruleset_history(actor, province_code)
    ]


# ----------------------------------------------------------------- the rules in force


@page
def overview(request: HttpRequest) -> HttpResponse:
    """The merged rules in force for the actor's province (a national account picks one),
    with the source of each value, and the versions of both layers."""
    actor = request.user
    province_code = layer_requested(actor, request.GET.get("province"))
    effective = effective_rules(province_code, clock.now())
    national_level = actor_province(actor) == NATIONAL
    return render(
        request,
        "changes/rulesets_overview.html",
        {
            "province_code": province_code,
            "layer_name": layer_name(province_code),
            "effective": effective,
            "rows": [_row(e) for e in effective.types],
            "key_labels": KEY_LABELS,
            "provinces": province_codes() if national_level else {},
            "national_history": _history(actor, NATIONAL),
            "province_history": _history(actor, province_code) if province_code else [],
            "can_edit_national": can_edit_rules(actor, NATIONAL),
            "can_edit_province": bool(province_code) and can_edit_rules(actor, province_code),
        },
    )


# ----------------------------------------------------------------- one version


@page
def version_view(request: HttpRequest, ruleset_id: int) -> HttpResponse:
    """One version: what it sets, and how it differs from the previous version of the same
    layer (or from the version chosen with ``against``)."""
    actor = request.user
    ruleset = ruleset_detail(actor, ruleset_id)
    history = _history(actor, ruleset.province_code)
    others = [h["ruleset"] for h in history if h["ruleset"].pk != ruleset.pk]
    wanted = request.GET.get("against", "")
    against = next((r for r in others if str(r.version) == wanted), None)
    if against is None:
        against = next((r for r in others if r.version < ruleset.version), None)
    changes = rules_diff(against.rules if against else {}, ruleset.rules or {})
    content = [
        {
            "label": _label(ChangeType, change_type),
            "entries": [
                {"key": KEY_LABELS.get(key, key), "text": describe(key, value)}
                for key, value in values.items()
            ],
        }
        for change_type, values in (ruleset.rules or {}).items()
    ]
    status = next(h["status_label"] for h in history if h["ruleset"].pk == ruleset.pk)
    return render(
        request,
        "changes/rulesets_version.html",
        {
            "ruleset": ruleset,
            "layer_name": layer_name(ruleset.province_code),
            "status_label": status,
            "content": content,
            "against": against,
            "others": others,
            "changes": [
                {
                    "type_label": _label(ChangeType, change.change_type),
                    "key_label": KEY_LABELS.get(change.key, change.key),
                    "path": change.path,
                    "before": describe(change.key, change.before),
                    "after": describe(change.key, change.after),
                }
                for change in changes
            ],
        },
    )


# ----------------------------------------------------------------- editing


def _layer_code(layer: str) -> str:
    if layer == "national":
        return NATIONAL
    if len(layer) == 2 and layer.isdigit():
        return layer
    raise NotFound("ruleset")


def _place_errors(
    errors: list[FieldError], sections: dict[str, TypeSection], publish: PublishForm
) -> list[FieldError]:
    """Service errors onto their fields; what has no field is returned for the top."""
    loose = []
    for error in errors:
        head = error.field.split(".", 1)[0]
        if head in sections:
            sections[head].add_error(error)
        elif error.field in publish.fields:
            publish.add_error(error.field, str(error.message))
        else:
            loose.append(error)
    return loose


@page
def edit_view(request: HttpRequest, layer: str) -> HttpResponse:
    """GET: the layer's rules as they stand, one section per change type. POST: publish a
    new version holding only what differs from the layer below."""
    actor = request.user
    province_code = _layer_code(layer)
    context = ruleset_edit_context(actor, province_code)
    data = request.POST if request.method == "POST" else None
    sections = {
        t: TypeSection(t, rule=context.current[t], below=context.below[t], data=data)
        for t in ChangeType.values
    }
    publish = PublishForm(data)
    loose: list[FieldError] = []
    if data is not None:
        # Every form is validated so all errors show at once.
        valid = [s.is_valid() for s in sections.values()] + [publish.is_valid()]
        if all(valid):
            wanted = {t: s.values() for t, s in sections.items()}
            try:
                ruleset = ruleset_publish(
                    actor=actor,
                    province_code=province_code,
                    rules=overrides_against(context.below, wanted),
                    note=publish.cleaned_data["note"],
                    effective_from=publish.cleaned_data["effective_from"],
                )
            except ValidationFailed as error:
                loose = _place_errors(error.errors, sections, publish)
            else:
                messages.success(
                    request,
                    _("已发布%(layer)s学籍变动规则第%(version)d版。")
                    % {"layer": layer_name(province_code), "version": ruleset.version},
                )
                return redirect("rulesets:version", ruleset_id=ruleset.pk)
    failed = [s for s in sections.values() if s.has_errors]
    return render(
        request,
        "changes/rulesets_edit.html",
        {
            "layer": layer,
            "province_code": province_code,
            "layer_name": layer_name(province_code),
            "latest": context.latest,
            "sections": list(sections.values()),
            "publish": publish,
            "loose": loose,
            "failed": failed,
            "posted": data is not None,
        },
        status=422 if data is not None else 200,
    )
