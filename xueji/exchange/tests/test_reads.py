"""Import error rows carry the file's personal data: showing them and exporting them are
audited (issue 10, finding 3), with the job and the number of rows; no registered student
is named (the rows were not imported)."""

from datetime import date

import pytest
from django.urls import reverse

from tests.factories import registration
from tests.read_audit import read_events
from xueji.audit.events import AuditAction
from xueji.exchange.models import ImportJob, ImportMode
from xueji.exchange.tests import test_views as views_tests
from xueji.exchange.tests.test_views import student_csv

pytestmark = pytest.mark.django_db

# the pages' tests' signed-in clerk, shared
clerk = views_tests.clerk


def test_error_rows_shown_and_exported_are_audited(clerk, school):
    bad = registration(school, born=date(2016, 4, 1), id_number="440106201604010000")
    response = clerk.post(
        reverse("imports:new"), {"file": student_csv([bad]), "mode": ImportMode.ALL_OR_NOTHING}
    )
    job = ImportJob.objects.get()
    assert clerk.get(response["Location"]).status_code == 200
    [shown] = read_events()
    assert (shown.object_type, shown.object_id) == ("", "")
    assert shown.detail["kind"] == "import_errors"
    assert shown.detail["import_job"] == str(job.pk)
    assert shown.detail["rows"] == job.error_count > 0
    assert clerk.get(reverse("imports:errors_csv", args=[job.pk])).status_code == 200
    assert clerk.get(reverse("imports:errors_xlsx", args=[job.pk])).status_code == 200
    assert clerk.get(f"/api/imports/{job.pk}/errors.csv").status_code == 200
    exports = list(read_events(action=AuditAction.STUDENT_EXPORT))
    assert [(e.detail["format"], e.channel) for e in exports] == [
        ("csv", "web"),
        ("xlsx", "web"),
        ("csv", "api"),
    ]
    assert clerk.get(f"/api/imports/{job.pk}/errors").status_code == 200
    assert read_events().last().detail["kind"] == "import_errors"
    assert read_events().last().channel == "api"
