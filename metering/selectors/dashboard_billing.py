"""Reads for the dashboard's billing pages: a customer's payments and subscriptions, what is left
to refund of a payment, and the current period's usage of every subscription on a page.

Everything is scoped to one business; another business's payment, subscription or customer is
NOT_FOUND, exactly as in the API.
"""

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Q

from dodo_billing.errors import NotFound
from metering.models import (
    BILLABLE_STATUSES,
    Aggregation,
    Event,
    Payment,
    PaymentStatus,
    Refund,
    RefundStatus,
    Subscription,
    SubscriptionStatus,
)
from metering.selectors.billing import subscription_get, subscription_list
from metering.selectors.payments import payment_get, payment_list
from metering.selectors.usage import meter_aggregate, meter_usage, usage_number

ENDED_SUBSCRIPTION_STATUSES = (SubscriptionStatus.CANCELLED, SubscriptionStatus.EXPIRED)


def customer_payment_list(*, business, customer):
    """The customer's payments, newest first, with what their rows show (customer, payment
    method, product, refunds) loaded in a fixed number of queries."""
    return payment_list(business=business, filters={"customer_id": customer.id})


def customer_payment_get(*, business, customer, payment_id: str) -> Payment:
    """One payment of the customer: NOT_FOUND for another customer's or business's payment."""
    payment = payment_get(business=business, payment_id=payment_id)
    if payment.customer_id != customer.id:
        raise NotFound("Payment not found", extra={"payment_id": payment_id})
    return payment


def customer_subscription_list(*, business, customer, include_ended: bool = False):
    """The customer's subscriptions, newest first; live ones only unless ``include_ended``."""
    queryset = subscription_list(business=business, filters={"customer_id": customer.id})
    if not include_ended:
        queryset = queryset.exclude(status__in=ENDED_SUBSCRIPTION_STATUSES)
    return queryset


def subscriptions_needing_attention(*, business, customer=None):
    """Subscriptions whose billing gave up on a period and waits for an operator, oldest first
    (live and cancelled ones alike)."""
    queryset = Subscription.objects.filter(business=business, needs_attention_at__isnull=False)
    if customer is not None:
        queryset = queryset.filter(customer=customer)
    return queryset.select_related("customer", "product").order_by("needs_attention_at", "id")


def customer_subscription_get(*, business, customer, subscription_id: str) -> Subscription:
    subscription = subscription_get(business=business, subscription_id=subscription_id)
    if subscription.customer_id != customer.id:
        raise NotFound("Subscription not found", extra={"subscription_id": subscription_id})
    return subscription


@dataclass(frozen=True)
class RefundSummary:
    """What has been refunded of a payment and what may still be, in minor units."""

    refunded: int
    refundable: int  # to any destination
    refundable_to_gateway: int  # back through the payment method

    @property
    def can_refund(self) -> bool:
        return self.refundable > 0


def payment_refund_summary(payment: Payment) -> RefundSummary:
    """The same sums the refund service checks, read from the payment's prefetched refunds (the
    payment selectors prefetch them), so a table of payments needs no query per row. Pending and
    succeeded refunds count; failed ones do not."""
    live = [
        refund
        for refund in payment.refunds.all()
        if refund.status in (RefundStatus.PENDING, RefundStatus.SUCCEEDED)
    ]
    refunded = sum(refund.amount for refund in live)
    to_gateway = sum(refund.amount for refund in live if refund.destination == Refund.Destination.GATEWAY)
    if payment.status not in (PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED):
        return RefundSummary(refunded=refunded, refundable=0, refundable_to_gateway=0)
    refundable = max(payment.total_amount - refunded, 0)
    return RefundSummary(
        refunded=refunded,
        refundable=refundable,
        refundable_to_gateway=max(min(refundable, payment.gateway_amount - to_gateway), 0),
    )


@dataclass(frozen=True)
class MeterUsageNow:
    meter_id: str
    name: str
    unit: str
    consumed: Decimal
    free_threshold: int


def subscriptions_current_usage(*, subscriptions) -> dict[str, list[MeterUsageNow]]:
    """Usage so far in the current period of each subscription, per priced meter:
    ``{subscription_id: [MeterUsageNow, ...]}`` in the subscription's meter order.

    The same rules as ``meter_usage`` (what billing charges): count, sum and max meters of every
    subscription are computed together in ONE query (one aggregate per subscription and meter,
    each with its customer, event name, filter and period as the FILTER clause); a ``last`` meter
    needs its own ordered query. Subscriptions that are not billable (ended, paused) have none.
    ``subscriptions`` must come with ``subscription_meters__meter`` prefetched (the subscription
    selectors do that)."""
    usage: dict[str, dict[str, Decimal]] = {}
    aggregates = {}
    keys = {}
    names, customers, business_id = set(), set(), None
    start, end = None, None
    live = [sub for sub in subscriptions if sub.status in BILLABLE_STATUSES]
    for s_index, subscription in enumerate(live):
        usage[subscription.id] = {}
        period = (subscription.previous_billing_date, subscription.next_billing_date)
        for m_index, priced in enumerate(subscription.subscription_meters.all()):
            meter = priced.meter
            if meter.aggregation_type == Aggregation.LAST:
                usage[subscription.id][meter.id] = meter_usage(
                    meter=meter, customer=subscription.customer, start=period[0], end=period[1]
                )
                continue
            alias = f"s{s_index}m{m_index}"
            aggregates[alias] = meter_aggregate(
                meter,
                where=Q(
                    customer_id=subscription.customer_id, timestamp__gte=period[0], timestamp__lt=period[1]
                ),
            )
            keys[alias] = (subscription.id, meter.id)
            names.add(meter.event_name)
            customers.add(subscription.customer_id)
            business_id = subscription.business_id
            start = period[0] if start is None else min(start, period[0])
            end = period[1] if end is None else max(end, period[1])
    if aggregates:
        row = Event.objects.filter(
            business_id=business_id,
            customer_id__in=customers,
            event_name__in=names,
            timestamp__gte=start,
            timestamp__lt=end,
        ).aggregate(**aggregates)
        for alias, (subscription_id, meter_id) in keys.items():
            usage[subscription_id][meter_id] = usage_number(row[alias])
    result = {}
    for subscription in live:
        result[subscription.id] = [
            MeterUsageNow(
                meter_id=priced.meter_id,
                name=priced.meter.name,
                unit=priced.meter.measurement_unit,
                consumed=usage[subscription.id].get(priced.meter_id, Decimal(0)),
                free_threshold=priced.free_threshold,
            )
            for priced in subscription.subscription_meters.all()
        ]
    return result
