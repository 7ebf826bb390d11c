"""Reads for the dashboard's overview and meter pages. Every query here is bounded: by a time
range on an indexed column, by a LIMIT, or by the business's (small) set of currencies."""

import heapq
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db.models import Count, F, Max, Q, Sum
from django.db.models.functions import TruncDay
from django.utils import timezone

from customers.models import Customer
from metering.meter_filters import JsonScalar
from metering.models import Aggregation, Event, Meter, Payment, PaymentStatus, Refund, RefundStatus
from metering.selectors.usage import meter_events, meter_usage_by_customer
from wallets.models import Wallet

# Usage-chart periods of the meter page: name → (length, label, granularities allowed).
USAGE_PERIODS = {
    "24h": (timedelta(hours=24), "Last 24 hours", ("hour",)),
    "7d": (timedelta(days=7), "Last 7 days", ("hour", "day")),
    "30d": (timedelta(days=30), "Last 30 days", ("hour", "day")),
    "90d": (timedelta(days=90), "Last 90 days", ("day",)),
}


def meter_dashboard_list(*, business):
    """All the business's meters, archived ones included (the list page's FilterSet chooses)."""
    return Meter.objects.filter(business=business).order_by("-created_at", "-id")


def meter_usage_window(
    *, period: str, granularity: str, now: datetime | None = None
) -> tuple[datetime, datetime]:
    """[start, end) of a chart period, aligned to whole buckets: ``end`` is the end of the current
    hour (or UTC day), so the newest bucket is the one in progress and none is cut in half."""
    now = (now or timezone.now()).astimezone(UTC)
    end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    if granularity == "day":
        end = now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    return end - USAGE_PERIODS[period][0], end


@dataclass(frozen=True)
class CustomerUsage:
    customer: Customer
    usage: Decimal


def meter_top_customers(
    *, meter: Meter, start: datetime, end: datetime, limit: int = 10
) -> list[CustomerUsage]:
    """The ``limit`` customers with the most usage of ``meter`` over [start, end), largest first
    (ties by customer id), with the same numbers as ``meter_usage_by_customer``.

    Count, sum and max meters sort and limit in SQL; a ``last`` meter's per-customer value needs a
    window function, so its (already aggregated) per-customer values are ranked here."""
    if meter.aggregation_type == Aggregation.LAST:
        usage = meter_usage_by_customer(meter=meter, start=start, end=end)
        top = heapq.nsmallest(limit, usage.items(), key=lambda item: (-item[1], item[0]))
    else:
        events = meter_events(meter=meter).filter(timestamp__gte=start, timestamp__lt=end)
        if meter.aggregation_type == Aggregation.COUNT:
            result = Count("id")
        else:
            aggregate = Sum if meter.aggregation_type == Aggregation.SUM else Max
            result = aggregate(JsonScalar(meter.aggregation_key, "number"))
        rows = (
            events.values("customer_id")
            .annotate(result=result)
            .filter(result__isnull=False)
            .order_by("-result", "customer_id")
            .values_list("customer_id", "result")[:limit]
        )
        top = [(customer_id, Decimal(str(value))) for customer_id, value in rows]
    customers = Customer.objects.filter(business_id=meter.business_id).in_bulk([cid for cid, _ in top])
    return [CustomerUsage(customers[cid], value) for cid, value in top if cid in customers]


def event_count_by_day(
    *, business, days: int = 30, now: datetime | None = None
) -> list[tuple[datetime, int]]:
    """Events per UTC day for the last ``days`` days (today included), every day present.
    One grouped count on the (business, timestamp) index, bounded by the window."""
    now = (now or timezone.now()).astimezone(UTC)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    start = today - timedelta(days=days - 1)
    rows = (
        Event.objects.filter(business=business, timestamp__gte=start, timestamp__lt=today + timedelta(days=1))
        .annotate(day=TruncDay("timestamp"))
        .values("day")
        .annotate(count=Count("id"))
        .order_by()
        .values_list("day", "count")
    )
    found = {day.astimezone(UTC) if day.tzinfo else day.replace(tzinfo=UTC): count for day, count in rows}
    return [(start + timedelta(days=i), found.get(start + timedelta(days=i), 0)) for i in range(days)]


def month_start(now: datetime | None = None) -> datetime:
    now = (now or timezone.now()).astimezone(UTC)
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def revenue_by_currency(*, business, start: datetime, end: datetime) -> list[dict]:
    """Money collected per currency over [start, end): what payments that succeeded in the period
    (``succeeded_at``; refunded later or not) charged through the gateway, less what refunds that
    succeeded in the period (``created_at``) paid back through the gateway, and the difference.
    The parts paid from wallets or included credits are left out: that money was collected when
    the credits were bought (a top-up is itself a gateway payment), so counting it again would
    count it twice; refunds to a wallet pay out nothing. Integer minor units; sorted by currency."""
    paid = (
        Payment.objects.filter(
            business=business,
            status__in=[PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED],
            succeeded_at__gte=start,
            succeeded_at__lt=end,
        )
        .values("currency")
        .annotate(total=Sum("gateway_amount"), count=Count("id"))
        .order_by()
    )
    refunded = (
        Refund.objects.filter(
            business=business,
            status=RefundStatus.SUCCEEDED,
            destination=Refund.Destination.GATEWAY,
            created_at__gte=start,
            created_at__lt=end,
        )
        .values("currency")
        .annotate(total=Sum("amount"), count=Count("id"))
        .order_by()
    )
    rows: dict[str, dict] = {}
    for row in paid:
        rows.setdefault(row["currency"], {"payments": 0, "payment_count": 0, "refunds": 0, "refund_count": 0})
        rows[row["currency"]].update(payments=int(row["total"]), payment_count=row["count"])
    for row in refunded:
        rows.setdefault(row["currency"], {"payments": 0, "payment_count": 0, "refunds": 0, "refund_count": 0})
        rows[row["currency"]].update(refunds=int(row["total"]), refund_count=row["count"])
    return [
        {"currency": currency, **values, "net": values["payments"] - values["refunds"]}
        for currency, values in sorted(rows.items())
    ]


def wallet_low_balance_list(*, business, limit: int = 10):
    """Wallets that need attention, lowest balance first: under their low-balance threshold, or
    empty after having held funds (every customer has a zero wallet per currency from the start;
    those that were never funded are not listed)."""
    return (
        Wallet.objects.filter(customer__business=business)
        .filter(
            Q(low_balance_threshold__isnull=False, balance__lt=F("low_balance_threshold"))
            | Q(balance=0, entry_count__gt=0)
        )
        .select_related("customer")
        .order_by("balance", "customer_id", "currency")[:limit]
    )
