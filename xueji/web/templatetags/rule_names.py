"""Template filters that show a stored code by its name in words (``xueji.rule_names``)."""

from django import template

from xueji import rule_names

register = template.Library()


@register.filter
def import_rule(code: str) -> str:
    return rule_names.import_rule_name(code)


@register.filter
def warning_kind(kind: str) -> str:
    return rule_names.warning_kind_name(kind)


@register.filter
def sign_in_outcome(reason: str) -> str:
    return rule_names.sign_in_outcome_name(reason)
