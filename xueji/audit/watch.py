"""Security warnings (安全预警, Art. 23): evaluating the rules over the trail, set-based.

``warnings_evaluate`` reads, for each rule, the windows that overlap the stretch since the
last run (the watermark) with one ``GROUP BY`` query per rule and window size — never a
query per event — and raises a warning for every group that reaches its rule's threshold
in force for the account's province. A window still running is read again on the next
run; a finding is keyed by rule, subject and window start, so it is raised once (even
after it was resolved). Warnings go to the unit of the account (or of the school) and the
level above (``warning_raise``), where the security admins read them.
"""

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Count, Max, Min, QuerySet
from django.db.models.functions import TruncHour
from django.urls import reverse
from django.utils import timezone

from xueji import clock
from xueji.accounts.models import LoginAttempt, Unit, User

from .events import AuditAction, ObjectType
from .models import AuditEvent, EarlyWarning, WarningRuleSet, WarningWatermark
from .services import audit_record
from .warnings import SECURITY_PREFIX, warning_raise
from .watch_rules import (
    WatchRule,
    WatchRuleConfig,
    effective_watch_rules,
    is_off_hours,
    network_of,
    windows_between,
)

WATERMARK = "security"
# The first run reads back this far.
FIRST_LOOKBACK = timedelta(days=1)
EVIDENCE_SAMPLE = 20
NATIONAL = ""


# ----------------------------------------------------------------- rules in force


def watch_ruleset_in_force(province_code: str, *, at: datetime) -> WarningRuleSet | None:
    return (
        WarningRuleSet.objects.filter(province_code=province_code, effective_from__lte=at)
        .order_by("-version")
        .first()
    )


class RulesInForce:
    """The merged rules per province, read once per run (one query for every layer)."""

    def __init__(self, at: datetime) -> None:
        layers: dict[str, dict] = {}
        for ruleset in WarningRuleSet.objects.filter(effective_from__lte=at).order_by(
            "province_code", "-version"
        ):
            layers.setdefault(ruleset.province_code, ruleset.rules)
        self.national = layers.pop(NATIONAL, {})
        self.provinces = layers
        self._cache: dict[str, dict[str, WatchRuleConfig]] = {}

    def for_province(self, province: str) -> dict[str, WatchRuleConfig]:
        if province not in self._cache:
            self._cache[province] = effective_watch_rules(
                national=self.national, province=self.provinces.get(province)
            )
        return self._cache[province]

    def rule(self, code: str, province: str) -> WatchRuleConfig:
        return self.for_province(province)[code]

    def fires(self, code: str, province: str, *, minutes: int, count: int) -> bool:
        """Whether ``count`` in a window of ``minutes`` raises the rule in force for the
        province: enabled, that window size, at or above its threshold."""
        rule = self.rule(code, province)
        return rule.enabled and rule.window_minutes == minutes and count >= rule.threshold

    def variants(self, code: str) -> dict[int, int]:
        """Window size → the lowest threshold any layer gives it (enabled layers only): the
        queries' ``HAVING``; each group is then checked against its own province."""
        out: dict[int, int] = {}
        for province in [NATIONAL, *self.provinces]:
            rule = self.for_province(province)[code]
            if rule.enabled:
                out[rule.window_minutes] = min(
                    out.get(rule.window_minutes, rule.threshold), rule.threshold
                )
        return out


def province_of(unit: Unit | None) -> str:
    """The province whose rules apply to a unit ('' for the nation and without a unit)."""
    if unit is None:
        return NATIONAL
    return (unit.area_prefix or "")[:2]


# ----------------------------------------------------------------- findings


