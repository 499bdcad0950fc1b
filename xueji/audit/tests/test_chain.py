"""The tamper-evident trail: every row is a link of a hash chain, the database and the ORM
refuse edits, and ``audit_verify`` names the first bad row when a superuser edited, deleted,
inserted or reordered rows after dropping the triggers (finding 4 of issue 10)."""

import base64
import itertools
import json
import threading
from datetime import timedelta
from io import StringIO
from types import SimpleNamespace

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.core.management import call_command
from django.db import DatabaseError, connection, connections, transaction
from django.db.migrations.executor import MigrationExecutor

from xueji import clock
from xueji.accounts.services import SystemActor
from xueji.audit.chain import CONTENT_FIELDS, GENESIS, link_hash, partition_for, triggers_disabled
from xueji.audit.events import AuditAction, ObjectType
from xueji.audit.models import AuditChainHead, AuditCheckpoint, AuditEvent, AuditPurge
from xueji.audit.retention import PurgeRefused, audit_purge
from xueji.audit.services import audit_record, audit_record_many
from xueji.audit.signing import checkpoint_create
from xueji.audit.verify import verify

JOB = SystemActor(username="system:test")
TABLE = "audit_auditevent"


def write(actor, n: int, *, many: bool = False) -> None:
    with transaction.atomic():
        if many:
            audit_record_many(
                actor=actor,
                events=[
                    {
                        "action": AuditAction.STUDENT_CORRECT,
                        "object_type": ObjectType.STUDENT,
                        "object_id": i,
                        "summary": f"修改 {i}",
                        "detail": {"i": i, "z": [1, 2.5, "三"], "a": {"y": 1, "b": None}},
                    }
                    for i in range(n)
                ],
            )
        else:
            for i in range(n):
                audit_record(
                    actor=actor,
                    action=AuditAction.STUDENT_CORRECT,
                    object_type=ObjectType.STUDENT,
                    object_id=i,
                    summary=f"修改 {i}",
                    detail={"i": i},
                )


