"""Walking the audit chains (``python manage.py audit_verify``, the daily task).

For each partition, from its start (the genesis, or where the last retention purge cut it)
to its head, every link must have the next sequence number, point at the previous link's
hash, hash to its own ``row_hash`` and have a larger id than the previous link. The last
link must be the head, and every signed checkpoint's head must still be in the chain. The
first link that fails is named: edited (its hash no longer matches), deleted (a gap, or a
chain shorter than its head or a checkpoint), inserted (a link the chain does not expect)
or reordered (ids out of chain order). None of this relies on the database triggers.
"""

from dataclasses import dataclass, field

from django.conf import settings
from django.utils.translation import gettext as _

from .chain import CONTENT_FIELDS, GENESIS, link_hash
from .signing import heads_of, public_key_text, signature_valid


@dataclass(frozen=True)
class Problem:
    partition: int
    seq: int | None
    row_id: int | None
    reason: str

    def __str__(self) -> str:
        where = f"partition {self.partition}"
        if self.row_id is not None:
            where += f", row id {self.row_id}"
        if self.seq is not None:
            where += f", seq {self.seq}"
        return f"{where}: {self.reason}"


@dataclass
class Report:
    rows: int = 0
    partitions: int = 0
    checkpoints: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems


def _trusted_keys() -> set[str]:
    return {public_key_text(), *getattr(settings, "XUEJI_AUDIT_PREVIOUS_PUBLIC_KEYS", [])}


def verify(*, chunk_size: int = 20_000) -> Report:
    from .models import AuditChainHead, AuditCheckpoint, AuditEvent, AuditPurge

    report = Report()
    anchors: dict[int, tuple[int, str]] = {}
    for purge in AuditPurge.objects.order_by("partition", "through_seq", "pk"):
        anchors[purge.partition] = (purge.through_seq, purge.through_hash)
    heads = {h.partition: (h.seq, h.head_hash) for h in AuditChainHead.objects.all()}

    # Signed heads the chains must still contain: {(partition, seq): (hash, checkpoint id)}.
    signed: dict[tuple[int, int], tuple[str, int]] = {}
    trusted = _trusted_keys()
    for checkpoint in AuditCheckpoint.objects.order_by("pk"):
        report.checkpoints += 1
        if checkpoint.public_key not in trusted or not signature_valid(
            checkpoint.payload, checkpoint.signature, checkpoint.public_key
        ):
            report.problems.append(
                Problem(-1, None, None, _("检查点 #%(id)s 的签名无效") % {"id": checkpoint.pk})
            )
            continue
        for partition, (seq, digest) in heads_of(checkpoint.payload).items():
            if seq > anchors.get(partition, (0, GENESIS))[0]:
                signed[(partition, seq)] = (digest, checkpoint.pk)

    broken: set[int] = set()
    ends: dict[int, tuple[int, str, int | None]] = {}  # partition -> (seq, hash, last id)
    current: int | None = None
    expected_seq, expected_prev, last_id = 0, GENESIS, 0
    rows = (
        AuditEvent.objects.order_by("partition", "seq", "pk")
        .values_list("pk", "row_hash", *CONTENT_FIELDS)
        .iterator(chunk_size=chunk_size)
    )

    def fail(partition: int, seq: int | None, row_id: int | None, reason: str) -> None:
        broken.add(partition)
        report.problems.append(Problem(partition, seq, row_id, reason))

    for row in rows:
        report.rows += 1
        row_id, row_hash, values = row[0], row[1], row[2:]
        partition, seq, prev_hash = values[0], values[1], values[-1]
        if partition != current:
            current = partition
            report.partitions += 1
            start_seq, start_hash = anchors.get(partition, (0, GENESIS))
            expected_seq, expected_prev, last_id = start_seq + 1, start_hash, 0
        if partition in broken:
            continue
        if seq is None or seq < expected_seq:
            if seq is not None and seq <= anchors.get(partition, (0, GENESIS))[0]:
                continue  # a link a purge covered but left (harmless)
            fail(partition, seq, row_id, _("多出的行（链中已有此序号，或没有序号）：行被插入"))
            continue
        if seq > expected_seq:
            fail(
                partition,
                seq,
                row_id,
                _("此行之前缺少序号 %(first)s 至 %(last)s 的行：行被删除")
                % {"first": expected_seq, "last": seq - 1},
            )
            continue
        if prev_hash != expected_prev:
            fail(partition, seq, row_id, _("前一行哈希不符：此行之前的行被删除、插入或替换"))
            continue
        if link_hash(values) != row_hash:
            fail(partition, seq, row_id, _("内容与哈希不符：此行被修改"))
            continue
        if row_id <= last_id:
            fail(partition, seq, row_id, _("行号顺序与链顺序不符：行被调换"))
            continue
        signed_here = signed.pop((partition, seq), None)
        if signed_here is not None and signed_here[0] != row_hash:
            fail(
                partition,
                seq,
                row_id,
                _("与检查点 #%(id)s 签名的链头不符") % {"id": signed_here[1]},
            )
            continue
        expected_seq, expected_prev, last_id = seq + 1, row_hash, row_id
        ends[partition] = (seq, row_hash, row_id)

    for partition in sorted(set(heads) | set(ends) | set(anchors)):
        if partition in broken:
            continue
        start_seq, start_hash = anchors.get(partition, (0, GENESIS))
        end_seq, end_hash, end_id = ends.get(partition, (start_seq, start_hash, None))
        head_seq, head_hash = heads.get(partition, (None, None))
        if head_seq is None and partition not in ends:
            continue  # a purge record of a partition that never had a link
        if head_seq is None:
            fail(partition, end_seq, end_id, _("分区没有链头：行被插入"))
        elif head_seq > end_seq:
            fail(
                partition,
                head_seq,
                None,
                _("链在序号 %(end)s 处结束，链头为 %(head)s：末尾的行被删除")
                % {"end": end_seq, "head": head_seq},
            )
        elif head_seq < end_seq or head_hash != end_hash:
            fail(partition, end_seq, end_id, _("链头与最后一行不符：行被插入或链头被改"))
    for (partition, seq), (_digest, checkpoint_id) in sorted(signed.items()):
        if partition in broken:
            continue
        fail(
            partition,
            seq,
            None,
            _("检查点 #%(id)s 签名的序号 %(seq)s 不在链中：行被删除")
            % {"id": checkpoint_id, "seq": seq},
        )
    report.problems.sort(key=lambda p: (p.row_id is None, p.row_id or 0, p.partition))
    return report
