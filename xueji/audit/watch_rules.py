"""Security warning rules (安全预警规则, Art. 23): pure tables and functions, no database.

Each rule watches one pattern of use in the audit trail or the sign-in records and fires
when, within one window, a count reaches its ``threshold``. The code defaults below are the
national defaults until a national rule set is published; a province's rule set overrides
single keys of single rules (``WarningRuleSet``, versioned like the change rule sets:
``xueji/changes/rulesets.py``). ``effective_watch_rules`` merges the three layers.

Windows are tumbling and aligned to local (Asia/Shanghai) time: a 60-minute window runs
from the full hour, a 1440-minute window from local midnight. A finding is keyed by its
rule, subject and window start, so evaluating a window again never raises it twice.
"""

from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Any


class WatchRule(StrEnum):
    """The rules. The value is the rule key in rule sets; the warning kind is
    ``security.<value>`` (``xueji.audit.warnings.WarningKind``)."""

    BULK_READS = "bulk_reads"
    EXPORTS = "exports"
    OFF_HOURS = "off_hours"
    NEW_NETWORK = "new_network"
    FAILED_SIGNINS_ACCOUNT = "failed_signins_account"
    FAILED_SIGNINS_ADDRESS = "failed_signins_address"
    BLOCKED_ACCOUNT_ATTEMPTS = "blocked_account_attempts"
    SCOPE_PROBING = "scope_probing"
    MASS_CHANGES = "mass_changes"
    DUPLICATE_SEARCH = "duplicate_search"
    TOKEN_REFUSALS = "token_refusals"  # noqa: S105 - a rule key, not a secret
    AUDIT_VERIFY_FAILED = "audit_verify_failed"
    # Raised at once by the reading limits (xueji.audit.limits), not by the evaluation.
    READ_LIMIT = "read_limit"


@dataclass(frozen=True)
class WatchRuleConfig:
    """One rule in force. ``threshold``: the count at which it fires (it fires at the
    threshold, not one below). ``work_start``/``work_end``: working hours (``off_hours``)."""

    enabled: bool
    threshold: int
    window_minutes: int
    work_start: str = "08:00"
    work_end: str = "18:00"


DEFAULT_WATCH_RULES: dict[str, WatchRuleConfig] = {
    # distinct students read (pages and API) by one account
    WatchRule.BULK_READS: WatchRuleConfig(True, 300, 60),
    # rows of students exported by one account
    WatchRule.EXPORTS: WatchRuleConfig(True, 2000, 1440),
    # reads and sign-ins of one account outside working hours or on a non-working day
    WatchRule.OFF_HOURS: WatchRuleConfig(True, 20, 1440),
    # successful sign-ins of one account from a network (/24, /64) it never used before
    WatchRule.NEW_NETWORK: WatchRuleConfig(True, 1, 60),
    # failed sign-ins for one user name
    WatchRule.FAILED_SIGNINS_ACCOUNT: WatchRuleConfig(True, 5, 15),
    # failed sign-ins from one address (any user names)
    WatchRule.FAILED_SIGNINS_ADDRESS: WatchRuleConfig(True, 20, 15),
    # sign-in attempts on a sealed, disabled or locked account
    WatchRule.BLOCKED_ACCOUNT_ATTEMPTS: WatchRuleConfig(True, 3, 60),
    # student ids not found (missing or out of scope), duplicate checks and transfers
    # that met records outside the account's scope
    WatchRule.SCOPE_PROBING: WatchRuleConfig(True, 10, 60),
    # completed status changes at one school
    WatchRule.MASS_CHANGES: WatchRuleConfig(True, 50, 1440),
    # students shown by duplicate checks to one account
    WatchRule.DUPLICATE_SEARCH: WatchRuleConfig(True, 30, 60),
    # refused API token uses (unknown, revoked, expired, blocked account, over the rate)
    WatchRule.TOKEN_REFUSALS: WatchRuleConfig(True, 10, 60),
    # a failed audit_verify run
    WatchRule.AUDIT_VERIFY_FAILED: WatchRuleConfig(True, 1, 1440),
}

