"""Dashboard pages of meters and events: list (sorting, filters, CSV, query count), create and
edit through the same service as the API (bad input writes nothing), archive, the usage chart and
top customers against the usage selectors, the events explorer, and other businesses' objects."""

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from metering.models import Meter
from metering.selectors import meter_usage_by_customer, meter_usage_series
from metering.selectors.dashboard import meter_top_customers, meter_usage_window
from metering.tables.meters import EventTable, MeterTable
from tests.dashboard import assert_queries_flat, assert_sorts_both_ways, csv_rows, query_count
from tests.metering.conftest import meter_rows

pytestmark = pytest.mark.django_db

NESTED = {
    "conjunction": "and",
    "clauses": [
        {"conjunction": "and", "clauses": [{"key": "region", "operator": "equals", "value": "eu"}]},
        {
            "conjunction": "or",
            "clauses": [
                {"key": "tier", "operator": "equals", "value": "pro"},
                {"key": "tokens", "operator": "greater_than", "value": 100},
            ],
        },
    ],
}


def meter_form(**fields):
    data = {
        "name": "Tokens",
        "event_name": "llm.call",
        "measurement_unit": "tokens",
        "aggregation_type": "sum",
        "aggregation_key": "tokens",
        "description": "",
        "filter": "",
    }
    data.update(fields)
    return data


# --- meter list ---------------------------------------------------------------------------------


def test_meter_list_sorts_by_every_column_both_ways(staff_client, make_meter):
    make_meter(name="B meter")
    make_meter(name="A meter", aggregation={"type": "max", "key": "gb"}, event_name="storage")
    assert_sorts_both_ways(staff_client, "/meters/", MeterTable)


def test_meter_list_shows_active_by_default_and_archived_on_request(staff_client, make_meter):
    make_meter(name="Live meter")
    make_meter(name="Old meter", archived=True)
    page = staff_client.get("/meters/").content.decode()
    assert "Live meter" in page and "Old meter" not in page
    page = staff_client.get("/meters/", {"archived": "true"}).content.decode()
    assert "Old meter" in page and "Live meter" not in page
    page = staff_client.get("/meters/", {"archived": "false"}).content.decode()
    assert "Live meter" in page and "Old meter" not in page


def test_meter_list_unknown_status_value_falls_back_to_active(staff_client, make_meter):
    make_meter(name="Live meter")
    make_meter(name="Old meter", archived=True)
    page = staff_client.get("/meters/", {"archived": "maybe"}).content.decode()
    assert "Live meter" in page and "Old meter" not in page


def test_meter_list_csv_exports_the_current_view(staff_client, make_meter):
    make_meter(
        name="Calls",
        filter={"conjunction": "and", "clauses": [{"key": "a", "operator": "equals", "value": 1}]},
    )
    make_meter(name="Archived one", archived=True)
    rows = csv_rows(staff_client.get("/meters/", {"export": "csv"}))
    assert rows[0][0] == "Name" and len(rows) == 2
    assert rows[1][0] == "Calls"
    assert json.loads(rows[1][rows[0].index("Filter")])["clauses"][0]["key"] == "a"


def test_meter_list_query_count_does_not_grow(staff_client, make_meter):
    make_meter(name="one")
    assert_queries_flat(staff_client, "/meters/", lambda: [make_meter(name=f"m{i}") for i in range(5)])


def test_meter_list_shows_only_the_business_meters(staff_client, make_meter, other_business):
    make_meter(name="Mine")
    make_meter(business=other_business, name="Theirs")
    page = staff_client.get("/meters/").content.decode()
    assert "Mine" in page and "Theirs" not in page


# --- create / edit ------------------------------------------------------------------------------


def test_create_meter_with_a_nested_filter(staff_client, business):
    response = staff_client.post("/meters/new/", meter_form(filter=json.dumps(NESTED)))
    meter = Meter.objects.get(business=business)
    assert response.status_code == 302 and response["Location"] == f"/meters/{meter.id}/"
    assert meter.filter == NESTED
    assert (meter.aggregation_type, meter.aggregation_key, meter.description) == ("sum", "tokens", None)
    page = staff_client.get(response["Location"]).content.decode()
    assert "Meter “Tokens” created." in page and "greater_than" in page


