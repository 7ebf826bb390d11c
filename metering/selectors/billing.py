"""Reads of billing: products, subscriptions, a subscription's usage per billing period, payment methods.

Usage history (``subscription_usage_history``) lists one item per billing period, newest first:
- past periods come from their invoices' usage lines, exactly as billed (consumed, free, chargeable
  units, unit price, amount), so a later change to a meter or product never rewrites history;
- the current, not yet billed period is computed live with ``meter_usage`` and ``usage_charge``,
  the same two functions billing will use when the period ends.
"""

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Max, Prefetch

from dodo_billing.db.compiled import CompiledQuery
from dodo_billing.errors import InvalidQueryParams, NotFound
from dodo_billing.filtersets import apply_filters
from metering.filtersets import ProductFilterSet, SubscriptionFilterSet
from metering.models import (
    BILLABLE_STATUSES,
    Aggregation,
    Event,
    Invoice,
    InvoiceLine,
    Meter,
    PaymentMethod,
    Product,
    ProductMeter,
    Subscription,
    SubscriptionMeter,
)
from metering.selectors.usage import meter_aggregate, meter_usage, usage_number

logger = logging.getLogger(__name__)

# --- products -------------------------------------------------------------------------------------


def _products():
    meters = ProductMeter.objects.select_related("meter").order_by("position")
    return Product.objects.prefetch_related(Prefetch("product_meters", queryset=meters))


def product_get(*, business, product_id: str) -> Product:
    """The business's product (archived or not), or NOT_FOUND (also for another business's)."""
    product = _products().filter(business=business, id=product_id).first()
    if product is None:
        raise NotFound(f"Product {product_id} not found", extra={"product_id": product_id})
    return product


def product_list(*, business, filters=None):
    """Active products, newest first; ``archived=true`` lists only archived ones, ``recurring``
    narrows to subscription (true) or one-time (false) prices."""
    queryset = _products().filter(business=business).order_by("-created_at", "-id")
    return apply_filters(ProductFilterSet, filters or {}, queryset)


# --- subscriptions --------------------------------------------------------------------------------


def _subscriptions():
    meters = SubscriptionMeter.objects.select_related("meter").order_by("position")
    return Subscription.objects.select_related("customer", "product").prefetch_related(
        Prefetch("subscription_meters", queryset=meters)
    )


def subscription_get(*, business, subscription_id: str) -> Subscription:
    subscription = _subscriptions().filter(business=business, id=subscription_id).first()
    if subscription is None:
        raise NotFound("Subscription not found", extra={"subscription_id": subscription_id})
    return subscription


def subscription_list(*, business, filters=None):
    """The business's subscriptions, newest first, narrowed by SubscriptionFilterSet parameters."""
    queryset = _subscriptions().filter(business=business).order_by("-created_at", "-id")
    return apply_filters(SubscriptionFilterSet, filters or {}, queryset)


# --- usage history --------------------------------------------------------------------------------


@dataclass(frozen=True)
class MeterPeriodUsage:
    meter_id: str
    name: str
    consumed_units: Decimal
    free_threshold: int
    chargeable_units: Decimal
    price_per_unit: Decimal
    currency: str
    total_price: int


@dataclass(frozen=True)
class UsagePeriod:
    start_date: datetime
    end_date: datetime
    meters: list[MeterPeriodUsage]
    invoice_id: str | None  # None: the current period, not billed yet