RULE_KEYS = ("enabled", "threshold", "window_minutes", "work_start", "work_end")
MAX_WINDOW_MINUTES = 7 * 1440
# Local time: windows and working hours are in the registry's legal zone (UTC+8, no DST).
LOCAL_OFFSET = timedelta(hours=8)


class RuleOverrideError(ValueError):
    """An override that cannot apply; ``path`` names the rule and key."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


def _parse_hhmm(value: Any) -> time | None:
    if not isinstance(value, str):
        return None
    try:
        return time.fromisoformat(value)
    except ValueError:
        return None


def validate_watch_overrides(overrides: Any) -> dict[str, dict[str, Any]]:
    """The overrides of one layer, checked: known rules and keys, sane values. Raises
    ``RuleOverrideError`` naming the first bad one (messages in Chinese: stored data)."""
    if not isinstance(overrides, dict):
        raise RuleOverrideError("rules", "规则须为对象")
    clean: dict[str, dict[str, Any]] = {}
    for code, keys in overrides.items():
        if code not in DEFAULT_WATCH_RULES:
            raise RuleOverrideError(str(code), "未知的预警规则")
        if not isinstance(keys, dict):
            raise RuleOverrideError(str(code), "规则须为对象")
        for key, value in keys.items():
            path = f"{code}.{key}"
            if key not in RULE_KEYS:
                raise RuleOverrideError(path, "未知的规则项")
            if key == "enabled" and not isinstance(value, bool):
                raise RuleOverrideError(path, "须为 true 或 false")
            if key == "threshold" and (
                not isinstance(value, int) or isinstance(value, bool) or value < 1
            ):
                raise RuleOverrideError(path, "阈值须为正整数")
            if key == "window_minutes" and (
                not isinstance(value, int)
                or isinstance(value, bool)
                or not 1 <= value <= MAX_WINDOW_MINUTES
            ):
                raise RuleOverrideError(path, f"时间窗须为 1 至 {MAX_WINDOW_MINUTES} 分钟")
            if key in ("work_start", "work_end") and _parse_hhmm(value) is None:
                raise RuleOverrideError(path, "时间须为 HH:MM")
        clean[str(code)] = dict(keys)
    return clean


def effective_watch_rules(
    *, national: dict[str, dict[str, Any]], province: dict[str, dict[str, Any]] | None
) -> dict[str, WatchRuleConfig]:
    """Code defaults, then the national layer, then the province's: key by key."""
    merged: dict[str, WatchRuleConfig] = {}
    for code, default in DEFAULT_WATCH_RULES.items():
        rule = default
        for layer in (national, province or {}):
            keys = {k: v for k, v in (layer.get(code) or {}).items() if k in RULE_KEYS}
            if keys:
                rule = replace(rule, **keys)
        merged[code] = rule
    return merged


def window_start(at: datetime, minutes: int) -> datetime:
    """The start of the tumbling window holding ``at`` (aligned to local time)."""
    size = minutes * 60
    local = at + LOCAL_OFFSET
    seconds = int(local.timestamp())
    return datetime.fromtimestamp(seconds - seconds % size, tz=at.tzinfo) - LOCAL_OFFSET


def windows_between(since: datetime, until: datetime, minutes: int) -> list[datetime]:
    """The starts of every window that overlaps ``[since, until)``, oldest first."""
    step = timedelta(minutes=minutes)
    first = window_start(since, minutes)
    starts = []
    current = first
    while current < until:
        starts.append(current)
        current += step
    return starts or [first]


def is_off_hours(local: datetime, *, workday: bool | None, rule: WatchRuleConfig) -> bool:
    """Whether a local time is outside working hours: a non-working day of the calendar
    (a weekend when the calendar lacks the year), or before ``work_start`` / from
    ``work_end`` on a working day."""
    if workday is None:
        workday = local.weekday() < 5
    if not workday:
        return True
    start = _parse_hhmm(rule.work_start) or time(8)
    end = _parse_hhmm(rule.work_end) or time(18)
    return not start <= local.time() < end


def network_of(ip: str | None) -> str:
    """The network an address belongs to: its /24 (IPv4) or /64 (IPv6); '' without one."""
    import ipaddress

    if not ip:
        return ""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ""
    prefix = 24 if address.version == 4 else 64
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))
