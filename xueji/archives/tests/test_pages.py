"""Archive pages and API: who reads, who files, audited downloads, the read-only backup."""

from datetime import date

import pytest
from django.test import Client

from tests import factories
from xueji.archives import services
from xueji.archives.models import ArchiveDocument, PaperArchiveEntry
from xueji.audit.models import AuditEvent

from .conftest import PDF, PNG, add_event, move_record, upload

pytestmark = pytest.mark.django_db


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def student(make_student):
    return make_student(name="档案测试生")


@pytest.fixture
def document(school_user, student):
    return services.archive_add_document(
        actor=school_user,
        student=student,
        kind="registration_form",
        title="学籍登记表",
        upload=upload(),
    )


@pytest.fixture
def transferred(school, school_b, student, document):
    """The student moved to school B on 2025-03-10; later history at B."""
    backup = services.archive_transfer(
        actor=None,
        student=student,
        from_school=school,
        to_school=school_b,
        request_id=7,
        effective_date=date(2025, 3, 10),
    )
    move_record(student, to_school=school_b, on=date(2025, 3, 10))
    add_event(student, on=date(2025, 5, 6))
    return backup


def _download(response) -> bytes:
    return b"".join(response.streaming_content)


# ---------------------------------------------------------------- the student's archive page


def test_holder_school_reads_uploads_and_downloads(school_user, student, document):
    client = _client(school_user)
    page = client.get(f"/archives/students/{student.pk}/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "学籍登记表" in body and 'enctype="multipart/form-data"' in body
    posted = client.post(
        f"/archives/students/{student.pk}/",
        {"kind": "photo", "title": "证件照", "file": upload(PNG, "photo.png", "image/png")},
    )
    assert posted.status_code == 302
    assert ArchiveDocument.objects.filter(student=student, title="证件照").exists()
    response = client.get(f"/archives/documents/{document.pk}/download/")
    assert response.status_code == 200
    assert _download(response) == PDF
    assert response["Content-Type"] == "application/pdf"
    assert "attachment" in response["Content-Disposition"]
    assert "no-store" in response["Cache-Control"]
    audit = AuditEvent.objects.get(action="archive.download")
    assert audit.actor_id == school_user.pk and audit.object_id == str(document.pk)


def test_upload_errors_show_on_the_form_and_store_nothing(school_user, student):
    response = _client(school_user).post(
        f"/archives/students/{student.pk}/",
        {"kind": "photo", "title": "", "file": upload(b"plain text", "a.txt", "text/plain")},
    )
    assert response.status_code == 200
    form = response.context["upload_form"]
    assert form.errors["title"] and form.errors["file"]
    assert "只能上传 PDF、JPG 或 PNG 文件" in response.content.decode()
    assert not ArchiveDocument.objects.exists()


def test_county_reads_but_offers_no_upload(county_user, student, document):
    client = _client(county_user)
    page = client.get(f"/archives/students/{student.pk}/")
    assert page.status_code == 200
    assert 'enctype="multipart/form-data"' not in page.content.decode()
    assert client.get(f"/archives/documents/{document.pk}/download/").status_code == 200
    refused = client.post(
        f"/archives/students/{student.pk}/",
        {"kind": "photo", "title": "照片", "file": upload(PNG, "p.png", "image/png")},
    )
    assert refused.status_code == 403


def test_out_of_scope_is_not_found(other_school_user, student, document):
    client = _client(other_school_user)
    assert client.get(f"/archives/students/{student.pk}/").status_code == 404
    assert client.get(f"/archives/documents/{document.pk}/download/").status_code == 404
    assert client.post(f"/archives/students/{student.pk}/paper/", {}).status_code == 404
    outsider = _client(factories.authority_user("510104"))
    assert outsider.get(f"/archives/students/{student.pk}/").status_code == 404
    assert client.get("/archives/students/999999/").status_code == 404
    assert not AuditEvent.objects.filter(action="archive.download").exists()


def test_paper_register_on_the_page(school_user, student):
    client = _client(school_user)
    refused = client.post(f"/archives/students/{student.pk}/paper/", {"description": ""})
    assert refused.status_code == 200 and refused.context["paper_form"].errors["location"]
    done = client.post(
        f"/archives/students/{student.pk}/paper/",
        {"description": "学籍登记表原件", "location": "档案室 2 号柜", "kept_copy": "on"},
    )
    assert done.status_code == 302
    entry = PaperArchiveEntry.objects.get()
    assert entry.kept_copy and entry.location == "档案室 2 号柜"
    assert "档案室 2 号柜" in client.get(f"/archives/students/{student.pk}/").content.decode()


# ---------------------------------------------------------------- after a transfer


def test_sending_school_reads_only_its_backup(school_user, clerk_b, student, document, transferred):
    client = _client(school_user)
    assert client.get(f"/archives/students/{student.pk}/").status_code == 404
    assert client.get(f"/archives/documents/{document.pk}/download/").status_code == 404
    assert client.post(f"/archives/students/{student.pk}/paper/", {}).status_code == 404

    listing = client.get("/archives/backups/")
    assert listing.status_code == 200 and "档案测试生" in listing.content.decode()
    page = client.get(f"/archives/backups/{transferred.pk}/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "2025-03-10" in body and "2025-05-06" not in body
    assert "<form" not in body.split('id="main"')[1].split("</main>")[0]  # nothing to change
    response = client.get(f"/archives/backups/{transferred.pk}/documents/{document.pk}/download/")
    assert response.status_code == 200 and _download(response) == PDF
    assert AuditEvent.objects.filter(action="archive.backup_download").count() == 1
    # A document filed at school B afterwards is not in the backup.
    later = services.archive_add_document(
        actor=clerk_b, student=student, kind="other", title="新材料", upload=upload()
    )
    assert (
        client.get(f"/archives/backups/{transferred.pk}/documents/{later.pk}/download/").status_code
        == 404
    )
    assert "新材料" not in client.get(f"/archives/backups/{transferred.pk}/").content.decode()


def test_receiving_school_holds_the_archive_and_has_no_backup(
    clerk_b, student, document, transferred
):
    client = _client(clerk_b)
    assert client.get(f"/archives/students/{student.pk}/").status_code == 200
    assert client.get(f"/archives/documents/{document.pk}/download/").status_code == 200
    assert client.get(f"/archives/backups/{transferred.pk}/").status_code == 404
    assert client.get("/archives/backups/").context["page_obj"].paginator.count == 0


def test_backup_pages_out_of_scope(other_school_user, transferred, document):
    client = _client(other_school_user)
    assert client.get(f"/archives/backups/{transferred.pk}/").status_code == 404
    url = f"/archives/backups/{transferred.pk}/documents/{document.pk}/download/"
    assert client.get(url).status_code == 404


def test_statistician_is_refused(school, student, document):
    client = _client(factories.make_user(school.unit, roles=("statistician",)))
    assert client.get(f"/archives/students/{student.pk}/").status_code == 403
    assert client.get("/archives/backups/").status_code == 403
    assert client.get("/api/archives/backups").status_code == 403


# ---------------------------------------------------------------- the API


def test_api_documents_upload_and_download(school_user, student, document):
    client = _client(school_user)
    listed = client.get(f"/api/archives/students/{student.pk}/documents").json()
    assert listed["holder_name"] == student.record.school.name
    assert [d["title"] for d in listed["documents"]] == ["学籍登记表"]
    created = client.post(
        f"/api/archives/students/{student.pk}/documents",
        {"kind": "photo", "title": "照片", "file": upload(PNG, "p.png", "image/png")},
    )
    assert created.status_code == 201 and created.json()["content_type"] == "image/png"
    response = client.get(f"/api/archives/documents/{document.pk}/file")
    assert response.status_code == 200 and _download(response) == PDF


def test_api_upload_errors_are_precise(school_user, student):
    client = _client(school_user)
    response = client.post(
        f"/api/archives/students/{student.pk}/documents", {"kind": "photo", "title": "照片"}
    )
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "file", "code": "archive.file_missing", "message": "请选择要上传的文件。"}
    ]
    big = client.post(
        f"/api/archives/students/{student.pk}/documents",
        {"kind": "other", "title": "大文件", "file": upload(b"%PDF-" + b"0" * (10 * 1024 * 1024))},
    )
    assert big.status_code == 422
    assert [e["code"] for e in big.json()["errors"]] == ["archive.file_too_large"]
    assert not ArchiveDocument.objects.exists()


