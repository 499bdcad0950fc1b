"""The student number is protected like the ID number (issue 10, finding 1).

A G number is ``G`` + the resident ID number. Lists, queues, the API's list answers and the
audit trail show it masked (``G330102********4761``) for every account; the full number is
on one student's detail only for the clerk of the school holding the record and for the
party whose step of an open transfer is pending; everyone else reveals it with a reason.
"""

import re
from datetime import date

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from hypothesis import given
from hypothesis import strategies as st

from tests.factories import SchoolFactory, authority_user, make_user, resident_id
from xueji import clock
from xueji.audit.chain import triggers_disabled
from xueji.audit.models import AuditEvent
from xueji.changes.models import ApprovalStep
from xueji.changes.rules import StepState
from xueji.changes.tests.transfers import file_transfer
from xueji.masking import mask_numbers_in, mask_numbers_in_text, mask_student_number
from xueji.students import identity
from xueji.students.rules import g_number, j_number, l_number, resident_id_check_char
from xueji.students.scrub import scrub_model, scrub_snapshot
from xueji.students.services import student_attach_resident_id, student_reveal

FULL = re.compile(r"(?<![0-9A-Za-z])(?:[GJL][0-9]{17}[0-9X]|[0-9]{17}[0-9X])(?![0-9A-Za-z])")


def full_numbers(text: str) -> list[str]:
    return FULL.findall(text)


