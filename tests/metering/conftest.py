"""Fixtures and helpers for the metering API tests: events, meters, snapshots of both tables."""

from datetime import UTC, timedelta
from urllib.parse import quote

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from dodo_billing.services import api_key_create
from metering.models import Event, Meter
from metering.services import meter_create
from tests.conftest import post_json

INGEST_URL = "/api/events/ingest"


def event_url(event_id: str) -> str:
    """GET /api/events/{event_id}, percent-encoded like the SDK does (``/`` becomes ``%2F``)."""
    return "/api/events/" + quote(event_id, safe="")


def ingest(client, events, **extra):
    return post_json(client, INGEST_URL, {"events": events}, **extra)


def event_rows():
    """Every stored event, as comparable tuples: what an ingest request could write."""
    return sorted(
        Event.objects.values_list(
            "business_id", "event_id", "customer_id", "event_name", "timestamp", "ingested_at"
        )
    )


def meter_rows():
    """Every meter, every column: what a meter request could write."""
    return sorted(
        tuple(str(v) for v in row)
        for row in Meter.objects.values_list(
            "id",
            "business_id",
            "name",
            "description",
            "event_name",
            "measurement_unit",
            "aggregation_type",
            "aggregation_key",
            "filter",
            "archived_at",
            "created_at",
            "updated_at",
        )
    )


@pytest.fixture
def read_only_api(business):
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {api_key_create(business=business, name='ro', can_write=False)[1]}"
    )
    return client


@pytest.fixture
def now():
    return timezone.now().astimezone(UTC)


@pytest.fixture
def make_event(business, customer):
    """Store an event directly (any timestamp, no window), as ingestion would have."""
    counter = iter(range(1, 100_000))

    def make(event_id=None, *, business=business, customer=customer, event_name="api.call", **fields):
        fields.setdefault("timestamp", timezone.now() - timedelta(minutes=1))
        fields.setdefault("metadata", None)
        return Event.objects.create(
            business=business,
            customer=customer,
            event_id=event_id or f"evt-{next(counter)}",
            event_name=event_name,
            **fields,
        )

    return make


@pytest.fixture
def make_meter(business):
    def make(business=business, created_at=None, archived=False, **fields):
        fields.setdefault("name", "API calls")
        fields.setdefault("event_name", "api.call")
        fields.setdefault("measurement_unit", "calls")
        fields.setdefault("aggregation", {"type": "count"})
        meter = meter_create(business=business, **fields)
        changes = {}
        if created_at is not None:
            changes["created_at"] = changes["updated_at"] = created_at
        if archived:
            changes["archived_at"] = timezone.now()
        if changes:
            Meter.objects.filter(pk=meter.pk).update(**changes)
            meter.refresh_from_db()
        return meter

    return make
