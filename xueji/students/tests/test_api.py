"""Students over the API: authentication, scope, registration outcomes, lists, as-of.

Every endpoint is tried allowed (in scope) and denied: out of scope → 404 like a missing
row, wrong role → 403, anonymous or a dead token → 401. Session and token clients reach the
same services.
"""

from datetime import date, timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.factories import authority_user, make_user, registration, resident_id
from xueji import clock
from xueji.accounts.models import ApiToken, Role
from xueji.accounts.tokens import api_token_issue
from xueji.audit.models import AuditEvent
from xueji.enrolment.models import StatusEvent, StatusRecord
from xueji.enrolment.rules import StatusState
from xueji.students import identity
from xueji.students.models import Guardian, NonBasicInfo, Student, StudentNumber
from xueji.students.rules import resident_id_check_char
from xueji.web import search as search_module

pytestmark = pytest.mark.django_db

DISTINCT_NAMES = (
    "赵一鸣",
    "钱二妮",
    "孙三立",
    "李四海",
    "周五福",
    "吴六顺",
    "郑七巧",
    "王八方",
    "冯九州",
    "陈十全",
    "褚明远",
    "卫子夫",
)
CSRF_SECRET = "k" * 32


# ----------------------------------------------------------------- helpers


def api_payload(school, **overrides) -> dict:
    """A registration as the API takes it: guardians as a list, non-basic data nested."""
    data = registration(school, **overrides)
    guardian = {
        "name": data.pop("guardian_name"),
        "relation": data.pop("guardian_relation"),
        "id_number": data.pop("guardian_id_number"),
        "phone": data.pop("guardian_phone"),
    }
    left_behind = data.pop("left_behind")
    return {**data, "guardians": [guardian], "non_basic": {"left_behind": left_behind}}


def search(client: Client, term: str):
    """``POST /api/students/search``: how a client searches by number."""
    return client.post("/api/students/search", {"q": term}, content_type="application/json")


def token_for(user, *, expires_at=None) -> str:
    return api_token_issue(actor=user, user=user, name="test", expires_at=expires_at).secret


def client_for(user, via: str = "session") -> Client:
    """A client signed in by the page session or carrying a bearer token."""
    if via == "token":
        return Client(headers={"Authorization": f"Bearer {token_for(user)}"})
    client = Client()
    client.force_login(user)
    return client


def registry_counts() -> dict[str, int]:
    return {
        "students": Student.objects.count(),
        "records": StatusRecord.objects.count(),
        "numbers": StudentNumber.objects.count(),
        "events": StatusEvent.objects.count(),
        "guardians": Guardian.objects.count(),
        "non_basic": NonBasicInfo.objects.count(),
        "audit": AuditEvent.objects.count(),
    }


def enrol(make_student, count: int, **overrides) -> list[Student]:
    """``count`` students with names and birth dates far apart (no candidate duplicates)."""
    return [
        make_student(
            name=DISTINCT_NAMES[index],
            born=date(2016, 1, 1) + timedelta(days=37 * index),
            **overrides,
        )
        for index in range(count)
    ]


def permit_number(born: date = date(2016, 6, 1), seq: int = 22) -> str:
    """A valid Hong Kong residents' residence permit number (810000…), female by default."""
    body = f"810000{born:%Y%m%d}{seq:03d}"
    return body + resident_id_check_char(body)


def id_with_x(born: date = date(2017, 3, 8)) -> str:
    return next(
        number
        for number in (resident_id("440106", born, "2", seq=s) for s in range(0, 999, 2))
        if number.endswith("X")
    )


def assert_full_id_absent(body: bytes, id_number: str, *, except_in: tuple[str, ...] = ()):
    """The full number appears nowhere in ``body``, except inside the given student numbers
    (a G number is 'G' + the resident ID by national rule)."""
    text = body.decode()
    for number in except_in:
        text = text.replace(number, "")
    assert id_number not in text


# ----------------------------------------------------------------- authentication


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/students"),
        ("get", "/api/students/1"),
        ("get", "/api/students/1/as-of?on=2025-01-01"),
        ("post", "/api/students/validate"),
        ("post", "/api/students"),
    ],
)
def test_anonymous_gets_401_everywhere(method, path):
    response = getattr(Client(), method)(path, {}, content_type="application/json")
    assert response.status_code == 401