def client_of(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# ----------------------------------------------------------------- masking (pure)


def test_a_student_number_is_masked_to_kind_division_and_last_four():
    assert mask_student_number("G330102201909234761") == "G330102********4761"
    assert mask_student_number("j110101201501010015") == "J110101********0015"
    assert mask_student_number("L440106201703081234") == "L440106********1234"
    assert mask_student_number("") == ""


@st.composite
def student_numbers(draw) -> str:
    born = draw(st.dates(min_value=date(1990, 1, 1), max_value=date(2024, 12, 31)))
    kind = draw(st.sampled_from("GJL"))
    if kind == "G":
        body = f"440106{born:%Y%m%d}{draw(st.integers(0, 999)):03d}"
        return g_number(body + resident_id_check_char(body))
    if kind == "J":
        return j_number("440106", born, draw(st.integers(1, 999)))
    return l_number("440106", born, f"{draw(st.integers(0, 9999)):04d}")


@given(number=student_numbers(), before=st.text(max_size=8), after=st.text(max_size=8))
def test_any_full_number_in_free_text_is_masked(number, before, after):
    """Wherever a full number stands in text (an audit summary, a reason), masking leaves
    no full number and keeps its masked form."""
    text = f"{before} {number}，{after}"
    masked = mask_numbers_in_text(text)
    assert number not in masked
    assert mask_student_number(number) in masked
    assert number[1:] not in masked  # nor the ID number inside it


def test_masking_leaves_digests_and_short_numbers_alone():
    digest = "9f2c0b5e" + "1234567890" * 5
    text = f"请求 {digest}，共 123456 人，编号 20260301"
    assert mask_numbers_in_text(text) == text
    assert mask_numbers_in({"n": [f"G{'4' * 18}", 3]}) == {"n": [f"G444444{'*' * 8}4444", 3]}


# ----------------------------------------------------------------- lists and the API


@pytest.mark.django_db
def test_api_list_shows_only_masked_numbers(make_student, school_user, county_user):
    student = make_student()
    for user in (school_user, county_user):
        body = client_of(user).get("/api/students").content.decode()
        assert full_numbers(body) == []
        assert student.number_masked in body


@pytest.mark.django_db
def test_detail_shows_the_full_number_to_the_clerk_of_the_students_school(
    make_student, school_user
):
    student = make_student()
    full = identity.read_number(student)
    body = client_of(school_user).get(f"/api/students/{student.pk}").json()
    assert body["number"] == full
    assert body["number_masked"] == mask_student_number(full)
    assert [n["number"] for n in body["numbers"]] == [full]
    page = client_of(school_user).get(f"/students/{student.pk}/").content.decode()
    assert full in page


@pytest.mark.django_db
def test_authorities_see_the_masked_number_and_reveal_it_with_a_reason(
    make_student, county_user, city_user
):
    student = make_student()
    full = identity.read_number(student)
    for user in (county_user, city_user):
        body = client_of(user).get(f"/api/students/{student.pk}").json()
        assert body["number"] is None
        assert body["number_masked"] == student.number_masked
        assert [n["number"] for n in body["numbers"]] == [None]
        assert full_numbers(str(body)) == []
        page = client_of(user).get(f"/students/{student.pk}/").content.decode()
        assert full_numbers(page) == []
        assert student.number_masked in page
    # when: the county reveals it, with a reason
    value = student_reveal(
        actor=county_user, student_id=student.pk, field="number", reason="核对转学材料"
    )
    # then
    assert value == full
    event = AuditEvent.objects.filter(action="student.reveal").get()
    assert event.detail["field"] == "number"
    assert full_numbers(event.summary + str(event.detail)) == []


@pytest.mark.django_db
def test_reveal_of_the_number_without_a_reason_is_refused_and_audited(make_student, county_user):
    student = make_student()
    response = client_of(county_user).post(
        f"/api/students/{student.pk}/reveal",
        {"field": "number", "reason": ""},
        content_type="application/json",
    )
    assert response.status_code == 422
    assert AuditEvent.objects.filter(action="student.reveal_refused").count() == 1


@pytest.mark.django_db
def test_another_school_and_the_same_school_in_another_role_see_no_full_number(
    make_student, school
):
    """A reviewer account of the student's own school is not its status clerk."""
    student = make_student()
    reviewer_here = make_user(school.unit, roles=("statistician",))
    assert not _sees_full(reviewer_here, student)


def _sees_full(user, student) -> bool:
    from xueji.students.permissions import may_see_full_number

    return may_see_full_number(user, student)


# ----------------------------------------------------------------- transfers


@pytest.mark.django_db
def test_the_pending_party_of_an_open_transfer_sees_the_full_number(make_student):
    """Receiving school in another county: the receiving authority's step is pending after
    filing; its reviewer sees the full number on the request; the city above does not."""
    student = make_student()
    full = identity.read_number(student)
    receiving = SchoolFactory(name="越秀区第一小学", division_code="440104")
    request = file_transfer(make_user(receiving.unit), student)
    pending = ApprovalStep.objects.get(request=request, state=StepState.PENDING)
    receiving_county = authority_user("440104")
    assert pending.unit_id == receiving_county.unit_id
    body = client_of(receiving_county).get(f"/api/changes/{request.pk}").json()
    assert body["student_number"] == full
    page = client_of(receiving_county).get(f"/changes/{request.pk}/").content.decode()
    assert full in page
    # The city above both counties sees the request, masked.
    city = authority_user("440100")
    body = client_of(city).get(f"/api/changes/{request.pk}").json()
    assert body["student_number"] is None
    assert body["student_number_masked"] == student.number_masked
    # Lists and the queue never show it, not even to the pending party.
    for path in ("/api/changes", "/api/changes/queue", "/changes/", "/changes/queue/"):
        text = client_of(receiving_county).get(path).content.decode()
        assert full_numbers(text) == [], path


# ----------------------------------------------------------------- the audit trail


@pytest.mark.django_db
def test_the_audit_trail_never_holds_a_full_number(make_student, school_user, county_user):
    """Registration, an upgrade from L to G and a reason typed with a number in it."""
    student = make_student()
    temporary = make_student(id_type="", id_number="", born=date(2017, 5, 6))
    student_attach_resident_id(
        actor=school_user,
        student_id=temporary.pk,
        id_number=resident_id("440106", date(2017, 5, 6), "2", seq=5),
    )
    student_reveal(
        actor=county_user,
        student_id=student.pk,
        field="id_number",
        reason=f"核对 {identity.read_number(student)} 的证件",
    )
    texts = [
        f"{e.summary} {e.detail} {e.actor_username}" for e in AuditEvent.objects.order_by("pk")
    ]
    assert len(texts) >= 4
    assert [t for t in texts if full_numbers(t)] == []


@pytest.mark.django_db
def test_old_audit_rows_are_masked_by_the_scrub(db):
    """What the data migration does to rows written by earlier versions."""
    number = g_number(resident_id("440106", date(2016, 1, 2), "1"))
    # Written the way an earlier version did, past audit_record's masking.
    [written] = AuditEvent.objects.bulk_create(
        [
            AuditEvent(
                at=clock.now(),
                action="student.register",
                summary=f"注册学生 {number}",
                detail={"confirmed_distinct_from": [number]},
                actor_username=f"guardian:{number}",
            )
        ]
    )
    # The migration runs before the trail became append-only (audit 0007): scrub through the
    # model as it was then, with the refusal lifted as it was then.
    old_apps = (
        MigrationExecutor(connection)
        .loader.project_state(("audit", "0004_mask_student_numbers"))
        .apps
    )
    with triggers_disabled():
        assert (
            scrub_model(
                old_apps.get_model("audit", "AuditEvent"),
                ("summary", "detail", "actor_username"),
            )
            == 1
        )
    event = AuditEvent.objects.get(pk=written.pk)
    assert event.summary == f"注册学生 {mask_student_number(number)}"
    assert event.detail == {"confirmed_distinct_from": [mask_student_number(number)]}
    assert event.actor_username == f"guardian:{mask_student_number(number)}"
    assert scrub_model(AuditEvent, ("summary", "detail", "actor_username")) == 0


def test_a_merge_snapshot_is_masked_in_the_same_columns_as_its_tables():
    number = "G" + "4401062016010212" + "3" + "4"
    snapshot = {
        "updated": [
            {
                "model": "students.Student",
                "pk": 1,
                "before": {"number": number},
                "after": {"number": number},
            },
            {
                "model": "students.StudentNumber",
                "pk": 2,
                "before": {"reason": ""},
                "after": {"reason": f"并入 {number}"},
            },
        ],
        "created": [{"model": "enrolment.StatusEvent", "pk": 3, "row": {"reason": number}}],
    }
    scrubbed = scrub_snapshot(
        snapshot,
        {"students.StudentNumber": ("reason",), "enrolment.StatusEvent": ("reason",)},
    )
    masked = mask_student_number(number)
    # The student's own number column is left for the encryption migration.
    assert scrubbed["updated"][0]["after"] == {"number": number}
    assert scrubbed["updated"][1]["after"] == {"reason": f"并入 {masked}"}
    assert scrubbed["created"][0]["row"] == {"reason": masked}
