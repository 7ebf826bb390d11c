"""POST /api/events/ingest, GET /api/events, GET /api/events/{event_id} (contract §5)."""

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.db import connection
from django.utils import timezone as django_timezone
from rest_framework.test import APIClient

from metering.models import Event
from tests.conftest import assert_error, post_json
from tests.metering.conftest import INGEST_URL, event_rows, event_url, ingest

pytestmark = pytest.mark.django_db

EVENT_FIELDS = {"business_id", "customer_id", "event_id", "event_name", "timestamp", "metadata"}


def ev(customer, event_id, **fields):
    """One EventInput for ``customer``."""
    return {"event_id": event_id, "customer_id": customer.id, "event_name": "api.call", **fields}


def parse(stamp: str) -> datetime:
    assert stamp.endswith("Z"), stamp  # responses are UTC with a Z suffix
    return datetime.fromisoformat(stamp)


def ids(response):
    assert response.status_code == 200, response.content
    return [item["event_id"] for item in response.json()["items"]]


# --- ingest: happy path ----------------------------------------------------------------------------


def test_ingest_stores_every_field(api, business, customer, now):
    stamp = (now - timedelta(minutes=10)).replace(microsecond=152623)
    metadata = {"model": "gpt-4", "tokens": 150, "cached": False, "ratio": 0.25, "note": "ü✓"}
    before = django_timezone.now()
    response = ingest(
        api,
        [
            ev(
                customer, "evt-1", event_name="llm.completion", timestamp=stamp.isoformat(), metadata=metadata
            ),
            ev(customer, "evt-2"),
        ],
    )
    after = django_timezone.now()
    assert response.status_code == 200, response.content
    assert response.json() == {"ingested_count": 2}

    first = Event.objects.get(event_id="evt-1")
    assert (first.business_id, first.customer_id, first.event_name) == (
        business.id,
        customer.id,
        "llm.completion",
    )
    assert first.timestamp == stamp
    assert first.metadata == metadata
    assert before <= first.ingested_at <= after

    second = Event.objects.get(event_id="evt-2")
    assert second.event_name == "api.call" and second.metadata is None
    # No timestamp: the time of receipt.
    assert before <= second.timestamp <= after
    assert second.timestamp == second.ingested_at

    data = api.get(event_url("evt-1")).json()
    assert set(data) == EVENT_FIELDS
    assert data == {
        "business_id": business.id,
        "customer_id": customer.id,
        "event_id": "evt-1",
        "event_name": "llm.completion",
        "timestamp": data["timestamp"],
        "metadata": metadata,
    }
    assert parse(data["timestamp"]) == stamp
    assert api.get(event_url("evt-2")).json()["metadata"] is None  # null stays null, not {}


def test_empty_metadata_object_stays_an_object(api, customer):
    assert ingest(api, [ev(customer, "e", metadata={})]).json() == {"ingested_count": 1}
    assert api.get(event_url("e")).json()["metadata"] == {}
    assert Event.objects.get(event_id="e").metadata == {}


TIMESTAMP_FORMATS = {
    "Z": lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ"),
    "+00:00": lambda t: t.isoformat(),
    "+05:30": lambda t: t.astimezone(timezone(timedelta(hours=5, minutes=30))).isoformat(),
    "-07:00": lambda t: t.astimezone(timezone(timedelta(hours=-7))).isoformat(),
    "naive (UTC)": lambda t: t.replace(tzinfo=None).isoformat(),
}


@pytest.mark.parametrize("fmt", TIMESTAMP_FORMATS)
def test_timestamp_formats_are_read_as_the_same_instant(api, customer, now, fmt):
    moment = (now - timedelta(minutes=20)).replace(microsecond=0)
    response = ingest(api, [ev(customer, "t", timestamp=TIMESTAMP_FORMATS[fmt](moment))])
    assert response.json() == {"ingested_count": 1}
    assert Event.objects.get(event_id="t").timestamp == moment
    assert parse(api.get(event_url("t")).json()["timestamp"]) == moment


