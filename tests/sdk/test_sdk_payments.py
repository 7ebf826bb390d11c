"""The official dodopayments SDK, unchanged and in strict mode, on payments, refunds and invoices."""

from datetime import timedelta

import dodopayments
import pytest
from django.utils import timezone
from dodopayments.types import Payment as SDKPayment

from customers.models import Customer
from metering.models import Payment, PaymentStatus, Refund
from metering.services.billing import subscription_update
from tests.metering.test_payments_api import (
    BILLING,
    DECLINED_CARD,
    billing_rows,
    card,
    one_time_product,
    pdf_text,
    subscription_payment,
    use_sandbox,
)
from wallets.models import LedgerEntry, Wallet

pytestmark = [
    pytest.mark.django_db(transaction=True),
    # SDK 1.123.0 marks payments.create deprecated (Dodo steers new integrations to checkout sessions).
    pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning"),
]


@pytest.fixture
def client(sdk_factory, api_key):
    return sdk_factory(api_key)


@pytest.fixture
def sandbox(business):
    return use_sandbox(business)


def buy(client, customer, product, **kwargs):
    return client.payments.create(
        billing=BILLING,
        customer={"customer_id": customer.id},
        product_cart=[{"product_id": product.id, "quantity": 1}],
        **kwargs,
    )


def test_payments_create_retrieve_list(client, sandbox, customer, make_customer):
    product = one_time_product(sandbox, price=2500, name="$25 of credits", wallet_top_up=True)
    method = card(customer)
    created = buy(client, customer, product, payment_method_id=method.id, metadata={"order": "A-1", "n": 2})
    assert created.payment_id.startswith("pay_") and created.client_secret
    assert (created.total_amount, created.metadata, created.customer.customer_id) == (
        2500,
        {"order": "A-1", "n": 2},
        customer.id,
    )
    assert created.product_cart[0].product_id == product.id and created.product_cart[0].quantity == 1
    assert Wallet.objects.get(customer=customer, currency="USD").balance == 2500  # the top-up credited once

    payment = client.payments.retrieve(created.payment_id)
    assert (payment.status, payment.total_amount, payment.currency, payment.payment_provider) == (
        "succeeded",
        2500,
        "USD",
        "dodo",
    )
    assert (payment.payment_method_id, payment.card_last_four, payment.billing.country) == (
        method.id,
        "4242",
        "US",
    )
    assert payment.product_cart[0].product_id == product.id and payment.subscription_ids == []
    assert payment.invoice_id == Payment.objects.get().invoice_id

    # A new customer, created by the purchase; the manual gateway leaves it pending.
    sandbox.payment_gateway = "manual"
    sandbox.save(update_fields=["payment_gateway"])
    fresh = client.payments.create(
        billing={"country": "DE", "city": "Berlin"},
        customer={"email": "fresh@example.com", "name": "Fresh Buyer"},
        product_cart=[{"product_id": product.id, "quantity": 1}],
    )
    assert fresh.customer.email == "fresh@example.com"
    assert Customer.objects.get(email="fresh@example.com").id == fresh.customer.customer_id
    assert client.payments.retrieve(fresh.payment_id).status == "requires_merchant_action"

    page = client.payments.list(page_size=10, page_number=0)
    assert [p.payment_id for p in page.items] == [fresh.payment_id, created.payment_id]
    assert page.items[0].has_license_key is False
    assert [p.payment_id for p in client.payments.list(status="succeeded").items] == [created.payment_id]
    assert [p.payment_id for p in client.payments.list(customer_id=customer.id).items] == [created.payment_id]
    assert [p.payment_id for p in client.payments.list(status="requires_merchant_action").items] == [
        fresh.payment_id
    ]
    since = timezone.now() - timedelta(minutes=5)
    assert len(client.payments.list(created_at_gte=since, created_at_lte=timezone.now()).items) == 2
    assert client.payments.list(created_at_lte=since).items == []
    assert [
        p.payment_id for p in client.payments.list(product_id=product.id, currency="USD", brand_id=sandbox.id)
    ] == [
        fresh.payment_id,
        created.payment_id,
    ]

    # The mark-paid extension, through the SDK's generic post.
    marked = client.post(f"/payments/{fresh.payment_id}/mark-paid", cast_to=SDKPayment)
    assert marked.status == "succeeded"
    assert Wallet.objects.get(customer_id=fresh.customer.customer_id, currency="USD").balance == 2500


