"""Writes of metering: meters (create, update, archive) and usage-event ingestion."""

from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from customers.models import Customer
from dodo_billing.db.copy import copy_insert_new
from dodo_billing.errors import InvalidRequestBody, validate_fields
from dodo_billing.observability import metrics
from metering.ingestion import EventIn, EventRejected, EventWindow, encode_metadata, event_timestamp
from metering.meter_filters import validate_metadata_key, validate_meter_filter
from metering.models import Aggregation, Event, Meter

METER_UPDATABLE_FIELDS = ("name", "description", "measurement_unit")


def validate_aggregation(aggregation) -> tuple[str, str | None]:
    """``{"type": "sum", "key": "tokens"}`` → ("sum", "tokens"); count needs no key."""
    if not isinstance(aggregation, dict):
        raise InvalidRequestBody("aggregation: must be an object with type (and key unless count).")
    kind = aggregation.get("type")
    if kind not in Aggregation.values:
        raise InvalidRequestBody(
            f"aggregation.type: must be one of {', '.join(Aggregation.values)}.",
            extra={"errors": {"aggregation.type": ["invalid"]}},
        )
    key = aggregation.get("key")
    if kind == Aggregation.COUNT:
        return kind, None
    if key is None:
        raise InvalidRequestBody(
            f"aggregation.key: a {kind} meter needs the metadata key to aggregate.",
            extra={"errors": {"aggregation.key": ["required"]}},
        )
    return kind, validate_metadata_key(key, "aggregation.key")


@transaction.atomic
def meter_create(
    *,
    business,
    name: str,
    event_name: str,
    measurement_unit: str,
    aggregation: dict,
    description: str | None = None,
    filter: dict | None = None,
) -> Meter:
    aggregation_type, aggregation_key = validate_aggregation(aggregation)
    now = timezone.now()
    meter = Meter(
        created_at=now,
        updated_at=now,
        business=business,
        name=name,
        event_name=event_name,
        measurement_unit=measurement_unit,
        description=description,
        aggregation_type=aggregation_type,
        aggregation_key=aggregation_key,
        filter=validate_meter_filter(filter),
    )
    validate_fields(meter)
    meter.save(force_insert=True)
    return meter


@transaction.atomic
def meter_update(*, meter: Meter, **changes) -> Meter:
    """Rename or re-describe a meter. What it counts (event, aggregation, filter) never changes:
    past invoices were computed from it."""
    unknown = set(changes) - set(METER_UPDATABLE_FIELDS)
    if unknown:
        raise TypeError(f"meter_update() got unexpected fields {sorted(unknown)}")
    for field, value in changes.items():
        setattr(meter, field, value)
    if changes:
        meter.updated_at = timezone.now()
        validate_fields(meter)
        meter.save(update_fields=[*changes, "updated_at"])
    return meter


def meter_archive(*, meter: Meter) -> Meter:
    if meter.archived_at is None:
        meter.archived_at = meter.updated_at = timezone.now()
        meter.save(update_fields=["archived_at", "updated_at"])
    return meter


def meter_unarchive(*, meter: Meter) -> Meter:
    if meter.archived_at is not None:
        meter.archived_at = None
        meter.updated_at = timezone.now()
        meter.save(update_fields=["archived_at", "updated_at"])
    return meter


# --- ingestion -----------------------------------------------------------------------------------


def events_check(*, business, events: list[EventIn], window: EventWindow) -> list[datetime]:
    """Reject the whole batch on the first bad event; return each event's UTC timestamp.

    Checks what the decoder cannot: no event_id twice in the batch, timestamps inside the
    business's window, every customer one of the business's own.
    """
    seen: dict[str, int] = {}
    timestamps = []
    for index, event in enumerate(events):
        first = seen.setdefault(event.event_id, index)
        if first != index:
            raise EventRejected(
                f"{event.event_id!r} is also events[{first}]; a request may not repeat an event_id.",
                index=index,
                field="event_id",
                code="DUPLICATE_EVENT_IDS_IN_REQUEST",
            )
        timestamp = event_timestamp(event, window)
        problem = window.problem(timestamp)
        if problem:
            raise EventRejected(problem, index=index, field="timestamp", code="TIMESTAMP_OUT_OF_RANGE")
        timestamps.append(timestamp)
    wanted = {event.customer_id for event in events}
    known = set(Customer.objects.filter(business=business, id__in=wanted).values_list("id", flat=True))
    if len(known) != len(wanted):
        for index, event in enumerate(events):
            if event.customer_id not in known:
                raise EventRejected(
                    f"no customer {event.customer_id!r} in this business.",
                    index=index,
                    field="customer_id",
                    code="CUSTOMER_NOT_FOUND",
                )
    return timestamps


def events_insert(*, business, events: list[EventIn], timestamps: list[datetime], ingested_at) -> int:
    """Store checked events; an event_id the business already has is skipped. Returns how many
    were new. Concurrent batches with overlapping ids store each id exactly once."""
    if not events:
        return 0
    with transaction.atomic():
        if connection.vendor == "postgresql":  # COPY, then one INSERT … ON CONFLICT DO NOTHING
            return copy_insert_new(
                model=Event,
                columns=["customer_id", "event_id", "event_name", "timestamp", "metadata"],
                rows=(
                    (
                        event.customer_id,
                        event.event_id,
                        event.event_name,
                        timestamp,
                        encode_metadata(event.metadata),
                    )
                    for event, timestamp in zip(events, timestamps, strict=True)
                ),
                constants={"business_id": business.id, "ingested_at": ingested_at},
                unique=("business", "event_id"),
                order_by="event_id",
            )
        order = sorted(range(len(events)), key=lambda i: events[i].event_id)
        ids = [events[i].event_id for i in order]
        existing = set(
            Event.objects.filter(business=business, event_id__in=ids).values_list("event_id", flat=True)
        )
        new = [
            Event(
                business=business,
                customer_id=events[i].customer_id,
                event_id=events[i].event_id,
                event_name=events[i].event_name,
                timestamp=timestamps[i],
                metadata=events[i].metadata,
                ingested_at=ingested_at,
            )
            for i in order
            if events[i].event_id not in existing
        ]
        Event.objects.bulk_create(new, ignore_conflicts=True)
        return len(new)


def events_ingest(*, business, events: list[EventIn], now=None) -> int:
    """Check and store a batch (all or nothing). Returns the number of new events."""
    now = now or timezone.now()
    timestamps = events_check(
        business=business, events=events, window=EventWindow.for_business(business, now)
    )
    stored = events_insert(business=business, events=events, timestamps=timestamps, ingested_at=now)
    metrics.events_ingested(received=len(events), stored=stored)
    return stored
