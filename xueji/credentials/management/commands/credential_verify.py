"""Verify a credential or a presentation: ``python manage.py credential_verify FILE
[--nonce N --audience A] [--jwks FILE]``. Exit 0 when valid, 1 when invalid or revoked,
with the reason. ``--jwks`` checks offline against the published keys instead of this
registry's key ring (the status list still comes from this registry)."""

import json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand

from xueji.credentials import sdjwt
from xueji.credentials.errors import reason_text
from xueji.credentials.services import _local_fetch, config, local_verifier


class Command(BaseCommand):
    help = "Verify an SD-JWT VC or a presentation of one; exit 0 valid, 1 invalid."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--nonce")
        parser.add_argument("--audience")
        parser.add_argument("--jwks", help="verify against this JWKS file (offline)")

    def handle(self, *args, **options):
        text = Path(options["file"]).read_text(encoding="utf-8", errors="replace")
        verifier = local_verifier()
        if options["jwks"]:
            jwks = json.loads(Path(options["jwks"]).read_text(encoding="utf-8"))
            verifier = sdjwt.Verifier(
                keys=sdjwt.jwks_source(jwks),
                issuer=config()["ISSUER"],
                vct=config()["VCT"],
                status_fetcher=_local_fetch,
                kb_max_age=int(config()["KB_MAX_AGE"]),
            )
        verdict = verifier.verify(text, nonce=options["nonce"], audience=options["audience"])
        if not verdict.valid:
            self.stdout.write(f"无效：{verdict.reason} {reason_text(verdict.reason)}")
            sys.exit(1)
        bound = "，已核对持有人绑定" if verdict.key_bound else ""
        self.stdout.write(f"有效（密钥 {verdict.kid}{bound}）")
        self.stdout.write(json.dumps(verdict.claims, ensure_ascii=False, indent=2))