def test_payments_line_items(client, sandbox, customer):
    payment = subscription_payment(sandbox, customer, wallet=1200)
    items = client.payments.retrieve_line_items(payment.id)
    assert (items.currency, items.partial_refund_allowed) == ("USD", True)
    assert [(i.amount, i.refundable_amount, i.tax) for i in items.items] == [(500, 500, 0), (3000, 3000, 0)]
    assert items.items[1].name == "Tokens (tokens)" and "1500 chargeable" in items.items[1].description
    assert client.payments.retrieve_line_items(payment.id, currency="USD").items[0].items_id == (
        payment.subscription.product_id
    )
    with pytest.raises(dodopayments.BadRequestError):
        client.payments.retrieve_line_items(payment.id, currency="EUR")
    subscription = client.payments.retrieve(payment.id)
    assert subscription.subscription_id == payment.subscription_id and subscription.includes_usage is True
    assert subscription.service_periods[0].subscription_id == payment.subscription_id


def test_payments_retry_after_changing_the_card(client, sandbox, customer):
    payment = subscription_payment(sandbox, customer, card_number=DECLINED_CARD)
    state = client.payments.retrieve_retry_state(payment.id)
    assert (state.can_retry, state.sends_used, state.reason, state.automatic_retry_total) == (
        True,
        0,
        None,
        4,
    )
    assert state.next_automatic_retry_at is not None and state.automatic_retry_number == 1
    subscription_update(subscription=payment.subscription, payment_method=card(customer))
    retried = client.payments.retry(payment.id)
    assert (retried.payment_id, retried.invoice_id, retried.is_manual_retry) == (
        payment.id,
        payment.invoice_id,
        True,
    )
    assert (retried.status, retried.retry_attempt, retried.sends_used) == ("succeeded", 2, 1)
    assert client.payments.retrieve(payment.id).status == "succeeded"
    after = client.payments.retrieve_retry_state(payment.id)
    assert (after.can_retry, after.reason) == (False, "PAYMENT_NOT_RETRYABLE")
    with pytest.raises(dodopayments.BadRequestError) as refused:
        client.payments.retry(payment.id)
    assert refused.value.body["code"] == "PAYMENT_NOT_RETRYABLE"


def test_payments_errors(client, sdk_factory, sandbox, customer, other_business):
    product = one_time_product(sandbox)
    before = billing_rows()
    with pytest.raises(dodopayments.BadRequestError) as quantity:
        client.payments.create(
            billing=BILLING,
            customer={"customer_id": customer.id},
            product_cart=[{"product_id": product.id, "quantity": 2}],
        )
    assert quantity.value.body["code"] == "INVALID_QUANTITY"
    with pytest.raises(dodopayments.UnprocessableEntityError):
        client.payments.create(
            billing={"country": "Narnia"},
            customer={"customer_id": customer.id},
            product_cart=[{"product_id": product.id, "quantity": 1}],
        )
    with pytest.raises(dodopayments.NotFoundError):
        buy(client, customer, one_time_product(other_business))
    assert billing_rows() == before
    with pytest.raises(dodopayments.NotFoundError):
        client.payments.retrieve("pay_doesnotexist")
    with pytest.raises(dodopayments.UnprocessableEntityError):
        client.payments.list(page_size=101)