class UsageHistory:
    """The periods of one subscription, newest first, sliceable like a queryset (for the paginator).

    The current period (if any) is item 0; invoices follow. Only the slice asked for is read: the
    live usage is computed only when the page holds item 0."""

    def __init__(self, *, subscription: Subscription, meter_ids: list[str], invoices, current: bool):
        self.subscription = subscription
        self.meter_ids = meter_ids
        self.invoices = invoices
        self.current = current

    def __getitem__(self, item):
        if not isinstance(item, slice) or item.step not in (None, 1):
            raise TypeError("UsageHistory supports slices only")
        start, stop = item.start or 0, item.stop
        if not self.meter_ids or (stop is not None and stop <= start):
            return []
        shift = 1 if self.current else 0
        periods = []
        if self.current and start == 0:
            periods.append(self._current_period())
        first = max(start - shift, 0)
        last = None if stop is None else stop - shift
        if last is None or last > first:
            periods.extend(self._billed_period(invoice) for invoice in self.invoices[first:last])
        return periods

    def _current_period(self) -> UsagePeriod:
        subscription = self.subscription
        start, end = subscription.previous_billing_date, subscription.next_billing_date
        from metering.services.billing import usage_charge  # the one pricing rule billing uses

        meters = []
        for priced in subscription.subscription_meters.all():
            if priced.meter_id not in self.meter_ids:
                continue
            consumed = meter_usage(meter=priced.meter, customer=subscription.customer, start=start, end=end)
            chargeable, amount = usage_charge(
                consumed=consumed, free_threshold=priced.free_threshold, price_per_unit=priced.price_per_unit
            )
            meters.append(
                MeterPeriodUsage(
                    meter_id=priced.meter_id,
                    name=priced.meter.name,
                    consumed_units=consumed,
                    free_threshold=priced.free_threshold,
                    chargeable_units=chargeable,
                    price_per_unit=priced.price_per_unit,
                    currency=subscription.currency,
                    total_price=amount,
                )
            )
        return UsagePeriod(start_date=start, end_date=end, meters=meters, invoice_id=None)

    @staticmethod
    def _billed_period(invoice: Invoice) -> UsagePeriod:
        meters = [
            MeterPeriodUsage(
                meter_id=line.meter_id,
                name=line.meter.name,
                consumed_units=line.consumed_units,
                free_threshold=line.free_threshold,
                chargeable_units=line.chargeable_units,
                price_per_unit=line.price_per_unit,
                currency=invoice.currency,
                total_price=line.amount,
            )
            for line in invoice.usage_lines
        ]
        return UsagePeriod(
            start_date=invoice.period_start, end_date=invoice.period_end, meters=meters, invoice_id=invoice.id
        )


def subscription_usage_history(
    *,
    subscription: Subscription,
    start_date: datetime | None = None,
    end_date: datetime | None = None,
    meter_id: str | None = None,
) -> UsageHistory:
    """The subscription's billing periods that overlap [start_date, end_date], newest first.

    A period [s, e) is listed when ``e > start_date`` and ``s <= end_date`` (both bounds optional,
    both inclusive as the contract says). ``meter_id`` keeps that meter only: NOT_FOUND if the
    business has no such meter, no periods if the subscription does not price it. A subscription
    without meters has no usage history."""
    if start_date is not None and end_date is not None and start_date > end_date:
        raise InvalidQueryParams("start_date must not be after end_date.")
    if (
        meter_id is not None
        and not Meter.objects.filter(business_id=subscription.business_id, id=meter_id).exists()
    ):
        raise NotFound("Meter not found", extra={"meter_id": meter_id})
    meter_ids = [
        priced.meter_id
        for priced in subscription.subscription_meters.all()
        if meter_id is None or priced.meter_id == meter_id
    ]
    lines = InvoiceLine.objects.filter(kind=InvoiceLine.Kind.USAGE, meter_id__in=meter_ids).select_related(
        "meter"
    )
    invoices = (
        Invoice.objects.filter(subscription=subscription, period_start__isnull=False)
        .order_by("-period_start", "-id")
        .prefetch_related(Prefetch("lines", queryset=lines.order_by("position"), to_attr="usage_lines"))
    )
    if start_date is not None:
        invoices = invoices.filter(period_end__gt=start_date)
    if end_date is not None:
        invoices = invoices.filter(period_start__lte=end_date)
    current = (
        subscription.status in BILLABLE_STATUSES
        and (start_date is None or subscription.next_billing_date > start_date)
        and (end_date is None or subscription.previous_billing_date <= end_date)
        and not Invoice.objects.filter(
            subscription=subscription, period_start=subscription.previous_billing_date
        ).exists()
    )
    return UsageHistory(subscription=subscription, meter_ids=meter_ids, invoices=invoices, current=current)


# --- payment methods ------------------------------------------------------------------------------


def payment_method_list(*, customer):
    """The customer's payment methods, newest first, with when each last paid (``last_used_at``)."""
    return (
        PaymentMethod.objects.filter(customer=customer)
        .annotate(last_used_at=Max("payment__created_at"))
        .order_by("-created_at", "-id")
    )


