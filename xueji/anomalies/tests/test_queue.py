"""The review queue, through the pages and the API: who sees which findings (my unit, the
units below), a pair side by side with its differences marked, the verdicts and the merge
with its undo as plain forms, the attendance upload, and lists whose query count does not
grow with their rows."""

import re
from datetime import date

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.factories import SchoolFactory, authority_user, make_user
from xueji.accounts.models import Role
from xueji.anomalies.models import Finding, MergeRecord
from xueji.anomalies.rules import FindingKind, FindingState, MergeState
from xueji.anomalies.services import detect_all
from xueji.enrolment.models import StatusRecord
from xueji.enrolment.rules import StatusState
from xueji.students import identity

from .planting import TODAY, hold, register

pytestmark = pytest.mark.django_db


@pytest.fixture
def held(monkeypatch):
    return hold(monkeypatch)


@pytest.fixture
def planted(held, school):
    """At school A: a duplicate pair (routed to the school) and an over-age pupil; at a
    neighbour school of the county: a pair split across both schools (the county's)."""
    neighbour = SchoolFactory(division_code="440106", name="天河区第二小学")
    first = register(school, name="黄小明")
    second = register(school, name="黄小明", with_id=False)
    aged = register(school, name="周大年", born=date(2012, 1, 5))
    split_a = register(school, name="林小雨")
    split_b = register(neighbour, name="林小雨", with_id=False)
    detect_all(kinds=[FindingKind.DUPLICATE, FindingKind.AGE_GRADE])
    return {
        "school_pair": Finding.objects.get(kind=FindingKind.DUPLICATE, student=first),
        "county_pair": Finding.objects.get(kind=FindingKind.DUPLICATE, student=split_a),
        "aged": Finding.objects.get(kind=FindingKind.AGE_GRADE, student=aged),
        "first": first,
        "second": second,
        "split": (split_a, split_b),
    }


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def ids_on(html: str) -> set[int]:
    return {int(n) for n in re.findall(r'href="/anomalies/(\d+)/"', html)}


def test_each_unit_sees_its_own_findings_and_an_authority_those_below(planted, school_user):
    county = authority_user("440106")
    # the school: its own pair and its over-age pupil
    page = client_for(school_user).get("/anomalies/")
    assert page.status_code == 200
    assert ids_on(page.content.decode()) == {planted["school_pair"].pk, planted["aged"].pk}
    # the county: the split pair is its own; the school's findings are one tab further
    mine = client_for(county).get("/anomalies/").content.decode()
    below = client_for(county).get("/anomalies/?tab=subtree").content.decode()
    assert ids_on(mine) == {planted["county_pair"].pk}
    assert ids_on(below) == {planted["school_pair"].pk, planted["aged"].pk}
    # another county: nothing, and no name leaks
    other = client_for(authority_user("440104")).get("/anomalies/?tab=subtree").content.decode()
    assert ids_on(other) == set()
    assert "黄小明" not in other


def test_the_queue_filters_by_kind(planted):
    county = authority_user("440106")
    page = client_for(county).get("/anomalies/?tab=subtree&kind=age_grade").content.decode()
    assert ids_on(page) == {planted["aged"].pk}


def test_the_queue_searches_either_student_by_part_of_the_name_or_number(planted):
    county = authority_user("440106")
    client = client_for(county)
    split_b = planted["split"][1]

    def found(query: dict) -> set[int]:
        # Posted as the search form does: the term never goes into a URL.
        response = client.post("/anomalies/", {"tab": "subtree", **query}, follow=True)
        return ids_on(response.content.decode())

    # part of a name; the second record of a pair (its whole L number, lower case: through
    # the blind index) finds the pair
    assert found({"q": "大年"}) == {planted["aged"].pk}
    second = planted["second"].number
    assert found({"q": second.lower()}) == {planted["school_pair"].pk}
    # the search stays inside the tab: the split pair is the county's own, not below
    assert found({"q": split_b.name}) == set()
    # the number as lists show it (copied from a list) finds it too: it is stored masked
    masked = split_b.number_masked
    assert ids_on(client.post("/anomalies/", {"q": masked}, follow=True).content.decode()) == {
        planted["county_pair"].pk
    }
    assert found({"q": "没有这个人"}) == set()