@dataclass
class Finding:
    rule: str
    unit: Unit
    subject_type: str
    subject_key: str
    window_start: datetime
    window_end: datetime
    count: int
    threshold: int
    message: str
    detail: dict = field(default_factory=dict)

    @classmethod
    def about_account(
        cls,
        rule: str,
        user: User,
        start: datetime,
        end: datetime,
        *,
        count: int,
        threshold: int,
        message: str,
        **detail: Any,
    ) -> "Finding":
        """A finding about one account: raised to its unit, the detail naming it first."""
        assert user.unit is not None
        return cls(
            rule=rule,
            unit=user.unit,
            subject_type=ObjectType.USER,
            subject_key=str(user.pk),
            window_start=start,
            window_end=end,
            count=count,
            threshold=threshold,
            message=message,
            detail={"account_id": user.pk, "username": user.username, **detail},
        )

    @property
    def subject_id(self) -> str:
        # The window is part of the subject: one warning per subject and window, ever.
        return f"{self.subject_key}@{timezone.localtime(self.window_start):%Y%m%d%H%M}"


@dataclass
class EvaluationReport:
    since: datetime
    until: datetime
    findings: int = 0
    raised: int = 0
    by_rule: dict[str, int] = field(default_factory=dict)


def _local(at: datetime) -> str:
    return f"{timezone.localtime(at):%Y-%m-%d %H:%M}"


def _window_text(start: datetime, end: datetime) -> str:
    return f"{_local(start)}至{timezone.localtime(end):%H:%M}"


def _users(ids: Iterable[int]) -> dict[int, User]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return {
        u.pk: u for u in User.objects.filter(pk__in=wanted).select_related("unit", "unit__parent")
    }


def _national_unit() -> Unit | None:
    return Unit.objects.filter(kind="national").first()


# ----------------------------------------------------------------- account rules (audit)

_AccountQuery = Callable[[datetime, datetime], QuerySet]


def _audit_in(start: datetime, end: datetime, **filters: Any) -> QuerySet:
    return AuditEvent.objects.filter(at__gte=start, at__lt=end, actor_id__isnull=False, **filters)


def _account_rule(
    *,
    code: str,
    rules: RulesInForce,
    since: datetime,
    until: datetime,
    events: Callable[[datetime, datetime], QuerySet],
    measure: Any,
    message: Callable[[User, int, datetime, datetime], str],
) -> list[Finding]:
    """Groups of audit events by account per window; ``measure`` the aggregate counted."""
    findings: list[Finding] = []
    for minutes, lowest in rules.variants(code).items():
        for start in windows_between(since, until, minutes):
            end = start + timedelta(minutes=minutes)
            groups = list(
                events(start, min(end, until))
                .values("actor_id")
                .annotate(n=measure, first=Min("at"), last=Max("at"))
                .filter(n__gte=lowest)
                .order_by("actor_id")
            )
            users = _users(g["actor_id"] for g in groups)
            for group in groups:
                user = users.get(group["actor_id"])
                if user is None or user.unit is None:
                    continue
                province = province_of(user.unit)
                if not rules.fires(code, province, minutes=minutes, count=group["n"]):
                    continue
                rule = rules.rule(code, province)
                findings.append(
                    Finding.about_account(
                        code,
                        user,
                        start,
                        end,
                        count=group["n"],
                        threshold=rule.threshold,
                        message=message(user, group["n"], start, end),
                        first_at=group["first"].isoformat(),
                        last_at=group["last"].isoformat(),
                    )
                )
    return findings


def _evidence_reads(findings: list[Finding], actions: list[str]) -> None:
    """Which students, views and addresses: a sample per finding (one query per finding,
    never per event)."""
    for finding in findings:
        events = AuditEvent.objects.filter(
            actor_id=int(finding.subject_key),
            action__in=actions,
            at__gte=finding.window_start,
            at__lt=finding.window_end,
        )
        sample = list(events.order_by("at", "pk").values_list("object_id", "ip", "detail")[:200])
        students: list[str] = []
        for object_id, _ip, _detail in sample:
            if object_id and object_id not in students:
                students.append(object_id)
        finding.detail["students"] = students[:EVIDENCE_SAMPLE]
        finding.detail["addresses"] = sorted({ip for _o, ip, _d in sample if ip})[:10]
        finding.detail["views"] = sorted(
            {str(d.get("view", "")) for _o, _i, d in sample if isinstance(d, dict)} - {""}
        )[:10]


