"""The official dodopayments SDK, unchanged and in strict mode, on usage events and meters."""

from datetime import UTC, datetime, timedelta

import dodopayments
import pytest
from django.utils import timezone

from dodo_billing.services import api_key_create
from metering.models import Event, Meter

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def client(sdk_factory, api_key):
    return sdk_factory(api_key)


def event(customer, event_id, **fields):
    return {"event_id": event_id, "customer_id": customer.id, "event_name": "llm.completion", **fields}


def store_events(customer, count, *, event_name="api.call"):
    """``count`` events, ``e00`` oldest … newest, stored directly."""
    base = timezone.now() - timedelta(minutes=30)
    Event.objects.bulk_create(
        Event(
            business_id=customer.business_id,
            customer=customer,
            event_id=f"e{i:02}",
            event_name=event_name,
            timestamp=base + timedelta(seconds=i),
        )
        for i in range(count)
    )
    return [f"e{i:02}" for i in reversed(range(count))]  # newest first


def test_ingest_and_retrieve(client, business, customer):
    stamp = datetime.now(UTC).replace(microsecond=152623) - timedelta(minutes=5)
    before = timezone.now()
    result = client.usage_events.ingest(
        events=[
            event(
                customer,
                "evt-1",
                timestamp=stamp,
                metadata={"model": "gpt-4", "tokens": 150, "cached": False},
            ),
            event(customer, "evt-2", metadata={"model": "gpt-4", "tokens": 50}),
            event(customer, "evt-3"),
        ]
    )
    assert result.ingested_count == 3
    assert (
        client.usage_events.ingest(events=[event(customer, "evt-1"), event(customer, "evt-4")]).ingested_count
        == 1
    )

    first = client.usage_events.retrieve("evt-1")
    assert (first.business_id, first.customer_id, first.event_id, first.event_name) == (
        business.id,
        customer.id,
        "evt-1",
        "llm.completion",
    )
    assert first.timestamp == stamp
    assert first.metadata == {"model": "gpt-4", "tokens": 150, "cached": False}
    second = client.usage_events.retrieve("evt-2")
    assert before <= second.timestamp <= timezone.now()  # no timestamp: time of receipt
    assert client.usage_events.retrieve("evt-3").metadata is None


@pytest.mark.parametrize(
    "event_id", ["tenant/7/call/1", "plus+sign", "with space", "q?x=1", "ünï/✓", "ingest"]
)
def test_retrieve_ids_that_need_encoding(client, customer, event_id):
    assert client.usage_events.ingest(events=[event(customer, event_id)]).ingested_count == 1
    assert client.usage_events.retrieve(event_id).event_id == event_id


def test_list_with_filters(client, customer, make_customer):
    other = make_customer()
    now = datetime.now(UTC)
    client.usage_events.ingest(
        events=[
            event(customer, "a", timestamp=now - timedelta(minutes=30), metadata={"model": "gpt-4"}),
            event(customer, "b", timestamp=now - timedelta(minutes=20), metadata={"model": "gpt-3"}),
            event(other, "c", timestamp=now - timedelta(minutes=10), metadata={"model": "gpt-4"}),
            {**event(customer, "d", timestamp=now - timedelta(minutes=5)), "event_name": "other"},
        ]
    )
    page = client.usage_events.list(page_size=10, page_number=0)
    assert [e.event_id for e in page.items] == ["d", "c", "b", "a"]
    assert [e.event_id for e in client.usage_events.list(customer_id=customer.id).items] == ["d", "b", "a"]
    assert [e.event_id for e in client.usage_events.list(event_name="llm.completion").items] == [
        "c",
        "b",
        "a",
    ]
    window = client.usage_events.list(start=now - timedelta(minutes=20), end=now - timedelta(minutes=10))
    assert [e.event_id for e in window.items] == ["b"]  # start inclusive, end exclusive
    assert [e.event_id for e in client.usage_events.list(start="2000-01-01T00:00:00Z", end=now).items] == [
        "d",
        "c",
        "b",
        "a",
    ]

    meter = client.meters.create(
        name="GPT-4 calls",
        event_name="llm.completion",
        measurement_unit="calls",
        aggregation={"type": "count"},
        filter={"conjunction": "and", "clauses": [{"key": "model", "operator": "equals", "value": "gpt-4"}]},
    )
    assert [e.event_id for e in client.usage_events.list(meter_id=meter.id).items] == ["c", "a"]
    assert [
        e.event_id for e in client.usage_events.list(meter_id=meter.id, customer_id=customer.id).items
    ] == ["a"]


