"""Read auditing (xueji/audit/reads.py): what a read event holds, that one request writes its
reads in one INSERT, that a read which cannot be audited is refused, and the switch that
exists only for the benchmark."""

import json
import subprocess
import sys

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.read_audit import last_request_ids, read_events, read_ids
from xueji.accounts.tests.test_headers import BASE_DIR, _production_environment
from xueji.audit import reads
from xueji.audit.events import AuditAction, ObjectType
from xueji.audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client(HTTP_USER_AGENT="xueji-test/1.0", REMOTE_ADDR="10.1.2.3")
    client.force_login(user)
    return client


@pytest.fixture
def three(make_student):
    return [make_student() for _i in range(3)]


def test_a_detail_read_names_who_unit_student_view_when_and_where(school_user, three):
    student = three[1]
    response = signed_in(school_user).get(
        f"/api/students/{student.pk}", HTTP_X_REQUEST_ID="req-detail-1"
    )
    assert response.status_code == 200
    [event] = read_events()
    assert event.object_type == ObjectType.STUDENT.value
    assert event.object_id == str(student.pk)
    assert event.actor_id == school_user.pk
    assert event.actor_username == school_user.username
    assert event.unit_id == school_user.unit_id
    assert event.detail == {"view": "api:get_student", "kind": "detail", "count": 1}
    assert (event.ip, event.user_agent, event.channel, event.request_id) == (
        "10.1.2.3",
        "xueji-test/1.0",
        "api",
        "req-detail-1",
    )
    assert event.at is not None


def test_a_list_writes_one_row_per_student_on_the_page_in_one_insert(school_user, three):
    client = signed_in(school_user)
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/api/students", {"limit": 2})
    assert response.status_code == 200
    shown = [item["id"] for item in response.json()["items"]]
    assert len(shown) == 2
    assert read_ids() == shown
    inserts = [q["sql"] for q in queries if q["sql"].startswith('INSERT INTO "audit_auditevent"')]
    assert len(inserts) == 1
    # the rows of one request share the time and the request id
    events = list(read_events())
    assert len({(e.at, e.request_id) for e in events}) == 1
    assert {e.detail["count"] for e in events} == {2}
    # the next page: its own students, not the first page's
    cursor = response.json()["next_cursor"]
    second = client.get("/api/students", {"limit": 2, "after": cursor}).json()["items"]
    assert last_request_ids() == [item["id"] for item in second] == [three[2].pk]


def test_an_empty_search_is_still_one_event_without_a_student(school_user, three):
    response = signed_in(school_user).get("/api/students", {"q": "没有这个人"})
    assert response.json()["items"] == []
    [event] = read_events()
    assert (event.object_type, event.object_id) == ("", "")
    assert event.detail == {"view": "api:list_students", "kind": "search", "count": 0}


def test_the_query_string_is_never_stored(school_user, three):
    number = three[0].number
    # The search posts; the list then answers under a session token (xueji.web.search).
    page = signed_in(school_user).post(reverse("students:list"), {"q": number}, follow=True)
    assert page.status_code == 200 and number not in page.redirect_chain[-1][0]
    assert read_ids() == [three[0].pk]
    stored = json.dumps(
        list(read_events().values("summary", "detail", "object_id")), ensure_ascii=False
    )
    assert number not in stored
    assert number[1:] not in stored


def test_no_read_no_event(school_user, three):
    signed_in(school_user).get("/healthz")
    signed_in(school_user).get(reverse("web:home"))
    assert list(read_events()) == []


def test_a_refused_read_is_not_logged_as_a_read(other_school_user, three):
    response = signed_in(other_school_user).get(f"/api/students/{three[0].pk}")
    assert response.status_code == 404
    assert list(read_events()) == []


# ---------------------------------------------------------------- never lost


@pytest.fixture
def failing_write(monkeypatch):
    def fail(**_kwargs):
        raise DatabaseError("the audit table refused the insert")

    monkeypatch.setattr(reads, "audit_record_many", fail)


def test_a_page_read_that_cannot_be_audited_is_an_error_without_the_data(
    school_user, three, failing_write
):
    student = three[0]
    response = signed_in(school_user).get(reverse("students:detail", args=[student.pk]))
    assert response.status_code == 503
    html = response.content.decode()
    assert student.name not in html
    assert student.number_masked not in html
    assert "审计" in html
    listed = signed_in(school_user).get(reverse("students:list"))
    assert listed.status_code == 503
    assert not any(s.name in listed.content.decode() for s in three)


