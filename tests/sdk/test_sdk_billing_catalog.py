"""The official dodopayments SDK, unchanged and in strict mode, on products, subscriptions, usage
history and payment methods."""

from datetime import UTC, datetime, timedelta

import dodopayments
import pytest

from customers.models import Customer
from metering.ingestion import EventIn
from metering.models import Product, Subscription
from metering.services import events_insert, meter_create
from metering.services.billing import (
    payment_method_create,
    product_create,
    subscription_bill_period,
    subscription_create,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    # SDK 1.123.0 marks subscriptions.create deprecated (in favour of checkout sessions); it still works.
    pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning"),
]

T0 = datetime(2026, 1, 1, tzinfo=UTC)
MONTHLY = {
    "payment_frequency_count": 1,
    "payment_frequency_interval": "Month",
    "subscription_period_count": 20,
    "subscription_period_interval": "Year",
}


@pytest.fixture
def client(sdk_factory, api_key):
    return sdk_factory(api_key)


@pytest.fixture
def tokens(business):
    return meter_create(
        business=business,
        name="Tokens",
        event_name="llm",
        measurement_unit="tokens",
        aggregation={"type": "sum", "key": "tokens"},
    )


@pytest.fixture
def usage_product(business, tokens):
    return product_create(
        business=business,
        name="API Pro",
        price={
            "type": "usage_based_price",
            "currency": "USD",
            "fixed_price": 0,
            **MONTHLY,
            "meters": [{"meter_id": tokens.id, "price_per_unit": "2", "free_threshold": 1000}],
        },
    )


def test_products_create_retrieve_update_list_archive_unarchive(client, business, tokens):
    product = client.products.create(
        name="API Pro",
        tax_category="saas",
        description="Metered API",
        metadata={"tier": "pro"},
        price={
            "type": "usage_based_price",
            "currency": "USD",
            "fixed_price": 500,
            **MONTHLY,
            "meters": [{"meter_id": tokens.id, "price_per_unit": "2", "free_threshold": 1000}],
            "included_credits": 250,  # extension: the SDK sends keys it does not know as they are
        },
    )
    assert isinstance(product, dodopayments.types.Product)
    assert product.product_id.startswith("pdt_")
    assert product.brand_id == product.business_id == business.id
    assert product.is_recurring is True and product.license_key_enabled is False
    assert product.credit_entitlements == [] and product.entitlements == []
    assert product.price.type == "usage_based_price" and product.price.fixed_price == 500
    [meter] = product.price.meters
    assert (meter.meter_id, meter.price_per_unit, meter.free_threshold) == (tokens.id, "2", 1000)
    assert (meter.name, meter.measurement_unit) == ("Tokens", "tokens")
    assert product.price.included_credits == 250  # extra fields are kept by the SDK's models

    top_up = client.products.create(
        name="Credits pack",
        tax_category="digital_products",
        price={"type": "one_time_price", "currency": "USD", "price": 1000},
        extra_body={"wallet_top_up": True},
    )
    assert top_up.price.type == "one_time_price" and top_up.price.price == 1000
    assert top_up.is_recurring is False and Product.objects.get(pk=top_up.product_id).wallet_top_up is True

    fetched = client.products.retrieve(product.product_id)
    assert fetched.name == "API Pro" and fetched.metadata == {"tier": "pro"}

    assert client.products.update(product.product_id, name="API Pro 2", description=None) is None
    updated = client.products.retrieve(product.product_id)
    assert (updated.name, updated.description) == ("API Pro 2", None)
    client.products.update(
        product.product_id,
        price={"type": "recurring_price", "currency": "EUR", "price": 2900, **MONTHLY},
    )
    assert client.products.retrieve(product.product_id).price.type == "recurring_price"

    page = client.products.list(page_size=10, page_number=0)
    assert [p.product_id for p in page.items] == [top_up.product_id, product.product_id]
    item = page.items[1]
    assert isinstance(item, dodopayments.types.ProductListResponse)
    assert (item.price, item.currency, item.price_detail.type) == (2900, "EUR", "recurring_price")
    assert [p.product_id for p in client.products.list(recurring=False).items] == [top_up.product_id]

    assert client.products.archive(product.product_id) is None
    assert [p.product_id for p in client.products.list().items] == [top_up.product_id]
    assert [p.product_id for p in client.products.list(archived=True).items] == [product.product_id]
    assert client.products.unarchive(product.product_id) is None
    assert len(client.products.list().items) == 2


