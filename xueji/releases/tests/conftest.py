"""Builders for the release tests: a county's staff (requester, reviewer, approver), a
recipient elsewhere, students written straight into the tables (hundreds, in one insert each),
and a release taken through the pipeline."""

import itertools
from datetime import date, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests import factories
from xueji import clock
from xueji.accounts.models import Role
from xueji.enrolment.models import StatusRecord
from xueji.releases import services
from xueji.releases.services import ReleaseInput
from xueji.students.models import Student

PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
_serial = itertools.count(1)


def pdf() -> SimpleUploadedFile:
    return SimpleUploadedFile("批复.pdf", PDF, "application/pdf")


def populate(school, people: list[tuple[str, int, str]], *, state: str = "enrolled") -> list[int]:
    """Students of ``school``: one per (sex, birth year, grade). Returns their ids."""
    now = clock.now()
    students = []
    for sex, year, _grade in people:
        serial = next(_serial)
        students.append(
            Student(
                number=f"L{school.area_code}{serial:012d}",
                number_kind="L",
                name=f"发布测试{serial}",
                sex=sex,
                birth_date=date(year, 1 + serial % 12, 1 + serial % 28),
                ethnicity="01",
                created_at=now,
                updated_at=now,
            )
        )
    Student.objects.bulk_create(students)
    StatusRecord.objects.bulk_create(
        StatusRecord(
            student=student,
            school=school,
            area_code=school.area_code,
            province_code=school.province_code,
            stage=grade[0],
            grade=grade,
            state=state,
            entry_date=date(2024, 9, 1),
            registered_at=now,
            updated_at=now,
        )
        for student, (_sex, _year, grade) in zip(students, people, strict=True)
    )
    return [s.pk for s in students]


@pytest.fixture
def staff(db):
    """The county's requester (a statistician), reviewer and approver, and a recipient (a
    statistician of another province's county)."""
    return {
        "requester": factories.authority_user("440106", roles=(Role.STATISTICIAN,)),
        "reviewer": factories.authority_user("440106"),
        "approver": factories.authority_user("440106"),
        "recipient": factories.authority_user("510104", roles=(Role.STATISTICIAN,)),
    }


def law_request(staff, **overrides) -> ReleaseInput:
    values = {
        "purpose": "义务教育入学率统计分析",
        "basis_kind": "law",
        "basis_law": "《中华人民共和国统计法》第七条",
        "kind": "rows",
        "fields": ["sex", "birth", "grade"],
        "identifiers": "pseudonym",
        "birth": "year",
        "output_format": "csv",
        "recipient_organisation": "某市教育科学研究院",
        "recipient_username": staff["recipient"].username,
        "expires_on": clock.today() + timedelta(days=30),
    }
    values.update(overrides)
    return ReleaseInput(**values)


def through_pipeline(staff, data: ReleaseInput | None = None, document=None):
    """Requested, reviewed and approved: the generated release."""
    release = services.release_request(
        actor=staff["requester"], data=data or law_request(staff), document=document
    )
    services.release_review(actor=staff["reviewer"], release_id=release.pk, decision="pass")
    return services.release_approve(
        actor=staff["approver"], release_id=release.pk, decision="approve"
    )


def read_rows(release) -> tuple[list[str], list[list[str]]]:
    """Headers and data rows of a generated csv release (the mark lines left out)."""
    import csv
    import io

    with release.file.open("rb") as handle:
        text = handle.read().decode("utf-8-sig")
    rows = [r for r in csv.reader(io.StringIO(text)) if r and not r[0].startswith("# ")]
    return rows[0], rows[1:]
