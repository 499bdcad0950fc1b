"""The rule-set API: the rules in force with their sources, a layer's versions, publishing."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from xueji import clock
from xueji.changes.models import RuleSet
from xueji.changes.rulesets import ruleset_publish

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def post(client: Client, body: dict):
    return client.post("/api/rules/versions", body, content_type="application/json")


# ----------------------------------------------------------------- reading


def test_effective_rules_name_the_source_of_each_value(province_user, county_user):
    ruleset_publish(
        actor=province_user, province_code="44", rules={"transfer": {"step_days": 6}}, note="一"
    )
    response = client_for(county_user).get("/api/rules?province=44")
    assert response.status_code == 200
    body = response.json()
    assert (body["province_code"], body["province_name"]) == ("44", "广东省")
    assert (body["national_version"], body["province_version"]) == (1, 1)
    transfer = next(t for t in body["types"] if t["change_type"] == "transfer")
    assert transfer["step_days"] == 6
    assert transfer["sources"]["step_days"] == {
        "layer": "province",
        "version": 1,
        "province_code": "44",
        "label": "广东省第1版",
    }
    assert transfer["sources"]["chain"]["layer"] == "default"
    assert transfer["blocked"][0] == {
        "grades": ["entry"],
        "semester": 1,
        "from_md": "",
        "to_md": "",
        "note": "起始年级第一学期不办理转学",
    }
    assert len(body["types"]) == 18


def test_effective_rules_default_to_the_callers_province(county_user, national_user):
    assert client_for(county_user).get("/api/rules").json()["province_code"] == "44"
    assert client_for(national_user).get("/api/rules").json()["province_code"] == ""
    assert client_for(county_user).get("/api/rules?province=national").json()["province_code"] == ""


def test_effective_rules_at_a_later_time_include_a_scheduled_version(province_user, county_user):
    later = clock.now() + timedelta(days=30)
    ruleset_publish(
        actor=province_user,
        province_code="44",
        rules={"suspend": {"step_days": 4}},
        note="下月起",
        effective_from=later,
    )
    client = client_for(county_user)
    now_body = client.get("/api/rules?province=44").json()
    assert now_body["province_version"] is None
    at = (later + timedelta(minutes=1)).isoformat().replace("+", "%2B")
    later_body = client.get(f"/api/rules?province=44&at={at}").json()
    assert later_body["province_version"] == 1
    suspend = next(t for t in later_body["types"] if t["change_type"] == "suspend")
    assert suspend["step_days"] == 4


def test_a_time_without_offset_is_shanghai_time(province_user, county_user):
    ruleset_publish(
        actor=province_user,
        province_code="44",
        rules={"suspend": {"step_days": 4}},
        note="2099 年起",
        effective_from=datetime(2099, 1, 1, 8, 0, tzinfo=SHANGHAI),
    )
    client = client_for(county_user)
    before = client.get("/api/rules?province=44&at=2099-01-01T07:59:00").json()
    after = client.get("/api/rules?province=44&at=2099-01-01T08:00:00").json()
    assert (before["province_version"], after["province_version"]) == (None, 1)


def test_another_province_reads_as_not_found(county_user, other_school_user):
    assert client_for(county_user).get("/api/rules?province=51").status_code == 404
    assert client_for(other_school_user).get("/api/rules?province=44").status_code == 404
    assert client_for(county_user).get("/api/rules/versions?province=51").status_code == 404


def test_rules_are_visible_nationally(national_user, province_user):
    ruleset_publish(
        actor=province_user, province_code="44", rules={"skip": {"step_days": 3}}, note="广东"
    )
    client = client_for(national_user)
    assert client.get("/api/rules?province=44").status_code == 200
    versions = client.get("/api/rules/versions?province=44").json()
    assert [(v["version"], v["status"], v["note"]) for v in versions] == [(1, "in_force", "广东")]
    assert versions[0]["rules"] == {"skip": {"step_days": 3}}
    assert versions[0]["created_by"] == province_user.username


def test_versions_list_newest_first_with_their_status(province_user):
    ruleset_publish(
        actor=province_user, province_code="44", rules={"skip": {"step_days": 3}}, note="一"
    )
    ruleset_publish(
        actor=province_user, province_code="44", rules={"skip": {"step_days": 4}}, note="二"
    )
    ruleset_publish(
        actor=province_user,
        province_code="44",
        rules={"skip": {"step_days": 5}},
        note="三",
        effective_from=clock.now() + timedelta(days=3),
    )
    versions = client_for(province_user).get("/api/rules/versions?province=44").json()
    assert [(v["version"], v["status"]) for v in versions] == [
        (3, "scheduled"),
        (2, "in_force"),
        (1, "superseded"),
    ]


# ----------------------------------------------------------------- publishing


def test_a_province_publishes_its_own_version(province_user):
    response = post(
        client_for(province_user),
        {"province_code": "44", "rules": {"transfer": {"step_days": 8}}, "note": "接口发布"},
    )
    assert response.status_code == 201
    body = response.json()
    assert (body["province_code"], body["version"], body["status"]) == ("44", 1, "in_force")
    assert RuleSet.objects.get(province_code="44").rules == {"transfer": {"step_days": 8}}


def test_a_scheduled_version_over_the_api(national_user):
    when = (clock.now() + timedelta(days=5)).isoformat()
    response = post(
        client_for(national_user),
        {
            "province_code": "51",
            "rules": {"skip": {"step_days": 2}},
            "note": "川",
            "effective_from": when,
        },
    )
    assert response.status_code == 201
    assert response.json()["status"] == "scheduled"


def test_invalid_rules_answer_422_with_every_path(province_user):
    response = post(
        client_for(province_user),
        {
            "province_code": "44",
            "rules": {
                "transfer": {
                    "chain": ["receiving_school", "sending_school"],
                    "blocked": [{"from_md": "02-30"}],
                },
                "death": {"step_days": 90},
                "nonsense": {},
            },
            "note": "错",
        },
    )
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "validation_failed"
    assert {(e["field"], e["code"]) for e in body["errors"]} == {
        ("transfer.chain", "rule.chain_incomplete"),
        ("transfer.blocked[0].from_md", "rule.md_invalid"),
        ("death.step_days", "rule.days_invalid"),
        ("nonsense", "rule.type_unknown"),
    }
    assert not RuleSet.objects.filter(province_code="44").exists()


def test_publishing_is_refused_below_the_province(county_user, city_user, school_user):
    body = {"province_code": "44", "rules": {"transfer": {"step_days": 8}}, "note": "越权"}
    for actor in (county_user, city_user, school_user):
        assert post(client_for(actor), body).status_code == 403
    assert not RuleSet.objects.filter(province_code="44").exists()


def test_a_province_cannot_publish_for_another_or_for_the_nation(province_user):
    client = client_for(province_user)
    body = {"rules": {"transfer": {"step_days": 8}}, "note": "越权"}
    assert post(client, {**body, "province_code": "51"}).status_code == 404
    assert post(client, {**body, "province_code": ""}).status_code == 403


def test_anonymous_is_refused():
    assert Client().get("/api/rules?province=44").status_code == 401
    assert post(Client(), {"province_code": "44", "rules": {}, "note": "x"}).status_code == 401
