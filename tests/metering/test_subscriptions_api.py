"""The subscriptions API (create, retrieve, update, list, usage history) and customers' payment methods."""

import itertools
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from customers.models import Customer
from metering.ingestion import EventIn
from metering.models import (
    Invoice,
    PaymentMethod,
    Subscription,
    SubscriptionMeter,
    SubscriptionStatus,
)
from metering.services import events_insert
from metering.services.billing import (
    payment_method_create,
    product_archive,
    product_create,
    subscription_bill_period,
    subscription_create,
    subscription_update,
)
from tests.conftest import assert_error, post_json

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 1, 1, tzinfo=UTC)
BILLING = {"country": "US", "city": "Austin", "state": "TX", "street": "1 Main St", "zipcode": "78701"}
GOOD_CARD = "4242424242424242"
SUBSCRIPTION_FIELDS = {
    "subscription_id",
    "business_id",
    "brand_id",
    "product_id",
    "product_name",
    "customer",
    "status",
    "quantity",
    "currency",
    "recurring_pre_tax_amount",
    "included_credits",
    "payment_frequency_count",
    "payment_frequency_interval",
    "subscription_period_count",
    "subscription_period_interval",
    "previous_billing_date",
    "next_billing_date",
    "expires_at",
    "cancel_at_next_billing_date",
    "cancelled_at",
    "created_at",
    "metadata",
    "billing",
    "meters",
    "payment_method_id",
    "has_payment_method",
    "on_demand",
    "tax_inclusive",
    "trial_period_days",
    "addons",
    "credit_entitlement_cart",
    "meter_credit_entitlement_cart",
    "discounts",
}


# --- fixtures and helpers ---------------------------------------------------------------------------


@pytest.fixture
def tokens(make_meter):
    return make_meter(
        name="Tokens",
        event_name="llm",
        measurement_unit="tokens",
        aggregation={"type": "sum", "key": "tokens"},
    )


@pytest.fixture
def calls(make_meter):
    return make_meter(name="API calls", event_name="api.call", measurement_unit="calls")


def periodic(**fields):
    return {
        "currency": "USD",
        "payment_frequency_count": 1,
        "payment_frequency_interval": "Month",
        "subscription_period_count": 20,
        "subscription_period_interval": "Year",
        **fields,
    }


@pytest.fixture
def usage_product(business, tokens, calls):
    """The contract's example: tokens at 2¢ above 1,000 free, calls at 0.5¢; $5 fixed per month."""
    return product_create(
        business=business,
        name="API Pro",
        price=periodic(
            type="usage_based_price",
            fixed_price=500,
            meters=[
                {"meter_id": tokens.id, "price_per_unit": "2", "free_threshold": 1000},
                {"meter_id": calls.id, "price_per_unit": "0.5", "free_threshold": 0},
            ],
        ),
    )


@pytest.fixture
def recurring_product(business):
    return product_create(business=business, name="Seats", price=periodic(type="recurring_price", price=1000))


@pytest.fixture
def one_time_product(business):
    return product_create(
        business=business, name="Credits", price={"type": "one_time_price", "currency": "USD", "price": 100}
    )


def body(product, customer, **fields):
    return {
        "billing": {"country": "US"},
        "customer": {"customer_id": customer.id},
        "product_id": product.id,
        "quantity": 1,
        **fields,
    }


def create(client, **fields):
    return post_json(client, "/api/subscriptions", fields)


def patch(client, subscription_id, data):
    return client.patch(
        f"/api/subscriptions/{subscription_id}", data=json.dumps(data), content_type="application/json"
    )


def rows():
    """Subscriptions (every column), their meters, customers, payment methods, invoices: what a
    request could write."""
    return (
        sorted(tuple(str(v) for v in row) for row in Subscription.objects.values_list()),
        sorted(tuple(str(v) for v in row) for row in SubscriptionMeter.objects.values_list()),
        sorted(Customer.objects.values_list("id", flat=True)),
        sorted(PaymentMethod.objects.values_list("id", flat=True)),
        Invoice.objects.count(),
    )


def subscribe(business, customer, product, now=None, **fields):
    fields.setdefault("billing", {"country": "US"})
    return subscription_create(business=business, customer=customer, product=product, now=now, **fields)


# --- create -----------------------------------------------------------------------------------------


