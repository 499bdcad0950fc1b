"""Background tasks (django-tasks): the pages and the API enqueue, a worker runs."""

from django_tasks import task

from xueji.audit import context as audit_context

from .batches import batch_run_execute


@task()
def run_batch(run_id: int) -> None:
    """Run (or continue) a confirmed promotion or graduation batch to its end."""
    token = audit_context.bind(
        audit_context.RequestContext(channel="task", request_id=f"batch-{run_id}")
    )
    try:
        batch_run_execute(run_id=run_id)
    finally:
        audit_context.reset(token)