def test_create_count_meter_ignores_the_key_and_needs_no_filter(staff_client, business):
    response = staff_client.post("/meters/new/", meter_form(aggregation_type="count", aggregation_key="x"))
    assert response.status_code == 302
    meter = Meter.objects.get(business=business)
    assert meter.aggregation_key is None and meter.filter is None


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"name": ""}, "name", "This field is required."),
        ({"event_name": ""}, "event_name", "This field is required."),
        ({"measurement_unit": "x" * 101}, "measurement_unit", "at most 100 characters"),
        ({"aggregation_type": "avg"}, "aggregation_type", "Select a valid choice"),
        ({"aggregation_key": ""}, "aggregation_key", "needs the metadata key"),
        ({"filter": "{not json"}, "filter", "not valid JSON"),
        ({"filter": "[1, 2]"}, "filter", "must be an object with conjunction and clauses"),
        (
            {
                "filter": json.dumps(
                    {"conjunction": "xor", "clauses": [{"key": "a", "operator": "equals", "value": 1}]}
                )
            },
            "filter",
            "filter.conjunction: must be &#x27;and&#x27; or &#x27;or&#x27;",
        ),
        ({"filter": json.dumps({"conjunction": "and", "clauses": []})}, "filter", "1 to 10 clauses"),
        (
            {
                "filter": json.dumps(
                    {
                        "conjunction": "and",
                        "clauses": [
                            {"key": "a", "operator": "equals", "value": 1},
                            {
                                "conjunction": "or",
                                "clauses": [{"key": "b", "operator": "equals", "value": 2}],
                            },
                        ],
                    }
                )
            },
            "filter",
            "mixes conditions and nested filters",
        ),
        (
            {
                "filter": json.dumps(
                    {
                        "conjunction": "and",
                        "clauses": [
                            {
                                "conjunction": "and",
                                "clauses": [
                                    {
                                        "conjunction": "and",
                                        "clauses": [
                                            {
                                                "conjunction": "and",
                                                "clauses": [{"key": "a", "operator": "equals", "value": 1}],
                                            }
                                        ],
                                    }
                                ],
                            }
                        ],
                    }
                )
            },
            "filter",
            "nest at most 3 levels",
        ),
        (
            {
                "filter": json.dumps(
                    {"conjunction": "and", "clauses": [{"key": "a", "operator": "like", "value": 1}]}
                )
            },
            "filter",
            "filter.clauses[0].operator: must be one of",
        ),
        (
            {
                "filter": json.dumps(
                    {"conjunction": "and", "clauses": [{"key": "a", "operator": "contains", "value": 5}]}
                )
            },
            "filter",
            "contains compares strings",
        ),
        (
            {
                "filter": json.dumps(
                    {"conjunction": "and", "clauses": [{"key": "a", "operator": "less_than", "value": True}]}
                )
            },
            "filter",
            "not a boolean",
        ),
        (
            {
                "filter": json.dumps(
                    {"conjunction": "and", "clauses": [{"key": "a", "operator": "equals", "value": None}]}
                )
            },
            "filter",
            "must be a string, number or boolean",
        ),
        (
            {
                "filter": json.dumps(
                    {"conjunction": "and", "clauses": [{"key": "", "operator": "equals", "value": 1}]}
                )
            },
            "filter",
            "must be a string of 1 to 100 characters",
        ),
    ],
)
def test_create_meter_with_bad_input_shows_the_error_and_writes_nothing(staff_client, fields, field, message):
    before = meter_rows()
    response = staff_client.post("/meters/new/", meter_form(**fields))
    assert response.status_code == 400
    page = response.content.decode()
    assert message in page, page[page.find("invalid-feedback") - 300 :][:1200]
    form = response.context["form"]
    assert field in form.errors
    assert "is-invalid" in form.fields[field].widget.attrs["class"]
    assert "The meter was not created" in page
    assert meter_rows() == before == []


def test_create_page_keeps_the_filter_text_after_an_error(staff_client):
    bad = json.dumps({"conjunction": "and", "clauses": [{"key": "a", "operator": "contains", "value": 5}]})
    page = staff_client.get("/meters/new/").content.decode()
    assert "data-filter-builder" in page and "meter_filter_builder.js" in page
    page = staff_client.post("/meters/new/", meter_form(filter=bad)).content.decode()
    assert "&quot;contains&quot;" in page  # the textarea holds what was sent, for the builder to load