@pytest.mark.parametrize(
    ("fraction", "microseconds"), [(".123", 123000), (".152623", 152623), (".5", 500000)]
)
def test_fractional_seconds_are_kept(api, customer, now, fraction, microseconds):
    moment = (now - timedelta(minutes=5)).replace(microsecond=0)
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z"
    assert ingest(api, [ev(customer, "f", timestamp=stamp)]).json() == {"ingested_count": 1}
    expected = moment.replace(microsecond=microseconds)
    assert Event.objects.get(event_id="f").timestamp == expected
    assert parse(api.get(event_url("f")).json()["timestamp"]) == expected


def test_null_timestamp_means_receipt_time(api, customer):
    before = django_timezone.now()
    assert ingest(api, [ev(customer, "n", timestamp=None)]).json() == {"ingested_count": 1}
    assert before <= Event.objects.get(event_id="n").timestamp <= django_timezone.now()


def test_a_full_batch_of_1000_events_is_accepted(api, customer):
    events = [ev(customer, f"bulk-{i}", metadata={"i": i}) for i in range(1000)]
    assert ingest(api, events).json() == {"ingested_count": 1000}
    assert Event.objects.count() == 1000


def test_fifty_metadata_keys_are_accepted(api, customer):
    metadata = {f"k{i}": i for i in range(50)}
    assert ingest(api, [ev(customer, "m", metadata=metadata)]).json() == {"ingested_count": 1}
    assert Event.objects.get(event_id="m").metadata == metadata


# --- ingest: idempotency ---------------------------------------------------------------------------


def test_event_ids_stored_earlier_are_skipped_and_not_counted(api, customer):
    batch = [ev(customer, f"e{i}", metadata={"n": i}) for i in range(3)]
    assert ingest(api, batch).json() == {"ingested_count": 3}
    stored = event_rows()
    metadata = dict(Event.objects.values_list("event_id", "metadata"))

    assert ingest(api, batch).json() == {"ingested_count": 0}
    # A repeat with other content does not overwrite the original either.
    changed = [ev(customer, "e0", event_name="other", metadata={"n": 99})]
    assert ingest(api, changed).json() == {"ingested_count": 0}
    assert event_rows() == stored
    assert dict(Event.objects.values_list("event_id", "metadata")) == metadata

    overlap = [ev(customer, "e1"), ev(customer, "e3"), ev(customer, "e2"), ev(customer, "e4")]
    assert ingest(api, overlap).json() == {"ingested_count": 2}
    assert sorted(Event.objects.values_list("event_id", flat=True)) == ["e0", "e1", "e2", "e3", "e4"]


def test_duplicate_event_id_in_one_request_rejects_the_whole_request(api, customer):
    ingest(api, [ev(customer, "old")])
    before = event_rows()
    events = [ev(customer, "a"), ev(customer, "b"), ev(customer, "c"), ev(customer, "b")]
    body = assert_error(ingest(api, events), 400, "DUPLICATE_EVENT_IDS_IN_REQUEST")
    assert body["index"] == 3 and body["field"] == "event_id"
    assert "events[3]" in body["message"] and "'b'" in body["message"]
    assert event_rows() == before  # a and c, though valid, are not stored

    # Even the id of an event stored earlier may not appear twice in one request.
    body = assert_error(
        ingest(api, [ev(customer, "old"), ev(customer, "new"), ev(customer, "old")]),
        400,
        "DUPLICATE_EVENT_IDS_IN_REQUEST",
    )
    assert (body["index"], body["field"]) == (2, "event_id")
    assert event_rows() == before


def test_event_ids_are_per_business_and_case_sensitive(
    api, other_api, customer, make_customer, other_business
):
    foreign = make_customer(business=other_business)
    assert ingest(api, [ev(customer, "shared"), ev(customer, "Shared")]).json() == {"ingested_count": 2}
    assert ingest(other_api, [ev(foreign, "shared")]).json() == {"ingested_count": 1}
    assert Event.objects.filter(event_id="shared").count() == 2
    assert api.get(event_url("shared")).json()["customer_id"] == customer.id
    assert other_api.get(event_url("shared")).json()["customer_id"] == foreign.id
    assert api.get(event_url("SHARED")).status_code == 404


