"""python manage.py audit_purge: delete the audit rows older than the retention
(``XUEJI["AUDIT_RETENTION_DAYS"]``, at least 183 days) from the start of every chain; the
purge is itself audited and ``audit_verify`` still passes afterwards (xueji/audit/retention.py).
Refused when the chain does not verify."""

import sys

from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from xueji.accounts.services import SystemActor
from xueji.audit import context
from xueji.audit.retention import PurgeRefused, audit_purge, retention_days

PURGE_JOB = SystemActor(username="system:audit_purge")


class Command(BaseCommand):
    help = _("清理超过保存期限的审计日志（本身记入审计日志）")

    def handle(self, *args, **options) -> None:
        token = context.bind(
            context.RequestContext(channel="cli", request_id=context.new_request_id())
        )
        try:
            result = audit_purge(actor=PURGE_JOB)
        except PurgeRefused as refused:
            self.stderr.write(_("未清理：审计链校验未通过。%(why)s") % {"why": refused})
            sys.exit(1)
        finally:
            context.reset(token)
        self.stdout.write(
            _("已清理 %(n)d 条早于 %(cutoff)s 的审计记录（保存期限 %(days)d 天）。")
            % {
                "n": result.deleted,
                "cutoff": f"{result.cutoff:%Y-%m-%d %H:%M}",
                "days": retention_days(),
            }
        )