def test_edit_meter_changes_name_unit_and_description_only(staff_client, make_meter):
    meter = make_meter(filter=NESTED | {"conjunction": "or"})
    response = staff_client.post(
        f"/meters/{meter.id}/edit/",
        {"name": "Renamed", "measurement_unit": "requests", "description": "Hello"},
    )
    assert response.status_code == 302
    meter.refresh_from_db()
    assert (meter.name, meter.measurement_unit, meter.description) == ("Renamed", "requests", "Hello")
    assert meter.event_name == "api.call" and meter.filter["conjunction"] == "or"
    page = staff_client.get(response["Location"]).content.decode()
    assert "Meter “Renamed” saved." in page


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": "", "measurement_unit": "calls"}, "name"),
        ({"name": "x" * 256, "measurement_unit": "calls"}, "name"),
        ({"name": "ok", "measurement_unit": ""}, "measurement_unit"),
    ],
)
def test_edit_meter_with_bad_input_writes_nothing(staff_client, make_meter, fields, field):
    meter = make_meter()
    before = meter_rows()
    response = staff_client.post(f"/meters/{meter.id}/edit/", fields)
    assert response.status_code == 400
    assert field in response.context["form"].errors
    assert "invalid-feedback" in response.content.decode()
    assert meter_rows() == before


def test_edit_page_shows_what_the_meter_counts_read_only(staff_client, make_meter):
    meter = make_meter(filter=NESTED)
    page = staff_client.get(f"/meters/{meter.id}/edit/").content.decode()
    assert "never change once a meter exists" in page and "&quot;tier&quot;" in page
    assert 'name="event_name"' not in page and 'name="filter"' not in page


def test_archive_and_unarchive(staff_client, make_meter):
    meter = make_meter()
    response = staff_client.post(f"/meters/{meter.id}/archive/")
    assert response.status_code == 302
    meter.refresh_from_db()
    assert meter.archived_at is not None
    page = staff_client.get(f"/meters/{meter.id}/").content.decode()
    assert "archived. Its usage history is kept." in page and "Unarchive" in page
    staff_client.post(f"/meters/{meter.id}/unarchive/")
    meter.refresh_from_db()
    assert meter.archived_at is None
    assert staff_client.get(f"/meters/{meter.id}/archive/").status_code == 405


# --- detail: chart and top customers -------------------------------------------------------------


def test_detail_chart_holds_meter_usage_series(staff_client, make_meter, make_event, customer):
    meter = make_meter(aggregation={"type": "sum", "key": "tokens"}, event_name="llm.call")
    now = timezone.now()
    for days, tokens in ((0, 5), (1, 7), (1, 3), (3, 11), (10, 100)):
        make_event(
            event_name="llm.call",
            timestamp=now - timedelta(days=days, minutes=1),
            metadata={"tokens": tokens},
        )
    make_event(event_name="other", timestamp=now, metadata={"tokens": 1000})
    response = staff_client.get(f"/meters/{meter.id}/", {"period": "7d", "granularity": "day"})
    assert response.status_code == 200
    start, end = meter_usage_window(period="7d", granularity="day")
    series = meter_usage_series(meter=meter, start=start, end=end, granularity="day")
    chart = response.context["chart"]
    assert chart["data"]["labels"] == [bucket.strftime("%Y-%m-%d") for bucket, _ in series]
    assert chart["data"]["datasets"][0]["data"] == [float(value) for _, value in series]
    assert sum(chart["data"]["datasets"][0]["data"]) == 26  # the 10-day-old event is outside
    page = response.content.decode()
    assert 'data-chart="usage-chart"' in page and 'id="usage-chart"' in page
    assert "chart.umd.min.js" in page and "26 calls" in page


def test_detail_hourly_chart_and_bad_granularity(staff_client, make_meter, make_event):
    meter = make_meter()
    make_event(timestamp=timezone.now().replace(minute=0, second=0, microsecond=0))  # in the current hour
    response = staff_client.get(f"/meters/{meter.id}/", {"period": "24h", "granularity": "hour"})
    data = response.context["chart"]["data"]["datasets"][0]["data"]
    assert len(data) == 24 and data[-1] == 1.0
    response = staff_client.get(f"/meters/{meter.id}/", {"period": "90d", "granularity": "hour"})
    assert response.status_code == 200
    assert "can be shown daily only" in response.content.decode()
    assert len(response.context["chart"]["data"]["labels"]) == 7  # fell back to 7 days, daily
    response = staff_client.get(f"/meters/{meter.id}/", {"period": "1y"})
    assert "Select a valid choice" in response.content.decode()


