"""Test data builders: valid ID numbers, schools, accounts and registrations."""

import itertools
import random
from datetime import date

import factory
from faker import Faker

from xueji import clock
from xueji.accounts.models import Role, TrainingRecord, User
from xueji.accounts.services import unit_ensure_for_division, unit_ensure_for_school, user_create
from xueji.schools.models import School
from xueji.schools.rules import Operator, SchoolType
from xueji.students.rules import resident_id_check_char

fake = Faker("zh_CN")
_serial = itertools.count(1)
_rng = random.Random(7)
PASSWORD = "Test-Passw0rd-xj"


def resident_id(
    area: str = "440106", born: date = date(2016, 5, 17), sex: str = "1", seq: int | None = None
) -> str:
    """A valid 18-character resident ID (unique per call unless ``seq`` is given)."""
    if seq is None:
        seq = (next(_serial) % 499) * 2 + (1 if sex == "1" else 0)
    body = f"{area}{born:%Y%m%d}{seq:03d}"
    return body + resident_id_check_char(body)


class SchoolFactory(factory.django.DjangoModelFactory[School]):
    class Meta:
        model = School
        skip_postgeneration_save = True

    code = factory.Sequence(lambda n: f"{1144000000 + n}")
    name = factory.Sequence(lambda n: f"测试第{n}小学")
    school_type = SchoolType.PRIMARY
    operator = Operator.PUBLIC
    division_code = "440106"
    area_code = factory.LazyAttribute(lambda o: o.division_code)
    province_code = factory.LazyAttribute(lambda o: o.division_code[:2])

    @factory.post_generation
    def unit(obj, create, extracted, **kwargs):
        if create:
            unit_ensure_for_school(obj)


def make_user(unit, roles=(Role.CLERK,), username: str | None = None, *, in_service=True):
    """An account as ``user_create`` makes it; ``in_service`` (the default) makes it one
    already at work: its first-sign-in password change done and, for a clerk, a training
    record on file (先培训后上岗), seen just now. Tests of those rules pass
    ``in_service=False``."""
    user = user_create(
        actor=None,
        unit=unit,
        username=username or f"user{next(_serial)}",
        password=PASSWORD,
        roles=list(roles),
    )
    if in_service:
        # Seen just now: the session middleware's once-a-minute stamp and training check
        # stay out of the first request (tests that count queries compare requests).
        now = clock.now()
        User.objects.filter(pk=user.pk).update(must_change_password=False, last_seen_at=now)
        user.must_change_password, user.last_seen_at = False, now
        if Role.CLERK in roles:
            TrainingRecord.objects.create(
                user=user,
                course="学籍管理员岗前培训",
                completed_on=date(2024, 8, 20),
                certificate_no=f"PX{user.pk:06d}",
                recorded_at=clock.now(),
            )
    return user


def authority_user(division_code: str, roles=(Role.REVIEWER,)):
    return make_user(unit_ensure_for_division(division_code=division_code), roles)


TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def second_factor_code(user) -> str:
    """The current TOTP code of ``user`` (accounts above school level and admins sign in
    with one), binding the test authenticator to the account first when needed."""
    from xueji.accounts import twofactor

    now = clock.now()
    if not twofactor.totp_device_holds(user, TOTP_SECRET):
        twofactor.totp_device_install(user=user, secret=TOTP_SECRET, now=now)
    return twofactor.totp_code_at(TOTP_SECRET, twofactor.totp_step(now.timestamp()))


def registration(school: School, **overrides) -> dict:
    """A complete, valid registration for ``school`` (primary grade 3 by default)."""
    born = overrides.pop("born", date(2017, 3, 8))
    sex = overrides.pop("sex_code", "2")
    data = {
        "school_code": school.code,
        "name": fake.last_name() + fake.first_name(),
        "sex": sex,
        "birth_date": born.isoformat(),
        "ethnicity": "01",
        "nationality": "CHN",
        "id_type": "1",
        "id_number": resident_id(school.division_code or "440106", born, sex),
        "grade": "13",
        "class_name": "2班",
        "entry_date": "2024-09",
        "entry_mode": "1",
        "birthplace_code": school.division_code or "440106",
        "guardian_name": fake.last_name() + fake.first_name(),
        "guardian_relation": "52",
        "guardian_id_number": resident_id("440106", date(1988, 1, 2), "2"),
        "guardian_phone": "13800138000",
        "left_behind": "否",
    }
    data.update(overrides)
    return data
