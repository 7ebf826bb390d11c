"""Periods that cannot be billed: counting failed attempts, giving up visibly, retrying on demand.

A subscription-period whose billing fails (any cause but an unreachable database) has the failure
counted on the subscription (``billing_attempts``, ``billing_error``). After
``settings.BILLING_MAX_ATTEMPTS`` failures the period needs attention (``needs_attention_at``): the
sweep stops enqueueing it, a ``subscription.failed`` webhook says why, and the dashboard and admin
show it until an operator retries it (``subscription_billing_retry``). A cancellation whose final
bill fails puts the subscription there at once (``metering.services.billing.subscription_cancel``).
"""

import logging
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from dodo_billing.db.writes import update_fields
from dodo_billing.errors import InvalidRequestParameters
from metering.models import BILLABLE_STATUSES, Invoice, Subscription, SubscriptionStatus
from metering.services.billing import (
    bill_span,
    close_period,
    emit_needs_attention,
    in_trial,
    mark_needs_attention,
    next_period,
)

logger = logging.getLogger(__name__)

ATTENTION_FIELDS = ["period_index", "previous_billing_date", "next_billing_date"]


class BillingNotBlocked(InvalidRequestParameters):
    code = "BILLING_NOT_BLOCKED"


@transaction.atomic
def subscription_billing_failed(
    *, subscription_id: str, period_start: datetime, reason: str, now: datetime | None = None
) -> Subscription | None:
    """Count a failed attempt to bill the period of ``subscription_id`` that starts at
    ``period_start``; at the limit, the period needs attention. Nothing happens if that period is
    no longer the one due (billed meanwhile) or already needs attention. Own transaction."""
    now = now or timezone.now()
    subscription = (
        Subscription.objects.select_for_update()
        .select_related("business")
        .filter(
            pk=subscription_id,
            status__in=BILLABLE_STATUSES,
            previous_billing_date=period_start,
            needs_attention_at__isnull=True,
        )
        .first()
    )
    if subscription is None:
        return None
    subscription.billing_attempts += 1
    subscription.billing_error = reason[:2000]
    subscription.updated_at = now
    fields = ["billing_attempts", "billing_error", "updated_at"]
    gives_up = subscription.billing_attempts >= settings.BILLING_MAX_ATTEMPTS
    if gives_up:
        fields += mark_needs_attention(subscription, reason=subscription.billing_error, now=now)
    subscription.save(update_fields=sorted(set(fields)))
    if gives_up:
        logger.error(
            "Billing %s for the period from %s failed %s times; it needs attention: %s",
            subscription.id,
            period_start.isoformat(),
            subscription.billing_attempts,
            subscription.billing_error,
        )
        emit_needs_attention(subscription)
    return subscription


@transaction.atomic
def subscription_billing_retry(*, subscription: Subscription, now: datetime | None = None) -> Invoice | None:
    """An operator's retry of a subscription whose billing needs attention: bill what is due now.

    A live subscription's due period is billed as the cycle would bill it; a cancelled one's
    unbilled time up to its cancellation is billed period by period, the last part prorated. If
    billing fails again, nothing is written (the error says why) and it still needs attention.
    Returns the last invoice written, or None when nothing is due yet."""
    now = now or timezone.now()
    subscription = (
        Subscription.objects.select_for_update(of=("self",))
        .select_related("business", "customer", "product", "payment_method")
        .get(pk=subscription.pk)
    )
    if subscription.needs_attention_at is None:
        raise BillingNotBlocked(f"Billing of subscription {subscription.id} does not need attention.")
    subscription.needs_attention_at = None
    subscription.billing_attempts, subscription.billing_error = 0, ""
    subscription.updated_at = now
    cleared = ["needs_attention_at", "billing_attempts", "billing_error", "updated_at"]
    invoice = None
    if subscription.status in BILLABLE_STATUSES:
        if subscription.next_billing_date <= now:
            invoice = close_period(subscription, now)  # saves the subscription, moved on
        else:
            update_fields(subscription, cleared)
    elif subscription.status == SubscriptionStatus.CANCELLED and subscription.cancelled_at is not None:
        invoice = _bill_until_cancellation(subscription, now)
        update_fields(subscription, ATTENTION_FIELDS + cleared)
    else:
        update_fields(subscription, cleared)
    logger.info("Billing of %s retried by an operator: invoice %s", subscription.id, invoice and invoice.id)
    return invoice


def _bill_until_cancellation(subscription: Subscription, now: datetime) -> Invoice | None:
    """Bill what a cancelled subscription left unbilled: each period that ended before it was
    cancelled, then the part of the last one up to ``cancelled_at`` (prorated). The subscription
    keeps its status; only its dates move. Caller holds the lock."""
    until, invoice = subscription.cancelled_at, None
    while subscription.next_billing_date <= until:
        trial = in_trial(subscription)
        if not trial:
            invoice = bill_span(subscription, period_end=subscription.next_billing_date, now=now)
        index, start, end = next_period(subscription, after_trial=trial)
        if subscription.cancel_at_next_billing_date or start >= subscription.expires_at:
            return invoice  # it would have ended at that period's end
        subscription.period_index, subscription.previous_billing_date, subscription.next_billing_date = (
            index,
            start,
            end,
        )
    if until > subscription.previous_billing_date and not in_trial(subscription):
        invoice = bill_span(subscription, period_end=until, now=now, final=True)
    return invoice
