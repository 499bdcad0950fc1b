"""The demo accounts, one for each level, over the generated data.

They follow the security policy like any account: the authority-level accounts sign in
with a second factor (an authenticator bound to a fixed, published secret, so anyone can
add it to an app or ask ``python manage.py totp_code demo-county``), and the school clerk
has a training record on file (先培训后上岗). What the policy would otherwise ask at a first
sign-in — a new password — is waived, so the printed password keeps working.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from xueji import clock
from xueji.accounts.models import Role, TrainingRecord, Unit, User
from xueji.accounts.services import (
    unit_ensure_for_division,
    unit_ensure_for_school,
    unit_ensure_national,
    user_create,
)
from xueji.accounts.twofactor import second_factor_required, totp_device_install
from xueji.audit.events import AuditAction, ObjectType
from xueji.audit.services import audit_record
from xueji.schools.models import School

DEMO_PASSWORD = "Xueji-Demo-2026"  # noqa: S105 - printed for the demo on purpose

# Published on purpose, like the password: base32, 160 bits each. Only demo accounts use
# them, and ``totp_code`` prints codes for these secrets only.
DEMO_TOTP_SECRETS: dict[str, str] = {
    "demo-national": "XUEJIDEMONATIONAL234567234567234",
    "demo-province": "XUEJIDEMOPROVINCE234567234567234",
    "demo-city": "XUEJIDEMOCITY2345672345672345672",
    "demo-county": "XUEJIDEMOCOUNTY23456723456723456",
    "demo-sysadmin": "XUEJIDEMOSYSADMIN234567234567234",
    "demo-secadmin": "XUEJIDEMOSECADMIN234567234567234",
    "demo-auditor": "XUEJIDEMOAUDITOR2345672345672345",
}


@dataclass
class DemoAccount:
    level: str
    username: str
    password: str
    unit: str
    roles: list[str]
    totp_secret: str = ""  # '' when the account signs in without a second factor


def _demo_ready(user: User) -> None:
    """Waive the first-sign-in password change while the printed password is in use, and
    put a training record on file for a clerk. Audited like any change of security state."""
    now = clock.now()
    changes: list[str] = []
    with transaction.atomic():
        if user.check_password(DEMO_PASSWORD) and (
            user.must_change_password
            or user.password_changed_at is None
            or now - user.password_changed_at > timedelta(days=30)
        ):
            user.must_change_password = False
            user.password_changed_at = now
            user.save(update_fields=["must_change_password", "password_changed_at"])
            changes.append("password_fresh")
        today = clock.today()
        in_force = TrainingRecord.objects.filter(
            Q(expires_on__isnull=True) | Q(expires_on__gte=today),
            user=user,
            completed_on__lte=today,
        )
        if Role.CLERK in user.role_set and not in_force.exists():
            TrainingRecord.objects.create(
                user=user,
                course="学籍管理业务培训（演示）",  # stored data: always Chinese
                completed_on=today,
                certificate_no=f"DEMO-{user.pk:04d}",
                expires_on=today + timedelta(days=365),
                recorded_by="generate_demo",
                recorded_at=now,
            )
            changes.append("training")
        if changes:
            audit_record(
                actor=None,
                action=AuditAction.ACCOUNT_DEMO_SETUP,
                object_type=ObjectType.USER,
                object_id=user.pk,
                summary=f"演示账号 {user.username} 准备就绪",
                detail={"changes": changes},
            )


def ensure_demo_accounts() -> list[DemoAccount]:
    """National, province, city, county and school accounts over the busiest county."""
    school = (
        School.objects.filter(listed_separately=False, school_type__in=["211", "312"])
        .order_by("code")
        .first()
        or School.objects.filter(listed_separately=False).order_by("code").first()
    )
    if school is None:
        return []
    county = school.division_code
    city_unit = unit_ensure_for_division(division_code=county[:4] + "00")
    units: list[tuple[str, str, Unit, list[str]]] = [
        (_("国家级"), "demo-national", unit_ensure_national(), [Role.REVIEWER]),
        (
            _("省级"),
            "demo-province",
            unit_ensure_for_division(division_code=county[:2] + "0000"),
            [Role.REVIEWER],
        ),
        (
            _("地市级"),
            "demo-city",
            unit_ensure_for_division(division_code=county[:4] + "00"),
            [Role.REVIEWER],
        ),
        (
            _("县区级"),
            "demo-county",
            unit_ensure_for_division(division_code=county),
            [Role.REVIEWER],
        ),
        (_("学校"), "demo-school", unit_ensure_for_school(school), [Role.CLERK]),
        # The three separated admin duties, at the city so they can act on the county and
        # school accounts below them (unseal, unlock and resets need a unit strictly above).
        (_("地市级系统管理员"), "demo-sysadmin", city_unit, [Role.SYSTEM_ADMIN]),
        (_("地市级安全管理员"), "demo-secadmin", city_unit, [Role.SECURITY_ADMIN]),
        (_("地市级审计管理员"), "demo-auditor", city_unit, [Role.AUDIT_ADMIN]),
    ]
    accounts = []
    for level, username, unit, roles in units:
        user = User.objects.select_related("unit").filter(username=username).first()
        if user is None:
            user = user_create(
                actor=None, unit=unit, username=username, password=DEMO_PASSWORD, roles=roles
            )
        _demo_ready(user)
        secret = ""
        if second_factor_required(user):
            secret = DEMO_TOTP_SECRETS[username]
            totp_device_install(user=user, secret=secret, now=clock.now())
        accounts.append(
            DemoAccount(
                level,
                username,
                DEMO_PASSWORD,
                unit.name,
                [str(Role(r).label) for r in roles],
                totp_secret=secret,
            )
        )
    return accounts