def test_create_for_an_existing_customer(api, business, customer, usage_product, tokens, calls):
    before = timezone.now()
    response = create(api, **body(usage_product, customer, billing=BILLING, metadata={"plan": "pro"}))
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["subscription_id"].startswith("sub_")
    assert data["payment_id"] == ""  # billed in arrears: nothing is charged at creation
    assert data["customer"] == {
        "customer_id": customer.id,
        "email": "jane@example.com",
        "name": "Jane Doe",
        "metadata": {},
        "phone_number": None,
    }
    assert data["metadata"] == {"plan": "pro"}
    assert data["recurring_pre_tax_amount"] == 500
    assert data["payment_method_required"] is False  # the manual gateway needs no card
    assert data["addons"] == [] and data["client_secret"] is None and data["payment_link"] is None
    assert (data["status"], data["product_id"], data["payment_method_id"]) == (
        "active",
        usage_product.id,
        None,
    )
    subscription = Subscription.objects.get(pk=data["subscription_id"])
    assert (subscription.business_id, subscription.customer_id, subscription.product_id) == (
        business.id,
        customer.id,
        usage_product.id,
    )
    assert subscription.status == "active" and subscription.billing == BILLING
    assert before <= subscription.previous_billing_date <= timezone.now()
    assert list(
        subscription.subscription_meters.values_list("meter_id", "price_per_unit", "free_threshold")
    ) == [
        (tokens.id, Decimal(2), 1000),
        (calls.id, Decimal("0.5"), 0),
    ]
    assert datetime.fromisoformat(data["expires_on"]) == subscription.expires_at
    assert not Invoice.objects.exists()


def test_create_with_a_new_customer(api, business, recurring_product):
    data = create(
        api,
        billing={"country": "DE"},
        customer={"email": "new@example.com", "name": "New Person", "phone_number": "+49 30 1234567"},
        product_id=recurring_product.id,
        quantity=3,
    ).json()
    customer = Customer.objects.get(pk=data["customer"]["customer_id"])
    assert (customer.business_id, customer.email, customer.name, customer.phone_number) == (
        business.id,
        "new@example.com",
        "New Person",
        "+49 30 1234567",
    )
    assert customer.wallets.count() == 2  # made by customers.services.customer_create
    assert data["recurring_pre_tax_amount"] == 3000  # 3 seats × $10
    unnamed = create(
        api,
        billing={"country": "US"},
        customer={"email": "solo@example.com"},
        product_id=recurring_product.id,
        quantity=1,
    ).json()
    assert unnamed["customer"]["name"] == "solo@example.com"


def test_create_with_the_customers_payment_method(api, business, customer, usage_product):
    business.payment_gateway = "sandbox"
    business.save(update_fields=["payment_gateway"])
    card = payment_method_create(customer=customer, card_number=GOOD_CARD)
    data = create(api, **body(usage_product, customer, payment_method_id=card.id)).json()
    assert data["payment_method_id"] == card.id and data["payment_method_required"] is False
    assert Subscription.objects.get(pk=data["subscription_id"]).payment_method_id == card.id
    without = create(api, **body(usage_product, customer)).json()
    assert without["payment_method_required"] is True  # the sandbox gateway will need a card


def test_checkout_only_options_are_accepted_and_ignored(api, customer, recurring_product):
    response = create(
        api,
        **body(
            recurring_product,
            customer,
            allowed_payment_method_types=["credit", "debit"],
            force_3ds=True,
            redirect_immediately=False,
            return_url="https://example.com/done",
            show_saved_payment_methods=True,
            require_phone_number=False,
            short_link=None,
            payment_link=False,
            billing_currency="USD",
            addons=[],
            discount_codes=None,
            trial_period_days=0,
        ),
    )
    assert response.status_code == 200, response.content


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"product_id": "pdt_doesnotexist"}, 404, "NOT_FOUND"),
        ({"customer": {"customer_id": "cus_doesnotexist"}}, 404, "NOT_FOUND"),
        ({"payment_method_id": "pm_doesnotexist"}, 404, "NOT_FOUND"),
        ({"quantity": 2}, 400, "INVALID_QUANTITY"),
        ({"quantity": 0}, 400, "INVALID_QUANTITY"),
        ({"quantity": "1"}, 422, "INVALID_REQUEST_BODY"),
        ({"quantity": 1.0}, 422, "INVALID_REQUEST_BODY"),
        ({"quantity": None}, 422, "INVALID_REQUEST_BODY"),
        ({"billing": {"country": "XX"}}, 422, "INVALID_REQUEST_BODY"),
        ({"billing": {"country": "us"}}, 422, "INVALID_REQUEST_BODY"),
        ({"billing": {"city": "Austin"}}, 422, "INVALID_REQUEST_BODY"),
        ({"billing": {"country": "US", "city": 5}}, 422, "INVALID_REQUEST_BODY"),
        ({"billing": "US"}, 422, "INVALID_REQUEST_BODY"),
        ({"billing": None}, 422, "INVALID_REQUEST_BODY"),
        ({"customer": "cus_x"}, 422, "INVALID_REQUEST_BODY"),
        ({"customer": {}}, 422, "INVALID_REQUEST_BODY"),
        ({"customer": {"customer_id": 5}}, 422, "INVALID_REQUEST_BODY"),
        ({"customer": {"email": "not-an-email"}}, 422, "INVALID_REQUEST_BODY"),
        ({"customer": {"email": "a@example.com", "name": ""}}, 422, "INVALID_REQUEST_BODY"),
        ({"customer": {"email": "a@example.com", "phone_number": "call me"}}, 422, "INVALID_REQUEST_BODY"),
        ({"product_id": None}, 422, "INVALID_REQUEST_BODY"),
        ({"metadata": {"a": [1]}}, 422, "INVALID_REQUEST_BODY"),
        ({"metadata": {f"k{i}": 1 for i in range(51)}}, 422, "MAXIMUM_KEYS_REACHED"),
        (
            {"addons": [{"addon_id": "adn_1", "quantity": 1}]},
            400,
            "ADDONS_IN_USAGE_BASED_BILLING_NOT_SUPPORTED",
        ),
        ({"on_demand": {"mandate_only": True}}, 400, "ON_DEMAND_USAGE_BASED_BILLING_NOT_SUPPORTED"),
        ({"discount_code": "SAVE10"}, 400, "INVALID_REQUEST_PARAMETERS"),
        ({"discount_codes": ["SAVE10"]}, 400, "INVALID_REQUEST_PARAMETERS"),
        (
            {"one_time_product_cart": [{"product_id": "pdt_x", "quantity": 1}]},
            400,
            "INVALID_REQUEST_PARAMETERS",
        ),
        ({"payment_link": True}, 400, "INVALID_REQUEST_PARAMETERS"),
        ({"trial_period_days": 7}, 400, "INVALID_REQUEST_PARAMETERS"),
        ({"tax_id": "DE123"}, 400, "INVALID_REQUEST_PARAMETERS"),
        ({"billing_currency": "EUR"}, 400, "INVALID_REQUEST_PARAMETERS"),
    ],
)
def test_bad_create_writes_nothing(api, customer, usage_product, change, status, code):
    before = rows()
    assert_error(create(api, **{**body(usage_product, customer), **change}), status, code)
    assert rows() == before