def _bulk_reads(rules: RulesInForce, since: datetime, until: datetime) -> list[Finding]:
    findings = _account_rule(
        code=WatchRule.BULK_READS,
        rules=rules,
        since=since,
        until=until,
        events=lambda s, e: _audit_in(s, e, action=AuditAction.STUDENT_READ.value).exclude(
            object_id=""
        ),
        measure=Count("object_id", distinct=True),
        message=lambda u, n, s, e: (
            f"账号 {u.username} 在 {_window_text(s, e)} 查阅了 {n} 名学生的信息"
        ),
    )
    _evidence_reads(findings, [AuditAction.STUDENT_READ.value])
    return findings


def _exports(rules: RulesInForce, since: datetime, until: datetime) -> list[Finding]:
    findings = _account_rule(
        code=WatchRule.EXPORTS,
        rules=rules,
        since=since,
        until=until,
        events=lambda s, e: _audit_in(s, e, action=AuditAction.STUDENT_EXPORT.value),
        measure=Count("pk"),
        message=lambda u, n, s, e: (
            f"账号 {u.username} 在 {_window_text(s, e)} 导出了 {n} 条学生信息"
        ),
    )
    _evidence_reads(findings, [AuditAction.STUDENT_EXPORT.value])
    return findings


PROBING_ACTIONS = [
    AuditAction.STUDENT_NOT_FOUND.value,
    AuditAction.STUDENT_DUPLICATE_OUTSIDE.value,
    AuditAction.CHANGE_FILE_REFUSED_OUTSIDE.value,
]


def _scope_probing(rules: RulesInForce, since: datetime, until: datetime) -> list[Finding]:
    findings = _account_rule(
        code=WatchRule.SCOPE_PROBING,
        rules=rules,
        since=since,
        until=until,
        events=lambda s, e: _audit_in(s, e, action__in=PROBING_ACTIONS),
        measure=Count("pk"),
        message=lambda u, n, s, e: (
            f"账号 {u.username} 在 {_window_text(s, e)} 有 {n} 次查阅不存在或辖区外的学生"
        ),
    )
    _evidence_reads(findings, PROBING_ACTIONS)
    return findings


def _duplicate_search(rules: RulesInForce, since: datetime, until: datetime) -> list[Finding]:
    findings = _account_rule(
        code=WatchRule.DUPLICATE_SEARCH,
        rules=rules,
        since=since,
        until=until,
        events=lambda s, e: _audit_in(
            s, e, action=AuditAction.STUDENT_READ.value, detail__kind="check"
        ).exclude(object_id=""),
        measure=Count("object_id", distinct=True),
        message=lambda u, n, s, e: (
            f"账号 {u.username} 在 {_window_text(s, e)} 通过查重看到 {n} 名学生"
        ),
    )
    _evidence_reads(findings, [AuditAction.STUDENT_READ.value])
    return findings


