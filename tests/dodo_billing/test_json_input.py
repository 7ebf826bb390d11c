"""JSON that is valid but hostile: nested 10,000 levels deep, or holding a lone UTF-16 surrogate.

Before ``dodo_billing.json_input``, a 10,000-level body was a RecursionError (500) on every JSON
endpoint, ingest included (msgspec recursed into an unknown field), and ``"\\ud800"`` in a
customer's, a subscription's or a webhook endpoint's metadata, in a webhook header or in a meter
filter value was a 500 when PostgreSQL refused to encode it. Now both are 422
``INVALID_REQUEST_BODY`` (the surrogate naming its field) and nothing is written, in the API, in
ingest and in the dashboard's JSON fields.
"""

import json

import pytest
from drf_spectacular.generators import SchemaGenerator
from hypothesis import given, settings
from hypothesis import strategies as st

from customers.models import Customer
from dodo_billing.json_input import MAX_JSON_DEPTH, nesting_exceeds, surrogate_path
from dodo_billing.models import WebhookEndpoint
from metering.models import Event, Meter, Product, Subscription
from tests.conftest import assert_error, post_json
from tests.dodo_billing.test_tenant_isolation import Owned, counts

pytestmark = pytest.mark.django_db

DEEP = 10_000
LONE = "\ud800"  # a lone high surrogate; json.dumps writes it as the escape \ud800
SURROGATE_REASON = "Holds a lone UTF-16 surrogate"
NESTING_REASON = f"The JSON nests deeper than {MAX_JSON_DEPTH} levels."


def deep_array(levels=DEEP) -> str:
    return "[" * levels + "]" * levels


def deep_object(levels=DEEP) -> str:
    return '{"a":' * levels + "1" + "}" * levels


# --- the two checks, on their own ------------------------------------------------------------------

# Strings full of what could confuse a scanner: brackets, quotes, backslashes, escapes.
tricky_text = st.text(alphabet='[]{}"\\/ax\n\u00e9', max_size=6)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | tricky_text,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(tricky_text, children, max_size=3),
    max_leaves=60,
)


def depth(value) -> int:
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    return 0


@settings(max_examples=300, derandomize=True, database=None, deadline=None)
@given(value=json_values, limit=st.integers(min_value=0, max_value=8))
def test_nesting_is_measured_exactly_without_parsing(value, limit):
    text = json.dumps(value, ensure_ascii=False).encode()
    assert nesting_exceeds(text, limit) == (depth(value) > limit)


def test_nesting_far_too_deep_or_unclosed_is_found():
    for text in (deep_array(), deep_object(), "[" * DEEP, '{"a":' * DEEP, "[" * 33 + "]" * 33):
        assert nesting_exceeds(text.encode())
    for text in (
        "[" * 32 + "]" * 32,
        '["' + "[" * DEEP + '"]',
        '{"a": "\\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}',
    ):
        assert not nesting_exceeds(text.encode())


def test_surrogate_path_names_the_string_that_holds_one():
    assert surrogate_path({"metadata": {"region": "eu", "note": "x\ud800"}}) == "metadata.note"
    assert surrogate_path({"events": [{"a": 1}, {"metadata": {"\udc00k": 1}}]}) == "events[1].metadata"
    assert surrogate_path({"ok": "\U0001f600 😀", "list": [1, "é"]}) is None


# --- the API ---------------------------------------------------------------------------------------