def sql(statement: str, params=()) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def verify_command() -> tuple[int, str, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command("audit_verify", stdout=out, stderr=err)
    except SystemExit as exit_:
        return int(exit_.code or 0), out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


@pytest.fixture
def trail(db, school_user, county_user, settings):
    """Rows in three partitions (two actors and a job), by single and bulk appends. Enough
    partitions that each actor's id is its own chain: with 16, a clerk whose id happened to
    be a multiple of 16 shared the job's chain, and the job's later row then named the
    deletion of the clerk's last one (a PostgreSQL flake, its ids grow between tests)."""
    settings.XUEJI = {**settings.XUEJI, "AUDIT_CHAIN_PARTITIONS": 1_000_003}
    assert len({partition_for(school_user.pk), partition_for(county_user.pk), 0}) == 3
    write(school_user, 3)
    write(county_user, 2)
    write(school_user, 4, many=True)
    write(JOB, 1)
    return list(AuditEvent.objects.order_by("partition", "seq"))


def test_every_append_path_links_rows_into_their_partition_s_chain(trail, school_user):
    mine = [e for e in trail if e.actor_id == school_user.pk]
    assert [e.seq for e in mine] == list(range(1, 8))
    assert mine[0].prev_hash == GENESIS
    for before, after in itertools.pairwise(mine):
        assert after.prev_hash == before.row_hash
    for event in trail:
        assert event.row_hash == link_hash([getattr(event, f) for f in CONTENT_FIELDS])
    head = AuditChainHead.objects.get(partition=mine[0].partition)
    assert (head.seq, head.head_hash) == (7, mine[-1].row_hash)
    report = verify()
    assert report.intact, report.problems
    assert report.rows == len(trail) and report.partitions >= 2
    code, out, _err = verify_command()
    assert code == 0 and "完好" in out


def test_the_orm_refuses_bulk_update_and_delete(trail):
    with pytest.raises(RuntimeError):
        AuditEvent.objects.filter(pk=trail[0].pk).update(summary="x")
    with pytest.raises(RuntimeError):
        AuditEvent.objects.all().delete()
    with pytest.raises(RuntimeError):
        trail[0].delete()
    with pytest.raises(RuntimeError):
        trail[0].summary = "x"
        trail[0].save()


@pytest.mark.parametrize(
    "statement",
    [
        f"UPDATE {TABLE} SET actor_username = 'someone-else', summary = 'x'",
        f"DELETE FROM {TABLE}",
        "UPDATE audit_auditcheckpoint SET signature = 'x'",
        "DELETE FROM audit_auditcheckpoint",
        "DELETE FROM audit_auditchainhead",
        "DELETE FROM audit_auditpurge",
    ],
)
def test_the_database_refuses_edits_of_the_trail(trail, statement):
    checkpoint_create()
    AuditPurge.objects.create(
        at=clock.now(), partition=15, through_seq=0, through_hash=GENESIS, cutoff=clock.now()
    )
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        sql(statement)
    assert AuditEvent.objects.count() == len(trail)
    assert verify().intact


def test_the_database_refuses_truncate_on_postgresql(trail):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has no TRUNCATE (DELETE is refused above)")
    for table in (TABLE, "audit_auditcheckpoint", "audit_auditpurge", "audit_auditchainhead"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            sql(f"TRUNCATE {table} CASCADE")
    assert AuditEvent.objects.count() == len(trail)


def _bad(expect_row_id: int | None, words: str) -> None:
    report = verify()
    assert not report.intact
    first = report.problems[0]
    assert first.row_id == expect_row_id, report.problems
    assert words in first.reason, first.reason
    code, _out, err = verify_command()
    assert code == 1
    if expect_row_id is not None:
        assert f"row id {expect_row_id}" in err.splitlines()[0]


def test_an_edited_row_is_named_after_the_triggers_were_dropped(trail):
    victim = trail[2]
    with triggers_disabled():
        sql(
            f"UPDATE {TABLE} SET actor_username = %s, summary = %s WHERE id = %s",
            ["nobody", "无事发生", victim.pk],
        )
    _bad(victim.pk, "被修改")


def test_an_edited_detail_is_noticed(trail):
    victim = trail[-2]
    with triggers_disabled():
        sql(f"UPDATE {TABLE} SET detail = %s WHERE id = %s", ['{"i": 99}', victim.pk])
    _bad(victim.pk, "被修改")


def test_a_deleted_row_is_named(trail):
    victim, following = trail[1], trail[2]
    assert (victim.partition, victim.seq + 1) == (following.partition, following.seq)
    with triggers_disabled():
        sql(f"DELETE FROM {TABLE} WHERE id = %s", [victim.pk])
    _bad(following.pk, "被删除")


def test_deleting_the_newest_rows_is_noticed_by_the_head(trail, school_user):
    mine = [e for e in trail if e.actor_id == school_user.pk]
    with triggers_disabled():
        sql(f"DELETE FROM {TABLE} WHERE id = %s", [mine[-1].pk])
    _bad(None, "末尾的行被删除")


def test_deleting_the_newest_rows_and_moving_the_head_back_is_caught_by_a_checkpoint(
    trail, school_user
):
    checkpoint_create()
    mine = [e for e in trail if e.actor_id == school_user.pk]
    with triggers_disabled():
        sql(f"DELETE FROM {TABLE} WHERE id IN (%s, %s)", [mine[-1].pk, mine[-2].pk])
        sql(
            "UPDATE audit_auditchainhead SET seq = %s, head_hash = %s WHERE partition = %s",
            [mine[-3].seq, mine[-3].row_hash, mine[-3].partition],
        )
    _bad(None, "检查点")


def test_an_inserted_row_is_named(trail, school_user):
    """A forged row with a correct-looking hash, slipped in as the next link, still lacks
    the head; one squeezed between two links breaks the next link."""
    mine = [e for e in trail if e.actor_id == school_user.pk]
    forged = AuditEvent(
        at=mine[1].at,
        actor_id=school_user.pk,
        actor_username="forger",
        action="student.correct",
        object_type="students.student",
        partition=mine[1].partition,
        seq=mine[1].seq,
        prev_hash=mine[0].row_hash,
        detail={},
    )
    forged.row_hash = link_hash([getattr(forged, f) for f in CONTENT_FIELDS])
    with triggers_disabled():
        # Make room: the forger moves the later links up by one (the unique constraint holds).
        for event in reversed(mine[1:]):
            sql(f"UPDATE {TABLE} SET seq = seq + 1 WHERE id = %s", [event.pk])
        sql(
            f"INSERT INTO {TABLE} (at, actor_id, actor_username, unit_id, action, object_type, "
            "object_id, summary, detail, ip, user_agent, channel, request_id, partition, seq, "
            "prev_hash, row_hash) VALUES (%s, %s, 'forger', NULL, 'student.correct', "
            "'students.student', '', '', '{}', NULL, '', '', '', %s, %s, %s, %s)",
            [
                forged.at,
                school_user.pk,
                forged.partition,
                forged.seq,
                forged.prev_hash,
                forged.row_hash,
            ],
        )
    report = verify()
    assert not report.intact
    # The first shifted link no longer hashes (its seq changed): named, not the forgery's
    # neighbour by chance; the forged row itself sorts after it by id.
    assert report.problems[0].row_id == mine[1].pk
    assert verify_command()[0] == 1


def test_reordered_rows_are_named(trail, school_user):
    """Swapping two rows' whole content (hashes included) keeps every hash valid; the ids
    then run against the chain."""
    mine = [e for e in trail if e.actor_id == school_user.pk]
    a, b = mine[1], mine[2]
    columns = [*CONTENT_FIELDS, "row_hash"]
    with triggers_disabled():
        sql(f"UPDATE {TABLE} SET seq = NULL WHERE id IN (%s, %s)", [a.pk, b.pk])
        for target, source in ((a, b), (b, a)):
            assignments = ", ".join(f"{c} = %s" for c in columns)
            values = [getattr(source, c) for c in columns]
            values[CONTENT_FIELDS.index("detail")] = json.dumps(source.detail)
            sql(f"UPDATE {TABLE} SET {assignments} WHERE id = %s", [*values, target.pk])
    _bad(a.pk, "调换")


def test_reordered_sequence_numbers_are_named(trail, school_user):
    mine = [e for e in trail if e.actor_id == school_user.pk]
    a, b = mine[3], mine[4]
    with triggers_disabled():
        sql(f"UPDATE {TABLE} SET seq = -1 WHERE id = %s", [a.pk])
        sql(f"UPDATE {TABLE} SET seq = %s WHERE id = %s", [a.seq, b.pk])
        sql(f"UPDATE {TABLE} SET seq = %s WHERE id = %s", [b.seq, a.pk])
    report = verify()
    assert not report.intact and report.problems[0].row_id in (a.pk, b.pk)
    assert verify_command()[0] == 1


def test_checkpoints_are_signed_and_exported_for_an_outside_party(trail, tmp_path):
    first = checkpoint_create()
    write(JOB, 2)
    second = checkpoint_create()
    assert json.loads(second.payload)["previous"]
    path = tmp_path / "checkpoints.json"
    call_command("audit_checkpoint_export", output=str(path), stdout=StringIO())
    exported = json.loads(path.read_text(encoding="utf-8"))
    assert [c["id"] for c in exported["checkpoints"]] == [first.pk, second.pk]

    def unb64(text: str) -> bytes:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))

    # What docs/security.md tells the outside party to do, with nothing of xueji.
    key = Ed25519PublicKey.from_public_bytes(unb64(exported["public_key"]))
    for checkpoint in exported["checkpoints"]:
        key.verify(unb64(checkpoint["signature"]), checkpoint["payload"].encode())
    heads = json.loads(exported["checkpoints"][-1]["payload"])["heads"]
    job_partition = AuditEvent.objects.filter(actor_username=JOB.username).first().partition
    seq, digest = heads[str(job_partition)]
    assert AuditEvent.objects.get(partition=job_partition, seq=seq).row_hash == digest
    assert verify().checkpoints == 2


