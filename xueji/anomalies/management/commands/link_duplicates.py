"""Run the nightly duplicate linkage by hand: ``python manage.py link_duplicates``.

Reads the registry, links it on DuckDB or Spark, and prints the pairs and clusters found
(``--out`` writes the pairs as CSV); the findings themselves come from ``detect linkage``.

Models: ``--estimate-u PATH`` re-estimates the u probabilities from the registry;
``--labels CSV --estimate-m PATH`` estimates the m probabilities from pairs of student ids
known to be one person (a clerical sample of the review queue). Either saves a model
(starting from ``--model`` when given) for ``--model``.
"""

import csv
import json
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from xueji.anomalies import extract, linkage
from xueji.students.models import Student


class Command(BaseCommand):
    help = "Find duplicate student records over the whole registry (Splink)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--backend", choices=linkage.BACKENDS, help="default: the setting")
        parser.add_argument(
            "--threshold",
            type=float,
            help="default: the setting XUEJI['ANOMALY_LINKAGE_THRESHOLD'], as for the findings",
        )
        parser.add_argument("--limit", type=int, help="only the first N students (by id)")
        parser.add_argument("--out", type=Path, help="write the pairs to this CSV file")
        parser.add_argument("--model", type=Path, help="a model saved by --estimate-u")
        parser.add_argument(
            "--estimate-u",
            type=Path,
            metavar="PATH",
            help="re-estimate the u probabilities from the registry, save the model, stop",
        )
        parser.add_argument(
            "--estimate-m",
            type=Path,
            metavar="PATH",
            help="estimate the m probabilities from --labels, save the model, stop",
        )
        parser.add_argument(
            "--labels",
            type=Path,
            metavar="CSV",
            help="pairs of student ids of one person: two columns, a header row",
        )
        parser.add_argument("--show", type=int, default=50, help="pairs to print (default 50)")

    def handle(self, *args, **options) -> None:
        threshold = options["threshold"]
        if threshold is None:
            threshold = linkage.configured_threshold()
        if not 0 < threshold < 1:
            raise CommandError(_("阈值须在 0 与 1 之间"))
        if bool(options["estimate_m"]) != bool(options["labels"]):
            raise CommandError(_("--estimate-m 与 --labels 须同时给出"))
        labels = _read_labels(options["labels"]) if options["labels"] else []
        model: dict[str, Any] | None = None
        if options["model"]:
            model = json.loads(options["model"].read_text(encoding="utf-8"))
        started = time.perf_counter()
        table = extract.registry_table(limit=options["limit"], progress=self._read_progress)
        self.stdout.write(
            _("读取学籍 %(n)s 条（%(s).1f 秒）")
            % {"n": f"{table.num_rows:,}", "s": time.perf_counter() - started}
        )
        if table.num_rows < 2:
            self.stdout.write(_("记录不足两条，无需比对"))
            return
        if options["estimate_u"]:
            estimated = {**(model or {}), **linkage.estimate_u(table)}
            options["estimate_u"].write_text(json.dumps(estimated, indent=1), encoding="utf-8")
            self.stdout.write(_("模型已保存：%(path)s") % {"path": options["estimate_u"]})
            return
        if options["estimate_m"]:
            self._estimate_m(table, labels, model, options["estimate_m"])
            return
        result = linkage.run_linkage(
            table,
            backend=options["backend"],
            threshold=threshold,
            model=model,
            progress=lambda message: self.stdout.write(f"… {message}"),
        )
        self._print(result, show=options["show"])
        if options["out"]:
            self._write_csv(result, options["out"])
            self.stdout.write(_("已写出：%(path)s") % {"path": options["out"]})

    def _estimate_m(
        self, table: Any, labels: list[tuple[int, int]], model: Any, path: Path
    ) -> None:
        present = set(table.column("unique_id").to_pylist())
        usable = [(a, b) for a, b in labels if a in present and b in present]
        if len(usable) < len(labels):
            self.stdout.write(
                _("%(n)s 对中有学生不在比对范围内（已注销或不存在），不计入")
                % {"n": len(labels) - len(usable)}
            )
        if not usable:
            raise CommandError(_("没有可用的标注记录对"))
        estimated = linkage.estimate_m(table, usable, model=model)
        path.write_text(json.dumps(estimated, indent=1, ensure_ascii=False), encoding="utf-8")
        self.stdout.write(
            _("据 %(n)s 对标注估计 m 值，模型已保存：%(path)s") % {"n": len(usable), "path": path}
        )

    def _read_progress(self, done: int) -> None:
        if done % 200_000 < 50_000:
            self.stdout.write(_("… 已读取 %(n)s 条") % {"n": f"{done:,}"})

    def _print(self, result: linkage.LinkageResult, *, show: int) -> None:
        self.stdout.write(
            _(
                "%(backend)s：%(records)s 条记录，疑似重复 %(pairs)s 对、%(clusters)s 组"
                "（阈值 %(threshold)s，用时 %(seconds).1f 秒）"
            )
            % {
                "backend": result.backend,
                "records": f"{result.records:,}",
                "pairs": f"{len(result.pairs):,}",
                "clusters": f"{len(result.clusters):,}",
                "threshold": result.threshold,
                "seconds": result.seconds.get("total", 0.0),
            }
        )
        shown = result.pairs[:show]
        students = Student.objects.in_bulk(
            {pair.id_l for pair in shown} | {pair.id_r for pair in shown}
        )
        for pair in shown:
            left, right = students.get(pair.id_l), students.get(pair.id_r)
            reasons = "、".join(linkage.reason_text(code) for code in pair.reasons)
            self.stdout.write(
                f"{pair.probability:.4f}  {_describe(left, pair.id_l)} ↔ "
                f"{_describe(right, pair.id_r)}  {reasons}"
            )
        if len(result.pairs) > show:
            self.stdout.write(_("……另有 %(n)s 对未显示") % {"n": f"{len(result.pairs) - show:,}"})
        for cluster in result.clusters:
            if len(cluster) > 2:
                self.stdout.write(
                    _("同一人的 %(n)d 条记录：%(ids)s")
                    % {"n": len(cluster), "ids": ", ".join(str(i) for i in cluster)}
                )

    def _write_csv(self, result: linkage.LinkageResult, path: Path) -> None:
        cluster_of = {
            student_id: index
            for index, cluster in enumerate(result.clusters, 1)
            for student_id in cluster
        }
        with path.open("w", encoding="utf-8-sig", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(
                [
                    "student_id_l",
                    "student_id_r",
                    "probability",
                    "match_weight",
                    "cluster",
                    "reasons",
                ]
            )
            for pair in result.pairs:
                writer.writerow(
                    [
                        pair.id_l,
                        pair.id_r,
                        f"{pair.probability:.6f}",
                        f"{pair.match_weight:.3f}",
                        cluster_of.get(pair.id_l, ""),
                        " ".join(pair.reasons),
                    ]
                )


def _read_labels(path: Path) -> list[tuple[int, int]]:
    """Pairs of student ids from a CSV file: two columns, a header row; a bad row stops
    the command with its line number."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            rows = list(csv.reader(handle))
    except OSError as error:
        raise CommandError(
            _("无法读取 %(path)s：%(error)s") % {"path": path, "error": error}
        ) from error
    pairs: list[tuple[int, int]] = []
    for line, row in enumerate(rows[1:], start=2):
        if not row or not "".join(row).strip():
            continue
        try:
            left, right = (int(value) for value in row[:2])
        except ValueError:
            raise CommandError(
                _("%(path)s 第 %(line)s 行：须为两个学生编号（整数）")
                % {"path": path, "line": line}
            ) from None
        if left == right:
            raise CommandError(
                _("%(path)s 第 %(line)s 行：两个学生编号相同") % {"path": path, "line": line}
            )
        pairs.append((left, right))
    return pairs


def _describe(student: Student | None, student_id: int) -> str:
    if student is None:
        return str(student_id)
    return f"{student.name}（{student.number_masked}，{student.birth_date:%Y-%m-%d}）"