def test_list_auto_pagination_runs_past_the_last_page(client, customer):
    newest_first = store_events(customer, 25)
    seen = [e.event_id for e in client.usage_events.list(page_size=10)]
    # The SDK asks for pages 0, 2 and then the empty page 3 (it skips page 1, a client quirk).
    assert seen == newest_first[:10] + newest_first[20:]
    assert [e.event_id for e in client.usage_events.list(page_size=10, page_number=1)] == newest_first[10:]
    assert [e.event_id for e in client.usage_events.list(page_size=100)] == newest_first
    assert client.usage_events.list(page_size=10, page_number=3).items == []


def test_meters_create_retrieve_update_list_archive_unarchive(client, business):
    count = client.meters.create(
        name="API calls", event_name="api.call", measurement_unit="calls", aggregation={"type": "count"}
    )
    assert count.id.startswith("mtr_") and count.business_id == business.id
    assert (count.aggregation.type, count.aggregation.key, count.filter, count.description) == (
        "count",
        None,
        None,
        None,
    )

    tokens = client.meters.create(
        name="Tokens",
        description="LLM tokens consumed",
        event_name="llm.completion",
        measurement_unit="tokens",
        aggregation={"type": "sum", "key": "tokens"},
        filter={
            "conjunction": "and",
            "clauses": [
                {"key": "model", "operator": "equals", "value": "gpt-4"},
                {"key": "tokens", "operator": "greater_than", "value": 0},
            ],
        },
    )
    assert (tokens.aggregation.type, tokens.aggregation.key) == ("sum", "tokens")
    assert tokens.filter.conjunction == "and" and len(tokens.filter.clauses) == 2

    nested_filter = {  # three levels: and → (or of conditions, or → and of a condition)
        "conjunction": "and",
        "clauses": [
            {
                "conjunction": "or",
                "clauses": [
                    {"key": "plan", "operator": "equals", "value": "premium"},
                    {"key": "plan", "operator": "equals", "value": "enterprise"},
                ],
            },
            {
                "conjunction": "or",
                "clauses": [
                    {
                        "conjunction": "and",
                        "clauses": [{"key": "seats", "operator": "greater_than_or_equals", "value": 10}],
                    }
                ],
            },
        ],
    }
    nested = client.meters.create(
        name="Seats",
        event_name="seat.snapshot",
        measurement_unit="seats",
        aggregation={"type": "last", "key": "seats"},
        filter=nested_filter,
    )
    assert Meter.objects.get(pk=nested.id).filter == nested_filter
    assert client.meters.retrieve(nested.id).filter.clauses[1].clauses[0].clauses[0].key == "seats"

    fetched = client.meters.retrieve(tokens.id, locale="fr")
    assert fetched.id == tokens.id and fetched.description == "LLM tokens consumed"

    updated = client.meters.update(tokens.id, name="Tokens (v2)", measurement_unit="ktokens")
    assert (updated.name, updated.measurement_unit, updated.description) == (
        "Tokens (v2)",
        "ktokens",
        "LLM tokens consumed",
    )
    assert client.meters.update(tokens.id, description=None).description is None
    assert (updated.event_name, updated.aggregation.key) == ("llm.completion", "tokens")

    assert [m.id for m in client.meters.list()] == [nested.id, tokens.id, count.id]
    assert client.meters.archive(count.id) is None
    assert Meter.objects.get(pk=count.id).archived_at is not None
    assert [m.id for m in client.meters.list()] == [nested.id, tokens.id]
    assert [m.id for m in client.meters.list(archived=True)] == [count.id]
    assert [
        m.id for m in client.meters.list(archived=False, locale="de", page_size=1, page_number=1).items
    ] == [tokens.id]
    assert client.meters.unarchive(count.id) is None
    assert Meter.objects.get(pk=count.id).archived_at is None
    assert client.meters.list(archived=True).items == []


