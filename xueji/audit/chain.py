"""The audit trail's hash chain: every row is a link, tamper-evident.

A row's ``row_hash`` is SHA-256 over its canonical content (``canonical``), which includes
its partition, its sequence number and the previous link's hash (``prev_hash``). Editing,
deleting, inserting or reordering a row therefore breaks the chain at that row, and
``xueji.audit.verify`` (``python manage.py audit_verify``) names it.

Concurrency: the trail is split into ``XUEJI["AUDIT_CHAIN_PARTITIONS"]`` chains (partition =
actor id modulo that number; no actor: 0). A writer locks the partition's head row
(``AuditChainHead``, ``SELECT ... FOR UPDATE``) inside its transaction, appends its links
and moves the head; a second writer of the same partition waits until the first commits or
rolls back, so links are never forked nor lost. SQLite serialises writers anyway
(``transaction_mode: IMMEDIATE``). The unique constraint on (partition, seq) is the last
guard. Every insert path goes through ``inserting``: ``AuditEvent.save`` and
``AuditEvent.objects.bulk_create`` call it, so ``audit_record`` and ``audit_record_many``
(and any bulk read audit) are covered.
"""

import hashlib
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import connections, transaction

from xueji import clock

# The previous hash of a partition's first link.
GENESIS = "0" * 64
# Bumped if the canonical form ever changes (old rows keep verifying under their version).
CANONICAL_VERSION = "xueji-audit-1"

# The fields of a link in canonical order (``values_list`` order in ``verify``).
CONTENT_FIELDS: tuple[str, ...] = (
    "partition",
    "seq",
    "at",
    "actor_id",
    "actor_username",
    "unit_id",
    "action",
    "object_type",
    "object_id",
    "summary",
    "detail",
    "ip",
    "user_agent",
    "channel",
    "request_id",
    "prev_hash",
)
_AT = CONTENT_FIELDS.index("at")
_DETAIL = CONTENT_FIELDS.index("detail")
_TRUNCATED: tuple[str, ...] = (
    "actor_username",
    "action",
    "object_type",
    "object_id",
    "summary",
    "user_agent",
    "channel",
    "request_id",
)


def partitions() -> int:
    return max(1, int(settings.XUEJI.get("AUDIT_CHAIN_PARTITIONS", 16)))


def partition_for(actor_id: int | None) -> int:
    return (actor_id or 0) % partitions()


