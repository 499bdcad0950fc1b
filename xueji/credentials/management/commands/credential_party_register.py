"""Register a relying system: ``python manage.py credential_party_register --name N
--purpose P --audience A --allow school.name,grade [--rate 60]``. Prints its token once
(``rp_<prefix>_<secret>``; only a hash is kept)."""

from django.core.management.base import BaseCommand, CommandError

from xueji.credentials.services import relying_party_register
from xueji.errors import DomainError


class Command(BaseCommand):
    help = "Register a relying party for the credential verification endpoint."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument("--purpose", required=True)
        parser.add_argument("--audience", required=True)
        parser.add_argument("--allow", required=True, help="claim paths, comma-separated")
        parser.add_argument("--rate", type=int, default=60, help="verifications per minute")

    def handle(self, *args, **options):
        try:
            party, token = relying_party_register(
                actor=None,
                name=options["name"],
                purpose=options["purpose"],
                audience=options["audience"],
                allowed_disclosures=[a.strip() for a in options["allow"].split(",") if a.strip()],
                rate_per_minute=options["rate"],
            )
        except DomainError as error:
            detail = "；".join(str(e.message) for e in error.errors) or str(error.message)
            raise CommandError(f"{error.code}: {detail}") from None
        self.stdout.write(f"已登记依赖方 {party.name}（受众 {party.audience}）")
        self.stdout.write(f"令牌（只显示这一次）：{token}")
