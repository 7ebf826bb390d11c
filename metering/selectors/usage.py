"""Reads of metering: meters, events, and usage, computed in SQL.

Usage semantics (the tests hold a pure-Python reference implementation to the same rules):

- A meter counts the events of its business whose ``event_name`` equals the meter's (exactly)
  and that match its filter (``metering.meter_filters``), with ``start <= timestamp < end``.
- ``count``: the number of those events.
- ``sum`` / ``max``: over the events whose metadata value at ``key`` is a JSON number; a missing
  key, a string (even ``"12"``) or a boolean contributes nothing. No such value: 0.
- ``last``: the numeric value at ``key`` of the newest such event by timestamp; among events with
  the same timestamp, the one ingested last wins. No such value: 0.
- Results are ``Decimal``; PostgreSQL sums exactly (``numeric``). SQLite, the embedded default,
  sums JSON numbers as floating point.
"""

from datetime import datetime, timedelta
from decimal import Decimal, localcontext

from django.db.models import Count, F, Max, Q, Sum, Window
from django.db.models.functions import RowNumber, TruncDay, TruncHour

from dodo_billing.errors import InvalidQueryParams, InvalidRequestParameters, NotFound
from dodo_billing.filtersets import apply_filters
from dodo_billing.money import ROUNDING
from metering.filtersets import EventFilterSet, MeterFilterSet
from metering.meter_filters import JsonScalar, MeterFilterExpression
from metering.models import Aggregation, Event, Meter

GRANULARITIES = {"hour": (TruncHour, timedelta(hours=1)), "day": (TruncDay, timedelta(days=1))}
MAX_SERIES_BUCKETS = 2000


def meter_get(*, business, meter_id: str) -> Meter:
    meter = Meter.objects.filter(business=business, id=meter_id).first()
    if meter is None:
        raise NotFound("Meter not found", extra={"meter_id": meter_id})
    return meter


def meter_list(*, business, filters=None):
    """Active meters, newest first; ``archived=true`` lists only archived ones."""
    queryset = Meter.objects.filter(business=business).order_by("-created_at", "-id")
    return apply_filters(MeterFilterSet, filters or {}, queryset)


def event_get(*, business, event_id: str) -> Event:
    event = Event.objects.filter(business=business, event_id=event_id).first()
    if event is None:
        raise NotFound(
            "No event exists with the specified ID for your business", extra={"event_id": event_id}
        )
    return event


def meter_events(*, meter: Meter, queryset=None):
    """The events a meter counts (its event name and filter), not yet limited in time."""
    queryset = Event.objects.all() if queryset is None else queryset
    queryset = queryset.filter(business_id=meter.business_id, event_name=meter.event_name)
    if meter.filter:
        queryset = queryset.filter(MeterFilterExpression(meter.filter))
    return queryset


def event_list(*, business, filters=None):
    """The business's events, newest first; ``meter_id`` applies a meter's event name and filter."""
    filters = filters or {}
    queryset = Event.objects.filter(business=business)
    meter_id = filters.get("meter_id")
    if meter_id:
        meter = meter_get(business=business, meter_id=meter_id)
        event_name = filters.get("event_name")
        if event_name and event_name != meter.event_name:
            raise InvalidRequestParameters(
                f"event_name {event_name!r} differs from meter {meter.id}'s event name {meter.event_name!r}."
            )
        queryset = meter_events(meter=meter, queryset=queryset)
    queryset = apply_filters(EventFilterSet, filters, queryset)
    return queryset.order_by("-timestamp", "-id")


# Usage figures are exact to this many decimal places (an invoice line's precision); a total
# with finer digits is rounded half to even where it is read, so every face shows one figure.
USAGE_DECIMALS = 12
_USAGE_QUANTUM = Decimal(1).scaleb(-USAGE_DECIMALS)


def usage_number(value) -> Decimal:
    """An aggregate's result as the usage Decimal (no matching events → 0), at most 12 decimals."""
    if value is None:
        return Decimal(0)
    number = value if isinstance(value, Decimal) else Decimal(str(value))
    if number.is_finite() and number.as_tuple().exponent < -USAGE_DECIMALS:
        with localcontext() as context:
            context.prec = max(context.prec, number.adjusted() + USAGE_DECIMALS + 2)
            number = number.quantize(_USAGE_QUANTUM, rounding=ROUNDING)
    return number


def _value_expression(meter: Meter):
    return JsonScalar(meter.aggregation_key, "number")


def meter_aggregate(meter: Meter, *, where: Q | None = None):
    """The aggregate of a count, sum or max meter over Event rows, restricted by a FILTER clause to
    the meter's event name and filter (and ``where``), so several meters share one query.
    ``last`` meters need an ordered query instead (``meter_usage``)."""
    condition = Q(event_name=meter.event_name)
    if where is not None:
        condition &= where
    if meter.filter:
        condition &= Q(MeterFilterExpression(meter.filter))
    if meter.aggregation_type == Aggregation.COUNT:
        return Count("id", filter=condition)
    aggregate = Sum if meter.aggregation_type == Aggregation.SUM else Max
    return aggregate(_value_expression(meter), filter=condition)


def _check_period(start: datetime, end: datetime) -> None:
    if start >= end:
        raise InvalidQueryParams("The period's start must be before its end.")