def test_a_forged_checkpoint_is_noticed(trail):
    checkpoint = checkpoint_create()
    with triggers_disabled():
        sql(
            "UPDATE audit_auditcheckpoint SET payload = %s WHERE id = %s",
            [checkpoint.payload.replace('"heads"', '"heads" '), checkpoint.pk],
        )
    report = verify()
    assert not report.intact and "签名无效" in report.problems[0].reason


def fresh_actor(name: str) -> SimpleNamespace:
    """An actor whose partition holds no link yet (fixtures audit their own writes)."""
    used = set(AuditEvent.objects.values_list("partition", flat=True))
    used |= {getattr(a, "pk", 0) for a in _fresh}
    pk = next(p for p in range(1, 16) if p not in used)
    actor = SimpleNamespace(pk=pk, username=name, unit_id=None)
    _fresh.append(actor)
    return actor


_fresh: list = []


@pytest.fixture(autouse=True)
def _forget_fresh_actors():
    yield
    _fresh.clear()


def _old_rows(actor, n: int, days: int) -> None:
    """Rows written ``days`` ago (by the real clock: the database's refusal reads it)."""
    with transaction.atomic():
        for i in range(n):
            AuditEvent(
                at=clock.now() - timedelta(days=days, minutes=n - i),
                actor_id=getattr(actor, "pk", None),
                actor_username=actor.username,
                action=AuditAction.STUDENT_CORRECT.value,
                object_type=ObjectType.STUDENT.value,
                object_id=str(i),
            ).save(force_insert=True)