def test_a_pair_is_shown_side_by_side_with_its_differences_marked(planted, school_user):
    finding = planted["school_pair"]
    html = client_for(school_user).get(f"/anomalies/{finding.pk}/").content.decode()
    # A reviewer's comparison: both numbers masked, and still marked as different.
    assert planted["first"].number_masked in html and planted["second"].number_masked in html
    assert planted["first"].number not in html and planted["second"].number not in html
    differing = re.findall(r'<tr class="xj-differs">\s*<th scope="row"[^>]*>([^<]+)<', html)
    assert "学籍号" in differing
    assert "身份证件号" in differing
    assert "姓名" not in differing  # the same name is not marked
    assert "姓名相同" in html  # the reasons
    # the ID number is shown masked (as every list shows it)
    assert identity.masked_id(planted["first"]) in html
    # a clerk sees the pair but gets no merge form
    assert "/merge/" not in html


def test_a_reviewer_merges_and_undoes_through_the_pages(planted):
    county = authority_user("440106")
    client = client_for(county)
    finding = planted["school_pair"]
    detail = client.get(f"/anomalies/{finding.pk}/").content.decode()
    assert f'action="/anomalies/{finding.pk}/merge/"' in detail
    response = client.post(
        f"/anomalies/{finding.pk}/merge/",
        {"survivor_id": planted["first"].pk, "reason": "同一人，核对户籍"},
    )
    merge = MergeRecord.objects.get(finding=finding)
    assert response.status_code == 302
    assert response["Location"] == f"/anomalies/merges/{merge.pk}/"
    assert StatusRecord.objects.get(pk=planted["second"].pk).state == StatusState.CANCELLED
    page = client.get(response["Location"]).content.decode()
    assert merge.retired_number in page and "撤销合并" in page
    # undo needs a reason
    refused = client.post(f"/anomalies/merges/{merge.pk}/undo/", {"reason": ""})
    assert refused.status_code == 422
    assert "请填写理由" in refused.content.decode()
    undone = client.post(f"/anomalies/merges/{merge.pk}/undo/", {"reason": "合并有误"})
    assert undone.status_code == 302
    assert MergeRecord.objects.get(pk=merge.pk).state == MergeState.UNDONE
    assert StatusRecord.objects.get(pk=planted["second"].pk).state == StatusState.ENROLLED
    assert Finding.objects.get(pk=finding.pk).state == FindingState.OPEN


def test_different_people_and_dismissal_through_the_pages(planted):
    client = client_for(authority_user("440106"))
    pair, aged = planted["school_pair"], planted["aged"]
    missing = client.post(f"/anomalies/{pair.pk}/different/", {"different-reason": ""})
    assert missing.status_code == 422
    done = client.post(f"/anomalies/{pair.pk}/different/", {"different-reason": "双胞胎"})
    assert done.status_code == 302
    assert Finding.objects.get(pk=pair.pk).state == FindingState.DISMISSED
    dismissed = client.post(f"/anomalies/{aged.pk}/dismiss/", {"dismiss-reason": "经评估留级"})
    assert dismissed.status_code == 302
    assert Finding.objects.get(pk=aged.pk).resolution == "dismissed"
    # a finding already handled cannot be handled again
    again = client.post(f"/anomalies/{aged.pk}/dismiss/", {"dismiss-reason": "再次"})
    assert again.status_code == 409


def test_a_clerk_cannot_post_a_verdict(planted, school_user):
    response = client_for(school_user).post(
        f"/anomalies/{planted['school_pair'].pk}/different/", {"different-reason": "不是"}
    )
    assert response.status_code == 403
    assert Finding.objects.get(pk=planted["school_pair"].pk).state == FindingState.OPEN


