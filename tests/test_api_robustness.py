"""Inputs no view can store are refused with 422/400, never a server error (issue 11, item 17):
a NUL in any string input, a multipart body without a boundary on every upload endpoint,
an offset beyond any list."""

import json

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

UPLOADS = [
    "/api/anomalies/sightings",
    "/api/archives/students/1/documents",
    "/api/changes",
    "/api/changes/transfers",
    "/api/changes/1/materials",
    "/api/imports",
]


@pytest.fixture
def api(client: Client, school_user) -> Client:
    client.force_login(school_user)
    return client


@pytest.mark.parametrize("path", UPLOADS)
def test_multipart_without_a_boundary_is_a_400_on_every_upload(api, path):
    response = api.post(path, data=b"--x\r\n\r\n", content_type="multipart/form-data")
    assert response.status_code == 400, response.content[:300]
    assert response.json()["code"] == "request.malformed"


def test_a_nul_in_a_json_body_is_a_422_naming_the_field(api):
    response = api.post(
        "/api/batches/graduations",
        data=json.dumps({"scope": "3301\x0002", "school_year": 2026}),
        content_type="application/json",
    )
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "input.nul"
    assert body["errors"][0]["field"] == "scope"


def test_a_nul_in_a_nested_json_string_is_found(api):
    payload = {"name": "张三", "guardians": [{"name": "李\x00四"}]}
    response = api.post("/api/students/validate", data=payload, content_type="application/json")
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "guardians[0].name"


def test_a_nul_in_a_query_or_a_form_field_is_refused(api, client):
    assert api.get("/api/students?q=%00").status_code == 422
    assert api.get("/students/?q=a%00b").status_code == 400  # pages too
    response = api.post(
        "/api/anomalies/sightings", data={"source": "a\x00b", "file": ("x.csv", b"a,b\n")}
    )
    assert response.status_code == 422


def test_text_without_a_nul_passes(api):
    assert api.get("/api/students?q=%E5%BC%A0").status_code == 200


@pytest.mark.parametrize(
    "path", ["/api/anomalies/findings", "/api/archives/backups", "/api/warnings", "/api/dropouts"]
)
def test_an_offset_beyond_any_list_is_a_422_not_a_server_error(api, path):
    response = api.get(f"{path}?offset=100000000000000000000")
    assert response.status_code == 422, response.content[:300]
    assert api.get(f"{path}?offset=-1").status_code == 422


def test_an_import_error_offset_beyond_any_list_is_a_422(api):
    response = api.get(
        "/api/imports/00000000-0000-0000-0000-000000000000/errors?offset=100000000000000000000"
    )
    assert response.status_code == 422


@pytest.mark.parametrize("field", ["id_type", "guardian"])
def test_an_unknown_id_type_in_validate_is_a_field_error(api, school, field):
    payload = {
        "school_code": school.code,
        "name": "张三",
        "sex": "1",
        "birth_date": "2017-03-08",
        "ethnicity": "01",
        "grade": "11",
        "entry_date": "2024-09",
        "id_type": "zz",
        "id_number": "123456",
    }
    if field == "guardian":
        payload.update(id_type="1", id_number="")
        payload["guardians"] = [
            {"name": "李四", "relation": "1", "id_type": "zz", "id_number": "1"}
        ]
    response = api.post("/api/students/validate", data=payload, content_type="application/json")
    assert response.status_code == 200, response.content[:500]
    codes = {error["code"] for error in response.json()["errors"]}
    assert codes, response.json()


def test_a_date_time_with_an_offset_no_zone_has_is_a_422(api):
    response = api.get("/api/rules?at=2030-09-07T01:24:23%2B18:05")
    assert response.status_code == 422
    assert response.json()["code"] == "input.out_of_range"
    assert api.get("/api/rules?at=2030-09-07T01:24:23%2B08:00").status_code != 422


@pytest.mark.parametrize("query", ["at=2.00001", "at=13312", "at=1.175494351e-38", "at=2030-09-07"])
def test_a_date_time_query_that_is_not_iso_text_is_a_422(api, query):
    """Pydantic reads a number as a Unix time: ``at=13312`` was answered for 1970-01-01."""
    response = api.get(f"/api/rules?{query}")
    assert response.status_code == 422, response.content[:300]
    assert api.get("/api/rules?at=2030-09-07T01:24:23").status_code == 200


def test_a_number_for_a_date_is_a_422_in_a_query_and_in_a_json_body(api):
    assert api.get("/api/workdays/due?start=0&n=1").status_code == 422
    assert api.get("/api/workdays/due?start=2026-09-01&n=1").status_code != 422
    response = api.post(
        "/api/batches/promotions",
        data=json.dumps({"scope": "x", "school_year": 2026, "cutoff": 0}),
        content_type="application/json",
    )
    assert response.status_code == 422
    assert "cutoff" in json.dumps(response.json())


def test_booleans_are_not_counts_in_the_publication_check(api):
    response = api.post(
        "/api/releases/publication-check",
        data=json.dumps({"kind": "x", "cells": [False, True]}),
        content_type="application/json",
    )
    assert response.status_code == 422, response.content[:300]


@pytest.mark.parametrize(
    "path", ["/api/students/search", "/api/changes/search", "/api/dropouts/search"]
)
def test_a_boolean_limit_in_a_search_body_is_a_422(api, path):
    response = api.post(path, data=json.dumps({"limit": True}), content_type="application/json")
    assert response.status_code == 422, response.content[:300]
    assert api.get(path.replace("/search", "") + "?limit=5").status_code != 422


def test_an_integer_beyond_64_bits_in_a_query_or_body_is_a_422(api):
    assert api.get("/api/changes?after=100000000000000000000").status_code == 422
    response = api.post(
        "/api/batches/graduations",
        data=json.dumps({"school_year": 10**30}),
        content_type="application/json",
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "school_year"


def test_a_nul_spelled_as_a_json_escape_in_a_form_field_is_refused(api):
    response = api.post("/api/changes", data={"payload": '{"reason": "a\\u0000b"}'})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "payload"


@pytest.mark.parametrize(
    "path", ["/api/no-such-thing", "/api/accounts/%0A~x/roles", "/api/students/abc"]
)
def test_an_unknown_api_path_is_the_api_s_json_404(api, path):
    for response in (api.get(path), api.put(path, data="{}", content_type="application/json")):
        assert response.status_code == 404
        assert response["Content-Type"] == "application/json"
        assert response.json()["code"] == "not_found"
