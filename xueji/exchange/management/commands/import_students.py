"""Import students from an xlsx or csv file, with a progress bar.

    python manage.py import_students FILE --user USERNAME [--mode all_or_nothing|valid_rows]
                                           [--errors OUT.csv|OUT.xlsx]

The file goes through the same services as the web page and the API (``import_job_create``
then ``import_job_run``), as the given user and within that user's scope. Exit status: 0
when the job succeeded without error rows; 1 when it was rejected or failed, or when any
row was refused; 2 for bad arguments (unknown user, missing file, unknown report type).
"""

from pathlib import Path
from typing import IO, cast

from django.contrib.auth import get_user_model
from django.core.files.base import File
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from xueji.audit import context as audit_context
from xueji.errors import Forbidden, ValidationFailed
from xueji.exchange import reports
from xueji.exchange.models import ImportJob, ImportMode, ImportStatus
from xueji.exchange.services import import_job_create, import_job_run
from xueji.exchange.student_import import ImportOutcome

SHOWN_ERRORS = 20
REPORT_WRITERS = {".csv": reports.error_report_csv, ".xlsx": reports.error_report_xlsx}
# CommandError's exit status for bad arguments; argparse uses 2 as well.
BAD_ARGUMENTS = 2


class _Stream:
    """Rich writes pieces of lines; Django's OutputWrapper would end each piece with a newline."""

    def __init__(self, wrapper) -> None:
        self.wrapper = wrapper

    def write(self, text: str) -> int:
        self.wrapper.write(text, ending="")
        return len(text)

    def flush(self) -> None:
        self.wrapper.flush()

    def isatty(self) -> bool:
        return self.wrapper.isatty()


class Command(BaseCommand):
    help = _(
        "从 xlsx 或 csv 文件批量导入学生（与网页导入相同的校验、查重和写入）。"
        "全部成功退出码为 0；未导入、失败或有错误行为 1；参数错误为 2。"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", metavar="FILE", help=_("要导入的 .xlsx 或 .csv 文件"))
        parser.add_argument(
            "--mode",
            choices=ImportMode.values,
            default=ImportMode.ALL_OR_NOTHING,
            help=_("all_or_nothing：全部正确才导入（默认）；valid_rows：导入正确的行，报告错误行"),
        )
        parser.add_argument(
            "--user",
            required=True,
            metavar="USERNAME",
            help=_("以该账号的身份和管理范围导入"),
        )
        parser.add_argument(
            "--errors",
            metavar="OUT",
            help=_("把错误报告写到该文件（.csv 或 .xlsx）"),
        )

    def handle(self, *args, **options) -> None:
        stream = _Stream(self.stdout)
        # Wide enough for the Chinese messages when the output goes to a file or a test.
        console = Console(
            file=cast(IO[str], stream), width=None if stream.isatty() else 160, highlight=False
        )
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(_("找不到文件：%s") % path, returncode=BAD_ARGUMENTS)
        report_path = Path(options["errors"]) if options["errors"] else None
        if report_path is not None:
            if report_path.suffix.lower() not in REPORT_WRITERS:
                raise CommandError(
                    _("错误报告只能写成 .csv 或 .xlsx 文件：%s") % report_path,
                    returncode=BAD_ARGUMENTS,
                )
            if not report_path.parent.is_dir():
                raise CommandError(
                    _("错误报告的目录不存在：%s") % report_path.parent, returncode=BAD_ARGUMENTS
                )
        user = (
            get_user_model()
            .objects.select_related("unit")
            .filter(username=options["user"], is_active=True)
            .first()
        )
        if user is None:
            raise CommandError(
                _("没有名为“%s”的有效账号") % options["user"], returncode=BAD_ARGUMENTS
            )

        token = audit_context.bind(
            audit_context.RequestContext(channel="cli", request_id=audit_context.new_request_id())
        )
        try:
            job = self._submit(console, user=user, path=path, mode=options["mode"])
        finally:
            audit_context.reset(token)
        console.print(
            _("导入任务 %(job)s：%(file)s（%(mode)s）")
            % {"job": job.pk, "file": path.name, "mode": ImportMode(job.mode).label},
            markup=False,
        )
        job = self._run(console, job)
        self._summary(console, job)
        if report_path is not None:
            report_path.write_bytes(REPORT_WRITERS[report_path.suffix.lower()](job))
            console.print(_("错误报告已写入 %s") % report_path, markup=False)
        if job.status != ImportStatus.SUCCEEDED or job.error_count:
            raise SystemExit(1)

    def _submit(self, console: Console, *, user, path: Path, mode: str) -> ImportJob:
        try:
            with path.open("rb") as handle:
                return import_job_create(
                    actor=user, upload=File(handle, name=path.name), file_name=path.name, mode=mode
                )
        except Forbidden as exc:
            raise CommandError(
                _("账号“%(user)s”不能导入学生：%(reason)s")
                % {"user": user.username, "reason": exc.message},
                returncode=BAD_ARGUMENTS,
            ) from exc
        except ValidationFailed as exc:
            # The file itself was refused (too large, empty, wrong type): nothing was queued.
            console.print(f"[bold red]{escape(exc.message)}[/]")
            for error in exc.errors:
                console.print(f"  {error.code}：{error.message}", markup=False)
            raise SystemExit(1) from exc

    def _run(self, console: Console, job: ImportJob) -> ImportJob:
        with Progress(
            TextColumn(_("处理行数")),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as bar:
            task = bar.add_task("rows", total=None)

            def progress(outcome: ImportOutcome) -> None:
                total = max(outcome.total_rows, outcome.processed_rows) or None
                bar.update(task, completed=outcome.processed_rows, total=total)

            job = import_job_run(job_id=job.pk, progress=progress)
            bar.update(task, completed=job.processed_rows, total=max(job.total_rows, 1))
        return job

    def _summary(self, console: Console, job: ImportJob) -> None:
        style = "green" if job.status == ImportStatus.SUCCEEDED and not job.error_count else "red"
        console.print(f"[bold {style}]{_('导入结果')}：{ImportStatus(job.status).label}[/]")
        console.print(
            _(
                "新建 %(created)d 人，已存在跳过 %(skipped)d 人，错误 %(errors)d 行（共处理 %(rows)d 行）"
            )
            % {
                "created": job.created_count,
                "skipped": job.skipped_count,
                "errors": job.error_count,
                "rows": job.processed_rows,
            }
        )
        if job.message and job.status != ImportStatus.SUCCEEDED:  # success repeats the counts
            console.print(job.message, markup=False)
        errors = list(job.row_errors.order_by("row", "pk")[: SHOWN_ERRORS + 1])
        if not errors:
            return
        table = Table(title=_("错误明细"), show_lines=False)
        for heading in reports.ERROR_HEADERS:
            table.add_column(heading, overflow="fold")
        for error in errors[:SHOWN_ERRORS]:
            # Text cells: values typed in the file must not be read as rich markup.
            table.add_row(
                *(
                    Text(cell)
                    for cell in (
                        str(error.row or ""),
                        error.column,
                        error.value_masked,
                        error.code,
                        error.message,
                    )
                )
            )
        console.print(table)
        total = job.row_errors.count()
        if total > SHOWN_ERRORS:
            console.print(
                _("共 %(total)d 条错误，仅显示前 %(shown)d 条；用 --errors 文件名 导出完整报告。")
                % {"total": total, "shown": SHOWN_ERRORS}
            )