def test_api_scope(other_school_user, county_user, student, document):
    outsider = _client(other_school_user)
    assert outsider.get(f"/api/archives/students/{student.pk}/documents").status_code == 404
    assert outsider.get(f"/api/archives/documents/{document.pk}/file").status_code == 404
    assert (
        outsider.post(
            f"/api/archives/students/{student.pk}/documents",
            {"kind": "photo", "title": "照片", "file": upload(PNG, "p.png", "image/png")},
        ).status_code
        == 404
    )
    county = _client(county_user)
    assert county.get(f"/api/archives/students/{student.pk}/documents").status_code == 200
    assert (
        county.post(
            f"/api/archives/students/{student.pk}/documents",
            {"kind": "photo", "title": "照片", "file": upload(PNG, "p.png", "image/png")},
        ).status_code
        == 403
    )


def test_api_backups(school_user, clerk_b, other_school_user, student, document, transferred):
    client = _client(school_user)
    [row] = client.get("/api/archives/backups").json()
    assert row["id"] == transferred.pk and row["number_masked"] == student.number_masked
    assert row["document_count"] == 1 and row["history_until"] == "2025-03-10"
    detail = client.get(f"/api/archives/backups/{transferred.pk}").json()
    assert [e["effective_date"] for e in detail["history"]] == ["2024-09-01", "2025-03-10"]
    assert [d["sha256"] for d in detail["documents"]] == [document.sha256]
    url = f"/api/archives/backups/{transferred.pk}/documents/{document.pk}/file"
    assert _download(client.get(url)) == PDF
    assert _client(clerk_b).get("/api/archives/backups").json() == []
    for outsider in (clerk_b, other_school_user):
        assert _client(outsider).get(f"/api/archives/backups/{transferred.pk}").status_code == 404
        assert _client(outsider).get(url).status_code == 404
