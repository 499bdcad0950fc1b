"""Scoped reads of import jobs: an account sees the jobs of its own unit."""

from django.db.models import QuerySet

from xueji.accounts.permissions import has_permission
from xueji.accounts.rules import Permission
from xueji.errors import Forbidden, NotFound

from .models import ImportJob


def import_jobs_visible(user) -> QuerySet[ImportJob]:
    """Jobs of the user's unit, for accounts that may import at all."""
    if not getattr(user, "is_authenticated", False) or user.unit_id is None:
        return ImportJob.objects.none()
    if not (
        has_permission(user, Permission.STUDENT_IMPORT)
        or has_permission(user, Permission.SCHOOL_EDIT)
    ):
        raise Forbidden()
    return ImportJob.objects.filter(unit_id=user.unit_id)


def access_import_job(user, *, job_id) -> ImportJob:
    job = import_jobs_visible(user).select_related("created_by").filter(pk=job_id).first()
    if job is None:
        raise NotFound("import_job")
    return job
