"""Scoped reads of accounts: an admin sees the accounts of its unit's subtree, nothing else.

Every read here filters through ``unit_subtree_q``; a row outside the subtree and a missing
row give the same ``NotFound``. Lists are one query each (roles prefetched), never a query
per row.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import CharField, Count, Exists, OuterRef, Q, QuerySet
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.translation import gettext as _

from xueji import clock
from xueji.audit.events import AuditAction, ObjectType
from xueji.audit.models import AuditEvent
from xueji.enrolment.models import StatusRecord
from xueji.enrolment.rules import ON_ROLL
from xueji.errors import FieldError, Forbidden, NotFound, ValidationFailed

from .models import ApiToken, LoginAttempt, Role, TotpDevice, TrainingRecord, Unit, UnitKind, User
from .permissions import has_permission
from .policy import security_policy
from .rules import ADMIN_ROLES, PASSWORD_EXPIRY_WARNING_DAYS, Permission, dormant_cutoff
from .scope import EVERY_ROW

# ---------------------------------------------------------------- the subtree


def unit_subtree_q(unit: Unit | None, *, prefix: str = "") -> Q:
    """A filter for units in ``unit``'s subtree, itself included (``prefix="unit__"`` on
    accounts). The set-based twin of ``rules.unit_within``."""
    if unit is None:
        return Q(pk__in=[])
    if unit.kind == UnitKind.NATIONAL:
        return Q(**{f"{prefix}pk__isnull": False})
    if unit.kind == UnitKind.SCHOOL:
        return Q(**{f"{prefix}pk": unit.pk})
    return Q(**{f"{prefix}area_prefix__startswith": unit.area_prefix}) & ~Q(
        **{f"{prefix}kind": UnitKind.NATIONAL}
    )


def accounts_in_subtree(actor: User) -> QuerySet[User]:
    """Accounts of the actor's unit and every unit below it."""
    return User.objects.filter(unit_subtree_q(actor.unit, prefix="unit__"))


def units_in_subtree(actor: User) -> QuerySet[Unit]:
    return Unit.objects.filter(unit_subtree_q(actor.unit))


def access_account(actor: User, *, user_id: int) -> User:
    """The account, when it exists and lies in the actor's subtree; otherwise ``NotFound``."""
    user = (
        accounts_in_subtree(actor)
        .select_related("unit")
        .prefetch_related("role_grants")
        .filter(pk=user_id)
        .first()
    )
    if user is None:
        raise NotFound("account")
    return user


def roles_of(user: User) -> list[str]:
    """The account's roles in enum order, from prefetched grants when there are any."""
    granted = {grant.role for grant in user.role_grants.all()}
    return [role for role in Role.values if role in granted]


# ---------------------------------------------------------------- account lists

ACCOUNT_STATES = ("active", "locked", "sealed", "disabled")


def account_list(
    actor: User, *, search: str = "", role: str = "", state: str = "", unit_id: int | None = None
) -> QuerySet[User]:
    now = clock.now()
    qs = accounts_in_subtree(actor).select_related("unit").prefetch_related("role_grants")
    if search:
        qs = qs.filter(
            Q(username__icontains=search)
            | Q(full_name__contains=search)
            | Q(unit__name__contains=search)
        )
    if role:
        qs = qs.filter(role_grants__role=role)
    if unit_id is not None:
        qs = qs.filter(unit_id=unit_id)
    if state == "active":
        qs = qs.filter(is_active=True, sealed_at__isnull=True)
    elif state == "locked":
        qs = qs.filter(locked_until__gt=now)
    elif state == "sealed":
        qs = qs.filter(sealed_at__isnull=False)
    elif state == "disabled":
        qs = qs.filter(Q(is_active=False) | Q(disabled_at__isnull=False))
    return qs.order_by("unit__area_prefix", "unit_id", "username")


def trainings_of(user: User) -> QuerySet[TrainingRecord]:
    return TrainingRecord.objects.filter(user=user).order_by("-completed_on", "-pk")


def _valid_training(today: date) -> Exists:
    return Exists(
        TrainingRecord.objects.filter(user=OuterRef("pk"), completed_on__lte=today).filter(
            Q(expires_on__isnull=True) | Q(expires_on__gte=today)
        )
    )


def has_valid_training(user: User, *, today: date | None = None) -> bool:
    """先培训后上岗: whether a training record valid today is on file for the account."""
    today = today or clock.today()
    return User.objects.filter(pk=user.pk).filter(_valid_training(today)).exists()


