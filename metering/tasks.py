"""Celery tasks of billing: beat finds due work, one task per subscription-period bills it.

Every task is idempotent: billing a period that is already billed, or retrying a payment that is
no longer failed, does nothing. So duplicate deliveries, overlapping beat runs and re-runs after a
crash are all safe.
"""

import logging
from datetime import datetime

from celery import shared_task

from dodo_billing.errors import ApplicationError
from metering.models import Payment
from metering.services.billing import subscription_bill_period, subscriptions_due
from metering.services.payments import payment_retry, payments_due_for_retry

logger = logging.getLogger(__name__)


@shared_task(name="metering.tasks.bill_due_subscriptions")
def bill_due_subscriptions() -> int:
    """Beat: enqueue one billing task per subscription whose current period has ended."""
    due = subscriptions_due()
    for subscription_id, period_start in due:
        bill_subscription_period.delay(subscription_id, period_start.isoformat())
    if due:
        logger.info("Enqueued billing of %s subscription period(s)", len(due))
    return len(due)


@shared_task(name="metering.tasks.bill_subscription_period")
def bill_subscription_period(subscription_id: str, period_start: str) -> str | None:
    """Bill one subscription-period (exactly once, whoever else runs it too)."""
    try:
        invoice = subscription_bill_period(
            subscription_id=subscription_id, period_start=datetime.fromisoformat(period_start)
        )
    except ApplicationError as exc:
        logger.error(
            "Billing %s for the period from %s failed: %s", subscription_id, period_start, exc.message
        )
        return None
    if invoice is not None:
        logger.info(
            "Billed %s %s-%s: invoice %s",
            subscription_id,
            invoice.period_start,
            invoice.period_end,
            invoice.id,
        )
    return invoice.id if invoice else None


@shared_task(name="metering.tasks.retry_failed_payments")
def retry_failed_payments() -> int:
    """Beat: enqueue a retry for every failed payment whose next attempt is due."""
    due = payments_due_for_retry()
    for payment_id in due:
        retry_payment.delay(payment_id)
    return len(due)


@shared_task(name="metering.tasks.retry_payment")
def retry_payment(payment_id: str) -> str | None:
    payment = Payment.objects.filter(pk=payment_id).first()
    if payment is None:
        return None
    try:
        return payment_retry(payment=payment).status
    except ApplicationError as exc:  # already retried by a concurrent run, or no longer failed
        logger.info("Retry of %s skipped: %s", payment_id, exc.message)
        return None