@pytest.mark.parametrize("missing", ["billing", "customer", "product_id", "quantity"])
def test_missing_field_is_422(api, customer, usage_product, missing):
    data = body(usage_product, customer)
    del data[missing]
    assert missing in assert_error(create(api, **data), 422, "INVALID_REQUEST_BODY")["message"]
    assert not Subscription.objects.exists()


def test_quantity_range_for_a_recurring_product(api, customer, recurring_product):
    for quantity in (0, -1, 10001):
        assert_error(
            create(api, **body(recurring_product, customer, quantity=quantity)), 422, "INVALID_REQUEST_BODY"
        )
    assert not Subscription.objects.exists()
    assert create(api, **body(recurring_product, customer, quantity=10000)).status_code == 200


def test_addons_on_a_recurring_product_are_a_generic_400(api, customer, recurring_product):
    response = create(api, **body(recurring_product, customer, addons=[{"addon_id": "a", "quantity": 1}]))
    assert assert_error(response, 400, "INVALID_REQUEST_PARAMETERS")["field"] == "addons"


def test_one_time_or_archived_product_is_400(api, customer, one_time_product, recurring_product):
    before = rows()
    assert_error(create(api, **body(one_time_product, customer)), 400, "PRODUCT_NOT_RECURRING")
    product_archive(product=recurring_product)
    assert_error(create(api, **body(recurring_product, customer)), 400, "PRODUCT_IS_ARCHIVED")
    assert rows() == before


def test_foreign_product_customer_or_payment_method(
    api, business, other_business, customer, make_customer, usage_product
):
    foreign_customer = make_customer(business=other_business)
    foreign_product = product_create(
        business=other_business, name="Theirs", price=periodic(type="recurring_price", price=1)
    )
    foreign_card = payment_method_create(customer=foreign_customer, card_number=GOOD_CARD)
    someone_else = make_customer()
    their_card = payment_method_create(customer=someone_else, card_number=GOOD_CARD)
    before = rows()
    assert_error(create(api, **body(foreign_product, customer)), 404, "NOT_FOUND")
    assert_error(create(api, **body(usage_product, foreign_customer)), 404, "NOT_FOUND")
    assert_error(
        create(api, **body(usage_product, customer, payment_method_id=foreign_card.id)), 404, "NOT_FOUND"
    )
    body_ = assert_error(
        create(api, **body(usage_product, customer, payment_method_id=their_card.id)),
        400,
        "INVALID_REQUEST_PARAMETERS",
    )
    assert "another customer" in body_["message"]
    assert rows() == before


