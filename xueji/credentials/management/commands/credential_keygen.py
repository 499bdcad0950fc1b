"""Make an issuer key file: ``python manage.py credential_keygen --alg ES256|SM2 --out FILE``
(a private JWK; name it in XUEJI_CREDENTIAL_KEYS with a kid and a state)."""

import json
import os
from pathlib import Path

from django.core.management.base import BaseCommand

from xueji.credentials.keys import ALGORITHMS, new_private_jwk


class Command(BaseCommand):
    help = "Generate a credential signing key (private JWK file, mode 600)."

    def add_arguments(self, parser):
        parser.add_argument("--alg", choices=ALGORITHMS, default="ES256")
        parser.add_argument("--out", required=True)

    def handle(self, *args, **options):
        path = Path(options["out"])
        path.write_text(json.dumps(new_private_jwk(options["alg"])), encoding="utf-8")
        os.chmod(path, 0o600)
        self.stdout.write(f"已生成 {options['alg']} 密钥：{path}")