@pytest.mark.parametrize("via", ["session", "token"])
def test_session_and_token_both_reach_the_list(via, make_student, school_user):
    student = make_student()
    response = client_for(school_user, via).get("/api/students")
    assert response.status_code == 200
    assert [row["id"] for row in response.json()["items"]] == [student.pk]


def test_expired_revoked_malformed_and_foreign_tokens_get_401(school_user):
    expired = token_for(school_user, expires_at=clock.now() - timedelta(seconds=1))
    revoked = token_for(school_user)
    ApiToken.objects.update(revoked_at=clock.now())
    live = token_for(school_user)
    tampered = live[:-3] + ("aaa" if not live.endswith("aaa") else "bbb")
    for token in (expired, revoked, tampered, "xj_nope_nope", "not-a-token"):
        response = Client().get("/api/students", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, token
    ok = Client().get("/api/students", headers={"Authorization": f"Bearer {live}"})
    assert ok.status_code == 200


def test_token_stops_working_when_its_account_is_deactivated(school_user):
    token = token_for(school_user)
    school_user.is_active = False
    school_user.save(update_fields=["is_active"])
    response = Client().get("/api/students", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


def test_session_of_a_deactivated_account_gets_401(school_user):
    client = client_for(school_user)
    school_user.is_active = False
    school_user.save(update_fields=["is_active"])
    assert client.get("/api/students").status_code == 401


def test_session_post_without_csrf_token_is_refused_and_writes_nothing(school_user, school):
    client = Client(enforce_csrf_checks=True)
    client.force_login(school_user)
    before = registry_counts()
    response = client.post("/api/students", api_payload(school), content_type="application/json")
    assert response.status_code == 403
    assert registry_counts() == before


def test_session_post_with_csrf_token_is_accepted(school_user, school):
    client = Client(enforce_csrf_checks=True)
    client.force_login(school_user)
    client.cookies["csrftoken"] = CSRF_SECRET
    response = client.post(
        "/api/students",
        api_payload(school),
        content_type="application/json",
        headers={"X-CSRFToken": CSRF_SECRET},
    )
    assert response.status_code == 201, response.content


def test_token_clients_need_no_csrf_token(school_user, school):
    client = Client(
        enforce_csrf_checks=True, headers={"Authorization": f"Bearer {token_for(school_user)}"}
    )
    response = client.post("/api/students", api_payload(school), content_type="application/json")
    assert response.status_code == 201, response.content


# ----------------------------------------------------------------- roles


def test_statistician_may_not_read_personal_data(make_student):
    student = make_student()
    statistician = authority_user("440106", roles=(Role.STATISTICIAN,))
    client = client_for(statistician)
    assert client.get("/api/students").status_code == 403
    assert client.get(f"/api/students/{student.pk}").status_code == 403
    assert client.get(f"/api/students/{student.pk}/as-of?on=2025-01-01").status_code == 403


@pytest.mark.parametrize("path", ["/api/students", "/api/students/validate"])
def test_reviewer_may_read_but_not_register(path, county_user, school):
    before = registry_counts()
    response = client_for(county_user).post(
        path, api_payload(school), content_type="application/json"
    )
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    assert registry_counts() == before


# ----------------------------------------------------------------- scope


@pytest.mark.parametrize("via", ["session", "token"])
def test_detail_in_scope_and_out_of_scope(via, make_student, school_user, other_school_user):
    mine = make_student()
    theirs = make_student(school=other_school_user.unit.school, actor=other_school_user)
    client = client_for(school_user, via)
    assert client.get(f"/api/students/{mine.pk}").json()["number"] == mine.number
    out_of_scope = client.get(f"/api/students/{theirs.pk}")
    missing = client.get("/api/students/999999999")
    assert out_of_scope.status_code == missing.status_code == 404
    assert out_of_scope.json() == missing.json()
    assert theirs.name not in out_of_scope.content.decode()


def test_authorities_read_their_subtree_only(make_student, other_school_user, county_user):
    student = make_student()
    theirs = make_student(school=other_school_user.unit.school, actor=other_school_user)
    for user in (county_user, authority_user("440100"), authority_user("440000")):
        client = client_for(user)
        assert client.get(f"/api/students/{student.pk}").status_code == 200
        assert client.get(f"/api/students/{theirs.pk}").status_code == 404
        assert [r["id"] for r in client.get("/api/students").json()["items"]] == [student.pk]


def test_list_shows_only_students_in_scope(make_student, school_user, other_school_user):
    mine = make_student()
    make_student(school=other_school_user.unit.school, actor=other_school_user)
    ids = [r["id"] for r in client_for(school_user).get("/api/students").json()["items"]]
    assert ids == [mine.pk]
    # Asking for another school's roll by id yields nothing, not the other roll.
    other_id = other_school_user.unit.school_id
    response = client_for(school_user).get(f"/api/students?school_id={other_id}")
    assert response.json()["items"] == []


def test_as_of_out_of_scope_is_not_found(make_student, other_school_user):
    student = make_student()
    response = client_for(other_school_user).get(f"/api/students/{student.pk}/as-of?on=2025-01-01")
    assert response.status_code == 404


def test_registering_at_a_school_out_of_scope_is_not_found(school_user, other_school):
    before = registry_counts()
    client = client_for(school_user)
    for path in ("/api/students", "/api/students/validate"):
        response = client.post(path, api_payload(other_school), content_type="application/json")
        assert response.status_code == 404, path
        assert response.json()["code"] == "not_found"
    assert registry_counts() == before


# ----------------------------------------------------------------- registration


def test_register_returns_201_with_detail_and_masked_id_only(school_user, school):
    payload = api_payload(school, name="黎明亮", class_name="3班")
    id_number = payload["id_number"]
    guardian_id = payload["guardians"][0]["id_number"]
    client = client_for(school_user)
    # when
    response = client.post("/api/students", payload, content_type="application/json")
    # then
    assert response.status_code == 201, response.content
    body = response.json()
    student = body["student"]
    assert body["reactivated"] is False
    assert (student["name"], student["class_name"], student["state"]) == (
        "黎明亮",
        "3班",
        "enrolled",
    )
    assert student["number"] == "G" + id_number
    assert student["id_number_masked"] == id_number[:6] + "*" * 8 + id_number[-4:]
    assert student["guardians"][0]["id_number_masked"].count("*") == 8
    assert [e["kind"] for e in student["history"]] == ["register"]
    assert Student.objects.get(pk=student["id"]).record.school_id == school.pk
    # Every later read shows the masked number only.
    bodies = [
        response.content,
        client.get("/api/students").content,
        client.get(f"/api/students/{student['id']}").content,
        client.get(f"/api/students/{student['id']}/as-of?on=2025-01-01").content,
        client.get(f"/api/students?q={id_number}").content,
    ]
    for content in bodies:
        assert_full_id_absent(content, id_number, except_in=(student["number"],))
        assert guardian_id not in content.decode()


def test_permit_holder_id_never_appears_in_any_response(school_user, school, other_school_user):
    """A J number does not embed the document number, so the full number must not appear in
    any body at all: register, conflict, validate, list, search, detail."""
    number = permit_number()
    payload = api_payload(school, id_type="2", id_number=number, born=date(2016, 6, 1))
    client = client_for(school_user)
    created = client.post("/api/students", payload, content_type="application/json")
    assert created.status_code == 201, created.content
    student = created.json()["student"]
    assert student["number_kind"] == "J"
    again = client_for(other_school_user).post(
        "/api/students",
        api_payload(
            other_school_user.unit.school, id_type="2", id_number=number, born=date(2016, 6, 1)
        ),
        content_type="application/json",
    )
    assert again.status_code == 409
    bodies = [
        created.content,
        again.content,
        client.post("/api/students/validate", payload, content_type="application/json").content,
        client.get("/api/students").content,
        search(client, number).content,
        client.get(f"/api/students/{student['id']}").content,
    ]
    assert search(client, number).json()["items"][0]["id"] == student["id"]
    for content in bodies:
        assert_full_id_absent(content, number)


def test_same_id_again_is_409_duplicate_id(school_user, school, other_school_user, other_school):
    first = client_for(school_user).post(
        "/api/students", api_payload(school), content_type="application/json"
    )
    id_number = identity.read_id(Student.objects.get(pk=first.json()["student"]["id"]))
    payload = api_payload(other_school, id_number=id_number)
    before = registry_counts()
    response = client_for(other_school_user).post(
        "/api/students", payload, content_type="application/json"
    )
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "student.duplicate_id"
    # The holder is in another province: its school, not its number (issue 10, finding 2).
    assert school.name in body["message"] and "student_id" not in body["detail"]
    assert identity.mask_student_number("G" + id_number) not in response.content.decode()
    assert "G" + id_number not in response.content.decode()
    # Nothing written but the audit row of the check that met a record outside scope.
    assert registry_counts() == {**before, "audit": before["audit"] + 1}


def test_similar_student_is_409_possible_duplicate_with_candidates(school_user, school):
    client = client_for(school_user)
    first = client.post(
        "/api/students",
        api_payload(school, name="张伟", born=date(2017, 3, 8)),
        content_type="application/json",
    ).json()["student"]
    # Same birth date and sex, a homophone name, registered again without the ID.
    payload = api_payload(school, name="张玮", born=date(2017, 3, 8), id_type="", id_number="")
    before = registry_counts()
    response = client.post("/api/students", payload, content_type="application/json")
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "student.possible_duplicate"
    candidates = body["detail"]["candidates"]
    assert [c["student_id"] for c in candidates] == [first["id"]]
    assert candidates[0]["number_masked"] == first["number_masked"] and candidates[0]["reasons"]
    assert "number" not in candidates[0]
    assert registry_counts() == before
    # The clerk looked and confirms a different person.
    confirmed = client.post(
        "/api/students", {**payload, "confirm_distinct": True}, content_type="application/json"
    )
    assert confirmed.status_code == 201
    assert Student.objects.count() == 2


def test_known_student_is_409_then_reactivated_with_200(school_user, school, make_student):
    student = make_student(name="林返校")
    StatusRecord.objects.filter(pk=student.pk).update(state=StatusState.DROPPED_OUT)
    payload = api_payload(
        school,
        name="林返校",
        id_number=identity.read_id(student),
        born=student.birth_date,
        sex_code=student.sex,
        grade="14",
    )
    client = client_for(school_user)
    before = registry_counts()
    refused = client.post("/api/students", payload, content_type="application/json")
    assert refused.status_code == 409
    assert refused.json()["code"] == "student.known"
    assert refused.json()["detail"]["student_id"] == student.pk
    assert registry_counts() == before
    # when
    response = client.post(
        "/api/students", {**payload, "reactivate": True}, content_type="application/json"
    )
    # then
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["reactivated"] is True
    assert body["student"]["id"] == student.pk and body["student"]["number"] == student.number
    assert (body["student"]["state"], body["student"]["grade"]) == ("enrolled", "14")
    assert [e["kind"] for e in body["student"]["history"]] == ["register", "reactivate"]
    assert Student.objects.count() == 1


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("birth_date", "2017-02-30", "date.invalid"),
        ("sex", "3", "sex.invalid"),
        ("grade", "41", "grade.unknown"),
        ("name", "张3", "name.invalid"),
        ("id_number", "440106201703080021", "id.checksum"),
    ],
)
def test_bad_field_is_422_with_field_errors(field, value, code, school_user, school):
    payload = api_payload(school)
    if code == "id.checksum":
        good = payload["id_number"]
        value = good[:17] + ("1" if good[17] != "1" else "2")
    payload[field] = value
    before = registry_counts()
    response = client_for(school_user).post(
        "/api/students", payload, content_type="application/json"
    )
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "validation_failed"
    assert (field, code) in {(e["field"], e["code"]) for e in body["errors"]}
    assert all(e["message"] for e in body["errors"])
    assert registry_counts() == before