def write_operations() -> list[tuple[str, str]]:
    """``(method, path)`` of every operation of the OpenAPI schema that takes a JSON body."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return [
        (method, path)
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if "requestBody" in operation
    ]


def path_arguments(owned: Owned) -> dict:
    return {
        "{customer_id}": owned.customer.id,
        "{meter_id}": owned.meter.id,
        "{product_id}": owned.product.id,
        "{subscription_id}": owned.subscription.id,
        "{webhook_id}": owned.webhook.id,
    }


def send(api, method, url, body):
    """``body`` as JSON text (a str is sent as it is)."""
    text = body if isinstance(body, str) else json.dumps(body)
    return getattr(api, method)(url, data=text, content_type="application/json")


def everything(owned):
    """What a refused write must leave as it was."""
    owned.customer.refresh_from_db()
    return (
        counts(),
        Customer.objects.count(),
        Product.objects.count(),
        Meter.objects.count(),
        Event.objects.count(),
        WebhookEndpoint.objects.count(),
        sorted(Customer.objects.values_list("id", "metadata")),
        sorted(Subscription.objects.values_list("id", "metadata")),
        sorted(Product.objects.values_list("id", "metadata")),
        sorted(WebhookEndpoint.objects.values_list("id", "metadata", "headers")),
        sorted(Meter.objects.values_list("id", "filter")),
    )


def test_every_json_endpoint_refuses_deep_nesting_before_parsing(api, business, customer, staff_user):
    owned = Owned(business, customer, staff_user)
    operations = write_operations()
    assert len(operations) >= 15, operations
    before = everything(owned)
    for method, path in operations:
        url = path
        for placeholder, value in path_arguments(owned).items():
            url = url.replace(placeholder, value)
        for text in (deep_array(), deep_object(), '{"metadata": ' + deep_array() + "}", "[" * DEEP):
            body = assert_error(send(api, method, url, text), 422, "INVALID_REQUEST_BODY")
            assert body["message"] == NESTING_REASON, (method, path, body)
    assert everything(owned) == before


def test_every_json_endpoint_refuses_a_lone_surrogate_naming_it(api, business, customer, staff_user):
    owned = Owned(business, customer, staff_user)
    before = everything(owned)
    for method, path in write_operations():
        url = path
        for placeholder, value in path_arguments(owned).items():
            url = url.replace(placeholder, value)
        body = assert_error(send(api, method, url, {"probe": LONE}), 422, "INVALID_REQUEST_BODY")
        assert body["message"].startswith("probe: " + SURROGATE_REASON), (method, path, body)
    assert everything(owned) == before


def test_lone_surrogates_in_the_fields_that_were_500s(api, business, customer, staff_user):
    """Metadata (values and keys), webhook metadata and headers, meter filter values."""
    owned = Owned(business, customer, staff_user)
    meter = {
        "name": "M",
        "event_name": "llm",
        "measurement_unit": "tokens",
        "aggregation": {"type": "count"},
        "filter": {"conjunction": "and", "clauses": [{"key": "region", "operator": "equals", "value": LONE}]},
    }
    person = {"name": "N", "email": "n@example.com"}
    hook = {"url": "https://h.example.com/"}
    cases = [
        ("post", "/api/customers", {**person, "metadata": {"k": LONE}}, "metadata.k"),
        ("post", "/api/customers", {**person, "metadata": {LONE: 1}}, "metadata"),
        ("patch", f"/api/customers/{owned.customer.id}", {"metadata": {"k": LONE}}, "metadata.k"),
        ("patch", f"/api/products/{owned.product.id}", {"metadata": {"k": LONE}}, "metadata.k"),
        ("patch", f"/api/subscriptions/{owned.subscription.id}", {"metadata": {"k": LONE}}, "metadata.k"),
        ("post", "/api/webhooks", {**hook, "metadata": {"k": LONE}}, "metadata.k"),
        ("post", "/api/webhooks", {**hook, "headers": {"X-A": LONE}}, "headers.X-A"),
        ("patch", f"/api/webhooks/{owned.webhook.id}", {"metadata": {"k": LONE}}, "metadata.k"),
        ("patch", f"/api/webhooks/{owned.webhook.id}/headers", {"headers": {"X-A": LONE}}, "headers.X-A"),
        ("post", "/api/meters", meter, "filter.clauses[0].value"),
        (
            "post",
            f"/api/customers/{owned.customer.id}/wallets/ledger-entries",
            {"amount": 100, "currency": "USD", "is_credit": True, "reason": LONE},
            "reason",
        ),
    ]
    before = everything(owned)
    for method, url, text, field in cases:
        body = assert_error(send(api, method, url, text), 422, "INVALID_REQUEST_BODY")
        assert body["message"].startswith(f"{field}: {SURROGATE_REASON}"), (url, body)
        assert list(body["errors"]) == [field]
    assert everything(owned) == before
    # A surrogate pair is one character (an emoji) and is fine.
    emoji = {"name": "N", "email": "e@example.com", "metadata": {"k": "\U0001f600"}}  # \ud83d\ude00
    assert send(api, "post", "/api/customers", emoji).status_code == 200
    assert Customer.objects.get(email="e@example.com").metadata == {"k": "\U0001f600"}


# --- ingest ----------------------------------------------------------------------------------------


def ingest_body(customer, **third) -> dict:
    """Three events; ``third`` changes the third."""
    events = [{"event_id": f"e{i}", "customer_id": customer.id, "event_name": "llm"} for i in range(3)]
    events[2].update(third)
    return {"events": events}


def ingest(api, body):
    return post_json(api, "/api/events/ingest", body)


def test_ingest_refuses_deep_nesting_and_names_a_lone_surrogate(api, customer):
    deep = json.dumps(ingest_body(customer, extra="DEEP")).replace('"DEEP"', deep_array())
    for text in (deep, deep.replace('"extra"', '"metadata"'), deep_array(), deep_object()):
        body = assert_error(ingest(api, text), 422, "INVALID_REQUEST_BODY")
        assert body["message"] == NESTING_REASON
    for third, field in (
        ({"metadata": {"k": LONE}}, "metadata"),
        ({"metadata": {LONE: 1}}, "metadata"),
        ({"event_name": LONE}, "event_name"),
    ):
        body = assert_error(ingest(api, ingest_body(customer, **third)), 422, "INVALID_REQUEST_BODY")
        assert body["index"] == 2 and body["field"] == field, body
        assert body["message"].startswith(f"events[2].{field}: {SURROGATE_REASON}"), body
    assert not Event.objects.exists()
    emoji = ingest_body(customer, metadata={"k": "\U0001f600"})  # sent as \ud83d\ude00
    assert ingest(api, emoji).json() == {"ingested_count": 3}


# --- the dashboard's JSON fields -------------------------------------------------------------------


def test_dashboard_json_fields_show_the_refusal_beside_the_field(staff_client, customer):
    before = (sorted(Customer.objects.values_list("id", "name", "metadata")), Meter.objects.count())
    for text, reason in ((json.dumps({"k": LONE}), "k: " + SURROGATE_REASON), (deep_array(), NESTING_REASON)):
        for url in ("/customers/new/", f"/customers/{customer.id}/edit/"):
            response = staff_client.post(url, {"name": "New", "email": "new@example.com", "metadata": text})
            assert response.status_code == 400, url
            assert response.context["form"].errors["metadata"][0].startswith(reason), url
        meter = {"name": "M", "event_name": "e", "measurement_unit": "u", "aggregation_type": "count"}
        response = staff_client.post("/meters/new/", {**meter, "filter": text})
        assert response.status_code == 400
        assert reason in response.context["form"].errors["filter"][0]
    assert (sorted(Customer.objects.values_list("id", "name", "metadata")), Meter.objects.count()) == before


# --- Django admin's JSON fields --------------------------------------------------------------------


def test_every_admin_json_field_reads_under_the_same_rules(rf, business):
    from django.contrib import admin
    from django.contrib.auth import get_user_model
    from django.forms import JSONField as DjangoJSONField

    from dodo_billing.forms import JSONField

    request = rf.get("/admin/")
    request.user = get_user_model().objects.create_superuser(username="root", password="pw")
    checked = []
    for model, model_admin in admin.site._registry.items():
        for name, field in model_admin.get_form(request)().fields.items():
            if isinstance(field, DjangoJSONField):
                assert isinstance(field, JSONField), (model.__name__, name)
                checked.append(f"{model.__name__}.{name}")
    assert {"Customer.metadata", "WebhookEndpoint.headers", "Meter.filter", "Product.meters"} <= set(checked)


def test_admin_shows_the_refusal_and_writes_nothing(client, business):
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.create_superuser(username="op", password="pw"))
    form = {"business": business.pk, "name": "N", "email": "admin-json@example.com"}
    management = {"wallets-TOTAL_FORMS": "0", "wallets-INITIAL_FORMS": "0"}
    for text, reason in ((json.dumps({"k": LONE}), SURROGATE_REASON), (deep_array(), NESTING_REASON)):
        response = client.post("/admin/customers/customer/add/", {**form, **management, "metadata": text})
        assert response.status_code == 200
        assert reason in response.context["adminform"].form.errors["metadata"][0]
    assert not Customer.objects.filter(email="admin-json@example.com").exists()