def test_a_new_customer_is_not_kept_when_the_subscription_fails(api, usage_product, recurring_product):
    before = rows()
    new = {"email": "new@example.com", "name": "New"}
    for product, change, status in [
        (usage_product, {"quantity": 2}, 400),  # fails in subscription_create, after the customer
        (recurring_product, {"billing": {"country": "XX"}}, 422),
        (usage_product, {"payment_method_id": "pm_x"}, 400),  # a new customer has no payment method
    ]:
        data = {
            "billing": {"country": "US"},
            "customer": new,
            "product_id": product.id,
            "quantity": 1,
            **change,
        }
        assert create(api, **data).status_code == status
    assert rows() == before
    assert not Customer.objects.filter(email="new@example.com").exists()


def test_read_only_key_cannot_subscribe(read_only_api, customer, usage_product):
    assert_error(create(read_only_api, **body(usage_product, customer)), 403, "FORBIDDEN")
    assert not Subscription.objects.exists()


# --- retrieve and list ------------------------------------------------------------------------------


def test_retrieve_has_the_subscription_fields(api, business, customer, usage_product, tokens):
    subscription = subscribe(business, customer, usage_product, billing=BILLING, metadata={"a": 1})
    response = api.get(f"/api/subscriptions/{subscription.id}?locale=de")
    assert response.status_code == 200, response.content
    data = response.json()
    assert set(data) == SUBSCRIPTION_FIELDS
    assert (data["subscription_id"], data["business_id"], data["brand_id"]) == (
        subscription.id,
        business.id,
        business.id,
    )
    assert data["billing"] == BILLING and data["metadata"] == {"a": 1} and data["discounts"] == []
    assert data["meters"][0] == {
        "meter_id": tokens.id,
        "name": "Tokens",
        "description": None,
        "measurement_unit": "tokens",
        "currency": "USD",
        "free_threshold": 1000,
        "price_per_unit": "2",
    }
    assert data["has_payment_method"] is False and data["on_demand"] is False


def test_retrieve_unknown_or_foreign_subscription_is_404(api, other_api, business, customer, usage_product):
    subscription = subscribe(business, customer, usage_product)
    assert_error(other_api.get(f"/api/subscriptions/{subscription.id}"), 404, "NOT_FOUND")
    assert_error(api.get("/api/subscriptions/sub_doesnotexist"), 404, "NOT_FOUND")


def test_list_newest_first_with_filters(
    api, business, other_business, customer, make_customer, usage_product, recurring_product
):
    other_customer = make_customer()
    first = subscribe(business, customer, usage_product, now=T0)
    second = subscribe(business, other_customer, recurring_product, now=T0 + timedelta(days=1))
    third = subscribe(business, customer, recurring_product, now=T0 + timedelta(days=2))
    subscription_update(subscription=third, cancel_at_next_billing_date=True)
    Subscription.objects.filter(pk=second.pk).update(status=SubscriptionStatus.CANCELLED)
    theirs = product_create(
        business=other_business, name="X", price=periodic(type="recurring_price", price=1)
    )
    subscribe(other_business, make_customer(business=other_business), theirs)

    def ids(query=""):
        response = api.get(f"/api/subscriptions{query}")
        assert response.status_code == 200, response.content
        assert set(response.json()) == {"items"}
        return [item["subscription_id"] for item in response.json()["items"]]

    assert ids() == [third.id, second.id, first.id]
    assert ids(f"?customer_id={customer.id}") == [third.id, first.id]
    assert ids(f"?product_id={recurring_product.id}") == [third.id, second.id]
    assert ids("?status=cancelled") == [second.id]
    assert ids("?status=active") == [third.id, first.id]
    assert ids("?cancel_at_next_billing_date=true") == [third.id]
    assert ids("?created_at_gte=2026-01-02T00:00:00Z") == [third.id, second.id]
    assert ids("?created_at_lte=2026-01-02T00:00:00%2B00:00") == [second.id, first.id]
    assert ids(f"?brand_id={business.id}&page_size=2&page_number=1") == [first.id]
    assert ids("?brand_id=bus_other") == []
    assert ids("?page_number=3") == []
    item = api.get("/api/subscriptions?page_size=1").json()["items"][0]
    assert set(item) == SUBSCRIPTION_FIELDS


@pytest.mark.parametrize(
    "query",
    [
        "status=ACTIVE",
        "status=unknown",
        "created_at_gte=yesterday",
        "created_at_lte=2026-13-01",
        "page_size=0",
        "page_size=101",
        "page_number=-1",
        "page_number=x",
    ],
)
def test_bad_list_params_are_422(api, query):
    assert_error(api.get(f"/api/subscriptions?{query}"), 422, "INVALID_QUERY_PARAMS")


# --- update -----------------------------------------------------------------------------------------


@pytest.fixture
def subscription(business, customer, usage_product):
    return subscribe(business, customer, usage_product, billing=BILLING, metadata={"a": 1})


