"""Datetimes at the edges of the calendar, on every input that takes one.

``9999-12-31T23:59:59-23:59`` is a valid ISO 8601 datetime whose UTC instant lies in the year
10000, which Python cannot hold: every list filter, usage history, ingest and a report period at
9999-12-31 answered 500. ``dodo_billing.datetimes`` reads every such input and holds it to
0001-01-02 … 9999-12-30 (UTC): a query parameter outside is 422 ``INVALID_QUERY_PARAMS``, an event
422 naming its index and field, a dashboard field a form error beside the field.
"""

import base64
import json

import pytest
from drf_spectacular.generators import SchemaGenerator

from dodo_billing.datetimes import EARLIEST, LATEST, parse_datetime_utc
from metering.ingestion import decode_event
from metering.models import Event
from tests.conftest import assert_error, post_json
from tests.dodo_billing.test_tenant_isolation import Owned, counts

pytestmark = pytest.mark.django_db

OUT_OF_RANGE = [
    "9999-12-31T23:59:59-23:59",  # year 10000 in UTC: OverflowError before
    "0001-01-01T00:00:00+23:59",  # year 0 in UTC
    "9999-12-31T23:59:59Z",  # no day left to add (a report's end, a local time)
    "0001-01-01T00:00:00Z",
    "9999-12-31",  # a date alone is midnight UTC
]
UNREADABLE = ["10000-01-01T00:00:00Z", "2025-02-30T00:00:00Z", "2025-01-01T00:00:00+24:00", "yesterday"]
IN_RANGE = ["9999-12-30T23:59:59Z", "0001-01-02T00:00:00Z", "9999-12-31T12:00:00+13:00"]


def test_one_parser_holds_every_datetime_to_one_range():
    for text in OUT_OF_RANGE:
        with pytest.raises(ValueError, match="Must lie between"):
            parse_datetime_utc(text)
    for text in UNREADABLE:
        with pytest.raises(ValueError, match="Enter a valid date/time in ISO 8601"):
            parse_datetime_utc(text)
    for text in IN_RANGE:
        value = parse_datetime_utc(text)
        assert EARLIEST <= value <= LATEST and value.utcoffset().total_seconds() == 0
    assert parse_datetime_utc("2026-01-31T10:00:00-05:30").isoformat() == "2026-01-31T15:30:00+00:00"


def datetime_parameters() -> list[tuple[str, str, dict]]:
    """``(path, parameter, path arguments needed)`` of every date-time query parameter of every
    operation in the OpenAPI schema: list filters, usage history's dates, events' start/end."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    found = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "query" and parameter["schema"].get("format") == "date-time":
                    assert method == "get", (path, parameter["name"])
                    found.append((path, parameter["name"]))
    return found


def test_every_datetime_query_parameter_answers_the_edges_with_422(api, business, customer, staff_user):
    owned = Owned(business, customer, staff_user)
    arguments = {"{customer_id}": owned.customer.id, "{subscription_id}": owned.subscription.id}
    parameters = datetime_parameters()
    paths = {path for path, _ in parameters}
    # Every list with created_at filters, the events' start/end and usage history's dates.
    assert {"/api/customers", "/api/payments", "/api/refunds", "/api/subscriptions", "/api/events"} <= paths
    assert "/api/customers/{customer_id}/wallets/ledger-entries" in paths
    assert "/api/subscriptions/{subscription_id}/usage-history" in paths
    before = counts()
    for path, name in parameters:
        url = path
        for placeholder, value in arguments.items():
            url = url.replace(placeholder, value)
        for text in OUT_OF_RANGE + UNREADABLE:
            body = assert_error(api.get(url, {name: text}), 422, "INVALID_QUERY_PARAMS")
            assert list(body["errors"]) == [name] and body["message"].startswith(f"{name}: "), body
        for text in IN_RANGE:
            assert api.get(url, {name: text}).status_code == 200, (url, name, text)
    assert counts() == before


def ingest(api, customer, timestamps):
    events = [
        {"event_id": f"e{i}", "customer_id": customer.id, "event_name": "llm", "timestamp": stamp}
        for i, stamp in enumerate(timestamps)
    ]
    return post_json(api, "/api/events/ingest", {"events": events})


def test_an_event_at_the_edge_is_422_naming_its_index_and_field(api, customer):
    now = "2026-01-01T00:00:00Z"
    for text in OUT_OF_RANGE[:4]:  # the decoder reads datetimes only (a date alone is malformed)
        body = assert_error(ingest(api, customer, [now, now, text]), 422, "INVALID_REQUEST_BODY")
        assert body["index"] == 2 and body["field"] == "timestamp", body
        assert body["message"].startswith("events[2].timestamp: Must lie between"), body
    assert not Event.objects.exists()
    # One event at a time (import_events): the same rule, naming the field.
    line = json.dumps(
        {"event_id": "x", "customer_id": customer.id, "event_name": "l", "timestamp": OUT_OF_RANGE[0]}
    )
    with pytest.raises(Exception, match="timestamp: Must lie between") as raised:
        decode_event(line.encode())
    assert raised.value.extra["field"] == "timestamp"


def test_a_forged_webhook_list_cursor_is_422(api):
    for raw in ("9999-12-31T23:59:59-23:59|wh_x", "2026-01-01T00:00:00+00:00|wh_\x00"):
        iterator = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
        assert_error(api.get("/api/webhooks", {"iterator": iterator}), 422, "INVALID_QUERY_PARAMS")


DASHBOARD_LISTS = {
    "/customers/": ["created_at_gte", "created_at_lte"],
    "/payments/": ["created_at_gte", "created_at_lte"],
    "/subscriptions/": ["created_at_gte", "created_at_lte"],
    "/events/": ["start", "end"],
}


@pytest.mark.parametrize("path", sorted(DASHBOARD_LISTS))
def test_dashboard_filters_show_the_edge_as_a_form_error(staff_client, customer, path):
    for name in DASHBOARD_LISTS[path]:
        response = staff_client.get(path, {name: OUT_OF_RANGE[0]})
        assert response.status_code == 200, (path, name, response.status_code)
        form = response.context["filter_form"]
        assert form.errors[name] == [
            "Must lie between 0001-01-02T00:00:00Z and 9999-12-30T23:59:59Z (in UTC)."
        ]
        assert "is-invalid" in str(form[name]) or form[name].errors, (path, name)


def test_the_wallet_ledger_filter_shows_the_edge_as_a_form_error(staff_client, customer):
    response = staff_client.get(f"/customers/{customer.id}/wallet", {"created_at_lte": OUT_OF_RANGE[0]})
    assert response.status_code == 200
    assert "Must lie between" in response.context["filter_form"].errors["created_at_lte"][0]
