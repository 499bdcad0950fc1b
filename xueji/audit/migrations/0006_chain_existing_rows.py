"""Chain the rows written before the hash chain existed, oldest first (by id), into their
partitions, and set each partition's head. Must run before 0007 installs the refusal of
UPDATE. Reversing leaves the hashes (0005's reversal drops the columns)."""

from django.db import migrations

from xueji.audit.chain import CONTENT_FIELDS, GENESIS, link_hash, partition_for

BATCH = 5000


def chain_existing(apps, schema_editor) -> None:
    AuditEvent = apps.get_model("audit", "AuditEvent")
    AuditChainHead = apps.get_model("audit", "AuditChainHead")
    heads: dict[int, tuple[int, str]] = {
        h.partition: (h.seq, h.head_hash) for h in AuditChainHead.objects.all()
    }
    pending = []
    last_pk = 0
    while True:
        batch = list(AuditEvent.objects.filter(pk__gt=last_pk, seq__isnull=True).order_by("pk")[:BATCH])
        if not batch:
            break
        for event in batch:
            event.partition = partition_for(event.actor_id)
            seq, prev = heads.get(event.partition, (0, GENESIS))
            event.seq = seq + 1
            event.prev_hash = prev
            event.row_hash = link_hash([getattr(event, name) for name in CONTENT_FIELDS])
            heads[event.partition] = (event.seq, event.row_hash)
            pending.append(event)
        AuditEvent.objects.bulk_update(pending, ["partition", "seq", "prev_hash", "row_hash"])
        pending = []
        last_pk = batch[-1].pk
    for partition, (seq, head_hash) in heads.items():
        AuditChainHead.objects.update_or_create(
            partition=partition, defaults={"seq": seq, "head_hash": head_hash}
        )


class Migration(migrations.Migration):
    dependencies = [("audit", "0005_chain")]

    operations = [migrations.RunPython(chain_existing, migrations.RunPython.noop, elidable=False)]