def test_product_errors(client, sdk_factory, other_business, tokens):
    with pytest.raises(dodopayments.UnprocessableEntityError) as error:
        client.products.create(
            name="X",
            tax_category="saas",
            price={
                "type": "recurring_price",
                "currency": "USD",
                "price": 1,
                **MONTHLY,
                "payment_frequency_interval": "month",
            },
        )
    assert error.value.body["code"] == "INVALID_REQUEST_BODY"
    usage = {"type": "usage_based_price", "currency": "USD", "fixed_price": 0, **MONTHLY}
    with pytest.raises(dodopayments.BadRequestError) as error:
        client.products.create(
            name="X",
            tax_category="saas",
            price={**usage, "meters": [{"meter_id": "mtr_nope", "price_per_unit": "1"}]},
        )
    assert error.value.body["code"] == "MISSING_METER_IDS"
    with pytest.raises(dodopayments.BadRequestError) as error:
        client.products.create(
            name="X",
            tax_category="saas",
            price={**usage, "meters": [{"meter_id": tokens.id, "price_per_unit": "1"}] * 2},
        )
    assert error.value.body["code"] == "DUPLICATE_METER_IDS_IN_REQUEST"
    with pytest.raises(dodopayments.UnprocessableEntityError):
        client.products.create(
            name="X",
            tax_category="saas",
            price={**usage, "meters": [{"meter_id": tokens.id, "price_per_unit": "0"}]},
        )
    assert not Product.objects.exists()
    theirs = product_create(
        business=other_business,
        name="Theirs",
        price={"type": "one_time_price", "currency": "USD", "price": 1},
    )
    with pytest.raises(dodopayments.NotFoundError):
        client.products.retrieve(theirs.id)
    with pytest.raises(dodopayments.NotFoundError):
        client.products.archive(theirs.id)


def test_subscriptions_create_retrieve_update_list(client, business, customer, usage_product, tokens):
    method = payment_method_create(customer=customer, card_number="4242424242424242")
    created = client.subscriptions.create(
        billing={"country": "US", "city": "Austin"},
        customer={"customer_id": customer.id},
        product_id=usage_product.id,
        quantity=1,
        payment_method_id=method.id,
        metadata={"plan": "pro"},
    )
    assert isinstance(created, dodopayments.types.SubscriptionCreateResponse)
    assert created.payment_id == "" and created.recurring_pre_tax_amount == 0
    assert created.customer.customer_id == customer.id and created.metadata == {"plan": "pro"}

    subscription = client.subscriptions.retrieve(created.subscription_id)
    assert isinstance(subscription, dodopayments.types.Subscription)
    assert (subscription.status, subscription.product_id, subscription.quantity) == (
        "active",
        usage_product.id,
        1,
    )
    assert subscription.payment_method_id == method.id and subscription.has_payment_method is True
    assert subscription.billing.country == "US" and subscription.billing.city == "Austin"
    [meter] = subscription.meters
    assert (meter.meter_id, meter.price_per_unit, meter.free_threshold, meter.currency) == (
        tokens.id,
        "2",
        1000,
        "USD",
    )

    newcomer = client.subscriptions.create(
        billing={"country": "IN"},
        customer={"email": "new@example.com", "name": "New Person"},
        product_id=usage_product.id,
        quantity=1,
    )
    assert newcomer.customer.email == "new@example.com"
    assert Customer.objects.get(pk=newcomer.customer.customer_id).business_id == business.id

    updated = client.subscriptions.update(
        created.subscription_id, metadata={"plan": "max"}, cancel_at_next_billing_date=True
    )
    assert updated.metadata == {"plan": "max"} and updated.cancel_at_next_billing_date is True
    assert updated.status == "active"

    page = client.subscriptions.list(customer_id=customer.id, status="active", page_size=10, page_number=0)
    assert [s.subscription_id for s in page.items] == [created.subscription_id]
    assert isinstance(page.items[0], dodopayments.types.SubscriptionListResponse)
    assert page.items[0].discounts == []
    everyone = client.subscriptions.list(created_at_gte=datetime.now(UTC) - timedelta(hours=1))
    assert {s.subscription_id for s in everyone.items} == {created.subscription_id, newcomer.subscription_id}
    assert (
        client.subscriptions.list(cancel_at_next_billing_date=True).items[0].subscription_id
        == created.subscription_id
    )
    assert client.subscriptions.list(created_at_lte=datetime.now(UTC) - timedelta(hours=1)).items == []

    cancelled = client.subscriptions.update(
        newcomer.subscription_id, status="cancelled", cancel_reason="cancelled_by_merchant"
    )
    assert cancelled.status == "cancelled" and cancelled.cancelled_at is not None
    assert [s.subscription_id for s in client.subscriptions.list(status="cancelled").items] == [
        newcomer.subscription_id
    ]


