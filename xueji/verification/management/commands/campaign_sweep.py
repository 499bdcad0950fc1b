"""python manage.py campaign_sweep [--today YYYY-MM-DD]: the daily sweep of confirmation
campaigns.

Every school of an open campaign that has not signed off after the campaign's deadline
gets an early warning, and so does the level above it (the county). Idempotent: run it
once a day from cron or a systemd timer (django-tasks has no scheduler); see
docs/semester.md, "Deadlines and warnings".
"""

from datetime import date

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from xueji.audit import context
from xueji.verification.services import campaigns_overdue_sweep


def iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CommandError(_("日期须写作 YYYY-MM-DD：%s") % text) from None


class Command(BaseCommand):
    help = _("学籍核准每日巡检：对逾期未签报的学校及其上级发出预警（每日运行一次）")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--today", help=_("按此日期（YYYY-MM-DD）判断是否逾期，默认今天"))

    def handle(self, *args, **options) -> None:
        today = iso_date(options["today"]) if options["today"] else None
        token = context.bind(
            context.RequestContext(channel="cli", request_id=context.new_request_id())
        )
        try:
            counts = campaigns_overdue_sweep(today=today)
        finally:
            context.reset(token)
        self.stdout.write(
            _(
                "已过截止日期的核准活动 %(campaigns)d 个；逾期未签报学校 %(overdue)d 所（已向学校及其上级预警）。"
            )
            % counts
        )
