"""Background tasks (django-tasks): the web page enqueues, a worker runs."""

from django_tasks import task

from .services import import_job_run, import_jobs_fail_stale


@task()
def run_import_job(job_id: str) -> None:
    import_job_run(job_id=job_id)


@task()
def sweep_stale_imports() -> int:
    """Mark failed the running imports whose worker died (no heartbeat)."""
    return import_jobs_fail_stale()
