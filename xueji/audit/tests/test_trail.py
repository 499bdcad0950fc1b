"""The audit admin's work (finding 5 of issue 10): ``Permission.AUDIT_VIEW`` opens the trail
of the admin's subtree, ALL of it (the system and security admins' own actions included) and
nothing outside; search, "who has looked at this child", formula-safe exports that are
themselves audited, pages and API."""

import csv
import io
import re
from datetime import timedelta

import openpyxl
import pytest
from django.db import transaction
from django.test import Client
from django.utils import translation

from tests.factories import authority_user, make_user
from xueji import clock
from xueji.accounts.models import Role
from xueji.accounts.services import SystemActor, unit_ensure_national
from xueji.audit import context
from xueji.audit.events import AuditAction, ObjectType
from xueji.audit.models import AuditEvent
from xueji.audit.services import audit_record

pytestmark = pytest.mark.django_db


def record(
    actor,
    *,
    action=AuditAction.STUDENT_CORRECT,
    object_type=ObjectType.STUDENT,
    object_id="",
    summary="",
    ip=None,
):
    token = context.bind(context.RequestContext(ip=ip, channel="web"))
    try:
        with transaction.atomic():
            return audit_record(
                actor=actor,
                action=action,
                object_type=object_type,
                object_id=object_id,
                summary=summary,
            )
    finally:
        context.reset(token)


class Trail:
    pass


@pytest.fixture
def trail(school, other_school, school_user, other_school_user, make_student):
    """Events by accounts at every level of 广州 (440100) and of 成都 (5101), and a job's."""
    t = Trail()
    t.student = make_student(name="审计测试生")
    t.county_sysadmin = authority_user("440106", roles=(Role.SYSTEM_ADMIN,))
    t.city_secadmin = authority_user("440100", roles=(Role.SECURITY_ADMIN,))
    t.province_reviewer = authority_user("440000")
    t.city_auditor = authority_user("440100", roles=(Role.AUDIT_ADMIN,))
    t.county_auditor = authority_user("440106", roles=(Role.AUDIT_ADMIN,))
    t.chengdu_auditor = authority_user("510100", roles=(Role.AUDIT_ADMIN,))
    t.national_auditor = make_user(unit_ensure_national(), roles=(Role.AUDIT_ADMIN,))
    t.mark = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    t.clerk_event = record(
        school_user, object_id=t.student.pk, summary='=HYPERLINK("x")', ip="10.1.2.3"
    )
    t.sysadmin_event = record(
        t.county_sysadmin,
        action=AuditAction.ACCOUNT_CREATE,
        object_type=ObjectType.USER,
        object_id=school_user.pk,
        ip="10.1.9.9",
    )
    t.secadmin_event = record(
        t.city_secadmin,
        action=AuditAction.ACCOUNT_UNLOCK,
        object_type=ObjectType.USER,
        object_id=school_user.pk,
        ip="10.2.0.1",
    )
    t.province_event = record(t.province_reviewer, object_id=t.student.pk, summary="省级查看")
    t.chengdu_event = record(
        other_school_user, object_id=t.student.pk, summary="外省查看", ip="172.16.0.5"
    )
    t.job_event = record(SystemActor(username="system:test"), action=AuditAction.ACCOUNT_SEAL)
    return t


def ids(rows) -> set[int]:
    return {e.pk for e in rows}


def new(t, qs) -> set[int]:
    return {pk for pk in qs.values_list("pk", flat=True) if pk > t.mark}


def test_each_audit_admin_reads_all_of_its_subtree_and_nothing_outside(trail):
    from xueji.audit.trail import TrailFilters, search

    t = trail
    assert new(t, search(t.city_auditor, TrailFilters())) == ids(
        [t.clerk_event, t.sysadmin_event, t.secadmin_event]
    )
    assert new(t, search(t.county_auditor, TrailFilters())) == ids(
        [t.clerk_event, t.sysadmin_event]
    )
    assert new(t, search(t.chengdu_auditor, TrailFilters())) == ids([t.chengdu_event])
    assert new(t, search(t.national_auditor, TrailFilters())) == ids(
        [
            t.clerk_event,
            t.sysadmin_event,
            t.secadmin_event,
            t.province_event,
            t.chengdu_event,
            t.job_event,
        ]
    )


def test_the_pages_and_the_api_answer_the_same_subtree(trail):
    t = trail
    client = Client()
    client.force_login(t.city_auditor)
    page = client.get("/audit/?actor=&page=1")
    assert page.status_code == 200
    html = page.content.decode()
    for event in (t.clerk_event, t.sysadmin_event, t.secadmin_event):
        assert event.actor_username in html
    assert t.chengdu_event.actor_username not in html
    assert "外省查看" not in html and "省级查看" not in html
    api = client.get("/api/audit/events?limit=500").json()
    got = {item["id"] for item in api["items"] if item["id"] > t.mark}
    assert got == ids([t.clerk_event, t.sysadmin_event, t.secadmin_event])