def test_purge_deletes_what_is_older_than_the_retention_and_the_chain_still_verifies(
    db, school_user, settings
):
    settings.XUEJI = {**settings.XUEJI, "AUDIT_RETENTION_DAYS": 200}
    first, second = fresh_actor("first"), fresh_actor("second")
    _old_rows(first, 5, days=400)
    _old_rows(second, 3, days=300)
    write(first, 2)  # recent: kept
    checkpoint_create()
    kept = set(
        AuditEvent.objects.filter(at__gte=clock.now() - timedelta(days=1)).values_list(
            "pk", flat=True
        )
    )

    result = audit_purge(actor=JOB)
    assert result.deleted == 8
    assert (
        set(AuditEvent.objects.exclude(action=AuditAction.AUDIT_PURGE).values_list("pk", flat=True))
        == kept
    )
    purge_event = AuditEvent.objects.get(action=AuditAction.AUDIT_PURGE)
    assert purge_event.detail["deleted"] == 8 and purge_event.actor_username == JOB.username
    assert AuditPurge.objects.count() == 2
    report = verify()
    assert report.intact, report.problems
    assert verify_command()[0] == 0
    # A second purge finds nothing more; the chain still verifies.
    assert audit_purge(actor=JOB).deleted == 0
    assert verify().intact


def test_purge_never_reaches_rows_younger_than_the_retention(db, school_user, settings):
    settings.XUEJI = {**settings.XUEJI, "AUDIT_RETENTION_DAYS": 300}
    _old_rows(fresh_actor("old"), 3, days=250)  # older than the legal floor, not the retention
    assert audit_purge(actor=JOB).deleted == 0
    assert AuditEvent.objects.filter(action=AuditAction.STUDENT_CORRECT).count() == 3


def test_the_database_refuses_a_purge_record_used_to_delete_young_rows(db, school_user):
    """Even with a purge record covering them, rows younger than 183 days stay."""
    actor = fresh_actor("young")
    _old_rows(actor, 3, days=100)
    before = AuditEvent.objects.count()
    last = AuditEvent.objects.filter(actor_id=actor.pk).order_by("-seq").first()
    AuditPurge.objects.create(
        at=clock.now(),
        partition=last.partition,
        through_seq=last.seq,
        through_hash=last.row_hash,
        cutoff=clock.now(),
    )
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        sql(f"DELETE FROM {TABLE} WHERE partition = %s", [last.partition])
    assert AuditEvent.objects.count() == before


def test_a_broken_chain_is_not_purged(db, school_user):
    actor = fresh_actor("broken")
    _old_rows(actor, 3, days=400)
    before = AuditEvent.objects.count()
    victim = AuditEvent.objects.filter(actor_id=actor.pk).order_by("seq").first()
    with triggers_disabled():
        sql(f"UPDATE {TABLE} SET summary = 'x' WHERE id = %s", [victim.pk])
    with pytest.raises(PurgeRefused):
        audit_purge(actor=JOB)
    assert AuditEvent.objects.count() == before


