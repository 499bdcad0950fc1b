"""The rule-set pages: the rules in force with their sources, one version with its diff,
and the edit page that publishes only what differs from the layer below."""

import pytest
from django.test import Client

from xueji.changes.models import RuleSet
from xueji.changes.rules import ChangeType
from xueji.changes.rulesets import ruleset_edit_context, ruleset_publish

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def form_data(actor, province_code: str) -> dict:
    """What the edit page posts when nothing is changed: every field at its initial value."""
    context = ruleset_edit_context(actor, province_code)
    data: dict = {"note": "", "effective_from": ""}
    for change_type in ChangeType.values:
        rule = context.current[change_type]
        if rule["enabled"]:
            data[f"{change_type}-enabled"] = "on"
        if change_type == ChangeType.TRANSFER:
            for position, party in enumerate(rule["chain"], start=1):
                data[f"{change_type}-chain_{position}"] = party
        else:
            data[f"{change_type}-chain"] = list(rule["chain"])
        data[f"{change_type}-step_days"] = str(rule["step_days"])
        data[f"{change_type}-materials"] = list(rule["materials"])
        prefix = f"{change_type}-blocked"
        blocks = rule["blocked"]
        data[f"{prefix}-TOTAL_FORMS"] = str(len(blocks) + 2)
        data[f"{prefix}-INITIAL_FORMS"] = str(len(blocks))
        data[f"{prefix}-MIN_NUM_FORMS"] = "0"
        data[f"{prefix}-MAX_NUM_FORMS"] = "1000"
        for index, block in enumerate(blocks):
            row = f"{prefix}-{index}"
            data[f"{row}-grades"] = list(block["grades"])
            data[f"{row}-semester"] = str(block["semester"])
            data[f"{row}-from_md"] = block["from_md"]
            data[f"{row}-to_md"] = block["to_md"]
            data[f"{row}-note"] = block["note"]
        for index in range(len(blocks), len(blocks) + 2):
            data[f"{prefix}-{index}-semester"] = "0"
    return data


# ----------------------------------------------------------------- the overview


