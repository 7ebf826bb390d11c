"""Usage metering: events the merchant sends, and meters that turn them into billable quantities."""

from django.db import models
from django.db.models import Q
from django.utils import timezone

from customers.models import Customer
from dodo_billing.ids import MAX_LENGTH, PublicId
from dodo_billing.models import Business

EVENT_ID_MAX_LENGTH = 255
EVENT_NAME_MAX_LENGTH = 255


class Aggregation(models.TextChoices):
    COUNT = "count"
    SUM = "sum"
    MAX = "max"
    LAST = "last"


class Meter(models.Model):
    id = models.CharField(primary_key=True, max_length=MAX_LENGTH, default=PublicId("mtr"), editable=False)
    business = models.ForeignKey(Business, on_delete=models.PROTECT, related_name="meters")
    name = models.CharField(max_length=255)
    description = models.TextField(null=True, blank=True)  # noqa: DJ001 (null = none, as in the contract)
    event_name = models.CharField(max_length=EVENT_NAME_MAX_LENGTH)
    measurement_unit = models.CharField(max_length=100)
    aggregation_type = models.CharField(max_length=8, choices=Aggregation.choices)
    aggregation_key = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001
    filter = models.JSONField(null=True, blank=True, help_text="The contract's MeterFilter, validated.")
    archived_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["business", "-created_at", "-id"], name="meter_business_newest")]
        constraints = [
            models.CheckConstraint(
                condition=Q(aggregation_type="count") | Q(aggregation_key__isnull=False),
                name="meter_key_unless_count",
            ),
            models.CheckConstraint(
                condition=Q(aggregation_type__in=Aggregation.values), name="meter_aggregation_valid"
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.id})"

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None


class Event(models.Model):
    """One usage event. ``event_id`` is the client's idempotency key, unique per business.

    The table is built for ingestion speed and range scans: a bigint key in ingestion order (it
    breaks ties between equal timestamps), no foreign-key constraints (the ingest service checks
    that every customer belongs to the business; customers are never deleted), and exactly the
    indexes the reads need:
    - UNIQUE (business, event_id): dedup at ingestion, GET /events/{event_id};
    - (customer, event_name, timestamp): one customer's usage of a meter over a period;
    - (business, event_name, timestamp): every customer's usage of a meter over a period;
    - (business, timestamp): the newest-first event list and explorer.
    """

    id = models.BigAutoField(primary_key=True)
    business = models.ForeignKey(
        Business, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    customer = models.ForeignKey(
        Customer, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="events"
    )
    event_id = models.CharField(max_length=EVENT_ID_MAX_LENGTH)
    event_name = models.CharField(max_length=EVENT_NAME_MAX_LENGTH)
    timestamp = models.DateTimeField()
    metadata = models.JSONField(null=True, blank=True)
    ingested_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-timestamp", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["business", "event_id"], name="event_business_event_id_unique"),
        ]
        indexes = [
            models.Index(fields=["customer", "event_name", "timestamp"], name="event_customer_name_time"),
            models.Index(fields=["business", "event_name", "timestamp"], name="event_business_name_time"),
            models.Index(fields=["business", "-timestamp"], name="event_business_newest"),
        ]

    def __str__(self):
        return f"{self.event_id} {self.event_name} @ {self.timestamp:%Y-%m-%d %H:%M:%S}"