def clerks_without_training(actor: User, *, today: date | None = None) -> QuerySet[User]:
    """Active clerks in the subtree with no training record valid today."""
    today = today or clock.today()
    return (
        accounts_in_subtree(actor)
        .filter(is_active=True, role_grants__role=Role.CLERK)
        .exclude(_valid_training(today))
        .select_related("unit")
        .order_by("unit__area_prefix", "username")
    )


# ---------------------------------------------------------------- dormancy


def dormant_accounts(*, now: datetime) -> QuerySet[User]:
    """Active, unsealed accounts unused for more than ``dormant_days``: last seen (or, never
    used, created) strictly before the cutoff. The set-based twin of ``rules.is_dormant``."""
    cutoff = dormant_cutoff(now=now, dormant_days=security_policy().dormant_days)
    return User.objects.filter(is_active=True, sealed_at__isnull=True).filter(
        Q(last_seen_at__lt=cutoff) | Q(last_seen_at__isnull=True, date_joined__lt=cutoff)
    )


# ---------------------------------------------------------------- API tokens


def tokens_of(user: User) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user).order_by("-created_at", "-pk")


def access_token(actor: User, *, token_id: int) -> ApiToken:
    """The actor's own token or, for a system admin, a token of an account in its subtree;
    otherwise ``NotFound``. Whether the admin may revoke the latter is the service's
    question."""
    visible = Q(user=actor)
    if Role.SYSTEM_ADMIN in actor.role_set:
        visible |= Q(user__in=accounts_in_subtree(actor))
    token = (
        ApiToken.objects.select_related("user", "user__unit").filter(visible, pk=token_id).first()
    )
    if token is None:
        raise NotFound("api_token")
    return token


# ---------------------------------------------------------------- the security page


def _second_factor_required_q() -> Q:
    """The set-based twin of ``twofactor.second_factor_required`` (a test holds them
    together): above school level, an admin duty, or a staff account."""
    return (
        (Q(unit__isnull=False) & ~Q(unit__kind=UnitKind.SCHOOL))
        | Q(role_grants__role__in=ADMIN_ROLES)
        | Q(is_staff=True)
        | Q(is_superuser=True)
    )


@dataclass
class SecurityOverview:
    locked: QuerySet[User]
    sealed: QuerySet[User]
    disabled: QuerySet[User]
    password_expiring: QuerySet[User]
    untrained: QuerySet[User]
    without_second_factor: QuerySet[User]


def security_overview(actor: User, *, now: datetime | None = None) -> SecurityOverview:
    """The accounts of the actor's subtree that need a security admin's eye. Each list is
    one query; the page counts and slices them."""
    now = now or clock.now()
    policy = security_policy()
    accounts = accounts_in_subtree(actor).select_related("unit")
    live = accounts.filter(is_active=True, sealed_at__isnull=True)
    # Expired or expiring within the warning window; never recorded counts as expired.
    changed_before = now - timedelta(
        days=policy.password_max_age_days - PASSWORD_EXPIRY_WARNING_DAYS
    )
    confirmed_device = Exists(
        TotpDevice.objects.filter(user=OuterRef("pk"), confirmed_at__isnull=False)
    )
    return SecurityOverview(
        locked=accounts.filter(locked_until__gt=now).order_by("-locked_until"),
        sealed=accounts.filter(sealed_at__isnull=False).order_by("-sealed_at"),
        disabled=accounts.filter(Q(is_active=False) | Q(disabled_at__isnull=False)).order_by(
            "-disabled_at", "username"
        ),
        password_expiring=live.filter(
            Q(password_changed_at__isnull=True) | Q(password_changed_at__lte=changed_before)
        ).order_by("password_changed_at", "username"),
        untrained=clerks_without_training(actor, today=timezone.localdate(now)),
        without_second_factor=live.filter(
            pk__in=accounts.filter(_second_factor_required_q()).values("pk")
        )
        .exclude(confirmed_device)
        .order_by("unit__area_prefix", "username"),
    )


def login_failures_recent(actor: User, *, since: datetime) -> QuerySet[LoginAttempt]:
    """Failed sign-ins on accounts of the subtree since ``since``, newest first."""
    return (
        LoginAttempt.objects.filter(success=False, at__gte=since)
        .filter(user__in=accounts_in_subtree(actor))
        .select_related("user", "user__unit")
        .order_by("-at")
    )


# ---------------------------------------------------------------- workload


WORKLOAD_PERMISSIONS = (Permission.ACCOUNT_MANAGE, Permission.SECURITY_MANAGE)


