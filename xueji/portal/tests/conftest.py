"""The portal's test world: a clock held still, a student whose guardian is on file with
an ID number and a phone, schools to move to in the same county and in another province,
and a guardian signed in through the pages (the code read from the outbox)."""

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from tests.factories import SchoolFactory, make_user, resident_id
from xueji import clock
from xueji.accounts.models import Role, UnitKind
from xueji.changes.models import ApprovalStep
from xueji.portal.models import OutboxMessage

SHANGHAI = ZoneInfo("Asia/Shanghai")
PDF = b"%PDF-1.4\n% a transfer application\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
GUARDIAN_PHONE = "13912345678"


class Held:
    """The registry clock at a chosen Shanghai time, moved by hand."""

    def __init__(self, day: date) -> None:
        self.now = datetime.combine(day, time(10, 0), tzinfo=SHANGHAI).astimezone(UTC)

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)

    def today(self) -> date:
        return self.now.astimezone(SHANGHAI).date()


@pytest.fixture
def held(monkeypatch) -> Held:
    """Tuesday 2026-03-10: spring semester, no blocked period for a third-grader, and the
    2026 calendar loaded for every deadline."""
    held = Held(date(2026, 3, 10))
    monkeypatch.setattr(clock, "now", lambda: held.now)
    monkeypatch.setattr(clock, "today", held.today)
    return held


@dataclass
class Family:
    student: object
    guardian_id_number: str
    phone: str = GUARDIAN_PHONE


@pytest.fixture
def family(held, make_student, school) -> Family:
    """A third-grader at 天河区第一实验小学 (440106) with the guardian on file."""
    guardian_id = resident_id("440106", date(1986, 4, 5), "2", seq=120)
    student = make_student(
        name="林小雨", guardian_id_number=guardian_id, guardian_phone=GUARDIAN_PHONE
    )
    return Family(student=student, guardian_id_number=guardian_id)


@pytest.fixture
def near_school(db):
    """Another primary school in the same county (an intra-province move)."""
    return SchoolFactory(name="天河区第二实验小学", division_code="440106")


def outbox_code() -> str:
    """The code of the newest message of the embedded sender."""
    body = OutboxMessage.objects.order_by("-pk").first().body
    return re.search(r"\d{6}", body).group(0)


def sign_in(client: Client, family: Family) -> None:
    """Through the pages: numbers, then the code from the outbox."""
    response = client.post(
        "/portal/",
        {
            "student_number": family.student.number,
            "guardian_id_number": family.guardian_id_number,
        },
    )
    assert response.status_code == 302 and response["Location"] == "/portal/code/"
    response = client.post("/portal/code/", {"code": outbox_code()})
    assert response.status_code == 302 and response["Location"] == "/portal/home/", response


@pytest.fixture
def guardian_client(family) -> Client:
    client = Client()
    sign_in(client, family)
    return client


def pdf(name: str = "申请表.pdf") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, PDF, "application/pdf")


def handler_of(step: ApprovalStep):
    """A new account of the step's unit: a clerk of a school, a reviewer of an authority."""
    role = Role.CLERK if step.unit.kind == UnitKind.SCHOOL else Role.REVIEWER
    return make_user(step.unit, roles=(role,))