def test_patch_metadata_and_billing(api, subscription):
    data = patch(
        api, subscription.id, {"metadata": {"b": 2}, "billing": {"country": "IN", "city": "Pune"}}
    ).json()
    assert data["metadata"] == {"b": 2}
    assert data["billing"] == {
        "country": "IN",
        "city": "Pune",
        "state": None,
        "street": None,
        "zipcode": None,
    }
    data = patch(api, subscription.id, {"metadata": None}).json()
    assert data["metadata"] == {}
    subscription.refresh_from_db()
    assert subscription.metadata == {} and subscription.billing["country"] == "IN"


def test_empty_patch_changes_nothing(api, subscription):
    before = rows()
    response = patch(
        api, subscription.id, {"cancel_at_next_billing_date": None, "status": None, "pause": False}
    )
    assert response.status_code == 200, response.content
    assert response.json()["metadata"] == {"a": 1}
    assert rows() == before


def test_patch_cancel_at_next_billing_date_and_undo(api, subscription):
    data = patch(
        api, subscription.id, {"cancel_at_next_billing_date": True, "cancel_reason": "cancelled_by_customer"}
    ).json()
    assert data["cancel_at_next_billing_date"] is True and data["status"] == "active"
    data = patch(api, subscription.id, {"cancel_at_next_billing_date": False}).json()
    assert data["cancel_at_next_billing_date"] is False
    assert not Invoice.objects.exists()


def test_patch_status_cancelled_cancels_now_and_bills_the_partial_period(api, subscription):
    response = patch(
        api,
        subscription.id,
        {"status": "cancelled", "cancellation_feedback": "too_expensive", "cancellation_comment": "bye"},
    )
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["status"] == "cancelled" and data["cancelled_at"] is not None
    invoice = Invoice.objects.get(subscription=subscription)
    assert invoice.period_start == subscription.previous_billing_date
    assert_error(patch(api, subscription.id, {"status": "cancelled"}), 400, "INVALID_REQUEST_PARAMETERS")
    assert_error(
        patch(api, subscription.id, {"cancel_at_next_billing_date": True}), 400, "INVALID_REQUEST_PARAMETERS"
    )
    assert_error(
        patch(api, subscription.id, {"cancel_at_next_billing_date": False}), 400, "INVALID_REQUEST_PARAMETERS"
    )
    assert Invoice.objects.count() == 1


def test_patch_status_cancelled_at_the_next_billing_date(api, subscription):
    data = patch(api, subscription.id, {"status": "cancelled", "cancel_at_next_billing_date": True}).json()
    assert data["status"] == "active" and data["cancel_at_next_billing_date"] is True
    assert not Invoice.objects.exists()


def test_patch_payment_method_extension(api, subscription, customer, make_customer, other_business):
    card = payment_method_create(customer=customer, card_number=GOOD_CARD)
    data = patch(api, subscription.id, {"payment_method_id": card.id}).json()
    assert data["payment_method_id"] == card.id and data["has_payment_method"] is True
    before = rows()
    someone_else = payment_method_create(customer=make_customer(), card_number=GOOD_CARD)
    before = rows()
    assert_error(
        patch(api, subscription.id, {"payment_method_id": someone_else.id}), 400, "INVALID_REQUEST_PARAMETERS"
    )
    foreign = payment_method_create(customer=make_customer(business=other_business), card_number=GOOD_CARD)
    assert_error(patch(api, subscription.id, {"payment_method_id": foreign.id}), 404, "NOT_FOUND")
    assert rows()[0] == before[0]
    assert patch(api, subscription.id, {"payment_method_id": None}).json()["payment_method_id"] is None


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"status": "paused"}, 400, "INVALID_REQUEST_PARAMETERS"),
        ({"status": "active"}, 400, "INVALID_REQUEST_PARAMETERS"),
        ({"status": "ended"}, 422, "INVALID_REQUEST_BODY"),
        ({"pause": True}, 400, "INVALID_REQUEST_PARAMETERS"),
        ({"next_billing_date": "2030-01-01T00:00:00Z"}, 400, "INVALID_REQUEST_PARAMETERS"),
        ({"subscription_period_count": 30}, 400, "INVALID_REQUEST_PARAMETERS"),
        ({"subscription_period_interval": "Year"}, 400, "INVALID_REQUEST_PARAMETERS"),
        ({"customer_name": "Jane"}, 400, "INVALID_REQUEST_PARAMETERS"),
        ({"customer_business_name": "Jane Inc"}, 400, "INVALID_REQUEST_PARAMETERS"),
        ({"tax_id": "DE1"}, 400, "INVALID_REQUEST_PARAMETERS"),
        (
            {"credit_entitlement_cart": [{"credit_entitlement_id": "cde_1"}]},
            400,
            "INVALID_REQUEST_PARAMETERS",
        ),
        (
            {"disable_on_demand": {"next_billing_date": "2030-01-01T00:00:00Z"}},
            400,
            "INVALID_REQUEST_PARAMETERS",
        ),
        ({"billing": None}, 422, "INVALID_REQUEST_BODY"),
        ({"billing": {"country": "ZZ"}}, 422, "INVALID_REQUEST_BODY"),
        ({"metadata": {"a": None}}, 422, "INVALID_REQUEST_BODY"),
        ({"cancel_at_next_billing_date": "yes"}, 422, "INVALID_REQUEST_BODY"),
        ({"cancel_reason": "bored"}, 422, "INVALID_REQUEST_BODY"),
        ({"payment_method_id": "pm_nope"}, 404, "NOT_FOUND"),
    ],
)
def test_bad_patch_writes_nothing(api, subscription, change, status, code):
    before = rows()
    # Every bad request also carries a good change: none of it may stick.
    assert_error(patch(api, subscription.id, {"metadata": {"changed": True}, **change}), status, code)
    assert rows() == before