def payment_method_get(*, business, payment_method_id: str) -> PaymentMethod:
    method = PaymentMethod.objects.filter(business=business, id=payment_method_id).first()
    if method is None:
        raise NotFound(
            f"Payment method {payment_method_id} not found", extra={"payment_method_id": payment_method_id}
        )
    return method


# --- billing a period: its reads, compiled once ---------------------------------------------------


def _locked_subscription(shape, *, subscription_id, period_start, now):
    return (
        Subscription.objects.select_for_update(of=("self",))
        .select_related("product", "customer", "business", "payment_method")
        .filter(
            pk=subscription_id,
            status__in=BILLABLE_STATUSES,
            previous_billing_date=period_start,
            next_billing_date__lte=now,
            needs_attention_at__isnull=True,
        )
        .order_by()
    )


def _priced_meters(shape, *, subscription_id):
    meters = SubscriptionMeter.objects.filter(subscription_id=subscription_id)
    return meters.select_related("meter").order_by("position")


def _usage(meters, *, business_id, customer_id, start, end):
    """Like ``meters_usage``: one aggregate per meter, each filtered by the meter's event name and
    filter, over the customer's events of those names in [start, end). Grouped by the business
    (one row, or none without events) so that it is a plain queryset."""
    return (
        Event.objects.filter(
            business_id=business_id,
            customer_id=customer_id,
            event_name__in=sorted({meter.event_name for meter in meters}),
            timestamp__gte=start,
            timestamp__lt=end,
        )
        .order_by()
        .values("business_id")
        .annotate(**{f"m{index}": meter_aggregate(meter) for index, meter in enumerate(meters)})
    )


_LOCKED_SUBSCRIPTION = CompiledQuery("billing.subscription", _locked_subscription)
_PRICED_METERS = CompiledQuery("billing.meters", _priced_meters)
_USAGE = CompiledQuery("billing.usage", _usage)


def subscription_lock_for_billing(*, subscription_id: str, period_start: datetime, now: datetime):
    """The subscription with its product, customer, business and payment method, its row locked
    (FOR UPDATE OF the subscription), if it is billable, its current period starts at
    ``period_start`` and has ended by ``now``; else None. Inside the caller's transaction.

    The conditions are part of the locking query: PostgreSQL re-checks them on the newest version
    of the row once the lock is granted, so a period billed meanwhile by another worker finds no
    row, and a period that is not due locks nothing."""
    found = _LOCKED_SUBSCRIPTION.run(subscription_id=subscription_id, period_start=period_start, now=now)
    return found[0] if found else None


def subscription_priced_meters(*, subscription_id: str) -> list[SubscriptionMeter]:
    """The subscription's meter prices in position order, each with its meter."""
    return _PRICED_METERS.run(subscription_id=subscription_id)


def billing_meters_usage(*, meters: list[Meter], customer_id: str, start: datetime, end: datetime) -> dict:
    """``{meter_id: Decimal}``: one customer's usage of several meters over [start, end), as
    ``metering.selectors.usage.meters_usage`` computes it (the same aggregates, in one query; a
    ``last`` meter in a query of its own), with the statement compiled once per set of meters."""
    if start >= end:
        raise InvalidQueryParams("The period's start must be before its end.")
    results = {}
    summed = []
    for meter in meters:
        if meter.aggregation_type == Aggregation.LAST:
            results[meter.id] = meter_usage(meter=meter, customer=customer_id, start=start, end=end)
        else:
            summed.append(meter)
    if summed:
        key = tuple(
            (
                meter.id,
                meter.business_id,
                meter.event_name,
                meter.aggregation_type,
                meter.aggregation_key,
                json.dumps(meter.filter, sort_keys=True),
            )
            for meter in summed
        )
        rows = _USAGE.run(
            key=key,
            shape=summed,
            business_id=summed[0].business_id,
            customer_id=customer_id,
            start=start,
            end=end,
        )
        row = rows[0] if rows else {}
        for index, meter in enumerate(summed):
            results[meter.id] = usage_number(row.get(f"m{index}"))
    return results
