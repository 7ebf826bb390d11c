"""The beat task of retention (every RETENTION_SECONDS)."""

import logging

from celery import shared_task

from dodo_billing.retention.services import retention_prune

logger = logging.getLogger(__name__)


@shared_task(name="dodo_billing.retention.tasks.prune", ignore_result=True)
def prune() -> dict:
    deleted = retention_prune()
    if any(deleted.values()):
        logger.info("Retention: deleted %s", ", ".join(f"{n} {table}" for table, n in deleted.items() if n))
    return deleted
