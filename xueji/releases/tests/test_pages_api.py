"""The release pages and the API: the same services behind both."""

from datetime import timedelta

from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from xueji import clock
from xueji.audit.models import AuditEvent
from xueji.releases.models import DataRelease
from xueji.releases.rules import ReleaseState

from .conftest import PDF, populate


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _form(staff, **overrides) -> dict:
    values = {
        "purpose": "学位供给规划测算",
        "basis_kind": "government",
        "basis_authority": "广州市天河区人民政府",
        "basis_level": "county",
        "basis_document_no": "天府批〔2026〕8号",
        "kind": "rows",
        "columns": ["sex", "birth", "grade"],
        "identifiers": "pseudonym",
        "birth": "year",
        "output_format": "csv",
        "recipient_organisation": "天河区发展改革局",
        "recipient_username": staff["recipient"].username,
        "expires_on": (clock.today() + timedelta(days=20)).isoformat(),
    }
    values.update(overrides)
    return values


def test_request_review_approve_and_download_through_the_pages(staff, school):
    populate(school, [("2", 2016, "13")] * 6)
    # request, with the county government's approval uploaded
    response = _client(staff["requester"]).post(
        "/releases/new/",
        {**_form(staff), "basis_document": SimpleUploadedFile("批复.pdf", PDF, "application/pdf")},
    )
    release = DataRelease.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/releases/{release.pk}/"
    # review
    reviewer = _client(staff["reviewer"])
    page = reviewer.get(f"/releases/{release.pk}/").content.decode()
    assert "审核通过" in page
    assert reviewer.post(f"/releases/{release.pk}/review/", {"decision": "pass"}).status_code == 302
    # approve
    approver = _client(staff["approver"])
    page = approver.get(f"/releases/{release.pk}/").content.decode()
    assert "由您对这次数据发布负责" in page
    assert approver.get(f"/releases/{release.pk}/basis/").status_code == 200
    approver.post(f"/releases/{release.pk}/approve/", {"decision": "approve"})
    release.refresh_from_db()
    assert release.state == ReleaseState.GENERATED
    assert release.approver_name == staff["approver"].username
    # download: the recipient only
    recipient = _client(staff["recipient"])
    assert "下载文件" in recipient.get(f"/releases/{release.pk}/").content.decode()
    response = recipient.get(f"/releases/{release.pk}/download/")
    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    assert body.splitlines()[0].startswith(f"# 数据发布 {release.reference}")
    assert approver.get(f"/releases/{release.pk}/download/").status_code == 404
    assert AuditEvent.objects.filter(action="release.download").count() == 1