def _off_hours(rules: RulesInForce, since: datetime, until: datetime) -> list[Finding]:
    """Reads and sign-ins per account and local hour (one GROUP BY), then the hours outside
    working time on the working-day calendar are summed per account and window."""
    from xueji.workdays.models import CalendarDay

    code = WatchRule.OFF_HOURS
    findings: list[Finding] = []
    actions = [AuditAction.STUDENT_READ.value, AuditAction.ACCOUNT_SIGN_IN.value]
    tz = timezone.get_default_timezone()
    for minutes in rules.variants(code):
        for start in windows_between(since, until, minutes):
            end = start + timedelta(minutes=minutes)
            hours = list(
                _audit_in(start, min(end, until), action__in=actions)
                .annotate(hour=TruncHour("at", tzinfo=tz))
                .values("actor_id", "hour")
                .annotate(n=Count("pk"))
                .order_by("actor_id", "hour")
            )
            if not hours:
                continue
            days = sorted({timezone.localtime(h["hour"], tz).date() for h in hours})
            calendar = dict(
                CalendarDay.objects.filter(date__range=(days[0], days[-1])).values_list(
                    "date", "is_workday"
                )
            )
            users = _users(h["actor_id"] for h in hours)
            totals: dict[int, int] = defaultdict(int)
            hours_off: dict[int, list[str]] = defaultdict(list)
            for h in hours:
                user = users.get(h["actor_id"])
                if user is None or user.unit is None:
                    continue
                rule = rules.rule(code, province_of(user.unit))
                local = timezone.localtime(h["hour"], tz)
                # An hour counts when it starts outside working time (working hours are on
                # whole hours by default; a half-hour edge counts with its hour).
                if is_off_hours(local, workday=calendar.get(local.date()), rule=rule):
                    totals[user.pk] += h["n"]
                    hours_off[user.pk].append(f"{local:%m-%d %H}时")
            for user_id, n in totals.items():
                user = users[user_id]
                province = province_of(user.unit)
                if not rules.fires(code, province, minutes=minutes, count=n):
                    continue
                rule = rules.rule(code, province)
                assert user.unit is not None
                findings.append(
                    Finding.about_account(
                        code,
                        user,
                        start,
                        end,
                        count=n,
                        threshold=rule.threshold,
                        message=(
                            f"账号 {user.username} 在非工作时间查阅或登录 {n} 次"
                            f"（{_window_text(start, end)}）"
                        ),
                        hours=hours_off[user_id][:24],
                    )
                )
    return findings


def _mass_changes(rules: RulesInForce, since: datetime, until: datetime) -> list[Finding]:
    """Completed changes grouped by the school that held the record (``detail.school_id``)."""
    from xueji.schools.models import School

    code = WatchRule.MASS_CHANGES
    findings: list[Finding] = []
    for minutes, lowest in rules.variants(code).items():
        for start in windows_between(since, until, minutes):
            end = start + timedelta(minutes=minutes)
            groups = list(
                AuditEvent.objects.filter(
                    at__gte=start, at__lt=min(end, until), action=AuditAction.CHANGE_COMPLETE.value
                )
                .values("detail__school_id")
                .annotate(n=Count("pk"), actors=Count("actor_id", distinct=True))
                .filter(n__gte=lowest)
                .order_by("detail__school_id")
            )
            ids = [g["detail__school_id"] for g in groups if g["detail__school_id"] is not None]
            schools = {
                s.pk: s for s in School.objects.filter(pk__in=ids).select_related("unit__parent")
            }
            for group in groups:
                school = schools.get(group["detail__school_id"])
                unit = getattr(school, "unit", None) if school is not None else None
                if school is None or unit is None:
                    continue
                if not rules.fires(code, province_of(unit), minutes=minutes, count=group["n"]):
                    continue
                rule = rules.rule(code, province_of(unit))
                findings.append(
                    Finding(
                        rule=code,
                        unit=unit,
                        subject_type=ObjectType.SCHOOL,
                        subject_key=str(school.pk),
                        window_start=start,
                        window_end=end,
                        count=group["n"],
                        threshold=rule.threshold,
                        message=(
                            f"{school.name} 在 {_window_text(start, end)} 办结 {group['n']} 件学籍变动"
                        ),
                        detail={"school_id": school.pk, "accounts": group["actors"]},
                    )
                )
    return findings


