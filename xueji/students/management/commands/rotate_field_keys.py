"""Re-encrypt the encrypted fields under the current key version, resumably.

    python manage.py rotate_field_keys [--dry-run] [--batch-size N] [--limit N] [--reindex]

Covers students' and guardians' ID numbers, the student numbers (``Student.number`` and
every issued ``StudentNumber.number``), the guardians' phones, the students' non-basic
information (addresses, phones, disability, orphan, left-behind…), the cells kept with
import errors and the accounts' TOTP secrets. Rows are read
in primary-key order, a batch at a time; each batch is locked, rewritten and committed on
its own, so the command can be stopped at any moment and run again: it only touches values
whose key version differs from ``XUEJI_FIELD_KEY_CURRENT``. ID numbers still in plain text
(written before encryption) are encrypted on the way; a TOTP secret in plain text is only
counted (the two-factor module owns that column).

To rotate: add the new key to ``XUEJI_FIELD_KEYS`` next to the old one, make it current,
restart the application, run this command, and remove the old key only once it reports
nothing left under it.

``--reindex`` also recomputes the blind indexes (``id_key`` of every ID number,
``number_key`` of every student number) from the decrypted values, for after a change of
``XUEJI_BLIND_INDEX_KEY``. It reads every row (an
index cannot be told apart from an outdated one without recomputing it; about a
microsecond each) and writes only the rows whose index changed. Until it has finished,
exact search and the duplicate check miss the rows not yet re-indexed: run it with
registration and imports stopped.

Exit status: 0 when done, 1 when some values could not be decrypted (a key version that is
no longer configured, or a damaged value); they are listed and left as they are.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, cast

from django.apps import apps
from django.core.management.base import BaseCommand, CommandParser
from django.db import models, transaction
from django.db.models.functions import Cast
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from xueji import fieldcrypto
from xueji.audit import context as audit_context
from xueji.audit.events import AuditAction, ObjectType
from xueji.audit.services import audit_record
from xueji.students import identity


@dataclass(frozen=True)
class EncryptedColumn:
    label: str
    model: str  # app_label.ModelName
    field: str
    context: str  # the associated data the values are sealed with
    encrypt_plaintext: bool  # plain values left from before encryption get encrypted

    def model_class(self) -> type[models.Model]:
        return apps.get_model(self.model)


# Labels stay Chinese in the audit trail and are translated on screen.
COLUMNS = (
    EncryptedColumn(
        gettext_noop("学生身份证件号"),
        "students.Student",
        "id_number",
        identity.STUDENT_ID_CONTEXT,
        True,
    ),
    EncryptedColumn(
        gettext_noop("监护人身份证件号"),
        "students.Guardian",
        "id_number",
        identity.GUARDIAN_ID_CONTEXT,
        True,
    ),
    EncryptedColumn(
        gettext_noop("学籍号"),
        "students.Student",
        "number",
        identity.STUDENT_NUMBER_CONTEXT,
        True,
    ),
    EncryptedColumn(
        gettext_noop("学籍号发放记录"),
        "students.StudentNumber",
        "number",
        identity.STUDENT_NUMBER_CONTEXT,
        True,
    ),
    EncryptedColumn(
        gettext_noop("监护人联系电话"),
        "students.Guardian",
        "phone",
        identity.GUARDIAN_PHONE_CONTEXT,
        True,
    ),
    EncryptedColumn(
        gettext_noop("非基础信息（住址、电话、残疾、孤儿、留守等）"),
        "students.NonBasicInfo",
        "data",
        identity.NON_BASIC_CONTEXT,
        True,
    ),
    EncryptedColumn(
        gettext_noop("导入错误中的原始值"),
        "exchange.ImportRowError",
        "value",
        "exchange.import_error_value",
        True,
    ),
    # The context string of xueji.accounts.twofactor (SECRET_CONTEXT).
    EncryptedColumn(
        gettext_noop("TOTP 密钥"), "accounts.TotpDevice", "secret", "accounts.totp_secret", False
    ),
)


@dataclass(frozen=True)
class IndexedColumn:
    model: str
    label: str
    source: str  # the encrypted column the index is computed from
    key: str  # the blind-index column

    def compute(self, row) -> str | None:
        if self.source == "id_number":
            return identity.index_of(row)
        number = identity.read_number(row)
        return identity.number_key(number) if number else None


INDEXED = (
    IndexedColumn(
        "students.Student", gettext_noop("学生身份证件号的盲索引"), "id_number", "id_key"
    ),
    IndexedColumn(
        "students.Guardian", gettext_noop("监护人身份证件号的盲索引"), "id_number", "id_key"
    ),
    IndexedColumn("students.Student", gettext_noop("学籍号的盲索引"), "number", "number_key"),
    IndexedColumn(
        "students.StudentNumber", gettext_noop("学籍号发放记录的盲索引"), "number", "number_key"
    ),
)


@dataclass
class Tally:
    label: str
    pending: int = 0  # rows to touch (counted before the run)
    done: int = 0
    plaintext_left: int = 0
    failed: list[str] = field(default_factory=list)  # "pk: reason"


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
        "把加密字段（学生和监护人身份证件号、学籍号、监护人联系电话、非基础信息、"
        "导入错误原始值、TOTP 密钥）重新加密到当前密钥版本；"
        "分批提交，可中断后重新运行。--reindex 同时重算身份证件号和学籍号的盲索引。"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help=_("只统计需要处理的记录数，不写入")
        )
        parser.add_argument(
            "--batch-size", type=int, default=1000, help=_("每批处理（并提交）的记录数")
        )
        parser.add_argument(
            "--limit", type=int, default=0, help=_("最多处理这么多条记录后停止（0：不限）")
        )
        parser.add_argument(
            "--reindex",
            action="store_true",
            help=_(
                "用当前盲索引密钥重算身份证件号和学籍号的索引（更换 XUEJI_BLIND_INDEX_KEY 之后）"
            ),
        )

    def handle(self, *args, **options) -> None:
        stream = _Stream(self.stdout)
        console = Console(
            file=cast(IO[str], stream), width=None if stream.isatty() else 120, highlight=False
        )
        fieldcrypto.reset_cache()
        identity.reset_index_key()
        current = fieldcrypto.current_version()
        batch = max(1, options["batch_size"])
        budget = _Budget(options["limit"])
        dry_run = options["dry_run"]
        console.print(
            _("当前密钥版本 v%(current)s；已配置版本：%(all)s")
            % {
                "current": current,
                "all": ", ".join(f"v{v}" for v in fieldcrypto.versions()),
            },
            markup=False,
        )
        token = audit_context.bind(
            audit_context.RequestContext(channel="cli", request_id=audit_context.new_request_id())
        )
        tallies: list[Tally] = []
        try:
            with _progress(console) as progress:
                for column in COLUMNS:
                    tally = Tally(column.label)
                    tallies.append(tally)
                    rows = _pending(column, current)
                    tally.pending = rows.count()
                    if dry_run:
                        continue
                    task = progress.add_task(_(column.label), total=tally.pending)
                    for done in _rotate(column, current, rows, batch, budget, tally):
                        progress.advance(task, done)
                    if tally.done or tally.failed:
                        _audit(column.label, AuditAction.FIELD_KEYS_ROTATE, current, tally)
                if options["reindex"]:
                    for indexed in INDEXED:
                        tally = Tally(indexed.label)
                        tallies.append(tally)
                        count = _stored(indexed.model, indexed.source).count()
                        task = progress.add_task(_(indexed.label), total=count)
                        for seen in _reindex(indexed, batch, budget, tally, dry_run=dry_run):
                            progress.advance(task, seen)
                        if not dry_run and (tally.done or tally.failed):
                            _audit(tally.label, AuditAction.FIELD_KEYS_REINDEX, current, tally)
        finally:
            audit_context.reset(token)
        self._summary(console, tallies, dry_run=dry_run, stopped=budget.exhausted)
        if any(t.failed for t in tallies):
            raise SystemExit(1)

    def _summary(self, console: Console, tallies: list[Tally], *, dry_run: bool, stopped: bool):
        table = Table(title=_("需要处理的记录（未写入）") if dry_run else _("处理结果"))
        table.add_column(_("字段"))
        table.add_column(_("待处理"), justify="right")
        table.add_column(_("已处理"), justify="right")
        table.add_column(_("明文（未处理）"), justify="right")
        table.add_column(_("无法解密"), justify="right")
        for tally in tallies:
            table.add_row(
                _(tally.label),
                str(tally.pending),
                str(tally.done),
                str(tally.plaintext_left),
                str(len(tally.failed)),
            )
        console.print(table)
        for tally in tallies:
            for failure in tally.failed[:20]:
                console.print(f"{_(tally.label)} {failure}", markup=False)
        if stopped:
            console.print(_("已达到 --limit 上限而停止；再次运行即可继续。"), markup=False)


class _Budget:
    """What ``--limit`` leaves to process (an interrupted run, on purpose)."""

    def __init__(self, limit: int) -> None:
        self.left = limit if limit > 0 else None
        self.exhausted = False

    def allowance(self, wanted: int) -> int:
        return wanted if self.left is None else min(wanted, self.left)

    def spend(self, used: int) -> None:
        if self.left is not None:
            self.left -= used
            self.exhausted = self.left <= 0


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def _stored(model: str, field: str) -> models.QuerySet:
    """The rows with a value in ``field``, annotated with ``stored``: the value as the
    database holds it. A student-number field decrypts what it reads and allows no lookup,
    so the command reads and filters through a cast of the column instead."""
    return (
        apps.get_model(model)
        ._default_manager.annotate(stored=Cast(field, output_field=models.TextField()))
        .exclude(stored="")
    )


def _pending(column: EncryptedColumn, current: str) -> models.QuerySet:
    """Rows whose value is not under the current version ('' has nothing to encrypt).

    A plain number never starts with ``v<digits>$`` (``$`` is in no normalised number), so
    the prefix test is right even where LIKE ignores case (SQLite).
    """
    return _stored(column.model, column.field).exclude(
        stored__startswith=f"v{current}{fieldcrypto.PREFIX_SEPARATOR}"
    )


def _rotate(
    column: EncryptedColumn,
    current: str,
    rows: models.QuerySet,
    batch: int,
    budget: "_Budget",
    tally: Tally,
) -> Iterator[int]:
    """Rewrite the pending rows batch by batch; yields how many each batch looked at."""
    model = column.model_class()
    last = 0
    while True:
        size = budget.allowance(batch)
        if size == 0:
            return
        with transaction.atomic():
            # Locked until the batch commits: a clerk's edit cannot slip in between the
            # read and the write and be overwritten with the old number.
            chunk = list(
                rows.filter(pk__gt=last)
                .order_by("pk")
                .select_for_update()
                .values_list("pk", "stored")[:size]
            )
            if not chunk:
                return
            last = chunk[-1][0]
            changed = []
            for pk, stored in chunk:
                value = _reencrypted(column, current, stored, pk, tally)
                if value is not None:
                    changed.append(model(pk=pk, **{column.field: value}))
            model._default_manager.bulk_update(changed, [column.field])
            tally.done += len(changed)
        budget.spend(len(chunk))
        yield len(chunk)


def _reencrypted(
    column: EncryptedColumn, current: str, stored: str, pk, tally: Tally
) -> str | None:
    """The value sealed under the current version, or ``None`` to leave the row as it is."""
    if not fieldcrypto.is_encrypted(stored):
        if not column.encrypt_plaintext:
            tally.plaintext_left += 1
            return None
        return fieldcrypto.encrypt(stored, context=column.context, version=current)
    try:
        plain = fieldcrypto.decrypt(stored, context=column.context)
    except Exception as error:
        tally.failed.append(f"#{pk}: {type(error).__name__} {error}".strip())
        return None
    return fieldcrypto.encrypt(plain, context=column.context, version=current)


def _reindex(
    indexed: IndexedColumn, batch: int, budget: "_Budget", tally: Tally, *, dry_run: bool
) -> Iterator[int]:
    """Recompute a blind index from the decrypted values; write only the ones that changed."""
    model = apps.get_model(indexed.model)
    loaded = ["pk", indexed.source, indexed.key] + (
        ["id_type"] if indexed.source == "id_number" else []
    )
    last = 0
    while True:
        size = batch if dry_run else budget.allowance(batch)
        if size == 0:
            return
        with transaction.atomic():
            query = _stored(indexed.model, indexed.source).filter(pk__gt=last).order_by("pk")
            if not dry_run:
                query = query.select_for_update()
            chunk = list(query.only(*loaded)[:size])
            if not chunk:
                return
            last = chunk[-1].pk
            changed = []
            for row in chunk:
                try:
                    key = indexed.compute(row)
                except Exception as error:
                    tally.failed.append(f"#{row.pk}: {type(error).__name__} {error}".strip())
                    continue
                if key != getattr(row, indexed.key):
                    setattr(row, indexed.key, key)
                    changed.append(row)
            tally.pending += len(changed)
            if not dry_run:
                model._default_manager.bulk_update(changed, [indexed.key])
                tally.done += len(changed)
                budget.spend(len(chunk))
        yield len(chunk)


def _audit(label: str, action: AuditAction, current: str, tally: Tally) -> None:
    """One audit event per column and run: what was rewritten (never a value)."""
    with transaction.atomic():
        audit_record(
            actor=None,
            action=action,
            object_type=ObjectType.FIELD_KEYS,
            object_id=current,
            summary=f"{label}：处理 {tally.done} 条，当前密钥版本 v{current}",
            detail={
                "column": label,
                "done": tally.done,
                "pending": tally.pending,
                "plaintext_left": tally.plaintext_left,
                "failed": len(tally.failed),
            },
        )
