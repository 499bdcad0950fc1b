"""Make a presentation of an issued credential with chosen disclosures and a key-binding
JWT: ``python manage.py credential_present ISSUED --holder-key JWK --disclose school.name,grade
--nonce N --audience A --out FILE`` (what a wallet does; for operators and tests)."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from xueji.credentials import sdjwt
from xueji.credentials.keys import key_from_jwk


class Command(BaseCommand):
    help = "Present an SD-JWT VC: chosen disclosures plus a KB-JWT."

    def add_arguments(self, parser):
        parser.add_argument("issued")
        parser.add_argument("--holder-key", required=True, help="the holder's private JWK")
        parser.add_argument("--disclose", default="", help="claim paths, comma-separated")
        parser.add_argument("--nonce", required=True)
        parser.add_argument("--audience", required=True)
        parser.add_argument("--out", required=True)

    def handle(self, *args, **options):
        issued = Path(options["issued"]).read_text(encoding="ascii").strip()
        holder = key_from_jwk(json.loads(Path(options["holder_key"]).read_text(encoding="utf-8")))
        disclose = [p.strip() for p in options["disclose"].split(",") if p.strip()]
        try:
            text = sdjwt.present(
                issued,
                disclose=disclose,
                holder_key=holder,
                nonce=options["nonce"],
                audience=options["audience"],
            )
        except ValueError as error:
            raise CommandError(str(error)) from None
        Path(options["out"]).write_text(text, encoding="ascii")
        self.stdout.write(f"已生成出示：披露 {', '.join(disclose) or '（无）'}")