# --- ingest: timestamp window ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "offset", [timedelta(hours=-2), timedelta(minutes=-61), timedelta(minutes=6), timedelta(days=1)]
)
def test_timestamp_outside_the_window_is_400(api, customer, now, offset):
    before = event_rows()
    events = [ev(customer, "ok"), ev(customer, "bad", timestamp=(now + offset).isoformat())]
    body = assert_error(ingest(api, events), 400, "TIMESTAMP_OUT_OF_RANGE")
    assert (body["index"], body["field"]) == (1, "timestamp")
    assert "events[1].timestamp" in body["message"]
    assert ("1 hour in the past" if offset < timedelta(0) else "5 minutes in the future") in body["message"]
    assert event_rows() == before


def test_timestamps_inside_the_default_window_are_accepted(api, customer, now):
    events = [
        ev(customer, "past", timestamp=(now - timedelta(minutes=58)).isoformat()),
        ev(customer, "future", timestamp=(now + timedelta(minutes=4)).isoformat()),
    ]
    assert ingest(api, events).json() == {"ingested_count": 2}


def test_a_zero_window_still_accepts_events_stamped_at_receipt(api, business, customer, now):
    business.event_window_past_seconds = 0
    business.event_window_future_seconds = 0
    business.save()
    assert ingest(api, [ev(customer, "now")]).json() == {"ingested_count": 1}
    body = assert_error(
        ingest(api, [ev(customer, "late", timestamp=(now - timedelta(seconds=5)).isoformat())]),
        400,
        "TIMESTAMP_OUT_OF_RANGE",
    )
    assert "0 seconds" in body["message"]
    ahead = (now + timedelta(seconds=30)).isoformat()
    assert_error(ingest(api, [ev(customer, "ahead", timestamp=ahead)]), 400, "TIMESTAMP_OUT_OF_RANGE")
    assert list(Event.objects.values_list("event_id", flat=True)) == ["now"]


def test_widening_the_window_lets_a_backfill_through(api, business, customer, now):
    old = (now - timedelta(days=3)).isoformat()
    ahead = (now + timedelta(minutes=30)).isoformat()
    assert_error(ingest(api, [ev(customer, "old", timestamp=old)]), 400, "TIMESTAMP_OUT_OF_RANGE")
    assert_error(ingest(api, [ev(customer, "ahead", timestamp=ahead)]), 400, "TIMESTAMP_OUT_OF_RANGE")
    assert Event.objects.count() == 0

    business.event_window_past_seconds = 7 * 86400
    business.event_window_future_seconds = 3600
    business.save()
    events = [ev(customer, "old", timestamp=old), ev(customer, "ahead", timestamp=ahead)]
    assert ingest(api, events).json() == {"ingested_count": 2}

    business.event_window_past_seconds = 60  # narrowing works too
    business.save()
    late = (now - timedelta(minutes=5)).isoformat()
    assert_error(ingest(api, [ev(customer, "late", timestamp=late)]), 400, "TIMESTAMP_OUT_OF_RANGE")
    assert not Event.objects.filter(event_id="late").exists()


# --- ingest: customers -----------------------------------------------------------------------------


def test_unknown_or_foreign_customer_is_400_without_leaking_existence(
    api, customer, make_customer, other_business
):
    foreign = make_customer(business=other_business)
    unknown_id = "cus_" + "x" * 21
    before = event_rows()

    def attempt(customer_id):
        events = [ev(customer, "ok"), {**ev(customer, "bad"), "customer_id": customer_id}]
        body = assert_error(ingest(api, events), 400, "CUSTOMER_NOT_FOUND")
        assert (body["index"], body["field"]) == (1, "customer_id")
        return json.loads(json.dumps(body).replace(customer_id, "<id>"))

    assert attempt(unknown_id) == attempt(foreign.id)
    assert event_rows() == before
    assert not Event.objects.filter(customer=foreign).exists()