def test_errors_surface_as_sdk_exceptions(client, sdk_factory, customer, other_business):
    with pytest.raises(dodopayments.UnprocessableEntityError) as no_key:
        client.meters.create(name="x", event_name="e", measurement_unit="u", aggregation={"type": "sum"})
    assert no_key.value.body["code"] == "INVALID_REQUEST_BODY"

    too_deep = {"conjunction": "and", "clauses": [{"key": "k", "operator": "equals", "value": 1}]}
    for _ in range(3):
        too_deep = {"conjunction": "or", "clauses": [too_deep]}
    with pytest.raises(dodopayments.UnprocessableEntityError):
        client.meters.create(
            name="x", event_name="e", measurement_unit="u", aggregation={"type": "count"}, filter=too_deep
        )
    assert Meter.objects.count() == 0

    with pytest.raises(dodopayments.BadRequestError) as duplicate:
        client.usage_events.ingest(events=[event(customer, "same"), event(customer, "same")])
    assert duplicate.value.body["code"] == "DUPLICATE_EVENT_IDS_IN_REQUEST"
    assert duplicate.value.body["index"] == 1 and duplicate.value.body["field"] == "event_id"

    with pytest.raises(dodopayments.BadRequestError) as too_old:
        client.usage_events.ingest(
            events=[event(customer, "old", timestamp=datetime.now(UTC) - timedelta(hours=2))]
        )
    assert too_old.value.body["code"] == "TIMESTAMP_OUT_OF_RANGE"

    with pytest.raises(dodopayments.BadRequestError) as unknown_customer:
        client.usage_events.ingest(events=[{**event(customer, "x"), "customer_id": "cus_nobody"}])
    assert unknown_customer.value.body["code"] == "CUSTOMER_NOT_FOUND"

    with pytest.raises(dodopayments.UnprocessableEntityError) as nested_metadata:
        client.usage_events.ingest(events=[event(customer, "x", metadata={"a": {"b": 1}})])
    assert nested_metadata.value.body["field"] == "metadata"

    with pytest.raises(dodopayments.UnprocessableEntityError):
        client.usage_events.ingest(events=[])
    assert Event.objects.count() == 0

    with pytest.raises(dodopayments.NotFoundError):
        client.usage_events.retrieve("no-such-event")
    with pytest.raises(dodopayments.NotFoundError):
        client.meters.retrieve("mtr_doesnotexist")
    with pytest.raises(dodopayments.NotFoundError):
        client.meters.archive("mtr_doesnotexist")
    with pytest.raises(dodopayments.NotFoundError):
        client.usage_events.list(meter_id="mtr_doesnotexist")

    meter = client.meters.create(
        name="c", event_name="e", measurement_unit="u", aggregation={"type": "count"}
    )
    with pytest.raises(dodopayments.BadRequestError):
        client.usage_events.list(meter_id=meter.id, event_name="not-e")
    with pytest.raises(dodopayments.UnprocessableEntityError):
        client.usage_events.list(page_size=101)
    with pytest.raises(dodopayments.UnprocessableEntityError):
        client.meters.update(meter.id, name=None)

    foreign = sdk_factory(api_key_create(business=other_business, name="x")[1])
    with pytest.raises(dodopayments.NotFoundError):
        foreign.meters.retrieve(meter.id)
    with pytest.raises(dodopayments.NotFoundError):
        foreign.meters.unarchive(meter.id)
    with pytest.raises(dodopayments.AuthenticationError):
        sdk_factory("dbk_wrong_key").usage_events.list()
