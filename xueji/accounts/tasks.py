"""Background tasks (django-tasks). django-tasks runs tasks but schedules none: enqueue
this one daily from cron or a systemd timer, or run the command of the same name."""

from django_tasks import task

from xueji.audit import context

from .services import account_seal_dormant


@task()
def seal_dormant_accounts() -> int:
    """The daily sealing sweep; returns how many accounts it sealed."""
    token = context.bind(
        context.RequestContext(channel="task", request_id=context.new_request_id())
    )
    try:
        return account_seal_dormant()
    finally:
        context.reset(token)
