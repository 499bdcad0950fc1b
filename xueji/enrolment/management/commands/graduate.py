"""Graduation, completion and leaving of one school from the command line.

python manage.py graduate --school CODE --cutoff 2026-07-01 [--stage 2]
                          [--completed N1,N2] [--left N3] [--dry-run]
python manage.py graduate --resume RUN_ID
"""

from django.core.management.base import CommandParser
from django.utils.translation import gettext as _

from xueji.enrolment import batches
from xueji.enrolment.models import BatchRun

from ._batch_cli import BatchCommand, operator_name, parse_date


class Command(BatchCommand):
    help = _(
        "按学校办理毕业（列出的学生结业或肄业）：先试运行并打印报告，再执行。"
        "完成退出码为 0；被拒绝或中断为 1；参数错误为 2。"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--school", default="", help=_("10位学校标识码"))
        parser.add_argument("--stage", default="", choices=("", "1", "2", "3"))
        parser.add_argument("--completed", default="", help=_("结业学生的学籍号，逗号分隔"))
        parser.add_argument("--left", default="", help=_("肄业学生的学籍号，逗号分隔"))
        self.add_common_arguments(parser)

    def plan(self, actor, options: dict) -> BatchRun:
        return batches.batch_graduation_plan(
            actor=actor,
            school=options["school"],
            cutoff=parse_date(options["cutoff"]),
            stage=options["stage"],
            completed=options["completed"],
            left=options["left"],
            operator="" if actor is not None else operator_name(),
        )