def test_patch_unknown_or_foreign_subscription_is_404(api, other_api, subscription):
    before = rows()
    assert_error(patch(other_api, subscription.id, {"metadata": {"x": 1}}), 404, "NOT_FOUND")
    assert_error(patch(api, "sub_nope", {"metadata": {"x": 1}}), 404, "NOT_FOUND")
    assert rows() == before


# --- usage history ----------------------------------------------------------------------------------


def send(business, customer, event_name, stamped_metadata, prefix):
    events = [
        EventIn(event_id=f"{prefix}-{i}", customer_id=customer.id, event_name=event_name, metadata=metadata)
        for i, (_, metadata) in enumerate(stamped_metadata)
    ]
    events_insert(
        business=business, events=events, timestamps=[t for t, _ in stamped_metadata], ingested_at=T0
    )


@pytest.fixture
def history(business, customer, usage_product):
    """A subscription started at T0 (Jan 1): January billed (2,500 tokens, 3 calls), February current
    (1,200 tokens, 1 call so far), and usage of another customer that must not count."""
    subscription = subscribe(business, customer, usage_product, now=T0)
    january, february = T0 + timedelta(days=10), T0 + timedelta(days=40)
    send(business, customer, "llm", [(january, {"tokens": 1500}), (january, {"tokens": 1000})], "jan-llm")
    send(business, customer, "api.call", [(january, {})] * 3, "jan-api")
    subscription_bill_period(
        subscription_id=subscription.id, period_start=T0, now=datetime(2026, 2, 1, 1, tzinfo=UTC)
    )
    send(business, customer, "llm", [(february, {"tokens": 1200})], "feb-llm")
    send(business, customer, "api.call", [(february, {})], "feb-api")
    other = Customer.objects.create(business=business, name="Other", email="o@example.com")
    send(business, other, "llm", [(february, {"tokens": 99999})], "other")
    subscription.refresh_from_db()
    return subscription


def usage(client, subscription_id, query=""):
    response = client.get(f"/api/subscriptions/{subscription_id}/usage-history{query}")
    assert response.status_code == 200, response.content
    assert set(response.json()) == {"items"}
    return response.json()["items"]


def test_usage_history_contract_example(api, history, tokens, calls):
    items = usage(api, history.id)
    assert [(i["start_date"], i["end_date"]) for i in items] == [
        ("2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z"),  # current period, computed live
        ("2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z"),  # billed
    ]
    current, january = items
    assert january["meters"] == [
        {
            "id": tokens.id,
            "name": "Tokens",
            "consumed_units": "2500",
            "free_threshold": 1000,
            "chargeable_units": "1500",
            "price_per_unit": "2",
            "currency": "USD",
            "total_price": 3000,
        },
        {
            "id": calls.id,
            "name": "API calls",
            "consumed_units": "3",
            "free_threshold": 0,
            "chargeable_units": "3",
            "price_per_unit": "0.5",
            "currency": "USD",
            "total_price": 2,  # 1.5 rounds half to even
        },
    ]
    invoice = Invoice.objects.get(subscription=history)
    assert january["invoice_id"] == invoice.id and current["invoice_id"] is None
    assert invoice.subtotal == 500 + 3000 + 2
    assert [
        (m["id"], m["consumed_units"], m["chargeable_units"], m["total_price"]) for m in current["meters"]
    ] == [
        (tokens.id, "1200", "200", 400),
        (calls.id, "1", "1", 0),  # 0.5 rounds half to even
    ]


