from datetime import timedelta

import pytest
from django.utils import timezone

from customers.models import Customer
from tests.conftest import assert_error, post_json

pytestmark = pytest.mark.django_db

CUSTOMER_FIELDS = {
    "business_id",
    "customer_id",
    "name",
    "email",
    "phone_number",
    "metadata",
    "preferred_locale",
    "created_at",
    "blocked_at",
    "blocklist_entry_id",
}


def test_create_returns_customer_and_makes_zero_wallets(api, business):
    body = {
        "email": "jane@example.com",
        "name": "Jane Doe",
        "metadata": {"plan": "pro", "seats": 5, "beta": True},
    }
    response = post_json(api, "/api/customers", body)
    assert response.status_code == 200
    data = response.json()
    assert set(data) == CUSTOMER_FIELDS
    assert data["customer_id"].startswith("cus_") and len(data["customer_id"]) == 25
    assert data["business_id"] == business.id
    assert data["metadata"] == {"plan": "pro", "seats": 5, "beta": True}
    assert data["phone_number"] is None and data["preferred_locale"] is None and data["blocked_at"] is None
    customer = Customer.objects.get(pk=data["customer_id"])
    assert sorted(customer.wallets.values_list("currency", "balance")) == [("INR", 0), ("USD", 0)]


def test_create_with_every_field(api):
    body = {
        "email": "raj@example.in",
        "name": "Raj",
        "phone_number": "+91 98765 43210",
        "preferred_locale": "fr",
        "metadata": {},
    }
    data = post_json(api, "/api/customers", body).json()
    assert data["phone_number"] == "+91 98765 43210"
    assert data["preferred_locale"] == "fr"


def test_duplicate_email_creates_a_second_customer(api):
    first = post_json(api, "/api/customers", {"email": "dup@example.com", "name": "A"}).json()
    second = post_json(api, "/api/customers", {"email": "dup@example.com", "name": "B"}).json()
    assert first["customer_id"] != second["customer_id"]


def test_retrieve(api, customer):
    data = api.get(f"/api/customers/{customer.id}").json()
    assert data["customer_id"] == customer.id
    assert data["email"] == "jane@example.com"


def test_unknown_and_foreign_customers_are_404(api, other_api, customer):
    assert_error(api.get("/api/customers/cus_doesnotexist00000000"), 404, "NOT_FOUND")
    # Another business's customer is indistinguishable from a missing one.
    assert_error(other_api.get(f"/api/customers/{customer.id}"), 404, "NOT_FOUND")
    assert_error(
        post_json(other_api, f"/api/customers/{customer.id}", {"name": "x"}), 405, "METHOD_NOT_ALLOWED"
    )
    response = other_api.patch(f"/api/customers/{customer.id}", {"name": "Hijacked"}, format="json")
    assert_error(response, 404, "NOT_FOUND")
    customer.refresh_from_db()
    assert customer.name == "Jane Doe"


def test_update_omitted_unchanged_null_clears(api, make_customer):
    customer = make_customer(
        name="Old",
        email="old@example.com",
        phone_number="+15555550100",
        metadata={"a": 1},
        preferred_locale="de",
    )
    response = api.patch(
        f"/api/customers/{customer.id}", {"metadata": {"b": 2}, "name": "New"}, format="json"
    )
    assert response.status_code == 200
    data = response.json()
    assert (data["name"], data["email"], data["phone_number"]) == ("New", "old@example.com", "+15555550100")
    assert data["metadata"] == {"b": 2}
    data = api.patch(
        f"/api/customers/{customer.id}",
        {"phone_number": None, "metadata": None, "preferred_locale": None},
        format="json",
    ).json()
    assert data["phone_number"] is None and data["metadata"] == {} and data["preferred_locale"] is None
    customer.refresh_from_db()
    assert customer.phone_number is None and customer.metadata == {} and customer.name == "New"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": None}, "name"),
        ({"email": None}, "email"),
        ({"email": "not-an-email"}, "email"),
        ({"metadata": {"nested": {"a": 1}}}, "metadata"),
        ({"preferred_locale": "xx"}, "preferred_locale"),
        ({"phone_number": "call me maybe"}, "phone_number"),
    ],
)
def test_bad_update_is_422_and_changes_nothing(api, customer, body, field):
    before = Customer.objects.values().get(pk=customer.pk)
    error = assert_error(
        api.patch(f"/api/customers/{customer.id}", body, format="json"), 422, "INVALID_REQUEST_BODY"
    )
    assert field in error["errors"]
    assert Customer.objects.values().get(pk=customer.pk) == before


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"name": "No Email"}, "INVALID_REQUEST_BODY", "email"),
        ({"email": "a@example.com"}, "INVALID_REQUEST_BODY", "name"),
        ({"email": "not-an-email", "name": "A"}, "INVALID_REQUEST_BODY", "email"),
        ({"email": "a@@example.com", "name": "A"}, "INVALID_REQUEST_BODY", "email"),
        ({"email": 42, "name": "A"}, "INVALID_REQUEST_BODY", "email"),
        ({"email": "a@example.com", "name": 123}, "INVALID_REQUEST_BODY", "name"),
        ({"email": "a@example.com", "name": ""}, "INVALID_REQUEST_BODY", "name"),
        ({"email": "a@example.com", "name": "x" * 256}, "INVALID_REQUEST_BODY", "name"),
        (
            {"email": "a@example.com", "name": "A", "metadata": {"a": {"b": 1}}},
            "INVALID_REQUEST_BODY",
            "metadata",
        ),
        (
            {"email": "a@example.com", "name": "A", "metadata": {"a": [1, 2]}},
            "INVALID_REQUEST_BODY",
            "metadata",
        ),
        (
            {"email": "a@example.com", "name": "A", "metadata": {"a": None}},
            "INVALID_REQUEST_BODY",
            "metadata",
        ),
        ({"email": "a@example.com", "name": "A", "metadata": [1]}, "INVALID_REQUEST_BODY", "metadata"),
        ({"email": "a@example.com", "name": "A", "metadata": None}, "INVALID_REQUEST_BODY", "metadata"),
        (
            {"email": "a@example.com", "name": "A", "metadata": {f"k{i}": i for i in range(51)}},
            "MAXIMUM_KEYS_REACHED",
            "metadata",
        ),
        (
            {"email": "a@example.com", "name": "A", "metadata": {"k" * 101: 1}},
            "INVALID_REQUEST_BODY",
            "metadata",
        ),
        (
            {"email": "a@example.com", "name": "A", "metadata": {"k": "v" * 501}},
            "INVALID_REQUEST_BODY",
            "metadata",
        ),
        (
            {"email": "a@example.com", "name": "A", "preferred_locale": "EN"},
            "INVALID_REQUEST_BODY",
            "preferred_locale",
        ),
        (
            {"email": "a@example.com", "name": "A", "phone_number": "12"},
            "INVALID_REQUEST_BODY",
            "phone_number",
        ),
    ],
)
def test_bad_create_is_rejected_and_writes_nothing(api, body, code, field):
    error = assert_error(post_json(api, "/api/customers", body), 422, code)
    assert field in error["errors"]
    assert field in error["message"]
    assert Customer.objects.count() == 0


