"""python manage.py audit_verify: walk the audit trail's hash chains (xueji/audit/verify.py).

Exits 0 when every chain is intact, 1 naming the first bad row otherwise (edited, deleted,
inserted or reordered rows; a chain shorter than its head or a signed checkpoint). It reads
only the rows and their hashes: it works as well after a superuser dropped the triggers.
Run it daily (cron or a systemd timer) or enqueue ``xueji.audit.tasks.audit_daily``.
"""

import sys
import time

from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from xueji.audit.verify import verify


class Command(BaseCommand):
    help = _("校验审计日志哈希链：完好返回 0，否则返回 1 并指出第一条有问题的记录")

    def handle(self, *args, **options) -> None:
        started = time.perf_counter()
        report = verify()
        seconds = time.perf_counter() - started
        summary = _(
            "已校验 %(rows)d 条审计记录（%(parts)d 个链分区，%(cps)d 个签名检查点），用时 %(s).1f 秒。"
        ) % {
            "rows": report.rows,
            "parts": report.partitions,
            "cps": report.checkpoints,
            "s": seconds,
        }
        if report.intact:
            self.stdout.write(summary + " " + _("审计链完好。"))
            return
        self.stderr.write(
            _("审计链已被篡改。第一条有问题的记录：%(problem)s") % {"problem": report.problems[0]}
        )
        for problem in report.problems[1:]:
            self.stderr.write("  " + str(problem))
        self.stderr.write(summary)
        sys.exit(1)