def test_usage_history_filters(api, history, tokens, calls, make_meter):
    assert [m["id"] for i in usage(api, history.id, f"?meter_id={calls.id}") for m in i["meters"]] == [
        calls.id
    ] * 2
    unused = make_meter(name="Unused")
    assert usage(api, history.id, f"?meter_id={unused.id}") == []
    assert_error(
        api.get(f"/api/subscriptions/{history.id}/usage-history?meter_id=mtr_nope"), 404, "NOT_FOUND"
    )

    def starts(query):
        return [i["start_date"][:10] for i in usage(api, history.id, query)]

    assert starts("?start_date=2026-02-01T00:00:00Z") == ["2026-02-01"]  # January ends then: excluded
    assert starts("?start_date=2026-01-31T23:59:59%2B00:00") == ["2026-02-01", "2026-01-01"]
    assert starts("?end_date=2026-01-31T00:00:00Z") == ["2026-01-01"]
    assert starts("?end_date=2026-02-01T00:00:00") == ["2026-02-01", "2026-01-01"]  # inclusive; naive = UTC
    assert starts("?start_date=2026-01-05T00:00:00Z&end_date=2026-01-06T00:00:00Z") == ["2026-01-01"]
    assert starts("?start_date=2027-01-01T00:00:00Z") == []
    assert starts("?start_date=&end_date=&meter_id=") == ["2026-02-01", "2026-01-01"]


def test_usage_history_pages_newest_first(api, history, customer):
    for month in (2, 3, 4):  # bill February, March, April; May is current
        history.refresh_from_db()
        subscription_bill_period(
            subscription_id=history.id,
            period_start=history.previous_billing_date,
            now=datetime(2026, month + 1, 1, 1, tzinfo=UTC),
        )
    everything = usage(api, history.id, "?page_size=100")
    assert [i["start_date"][:7] for i in everything] == [
        "2026-05",
        "2026-04",
        "2026-03",
        "2026-02",
        "2026-01",
    ]
    assert [i["invoice_id"] is None for i in everything] == [True, False, False, False, False]
    pages = [usage(api, history.id, f"?page_size=2&page_number={n}") for n in range(4)]
    assert [len(p) for p in pages] == [2, 2, 1, 0]
    assert [i for page in pages for i in page] == everything
    assert usage(api, history.id, "?page_size=1&page_number=1") == everything[1:2]
    assert everything[3]["meters"][0]["consumed_units"] == "1200"  # February, now billed


def test_usage_history_of_a_cancelled_subscription_ends_with_its_final_invoice(api, history):
    """Cancelling now first bills every period that ended unbilled (February onwards, up to today),
    then the partial period up to the cancellation: every period in the history has its invoice."""
    patch(api, history.id, {"status": "cancelled"})
    history.refresh_from_db()
    items = usage(api, history.id, "?page_size=100")
    assert len(items) >= 3 and all(i["invoice_id"] is not None for i in items)
    assert all(newer["start_date"] == older["end_date"] for newer, older in itertools.pairwise(items))
    final = Invoice.objects.get(pk=items[0]["invoice_id"])
    assert final.period_end == history.cancelled_at  # cut short at the cancellation
    assert items[-1]["start_date"] == "2026-01-01T00:00:00Z"
    february = next(i for i in items if i["start_date"] == "2026-02-01T00:00:00Z")
    assert february["end_date"] == "2026-03-01T00:00:00Z"
    assert february["meters"][0]["consumed_units"] == "1200"


def test_usage_history_without_meters_is_empty(api, business, customer, recurring_product):
    subscription = subscribe(business, customer, recurring_product)
    assert usage(api, subscription.id) == []


@pytest.mark.parametrize(
    "query",
    [
        "start_date=yesterday",
        "end_date=2026-02-30T00:00:00Z",
        "start_date=2026-03-01T00:00:00Z&end_date=2026-02-01T00:00:00Z",
        "page_size=0",
        "page_size=101",
        "page_number=-1",
    ],
)
def test_bad_usage_history_params_are_422(api, history, query):
    assert_error(
        api.get(f"/api/subscriptions/{history.id}/usage-history?{query}"), 422, "INVALID_QUERY_PARAMS"
    )


def test_usage_history_of_unknown_or_foreign_subscription_is_404(api, other_api, history):
    assert_error(other_api.get(f"/api/subscriptions/{history.id}/usage-history"), 404, "NOT_FOUND")
    assert_error(api.get("/api/subscriptions/sub_nope/usage-history"), 404, "NOT_FOUND")


# --- payment methods --------------------------------------------------------------------------------


def methods_url(customer_id):
    return f"/api/customers/{customer_id}/payment-methods"


