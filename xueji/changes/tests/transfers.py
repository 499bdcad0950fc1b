"""Shared by the change-engine tests: a clock held still and moved by hand, and a transfer
filed and taken through its steps by accounts of the units the chain names."""

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from django.core.files.uploadedfile import SimpleUploadedFile

from tests.factories import make_user
from xueji import clock
from xueji.accounts.models import Role, UnitKind
from xueji.changes import services
from xueji.changes.models import ApprovalStep, ChangeRequest
from xueji.changes.rules import StepState

SHANGHAI = ZoneInfo("Asia/Shanghai")
PDF = b"%PDF-1.4\n% a transfer application\n"
REASON = "随父母工作调动转学"


class Held:
    """The registry clock, held at a chosen Shanghai time (10:00 unless told) and moved by
    hand. ``now`` is in UTC, as ``timezone.now()`` gives it in production, so a date taken
    from it without converting to Shanghai time shows up as a day off in the small hours."""

    def __init__(self, day: date) -> None:
        self.go(day)

    def go(self, day: date, at: time = time(10, 0)) -> None:
        self.now = datetime.combine(day, at, tzinfo=SHANGHAI).astimezone(UTC)

    def today(self) -> date:
        return self.now.astimezone(SHANGHAI).date()


def hold_clock(monkeypatch, day: date) -> Held:
    held = Held(day)
    monkeypatch.setattr(clock, "now", lambda: held.now)
    monkeypatch.setattr(clock, "today", held.today)
    return held


def application() -> list[tuple[str, SimpleUploadedFile]]:
    return [("application", SimpleUploadedFile("申请表.pdf", PDF, "application/pdf"))]


def file_transfer(receiver, student, **overrides) -> ChangeRequest:
    """The receiving school's clerk (or an authority, with ``target_school_id``) files a
    transfer of ``student`` with the application form."""
    arguments = {
        "actor": receiver,
        "student_number": student.number,
        "student_name": student.name,
        "reason": REASON,
        "uploads": application(),
    }
    arguments.update(overrides)
    return services.transfer_file(**arguments)


def steps_of(request: ChangeRequest) -> list[ApprovalStep]:
    return list(ApprovalStep.objects.filter(request=request).order_by("seq"))


def handler_of(step: ApprovalStep):
    """A new account of the step's unit able to handle it: a clerk of a school, a reviewer
    of an authority."""
    role = Role.CLERK if step.unit.kind == UnitKind.SCHOOL else Role.REVIEWER
    return make_user(step.unit, roles=(role,))


def approve_pending(request: ChangeRequest) -> ApprovalStep:
    step = ApprovalStep.objects.get(request=request, state=StepState.PENDING)
    services.step_handle(actor=handler_of(step), step_id=step.pk, approve=True)
    return step


def complete_transfer(request: ChangeRequest) -> None:
    """Approve the three steps after the receiving school's own."""
    for _i in range(3):
        approve_pending(request)
