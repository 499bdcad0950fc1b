"""Shared builders for the archive tests: small valid files, a second school in the county,
and moving a record the way the change services do."""

from datetime import date

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction

from tests import factories
from xueji.enrolment.rules import EventKind, StatusState
from xueji.enrolment.services import record_change, record_lock

PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
JPG = b"\xff\xd8\xff\xe0" + b"\x00" * 32


def upload(content: bytes = PDF, name: str = "登记表.pdf", content_type: str = "application/pdf"):
    return SimpleUploadedFile(name, content, content_type)


def move_record(student, *, to_school, on: date, request_id: int = 7) -> None:
    """Move the record to another school with a history event, as a transfer completes."""
    with transaction.atomic():
        record = record_lock(student_id=student.pk)
        record_change(
            actor=None,
            record=record,
            kind=EventKind.TRANSFER_IN,
            effective_date=on,
            change_type="transfer",
            request_id=request_id,
            school=to_school,
        )


def add_event(student, *, on: date, to_state: str = StatusState.SUSPENDED) -> None:
    with transaction.atomic():
        record = record_lock(student_id=student.pk)
        record_change(
            actor=None,
            record=record,
            kind=EventKind.CHANGE,
            effective_date=on,
            to_state=to_state,
            reason="因病休学",
        )


@pytest.fixture
def school_b(db):
    """A second primary school in the same county (天河区) as ``school``."""
    return factories.SchoolFactory(name="天河区第二实验小学", division_code="440106")


@pytest.fixture
def clerk_b(school_b):
    return factories.make_user(school_b.unit, username="clerk_b")


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    """Each test stores its files in a directory of its own."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT
