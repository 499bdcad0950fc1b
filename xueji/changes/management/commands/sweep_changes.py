"""python manage.py sweep_changes [--today YYYY-MM-DD]: the daily sweep of approval steps.

Recomputes the deadlines that waited for a year's working-day calendar, then raises an
early warning to the unit of every pending step past its deadline and to the unit above.
Idempotent: run it once a day from cron or a systemd timer (django-tasks has no scheduler);
see docs/transfers.md, "Deadlines and warnings".
"""

from datetime import date

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from xueji.audit import context
from xueji.changes.services import steps_overdue_sweep


def iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CommandError(_("日期须写作 YYYY-MM-DD：%s") % text) from None


class Command(BaseCommand):
    help = _("学籍变动每日巡检：补算工作日历缺失的期限，对逾期环节发出预警（每日运行一次）")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--today",
            help=_("按此日期（YYYY-MM-DD）判断是否逾期，默认今天"),
        )

    def handle(self, *args, **options) -> None:
        today = iso_date(options["today"]) if options["today"] else None
        token = context.bind(
            context.RequestContext(channel="cli", request_id=context.new_request_id())
        )
        try:
            counts = steps_overdue_sweep(today=today)
        finally:
            context.reset(token)
        self.stdout.write(
            _(
                "逾期环节 %(overdue)d 个（已向办理单位及其上级预警）；"
                "仍缺工作日历 %(missing)d 个；已补算期限 %(recomputed)d 个。"
            )
            % {
                "overdue": counts["overdue"],
                "missing": counts["calendar_missing"],
                "recomputed": counts["recomputed"],
            }
        )