@pytest.mark.parametrize(
    "aggregation",
    [
        {"type": "count"},
        {"type": "sum", "key": "n"},
        {"type": "max", "key": "n"},
        {"type": "last", "key": "n"},
    ],
)
def test_top_customers_agree_with_usage_by_customer(make_meter, make_event, make_customer, aggregation):
    meter = make_meter(aggregation=aggregation)
    now = timezone.now()
    customers = [make_customer() for _ in range(13)]
    for index, customer in enumerate(customers):
        for k in range(index % 4 + 1):
            make_event(
                customer=customer, timestamp=now - timedelta(hours=k + 1), metadata={"n": index * 3 + k}
            )
    make_event(customer=customers[0], timestamp=now - timedelta(hours=1), metadata={"n": "text"})
    start, end = now - timedelta(days=1), now
    top = meter_top_customers(meter=meter, start=start, end=end, limit=10)
    usage = meter_usage_by_customer(meter=meter, start=start, end=end)
    expected = sorted(usage.items(), key=lambda item: (-item[1], item[0]))[:10]
    assert [(row.customer.id, row.usage) for row in top] == expected
    assert all(isinstance(row.usage, Decimal) for row in top)


def test_detail_lists_top_customers_linked(staff_client, make_meter, make_event, make_customer):
    meter = make_meter()
    heavy, light = make_customer(name="Heavy User"), make_customer(name="Light User")
    for _ in range(3):
        make_event(customer=heavy)
    make_event(customer=light)
    page = staff_client.get(f"/meters/{meter.id}/").content.decode()
    assert page.index("Heavy User") < page.index("Light User")
    assert f'href="/customers/{heavy.id}/"' in page


def test_detail_of_a_meter_without_usage_has_an_empty_state(staff_client, make_meter):
    meter = make_meter()
    page = staff_client.get(f"/meters/{meter.id}/").content.decode()
    assert "No customer used this meter in this period" in page


def test_another_business_meter_is_a_404(staff_client, make_meter, other_business):
    meter = make_meter(business=other_business)
    for url in (f"/meters/{meter.id}/", f"/meters/{meter.id}/edit/"):
        response = staff_client.get(url)
        assert response.status_code == 404 and b"Page not found" in response.content
    before = meter_rows()
    assert staff_client.post(f"/meters/{meter.id}/archive/").status_code == 404
    assert (
        staff_client.post(f"/meters/{meter.id}/edit/", {"name": "x", "measurement_unit": "y"}).status_code
        == 404
    )
    assert meter_rows() == before
    assert staff_client.get("/meters/mtr_nope/").status_code == 404


def test_meter_pages_need_login(client, make_meter):
    meter = make_meter()
    for url in ("/meters/", "/meters/new/", f"/meters/{meter.id}/", "/events/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/")


# --- events explorer ----------------------------------------------------------------------------


def test_events_explorer_defaults_to_the_last_24_hours(staff_client, make_event):
    make_event("recent", timestamp=timezone.now() - timedelta(hours=2))
    make_event("old", timestamp=timezone.now() - timedelta(days=2))
    response = staff_client.get("/events/")
    page = response.content.decode()
    assert ">recent<" in page and ">old<" not in page
    assert "Showing the last 24 hours" in page
    start = response.context["filter_form"]["start"].value()
    assert start and datetime.fromisoformat(start) < datetime.now()