def workload_period(
    *, date_from: date | None, date_to: date | None, today: date
) -> tuple[date, date]:
    """The period asked for; by default the last 30 days through today."""
    date_to = date_to or today
    date_from = date_from or date_to - timedelta(days=30)
    if date_from > date_to:
        raise ValidationFailed(
            [FieldError("date_from", "period.reversed", _("开始日期不能晚于结束日期。"))]
        )
    return date_from, date_to


def require_workload_access(user: User) -> None:
    """Workload is for staffing: system and security admins."""
    if not any(has_permission(user, p) for p in WORKLOAD_PERMISSIONS):
        raise Forbidden()


@dataclass
class WorkloadRow:
    user: User
    students: int
    operations: int
    trained: bool


def period_bounds(date_from: date, date_to: date) -> tuple[datetime, datetime]:
    """The aware instants of a period of whole days in the registry's time zone."""
    zone = timezone.get_default_timezone()
    start = timezone.make_aware(datetime.combine(date_from, time.min), zone)
    end = timezone.make_aware(datetime.combine(date_to + timedelta(days=1), time.min), zone)
    return start, end


def clerk_workload(actor: User, *, date_from: date, date_to: date) -> list[WorkloadRow]:
    """Each active clerk of the subtree with the students on its unit's roll and the
    operations it recorded in the period: one query for the clerks, one grouped query per
    kind of count (schools, authority areas, audit events), never a query per clerk."""
    today = clock.today()
    clerks = list(
        accounts_in_subtree(actor)
        .filter(is_active=True, role_grants__role=Role.CLERK)
        .select_related("unit")
        .annotate(trained=_valid_training(today))
        .order_by("unit__area_prefix", "unit_id", "username")
    )
    school_ids = {c.unit.school_id for c in clerks if c.unit and c.unit.school_id is not None}
    by_school: dict[int, int] = {}
    if school_ids:
        by_school = dict(
            StatusRecord.objects.filter(school_id__in=school_ids, state__in=ON_ROLL)
            .values("school_id")
            .annotate(n=Count("pk"))
            .order_by()
            .values_list("school_id", "n")
        )
    prefixes = {c.unit.area_prefix for c in clerks if c.unit and c.unit.kind != UnitKind.SCHOOL}
    by_area: dict[str, int] = {}
    if prefixes:
        # One aggregate with a filtered count per authority area.
        keys = {f"a{i}": p for i, p in enumerate(sorted(prefixes))}
        totals = StatusRecord.objects.filter(state__in=ON_ROLL).aggregate(
            **{
                key: Count("pk", filter=Q(area_code__startswith=p) if p else EVERY_ROW)
                for key, p in keys.items()
            }
        )
        by_area = {p: totals[key] or 0 for key, p in keys.items()}
    start, end = period_bounds(date_from, date_to)
    operations = dict(
        AuditEvent.objects.filter(actor_id__in=[c.pk for c in clerks], at__gte=start, at__lt=end)
        .values("actor_id")
        .annotate(n=Count("pk"))
        .order_by()
        .values_list("actor_id", "n")
    )
    rows = []
    for clerk in clerks:
        unit = clerk.unit
        if unit is None:
            students = 0
        elif unit.school_id is not None:
            students = by_school.get(unit.school_id, 0)
        else:
            students = by_area.get(unit.area_prefix, 0)
        rows.append(
            WorkloadRow(
                user=clerk,
                students=students,
                operations=operations.get(clerk.pk, 0),
                trained=bool(clerk.trained),  # type: ignore[attr-defined]
            )
        )
    return rows


# ---------------------------------------------------------------- lockouts


@dataclass
class Lockouts:
    """Accounts of the subtree locked now, and the lockouts of the last ``days`` days
    (``account.lock`` audit events, newest first; each summary names account and end)."""

    locked_now: QuerySet[User]
    recent: QuerySet[AuditEvent]


def lockouts_in_scope(actor: User, *, now: datetime | None = None, days: int = 30) -> Lockouts:
    """Lockouts for the security page: scoped to the actor's subtree like every account
    read (the page checks the permission)."""
    now = now or clock.now()
    accounts = accounts_in_subtree(actor)
    # Audit events name their object as text: compare with the accounts' ids as text.
    ids = accounts.annotate(pk_text=Cast("pk", CharField())).values("pk_text")
    return Lockouts(
        locked_now=accounts.filter(locked_until__gt=now)
        .select_related("unit")
        .order_by("-locked_until"),
        recent=AuditEvent.objects.filter(
            action=AuditAction.ACCOUNT_LOCK,
            object_type=ObjectType.USER,
            object_id__in=ids,
            at__gte=now - timedelta(days=days),
        ).order_by("-at"),
    )