# --- ingest: schema --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"event_id": 1}, "event_id"),
        ({"event_id": ""}, "event_id"),
        ({"event_id": "x" * 256}, "event_id"),
        ({"customer_id": None}, "customer_id"),
        ({"event_name": 5}, "event_name"),
        ({"event_name": ""}, "event_name"),
        ({"metadata": "x"}, "metadata"),
        ({"metadata": [1, 2]}, "metadata"),
        ({"metadata": {"a": {"b": 1}}}, "metadata"),
        ({"metadata": {"a": [1]}}, "metadata"),
        ({"metadata": {"a": None}}, "metadata"),
        ({"metadata": {"a": "x" * 501}}, "metadata"),
        ({"timestamp": "yesterday"}, "timestamp"),
        ({"timestamp": "2026-01-01"}, "timestamp"),
        ({"timestamp": 1700000000}, "timestamp"),
    ],
)
def test_schema_error_is_422_naming_index_and_field(api, customer, change, field):
    before = event_rows()
    events = [ev(customer, "ok"), {**ev(customer, "bad"), **change}]
    body = assert_error(ingest(api, events), 422, "INVALID_REQUEST_BODY")
    assert (body["index"], body["field"]) == (1, field)
    assert f"events[1].{field}" in body["message"]
    assert event_rows() == before


def test_a_string_value_of_500_characters_is_accepted(api, customer):
    assert ingest(api, [ev(customer, "v", metadata={"a": "x" * 500, "k" * 100: 1})]).json() == {
        "ingested_count": 1
    }


@pytest.mark.parametrize("missing", ["event_id", "customer_id", "event_name"])
def test_missing_field_is_422_naming_index_and_field(api, customer, missing):
    # At b9fe180 (before 7901d39) the body named only the index (no "field"); see the report.
    before = event_rows()
    bad = ev(customer, "bad")
    del bad[missing]
    body = assert_error(ingest(api, [ev(customer, "ok"), bad]), 422, "INVALID_REQUEST_BODY")
    assert (body["index"], body["field"]) == (1, missing)
    assert "events[1]" in body["message"] and missing in body["message"]
    assert event_rows() == before


@pytest.mark.parametrize("key", ["k" * 101, ""])
def test_bad_metadata_key_is_422_naming_index_and_field(api, customer, key):
    # At b9fe180 (before 7901d39): no index/field, and a garbled message ("key` in `$.events[1]…").
    before = event_rows()
    events = [ev(customer, "ok"), ev(customer, "bad", metadata={key: 1})]
    body = assert_error(ingest(api, events), 422, "INVALID_REQUEST_BODY")
    assert (body["index"], body["field"]) == (1, "metadata")
    assert body["message"].startswith("events[1].metadata") and "`$" not in body["message"]
    assert event_rows() == before


def test_fifty_one_metadata_keys_is_maximum_keys_reached(api, customer):
    before = event_rows()
    events = [ev(customer, "ok"), ev(customer, "bad", metadata={f"k{i}": i for i in range(51)})]
    body = assert_error(ingest(api, events), 422, "MAXIMUM_KEYS_REACHED")
    assert (body["index"], body["field"]) == (1, "metadata")
    assert event_rows() == before


@pytest.mark.parametrize("count", [0, 1001])
def test_events_list_must_hold_1_to_1000_events(api, customer, count):
    before = event_rows()
    events = [ev(customer, f"e{i}") for i in range(count)]
    body = assert_error(ingest(api, events), 422, "INVALID_REQUEST_BODY")
    assert "events" in body["message"]
    assert event_rows() == before
    assert Event.objects.count() == 0


@pytest.mark.parametrize(
    "raw",
    ['{"events": [', "", "[]", '[{"events": []}]', "null", '"events"', "{}", '{"events": null}', "not json"],
)
def test_malformed_or_non_object_body_is_422(api, customer, raw):
    before = event_rows()
    assert_error(post_json(api, INGEST_URL, raw), 422, "INVALID_REQUEST_BODY")
    assert event_rows() == before


@pytest.mark.parametrize("raw", ["[]", "{}"])
def test_top_level_schema_error_message_is_stated_once(api, raw):
    # At b9fe180 (before 7901d39): "Expected `object`, got `array: Expected `object`, got `array`".
    body = assert_error(post_json(api, INGEST_URL, raw), 422, "INVALID_REQUEST_BODY")
    assert body["message"].count("Expected") + body["message"].count("missing") == 1, body["message"]


