"""python manage.py release_trace FILE: name the release a leaked copy came from.

Reads a csv or xlsx copy (whole or partial, with or without its mark) and prints the release
its hidden fingerprint names (xueji/releases/trace.py): reference, requesting unit,
recipient, approver, expiry. Exits 0 when one is named, 1 otherwise.
"""

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from xueji.releases.trace import trace


class Command(BaseCommand):
    help = _("追查泄露文件来自哪一次数据发布：找到则返回 0，否则返回 1")

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path, help=_("泄露的文件（CSV 或 xlsx，可以只是部分行）"))

    def handle(self, *args, **options) -> None:
        path: Path = options["file"]
        try:
            content = path.read_bytes()
        except OSError as error:
            raise CommandError(_("无法读取文件：%s") % error) from error
        result = trace(content)
        copy = result.copy
        self.stdout.write(
            _("文件 %(name)s：%(rows)d 行数据。") % {"name": path.name, "rows": len(copy.rows)}
        )
        references = copy.mark_references
        if references:
            self.stdout.write(_("文件中的可见标记：%s") % "、".join(references))
        else:
            self.stdout.write(_("文件中没有可见标记（可能已被删去）。"))
        if not result.matches:
            self.stderr.write(_("未能确定来源：没有一次数据发布的隐藏指纹与该文件吻合。"))
            sys.exit(1)
        for match in result.matches:
            release = match.release
            if match.method == "pseudonym":
                evidence = _("%(m)d / %(n)d 行的编号与该次发布的密钥吻合") % {
                    "m": match.matched,
                    "n": match.compared,
                }
            else:
                evidence = _("%(n)d 行按该次发布的行序连续出现在发布文件第 %(at)d 行起") % {
                    "n": match.compared,
                    "at": (match.position or 0) + 1,
                }
            recipient = release.recipient
            self.stdout.write(
                _(
                    "来源：数据发布 %(ref)s（#%(id)d），申请单位 %(unit)s；接收单位 %(org)s，"
                    "接收人 %(person)s（%(username)s）；批准人 %(approver)s（%(approver_unit)s）；"
                    "下载截止 %(expires)s。依据：%(evidence)s。"
                )
                % {
                    "ref": release.reference,
                    "id": release.pk,
                    "unit": release.unit.name,
                    "org": release.recipient_organisation,
                    "person": recipient.full_name or recipient.username,
                    "username": recipient.username,
                    "approver": release.approver_name,
                    "approver_unit": release.approver_unit.name if release.approver_unit else "",
                    "expires": release.expires_on.isoformat(),
                    "evidence": evidence,
                }
            )
            if references and release.reference not in references:
                self.stdout.write(_("注意：文件中的可见标记与隐藏指纹不一致，标记可能被篡改。"))
