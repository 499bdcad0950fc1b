"""Yearly promotion from the command line, with a progress bar.

    python manage.py promote --scope 440106 --school-year 2026 --cutoff 2026-08-31 [--dry-run]
    python manage.py promote --resume RUN_ID

Same services as the pages and the API (``xueji.enrolment.batches``).
"""

from django.core.management.base import CommandParser
from django.utils.translation import gettext as _

from xueji.enrolment import batches
from xueji.enrolment.models import BatchRun

from ._batch_cli import BatchCommand, operator_name, parse_date


class Command(BatchCommand):
    help = _(
        "年度升级：先试运行并打印报告，再执行（--dry-run 只试运行；--resume 执行或继续某批次）。"
        "完成退出码为 0；被拒绝或中断为 1；参数错误为 2。"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--scope",
            default="",
            help=_("行政区划代码（如 440106、440100、440000）或10位学校标识码；省略为全国"),
        )
        parser.add_argument("--school-year", type=int, help=_("升入学年（默认为截止日期的年份）"))
        self.add_common_arguments(parser)

    def plan(self, actor, options: dict) -> BatchRun:
        cutoff = parse_date(options["cutoff"])
        return batches.batch_promotion_plan(
            actor=actor,
            scope=options["scope"],
            school_year=options["school_year"] or cutoff.year,
            cutoff=cutoff,
            operator="" if actor is not None else operator_name(),
        )