def test_payload_missing_required_keys_is_422(school_user):
    response = client_for(school_user).post(
        "/api/students", {"name": "王小明"}, content_type="application/json"
    )
    assert response.status_code == 422


# ----------------------------------------------------------------- validate without saving


def test_validate_writes_nothing_and_reports_each_outcome(school_user, school, make_student):
    known = make_student(name="周知名", born=date(2016, 2, 2), sex_code="1")
    client = client_for(school_user)
    before = registry_counts()

    def validate(**overrides) -> dict:
        response = client.post(
            "/api/students/validate",
            api_payload(school, **overrides),
            content_type="application/json",
        )
        assert response.status_code == 200, response.content
        return response.json()

    fine = validate(name="吴新生", born=date(2015, 5, 5))
    assert (fine["ok"], fine["errors"], fine["candidates"], fine["number_kind"]) == (
        True,
        [],
        [],
        "G",
    )
    duplicate = validate(
        name="周知名", id_number=identity.read_id(known), born=known.birth_date, sex_code="1"
    )
    assert duplicate["ok"] is False
    assert (duplicate["existing_number_masked"], duplicate["existing_action"]) == (
        known.number_masked,
        "refuse",
    )
    similar = validate(name="周知明", born=date(2016, 2, 2), sex_code="1", id_type="", id_number="")
    assert similar["ok"] is False and [c["student_id"] for c in similar["candidates"]] == [known.pk]
    broken = validate(sex="9")
    assert broken["ok"] is False and broken["errors"][0]["field"] == "sex"
    # nothing written but the reads of the student the answers named (audited reads)
    reads = AuditEvent.objects.filter(action="student.read").order_by("pk")
    assert [int(e.object_id) for e in reads] == [known.pk, known.pk]
    assert registry_counts() == {**before, "audit": before["audit"] + 2}


