"""The typed audit vocabulary: only its members are recorded, every member has a Chinese
label, summaries are stored in Chinese whatever the session's language, and old rows are
mapped into it by a migration."""

import re

import pytest
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import translation
from django.utils.text import format_lazy

from xueji.audit.events import (
    LEGACY_OBJECT_TYPES,
    AuditAction,
    ObjectType,
    action_label,
    action_of,
    object_type_of,
)
from xueji.audit.models import AuditEvent
from xueji.audit.services import audit_record, audit_record_many
from xueji.changes.rules import Party
from xueji.changes.tests.transfers import approve_pending, file_transfer, hold_clock

HAN = re.compile(r"[\u4e00-\u9fff]")
LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


def test_every_member_has_a_chinese_label_and_a_distinct_value():
    for enum in (AuditAction, ObjectType):
        values = [member.value for member in enum]
        assert len(values) == len(set(values))
        for member in enum:
            with translation.override("zh-hans"):
                assert HAN.search(str(member.label)), member
    assert action_of("change.step_approve") is AuditAction.CHANGE_STEP_APPROVE
    assert object_type_of("students.student") is ObjectType.STUDENT
    with pytest.raises(ValueError):
        action_of("student.hacked")


def test_labels_follow_the_reader_s_language():
    with translation.override("en"):
        assert action_label("student.register") == "Register students"
    with translation.override("zh-hans"):
        assert action_label("student.register") == "注册学生"
    # a value the vocabulary lacks shows as stored
    assert action_label("something.old") == "something.old"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("action", "object_type"),
    [
        ("student.register", ObjectType.STUDENT),
        (AuditAction.STUDENT_REGISTER, "student"),
        (AuditAction.STUDENT_REGISTER, "students.student"),
    ],
)
def test_audit_record_accepts_only_the_vocabulary(action, object_type):
    with transaction.atomic(), pytest.raises(TypeError):
        audit_record(actor=None, action=action, object_type=object_type, object_id=1)
    with transaction.atomic(), pytest.raises(TypeError):
        audit_record_many(actor=None, events=[{"action": action, "object_type": object_type}])
    assert not AuditEvent.objects.exists()


@pytest.mark.django_db
def test_a_lazy_summary_is_stored_in_chinese_in_an_english_session():
    with translation.override("en"), transaction.atomic():
        event = audit_record(
            actor=None,
            action=AuditAction.CHANGE_STEP_APPROVE,
            object_type=ObjectType.CHANGE_REQUEST,
            object_id=1,
            summary=format_lazy("{}{}", Party.RECEIVING_SCHOOL.label, "同意"),
        )
    event.refresh_from_db()
    assert event.summary == "转入学校同意"


@pytest.mark.django_db
def test_a_transfer_handled_in_an_english_session_leaves_chinese_summaries(
    monkeypatch, make_student
):
    """Before the vocabulary, approving a step in English stored "Receiving school同意"."""
    from datetime import date

    from tests.factories import SchoolFactory, make_user

    hold_clock(monkeypatch, date(2026, 3, 2))
    student = make_student()
    receiver = make_user(SchoolFactory(division_code="440106").unit)
    with translation.override("en"):
        request = file_transfer(receiver, student)
        approve_pending(request)
    summaries = list(
        AuditEvent.objects.filter(object_type=ObjectType.CHANGE_REQUEST, object_id=str(request.pk))
        .order_by("pk")
        .values_list("action", "summary")
    )
    assert summaries == [
        (AuditAction.CHANGE_FILE.value, "申请转学"),
        (AuditAction.CHANGE_STEP_APPROVE.value, "转入学校同意"),
        (AuditAction.CHANGE_STEP_APPROVE.value, "转入地学籍主管部门同意"),
    ]
    for _action, summary in summaries:
        assert not LATIN_WORD.search(summary), summary


# ------------------------------------------------------------------- the mapping migration


def _migrate(target):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(target)
    return executor.loader.project_state(target).apps


@pytest.mark.django_db(transaction=True)
def test_the_migration_maps_old_rows_into_the_vocabulary():
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes("audit")
    old_apps = _migrate([("audit", "0002_early_warning")])
    OldEvent = old_apps.get_model("audit", "AuditEvent")
    from xueji import clock

    at = clock.now()
    rows = [
        ("student.register", "student"),
        ("archive.to_authority", "students.student"),
        ("account.sign_in", "user"),
        ("student.reveal_number", "student"),
        ("anomaly.merge", "anomaly.merge"),
    ]
    for action, object_type in rows:
        OldEvent.objects.create(at=at, action=action, object_type=object_type, object_id="7")
    _migrate(latest)
    mapped = list(AuditEvent.objects.order_by("pk").values_list("action", "object_type", "detail"))
    assert mapped == [
        ("student.register", "students.student", {}),
        ("archive.to_authority", "students.student", {}),
        ("account.sign_in", "accounts.user", {}),
        ("legacy", "students.student", {"legacy_action": "student.reveal_number"}),
        ("anomaly.merge", "anomalies.merge", {}),
    ]
    for _action, object_type, _detail in mapped:
        object_type_of(object_type)  # every stored object type is in the vocabulary
    assert set(LEGACY_OBJECT_TYPES) >= {"student", "user", "anomaly.merge"}
