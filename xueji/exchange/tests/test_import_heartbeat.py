"""An import whose worker died does not stay "处理中" for ever (issue 11, item 15)."""

import threading
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse

from tests.factories import registration
from xueji import clock
from xueji.exchange.models import ImportJob, ImportStatus
from xueji.exchange.services import Heartbeat, import_job_run, import_jobs_fail_stale

from .test_import import submit, write_csv

pytestmark = pytest.mark.django_db


def running_job(actor, tmp_path, *, silent_for: timedelta | None, name="students.csv"):
    """A job a worker took and then (maybe) stopped beating for: ``silent_for`` ago."""
    job = submit(actor, write_csv(tmp_path / name, [registration(actor.unit.school)]))
    now = clock.now()
    beat = None if silent_for is None else now - silent_for
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportStatus.RUNNING, started_at=now - timedelta(hours=1), heartbeat_at=beat
    )
    return ImportJob.objects.get(pk=job.pk)


def test_a_job_without_a_heartbeat_is_marked_failed_with_a_resubmit_message(
    tmp_path, school, school_user
):
    stale = running_job(school_user, tmp_path, silent_for=timedelta(minutes=11), name="a.csv")
    never = running_job(school_user, tmp_path, silent_for=None, name="b.csv")
    alive = running_job(school_user, tmp_path, silent_for=timedelta(minutes=2), name="c.csv")

    assert import_jobs_fail_stale() == 2

    for job in (stale, never):
        job.refresh_from_db()
        assert job.status == ImportStatus.FAILED
        assert job.finished_at is not None
        assert "请重新提交同一文件" in job.message
        assert "10 分钟" in job.message
    alive.refresh_from_db()
    assert alive.status == ImportStatus.RUNNING
    assert import_jobs_fail_stale() == 0


def test_the_job_page_and_the_api_sweep_before_they_read(client, tmp_path, school, school_user):
    client.force_login(school_user)
    job = running_job(school_user, tmp_path, silent_for=timedelta(minutes=30))

    page = client.get(reverse("imports:detail", kwargs={"job_id": job.pk}))

    assert page.status_code == 200
    assert "请重新提交同一文件" in page.content.decode()
    assert ImportJob.objects.get(pk=job.pk).status == ImportStatus.FAILED

    other = running_job(school_user, tmp_path, silent_for=timedelta(minutes=30), name="d.csv")
    answer = client.get(f"/api/imports/{other.pk}")
    assert answer.status_code == 200
    assert answer.json()["status"] == ImportStatus.FAILED


def test_the_sweep_command(tmp_path, school, school_user):
    job = running_job(school_user, tmp_path, silent_for=timedelta(minutes=30))
    call_command("sweep_imports", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert ImportJob.objects.get(pk=job.pk).status == ImportStatus.FAILED


def test_a_worker_records_its_heartbeat_and_a_finished_job_is_left_alone(
    tmp_path, school, school_user
):
    job = submit(school_user, write_csv(tmp_path / "s.csv", [registration(school)]))
    assert job.heartbeat_at is None

    done = import_job_run(job_id=job.pk)

    assert done.status == ImportStatus.SUCCEEDED
    assert done.heartbeat_at is not None
    assert import_jobs_fail_stale(now=clock.now() + timedelta(days=1)) == 0
    assert ImportJob.objects.get(pk=job.pk).status == ImportStatus.SUCCEEDED


def test_the_heartbeat_thread_beats_while_the_block_runs_and_stops_after():
    beats: list[int] = []
    enough = threading.Event()

    def beat() -> None:
        beats.append(1)
        if len(beats) >= 3:
            enough.set()

    with Heartbeat(beat, 0.01):
        assert enough.wait(10)
    count = len(beats)
    assert count >= 3
    enough.wait(0.05)
    assert len(beats) == count  # stopped with the block
