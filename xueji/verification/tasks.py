"""Background tasks (django-tasks). django-tasks runs tasks but schedules none: enqueue
``campaign_sweep_task`` daily from cron or a systemd timer, or run the command
``campaign_sweep`` (docs/semester.md, "Deadlines and warnings")."""

from django_tasks import task

from xueji.audit import context

from .services import campaigns_overdue_sweep


@task()
def campaign_sweep_task() -> dict[str, int]:
    """The daily sweep of confirmation campaigns: every school not signed off after its
    campaign's deadline is warned, and so is the level above. Returns the counts."""
    token = context.bind(
        context.RequestContext(channel="task", request_id=context.new_request_id())
    )
    try:
        return campaigns_overdue_sweep()
    finally:
        context.reset(token)