@pytest.mark.parametrize(
    "raw",
    [
        b'{"events": [{"event_id": "\xff", "customer_id": "CUS", "event_name": "n"}]}',
        b'{"events": [{"event_id": "\\ud800", "customer_id": "CUS", "event_name": "n"}]}',
    ],
    ids=["invalid-utf8", "lone-surrogate"],
)
def test_undecodable_text_is_422_not_500(api, customer, raw):
    # At b9fe180 (before 7901d39) invalid UTF-8 escaped as UnicodeDecodeError: 500 INTERNAL_SERVER_ERROR.
    before = event_rows()
    response = post_json(api, INGEST_URL, raw.replace(b"CUS", customer.id.encode()))
    assert_error(response, 422, "INVALID_REQUEST_BODY")
    assert event_rows() == before


def test_ingest_schema_error_carries_the_errors_map(api, customer):
    # docs/api.md: validation errors add "errors", a map from field to messages (absent at 7901d39).
    body = assert_error(ingest(api, [ev(customer, "ok"), ev(customer, 1)]), 422, "INVALID_REQUEST_BODY")
    assert isinstance(body.get("errors"), dict) and body["errors"]
    assert any("event_id" in field for field in body["errors"]), body["errors"]


def test_read_only_key_is_403_and_no_key_is_401(read_only_api, customer):
    before = event_rows()
    assert_error(ingest(read_only_api, [ev(customer, "ro")]), 403, "FORBIDDEN")
    assert_error(ingest(APIClient(), [ev(customer, "anon")]), 401, "UNAUTHORIZED")
    bad_key = APIClient()
    bad_key.credentials(HTTP_AUTHORIZATION="Bearer dbk_nope_nope")
    assert_error(ingest(bad_key, [ev(customer, "bad")]), 401, "UNAUTHORIZED")
    assert event_rows() == before


def test_non_json_content_type_is_415(api, customer):
    # docs/api.md: "Request bodies must be application/json (anything else: 415)" (200 at 7901d39).
    raw = json.dumps({"events": [ev(customer, "plain")]})
    for content_type in ["text/plain", "application/x-www-form-urlencoded"]:
        response = api.post(INGEST_URL, data=raw, content_type=content_type)
        assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert Event.objects.count() == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"event_id": "nul\u0000id"}, "event_id"),
        ({"event_name": "nul\u0000name"}, "event_name"),
        ({"metadata": {"a": "nul\u0000value"}}, "metadata"),
        ({"metadata": {"nul\u0000key": 1}}, "metadata"),
    ],
)
def test_nul_character_is_422_not_500(api, customer, change, field):
    # Valid JSON (\u0000) that PostgreSQL text/jsonb cannot store: a 500 at 7901d39 on PostgreSQL.
    before = event_rows()
    response = ingest(api, [ev(customer, "ok"), {**ev(customer, "nul"), **change}])
    body = assert_error(response, 422, "INVALID_REQUEST_BODY")
    assert (body["index"], body["field"]) == (1, field)
    assert event_rows() == before


# --- GET /api/events -------------------------------------------------------------------------------


def test_list_newest_first_with_contract_fields(api, business, customer, make_event, now):
    make_event("mid", timestamp=now - timedelta(minutes=30), metadata={"a": 1})
    make_event("new", timestamp=now - timedelta(minutes=1))
    make_event("old", timestamp=now - timedelta(days=40))
    make_event("tie-first", timestamp=now - timedelta(minutes=30))  # same instant: ingested later first
    response = api.get("/api/events")
    assert ids(response) == ["new", "tie-first", "mid", "old"]
    items = response.json()["items"]
    assert set(response.json()) == {"items"}
    assert all(set(item) == EVENT_FIELDS for item in items)
    mid = items[2]
    assert (mid["business_id"], mid["customer_id"], mid["event_name"], mid["metadata"]) == (
        business.id,
        customer.id,
        "api.call",
        {"a": 1},
    )
    assert items[0]["metadata"] is None


