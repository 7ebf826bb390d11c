"""Celery tasks of operations: the per-queue heartbeat that /health/ready reads."""

from celery import shared_task

from dodo_billing.observability.services import heartbeat_record


@shared_task(name="dodo_billing.observability.tasks.heartbeat", ignore_result=True)
def heartbeat(queue: str) -> None:
    """Beat enqueues one on every queue every HEARTBEAT_SECONDS; whichever worker runs it records
    that the queue is served."""
    heartbeat_record(queue=queue)