def test_fifty_metadata_keys_are_fine(api):
    body = {"email": "a@example.com", "name": "A", "metadata": {f"k{i}": i for i in range(50)}}
    assert post_json(api, "/api/customers", body).status_code == 200


def test_list_newest_first_scoped_and_paginated(api, make_customer, other_business):
    now = timezone.now()
    made = [make_customer(name=f"C{i}", created_at=now - timedelta(minutes=i)) for i in range(7)]
    make_customer(business=other_business, name="Foreign")
    page = api.get("/api/customers", {"page_size": 3}).json()
    assert set(page) == {"items"}
    assert [c["customer_id"] for c in page["items"]] == [c.id for c in made[:3]]
    page2 = api.get("/api/customers", {"page_size": 3, "page_number": 2}).json()
    assert [c["customer_id"] for c in page2["items"]] == [made[6].id]
    assert api.get("/api/customers", {"page_size": 3, "page_number": 3}).json() == {"items": []}
    assert api.get("/api/customers", {"page_number": 10**6}).json() == {"items": []}
    default = api.get("/api/customers").json()["items"]
    assert len(default) == 7 and "Foreign" not in {c["name"] for c in default}


def test_list_filters(api, make_customer):
    now = timezone.now()
    jane = make_customer(name="Jane Doe", email="Jane@Example.com", created_at=now - timedelta(days=3))
    john = make_customer(name="John Janeway", email="john@example.com", created_at=now - timedelta(days=1))
    make_customer(name="Zed", email="zed@example.com", created_at=now)

    def ids(**params):
        return [c["customer_id"] for c in api.get("/api/customers", params).json()["items"]]

    assert ids(email="jane@example.com") == [jane.id]  # exact, case-insensitive
    assert ids(email="jane") == []
    assert ids(name="jAnE") == [john.id, jane.id]  # partial, case-insensitive
    since = (now - timedelta(days=2)).isoformat()
    assert len(ids(created_at_gte=since)) == 2
    assert ids(created_at_lte=since) == [jane.id]
    # The SDK's forms: "+00:00" offsets (sent as %2B), "Z", and naive (treated as UTC).
    assert ids(created_at_lte=(now - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")) == [jane.id]
    assert ids(created_at_lte=(now - timedelta(days=2)).replace(tzinfo=None).isoformat()) == [jane.id]


@pytest.mark.parametrize(
    "params",
    [
        {"page_size": 0},
        {"page_size": 101},
        {"page_size": "ten"},
        {"page_number": -1},
        {"page_number": "1.5"},
        {"page_number": 2**40},
        {"created_at_gte": "yesterday"},
        {"created_at_lte": "2025-13-45T00:00:00Z"},
    ],
)
def test_bad_query_params_are_422(api, customer, params):
    assert_error(api.get("/api/customers", params), 422, "INVALID_QUERY_PARAMS")


def test_page_size_bounds_are_inclusive(api, customer):
    assert api.get("/api/customers", {"page_size": 1}).status_code == 200
    assert api.get("/api/customers", {"page_size": 100}).status_code == 200
