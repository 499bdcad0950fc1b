"""python manage.py changes_overdue [--today YYYY-MM-DD]: list the approval steps past their
deadline, and those whose deadline waits for a year's working-day calendar.

One tab-separated line per step, most overdue first: request, change type, student number,
party, unit, activated on, due date (``-`` when the calendar is missing), working days
late. Exit status 0 when nothing is listed, 1 otherwise (for monitoring).
"""

import sys
from datetime import date

from django.core.management.base import BaseCommand, CommandParser
from django.db.models import F, Q
from django.utils.translation import gettext as _

from xueji import clock
from xueji.changes.models import ApprovalStep
from xueji.changes.rules import RequestState, StepState
from xueji.workdays.rules import CalendarMissing
from xueji.workdays.selectors import workdays_late

from .sweep_changes import iso_date


def _late(due: date | None, today: date) -> str:
    if due is None:
        return "-"
    try:
        return str(workdays_late(due, today))
    except CalendarMissing:
        return "?"


class Command(BaseCommand):
    help = _("列出已超过办理期限或缺少工作日历的核办环节")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--today", help=_("按此日期（YYYY-MM-DD）判断是否逾期，默认今天"))

    def handle(self, *args, **options) -> None:
        today = iso_date(options["today"]) if options["today"] else clock.today()
        steps = (
            ApprovalStep.objects.filter(state=StepState.PENDING, request__state=RequestState.OPEN)
            .filter(Q(due_date__lt=today) | Q(calendar_missing=True))
            .select_related("unit", "request", "request__student")
            .order_by(F("due_date").asc(nulls_first=True), "pk")
        )
        count = 0
        for step in steps.iterator(chunk_size=500):
            request = step.request
            self.stdout.write(
                "\t".join(
                    [
                        str(request.pk),
                        str(request.get_change_type_display()),
                        request.student.number_masked,
                        str(step.get_party_display()),
                        step.unit.name,
                        str(step.activated_on or "-"),
                        str(step.due_date or "-"),
                        _late(step.due_date, today),
                    ]
                )
            )
            count += 1
        self.stderr.write(
            _("共 %(n)d 个环节逾期或缺少工作日历（%(today)s）。") % {"n": count, "today": today}
        )
        if count:
            sys.exit(1)
