"""Celery tasks of billing: beat finds due work, and tasks bill it, one transaction per period.

Every task is idempotent: billing a period that is already billed, or retrying a payment that is
no longer failed, does nothing. So duplicate deliveries, overlapping beat runs and re-runs after a
crash are all safe.

Beat enqueues the due subscription-periods in chunks of ``PERIODS_PER_TASK`` per message
(``bill_subscription_periods``): each period is still its own transaction, and a period that fails
is logged and re-enqueued alone (``bill_subscription_period``), so it neither stops the others nor
is retried with them. One message per period cost more in Celery (receiving, acknowledging, the
per-task connection upkeep: about 4 ms of CPU) than half of the period's own billing; see
docs/billing.md.
"""

import logging
from datetime import datetime

from celery import shared_task
from django.db import close_old_connections

from dodo_billing.errors import ApplicationError
from dodo_billing.observability import metrics
from metering.models import Payment
from metering.services.billing import (
    TRANSIENT_FAILURES,
    failure_reason,
    subscription_bill_period,
    subscriptions_due,
)
from metering.services.billing_attention import subscription_billing_failed
from metering.services.payments import payment_retry, payments_due_for_retry

logger = logging.getLogger(__name__)

# Subscription-periods per billing task message.
PERIODS_PER_TASK = 25


def enqueue_billing(periods) -> int:
    """One ``bill_subscription_periods`` message per ``PERIODS_PER_TASK`` of ``(subscription id,
    period start)`` pairs; returns the number of messages."""
    periods = [[subscription_id, period_start.isoformat()] for subscription_id, period_start in periods]
    for first in range(0, len(periods), PERIODS_PER_TASK):
        bill_subscription_periods.delay(periods[first : first + PERIODS_PER_TASK])
    return -(-len(periods) // PERIODS_PER_TASK)


@shared_task(name="metering.tasks.bill_due_subscriptions")
def bill_due_subscriptions() -> int:
    """Beat: enqueue the billing of every subscription whose current period has ended."""
    due = subscriptions_due()
    if due:
        messages = enqueue_billing(due)
        logger.info("Enqueued billing of %s subscription period(s) in %s task(s)", len(due), messages)
    return len(due)


def _bill(subscription_id: str, period_start: str) -> str | None:
    """Bill one period in its own transaction. A failure is logged and counted on the subscription
    (after BILLING_MAX_ATTEMPTS the period needs attention and is not retried); only an unreachable
    database is raised, for the caller to try again."""
    start = datetime.fromisoformat(period_start)
    try:
        invoice = subscription_bill_period(subscription_id=subscription_id, period_start=start)
    except TRANSIENT_FAILURES:
        raise
    except Exception as exc:
        log = logger.error if isinstance(exc, ApplicationError) else logger.exception
        log("Billing %s for the period from %s failed: %s", subscription_id, period_start, exc)
        subscription_billing_failed(
            subscription_id=subscription_id, period_start=start, reason=failure_reason(exc)
        )
        metrics.billing_period_finished(billed=False)
        return None
    if invoice is not None:
        metrics.billing_period_finished(billed=True)
        logger.info(
            "Billed %s %s-%s: invoice %s",
            subscription_id,
            invoice.period_start,
            invoice.period_end,
            invoice.id,
        )
    return invoice.id if invoice else None


@shared_task(name="metering.tasks.bill_subscription_period")
def bill_subscription_period(subscription_id: str, period_start: str) -> str | None:
    """Bill one subscription-period (exactly once, whoever else runs it too)."""
    return _bill(subscription_id, period_start)


@shared_task(name="metering.tasks.bill_subscription_periods")
def bill_subscription_periods(periods: list[list[str]]) -> int:
    """Bill several ``[subscription id, period start]`` periods, each in its own transaction.

    A period whose billing fails is counted (``_bill``); one that raises (the database could not
    be reached) is re-enqueued alone as ``bill_subscription_period`` and the others go on; the
    connection is checked as between two tasks. Returns the periods billed."""
    billed = 0
    for subscription_id, period_start in periods:
        try:
            billed += _bill(subscription_id, period_start) is not None
        except Exception:
            logger.exception(
                "Billing %s for the period from %s raised; re-enqueued alone", subscription_id, period_start
            )
            metrics.billing_period_finished(billed=False)
            close_old_connections()  # drop the connection if the error left it unusable
            bill_subscription_period.delay(subscription_id, period_start)
    return billed


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
