"""python manage.py audit_checkpoint_export [--output FILE] [--last N]: write the signed
checkpoints and the public key as JSON, for an outside party to keep and check
(docs/security.md, "Checking a checkpoint")."""

import json

from django.core.management.base import BaseCommand, CommandParser
from django.utils.translation import gettext as _

from xueji.audit.models import AuditCheckpoint
from xueji.audit.signing import export


class Command(BaseCommand):
    help = _("导出审计链签名检查点及公钥（JSON）")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", default="-", help=_("输出文件（默认标准输出）"))
        parser.add_argument("--last", type=int, default=0, help=_("只导出最近 N 个检查点"))

    def handle(self, *args, **options) -> None:
        checkpoints = list(AuditCheckpoint.objects.order_by("-pk"))
        if options["last"] > 0:
            checkpoints = checkpoints[: options["last"]]
        text = json.dumps(export(reversed(checkpoints)), ensure_ascii=False, indent=2)
        if options["output"] == "-":
            self.stdout.write(text)
            return
        with open(options["output"], "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
        self.stdout.write(
            _("已导出 %(n)d 个检查点到 %(path)s。")
            % {"n": len(checkpoints), "path": options["output"]}
        )
