"""python manage.py create_account USERNAME (--national | --separate | --division CODE | --school CODE) --roles clerk,reviewer"""

import getpass
import os

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils.translation import gettext as _

from xueji.accounts.models import Role
from xueji.accounts.services import (
    unit_ensure_for_division,
    unit_ensure_for_school,
    unit_ensure_national,
    unit_ensure_separate,
    user_create,
)
from xueji.errors import DomainError
from xueji.schools.models import School


class Command(BaseCommand):
    help = _("创建账号：账号属于一个单位（国家、省、市、县、学校或单列管理单位），并授予角色")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        unit = parser.add_mutually_exclusive_group(required=True)
        unit.add_argument("--national", action="store_true", help=_("国家级单位"))
        unit.add_argument("--separate", action="store_true", help=_("单列管理学校的国家级单位"))
        unit.add_argument("--division", help=_("省/市/县的6位行政区划代码"))
        unit.add_argument("--school", help=_("10位学校标识码"))
        parser.add_argument(
            "--roles", required=True, help=_("逗号分隔：%s") % ", ".join(Role.values)
        )
        parser.add_argument("--full-name", default="")
        parser.add_argument(
            "--password-env",
            default="XUEJI_NEW_PASSWORD",
            help=_("从该环境变量读取密码；未设置时交互输入"),
        )

    def handle(self, *args, **options) -> None:
        roles = [r.strip() for r in options["roles"].split(",") if r.strip()]
        password = os.environ.get(options["password_env"]) or getpass.getpass(_("密码："))
        try:
            with transaction.atomic():
                user, unit = self._create(options, roles, password)
        except DomainError as error:
            details = "；".join(f"{e.field}: {e.message}" for e in error.errors)
            raise CommandError(f"{error.message} {details}".strip()) from error
        self.stdout.write(
            _("已创建账号 %(username)s（%(unit)s，角色：%(roles)s）")
            % {"username": user.username, "unit": unit.name, "roles": ", ".join(roles)}
        )

    def _create(self, options, roles, password):
        if options["national"]:
            unit = unit_ensure_national()
        elif options["separate"]:
            unit = unit_ensure_separate()
        elif options["division"]:
            unit = unit_ensure_for_division(division_code=options["division"])
        else:
            school = School.objects.filter(code=options["school"]).first()
            if school is None:
                raise CommandError(_("学校标识码不存在：%s") % options["school"])
            unit = unit_ensure_for_school(school)
        user = user_create(
            actor=None,
            unit=unit,
            username=options["username"],
            password=password,
            roles=roles,
            full_name=options["full_name"],
        )
        return user, unit