def test_list_filters_customer_and_event_name(api, customer, make_customer, make_event):
    other = make_customer()
    make_event("a1", event_name="a")
    make_event("b1", event_name="b")
    make_event("a2", event_name="a", customer=other)
    assert sorted(ids(api.get("/api/events", {"customer_id": customer.id}))) == ["a1", "b1"]
    assert sorted(ids(api.get("/api/events", {"event_name": "a"}))) == ["a1", "a2"]
    assert ids(api.get("/api/events", {"event_name": "a", "customer_id": other.id})) == ["a2"]
    assert ids(api.get("/api/events", {"event_name": "A"})) == []  # exact, case-sensitive
    assert ids(api.get("/api/events", {"customer_id": "cus_unknown"})) == []


def test_list_start_is_inclusive_and_end_exclusive(api, make_event):
    base = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    for minutes in range(5):
        make_event(f"m{minutes}", timestamp=base + timedelta(minutes=minutes))
    start, end = base + timedelta(minutes=1), base + timedelta(minutes=3)
    window = {"start": start.isoformat(), "end": end.isoformat()}
    assert ids(api.get("/api/events", window)) == ["m2", "m1"]
    assert ids(api.get("/api/events", {"start": "2026-01-01T12:03:00Z"})) == ["m4", "m3"]
    assert ids(api.get("/api/events", {"end": "2026-01-01T12:01:00Z"})) == ["m0"]
    # The same instants written with an offset, or naive (UTC).
    assert ids(
        api.get("/api/events", {"start": "2026-01-01T17:31:00+05:30", "end": "2026-01-01T12:02:00"})
    ) == ["m1"]
    assert ids(api.get("/api/events", {"start": "2026-01-01T12:01:00.000001Z"})) == ["m4", "m3", "m2"]


def test_list_by_meter_applies_its_event_name_and_filter(api, make_event, make_meter):
    meter = make_meter(
        event_name="llm",
        aggregation={"type": "sum", "key": "tokens"},
        filter={
            "conjunction": "and",
            "clauses": [
                {"key": "model", "operator": "equals", "value": "gpt-4"},
                {"key": "tokens", "operator": "greater_than", "value": 0},
            ],
        },
    )
    make_event("match", event_name="llm", metadata={"model": "gpt-4", "tokens": 5})
    make_event("other-model", event_name="llm", metadata={"model": "gpt-3", "tokens": 5})
    make_event("zero", event_name="llm", metadata={"model": "gpt-4", "tokens": 0})
    make_event("other-name", event_name="llm.v2", metadata={"model": "gpt-4", "tokens": 5})
    make_event("other-case", event_name="LLM", metadata={"model": "gpt-4", "tokens": 5})
    assert ids(api.get("/api/events", {"meter_id": meter.id})) == ["match"]
    assert ids(api.get("/api/events", {"meter_id": meter.id, "event_name": "llm"})) == ["match"]

    unfiltered = make_meter(event_name="llm")
    assert sorted(ids(api.get("/api/events", {"meter_id": unfiltered.id}))) == [
        "match",
        "other-model",
        "zero",
    ]


def test_list_by_meter_skips_events_missing_the_key_or_of_another_type(api, make_event, make_meter):
    # "If a filtered property is missing, that event will not match the meter" - for every operator.
    meter = make_meter(
        event_name="llm",
        filter={
            "conjunction": "and",
            "clauses": [
                {"key": "model", "operator": "not_equals", "value": "gpt-3"},
                {"key": "tokens", "operator": "greater_than", "value": 0},
            ],
        },
    )
    make_event("match", event_name="llm", metadata={"model": "gpt-4", "tokens": 5})
    make_event("string-tokens", event_name="llm", metadata={"model": "gpt-4", "tokens": "5"})
    make_event("boolean-model", event_name="llm", metadata={"model": True, "tokens": 5})
    make_event("no-model", event_name="llm", metadata={"tokens": 5})
    make_event("no-metadata", event_name="llm")
    assert ids(api.get("/api/events", {"meter_id": meter.id})) == ["match"]


def cond(key, operator, value):
    return {"key": key, "operator": operator, "value": value}