def _audit_verify_failed(rules: RulesInForce, since: datetime, until: datetime) -> list[Finding]:
    code = WatchRule.AUDIT_VERIFY_FAILED
    rule = rules.rule(code, NATIONAL)
    national = _national_unit()
    if not rule.enabled or national is None:
        return []
    findings = []
    for start in windows_between(since, until, rule.window_minutes):
        end = start + timedelta(minutes=rule.window_minutes)
        events = AuditEvent.objects.filter(
            at__gte=start, at__lt=min(end, until), action=AuditAction.AUDIT_VERIFY_FAILED.value
        )
        n = events.count()
        if n >= rule.threshold:
            problems = [
                p
                for d in events.values_list("detail", flat=True)[:5]
                for p in (d or {}).get("problems", [])[:3]
            ]
            findings.append(
                Finding(
                    rule=code,
                    unit=national,
                    subject_type=ObjectType.AUDIT_TRAIL,
                    subject_key="trail",
                    window_start=start,
                    window_end=end,
                    count=n,
                    threshold=rule.threshold,
                    message=f"审计链校验失败 {n} 次（{_window_text(start, end)}），日志可能被篡改",
                    detail={"problems": problems[:10]},
                )
            )
    return findings


# ----------------------------------------------------------------- sign-in records


def _attempts_in(start: datetime, end: datetime) -> QuerySet:
    return LoginAttempt.objects.filter(at__gte=start, at__lt=end)


BLOCKED_REASONS = ["locked", "sealed", "disabled"]
TOKEN_PREFIX = "token:"  # noqa: S105 - the user name of token attempts, not a secret


def _signin_account_rule(
    *,
    code: str,
    rules: RulesInForce,
    since: datetime,
    until: datetime,
    attempts: Callable[[QuerySet], QuerySet],
    message: Callable[[User, int, datetime, datetime], str],
) -> list[Finding]:
    """Attempts grouped by account (``user_id``) per window."""
    findings: list[Finding] = []
    for minutes, lowest in rules.variants(code).items():
        for start in windows_between(since, until, minutes):
            end = start + timedelta(minutes=minutes)
            groups = list(
                attempts(_attempts_in(start, min(end, until)).filter(user__isnull=False))
                .values("user_id")
                .annotate(n=Count("pk"), first=Min("at"), last=Max("at"))
                .filter(n__gte=lowest)
                .order_by("user_id")
            )
            users = _users(g["user_id"] for g in groups)
            for group in groups:
                user = users.get(group["user_id"])
                if user is None or user.unit is None:
                    continue
                province = province_of(user.unit)
                if not rules.fires(code, province, minutes=minutes, count=group["n"]):
                    continue
                rule = rules.rule(code, province)
                addresses = sorted(
                    {
                        ip
                        for ip in attempts(_attempts_in(start, end).filter(user_id=user.pk))
                        .values_list("ip", flat=True)
                        .distinct()[:10]
                        if ip
                    }
                )
                findings.append(
                    Finding.about_account(
                        code,
                        user,
                        start,
                        end,
                        count=group["n"],
                        threshold=rule.threshold,
                        message=message(user, group["n"], start, end),
                        addresses=addresses,
                        first_at=group["first"].isoformat(),
                        last_at=group["last"].isoformat(),
                    )
                )
    return findings


def _failed_signins_account(rules, since, until) -> list[Finding]:
    return _signin_account_rule(
        code=WatchRule.FAILED_SIGNINS_ACCOUNT,
        rules=rules,
        since=since,
        until=until,
        attempts=lambda qs: qs.filter(success=False).exclude(username__startswith=TOKEN_PREFIX),
        message=lambda u, n, s, e: f"账号 {u.username} 在 {_window_text(s, e)} 登录失败 {n} 次",
    )


def _blocked_account_attempts(rules, since, until) -> list[Finding]:
    return _signin_account_rule(
        code=WatchRule.BLOCKED_ACCOUNT_ATTEMPTS,
        rules=rules,
        since=since,
        until=until,
        attempts=lambda qs: qs.filter(reason__in=BLOCKED_REASONS),
        message=lambda u, n, s, e: (
            f"有人在 {_window_text(s, e)} 尝试使用已封存、停用或锁定的账号 {u.username} {n} 次"
        ),
    )


def _token_refusals(rules, since, until) -> list[Finding]:
    return _signin_account_rule(
        code=WatchRule.TOKEN_REFUSALS,
        rules=rules,
        since=since,
        until=until,
        attempts=lambda qs: qs.filter(success=False, username__startswith=TOKEN_PREFIX),
        message=lambda u, n, s, e: (
            f"账号 {u.username} 的 API 令牌在 {_window_text(s, e)} 被拒绝 {n} 次"
        ),
    )


