"""Usage computed in SQL agrees with a plain-Python reference on random events, meters and filters.

The reference below is the specification of metering semantics (see metering/selectors.py and
metering/meter_filters.py) written as directly as possible; it exists only in the tests.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metering.ingestion import EventIn
from metering.meter_filters import value_kind
from metering.models import Event
from metering.selectors import (
    event_list,
    meter_usage,
    meter_usage_by_customer,
    meter_usage_series,
    meters_usage,
)
from metering.services import events_insert, meter_create

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 1, tzinfo=UTC)
KEYS = ["a", "tokens", "k.dot", 'q"uote', "é"]
NAMES = ["api.call", "llm.completion"]
STRINGS = ["", "a", "ab", "B", "é", "😀"]  # small domains make equalities and overlaps common
EXACT_DECIMALS = connection.vendor == "postgresql"  # SQLite sums JSON numbers as floats


# --- the reference --------------------------------------------------------------------------------


@dataclass
class RefEvent:
    seq: int
    customer: int
    event_name: str
    timestamp: datetime
    metadata: dict | None


def ref_scalar(metadata, key, kind):
    if not metadata or key not in metadata or value_kind(metadata[key]) != kind:
        return None
    value = metadata[key]
    return Decimal(str(value)) if kind == "number" else value


def ref_condition(metadata, condition) -> bool:
    value = condition["value"]
    kind = value_kind(value)
    actual = ref_scalar(metadata, condition["key"], kind)
    if actual is None:
        return False  # a missing key or another type never matches, whatever the operator
    expected = Decimal(str(value)) if kind == "number" else value
    return {
        "equals": lambda: actual == expected,
        "not_equals": lambda: actual != expected,
        "greater_than": lambda: actual > expected,
        "greater_than_or_equals": lambda: actual >= expected,
        "less_than": lambda: actual < expected,
        "less_than_or_equals": lambda: actual <= expected,
        "contains": lambda: expected in actual,
        "does_not_contain": lambda: expected not in actual,
    }[condition["operator"]]()


def ref_filter(metadata, meter_filter) -> bool:
    results = [
        ref_filter(metadata, clause) if "conjunction" in clause else ref_condition(metadata, clause)
        for clause in meter_filter["clauses"]
    ]
    return all(results) if meter_filter["conjunction"] == "and" else any(results)


def ref_matching(events, meter, start, end, customer=None):
    return [
        e
        for e in events
        if e.event_name == meter["event_name"]
        and (customer is None or e.customer == customer)
        and start <= e.timestamp < end
        and (meter["filter"] is None or ref_filter(e.metadata, meter["filter"]))
    ]


def ref_aggregate(matching, meter) -> Decimal:
    kind, key = meter["aggregation"]["type"], meter["aggregation"].get("key")
    if kind == "count":
        return Decimal(len(matching))
    numbered = [(e.timestamp, e.seq, ref_scalar(e.metadata, key, "number")) for e in matching]
    numbered = [item for item in numbered if item[2] is not None]
    if not numbered:
        return Decimal(0)
    if kind == "sum":
        return sum((value for _, _, value in numbered), Decimal(0))
    if kind == "max":
        return max(value for _, _, value in numbered)
    return max(numbered)[2]  # last: newest timestamp, then the one ingested last


# --- strategies -------------------------------------------------------------------------------------

numbers = st.integers(-3, 3) | (
    st.sampled_from([0.5, -1.25, 2.75, 1e-3]) if EXACT_DECIMALS else st.integers(-3, 3)
)
strings = st.sampled_from(STRINGS)
values = numbers | strings | st.booleans()
# Each key mostly holds one JSON type, so filters and aggregations meet real values often; the
# mixed keys keep type mismatches and missing keys in play.
KEY_VALUES = {
    "tokens": numbers,
    "a": strings,
    "é": st.booleans() | strings,
    "k.dot": numbers | strings,
    'q"uote': values,
}
metadata = st.none() | st.fixed_dictionaries({}, optional=KEY_VALUES)


@st.composite
def conditions(draw):
    key = draw(st.sampled_from(KEYS))
    value = draw(KEY_VALUES[key] | values) if draw(st.booleans()) else draw(KEY_VALUES[key])
    kind = value_kind(value)
    operators = ["equals", "not_equals"]
    if kind != "boolean":
        operators += ["greater_than", "greater_than_or_equals", "less_than", "less_than_or_equals"]
    if kind == "string":
        operators += ["contains", "does_not_contain"]
    return {"key": key, "operator": draw(st.sampled_from(operators)), "value": value}


def filters(depth=1):
    leaf = st.lists(conditions(), min_size=1, max_size=3)
    clauses = (
        leaf
        if depth == 3
        else leaf | st.lists(st.deferred(lambda: filters(depth + 1)), min_size=1, max_size=2)
    )
    return st.fixed_dictionaries({"conjunction": st.sampled_from(["and", "or"]), "clauses": clauses})


aggregations = st.sampled_from(["count", "sum", "max", "last"]).flatmap(
    lambda kind: (
        st.just({"type": "count"})
        if kind == "count"
        else st.sampled_from(KEYS).map(lambda key: {"type": kind, "key": key})
    )
)
event_names = st.sampled_from([NAMES[1], NAMES[1], NAMES[1], NAMES[0]])  # mostly the meter's event
meters = st.fixed_dictionaries(
    {"event_name": st.just(NAMES[1]), "aggregation": aggregations, "filter": st.none() | filters()}
)
events_strategy = st.lists(
    st.tuples(st.integers(0, 1), event_names, st.integers(0, 30), metadata), min_size=3, max_size=25
)
periods = st.tuples(st.integers(0, 4), st.integers(3, 12)).map(lambda p: (p[0], p[0] + p[1]))


# --- the property -----------------------------------------------------------------------------------


@pytest.fixture
def two_customers(make_customer):
    return [make_customer(), make_customer()]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw_events=events_strategy, meter_spec=meters, period=periods)
def test_sql_usage_matches_the_reference(business, two_customers, raw_events, meter_spec, period):
    start, end = T0 + timedelta(hours=period[0]), T0 + timedelta(hours=period[1])
    with transaction.atomic():
        reference = []
        for seq, (customer_index, event_name, hour, meta) in enumerate(raw_events):
            timestamp = T0 + timedelta(hours=hour // 3)  # // 3: equal timestamps are common; ties matter
            event = EventIn(
                event_id=f"e{seq}",
                customer_id=two_customers[customer_index].id,
                event_name=event_name,
                metadata=meta,
            )
            events_insert(business=business, events=[event], timestamps=[timestamp], ingested_at=T0)
            reference.append(RefEvent(seq, customer_index, event_name, timestamp, meta))
        meter = meter_create(business=business, name="m", measurement_unit="u", **meter_spec)

        counter = meter_create(
            business=business,
            name="n",
            measurement_unit="events",
            event_name=NAMES[0],
            aggregation={"type": "count"},
        )
        counter_spec = {"event_name": NAMES[0], "aggregation": {"type": "count"}, "filter": None}
        for index, customer in enumerate(two_customers):
            expected = ref_aggregate(ref_matching(reference, meter_spec, start, end, index), meter_spec)
            assert meter_usage(meter=meter, customer=customer, start=start, end=end) == expected
            # All of a subscription's meters at once (one query) agree with one at a time.
            together = meters_usage(meters=[meter, counter], customer=customer, start=start, end=end)
            counted = ref_aggregate(ref_matching(reference, counter_spec, start, end, index), counter_spec)
            assert together == {meter.id: expected, counter.id: counted}

        by_customer = meter_usage_by_customer(meter=meter, start=start, end=end)
        for index, customer in enumerate(two_customers):
            expected = ref_aggregate(ref_matching(reference, meter_spec, start, end, index), meter_spec)
            assert by_customer.get(customer.id, Decimal(0)) == expected

        series = meter_usage_series(
            meter=meter, start=start, end=end, granularity="hour", customer=two_customers[0]
        )
        for bucket_start, value in series:
            bucket_end = min(bucket_start + timedelta(hours=1), end)
            matching = ref_matching(reference, meter_spec, max(bucket_start, start), bucket_end, 0)
            assert value == ref_aggregate(matching, meter_spec), bucket_start

        listed = event_list(business=business, filters={"meter_id": meter.id})
        expected_ids = {f"e{e.seq}" for e in ref_matching(reference, meter_spec, T0, T0 + timedelta(days=9))}
        assert set(listed.values_list("event_id", flat=True)) == expected_ids
        transaction.set_rollback(True)


def test_reference_agrees_on_a_hand_computed_example(business, customer):
    """The contract's example: 2,500 tokens of gpt-4 (and noise) → sum 2,500."""
    rows = [
        ("e1", {"model": "gpt-4", "tokens": 1500}),
        ("e2", {"model": "gpt-4", "tokens": 1000}),
        ("e3", {"model": "gpt-3.5", "tokens": 700}),  # filtered out
        ("e4", {"model": "gpt-4", "tokens": "12"}),  # a string: matches, adds nothing
        ("e5", {"model": "gpt-4"}),  # no key: matches, adds nothing
    ]
    events = [EventIn(event_id=i, customer_id=customer.id, event_name="llm", metadata=m) for i, m in rows]
    events_insert(business=business, events=events, timestamps=[T0] * len(events), ingested_at=T0)
    meter_filter = {
        "conjunction": "and",
        "clauses": [{"key": "model", "operator": "equals", "value": "gpt-4"}],
    }
    common = {
        "business": business,
        "name": "m",
        "event_name": "llm",
        "measurement_unit": "tokens",
        "filter": meter_filter,
    }
    period = {"customer": customer, "start": T0, "end": T0 + timedelta(days=1)}
    assert (
        meter_usage(meter=meter_create(aggregation={"type": "sum", "key": "tokens"}, **common), **period)
        == 2500
    )
    assert meter_usage(meter=meter_create(aggregation={"type": "count"}, **common), **period) == 4
    assert (
        meter_usage(meter=meter_create(aggregation={"type": "max", "key": "tokens"}, **common), **period)
        == 1500
    )
    # last: all at T0, so the one ingested last with a number wins: e2 (e4's value is a string).
    assert (
        meter_usage(meter=meter_create(aggregation={"type": "last", "key": "tokens"}, **common), **period)
        == 1000
    )
    assert Event.objects.count() == 5


