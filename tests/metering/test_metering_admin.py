"""Metering in Django admin: meters created with the API's rules, events read-only and bounded."""

import pytest
from django.contrib.admin.utils import quote
from django.contrib.auth import get_user_model

from metering.ingestion import EventIn
from metering.models import Event, Meter
from metering.services import events_insert, meter_create
from tests.metering.test_usage_reference import T0

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(client):
    client.force_login(
        get_user_model().objects.create_superuser(username="op", email="op@example.com", password="x")
    )
    return client


def meter_form(business, **fields):
    return {
        "business": business.pk,
        "name": "Tokens",
        "description": "",
        "event_name": "llm",
        "measurement_unit": "tokens",
        "aggregation_type": "sum",
        "aggregation_key": "tokens",
        "filter": "null",
        **fields,
    }


def test_meter_created_in_admin_follows_the_api_rules(operator, business):
    response = operator.post("/admin/metering/meter/add/", meter_form(business))
    assert response.status_code == 302
    meter = Meter.objects.get()
    assert (meter.id[:4], meter.aggregation_key, meter.filter) == ("mtr_", "tokens", None)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"aggregation_key": ""}, b"needs the metadata key"),
        ({"filter": '{"conjunction": "xor", "clauses": []}'}, b"conjunction"),
        (
            {
                "filter": '{"conjunction": "and", "clauses": '
                '[{"key": "a", "operator": "contains", "value": 1}]}'
            },
            b"strings",
        ),
    ],
)
def test_bad_meter_in_admin_is_refused(operator, business, fields, message):
    response = operator.post("/admin/metering/meter/add/", meter_form(business, **fields))
    assert response.status_code == 200 and message in response.content
    assert not Meter.objects.exists()


def test_meter_change_keeps_what_it_counts(operator, business):
    meter = meter_create(
        business=business, name="Old", event_name="llm", measurement_unit="t", aggregation={"type": "count"}
    )
    response = operator.post(
        f"/admin/metering/meter/{quote(meter.pk)}/change/",
        {"name": "New", "description": "d", "measurement_unit": "calls"},
    )
    assert response.status_code == 302
    meter.refresh_from_db()
    assert (meter.name, meter.measurement_unit, meter.event_name, meter.aggregation_type) == (
        "New",
        "calls",
        "llm",
        "count",
    )
    operator.post("/admin/metering/meter/", {"action": "archive", "_selected_action": [meter.pk]})
    meter.refresh_from_db()
    assert meter.is_archived


def test_events_are_read_only_and_listed(operator, business, customer):
    events = [EventIn(event_id=f"e{i}", customer_id=customer.id, event_name="llm") for i in range(3)]
    events_insert(business=business, events=events, timestamps=[T0] * 3, ingested_at=T0)
    listing = operator.get("/admin/metering/event/?q=e1")
    assert listing.status_code == 200 and b"e1" in listing.content
    event = Event.objects.get(event_id="e1")
    assert operator.get("/admin/metering/event/add/").status_code == 403
    page = operator.get(f"/admin/metering/event/{quote(event.pk)}/change/").content
    assert b'name="event_name"' not in page
    assert operator.post(f"/admin/metering/event/{quote(event.pk)}/delete/").status_code == 403
    assert Event.objects.count() == 3