@pytest.mark.parametrize(
    ("clauses", "conjunction", "expected"),
    [
        ([cond("model", "equals", "gpt-4")], "and", ["e1"]),
        ([cond("model", "equals", "GPT-4")], "and", []),
        ([cond("model", "not_equals", "gpt-4")], "and", ["e2", "e3"]),
        ([cond("tokens", "greater_than", 10)], "and", ["e3"]),
        ([cond("tokens", "greater_than_or_equals", 10)], "and", ["e1", "e3"]),
        ([cond("tokens", "less_than", 10)], "and", ["e2"]),
        ([cond("tokens", "less_than_or_equals", 2.5)], "and", ["e2"]),
        ([cond("tokens", "equals", 10.0)], "and", ["e1"]),
        ([cond("beta", "equals", True)], "and", ["e1"]),
        ([cond("beta", "equals", False)], "and", ["e2", "e3"]),
        ([cond("beta", "not_equals", True)], "and", ["e2", "e3"]),
        ([cond("plan", "contains", "pro")], "and", ["e3"]),
        ([cond("plan", "does_not_contain", "pro")], "and", ["e1", "e2"]),
        ([cond("model", "greater_than", "d")], "and", ["e1", "e2"]),
        ([cond("plan", "greater_than", "a")], "and", ["e2", "e3"]),  # by code point: "P" < "a"
        ([cond("model", "equals", "claude"), cond("tokens", "less_than", 5)], "or", ["e2", "e3"]),
        ([cond("model", "equals", "claude"), cond("tokens", "less_than", 5)], "and", []),
        (
            [
                {
                    "conjunction": "or",
                    "clauses": [cond("model", "equals", "gpt-4"), cond("model", "equals", "claude")],
                },
                {"conjunction": "and", "clauses": [cond("tokens", "greater_than", 50)]},
            ],
            "and",
            ["e3"],
        ),
        ([cond("modèle", "equals", "été")], "and", ["e1", "e3"]),
        ([cond('qu"ote', "greater_than", 1)], "and", ["e2", "e3"]),
        ([cond("dot.key", "equals", "x")], "and", ["e1"]),
        ([cond("with space", "equals", True)], "and", ["e2"]),
    ],
)
def test_list_by_meter_filter_semantics(api, make_event, make_meter, clauses, conjunction, expected):
    common = {"e1": ("x", 1, False), "e2": ("y", 2, True), "e3": ("z", 3, False)}
    metadata = {
        "e1": {"model": "gpt-4", "tokens": 10, "beta": True, "plan": "Pro plan", "modèle": "été"},
        "e2": {"model": "gpt-3.5", "tokens": 2.5, "beta": False, "plan": "free", "modèle": "hiver"},
        "e3": {"model": "claude", "tokens": 100, "beta": False, "plan": "pro", "modèle": "été"},
    }
    for event_id, (dot, quote_value, space) in common.items():
        extra = {"dot.key": dot, 'qu"ote': quote_value, "with space": space}
        make_event(event_id, event_name="llm", metadata={**metadata[event_id], **extra})
    meter = make_meter(event_name="llm", filter={"conjunction": conjunction, "clauses": clauses})
    assert sorted(ids(api.get("/api/events", {"meter_id": meter.id}))) == expected


def test_list_by_meter_errors(api, other_api, make_meter, make_event, other_business):
    meter = make_meter(event_name="llm")
    foreign = make_meter(business=other_business, event_name="llm")
    make_event("e", event_name="llm")
    body = assert_error(
        api.get("/api/events", {"meter_id": meter.id, "event_name": "other"}),
        400,
        "INVALID_REQUEST_PARAMETERS",
    )
    assert meter.id in body["message"]
    assert_error(api.get("/api/events", {"meter_id": "mtr_doesnotexist"}), 404, "NOT_FOUND")
    assert_error(api.get("/api/events", {"meter_id": foreign.id}), 404, "NOT_FOUND")
    assert_error(other_api.get("/api/events", {"meter_id": meter.id}), 404, "NOT_FOUND")