def test_refunds_create_retrieve_list(client, sandbox, customer, make_customer):
    product = one_time_product(sandbox, price=1000)
    payment = buy(client, customer, product, payment_method_id=card(customer).id)
    first = client.refunds.create(
        payment_id=payment.payment_id, reason="Too many credits", metadata={"t": "1"}
    )
    assert (first.amount, first.status, first.is_partial, first.currency) == (1000, "succeeded", False, "USD")
    assert (first.payment_id, first.reason, first.metadata) == (
        payment.payment_id,
        "Too many credits",
        {"t": "1"},
    )
    assert first.customer.customer_id == customer.id
    assert client.payments.retrieve(payment.payment_id).refund_status == "full"
    with pytest.raises(dodopayments.BadRequestError) as nothing_left:
        client.refunds.create(payment_id=payment.payment_id)
    assert nothing_left.value.body["code"] == "REFUND_EXCEEDS_PAYMENT"

    other = make_customer()
    second_payment = buy(client, other, product, payment_method_id=card(other).id)
    by_item = client.refunds.create(
        payment_id=second_payment.payment_id, items=[{"item_id": product.id, "amount": 250}]
    )
    assert (by_item.amount, by_item.is_partial) == (250, True)
    to_wallet = client.refunds.create(
        payment_id=second_payment.payment_id, extra_body={"amount": 300, "destination": "wallet"}
    )
    assert (to_wallet.amount, to_wallet.status) == (300, "succeeded")
    credit = LedgerEntry.objects.get(customer=other)
    assert (credit.event_type, credit.reference_object_id, credit.amount) == (
        "refund",
        to_wallet.refund_id,
        300,
    )
    assert client.payments.retrieve(second_payment.payment_id).refund_status == "partial"
    assert client.payments.retrieve_line_items(second_payment.payment_id).items[0].refundable_amount == 450

    fetched = client.refunds.retrieve(to_wallet.refund_id)
    assert (fetched.refund_id, fetched.amount, fetched.customer.customer_id) == (
        to_wallet.refund_id,
        300,
        other.id,
    )
    assert [r.refund_id for r in client.refunds.list()] == [
        to_wallet.refund_id,
        by_item.refund_id,
        first.refund_id,
    ]
    assert [r.refund_id for r in client.refunds.list(customer_id=customer.id).items] == [first.refund_id]
    assert client.refunds.list(status="pending").items == []
    assert (
        len(
            client.refunds.list(
                status="succeeded", created_at_gte=timezone.now() - timedelta(minutes=5)
            ).items
        )
        == 3
    )
    assert [
        r.refund_id for r in client.refunds.list(extra_query={"payment_id": second_payment.payment_id})
    ] == [
        to_wallet.refund_id,
        by_item.refund_id,
    ]
    assert Refund.objects.count() == 3


def test_refunds_errors(client, other_business, sandbox, customer, sdk_factory):
    failed = subscription_payment(sandbox, customer, card_number=DECLINED_CARD)
    assert failed.status == PaymentStatus.FAILED
    before = billing_rows()
    with pytest.raises(dodopayments.BadRequestError) as not_refundable:
        client.refunds.create(payment_id=failed.id)
    assert not_refundable.value.body["code"] == "PAYMENT_NOT_REFUNDABLE"
    with pytest.raises(dodopayments.NotFoundError):
        client.refunds.create(payment_id="pay_nope")
    with pytest.raises(dodopayments.UnprocessableEntityError):
        client.refunds.create(payment_id=failed.id, extra_body={"amount": 0})
    with pytest.raises(dodopayments.UnprocessableEntityError):
        client.refunds.create(payment_id=failed.id, extra_body={"destination": "bank"})
    assert billing_rows() == before
    with pytest.raises(dodopayments.NotFoundError):
        client.refunds.retrieve("ref_nope")


def test_invoices_payments_retrieve(client, sandbox, customer, business):
    payment = subscription_payment(sandbox, customer, wallet=1200)
    response = client.invoices.payments.retrieve(payment.id)
    assert response.headers["content-type"] == "application/pdf"
    content = response.read()
    assert content.startswith(b"%PDF-")
    text = pdf_text(content)
    assert payment.invoice_id in text and business.name in text and "$23.00" in text
    assert client.invoices.payments.retrieve(payment.id, token="ignored").read() == content
    with pytest.raises(dodopayments.NotFoundError) as missing:
        client.invoices.payments.retrieve("pay_nope")
    assert missing.value.body["code"] == "NOT_FOUND"
