"""python manage.py generate_demo --students N: realistic synthetic data through the bulk path."""

import time

from django.core.management.base import BaseCommand, CommandParser
from django.utils.translation import gettext as _
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from xueji.exchange.demo_accounts import ensure_demo_accounts
from xueji.exchange.demo_activity import ensure_demo_activity
from xueji.exchange.synthetic import DemoPlan, generate
from xueji.students.models import Student


class Command(BaseCommand):
    help = _("生成演示数据：学校、学生（经批量导入通道写入）和各级演示账号")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--students", type=int, default=20_000)
        parser.add_argument(
            "--schools", type=int, default=0, help=_("默认按每校约400人计算，至少50所")
        )
        parser.add_argument("--provinces", default="44,51,33", help=_("省级代码前两位，逗号分隔"))
        parser.add_argument("--seed", type=int, default=20251)
        parser.add_argument("--if-empty", action="store_true", help=_("已有学生时不再生成"))
        parser.add_argument("--no-accounts", action="store_true")

    def handle(self, *args, **options) -> None:
        console = Console()
        if options["if_empty"] and Student.objects.exists():
            console.print(_("已有数据，跳过生成。"))
        else:
            students = options["students"]
            schools = options["schools"] or max(50, students // 400)
            plan = DemoPlan(
                students=students,
                schools=schools,
                provinces=tuple(p.strip() for p in options["provinces"].split(",") if p.strip()),
                seed=options["seed"],
            )
            started = time.perf_counter()
            with Progress(
                TextColumn(_("生成学生")),
                BarColumn(),
                TextColumn("{task.completed}/{task.total}"),
                TimeElapsedColumn(),
                console=console,
                transient=False,
            ) as bar:
                task = bar.add_task("students", total=students)

                def progress(done: int, total: int) -> None:
                    bar.update(task, completed=done, total=total)

                counts = generate(plan=plan, progress=progress)
            elapsed = time.perf_counter() - started
            console.print(
                _(
                    "已生成学校 %(schools)d 所、学生 %(students)d 人，用时 %(elapsed).1f 秒"
                    "（%(rate)s 人/秒）"
                )
                % {
                    "schools": counts.schools,
                    "students": counts.students,
                    "elapsed": elapsed,
                    "rate": f"{counts.students / max(elapsed, 1e-9):,.0f}",
                }
            )
        if options["no_accounts"]:
            return
        accounts = ensure_demo_accounts()
        for line in ensure_demo_activity():
            console.print(_("演示业务：%s") % line)
        table = Table(title=_("演示账号（各级）"))
        # User names and passwords are copied: never cut or wrapped; the rest may fold.
        for column, whole in (
            (_("层级"), False),
            (_("用户名"), True),
            (_("密码"), True),
            (_("单位"), False),
            (_("角色"), False),
            (_("第二因素"), False),
        ):
            table.add_column(column, no_wrap=whole, overflow="fold")
        for account in accounts:
            table.add_row(
                account.level,
                account.username,
                account.password,
                account.unit,
                "、".join(account.roles),
                _("动态验证码") if account.totp_secret else _("不需要"),
            )
        console.print(table)
        with_factor = [a for a in accounts if a.totp_secret]
        if not with_factor:
            return
        secrets = Table(title=_("第二因素（TOTP）密钥：添加到验证器应用"))
        secrets.add_column(_("用户名"), no_wrap=True)
        secrets.add_column(_("密钥"), no_wrap=True, min_width=32)
        for account in with_factor:
            secrets.add_row(account.username, account.totp_secret)
        console.print(secrets)
        console.print(
            _(
                "县区级及以上账号登录时，输入密码后还须输入6位动态验证码：把上表的密钥添加到"
                "验证器应用（Microsoft Authenticator、Google Authenticator、FreeOTP 等，"
                "选择“输入设置密钥”、基于时间），或在另一个终端运行\n"
                "  python manage.py totp_code %(username)s\n"
                "查看当前验证码（仅限开发环境的演示账号；每个验证码只能使用一次）。"
            )
            # The county is the level the demo data is busiest in.
            % {
                "username": next(
                    (a.username for a in with_factor if a.username == "demo-county"),
                    with_factor[-1].username,
                )
            }
        )
