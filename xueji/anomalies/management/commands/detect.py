"""python manage.py detect [KIND ...] [--all] [--progress]: run anomaly detectors by hand.

Each named kind (duplicate, empty_record, separation, step_overdue, death_overdue,
age_grade, temporary_number, closed_school) runs over the whole registry and its open
findings are brought up to date; ``linkage`` runs the Splink duplicate linkage and ingests
its pairs. ``--all`` runs every kind and then the linkage (``--no-linkage`` skips it).
Idempotent: the nightly task does the same (docs/anomalies.md).
"""

from datetime import date

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from xueji.anomalies.detectors import DETECTORS
from xueji.anomalies.rules import FindingKind
from xueji.anomalies.services import RunCounts, detect_all, linkage_available, linkage_run
from xueji.audit import context

LINKAGE = "linkage"


def iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CommandError(_("日期须写作 YYYY-MM-DD：%s") % text) from None


class Command(BaseCommand):
    help = _("运行学籍异常检测（可指定类别，或 --all 全部运行），并更新待处理的异常")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "kinds",
            nargs="*",
            metavar="KIND",
            help=_("异常类别：%s，或 linkage（概率匹配）") % ", ".join(DETECTORS),
        )
        parser.add_argument("--all", action="store_true", help=_("运行全部检测和概率匹配"))
        parser.add_argument("--no-linkage", action="store_true", help=_("--all 时跳过概率匹配"))
        parser.add_argument("--progress", action="store_true", help=_("显示每一步的进度"))
        parser.add_argument("--today", help=_("按此日期（YYYY-MM-DD）判断，默认今天"))
        parser.add_argument("--backend", choices=("duckdb", "spark"), help=_("概率匹配的计算引擎"))
        parser.add_argument("--threshold", type=float, help=_("概率匹配的阈值（0–1）"))
        parser.add_argument("--limit", type=int, help=_("概率匹配只读前 N 名学生（试运行）"))

    def handle(self, *args, **options) -> None:
        wanted = list(dict.fromkeys(options["kinds"]))
        unknown = [k for k in wanted if k not in DETECTORS and k != LINKAGE]
        if unknown:
            raise CommandError(_("未知的异常类别：%s") % ", ".join(unknown))
        if options["all"]:
            wanted = [*DETECTORS, *([] if options["no_linkage"] else [LINKAGE])]
        if not wanted:
            raise CommandError(_("请指定异常类别，或使用 --all"))
        threshold = options["threshold"]
        if threshold is not None and not 0 < threshold < 1:
            raise CommandError(_("阈值须在 0 与 1 之间"))
        today = iso_date(options["today"]) if options["today"] else None
        progress = self._say if options["progress"] else None
        token = context.bind(
            context.RequestContext(channel="cli", request_id=context.new_request_id())
        )
        try:
            kinds = [k for k in wanted if k != LINKAGE]
            for counts in detect_all(kinds=kinds, today=today, progress=progress) if kinds else []:
                self._report(counts)
            if LINKAGE in wanted:
                if not linkage_available():
                    self.stdout.write(_("概率匹配未安装（splink），已跳过"))
                    return
                linked = linkage_run(
                    backend=options["backend"],
                    threshold_probability=threshold,
                    limit=options["limit"],
                    progress=progress or (lambda message: None),
                )
                if linked is not None:
                    self._report(linked, label=_("重复学籍（概率匹配）"))
        finally:
            context.reset(token)

    def _say(self, message: str) -> None:
        self.stdout.write(f"… {message}")

    def _report(self, counts: RunCounts, label: str | None = None) -> None:
        self.stdout.write(
            _(
                "%(kind)s：发现 %(found)d，新增 %(created)d，更新 %(updated)d，"
                "不变 %(kept)d，已消除 %(resolved)d，不再提示 %(suppressed)d（%(seconds).1f 秒）"
            )
            % {
                "kind": label or FindingKind(counts.kind).label,
                "found": counts.found,
                "created": counts.created,
                "updated": counts.updated,
                "kept": counts.kept,
                "resolved": counts.resolved,
                "suppressed": counts.suppressed,
                "seconds": counts.seconds,
            }
        )