def test_the_daily_task_verifies_and_signs(trail):
    from xueji.audit.tasks import audit_daily

    result = audit_daily.call()
    assert result["intact"] is True
    assert AuditCheckpoint.objects.filter(pk=result["checkpoint"]).exists()
    with triggers_disabled():
        sql(f"UPDATE {TABLE} SET summary = 'x' WHERE id = %s", [trail[0].pk])
    result = audit_daily.call()
    assert result["intact"] is False and f"row id {trail[0].pk}" in result["first_problem"]
    assert AuditEvent.objects.filter(action=AuditAction.AUDIT_VERIFY_FAILED).exists()
    assert AuditCheckpoint.objects.count() == 1


def test_retention_shorter_than_six_months_is_an_error(settings):
    from xueji.audit.checks import audit_retention

    settings.XUEJI = {**settings.XUEJI, "AUDIT_RETENTION_DAYS": 90}
    assert [e.id for e in audit_retention(None)] == ["audit.E001"]
    settings.XUEJI = {**settings.XUEJI, "AUDIT_RETENTION_DAYS": 183}
    assert audit_retention(None) == []


@pytest.mark.django_db(transaction=True)
def test_rows_written_before_the_chain_are_chained_by_the_migration():
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes("audit")
    executor = MigrationExecutor(connection)
    executor.migrate([("audit", "0004_mask_student_numbers")])
    old_apps = executor.loader.project_state([("audit", "0004_mask_student_numbers")]).apps
    OldEvent = old_apps.get_model("audit", "AuditEvent")
    for i, actor_id in enumerate([1, 2, 17, None, 1]):
        OldEvent.objects.create(
            at=clock.now(), actor_id=actor_id, action="student.correct", object_id=str(i)
        )
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(latest)
    rows = list(
        AuditEvent.objects.order_by("partition", "seq").values_list("actor_id", "partition", "seq")
    )
    assert rows == [(None, 0, 1), (1, 1, 1), (17, 1, 2), (1, 1, 3), (2, 2, 1)]
    assert verify().intact
    with pytest.raises(DatabaseError), transaction.atomic():
        sql(f"UPDATE {TABLE} SET summary = 'x'")


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_never_fork_a_chain(school_user, county_user):
    """Writers of the same partition wait for each other's head lock (PostgreSQL)."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers itself")
    before = AuditEvent.objects.count()
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def writer(actor) -> None:
        try:
            barrier.wait()
            for _ in range(10):
                write(actor, 2)
                write(actor, 3, many=True)
        except BaseException as error:
            errors.append(error)
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=writer, args=(a,))
        for a in (school_user, school_user, county_user, JOB)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert AuditEvent.objects.count() == before + 4 * 10 * 5
    report = verify()
    assert report.intact, report.problems


def test_set_based_writers_append_through_the_chain(db, school_user):
    """The import's merge appends its events with one executemany (append_raw): chained
    like every other row, on both databases (jsonb and inet casts on PostgreSQL)."""
    from xueji.audit.chain import append_raw

    with transaction.atomic():
        count = append_raw(
            "default",
            [
                AuditEvent(
                    at=clock.now(),
                    actor_id=school_user.pk,
                    actor_username=school_user.username,
                    unit_id=school_user.unit_id,
                    action=AuditAction.STUDENT_IMPORT.value,
                    object_type=ObjectType.STUDENT.value,
                    object_id=str(i),
                    summary=f"批量导入 G440106********{i:04d}",
                    detail={"batch": "b1", "n": [i, 1.5]},
                    ip="2001:db8::1" if i % 2 else "10.0.0.1",
                    channel="web",
                )
                for i in range(5)
            ],
        )
    assert count == 5
    rows = AuditEvent.objects.filter(action=AuditAction.STUDENT_IMPORT.value).order_by("seq")
    assert [r.object_id for r in rows] == ["0", "1", "2", "3", "4"]
    report = verify()
    assert report.intact, report.problems
