"""API fuzzing: schemathesis generates requests for every operation of our OpenAPI schema
(``/api/schema``) and sends them to the real API (in-process WSGI, the test database, a real key).

For every answer: no 5xx; the body matches the schema for its status; the status code and the
content type are documented; ``Allow`` lists exactly the route's methods; and every error has the
contract's shape ``{"code": "UPPER_SNAKE", "message": "…"}``. Left out on purpose: schemathesis's
guesses about authentication (the key is always valid here; tests/dodo_billing/test_api_keys.py
covers bad keys) and about which schema-valid bodies must succeed (the API checks more than a
schema can say, e.g. that a URL starts with https://, and answers those with documented 4xx).

Hostile input is drawn on top (tests/dodo_billing/test_nul_bytes.py, test_datetime_edges.py and
test_json_input.py hold the exact expectations): every operation also gets explicit cases with a
NUL byte in its path ids and in its query parameters, calendar-edge datetimes in its date-time
parameters, and, if it takes a JSON body, a body holding lone surrogates and one nested 10,000
levels deep; and the generated cases are spoiled at random (a string of the path, the query or the
body replaced by one of those values, or the body swapped for the deep one)."""

import os

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import (
    allow_header_conformance,
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core import NOT_SET

pytestmark = pytest.mark.django_db

app = get_wsgi_application()
schema = schemathesis.openapi.from_wsgi("/api/schema", app)
CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
    allow_header_conformance,
]


@pytest.fixture(autouse=True)
def _keep_the_test_connection_open():
    """Like Django's test client: requests must not close the test's database connection."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


# --- hostile input -----------------------------------------------------------------------------

NUL = "a\x00b"
EDGE_DATETIMES = ("9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59")
# What may replace a string of the path or the query (it must still be UTF-8 on the wire) ...
HOSTILE_TEXT = (NUL, "\x00", *EDGE_DATETIMES)
# ... and of a JSON body, where an escape can carry a lone surrogate (json.dumps writes \ud800).
HOSTILE_BODY_TEXT = (*HOSTILE_TEXT, "x\ud800", "\udfff")
DEEP_TEXT = "[" * 10_000 + "]" * 10_000  # sent as raw text: json.dumps cannot write it
DEEP_BODY = {"stands for": "DEEP_TEXT"}
OWN = "@own"  # a path id the test replaces with the id of an existing object


def _case(operation, case=None, **changes):
    """A new case of ``operation``: ``case``'s parts (or none), with ``changes``."""
    parts = {"path_parameters": {}, "query": {}, "body": NOT_SET, "media_type": None}
    if case is not None:
        parts = {
            "path_parameters": dict(case.path_parameters or {}),
            "query": dict(case.query or {}),
            "body": case.body,
            "media_type": case.media_type,
            "headers": case.headers,
        }
    if "body" in changes and changes["body"] is not NOT_SET:
        parts["media_type"] = "application/json"
    return operation.Case(**{**parts, **changes})


def hostile_examples(operation) -> list:
    """Explicit cases for every operation: NUL in the path ids and in the query, calendar-edge
    datetimes, lone surrogates and deep nesting in the body."""
    path = {parameter.name: OWN for parameter in operation.path_parameters}
    query = [parameter.name for parameter in operation.query]
    datetimes = [
        p.name for p in operation.query if p.definition.get("schema", {}).get("format") == "date-time"
    ]
    takes_body = any(body.media_type == "application/json" for body in operation.body)
    cases = []
    if path:
        cases.append(_case(operation, path_parameters=dict.fromkeys(path, NUL)))
    if query:
        cases.append(_case(operation, path_parameters=path, query=dict.fromkeys(query, NUL)))
    for edge in EDGE_DATETIMES if datetimes else ():
        cases.append(_case(operation, path_parameters=path, query=dict.fromkeys(datetimes, edge)))
    lone = "x\ud800"
    if takes_body:
        surrogates = {"name": lone, "metadata": {"k": lone, lone: 1}, "headers": {"X-A": lone}}
        cases.append(_case(operation, path_parameters=path, body=surrogates))
        cases.append(_case(operation, path_parameters=path, body=DEEP_BODY))
    if operation.path == "/api/events/ingest":
        event = {"event_id": "e", "customer_id": OWN, "event_name": "n", "metadata": {"k": lone}}
        for stamp in EDGE_DATETIMES:
            cases.append(_case(operation, body={"events": [{**event, "metadata": {}, "timestamp": stamp}]}))
        cases.append(_case(operation, body={"events": [event]}))
    return cases