def _failed_signins_address(rules: RulesInForce, since: datetime, until: datetime) -> list[Finding]:
    """Failed attempts grouped by address, whatever the user names: the national rule (an
    address belongs to no province) and the national unit's security admins."""
    code = WatchRule.FAILED_SIGNINS_ADDRESS
    rule = rules.rule(code, NATIONAL)
    national = _national_unit()
    if not rule.enabled or national is None:
        return []
    findings = []
    for start in windows_between(since, until, rule.window_minutes):
        end = start + timedelta(minutes=rule.window_minutes)
        groups = list(
            _attempts_in(start, min(end, until))
            .filter(success=False, ip__isnull=False)
            .values("ip")
            .annotate(n=Count("pk"), names=Count("username", distinct=True))
            .filter(n__gte=rule.threshold)
            .order_by("ip")
        )
        for group in groups:
            names = list(
                _attempts_in(start, end)
                .filter(success=False, ip=group["ip"])
                .values_list("username", flat=True)
                .distinct()
                .order_by("username")[:EVIDENCE_SAMPLE]
            )
            findings.append(
                Finding(
                    rule=code,
                    unit=national,
                    subject_type="network.address",
                    subject_key=group["ip"],
                    window_start=start,
                    window_end=end,
                    count=group["n"],
                    threshold=rule.threshold,
                    message=(
                        f"地址 {group['ip']} 在 {_window_text(start, end)} 登录失败 {group['n']} 次"
                        f"（{group['names']} 个用户名）"
                    ),
                    detail={"address": group["ip"], "usernames": names},
                )
            )
    return findings


def _new_network(rules: RulesInForce, since: datetime, until: datetime) -> list[Finding]:
    """Successful sign-ins per (account, address) in the window, against the addresses the
    account signed in from before the window (one query each); an account without any
    earlier sign-in has no usual network yet and is not flagged."""
    code = WatchRule.NEW_NETWORK
    findings: list[Finding] = []
    for minutes in rules.variants(code):
        for start in windows_between(since, until, minutes):
            end = start + timedelta(minutes=minutes)
            recent = list(
                _attempts_in(start, min(end, until))
                .filter(success=True, user__isnull=False, ip__isnull=False)
                .exclude(username__startswith=TOKEN_PREFIX)
                .values("user_id", "ip")
                .annotate(n=Count("pk"))
                .order_by("user_id", "ip")
            )
            if not recent:
                continue
            user_ids = {r["user_id"] for r in recent}
            known: dict[int, set[str]] = defaultdict(set)
            for user_id, ip in (
                LoginAttempt.objects.filter(
                    user_id__in=user_ids, success=True, at__lt=start, ip__isnull=False
                )
                .values_list("user_id", "ip")
                .distinct()
            ):
                known[user_id].add(network_of(ip))
            per_user: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
            for r in recent:
                if r["user_id"] in known:
                    net = network_of(r["ip"])
                    if net and net not in known[r["user_id"]]:
                        per_user[r["user_id"]][net] += r["n"]
            users = _users(per_user)
            for user_id, nets in per_user.items():
                user = users.get(user_id)
                if user is None or user.unit is None:
                    continue
                province = province_of(user.unit)
                n = sum(nets.values())
                if not rules.fires(code, province, minutes=minutes, count=n):
                    continue
                rule = rules.rule(code, province)
                findings.append(
                    Finding.about_account(
                        code,
                        user,
                        start,
                        end,
                        count=n,
                        threshold=rule.threshold,
                        message=(
                            f"账号 {user.username} 在 {_window_text(start, end)} 从未使用过的网络"
                            f" {'、'.join(sorted(nets))} 登录"
                        ),
                        networks=sorted(nets),
                        known_networks=sorted(known[user_id])[:10],
                    )
                )
    return findings


