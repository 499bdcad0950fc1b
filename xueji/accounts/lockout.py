"""The attempt log and the lockout counter, shared by the password and the second factor.

Wrong passwords and wrong second-factor codes count towards one lockout: a guesser gains
nothing by switching between them.
"""

from datetime import datetime

from django.db import transaction
from django.db.models import Count, Max
from django.utils import timezone

from xueji import clock
from xueji.audit import context
from xueji.audit.events import AuditAction, ObjectType
from xueji.audit.services import audit_record

from . import signin_rules
from .models import LoginAttempt, User
from .policy import security_policy

OK = "ok"
UNKNOWN_USER = "unknown_user"


def login_attempt_record(
    *, username: str, user: User | None, reason: str, now: datetime | None = None
) -> LoginAttempt:
    """One row per attempt; origin (IP, client) from the request context. Call inside the
    transaction of the state change it explains, if any."""
    origin = context.current()
    return LoginAttempt.objects.create(
        username=username[:150],
        user=user,
        at=now or clock.now(),
        ip=origin.ip,
        user_agent=origin.user_agent[:255],
        success=reason == OK,
        reason=reason,
    )


def failure_record(
    *, username: str, user: User, now: datetime, reason: str, what: str
) -> datetime | None:
    """Count one failed step (``what`` names it in the audit summary, in Chinese) and log
    the attempt; returns the lock's end when this failure locks the account."""
    policy = security_policy()
    with transaction.atomic():
        # The row lock keeps concurrent guesses from losing counts.
        current = User.objects.select_for_update().only("failed_logins").get(pk=user.pk)
        failures = current.failed_logins + 1
        until = signin_rules.lock_after_failure(
            failures,
            threshold=policy.lockout_threshold,
            minutes=policy.lockout_minutes,
            now=now,
        )
        if until is None:
            User.objects.filter(pk=user.pk).update(failed_logins=failures)
        else:
            # The count starts again after the lock: another full run of failures re-locks.
            User.objects.filter(pk=user.pk).update(failed_logins=0, locked_until=until)
            audit_record(
                actor=None,
                action=AuditAction.ACCOUNT_LOCK,
                object_type=ObjectType.USER,
                object_id=user.pk,
                summary=f"{user.username} 连续 {failures} 次{what}，锁定至 "
                f"{timezone.localtime(until):%Y-%m-%d %H:%M}",  # stored data: always Chinese
                detail={
                    "failures": failures,
                    "until": until.isoformat(),
                    "unit_id": user.unit_id,
                    "cause": reason,
                },
            )
        login_attempt_record(username=username, user=user, reason=reason, now=now)
    user.failed_logins, user.locked_until = (0, until) if until else (failures, user.locked_until)
    return until


def unknown_name_locked_until(username: str, *, now: datetime) -> datetime | None:
    """The end of the lock an unknown user name is under, or None.

    Unknown names lock like accounts do, so that a lock does not tell an existing name from
    an unknown one: every ``lockout_threshold``-th failed attempt under the name (counted in
    the attempt log; attempts refused while locked do not count, as for an account) locks
    the name for ``lockout_minutes`` from that attempt.
    """
    policy = security_policy()
    if policy.lockout_threshold <= 0:
        return None
    seen = LoginAttempt.objects.filter(
        username=username[:150], user__isnull=True, reason=UNKNOWN_USER
    ).aggregate(failures=Count("pk"), last=Max("at"))
    failures, last = seen["failures"], seen["last"]
    if not failures or last is None or failures % policy.lockout_threshold:
        return None
    until = signin_rules.lock_after_failure(
        policy.lockout_threshold,
        threshold=policy.lockout_threshold,
        minutes=policy.lockout_minutes,
        now=last,
    )
    return until if until is not None and signin_rules.is_locked(until, now) else None