MISSING = object()
EVENT_VALUES = [MISSING, -1, 0, 0.5, 1, 2, "", "a", "ab", "b", "B", "é", "😀", True, False]
FILTER_VALUES = [0, 0.5, 1, "", "a", "b", "é", True, False]


def operators_for(value):
    kind = value_kind(value)
    operators = ["equals", "not_equals"]
    if kind != "boolean":
        operators += ["greater_than", "greater_than_or_equals", "less_than", "less_than_or_equals"]
    if kind == "string":
        operators += ["contains", "does_not_contain"]
    return operators


def test_every_operator_against_every_kind_of_value(business, customer):
    """Each operator × each filter value × each event value (and a missing key), one meter each."""
    values = EVENT_VALUES if EXACT_DECIMALS else [v for v in EVENT_VALUES if not isinstance(v, float)]
    events = [
        EventIn(
            event_id=f"v{i}",
            customer_id=customer.id,
            event_name="probe",
            metadata={"other": 1} if value is MISSING else {"k": value},
        )
        for i, value in enumerate(values)
    ]
    events_insert(business=business, events=events, timestamps=[T0] * len(events), ingested_at=T0)
    checked = 0
    for filter_value in FILTER_VALUES:
        for operator in operators_for(filter_value):
            condition = {"key": "k", "operator": operator, "value": filter_value}
            meter = meter_create(
                business=business,
                name=f"{operator} {filter_value!r}",
                event_name="probe",
                measurement_unit="events",
                aggregation={"type": "count"},
                filter={"conjunction": "and", "clauses": [condition]},
            )
            expected = {e.event_id for e in events if ref_condition(e.metadata, condition)}
            matched = set(
                event_list(business=business, filters={"meter_id": meter.id}).values_list(
                    "event_id", flat=True
                )
            )
            assert matched == expected, (operator, filter_value)
            checked += 1
    assert checked == 3 * 6 + 4 * 8 + 2 * 2  # numbers × 6 operators, strings × 8, booleans × 2


def test_last_breaks_timestamp_ties_by_ingestion_order_everywhere(business, make_customer):
    customers = [make_customer(), make_customer()]
    for customer in customers:  # same timestamp; ingested in event_id order: a, b, c
        events = [
            EventIn(
                event_id=f"{customer.id}-{letter}", customer_id=customer.id, event_name="g", metadata={"v": v}
            )
            for letter, v in (("a", 10), ("b", 20), ("c", "not a number"))
        ]
        events_insert(business=business, events=events, timestamps=[T0] * 3, ingested_at=T0)
    meter = meter_create(
        business=business,
        name="g",
        event_name="g",
        measurement_unit="GB",
        aggregation={"type": "last", "key": "v"},
    )
    end = T0 + timedelta(hours=1)
    assert meter_usage(meter=meter, customer=customers[0], start=T0, end=end) == 20
    assert meter_usage_by_customer(meter=meter, start=T0, end=end) == {c.id: 20 for c in customers}
    assert meter_usage_series(meter=meter, start=T0, end=end, granularity="hour", customer=customers[1]) == [
        (T0, 20)
    ]
