"""python manage.py warnings_evaluate: evaluate the security warning rules over the audit
trail and the sign-in records since the last run (xueji/audit/watch.py).

Run it every few minutes (cron or a systemd timer) or enqueue
``xueji.audit.tasks.warnings_evaluate_task``; running it again raises nothing twice.
"""

import time

from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from xueji.audit.watch import warnings_evaluate


class Command(BaseCommand):
    help = _("评估安全预警规则（自上次评估以来的审计日志和登录记录）")

    def handle(self, *args, **options) -> None:
        started = time.perf_counter()
        report = warnings_evaluate()
        seconds = time.perf_counter() - started
        self.stdout.write(
            _(
                "已评估 %(since)s 至 %(until)s：发现 %(found)d 项，新预警 %(raised)d 条，用时 %(s).2f 秒。"
            )
            % {
                "since": f"{report.since:%Y-%m-%d %H:%M}",
                "until": f"{report.until:%Y-%m-%d %H:%M}",
                "found": report.findings,
                "raised": report.raised,
                "s": seconds,
            }
        )
