"""What ``promote`` and ``graduate`` share: the acting account, the report, the run with a
progress bar. Exit status: 0 done (or dry run made); 1 refused or interrupted; 2 bad
arguments."""

import getpass
from collections.abc import Callable
from datetime import date
from typing import IO, cast

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from xueji.audit import context as audit_context
from xueji.enrolment import batches
from xueji.enrolment.models import BatchKind, BatchRun, BatchState
from xueji.errors import DomainError
from xueji.schools.rules import GRADES

BAD_ARGUMENTS = 2


class _Stream:
    """Rich writes pieces of lines; Django's OutputWrapper would end each with a newline."""

    def __init__(self, wrapper) -> None:
        self.wrapper = wrapper

    def write(self, text: str) -> int:
        self.wrapper.write(text, ending="")
        return len(text)

    def flush(self) -> None:
        self.wrapper.flush()

    def isatty(self) -> bool:
        return self.wrapper.isatty()


def parse_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as error:
        raise CommandError(
            _("日期格式应为 YYYY-MM-DD：%s") % value, returncode=BAD_ARGUMENTS
        ) from error


def _grade(code: str) -> str:
    grade = GRADES.get(code)
    return str(grade.name) if grade else code


class BatchCommand(BaseCommand):
    """Plan (dry run), then confirm and run in this process, or continue a run."""

    def add_common_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--cutoff", metavar="YYYY-MM-DD", help=_("截止日期（生效日期）"))
        parser.add_argument("--dry-run", action="store_true", help=_("只试运行并打印报告"))
        parser.add_argument(
            "--resume",
            type=int,
            metavar="RUN_ID",
            help=_("执行已试运行的批次，或继续执行中断的批次"),
        )
        parser.add_argument(
            "--user",
            metavar="USERNAME",
            help=_("以该账号的身份和管理范围执行（省略时以运维身份执行，范围为全国）"),
        )
        parser.add_argument("--chunk-rows", type=int, help=_("每段处理的学籍数"))

    def plan(self, actor, options: dict) -> BatchRun:  # pragma: no cover - abstract
        raise NotImplementedError

    def handle(self, *args, **options) -> None:
        stream = _Stream(self.stdout)
        self.console = Console(
            file=cast(IO[str], stream), width=None if stream.isatty() else 160, highlight=False
        )
        actor = self._actor(options.get("user"))
        token = audit_context.bind(
            audit_context.RequestContext(channel="cli", request_id=audit_context.new_request_id())
        )
        try:
            self._handle(actor, options)
        except DomainError as error:
            self.console.print(f"[bold red]{error.code}[/]：{error.message}", markup=True)
            for field_error in error.errors:
                self.console.print(f"  {field_error.field}：{field_error.message}", markup=False)
            raise SystemExit(1) from error
        finally:
            audit_context.reset(token)

    def _actor(self, username: str | None):
        if not username:
            return None
        user = (
            get_user_model()
            .objects.select_related("unit")
            .filter(username=username, is_active=True)
            .first()
        )
        if user is None:
            raise CommandError(_("没有名为“%s”的有效账号") % username, returncode=BAD_ARGUMENTS)
        return user

    def _handle(self, actor, options: dict) -> None:
        if options.get("resume"):
            run = BatchRun.objects.filter(pk=options["resume"]).first()
            if run is None or (actor is not None and not _visible(actor, run.pk)):
                raise CommandError(
                    _("没有编号为 %s 的批次") % options["resume"], returncode=BAD_ARGUMENTS
                )
        else:
            if not options.get("cutoff"):
                raise CommandError(_("请用 --cutoff 指定截止日期"), returncode=BAD_ARGUMENTS)
            run = self.plan(actor, options)
            self.report(run)
            if options["dry_run"]:
                self.console.print(
                    _("试运行批次 %(id)s 已保存。确认执行：--resume %(id)s") % {"id": run.pk},
                    markup=False,
                )
                return
        if run.state == BatchState.DONE:
            self.summary(run)
            return
        if run.state == BatchState.PLANNED:
            batches.batch_run_confirm(actor=actor, run_id=run.pk)
        elif options.get("resume"):
            batches.batch_run_resume(actor=actor, run_id=run.pk)
        run = self.run_batch(run, options.get("chunk_rows"))
        self.summary(run)
        if run.state != BatchState.DONE:
            raise SystemExit(1)

    def run_batch(self, run: BatchRun, chunk_rows: int | None) -> BatchRun:
        with Progress(
            TextColumn(_("分段")),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[changed]}"),
            TimeElapsedColumn(),
            console=self.console,
        ) as bar:
            task = bar.add_task("chunks", total=None, changed="")

            def progress(current: BatchRun) -> None:
                bar.update(
                    task,
                    completed=current.chunks_done,
                    total=current.chunks_total or 1,
                    changed=_("已处理 %d 人") % current.changed_count,
                )

            try:
                return batches.batch_run_execute(
                    run_id=run.pk, progress=progress, chunk_rows=chunk_rows
                )
            except Exception:
                return BatchRun.objects.get(pk=run.pk)

    def report(self, run: BatchRun) -> None:
        report = run.report
        self.console.print(
            _("批次 %(id)s（%(kind)s）：%(scope)s，学年 %(year)s，截止日期 %(cutoff)s")
            % {
                "id": run.pk,
                "kind": run.get_kind_display(),
                "scope": run.scope_label,
                "year": run.school_year,
                "cutoff": run.cutoff.isoformat(),
            },
            markup=False,
        )
        totals = report.get("totals", {})
        table = Table(title=_("试运行报告"))
        table.add_column(_("项目"))
        table.add_column(_("人数"), justify="right")
        for key, value in totals.items():
            table.add_row(_label(key), f"{value:,}")
        self.console.print(table)
        if run.kind == BatchKind.PROMOTE and report.get("by_grade"):
            grades = Table(title=_("按年级"))
            for heading in (_("原年级"), _("升入"), _("人数")):
                grades.add_column(heading)
            for row in report["by_grade"]:
                grades.add_row(_grade(row["grade"]), _grade(row["to"]), f"{row['count']:,}")
            self.console.print(grades)
        for conflict in report.get("conflicts", [])[:20]:
            self.console.print(
                _("冲突：%(number)s %(name)s（%(school)s，%(grade)s）%(message)s")
                % {
                    "number": conflict["number"],
                    "name": conflict["name"],
                    "school": conflict["school_name"],
                    "grade": _grade(conflict["grade"]),
                    "message": conflict["message"],
                },
                markup=False,
            )

    def summary(self, run: BatchRun) -> None:
        style = "green" if run.state == BatchState.DONE else "red"
        self.console.print(f"[bold {style}]{run.get_state_display()}[/]")
        if run.message:
            self.console.print(run.message, markup=False)
        for key, count in sorted(run.counts.get("by_key", {}).items()):
            label = _grade(key) if run.kind == BatchKind.PROMOTE else key
            self.console.print(f"  {label}: {count:,}", markup=False)


def _label(key: str) -> str:
    labels: dict[str, Callable[[], str]] = {
        "promote": lambda: _("将升级"),
        "graduating": lambda: _("毕业年级（不升级）"),
        "skipped": lambda: _("非在校状态（不处理）"),
        "conflicts": lambda: _("冲突（不升级）"),
        "already": lambda: _("本学年已升级"),
        "graduate": lambda: _("毕业"),
        "complete": lambda: _("结业"),
        "leave": lambda: _("肄业"),
    }
    return labels[key]() if key in labels else key


def _visible(actor, run_id: int) -> bool:
    try:
        batches.access_batch_run(actor, run_id=run_id)
    except DomainError:
        return False
    return True


def operator_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""
