"""Celery tasks of webhook delivery: attempt one delivery, and sweep up the ones that are due.

Their names keep the ``dodo_billing.tasks.`` prefix they were first registered under: the beat
schedule, the queue routes in the settings and messages already in a broker refer to them by name.
Celery finds this module through ``dodo_billing/celery.py`` (``autodiscover_tasks``).
"""

import logging

from celery import shared_task
from django.utils import timezone

from dodo_billing.webhooks.delivery import (
    COUNTDOWN_MAX_SECONDS,
    Deferred,
    post_webhook,
    webhook_deliveries_due,
    webhook_delivery_claim,
    webhook_delivery_record,
)

logger = logging.getLogger(__name__)


@shared_task(name="dodo_billing.tasks.deliver_webhook")
def deliver_webhook(delivery_id: int) -> str:
    """Attempt one delivery if it is pending and due; safe to run any number of times."""
    claim = webhook_delivery_claim(delivery_id=delivery_id)
    if claim is None:
        return "skipped"
    if isinstance(claim, Deferred):
        deliver_webhook.apply_async(args=[delivery_id], countdown=claim.seconds)
        return "deferred"
    outcome = post_webhook(claim)
    delivery = webhook_delivery_record(claim=claim, outcome=outcome)
    if delivery is None:
        return "gone"
    logger.info(
        "Webhook delivery %s attempt %s to %s: %s (%s)",
        delivery_id,
        claim.number,
        claim.url,
        delivery.status,
        outcome.status_code or outcome.error,
    )
    if delivery.next_attempt_at is not None and delivery.status == "pending":
        delay = (delivery.next_attempt_at - timezone.now()).total_seconds()
        if delay <= COUNTDOWN_MAX_SECONDS:
            # Slightly after the due time, so the claim never finds it a moment early.
            deliver_webhook.apply_async(args=[delivery_id], countdown=max(delay, 0) + 0.1)
    return delivery.status


@shared_task(name="dodo_billing.tasks.sweep_webhook_deliveries")
def sweep_webhook_deliveries() -> int:
    """Every 30 s (beat): enqueue due deliveries that may have no task in flight."""
    delivery_ids = webhook_deliveries_due()
    for delivery_id in delivery_ids:
        deliver_webhook.delay(delivery_id)
    if delivery_ids:
        logger.info("Re-enqueued %s due webhook deliveries", len(delivery_ids))
    return len(delivery_ids)
