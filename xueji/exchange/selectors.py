"""Scoped reads of import jobs: an account sees the jobs of its own unit."""

from django.db.models import QuerySet

from xueji.errors import NotFound

from .models import ImportJob


def import_jobs_visible(user) -> QuerySet[ImportJob]:
    if not getattr(user, "is_authenticated", False) or user.unit_id is None:
        return ImportJob.objects.none()
    return ImportJob.objects.filter(unit_id=user.unit_id)


def access_import_job(user, *, job_id) -> ImportJob:
    job = import_jobs_visible(user).filter(pk=job_id).first()
    if job is None:
        raise NotFound("import_job")
    return job
