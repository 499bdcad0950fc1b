"""Background tasks (django-tasks). django-tasks runs tasks but schedules none: enqueue
``sweep_changes_task`` daily from cron or a systemd timer, or run the command
``sweep_changes`` (docs/transfers.md, "Deadlines and warnings")."""

from django_tasks import task

from xueji.audit import context

from .services import steps_overdue_sweep


@task()
def sweep_changes_task() -> dict[str, int]:
    """The daily sweep of approval steps: deadlines recomputed once a missing year is
    loaded, warnings raised for overdue steps. Returns the counts."""
    token = context.bind(
        context.RequestContext(channel="task", request_id=context.new_request_id())
    )
    try:
        return steps_overdue_sweep()
    finally:
        context.reset(token)
