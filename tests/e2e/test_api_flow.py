"""The registry through its HTTP API, as an API client sees it: token auth, JSON, files."""

import csv
import io
import json
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pytest

from tests.factories import registration
from xueji.accounts.tokens import api_token_issue
from xueji.exchange.columns import STUDENT_COLUMNS

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


class Client:
    def __init__(self, base: str, token: str) -> None:
        self.base = base
        self.token = token

    def call(
        self,
        method: str,
        path: str,
        body=None,
        *,
        raw: bytes | None = None,
        content_type: str = "application/json",
    ):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            request.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                payload = response.read()
                return response.status, payload
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def json(self, method: str, path: str, body=None):
        status, payload = self.call(method, path, body)
        return status, json.loads(payload) if payload else None


def multipart(fields: dict[str, str], file_name: str, content: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    out = io.BytesIO()
    for name, value in fields.items():
        out.write(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        )
    out.write(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{file_name}"\r\n'
        "Content-Type: text/csv\r\n\r\n".encode()
    )
    out.write(content)
    out.write(f"\r\n--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


def test_school_clerk_registers_and_imports_through_the_api(
    live_server, school_user, school, other_school
):
    # given an API client holding a token of the school's clerk
    issued = api_token_issue(actor=school_user, user=school_user, name="e2e", expires_at=None)
    client = Client(live_server.url, issued.secret)
    status, me = client.json("GET", "/api/me")
    assert status == 200 and me["unit_name"] == school.name

    # when it validates, then registers a student
    data = registration(school, name="陈𠇔明")
    payload = {
        k: v for k, v in data.items() if not k.startswith("guardian_") and k != "left_behind"
    }
    payload["guardians"] = [
        {
            "name": data["guardian_name"],
            "relation": "52",
            "id_number": data["guardian_id_number"],
            "phone": "13800138000",
        }
    ]
    status, check = client.json("POST", "/api/students/validate", payload)
    assert status == 200 and check["ok"] is True and check["number_kind"] == "G"
    status, created = client.json("POST", "/api/students", payload)
    assert status == 201
    student = created["student"]
    assert student["name"] == "陈𠇔明" and student["number"] == "G" + data["id_number"]
    assert data["id_number"] not in json.dumps(created).replace(student["number"], "")

    # then a second registration of the same ID is refused with the stable code
    status, refused = client.json("POST", "/api/students", payload)
    assert status == 409 and refused["code"] == "student.duplicate_id"

    # and the other province's school is invisible
    status, _ = client.json("GET", f"/api/schools/{other_school.pk}")
    assert status == 404

    # when it imports a csv of two students (UTF-8 with BOM, Chinese headers)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([c.header for c in STUDENT_COLUMNS])
    for row in (
        registration(school, name="王小明"),
        registration(school, name="李小红", sex="1", sex_code="1"),
    ):
        writer.writerow([row.get(c.key, "") for c in STUDENT_COLUMNS])
    body, content_type = multipart(
        {"mode": "all_or_nothing"}, "students.csv", out.getvalue().encode("utf-8-sig")
    )
    status, job_payload = client.call("POST", "/api/imports", raw=body, content_type=content_type)
    assert status == 202, job_payload
    job = json.loads(job_payload)
    deadline = time.monotonic() + 30
    while job["status"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.2)
        _, job = client.json("GET", f"/api/imports/{job['id']}")
    # then both are registered and listed
    assert job["status"] == "succeeded", job
    assert job["created_count"] == 2 and job["error_count"] == 0
    status, page = client.json("GET", "/api/students?limit=10")
    assert status == 200 and len(page["items"]) == 3
    status, found = client.json("GET", "/api/students?q=" + urllib.parse.quote("王小明"))
    assert [s["name"] for s in found["items"]] == ["王小明"]
    status, detail = client.json("GET", f"/api/students/{found['items'][0]['id']}")
    assert detail["history"][0]["kind"] == "import"
