"""先培训后上岗: recording training, who lacks valid training, and the clerks' workload."""

import csv
import io
from datetime import date, timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.factories import SchoolFactory, authority_user, make_user
from xueji import clock
from xueji.accounts.models import Role, TrainingRecord
from xueji.accounts.selectors import clerk_workload, clerks_without_training, has_valid_training
from xueji.accounts.services import training_record_create
from xueji.audit.models import AuditEvent
from xueji.errors import Forbidden, NotFound, ValidationFailed

SYS = Role.SYSTEM_ADMIN


@pytest.fixture
def county_admin(db):
    return authority_user("440106", roles=(SYS,))


def record(actor, user, **overrides):
    today = clock.today()
    data = {
        "course": "学籍管理员岗前培训",
        "completed_on": today - timedelta(days=10),
        "certificate_no": "PX-2026-001",
        "expires_on": today + timedelta(days=700),
    }
    data.update(overrides)
    return training_record_create(actor=actor, user_id=user.pk, **data)


def untrained_clerk(unit):
    return make_user(unit, in_service=False)


# ---------------------------------------------------------------- recording


def test_a_system_admin_above_records_a_clerks_training(county_admin, school):
    clerk = untrained_clerk(school.unit)
    assert not has_valid_training(clerk)
    saved = record(county_admin, clerk)
    assert saved.recorded_by == county_admin.username
    assert has_valid_training(clerk)
    event = AuditEvent.objects.get(action="training.record")
    assert event.object_id == str(clerk.pk)
    assert event.detail["certificate_no"] == "PX-2026-001"


def test_the_schools_own_system_admin_records_too(db, school):
    school_admin = make_user(school.unit, roles=(SYS,))
    clerk = untrained_clerk(school.unit)
    assert not has_valid_training(clerk)
    saved = record(school_admin, clerk)
    assert saved.recorded_by == school_admin.username
    assert has_valid_training(clerk)


def test_only_a_system_admin_in_the_subtree_records(db, school):
    clerk = untrained_clerk(school.unit)
    for actor in (authority_user("440106"), authority_user("440106", roles=(Role.SECURITY_ADMIN,))):
        with pytest.raises(Forbidden):
            record(actor, clerk)
    for actor in (
        authority_user("440104", roles=(SYS,)),
        make_user(SchoolFactory(division_code="440106").unit, roles=(SYS,)),
    ):
        with pytest.raises(NotFound):
            record(actor, clerk)
    assert not TrainingRecord.objects.filter(user=clerk).exists()
    assert AuditEvent.objects.filter(action="account.refused").count() == 4


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"course": ""}, "training.course_missing"),
        ({"certificate_no": " "}, "training.certificate_missing"),
        ({"completed_on": None}, "training.date_missing"),
        ({"completed_on": date(2099, 1, 1)}, "training.date_future"),
        ({"expires_on": None}, "training.expiry_missing"),
        ({"expires_on": date(2000, 1, 1)}, "training.expiry_before"),
    ],
)
def test_bad_training_records_are_refused_and_recorded(county_admin, school, overrides, code):
    clerk = untrained_clerk(school.unit)
    with pytest.raises(ValidationFailed) as refused:
        record(county_admin, clerk, **overrides)
    assert code in {e.code for e in refused.value.errors}
    assert not TrainingRecord.objects.filter(user=clerk).exists()
    assert AuditEvent.objects.get(action="account.refused").detail["reasons"] == [
        e.code for e in refused.value.errors
    ]


# ---------------------------------------------------------------- who lacks training


def test_clerks_without_valid_training(county_admin, school, other_school):
    today = clock.today()
    missing = untrained_clerk(school.unit)
    expired = untrained_clerk(school.unit)
    TrainingRecord.objects.create(
        user=expired,
        course="c",
        completed_on=today - timedelta(days=800),
        certificate_no="1",
        expires_on=today - timedelta(days=1),
        recorded_at=clock.now(),
    )
    expiring_today = untrained_clerk(school.unit)
    TrainingRecord.objects.create(
        user=expiring_today,
        course="c",
        completed_on=today - timedelta(days=30),
        certificate_no="2",
        expires_on=today,
        recorded_at=clock.now(),
    )
    trained = make_user(school.unit)  # the factory files a record
    reviewer = make_user(school.unit, roles=(Role.REVIEWER,), in_service=False)
    far_away = untrained_clerk(other_school.unit)
    found = set(clerks_without_training(county_admin).values_list("pk", flat=True))
    assert found == {missing.pk, expired.pk}
    assert not {expiring_today.pk, trained.pk, reviewer.pk, far_away.pk} & found
    # Tomorrow the one expiring today lacks it too.
    tomorrow = set(
        clerks_without_training(county_admin, today=today + timedelta(days=1)).values_list(
            "pk", flat=True
        )
    )
    assert expiring_today.pk in tomorrow


# ---------------------------------------------------------------- workload


def test_workload_counts_students_on_roll_and_operations_in_the_period(
    county_admin, school, school_user, make_student
):
    for _ in range(3):
        make_student()
    other = make_user(SchoolFactory(division_code="440106").unit)
    county_clerk = make_user(county_admin.unit)
    rows = {
        r.user.pk: r
        for r in clerk_workload(
            county_admin, date_from=clock.today() - timedelta(days=30), date_to=clock.today()
        )
    }
    assert set(rows) == {school_user.pk, other.pk, county_clerk.pk}
    assert rows[school_user.pk].students == 3
    assert rows[school_user.pk].operations >= 3  # each registration is audited
    assert rows[other.pk].students == 0 and rows[other.pk].operations == 0
    # A county clerk's unit is the county: every student on roll in it.
    assert rows[county_clerk.pk].students == 3
    assert all(r.trained for r in rows.values())
    # A period before any of it counts no operation.
    earlier = clerk_workload(county_admin, date_from=date(2020, 1, 1), date_to=date(2020, 12, 31))
    assert all(r.operations == 0 for r in earlier)


def test_workload_is_a_few_grouped_queries(county_admin, school):
    def queries_for(n: int) -> int:
        for _ in range(n):
            make_user(SchoolFactory(division_code="440106").unit)
            make_user(county_admin.unit)
        with CaptureQueriesContext(connection) as captured:
            clerk_workload(county_admin, date_from=date(2026, 1, 1), date_to=date(2026, 1, 31))
        return len(captured)

    assert queries_for(1) == queries_for(5)


def test_workload_page_and_csv(county_admin, school_user, make_student):
    make_student()
    client = Client()
    client.force_login(county_admin)
    page = client.get("/accounts/workload/")
    assert page.status_code == 200
    assert school_user.username in page.content.decode()
    response = client.get("/accounts/workload.csv?date_from=2020-01-01")
    assert response.status_code == 200
    assert response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:5] == ["单位", "用户名", "姓名", "在籍学生数", "期间操作数"]
    [row] = [r for r in rows[1:] if r[1] == school_user.username]
    assert row[3] == "1" and row[6] == "2020-01-01"


def test_a_reversed_period_is_refused(county_admin):
    client = Client()
    client.force_login(county_admin)
    response = client.get("/api/accounts/workload?date_from=2026-02-01&date_to=2026-01-01")
    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "period.reversed"


def test_workload_is_not_for_clerks_or_reviewers(school_user, county_user):
    for user in (school_user, county_user):
        client = Client()
        client.force_login(user)
        assert client.get("/accounts/workload/").status_code == 403
        assert client.get("/api/accounts/workload").status_code == 403
