"""Reads of archives are audited with the student whose archive or backup was shown (issue
10, finding 3): the archive (page and API), the backups list and one backup."""

import pytest

from tests.read_audit import read_events, read_ids
from xueji.archives.tests import test_pages as pages_tests
from xueji.archives.tests.test_pages import _client

pytestmark = pytest.mark.django_db

# fixtures of the pages' tests, shared
document = pages_tests.document
student = pages_tests.student
transferred = pages_tests.transferred


def test_the_archive_page_and_api_name_the_student(school_user, student, document):
    client = _client(school_user)
    assert client.get(f"/archives/students/{student.pk}/").status_code == 200
    assert client.get(f"/api/archives/students/{student.pk}/documents").status_code == 200
    assert [(int(e.object_id), e.channel) for e in read_events()] == [
        (student.pk, "web"),
        (student.pk, "api"),
    ]


def test_the_backups_list_and_one_backup_name_the_student(
    school_user, clerk_b, student, transferred
):
    client = _client(school_user)
    assert client.get("/archives/backups/").status_code == 200
    assert read_ids() == [student.pk]
    assert client.get(f"/archives/backups/{transferred.pk}/").status_code == 200
    assert client.get("/api/archives/backups").json()[0]["id"] == transferred.pk
    assert client.get(f"/api/archives/backups/{transferred.pk}").status_code == 200
    assert read_ids() == [student.pk] * 4
    assert [e.detail.get("backup") for e in read_events()] == [
        None,
        transferred.pk,
        None,
        transferred.pk,
    ]


def test_an_out_of_scope_archive_is_not_read(other_school_user, student, document):
    assert _client(other_school_user).get(f"/archives/students/{student.pk}/").status_code == 404
    assert list(read_events()) == []