def test_overview_shows_the_province_rules_with_their_sources(province_user, county_user):
    ruleset_publish(
        actor=province_user,
        province_code="44",
        rules={"transfer": {"step_days": 7}},
        note="广东转学时限",
    )
    response = client_for(county_user).get("/rules/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "学籍变动规则 · 广东省" in html
    assert "7 个工作日" in html
    assert "广东省第1版" in html  # the source of the transfer days
    assert "系统默认" in html
    assert "广东转学时限" in html  # the history
    assert "全国默认规则（系统默认值）" in html  # national v1 in the history
    # a county reads, never edits
    assert "/rules/44/edit/" not in html


def test_overview_offers_editing_to_the_province(province_user):
    html = client_for(province_user).get("/rules/").content.decode()
    assert "/rules/44/edit/" in html
    assert "/rules/national/edit/" not in html


def test_a_national_account_picks_a_province(national_user):
    client = client_for(national_user)
    first = client.get("/rules/").content.decode()
    assert 'name="province"' in first and "四川省" in first
    assert "/rules/national/edit/" in first
    response = client.get("/rules/?province=51")
    assert response.status_code == 200
    html = response.content.decode()
    assert "学籍变动规则 · 四川省" in html
    assert "/rules/51/edit/" in html


def test_another_province_reads_as_not_found(county_user, school_user):
    for actor in (county_user, school_user):
        assert client_for(actor).get("/rules/?province=51").status_code == 404
    assert client_for(county_user).get("/rules/?province=national").status_code == 200


def test_an_unknown_province_reads_as_not_found(national_user):
    assert client_for(national_user).get("/rules/?province=77").status_code == 404


# ----------------------------------------------------------------- one version


def test_version_page_shows_the_diff_with_the_previous_version(province_user, county_user):
    ruleset_publish(
        actor=province_user, province_code="44", rules={"transfer": {"step_days": 8}}, note="一"
    )
    second = ruleset_publish(
        actor=province_user,
        province_code="44",
        rules={"transfer": {"step_days": 5}, "suspend": {"materials": ["application"]}},
        note="二",
    )
    response = client_for(county_user).get(f"/rules/versions/{second.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "与第1版相比的调整" in html
    assert "transfer.step_days" in html and "8 个工作日" in html and "5 个工作日" in html
    assert "suspend.materials" in html and "申请表" in html


def test_version_page_of_another_province_reads_as_not_found(national_user, county_user):
    sichuan = ruleset_publish(
        actor=national_user, province_code="51", rules={"skip": {"step_days": 3}}, note="川"
    )
    assert client_for(county_user).get(f"/rules/versions/{sichuan.pk}/").status_code == 404
    assert client_for(national_user).get(f"/rules/versions/{sichuan.pk}/").status_code == 200


# ----------------------------------------------------------------- editing


def test_edit_page_opens_for_the_province_and_the_national_level(province_user, national_user):
    response = client_for(province_user).get("/rules/44/edit/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="transfer-chain_1"' in html
    assert 'name="transfer-blocked-0-from_md"' in html
    assert 'name="death-step_days"' in html and 'max="60"' in html
    national = client_for(national_user)
    assert national.get("/rules/national/edit/").status_code == 200
    assert national.get("/rules/51/edit/").status_code == 200


def test_edit_page_is_refused_below_the_province(county_user, city_user, school_user):
    for actor in (county_user, city_user, school_user):
        assert client_for(actor).get("/rules/44/edit/").status_code == 403


def test_edit_page_of_another_province_reads_as_not_found(province_user):
    client = client_for(province_user)
    assert client.get("/rules/51/edit/").status_code == 404
    assert client.get("/rules/national/edit/").status_code == 403
    assert client.get("/rules/xx/edit/").status_code == 404


def test_publishing_saves_only_the_differences(province_user):
    data = form_data(province_user, "44")
    data["transfer-step_days"] = "7"
    data["transfer-chain_2"], data["transfer-chain_3"] = "sending_school", "receiving_authority"
    data["suspend-materials"] = ["application"]  # the medical proof no longer required
    del data["dropout-enabled"]
    # a new blocked period in the first blank row of 转学
    row = "transfer-blocked-2"
    data[f"{row}-grades"] = ["33"]
    data[f"{row}-semester"] = "2"
    data[f"{row}-from_md"] = "05-01"
    data[f"{row}-to_md"] = "06-30"
    data[f"{row}-note"] = "高考前不办理"
    data["note"] = "按省教育厅通知调整"
    # when
    response = client_for(province_user).post("/rules/44/edit/", data)
    # then
    ruleset = RuleSet.objects.get(province_code="44")
    assert response.status_code == 302
    assert response["Location"] == f"/rules/versions/{ruleset.pk}/"
    transfer = ruleset.rules["transfer"]
    assert set(transfer) == {"step_days", "chain", "blocked"}
    assert transfer["step_days"] == 7
    assert transfer["chain"] == [
        "receiving_school",
        "sending_school",
        "receiving_authority",
        "sending_authority",
    ]
    assert transfer["blocked"][-1] == {
        "grades": ["33"],
        "semester": 2,
        "from_md": "05-01",
        "to_md": "06-30",
        "note": "高考前不办理",
    }
    assert len(transfer["blocked"]) == 3  # the two defaults kept
    assert ruleset.rules["suspend"] == {"materials": ["application"]}
    assert ruleset.rules["dropout"] == {"enabled": False}
    assert set(ruleset.rules) == {"transfer", "suspend", "dropout"}
    assert ruleset.note == "按省教育厅通知调整"


def test_a_value_set_back_to_the_layer_below_is_dropped(province_user):
    ruleset_publish(
        actor=province_user,
        province_code="44",
        rules={"transfer": {"step_days": 7}, "skip": {"step_days": 4}},
        note="一",
    )
    data = form_data(province_user, "44")
    assert data["transfer-step_days"] == "7"
    data["transfer-step_days"] = "10"  # the national value again
    data["note"] = "恢复转学时限"
    assert client_for(province_user).post("/rules/44/edit/", data).status_code == 302
    latest = RuleSet.objects.filter(province_code="44").order_by("-version").first()
    assert latest is not None and latest.version == 2
    assert latest.rules == {"skip": {"step_days": 4}}


def test_deleting_a_blocked_period(province_user):
    data = form_data(province_user, "44")
    data["transfer-blocked-0-DELETE"] = "on"
    data["note"] = "起始年级第一学期也可转学"
    assert client_for(province_user).post("/rules/44/edit/", data).status_code == 302
    blocked = RuleSet.objects.get(province_code="44").rules["transfer"]["blocked"]
    assert [b["note"] for b in blocked] == ["毕业年级第二学期不办理转学"]


def test_errors_are_shown_on_their_fields_and_nothing_is_published(province_user):
    data = form_data(province_user, "44")
    data["transfer-chain_4"] = ""  # a party missing
    data["suspend-step_days"] = "12"
    data["death-step_days"] = "61"
    data["transfer-blocked-2-from_md"] = "13-40"
    data["transfer-blocked-2-note"] = "坏日期"
    data["note"] = "试一试"
    response = client_for(province_user).post("/rules/44/edit/", data)
    assert response.status_code == 422
    html = response.content.decode()
    assert "转学须由转入学校、转出学校和双方学籍主管部门四方核办" in html
    assert "办理时限须为 1 至 10 个工作日" in html
    assert "办理时限须为 1 至 60 个工作日" in html
    assert "日期须为 MM-DD" in html
    assert "transfer.blocked[2].from_md" in html  # the path in the summary
    assert 'href="#rule-transfer"' in html and 'href="#rule-suspend"' in html
    assert '<details class="xj-fieldset" id="rule-transfer" open>' in html
    assert not RuleSet.objects.filter(province_code="44").exists()


def test_a_note_is_required(province_user):
    data = form_data(province_user, "44")
    data["transfer-step_days"] = "9"
    response = client_for(province_user).post("/rules/44/edit/", data)
    assert response.status_code == 422
    assert "请填写本次调整的说明" in response.content.decode()
    assert not RuleSet.objects.filter(province_code="44").exists()


def test_posting_is_refused_below_the_province(county_user, province_user):
    data = form_data(province_user, "44")
    data["transfer-step_days"] = "9"
    data["note"] = "县级试图调整"
    assert client_for(county_user).post("/rules/44/edit/", data).status_code == 403
    assert not RuleSet.objects.filter(province_code="44").exists()


def test_the_national_level_publishes_the_national_layer(national_user):
    data = form_data(national_user, "")
    data["abroad-step_days"] = "6"
    data["note"] = "全国出境学习时限"
    data["effective_from"] = "2099-09-01T00:00"
    assert client_for(national_user).post("/rules/national/edit/", data).status_code == 302
    latest = RuleSet.objects.filter(province_code="").order_by("-version").first()
    assert latest is not None and latest.version == 2
    assert latest.rules == {"abroad": {"step_days": 6}}
    assert latest.effective_from.year == 2099  # scheduled