def count_queries(client: Client, path: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(path).status_code == 200
    return len(queries)


def test_the_queue_does_not_grow_with_its_rows(held, school):
    county = authority_user("440106")
    client = client_for(county)
    register(school, name="黄小明")
    register(school, name="黄小明", with_id=False)
    detect_all(kinds=[FindingKind.DUPLICATE])
    # A first read creates the reader's audit chain head (two statements, once per chain):
    # warm it up so the counts compare page sizes, not first and later reads.
    count_queries(client, "/anomalies/?tab=subtree")
    few = count_queries(client, "/anomalies/?tab=subtree")
    api_few = count_queries(client, "/api/anomalies/findings?tab=subtree")
    for name in ("陈一", "陈二", "陈三", "陈四"):
        other = SchoolFactory(division_code="440106")
        register(school, name=name)
        register(other, name=name, with_id=False)
        register(other, born=date(2010, 3, 3))
    detect_all(kinds=[FindingKind.DUPLICATE, FindingKind.AGE_GRADE])
    assert count_queries(client, "/anomalies/?tab=subtree") == few
    assert count_queries(client, "/api/anomalies/findings?tab=subtree") == api_few


# ----------------------------------------------------------------- the API


def test_the_api_lists_shows_and_merges(planted):
    client = client_for(authority_user("440106"))
    listed = client.get("/api/anomalies/findings?tab=subtree&kind=duplicate").json()
    assert [item["id"] for item in listed["items"]] == [planted["school_pair"].pk]
    detail = client.get(f"/api/anomalies/findings/{planted['school_pair'].pk}").json()
    assert detail["suggested_survivor_id"] == planted["first"].pk  # the G number
    assert {row["label"] for row in detail["comparison"] if row["differs"]} >= {"学籍号"}
    merged = client.post(
        f"/api/anomalies/findings/{planted['school_pair'].pk}/merge",
        {"survivor_id": planted["first"].pk},
        content_type="application/json",
    )
    assert merged.status_code == 201
    body = merged.json()
    assert (body["state"], body["retired_number_masked"]) == (
        "merged",
        planted["second"].number_masked,
    )
    undone = client.post(
        f"/api/anomalies/merges/{body['id']}/undo",
        {"reason": "合并有误"},
        content_type="application/json",
    )
    assert undone.json()["state"] == "undone"


def test_the_api_refuses_out_of_scope_and_without_the_role(planted, school_user):
    finding = planted["school_pair"].pk
    outsider = client_for(authority_user("510104"))
    assert outsider.get(f"/api/anomalies/findings/{finding}").status_code == 404
    clerk = client_for(school_user)
    assert clerk.get(f"/api/anomalies/findings/{finding}").status_code == 200
    refused = clerk.post(
        f"/api/anomalies/findings/{finding}/different",
        {"reason": "不是同一人"},
        content_type="application/json",
    )
    assert refused.status_code == 403


def test_the_attendance_upload_page_reports_row_errors(held, school, school_user):
    student = register(school)
    content = (
        "学籍号,学校标识码,在校日期\n"
        f"{student.number},{school.code},{TODAY.isoformat()}\n"
        f"{student.number},{SchoolFactory(division_code='510104').code},{TODAY.isoformat()}\n"
    ).encode()
    response = client_for(school_user).post(
        "/anomalies/sightings/",
        {"file": SimpleUploadedFile("名单.csv", content, "text/csv"), "source": "考勤"},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "导入 1 行" in html
    assert "学校标识码不存在或不在您的管理范围内" in html


def test_a_statistician_sees_quality_but_not_the_queue(db):
    statistician = make_user(
        authority_user("440106").unit, roles=(Role.STATISTICIAN,), username="stat"
    )
    client = client_for(statistician)
    assert client.get("/anomalies/quality/").status_code == 200
    assert client.get("/anomalies/").status_code == 403