@pytest.mark.parametrize("actor", ["school_user", "county_user", "sysadmin", "anonymous"])
def test_only_audit_admins_open_the_trail(trail, actor, school_user, county_user):
    user = {
        "school_user": school_user,
        "county_user": county_user,
        "sysadmin": trail.county_sysadmin,
        "anonymous": None,
    }[actor]
    client = Client()
    if user is not None:
        client.force_login(user)
    for url in ("/audit/", f"/audit/students/{trail.student.pk}/", "/audit/export.csv"):
        response = client.get(url)
        assert response.status_code == (302 if user is None else 403), url
    assert client.get("/api/audit/events").status_code == (401 if user is None else 403)


def test_search_by_actor_student_action_object_time_and_address(trail, school_user):
    from xueji.audit.trail import TrailFilters, search

    t = trail
    a = t.national_auditor

    def found(**kw) -> set[int]:
        return new(t, search(a, TrailFilters(**kw)))

    assert found(actor="clerk2") == ids([t.chengdu_event])
    assert found(student=str(t.student.pk)) == ids(
        [t.clerk_event, t.province_event, t.chengdu_event]
    )
    assert found(student=t.student.number.lower()) == ids(
        [t.clerk_event, t.province_event, t.chengdu_event]
    )
    assert found(student="G000000000000000000") == set()
    assert found(student=t.student.name) == ids([t.clerk_event, t.province_event, t.chengdu_event])
    from xueji.students import identity

    id_number = identity.read_id(t.student)
    assert len(id_number) == 18
    assert found(student=id_number) == ids([t.clerk_event, t.province_event, t.chengdu_event])
    assert found(action=AuditAction.ACCOUNT_UNLOCK.value) == ids([t.secadmin_event])
    assert found(object_type=ObjectType.USER.value, object_id=str(school_user.pk)) == ids(
        [t.sysadmin_event, t.secadmin_event]
    )
    today = clock.today()
    assert found(date_from=today, date_to=today) == ids(
        [
            t.clerk_event,
            t.sysadmin_event,
            t.secadmin_event,
            t.province_event,
            t.chengdu_event,
            t.job_event,
        ]
    )
    assert found(date_to=today - timedelta(days=1)) == set()
    assert found(ip="10.1.") == ids([t.clerk_event, t.sysadmin_event])
    # A student outside the auditor's scope is not found through the student filter.
    assert new(t, search(t.chengdu_auditor, TrailFilters(student=str(t.student.pk)))) == set()


def test_the_search_form_names_a_bad_date_range(trail):
    client = Client()
    client.force_login(trail.city_auditor)
    today = clock.today()
    html = client.get(
        f"/audit/?date_from={today.isoformat()}&date_to={(today - timedelta(days=3)).isoformat()}"
    ).content.decode()
    assert "结束日期不能早于开始日期" in html


def test_who_has_looked_at_this_child_includes_outside_readers_and_is_audited(trail):
    t = trail
    client = Client()
    client.force_login(t.county_auditor)
    response = client.get(f"/audit/students/{t.student.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    for event in (t.clerk_event, t.province_event, t.chengdu_event):
        assert event.actor_username in html
    assert t.student.number not in html  # masked on the page
    seen = AuditEvent.objects.filter(
        action=AuditAction.AUDIT_SEARCH, actor_id=t.county_auditor.pk, object_id=str(t.student.pk)
    )
    assert seen.count() == 1
    api = client.get(f"/api/audit/students/{t.student.pk}/events").json()
    assert {t.clerk_event.pk, t.province_event.pk, t.chengdu_event.pk} <= {
        i["id"] for i in api["items"]
    }
    # Outside the auditor's subtree the child does not exist.
    other = Client()
    other.force_login(t.chengdu_auditor)
    assert other.get(f"/audit/students/{t.student.pk}/").status_code == 404
    assert other.get(f"/api/audit/students/{t.student.pk}/events").status_code == 404


def test_reads_recorded_by_the_read_audit_show_on_the_child_s_page(trail, county_user):
    """Read events (``*.read``, written in bulk by the read audit) are events about the
    student like any other: the page lists them."""
    from xueji.audit.services import audit_record_many

    read_action = next(
        (m for m in AuditAction if m.value == "student.read"), AuditAction.STUDENT_REVEAL
    )
    with transaction.atomic():
        audit_record_many(
            actor=county_user,
            events=[
                {
                    "action": read_action,
                    "object_type": ObjectType.STUDENT,
                    "object_id": trail.student.pk,
                }
            ],
        )
    client = Client()
    client.force_login(trail.city_auditor)
    html = client.get(f"/audit/students/{trail.student.pk}/").content.decode()
    assert county_user.username in html and str(read_action.label) in html


def test_export_is_formula_safe_and_itself_audited(trail):
    t = trail
    client = Client()
    client.force_login(t.city_auditor)
    response = client.get("/audit/export.csv?ip=10.1.2")
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][0] == "时间"
    assert [r[6] for r in rows[1:]] == ['\'=HYPERLINK("x")']
    exported = AuditEvent.objects.get(action=AuditAction.AUDIT_EXPORT, actor_id=t.city_auditor.pk)
    assert exported.detail["rows"] == 1 and exported.detail["filters"] == {"ip": "10.1.2"}

    response = client.get("/audit/export.xlsx?ip=10.1.2")
    assert response.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    assert sheet.cell(row=2, column=7).value == '\'=HYPERLINK("x")'
    assert sheet.cell(row=2, column=7).data_type == "s"
    assert AuditEvent.objects.filter(action=AuditAction.AUDIT_EXPORT).count() == 2
    # The audit admin of the level above sees the export in its trail.
    from xueji.audit.trail import TrailFilters, search

    assert exported.pk in ids(
        search(t.national_auditor, TrailFilters(action=AuditAction.AUDIT_EXPORT.value))
    )