def test_subscription_errors(client, business, customer, make_customer, usage_product):
    one_time = product_create(
        business=business, name="Pack", price={"type": "one_time_price", "currency": "USD", "price": 1}
    )
    someone_else = payment_method_create(customer=make_customer(), card_number="4242424242424242")
    base = {"billing": {"country": "US"}, "customer": {"customer_id": customer.id}, "quantity": 1}
    cases = [
        (
            {**base, "product_id": usage_product.id, "quantity": 2},
            dodopayments.BadRequestError,
            "INVALID_QUANTITY",
        ),
        ({**base, "product_id": one_time.id}, dodopayments.BadRequestError, "PRODUCT_NOT_RECURRING"),
        ({**base, "product_id": "pdt_nope"}, dodopayments.NotFoundError, "NOT_FOUND"),
        (
            {**base, "product_id": usage_product.id, "billing": {"country": "XX"}},
            dodopayments.UnprocessableEntityError,
            "INVALID_REQUEST_BODY",
        ),
        (
            {**base, "product_id": usage_product.id, "payment_method_id": someone_else.id},
            dodopayments.BadRequestError,
            "INVALID_REQUEST_PARAMETERS",
        ),
    ]
    for params, exception, code in cases:
        with pytest.raises(exception) as error:
            client.subscriptions.create(**params)
        assert error.value.body["code"] == code
    assert not Subscription.objects.exists()
    running = _subscribe(business, customer, usage_product)
    with pytest.raises(dodopayments.BadRequestError) as error:
        client.subscriptions.update(running.id, pause=True)
    assert error.value.body["field"] == "pause"
    with pytest.raises(dodopayments.NotFoundError):
        client.subscriptions.update("sub_nope", metadata={})
    with pytest.raises(dodopayments.NotFoundError):
        client.subscriptions.retrieve("sub_nope")


def _subscribe(business, customer, product, now=None):
    return subscription_create(
        business=business, customer=customer, product=product, billing={"country": "US"}, now=now
    )


def test_usage_history(client, business, customer, usage_product, tokens):
    subscription = _subscribe(business, customer, usage_product, now=T0)
    events = [
        EventIn(event_id=f"jan-{i}", customer_id=customer.id, event_name="llm", metadata={"tokens": tokens_})
        for i, tokens_ in enumerate([1500, 1000])
    ]
    events_insert(business=business, events=events, timestamps=[T0 + timedelta(days=3)] * 2, ingested_at=T0)
    subscription_bill_period(
        subscription_id=subscription.id, period_start=T0, now=datetime(2026, 2, 2, tzinfo=UTC)
    )
    events_insert(
        business=business,
        events=[
            EventIn(event_id="feb-0", customer_id=customer.id, event_name="llm", metadata={"tokens": 1100})
        ],
        timestamps=[datetime(2026, 2, 10, tzinfo=UTC)],
        ingested_at=T0,
    )

    page = client.subscriptions.retrieve_usage_history(subscription.id, page_size=10, page_number=0)
    assert [(p.start_date, p.end_date) for p in page.items] == [
        (datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)),
        (datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)),
    ]
    current, january = page.items
    [billed] = january.meters
    assert (billed.id, billed.name, billed.consumed_units, billed.free_threshold) == (
        tokens.id,
        "Tokens",
        "2500",
        1000,
    )
    assert (billed.chargeable_units, billed.price_per_unit, billed.currency, billed.total_price) == (
        "1500",
        "2",
        "USD",
        3000,
    )
    [live] = current.meters
    assert (live.consumed_units, live.chargeable_units, live.total_price) == ("1100", "100", 200)

    window = client.subscriptions.retrieve_usage_history(
        subscription.id,
        start_date=datetime(2026, 1, 5, tzinfo=UTC),
        end_date="2026-01-20T00:00:00Z",
        meter_id=tokens.id,
    )
    assert [p.start_date for p in window.items] == [datetime(2026, 1, 1, tzinfo=UTC)]
    every = list(client.subscriptions.retrieve_usage_history(subscription.id, page_size=1, page_number=1))
    assert [p.start_date.month for p in every] == [1]  # pages 1 then 2 (empty): the auto-pager stops
    with pytest.raises(dodopayments.NotFoundError):
        client.subscriptions.retrieve_usage_history("sub_nope")
    with pytest.raises(dodopayments.UnprocessableEntityError):
        client.subscriptions.retrieve_usage_history(subscription.id, page_size=101)


def test_customer_payment_methods(client, customer, other_business, make_customer):
    assert client.customers.retrieve_payment_methods(customer.id).items == []
    added = client.post(
        f"/customers/{customer.id}/payment-methods",
        body={"card_number": "5555555555554444"},
        cast_to=dict,
    )
    payment_method_create(customer=customer, card_number="4242424242424242")
    methods = client.customers.retrieve_payment_methods(customer.id)
    assert isinstance(methods, dodopayments.types.CustomerRetrievePaymentMethodsResponse)
    assert [m.card.last4_digits for m in methods.items] == ["4242", "4444"]
    assert methods.items[1].payment_method_id == added["payment_method_id"]
    assert methods.items[0].payment_method == "card" and methods.items[0].card.card_network == "VISA"
    with pytest.raises(dodopayments.NotFoundError):
        client.customers.retrieve_payment_methods(make_customer(business=other_business).id)