def test_add_and_list_payment_methods(api, business, customer, usage_product):
    assert api.get(methods_url(customer.id)).json() == {"items": []}
    response = post_json(api, methods_url(customer.id), {"card_number": "4242 4242 4242 4242"})
    assert response.status_code == 201, response.content
    visa = response.json()
    assert visa["payment_method_id"].startswith("pm_")
    assert (visa["payment_method"], visa["payment_method_type"], visa["recurring_enabled"]) == (
        "card",
        "credit",
        True,
    )
    assert visa["card"]["card_network"] == "VISA" and visa["card"]["last4_digits"] == "4242"
    assert visa["last_used_at"] is None
    master = post_json(api, methods_url(customer.id), {"card_number": "5555-5555-5555-4444"}).json()
    assert master["card"] == {
        "card_network": "MASTERCARD",
        "last4_digits": "4444",
        "card_type": "credit",
        "card_holder_name": None,
        "card_issuing_country": None,
        "expiry_month": None,
        "expiry_year": None,
    }
    items = api.get(methods_url(customer.id)).json()["items"]
    assert [i["payment_method_id"] for i in items] == [master["payment_method_id"], visa["payment_method_id"]]
    assert PaymentMethod.objects.get(pk=visa["payment_method_id"]).customer_id == customer.id

    # last_used_at: when the method last paid
    business.payment_gateway = "sandbox"
    business.save(update_fields=["payment_gateway"])
    card = PaymentMethod.objects.get(pk=visa["payment_method_id"])
    subscription = subscribe(business, customer, usage_product, now=T0, payment_method=card)
    subscription_bill_period(subscription_id=subscription.id, period_start=T0, now=T0 + timedelta(days=32))
    used = {
        i["payment_method_id"]: i["last_used_at"] for i in api.get(methods_url(customer.id)).json()["items"]
    }
    assert used == {master["payment_method_id"]: None, visa["payment_method_id"]: "2026-02-02T00:00:00Z"}


@pytest.mark.parametrize(
    "body",
    [
        {"card_number": "4111111111111111"},  # a real-looking number: never stored
        {"card_number": "4242"},
        {"card_number": 4242424242424242},
        {"card_number": None},
        {},
        {"card_number": "4242424242424242x"},
    ],
)
def test_bad_card_is_422_and_writes_nothing(api, customer, body):
    assert_error(post_json(api, methods_url(customer.id), body), 422, "INVALID_REQUEST_BODY")
    assert not PaymentMethod.objects.exists()


def test_payment_methods_of_unknown_or_foreign_customer_are_404(api, other_api, customer):
    payment_method_create(customer=customer, card_number=GOOD_CARD)
    assert_error(other_api.get(methods_url(customer.id)), 404, "NOT_FOUND")
    assert_error(post_json(other_api, methods_url(customer.id), {"card_number": GOOD_CARD}), 404, "NOT_FOUND")
    assert_error(api.get(methods_url("cus_nope")), 404, "NOT_FOUND")
    assert PaymentMethod.objects.count() == 1


def test_read_only_key_lists_but_cannot_add(read_only_api, customer):
    assert read_only_api.get(methods_url(customer.id)).status_code == 200
    assert_error(
        post_json(read_only_api, methods_url(customer.id), {"card_number": GOOD_CARD}), 403, "FORBIDDEN"
    )
    assert not PaymentMethod.objects.exists()


def test_list_queries_do_not_grow_with_the_page(
    api, business, customer, usage_product, django_assert_max_num_queries
):
    for _ in range(2):
        subscribe(business, customer, usage_product)
    with django_assert_max_num_queries(20) as few:
        api.get("/api/subscriptions?page_size=100")
    for _ in range(8):
        subscribe(business, customer, usage_product)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(api.get("/api/subscriptions?page_size=100").json()["items"]) == 10


# --- problems found in the billing service (metering/services/billing.py) ------------------------------


def test_a_products_trial_reaches_its_subscriptions(business, customer):
    from metering.api.payloads import SubscriptionSerializer

    product = product_create(
        business=business,
        name="Trial",
        price=periodic(type="recurring_price", price=1000, trial_period_days=14),
    )
    assert product.trial_period_days == 14
    subscription = subscribe(business, customer, product, now=T0)
    assert SubscriptionSerializer(subscription).data["trial_period_days"] == 14
    assert subscription.next_billing_date == T0 + timedelta(days=14)  # the first charge after the trial


def test_service_refuses_to_schedule_a_cancel_on_an_ended_subscription(business, customer, recurring_product):
    from dodo_billing.errors import InvalidRequestParameters
    from metering.services.billing import subscription_cancel

    subscription = subscription_cancel(subscription=subscribe(business, customer, recurring_product))
    with pytest.raises(InvalidRequestParameters):
        subscription_update(subscription=subscription, cancel_at_next_billing_date=True)


def test_service_refuses_card_numbers_that_are_not_sandbox_test_cards(customer):
    from dodo_billing.errors import ApplicationError

    with pytest.raises(ApplicationError):
        payment_method_create(customer=customer, card_number="4111 1111 1111 1111")
    assert not PaymentMethod.objects.exists()