def test_an_export_too_large_is_refused_with_a_message(trail, settings, monkeypatch):
    from xueji.audit import trail as trail_module

    monkeypatch.setattr(trail_module, "EXPORT_MAX_ROWS", 1)
    client = Client()
    client.force_login(trail.city_auditor)
    response = client.get("/audit/export.csv")
    assert response.status_code == 422
    assert "一次最多导出" in response.content.decode()
    assert not AuditEvent.objects.filter(action=AuditAction.AUDIT_EXPORT).exists()


def test_the_audit_admin_has_a_home_page_and_a_menu(trail):
    client = Client()
    client.force_login(trail.city_auditor)
    html = client.get("/").content.decode()
    assert "/audit/" in html and "最近的审计记录" in html
    assert trail.secadmin_event.actor_username in html
    with translation.override("en"):
        client.cookies["django_language"] = "en"
        english = client.get("/audit/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Audit trail" in english


def test_the_trail_is_paginated(trail, settings):
    settings.XUEJI = {**settings.XUEJI, "PAGE_SIZE": 2}
    client = Client()
    client.force_login(trail.city_auditor)
    first = client.get("/audit/").content.decode()
    assert 'rel="next"' in first
    assert client.get("/audit/?page=2").status_code == 200


def test_the_audit_admin_s_home_page_warns_of_a_failed_daily_verification(trail):
    from xueji.audit.chain import triggers_disabled
    from xueji.audit.tasks import audit_daily

    client = Client()
    client.force_login(trail.city_auditor)
    assert "审计日志被篡改" not in client.get("/").content.decode()
    with triggers_disabled(), transaction.atomic():
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE audit_auditevent SET summary = 'x' WHERE id = %s", [trail.clerk_event.pk]
            )
    assert audit_daily.call()["intact"] is False
    html = client.get("/").content.decode()
    assert "审计日志被篡改" in html and f"row id {trail.clerk_event.pk}" in html


def test_a_student_or_id_number_searched_never_reaches_a_url(trail):
    """The student box posts; the page and its export links continue under a session token
    (s=…); a number typed into the address bar is moved out of it; the API takes numbers
    only in the body of POST /api/audit/events/search."""
    from xueji.students import identity

    t = trail
    client = Client()
    client.force_login(t.national_auditor)
    number, id_number = t.student.number, identity.read_id(t.student)
    for term in (number, id_number):
        posted = client.post("/audit/", {"student": term, "actor": ""})
        assert posted.status_code == 303
        location = posted["Location"]
        assert term not in location and term[1:] not in location and "s=" in location
        page = client.get(location)
        html = page.content.decode()
        assert page.status_code == 200  # the box keeps what was typed; the URL does not
        # The student's events (their summaries), and not the accounts' events.
        assert "外省查看" in html and "省级查看" in html and "HYPERLINK" in html
        assert t.county_sysadmin.username not in html
        export = re.search(r'href="(/audit/export\.csv\?[^"]*)"', html)
        assert export and "s=" in export.group(1) and term not in export.group(1)
        assert client.get(export.group(1).replace("&amp;", "&")).status_code == 200
    typed = client.get(f"/audit/?student={number}")
    assert typed.status_code == 303 and number not in typed["Location"]

    refused = client.get(f"/api/audit/events?student={number}")
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["code"] == "search.number_in_url"
    # An internal id may stay in the URL.
    assert client.get(f"/api/audit/events?student={t.student.pk}").status_code == 200
    body = client.post(
        "/api/audit/events/search", {"student": id_number}, content_type="application/json"
    ).json()
    assert ids([t.clerk_event, t.province_event, t.chengdu_event]) <= {
        item["id"] for item in body["items"]
    }
