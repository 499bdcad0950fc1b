"""python manage.py totp_code demo-county: the current second-factor code of a demo account.

For trying the demo without an authenticator app. It can never bypass a real second
factor: it refuses unless DEBUG is on, the user name starts with "demo-", and the account's
authenticator holds the demo secret that ``generate_demo`` prints anyway.
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from xueji import clock
from xueji.accounts import twofactor
from xueji.accounts.models import User

DEMO_PREFIX = "demo-"


class Command(BaseCommand):
    help = _("显示演示账号当前的动态验证码（仅限开发环境的 demo- 账号）")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")

    def handle(self, *args, **options) -> None:
        from xueji.exchange.demo_accounts import DEMO_TOTP_SECRETS

        username: str = options["username"]
        if not settings.DEBUG:
            raise CommandError(_("此命令只能在开发环境（DEBUG）中使用。"))
        if not username.startswith(DEMO_PREFIX) or username not in DEMO_TOTP_SECRETS:
            raise CommandError(_("只能查看演示账号（demo-…）的验证码。"))
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(_("演示账号 %s 不存在，请先运行 generate_demo。") % username)
        secret = DEMO_TOTP_SECRETS[username]
        if not twofactor.totp_device_holds(user, secret):
            # No authenticator, or one of the account's own: that one stays private.
            raise CommandError(
                _("账号 %s 未使用演示密钥绑定验证器，本命令不显示其验证码。") % username
            )
        now = clock.now()
        code = twofactor.totp_code_at(secret, twofactor.totp_step(now.timestamp()))
        left = twofactor.STEP_SECONDS - int(now.timestamp()) % twofactor.STEP_SECONDS
        self.stdout.write(code)
        self.stderr.write(_("（%(seconds)d 秒内有效；每个验证码只能使用一次）") % {"seconds": left})