def test_events_explorer_filters(staff_client, make_event, make_customer, make_meter):
    now = timezone.now()
    other = make_customer(name="Other Person")
    make_event("a1", event_name="api.call", timestamp=now - timedelta(hours=1), metadata={"region": "eu"})
    make_event("a2", event_name="api.call", timestamp=now - timedelta(hours=30), metadata={"region": "us"})
    make_event("b1", event_name="upload", customer=other, timestamp=now - timedelta(hours=3))
    meter = make_meter(
        filter={"conjunction": "and", "clauses": [{"key": "region", "operator": "equals", "value": "eu"}]}
    )
    week_ago = (now - timedelta(days=7)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M")

    def ids(**params):
        response = staff_client.get("/events/", params)
        assert response.status_code == 200
        return sorted(row.record.event_id for row in response.context["table"].page.object_list)

    assert ids() == ["a1", "b1"]
    assert ids(start=week_ago) == ["a1", "a2", "b1"]
    assert ids(start=week_ago, customer_id=other.id) == ["b1"]
    assert ids(start=week_ago, event_name="api.call") == ["a1", "a2"]
    assert ids(start=week_ago, meter_id=meter.id) == ["a1"]
    assert ids(end=(now - timedelta(hours=2)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M")) == ["a2", "b1"]
    response = staff_client.get("/events/", {"meter_id": meter.id, "event_name": "upload"})
    assert "counts “api.call” events, not “upload”" in response.content.decode()
    assert list(response.context["table"].page.object_list) == []
    response = staff_client.get("/events/", {"start": "yesterday"})
    assert "Enter a valid date/time in ISO 8601" in response.content.decode()
    response = staff_client.get("/events/", {"meter_id": "mtr_unknown"})
    assert "Select a valid choice" in response.content.decode()


def test_events_explorer_sorts_exports_and_stays_flat(staff_client, make_event, make_customer):
    now = timezone.now()
    make_event("first", timestamp=now - timedelta(hours=3), metadata={"k": "v"})
    make_event("second", timestamp=now - timedelta(hours=1))
    assert_sorts_both_ways(staff_client, "/events/", EventTable)
    response = staff_client.get("/events/", {"sort": "timestamp"})
    assert [row.record.event_id for row in response.context["table"].page.object_list] == ["first", "second"]
    rows = csv_rows(staff_client.get("/events/", {"export": "csv", "columns": ""}))
    assert [row[0] for row in rows[1:]] == ["second", "first"]
    assert '{"k": "v"}' in rows[2]

    def more():
        for i in range(5):
            make_event(f"more-{i}", customer=make_customer(), timestamp=now - timedelta(minutes=i + 1))

    assert_queries_flat(staff_client, "/events/", more)


def test_events_explorer_other_business_is_invisible_and_detail_is_404(
    staff_client, make_event, other_business, make_customer
):
    theirs = make_customer(business=other_business, name="Foreign")
    make_event("foreign-event", business=other_business, customer=theirs)
    make_event("mine")
    page = staff_client.get("/events/").content.decode()
    assert ">mine<" in page and "foreign-event" not in page
    assert staff_client.get("/events/foreign-event/").status_code == 404
    assert staff_client.get("/events/", {"customer_id": theirs.id}).context["table"].page.object_list == []


def test_event_detail_shows_pretty_metadata_and_odd_ids(staff_client, make_event):
    make_event("a/b?c d", metadata={"tokens": 12, "model": "gpt"})
    from django.urls import reverse

    url = reverse("metering:event-detail", args=["a/b?c d"])
    response = staff_client.get(url)
    assert response.status_code == 200
    page = response.content.decode()
    assert '"model": "gpt",\n  "tokens": 12' in page.replace("&quot;", '"')
    htmx = staff_client.get(url, HTTP_HX_REQUEST="true")
    assert 'id="event-detail"' in htmx.content.decode()


def test_events_count_query_is_capped(staff_client, make_event):
    make_event("one")
    params = {"start": "2000-01-01T00:00"}
    count = query_count(staff_client, "/events/", params)
    assert count < 15


@pytest.mark.postgres
def test_event_explorer_queries_use_the_event_indexes(business, customer):
    """EXPLAIN of the explorer's page and count queries: each filter is served by an index of
    metering_event (sequential scans disabled so the tiny test table does not hide the plan)."""
    from metering.models import Event
    from metering.views.meters import EventExplorerFilterSet

    since = timezone.now() - timedelta(hours=24)
    base = Event.objects.filter(business=business).select_related("customer").order_by("-timestamp", "-id")
    cases = [
        {"start": since.isoformat()},
        {"start": since.isoformat(), "event_name": "api.call"},
        {"start": since.isoformat(), "customer_id": customer.id},
        {"start": since.isoformat(), "customer_id": customer.id, "event_name": "x"},
    ]
    indexes = ("event_business_newest", "event_business_name_time", "event_customer_name_time")
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        try:
            for params in cases:
                queryset = EventExplorerFilterSet(data=params, queryset=base, business=business).qs
                for plan in (queryset[:50].explain(), queryset.order_by()[:10_001].explain()):
                    assert "Seq Scan on metering_event" not in plan, plan
                    assert any(index in plan for index in indexes), plan
        finally:
            cursor.execute("SET enable_seqscan = on")
