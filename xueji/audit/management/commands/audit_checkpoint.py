"""python manage.py audit_checkpoint: sign the audit chains' current heads (Ed25519 with
``XUEJI_AUDIT_SIGNING_KEY``). Run daily after ``audit_verify`` (the daily task does both);
``--new-key`` prints a fresh private key for the setting instead."""

from django.core.management.base import BaseCommand, CommandParser
from django.utils.translation import gettext as _

from xueji.audit.signing import checkpoint_create, new_key, public_key_text


class Command(BaseCommand):
    help = _("为审计链当前链头签名，生成检查点")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--new-key", action="store_true", help=_("只生成一个新的签名私钥并打印")
        )

    def handle(self, *args, **options) -> None:
        if options["new_key"]:
            self.stdout.write(new_key())
            return
        checkpoint = checkpoint_create()
        self.stdout.write(
            _("检查点 #%(id)s 已签名（公钥 %(key)s）。")
            % {"id": checkpoint.pk, "key": public_key_text()}
        )