def _at_text(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def canonical(values: Sequence[Any]) -> bytes:
    """The bytes hashed for one link: its content fields (``CONTENT_FIELDS`` order) as
    compact JSON with sorted keys, ``at`` in UTC to the microsecond."""
    items = list(values)
    items[_AT] = _at_text(items[_AT])
    return json.dumps(
        [CANONICAL_VERSION, *items], ensure_ascii=False, separators=(",", ":"), sort_keys=True
    ).encode()


def link_hash(values: Sequence[Any]) -> str:
    return hashlib.sha256(canonical(values)).hexdigest()


def _normalise(event) -> None:
    """Make the object hold exactly what the database will give back, so the hash computed
    now is the hash recomputed from the stored row."""
    if event.at is None:
        event.at = clock.now()
    event.detail = json.loads(json.dumps(event.detail if event.detail is not None else {}))
    ip_field = type(event)._meta.get_field("ip")
    event.ip = ip_field.get_prep_value(event.ip) or None
    event.object_id = str(event.object_id if event.object_id is not None else "")
    for name in _TRUNCATED:
        limit = type(event)._meta.get_field(name).max_length
        value = getattr(event, name) or ""
        setattr(event, name, str(value)[:limit])


def values_of(event) -> list[Any]:
    return [getattr(event, name) for name in CONTENT_FIELDS]


def _lock_heads(using: str, wanted: set[int]) -> dict[int, Any]:
    from .models import AuditChainHead

    def locked() -> dict[int, Any]:
        return {
            head.partition: head
            for head in AuditChainHead.objects.using(using)
            .select_for_update()
            .filter(partition__in=sorted(wanted))
            .order_by("partition")
        }

    heads = locked()
    if len(heads) < len(wanted):
        # First link of a partition: create its head (a concurrent creator is ignored).
        AuditChainHead.objects.using(using).bulk_create(
            [AuditChainHead(partition=p, seq=0, head_hash=GENESIS) for p in wanted - set(heads)],
            ignore_conflicts=True,
        )
        heads = locked()
    return heads


@contextmanager
def inserting(using: str, events: list) -> Iterator[None]:
    """Chain ``events`` (new, unsaved rows) onto their partitions, then let the caller
    insert them; the heads move in the same transaction."""
    if not events:
        yield
        return
    if not connections[using].in_atomic_block:
        with transaction.atomic(using=using), inserting(using, events):
            yield
        return
    for event in events:
        event.partition = partition_for(event.actor_id)
    heads = _lock_heads(using, {event.partition for event in events})
    for event in events:
        _normalise(event)
        head = heads[event.partition]
        event.seq = head.seq + 1
        event.prev_hash = head.head_hash or GENESIS
        event.row_hash = link_hash(values_of(event))
        head.seq, head.head_hash = event.seq, event.row_hash
    yield
    for head in heads.values():
        type(head).objects.using(using).filter(partition=head.partition).update(
            seq=head.seq, head_hash=head.head_hash
        )


_INSERT_FIELDS: tuple[str, ...] = (*CONTENT_FIELDS, "row_hash")


def append_raw(using: str, events: list) -> int:
    """Chain and insert unsaved ``AuditEvent`` objects with one ``executemany`` (set-based
    writers such as the import's merge, where the ORM's per-object cost would show), in the
    caller's transaction. Same chain, same guarantees as ``bulk_create``."""
    if not events:
        return 0
    connection = connections[using]
    model = type(events[0])
    pg = connection.vendor == "postgresql"
    marks = []
    for name in _INSERT_FIELDS:
        if pg and name == "detail":
            marks.append("CAST(%s AS jsonb)")
        elif pg and name == "ip":
            marks.append("CAST(%s AS inet)")
        else:
            marks.append("%s")
    sql = (
        f"INSERT INTO {model._meta.db_table} ({', '.join(_INSERT_FIELDS)}) "
        f"VALUES ({', '.join(marks)})"
    )
    at_field = model._meta.get_field("at")
    with inserting(using, events), connection.cursor() as cursor:
        cursor.executemany(
            sql,
            [
                [
                    at_field.get_db_prep_value(e.at, connection)
                    if name == "at"
                    else json.dumps(e.detail)
                    if name == "detail"
                    else getattr(e, name)
                    for name in _INSERT_FIELDS
                ]
                for e in events
            ],
        )
    return len(events)


# ---------------------------------------------------------------- the database's refusal

# PostgreSQL: UPDATE and TRUNCATE of the trail, the checkpoints and the purge records are
# refused; DELETE of a trail row only when it is older than the legal floor (183 days, by
# the database's clock) AND a purge record covers its link. The chain heads may move but
# never be deleted. A superuser can drop these triggers: audit_verify still detects edits.
RETENTION_FLOOR_DAYS = 183

PG_CREATE = f"""
CREATE OR REPLACE FUNCTION xueji_audit_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'xueji: % on % refused: the audit trail is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE OR REPLACE FUNCTION xueji_audit_event_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.at < now() - interval '{RETENTION_FLOOR_DAYS} days' AND EXISTS (
        SELECT 1 FROM audit_auditpurge p
        WHERE p.partition = OLD.partition AND p.through_seq >= OLD.seq
    ) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'xueji: DELETE on audit_auditevent refused: the audit trail is append-only'
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER xueji_audit_event_update BEFORE UPDATE ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION xueji_audit_refuse();
CREATE TRIGGER xueji_audit_event_delete BEFORE DELETE ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION xueji_audit_event_delete();
CREATE TRIGGER xueji_audit_event_truncate BEFORE TRUNCATE ON audit_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION xueji_audit_refuse();
CREATE TRIGGER xueji_audit_head_delete BEFORE DELETE ON audit_auditchainhead
    FOR EACH ROW EXECUTE FUNCTION xueji_audit_refuse();
CREATE TRIGGER xueji_audit_head_truncate BEFORE TRUNCATE ON audit_auditchainhead
    FOR EACH STATEMENT EXECUTE FUNCTION xueji_audit_refuse();
CREATE TRIGGER xueji_audit_checkpoint_change BEFORE UPDATE OR DELETE ON audit_auditcheckpoint
    FOR EACH ROW EXECUTE FUNCTION xueji_audit_refuse();
CREATE TRIGGER xueji_audit_checkpoint_truncate BEFORE TRUNCATE ON audit_auditcheckpoint
    FOR EACH STATEMENT EXECUTE FUNCTION xueji_audit_refuse();
CREATE TRIGGER xueji_audit_purge_change BEFORE UPDATE OR DELETE ON audit_auditpurge
    FOR EACH ROW EXECUTE FUNCTION xueji_audit_refuse();
CREATE TRIGGER xueji_audit_purge_truncate BEFORE TRUNCATE ON audit_auditpurge
    FOR EACH STATEMENT EXECUTE FUNCTION xueji_audit_refuse();
"""

PG_TRIGGERS = (
    ("xueji_audit_event_update", "audit_auditevent"),
    ("xueji_audit_event_delete", "audit_auditevent"),
    ("xueji_audit_event_truncate", "audit_auditevent"),
    ("xueji_audit_head_delete", "audit_auditchainhead"),
    ("xueji_audit_head_truncate", "audit_auditchainhead"),
    ("xueji_audit_checkpoint_change", "audit_auditcheckpoint"),
    ("xueji_audit_checkpoint_truncate", "audit_auditcheckpoint"),
    ("xueji_audit_purge_change", "audit_auditpurge"),
    ("xueji_audit_purge_truncate", "audit_auditpurge"),
)
PG_DROP = "\n".join(f"DROP TRIGGER IF EXISTS {name} ON {table};" for name, table in PG_TRIGGERS)

_SQLITE_REFUSE = "SELECT RAISE(ABORT, 'xueji: the audit trail is append-only');"
SQLITE_TRIGGERS: tuple[tuple[str, str], ...] = (
    (
        "xueji_audit_event_update",
        f"CREATE TRIGGER xueji_audit_event_update BEFORE UPDATE ON audit_auditevent "
        f"BEGIN {_SQLITE_REFUSE} END",
    ),
    (
        "xueji_audit_event_delete",
        # Stored datetimes read 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC): text order is time order.
        f"CREATE TRIGGER xueji_audit_event_delete BEFORE DELETE ON audit_auditevent "
        f"WHEN NOT (OLD.at < strftime('%Y-%m-%d %H:%M:%f', 'now', '-{RETENTION_FLOOR_DAYS} days') "
        f"AND EXISTS (SELECT 1 FROM audit_auditpurge p WHERE p.partition = OLD.partition "
        f"AND p.through_seq >= OLD.seq)) BEGIN {_SQLITE_REFUSE} END",
    ),
    (
        "xueji_audit_head_delete",
        f"CREATE TRIGGER xueji_audit_head_delete BEFORE DELETE ON audit_auditchainhead "
        f"BEGIN {_SQLITE_REFUSE} END",
    ),
    (
        "xueji_audit_checkpoint_update",
        f"CREATE TRIGGER xueji_audit_checkpoint_update BEFORE UPDATE ON audit_auditcheckpoint "
        f"BEGIN {_SQLITE_REFUSE} END",
    ),
    (
        "xueji_audit_checkpoint_delete",
        f"CREATE TRIGGER xueji_audit_checkpoint_delete BEFORE DELETE ON audit_auditcheckpoint "
        f"BEGIN {_SQLITE_REFUSE} END",
    ),
    (
        "xueji_audit_purge_update",
        f"CREATE TRIGGER xueji_audit_purge_update BEFORE UPDATE ON audit_auditpurge "
        f"BEGIN {_SQLITE_REFUSE} END",
    ),
    (
        "xueji_audit_purge_delete",
        f"CREATE TRIGGER xueji_audit_purge_delete BEFORE DELETE ON audit_auditpurge "
        f"BEGIN {_SQLITE_REFUSE} END",
    ),
)


def _audit_tables_exist(connection) -> bool:
    with connection.cursor() as cursor:
        return "audit_auditevent" in connection.introspection.table_names(cursor)


def create_triggers(connection) -> None:
    """Install the refusal (migration 0007; ``flush`` re-installs it afterwards)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(PG_CREATE)
        elif connection.vendor == "sqlite":
            for _name, sql in SQLITE_TRIGGERS:
                cursor.execute(sql)


def drop_triggers(connection) -> None:
    """Lift the refusal: for the schema owner only (``flush``, tests that play the attacker).
    An application role that is not the tables' owner cannot do this (docs/security.md)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(PG_DROP)
        elif connection.vendor == "sqlite":
            for name, _sql in SQLITE_TRIGGERS:
                cursor.execute(f"DROP TRIGGER IF EXISTS {name}")


@contextmanager
def triggers_disabled(using: str = "default") -> Iterator[None]:
    """Drop the triggers for the block and put them back (tests, ``flush``)."""
    connection = connections[using]
    present = _audit_tables_exist(connection)
    if present:
        drop_triggers(connection)
    try:
        yield
    finally:
        if present:
            drop_triggers(connection)
            create_triggers(connection)