@schema.hook
def before_add_examples(context, examples):
    examples.extend(hostile_examples(context.operation))


def _string_leaves(value, path=()):
    """Paths to the strings of a JSON value."""
    if isinstance(value, str):
        yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _string_leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _string_leaves(item, (*path, index))


def _replaced(value, path, new):
    if not path:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = _replaced(value[path[0]], path[1:], new)
    return copy


def spoil(operation, case, kind: int, where: int, which: int):
    """``case`` with one string of its path or query (kind 1) or of its body (kind 2) replaced by
    hostile text, or its body swapped for the deep one (kind 3); kind 0 leaves it as it is."""
    if kind == 1:
        spots = [("path_parameters", name) for name in case.path_parameters or {}]
        spots += [("query", name) for name in case.query or {}]
        if spots:
            part, name = spots[where % len(spots)]
            values = {**getattr(case, part), name: HOSTILE_TEXT[which % len(HOSTILE_TEXT)]}
            return _case(operation, case, **{part: values})
    if kind == 2 and isinstance(case.body, dict | list):
        leaves = list(_string_leaves(case.body))
        new = HOSTILE_BODY_TEXT[which % len(HOSTILE_BODY_TEXT)]
        if leaves:
            return _case(operation, case, body=_replaced(case.body, leaves[where % len(leaves)], new))
        if isinstance(case.body, dict):
            return _case(operation, case, body={**case.body, "metadata": {"k": new}})
    if kind == 3 and case.body is not NOT_SET:
        return _case(operation, case, body=DEEP_BODY)
    return case


@schema.hook
def flatmap_case(context, case):
    # Half of the generated cases stay as they are; the rest are spoiled one way or another.
    draws = st.tuples(st.sampled_from([0, 0, 0, 1, 2, 3]), st.integers(0, 99), st.integers(0, 99))
    return draws.map(lambda draw: spoil(context.operation, case, *draw))


# The suite's run is reproducible (the same examples every time, so CI cannot turn red by luck);
# FUZZ_EXPLORE=1 draws fresh random examples, many more of them, to hunt for new failures.
EXPLORE = os.environ.get("FUZZ_EXPLORE") == "1"


@pytest.fixture
def own_ids(request):
    """The id of an existing object for each path parameter, made on first use."""
    ids = {}

    def get(name):
        if not ids:
            from tests.dodo_billing.test_tenant_isolation import Owned

            owned = Owned(*(request.getfixturevalue(f) for f in ("business", "customer", "staff_user")))
            ids.update(
                customer_id=owned.customer.id,
                meter_id=owned.meter.id,
                event_id=owned.event_id,
                payment_id=owned.payment.id,
                refund_id=owned.refund.id,
                product_id=owned.product.id,
                subscription_id=owned.subscription.id,
                webhook_id=owned.webhook.id,
            )
        return ids[name]

    return get


def _with_own_ids(case, own_ids):
    """Replace the ``OWN`` placeholders of explicit cases with existing objects' ids."""
    for name, value in (case.path_parameters or {}).items():
        if value == OWN:
            case.path_parameters[name] = own_ids(name)
    if isinstance(case.body, dict) and isinstance(case.body.get("events"), list):
        for event in case.body["events"]:
            if isinstance(event, dict) and event.get("customer_id") == OWN:
                event["customer_id"] = own_ids("customer_id")


@schema.parametrize()
@settings(
    max_examples=100 if EXPLORE else 10,
    derandomize=not EXPLORE,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_every_operation(case, api_key, customer, own_ids):
    _with_own_ids(case, own_ids)
    raw = {"data": DEEP_TEXT.encode()} if case.body == DEEP_BODY else {}
    response = case.call(headers={"Authorization": f"Bearer {api_key}"}, **raw)
    checks = CHECKS
    if case.path == "/api/events/ingest":
        # GET here is the event whose id is "ingest" (documented as GET /api/events/{event_id}),
        # so Allow rightly lists GET although this path's schema entry has only POST.
        checks = [check for check in CHECKS if check is not allow_header_conformance]
    case.validate_response(response, checks=checks)
    if response.status_code >= 400:
        body = response.json()
        assert isinstance(body.get("code"), str) and body["code"].isupper(), body
        assert isinstance(body.get("message"), str) and body["message"], body