def _last_values(meter: Meter, events, group: str):
    """(group, value) of the newest event with a numeric value in each group (a window, not a loop)."""
    newest_first = [F("timestamp").desc(), F("id").desc()]
    return (
        events.annotate(value=_value_expression(meter))
        .filter(value__isnull=False)
        .annotate(rank=Window(RowNumber(), partition_by=[F(group)], order_by=newest_first))
        .filter(rank=1)
        .values_list(group, "value")
    )


def meter_usage(*, meter: Meter, customer, start: datetime, end: datetime) -> Decimal:
    """One customer's usage of a meter over [start, end): one indexed query."""
    _check_period(start, end)
    events = meter_events(meter=meter).filter(customer=customer, timestamp__gte=start, timestamp__lt=end)
    kind = meter.aggregation_type
    if kind == Aggregation.COUNT:
        return Decimal(events.count())
    value = _value_expression(meter)
    if kind == Aggregation.LAST:
        newest = (
            events.annotate(value=value)
            .filter(value__isnull=False)
            .order_by("-timestamp", "-id")
            .values_list("value", flat=True)[:1]
        )
        return usage_number(next(iter(newest), None))
    aggregate = Sum if kind == Aggregation.SUM else Max
    return usage_number(events.aggregate(result=aggregate(value))["result"])


def meters_usage(*, meters: list[Meter], customer, start: datetime, end: datetime) -> dict[str, Decimal]:
    """One customer's usage of several meters over [start, end): ``{meter_id: Decimal}``.

    The count, sum and max meters are computed together in one query (one aggregate per meter,
    each with the meter's event name and filter as its FILTER clause); a ``last`` meter needs its
    own ordered query. Same semantics as meter_usage.
    """
    _check_period(start, end)
    results: dict[str, Decimal] = {}
    aggregates = {}
    for index, meter in enumerate(meters):
        if meter.aggregation_type == Aggregation.LAST:
            results[meter.id] = meter_usage(meter=meter, customer=customer, start=start, end=end)
            continue
        aggregates[f"m{index}"] = meter_aggregate(meter)
    if aggregates:
        names = {meter.event_name for meter in meters}
        row = Event.objects.filter(
            business_id=meters[0].business_id,
            customer=customer,
            event_name__in=names,
            timestamp__gte=start,
            timestamp__lt=end,
        ).aggregate(**aggregates)
        for index, meter in enumerate(meters):
            if f"m{index}" in row:
                results[meter.id] = usage_number(row[f"m{index}"])
    return results


def meter_usage_by_customer(*, meter: Meter, start: datetime, end: datetime, customer_ids=None) -> dict:
    """Every customer's usage of a meter over [start, end) in one query: ``{customer_id: Decimal}``.
    Customers without matching events are absent (their usage is 0)."""
    _check_period(start, end)
    events = meter_events(meter=meter).filter(timestamp__gte=start, timestamp__lt=end)
    if customer_ids is not None:
        events = events.filter(customer_id__in=customer_ids)
    kind = meter.aggregation_type
    if kind == Aggregation.LAST:
        return {
            customer_id: usage_number(value)
            for customer_id, value in _last_values(meter, events, "customer_id")
        }
    if kind == Aggregation.COUNT:
        rows = events.values("customer_id").annotate(result=Count("id"))
    else:
        aggregate = Sum if kind == Aggregation.SUM else Max
        rows = events.values("customer_id").annotate(result=aggregate(_value_expression(meter)))
    return {row["customer_id"]: usage_number(row["result"]) for row in rows.order_by()}


def meter_usage_series(
    *, meter: Meter, start: datetime, end: datetime, granularity: str = "day", customer=None
) -> list[tuple[datetime, Decimal]]:
    """Usage per hour or day bucket over [start, end), every bucket present (0 when empty).

    Buckets are UTC hours or days; a ``last`` meter's bucket holds the last value within it."""
    _check_period(start, end)
    if granularity not in GRANULARITIES:
        raise InvalidQueryParams(f"granularity must be one of {', '.join(GRANULARITIES)}.")
    trunc, step = GRANULARITIES[granularity]
    first = _truncate(start, granularity)
    buckets = int((end - first) / step) + (1 if (end - first) % step else 0)
    if buckets > MAX_SERIES_BUCKETS:
        raise InvalidQueryParams(
            f"The period holds {buckets} {granularity} buckets; at most {MAX_SERIES_BUCKETS}."
        )
    events = meter_events(meter=meter).filter(timestamp__gte=start, timestamp__lt=end)
    if customer is not None:
        events = events.filter(customer=customer)
    events = events.annotate(bucket=trunc("timestamp"))
    kind = meter.aggregation_type
    if kind == Aggregation.LAST:
        rows = _last_values(meter, events, "bucket")
    elif kind == Aggregation.COUNT:
        rows = events.values("bucket").annotate(result=Count("id")).values_list("bucket", "result")
    else:
        aggregate = Sum if kind == Aggregation.SUM else Max
        rows = (
            events.values("bucket")
            .annotate(result=aggregate(_value_expression(meter)))
            .values_list("bucket", "result")
        )
    found = {
        bucket: usage_number(result)
        for bucket, result in (rows if kind == Aggregation.LAST else rows.order_by())
    }
    return [(first + step * i, found.get(first + step * i, Decimal(0))) for i in range(buckets)]


def _truncate(moment: datetime, granularity: str) -> datetime:
    moment = moment.replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0) if granularity == "day" else moment
