"""Shared by the anomaly tests: a clock held still, registrations with chosen names, and
campaign marks written straight into the verification tables (the detectors read them;
how they come to be is xueji.verification's business)."""

import itertools
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from django.core.files.uploadedfile import SimpleUploadedFile

from tests.factories import make_user, registration, resident_id
from xueji import clock
from xueji.accounts.models import Role, User
from xueji.schools.models import School
from xueji.students.models import Student
from xueji.students.services import student_register
from xueji.verification.models import Campaign, RollMark, SchoolConfirmation
from xueji.verification.rules import CampaignState, ConfirmationState

SHANGHAI = ZoneInfo("Asia/Shanghai")
# A Thursday of the autumn semester 2025–2026.
TODAY = date(2025, 11, 20)
PDF = b"%PDF-1.4\n% anomaly test\n"

# Distinct names: Faker's small pool would make look-alikes by chance.
_NAMES = itertools.cycle(
    [
        "赵一鸣",
        "钱二丫",
        "孙三省",
        "李四维",
        "周五常",
        "吴六奇",
        "郑七巧",
        "王八荒",
        "冯九歌",
        "陈十全",
        "褚百川",
        "卫千帆",
        "蒋万里",
        "沈亿安",
        "韩兆丰",
        "杨京华",
    ]
)


class Held:
    """The registry clock, held at 10:00 Shanghai time on a chosen day, moved by hand."""

    def __init__(self, day: date) -> None:
        self.go(day)

    def go(self, day: date, at: time = time(10, 0)) -> None:
        self.now = datetime.combine(day, at, tzinfo=SHANGHAI).astimezone(UTC)

    def today(self) -> date:
        return self.now.astimezone(SHANGHAI).date()


def hold(monkeypatch, day: date = TODAY) -> Held:
    held = Held(day)
    monkeypatch.setattr(clock, "now", lambda: held.now)
    monkeypatch.setattr(clock, "today", held.today)
    return held


def clerk_of(school: School) -> User:
    """A clerk of the school (the first one, or a new one)."""
    user = User.objects.filter(unit__school=school, role_grants__role=Role.CLERK).first()
    return user or make_user(school.unit, roles=(Role.CLERK,))


def register(
    school: School,
    *,
    name: str | None = None,
    born: date = date(2017, 3, 8),
    sex: str = "2",
    with_id: bool = True,
    **overrides,
) -> Student:
    """A student of ``school`` registered through the service (look-alikes confirmed
    distinct, as a clerk would)."""
    data = registration(school, name=name or next(_NAMES), born=born, sex_code=sex, **overrides)
    if with_id:
        data["id_number"] = resident_id(school.division_code or "440106", born, sex)
    else:
        data["id_type"] = ""
        data["id_number"] = ""
    return student_register(actor=clerk_of(school), data=data, confirm_distinct=True).student


def campaign(
    *, school_year: int = 2025, semester: int = 1, closed: bool = False, title: str = ""
) -> Campaign:
    return Campaign.objects.create(
        province_code="",
        school_year=school_year,
        semester=semester,
        title=title or f"{school_year}学年第{semester}学期核准",
        deadline=date(school_year + 1, 1, 15) if semester == 1 else date(school_year + 1, 7, 1),
        state=CampaignState.CLOSED if closed else CampaignState.OPEN,
        opened_at=clock.now(),
    )


def mark(
    a_campaign: Campaign, student: Student, school: School, mark: str, *, signed_off: bool = True
) -> RollMark:
    SchoolConfirmation.objects.get_or_create(
        campaign=a_campaign,
        school=school,
        defaults={
            "area_code": school.area_code,
            "province_code": school.province_code,
            "state": ConfirmationState.SIGNED_OFF if signed_off else ConfirmationState.IN_PROGRESS,
        },
    )
    return RollMark.objects.create(
        campaign=a_campaign,
        school=school,
        student=student,
        area_code=school.area_code,
        province_code=school.province_code,
        mark=mark,
        marked_at=clock.now(),
        marked_by_username="clerk",
    )


def pdf(name: str = "证明.pdf") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, PDF, "application/pdf")
