"""Background tasks (django-tasks): the web page enqueues, a worker runs."""

from django_tasks import task

from .services import import_job_run


@task()
def run_import_job(job_id: str) -> None:
    import_job_run(job_id=job_id)