def test_an_api_read_that_cannot_be_audited_is_an_error_without_the_data(
    school_user, three, failing_write
):
    student = three[0]
    response = signed_in(school_user).get(f"/api/students/{student.pk}")
    assert response.status_code == 503
    body = response.json()
    assert body["code"] == "read_audit_failed"
    assert student.name not in response.content.decode()
    listed = signed_in(school_user).get("/api/students")
    assert listed.status_code == 503
    assert "items" not in listed.json()


def _refuse_read_inserts() -> None:
    """A database trigger that refuses read events (the database, not Python, fails)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "CREATE FUNCTION test_refuse_reads() RETURNS trigger AS $$ BEGIN "
                "RAISE EXCEPTION 'read audit refused'; END $$ LANGUAGE plpgsql"
            )
            cursor.execute(
                "CREATE TRIGGER test_refuse_reads BEFORE INSERT ON audit_auditevent "
                "FOR EACH ROW WHEN (NEW.action = 'student.read') "
                "EXECUTE FUNCTION test_refuse_reads()"
            )
        else:
            cursor.execute(
                "CREATE TRIGGER test_refuse_reads BEFORE INSERT ON audit_auditevent "
                "WHEN NEW.action = 'student.read' "
                "BEGIN SELECT RAISE(ABORT, 'read audit refused'); END"
            )


def test_when_the_database_refuses_the_read_event_the_answer_is_an_error(school_user, three):
    _refuse_read_inserts()
    student = three[0]
    response = signed_in(school_user).get(f"/api/students/{student.pk}")
    assert response.status_code == 503
    assert student.name not in response.content.decode()
    page = signed_in(school_user).get(reverse("students:detail", args=[student.pk]))
    assert page.status_code == 503
    assert student.name not in page.content.decode()
    assert list(read_events()) == []


# ---------------------------------------------------------------- outside a request


def test_outside_a_request_a_read_is_written_at_once(school_user, three):
    reads.note_read(school_user, three, kind=reads.ReadKind.EXPORT, view="command:test")
    assert read_ids() == [s.pk for s in three]
    assert read_events().first().channel == "system"


def test_outside_a_request_a_failed_write_raises(school_user, three, failing_write):
    with pytest.raises(DatabaseError):
        reads.note_read(school_user, three, kind=reads.ReadKind.EXPORT, view="command:test")


def test_read_events_are_ordinary_audit_events(school_user, three):
    """Written through audit_record_many: the audit module's guarantees (append-only,
    the chain) cover them."""
    signed_in(school_user).get(f"/api/students/{three[0].pk}")
    event = read_events().get()
    with pytest.raises(RuntimeError), transaction.atomic():
        event.delete()
    assert AuditAction.STUDENT_READ.value == event.action


# ---------------------------------------------------------------- the benchmark's switch


def test_switched_off_nothing_is_written(school_user, three, settings):
    settings.XUEJI = {**settings.XUEJI, "READ_AUDIT": False}
    response = signed_in(school_user).get(f"/api/students/{three[0].pk}")
    assert response.status_code == 200
    assert AuditEvent.objects.filter(action=AuditAction.STUDENT_READ.value).count() == 0


@pytest.mark.db_independent
def test_production_refuses_read_auditing_off_and_has_it_on_by_default():
    script = (
        "import django; django.setup()\n"
        "from django.conf import settings as s\n"
        "print(s.XUEJI['READ_AUDIT'], 'xueji.audit.reads.ReadAuditMiddleware' in s.MIDDLEWARE)\n"
    )
    run = [sys.executable, "-c", script]
    default = subprocess.run(
        run, cwd=BASE_DIR, env=_production_environment(), capture_output=True, text=True
    )
    assert default.returncode == 0, default.stderr
    assert default.stdout.split() == ["True", "True"]
    off = subprocess.run(
        run,
        cwd=BASE_DIR,
        env={**_production_environment(), "XUEJI_READ_AUDIT": "off"},
        capture_output=True,
        text=True,
    )
    assert off.returncode != 0
    assert "ImproperlyConfigured" in off.stderr
    assert "XUEJI_READ_AUDIT=off is refused in production" in off.stderr