def test_request_form_shows_each_broken_rule_on_its_field(staff):
    response = _client(staff["requester"]).post(
        "/releases/new/",
        _form(staff, basis_level="township", columns=[], recipient_username="nobody"),
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "乡镇人民政府的批准不能作为依据" in page
    assert "请上传人民政府的批准文件" in page
    assert "请从可发布的字段中选择至少一项" in page
    assert "请填写接收人的系统账号" in page
    assert not DataRelease.objects.exists()


def test_refusal_without_reason_is_said_on_the_page(staff):
    client = _client(staff["requester"])
    client.post(
        "/releases/new/",
        {**_form(staff), "basis_document": SimpleUploadedFile("批复.pdf", PDF, "application/pdf")},
    )
    release = DataRelease.objects.get()
    reviewer = _client(staff["reviewer"])
    response = reviewer.post(f"/releases/{release.pk}/review/", {"decision": "reject"}, follow=True)
    assert "不予通过时请写明理由" in response.content.decode()
    release.refresh_from_db()
    assert release.state == ReleaseState.SUBMITTED


def test_api_request_review_approve_download(staff, school):
    populate(school, [("1", 2015, "14")] * 5)
    created = _client(staff["requester"]).post(
        "/api/releases",
        {
            "purpose": "接口申请",
            "basis_kind": "law",
            "basis_law": "《中华人民共和国统计法》第七条",
            "kind": "table",
            "fields": "sex,grade",
            "recipient_organisation": "统计局",
            "recipient_username": staff["recipient"].username,
            "expires_on": (clock.today() + timedelta(days=5)).isoformat(),
        },
    )
    assert created.status_code == 201, created.content
    release_id = created.json()["id"]
    assert created.json()["fields"] == ["sex", "grade"]
    reviewed = _client(staff["reviewer"]).post(
        f"/api/releases/{release_id}/review", {"decision": "pass"}, content_type="application/json"
    )
    assert reviewed.json()["state"] == "reviewed"
    # the requester may not approve its own request
    refused = _client(staff["requester"]).post(
        f"/api/releases/{release_id}/approval",
        {"decision": "approve"},
        content_type="application/json",
    )
    assert refused.status_code == 403
    approved = _client(staff["approver"]).post(
        f"/api/releases/{release_id}/approval",
        {"decision": "approve"},
        content_type="application/json",
    )
    assert approved.status_code == 200
    assert approved.json()["state"] == "generated"
    assert approved.json()["approver_name"] == staff["approver"].username
    response = _client(staff["recipient"]).get(f"/api/releases/{release_id}/file")
    assert response.status_code == 200
    lines = b"".join(response.streaming_content).decode("utf-8-sig").splitlines()
    assert lines[1:3] == ["性别,年级,人数", "1,14,5"]


def test_api_refuses_a_request_without_basis_with_codes(staff):
    response = _client(staff["requester"]).post(
        "/api/releases",
        {
            "purpose": "接口申请",
            "basis_kind": "government",
            "basis_authority": "某镇人民政府",
            "basis_level": "township",
            "basis_document_no": "镇批1号",
            "fields": "sex",
            "recipient_organisation": "统计局",
            "recipient_username": staff["recipient"].username,
            "expires_on": (clock.today() + timedelta(days=5)).isoformat(),
        },
    )
    assert response.status_code == 422
    codes = {e["code"] for e in response.json()["errors"]}
    assert codes == {"release.basis_below_county", "release.basis_document_missing"}

    assert Client().post("/api/releases/publication-check", {}).status_code == 401


def test_publication_check_answers_the_route(staff):
    client = _client(staff["requester"])
    direct = client.post(
        "/api/releases/publication-check",
        {"kind": "table", "cells": [5, 30]},
        content_type="application/json",
    )
    assert direct.json() == {"route": "direct", "threshold": 5}
    release = client.post(
        "/api/releases/publication-check",
        {"kind": "table", "cells": [5, 3]},
        content_type="application/json",
    )
    assert release.json() == {"route": "release", "threshold": 5}


def test_openapi_declares_the_release_operations_and_their_errors(staff):
    schema = _client(staff["requester"]).get("/api/openapi.json").json()
    download = schema["paths"]["/api/releases/{release_id}/file"]["get"]["responses"]
    assert {"200", "403", "404", "409"} <= set(download)
    approval = schema["paths"]["/api/releases/{release_id}/approval"]["post"]["responses"]
    assert {"200", "403", "404", "409", "422"} <= set(approval)


def test_the_list_endpoint_costs_the_same_queries_for_more_releases(staff):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from xueji.releases import services

    from .conftest import law_request

    client = _client(staff["reviewer"])

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/api/releases").status_code == 200
        return len(captured.captured_queries)

    services.release_request(actor=staff["requester"], data=law_request(staff))
    client.get("/api/releases")  # the session's first-request work out of the count
    few = queries()
    for _ in range(4):
        services.release_request(actor=staff["requester"], data=law_request(staff))
    assert queries() == few
    assert len(client.get("/api/releases").json()) == 5


def test_pages_follow_the_second_locale(staff):
    client = _client(staff["requester"])
    page = client.get("/releases/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Data sent to me" in page and "Request a data release" in page
    form = client.get("/releases/new/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Recipient organisation" in form and "Download expiry" in form