EVALUATORS: dict[str, Callable[[RulesInForce, datetime, datetime], list[Finding]]] = {
    WatchRule.BULK_READS: _bulk_reads,
    WatchRule.EXPORTS: _exports,
    WatchRule.OFF_HOURS: _off_hours,
    WatchRule.NEW_NETWORK: _new_network,
    WatchRule.FAILED_SIGNINS_ACCOUNT: _failed_signins_account,
    WatchRule.FAILED_SIGNINS_ADDRESS: _failed_signins_address,
    WatchRule.BLOCKED_ACCOUNT_ATTEMPTS: _blocked_account_attempts,
    WatchRule.SCOPE_PROBING: _scope_probing,
    WatchRule.MASS_CHANGES: _mass_changes,
    WatchRule.DUPLICATE_SEARCH: _duplicate_search,
    WatchRule.TOKEN_REFUSALS: _token_refusals,
    WatchRule.AUDIT_VERIFY_FAILED: _audit_verify_failed,
}

# The warning kinds this module raises (its `kind` is built from the rule, so a reader of the
# source cannot resolve it): the rules evaluated here and the reading limit.
RAISED_KINDS = frozenset(f"{SECURITY_PREFIX}{rule.value}" for rule in WatchRule)


def finding_raise(finding: Finding, *, now: datetime) -> bool:
    """Raise the finding's warning unless it was raised before (open or resolved)."""
    kind = f"{SECURITY_PREFIX}{finding.rule}"
    if EarlyWarning.objects.filter(
        kind=kind, subject_type=finding.subject_type, subject_id=finding.subject_id
    ).exists():
        # Still running: bring the count and evidence up to date on the open rows.
        EarlyWarning.objects.filter(
            kind=kind,
            subject_type=finding.subject_type,
            subject_id=finding.subject_id,
            resolved_at__isnull=True,
        ).update(message=finding.message[:255], last_seen_at=now)
        return False
    detail = {
        **finding.detail,
        "rule": finding.rule,
        "count": finding.count,
        "threshold": finding.threshold,
        "window_start": finding.window_start.isoformat(),
        "window_end": finding.window_end.isoformat(),
    }
    if finding.subject_type == ObjectType.USER:
        detail["url"] = reverse("accounts:admin_detail", args=[int(finding.subject_key)])
    warning_raise(
        kind=kind,
        unit=finding.unit,
        subject_type=finding.subject_type,
        subject_id=finding.subject_id,
        message=finding.message,
        detail=detail,
        now=now,
    )
    return True


def warnings_evaluate(
    *, now: datetime | None = None, since: datetime | None = None
) -> EvaluationReport:
    """Evaluate every rule over the windows since the watermark; move the watermark to now.

    One transaction; the watermark row is locked so two runs never interleave."""
    now = now or clock.now()
    with transaction.atomic():
        mark, _created = WarningWatermark.objects.select_for_update().get_or_create(
            name=WATERMARK, defaults={"evaluated_through": now - FIRST_LOOKBACK}
        )
        start = since or min(mark.evaluated_through, now)
        report = EvaluationReport(since=start, until=now)
        rules = RulesInForce(now)
        for code, evaluate in EVALUATORS.items():
            findings = evaluate(rules, start, now)
            report.findings += len(findings)
            raised = sum(1 for f in findings if finding_raise(f, now=now))
            report.raised += raised
            if findings:
                report.by_rule[code] = len(findings)
        mark.evaluated_through = now
        mark.save(update_fields=["evaluated_through"])
        if report.raised:
            audit_record(
                actor=None,
                action=AuditAction.WARNING_EVALUATE,
                object_type=ObjectType.WARNING,
                summary=f"安全预警评估：新预警 {report.raised} 条",
                detail={
                    "since": start.isoformat(),
                    "until": now.isoformat(),
                    "by_rule": report.by_rule,
                },
            )
    return report


def today_local(now: datetime) -> date:
    return timezone.localtime(now).date()