def test_list_pagination(api, make_event, now):
    for i in range(25):
        make_event(f"p{i:02}", timestamp=now - timedelta(seconds=100 - i))
    newest_first = [f"p{i:02}" for i in reversed(range(25))]
    assert ids(api.get("/api/events")) == newest_first[:10]  # default page size 10
    assert ids(api.get("/api/events", {"page_size": 10, "page_number": 1})) == newest_first[10:20]
    assert ids(api.get("/api/events", {"page_size": 10, "page_number": 2})) == newest_first[20:]
    assert api.get("/api/events", {"page_size": 10, "page_number": 3}).json() == {"items": []}
    assert ids(api.get("/api/events", {"page_size": 100})) == newest_first
    assert ids(api.get("/api/events", {"page_size": 1, "page_number": 24})) == ["p00"]


@pytest.mark.parametrize(
    "params",
    [
        {"page_size": 0},
        {"page_size": 101},
        {"page_size": "ten"},
        {"page_number": -1},
        {"page_number": 1.5},
        {"start": "yesterday"},
        {"end": "2026-13-01T00:00:00Z"},
    ],
)
def test_bad_list_params_are_422(api, make_event, params):
    make_event("e")
    assert_error(api.get("/api/events", params), 422, "INVALID_QUERY_PARAMS")


def test_other_business_events_are_never_listed(
    api, other_api, customer, make_customer, make_event, other_business
):
    foreign = make_customer(business=other_business)
    make_event("mine")
    make_event("theirs", business=other_business, customer=foreign)
    assert ids(api.get("/api/events")) == ["mine"]
    assert ids(other_api.get("/api/events")) == ["theirs"]
    assert ids(other_api.get("/api/events", {"customer_id": customer.id})) == []
    assert ids(api.get("/api/events", {"customer_id": foreign.id})) == []


def test_read_only_key_can_list_and_retrieve(read_only_api, make_event):
    make_event("visible")
    assert ids(read_only_api.get("/api/events")) == ["visible"]
    assert read_only_api.get(event_url("visible")).status_code == 200


def test_list_and_retrieve_need_a_key(make_event):
    make_event("e")
    assert_error(APIClient().get("/api/events"), 401, "UNAUTHORIZED")
    assert_error(APIClient().get(event_url("e")), 401, "UNAUTHORIZED")


# --- GET /api/events/{event_id} --------------------------------------------------------------------


def test_retrieve_unknown_or_foreign_event_is_404(api, other_api, make_event):
    make_event("mine")
    body = assert_error(api.get(event_url("nope")), 404, "NOT_FOUND")
    assert body["message"] == "No event exists with the specified ID for your business"
    foreign = assert_error(other_api.get(event_url("mine")), 404, "NOT_FOUND")
    assert foreign["message"] == body["message"]
    assert api.get(event_url("mine")).status_code == 200


@pytest.mark.parametrize(
    "event_id",
    [
        "a/b",
        "tenant/42/call/7",
        "/leading",
        "trailing/",
        "with space",
        "what?x=1&y=2",
        "100%",
        "%2F",
        "hash#tag",
        "plus+sign",
        "ünïcødé-✓-事件",
        "ingest/nested",
    ],
)
def test_event_ids_with_special_characters_round_trip(api, customer, event_id):
    assert ingest(api, [ev(customer, event_id)]).json() == {"ingested_count": 1}
    response = api.get(event_url(event_id))
    assert response.status_code == 200, response.content
    assert response.json()["event_id"] == event_id
    assert ids(api.get("/api/events")) == [event_id]


def test_an_event_called_ingest_is_retrievable(api, customer):
    assert_error(api.get("/api/events/ingest"), 404, "NOT_FOUND")
    assert ingest(api, [ev(customer, "ingest", metadata={"n": 1})]).json() == {"ingested_count": 1}
    data = api.get("/api/events/ingest").json()
    assert (data["event_id"], data["metadata"], data["customer_id"]) == ("ingest", {"n": 1}, customer.id)


def test_metadata_values_keep_their_json_type(api, customer):
    metadata = {"int": 7, "float": 1.5, "neg": -3, "big": 2**53 - 1, "true": True, "false": False}
    ingest(api, [ev(customer, "types", metadata=metadata)])
    data = api.get(event_url("types")).json()["metadata"]
    assert data == metadata
    assert [type(data[k]) for k in metadata] == [int, float, int, int, bool, bool], connection.vendor