# ----------------------------------------------------------------- lists


def test_keyset_pagination_walks_every_row_exactly_once(make_student, school_user):
    students = enrol(make_student, 7)
    client = client_for(school_user)
    seen, cursor, pages = [], None, 0
    while True:
        query = f"?limit=3&after={cursor}" if cursor else "?limit=3"
        page = client.get(f"/api/students{query}").json()
        seen += [row["id"] for row in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert cursor == page["items"][-1]["id"]
    assert seen == sorted(s.pk for s in students)
    assert pages == 3


def test_exact_page_size_ends_with_no_cursor(make_student, school_user):
    enrol(make_student, 3)
    page = client_for(school_user).get("/api/students?limit=3").json()
    assert len(page["items"]) == 3 and page["next_cursor"] is None


def test_rows_carry_masked_ids_and_school(make_student, school_user, school):
    student = make_student()
    row = client_for(school_user).get("/api/students").json()["items"][0]
    number = identity.read_id(student)
    assert row["id_number_masked"] == number[:6] + "********" + number[-4:]
    assert (row["school_id"], row["school_name"]) == (school.pk, school.name)


def test_search_by_number_name_and_id(make_student, school_user):
    target = enrol(make_student, 4)[0]
    client = client_for(school_user)

    def found(term: str) -> list[int]:
        # Numbers go in the body of the search endpoint (never in a URL); names may use GET.
        if search_module.is_sensitive(term):
            return [r["id"] for r in search(client, term).json()["items"]]
        return [r["id"] for r in client.get("/api/students", {"q": term}).json()["items"]]

    assert found(target.number) == [target.pk]
    assert found(target.number.lower()) == [target.pk]
    assert found(target.name) == [target.pk]
    number = identity.read_id(target)
    assert found(number) == [target.pk]
    assert found(f"  {number} ") == [target.pk]
    # Exact search: a fragment of a name or number finds nobody.
    assert found(target.name[:2]) == []
    assert found(number[:10]) == []


def test_search_by_id_accepts_a_lower_case_x(make_student, school_user):
    number = id_with_x()
    student = make_student(id_number=number)
    assert identity.read_id(student).endswith("X")
    items = search(client_for(school_user), number.lower()).json()["items"]
    assert [r["id"] for r in items] == [student.pk]


def test_filters_by_school_grade_class_and_state(make_student, county_user, school):
    from tests.factories import SchoolFactory

    neighbour = SchoolFactory(division_code="440106")
    clerk = make_user(neighbour.unit)
    a = make_student(name="甲同学", born=date(2016, 1, 1), grade="13", class_name="1班")
    b = make_student(name="乙同学", born=date(2016, 4, 1), grade="14", class_name="1班")
    c = make_student(name="丙同学", born=date(2016, 7, 1), grade="13", class_name="2班")
    d = make_student(school=neighbour, actor=clerk, name="丁同学", born=date(2016, 10, 1))
    StatusRecord.objects.filter(pk=c.pk).update(state=StatusState.SUSPENDED)
    client = client_for(county_user)

    def ids(**params) -> set[int]:
        return {r["id"] for r in client.get("/api/students", params).json()["items"]}

    assert ids() == {a.pk, b.pk, c.pk, d.pk}
    assert ids(school_id=school.pk) == {a.pk, b.pk, c.pk}
    assert ids(school_id=neighbour.pk) == {d.pk}
    assert ids(grade="13", school_id=school.pk) == {a.pk, c.pk}
    assert ids(class_name="1班") == {a.pk, b.pk}
    assert ids(state="suspended") == {c.pk}
    assert ids(grade="13", class_name="2班", state="enrolled") == {d.pk}
    assert ids(grade="13", class_name="2班", state="enrolled", school_id=school.pk) == set()


def test_limit_is_clamped(make_student, school_user):
    enrol(make_student, 2)
    client = client_for(school_user)
    assert len(client.get("/api/students?limit=0").json()["items"]) == 1
    assert len(client.get("/api/students?limit=100000").json()["items"]) == 2


@pytest.mark.parametrize("via", ["session", "token"])
def test_list_query_count_does_not_grow_with_page_size(
    via, make_student, school_user, django_assert_max_num_queries
):
    enrol(make_student, 10)
    client = client_for(school_user, via)
    client.get("/api/students?limit=1")  # warm caches (token last-used stamp, code tables)
    with CaptureQueriesContext(connection) as one_row:
        assert len(client.get("/api/students?limit=1").json()["items"]) == 1
    with django_assert_max_num_queries(len(one_row.captured_queries)):
        assert len(client.get("/api/students?limit=10").json()["items"]) == 10


def test_detail_query_count_does_not_grow_with_history(
    make_student, school_user, django_assert_max_num_queries
):
    student = make_student()
    client = client_for(school_user)
    client.get(f"/api/students/{student.pk}")
    with CaptureQueriesContext(connection) as short:
        client.get(f"/api/students/{student.pk}")
    record = student.record
    for day in range(5):
        StatusEvent.objects.create(
            record=record,
            kind="register",
            occurred_at=clock.now(),
            effective_date=date(2024, 10, 1 + day),
            to_state="enrolled",
            school=record.school,
            stage="1",
            grade="13",
        )
    with django_assert_max_num_queries(len(short.captured_queries)):
        assert len(client.get(f"/api/students/{student.pk}").json()["history"]) == 6


# ----------------------------------------------------------------- as of a date


def test_as_of_returns_the_state_on_a_date(make_student, school_user, school):
    student = make_student(name="郭时光", entry_date="2024-09")
    StatusRecord.objects.filter(pk=student.pk).update(state=StatusState.DROPPED_OUT)
    client = client_for(school_user)
    reactivated = client.post(
        "/api/students",
        {
            **api_payload(
                school,
                name="郭时光",
                id_number=identity.read_id(student),
                born=student.birth_date,
                sex_code=student.sex,
                grade="15",
            ),
            "reactivate": True,
        },
        content_type="application/json",
    )
    assert reactivated.status_code == 200
    today = clock.today()

    def as_of(on: date) -> dict:
        response = client.get(f"/api/students/{student.pk}/as-of", {"on": on.isoformat()})
        assert response.status_code == 200
        return response.json()

    before_entry = as_of(date(2024, 8, 31))
    assert before_entry["found"] is False and before_entry["event"] is None
    on_entry = as_of(date(2024, 9, 1))
    assert on_entry["found"] is True
    assert (on_entry["event"]["kind"], on_entry["event"]["grade"]) == ("register", "13")
    assert as_of(today - timedelta(days=1))["event"]["kind"] == "register"
    now = as_of(today)["event"]
    assert (now["kind"], now["grade"], now["to_state"]) == ("reactivate", "15", "enrolled")


def test_as_of_needs_a_valid_date(make_student, school_user):
    student = make_student()
    client = client_for(school_user)
    assert client.get(f"/api/students/{student.pk}/as-of").status_code == 422
    assert client.get(f"/api/students/{student.pk}/as-of?on=2025-13-01").status_code == 422
