"""Background tasks (django-tasks). django-tasks runs tasks but schedules none: enqueue
``detect_anomalies_task`` nightly from cron or a systemd timer, or run the command
``detect --all`` (docs/anomalies.md, "Running the detectors")."""

from typing import Any

from django_tasks import task

from xueji.audit import context

from .services import detect_all, linkage_run


@task()
def detect_anomalies_task(with_linkage: bool = True) -> dict[str, Any]:
    """Every detector over the whole registry, then the Splink linkage (when installed):
    the counts of each."""
    token = context.bind(
        context.RequestContext(channel="task", request_id=context.new_request_id())
    )
    try:
        runs = [counts.as_dict() for counts in detect_all()]
        linked = linkage_run() if with_linkage else None
        return {"detectors": runs, "linkage": linked.as_dict() if linked else None}
    finally:
        context.reset(token)
