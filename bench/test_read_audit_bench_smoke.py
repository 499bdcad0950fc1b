"""The read-audit benchmark's pieces on a tiny registry: figures, never timings."""

import pytest
from django.test import Client

from bench import read_audit_bench
from tests.read_audit import read_ids

pytestmark = pytest.mark.django_db(transaction=True)


def _quiet(message: str) -> None:
    pass


def test_prepare_gives_a_working_token_and_students_whose_reads_are_audited():
    prepared = read_audit_bench.prepare(
        read_audit_bench.Options(students=60, schools=2), log=_quiet
    )
    assert prepared["students"] >= 60
    assert len(prepared["ids"]) == len(set(prepared["ids"])) >= 60
    client = Client(headers={"Authorization": f"Bearer {prepared['token']}"})
    for student_id in prepared["ids"][:3]:
        assert client.get(f"/api/students/{student_id}").status_code == 200
    assert read_ids() == prepared["ids"][:3]
    assert read_audit_bench.read_event_count() == 3


def _entry(cost_on: float) -> dict:
    return {
        "target": "sqlite",
        "students": 1000,
        "run_at": "2026-12-07T10:00:00+08:00",
        "command": "python -m bench.read_audit_bench --students 1000",
        "machine": {"cpu": "cpu", "cores": 2, "memory": "1 GB", "os": "Linux", "python": "3"},
        "database_version": "SQLite 3",
        "schools": 3,
        "prepare_seconds": 1.0,
        "options": {"workers": 2, "connections": 8},
        "on": {"ok": 900, "errors": 0, "seconds": 10.0, "rounds": [90.0], "rate": cost_on},
        "off": {"ok": 1000, "errors": 0, "seconds": 10.0, "rounds": [100.0], "rate": 100.0},
        "cost": round(1 - cost_on / 100.0, 4),
        "read_events_measured": 900,
        "read_events_warmup": 10,
        "load_average": [1.0, 1.0],
    }


def test_docs_section_is_replaced_and_other_sections_stay(tmp_path):
    docs = tmp_path / "benchmarks.md"
    docs.write_text("# Benchmarks\n\n## Import benchmark\n\nits figures\n", encoding="utf-8")
    read_audit_bench.update_docs([_entry(90.0)], docs)
    read_audit_bench.update_docs([_entry(70.0)], docs)  # same target and size: replaced
    text = docs.read_text(encoding="utf-8")
    assert "its figures" in text
    assert text.count(read_audit_bench.SECTION_START) == 1
    assert "| 70.0 | 100.0 | 30.0 % | 900 | 900 |" in text
    assert "target **not met**" in text
    assert read_audit_bench.read_entries(text)[0]["cost"] == 0.3
