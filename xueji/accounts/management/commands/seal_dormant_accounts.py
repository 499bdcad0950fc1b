"""python manage.py seal_dormant_accounts [--dry-run]: the daily sealing sweep (封存).

Run it once a day from cron or a systemd timer (django-tasks has no scheduler); see
docs/security.md, "Scheduling the sealing job".
"""

from django.core.management.base import BaseCommand, CommandParser
from django.utils.translation import gettext as _

from xueji import clock
from xueji.accounts.models import User
from xueji.accounts.policy import security_policy
from xueji.accounts.selectors import dormant_accounts
from xueji.accounts.services import account_seal_dormant
from xueji.audit import context


class Command(BaseCommand):
    help = _("封存超过规定天数未使用的账号（每日运行一次）")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help=_("只统计将被封存的账号，不做修改")
        )

    def handle(self, *args, **options) -> None:
        days = security_policy().dormant_days
        token = context.bind(
            context.RequestContext(channel="cli", request_id=context.new_request_id())
        )
        try:
            if options["dry_run"]:
                count = dormant_accounts(now=clock.now()).count()
                self.stdout.write(
                    _("试运行：%(n)d 个账号超过 %(days)d 天未使用，将被封存。")
                    % {"n": count, "days": days}
                )
                return
            sealed = account_seal_dormant()
        finally:
            context.reset(token)
        total = User.objects.filter(sealed_at__isnull=False).count()
        self.stdout.write(
            _("已封存 %(n)d 个超过 %(days)d 天未使用的账号；目前共有 %(total)d 个封存账号。")
            % {"n": sealed, "days": days, "total": total}
        )
