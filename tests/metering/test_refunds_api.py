"""The refunds API: the refund rules (full, partial, several, to the wallet, through the gateway),
every refused refund writing nothing, retrieve and list."""

from datetime import timedelta

import pytest
from django.utils import timezone

from dodo_billing.money import MAX_AMOUNT
from metering.models import Payment, PaymentStatus, Refund
from metering.services.payments import refund_create
from tests.conftest import assert_error, post_json
from tests.metering.test_payments_api import (
    DECLINED_CARD,
    billing_rows,
    card,
    one_time_product,
    purchase,
    subscription_payment,
    use_sandbox,
)
from wallets.models import LedgerEntry, Wallet
from wallets.services import wallet_debit

pytestmark = pytest.mark.django_db

REFUND_FIELDS = {
    "refund_id",
    "payment_id",
    "business_id",
    "brand_id",
    "customer",
    "amount",
    "currency",
    "destination",
    "status",
    "is_partial",
    "reason",
    "metadata",
    "created_at",
}


@pytest.fixture
def sandbox(business):
    return use_sandbox(business)


@pytest.fixture
def paid(sandbox, customer):
    """A $10.00 one-time purchase paid by card through the sandbox."""
    payment = purchase(sandbox, customer, payment_method=card(customer))
    assert payment.status == PaymentStatus.SUCCEEDED
    return payment


def refund(api, payment=None, **fields):
    body = {"payment_id": payment.id, **fields} if payment is not None else fields
    return post_json(api, "/api/refunds", body)


def wallet_balance(customer, currency="USD"):
    return Wallet.objects.get(customer=customer, currency=currency).balance


def payment_of(payment):
    return Payment.objects.get(pk=payment.pk)


# --- the rules ----------------------------------------------------------------------------------------


def test_full_refund_through_the_gateway(api, business, customer, paid):
    response = refund(api, paid, reason="Customer asked", metadata={"ticket": 42})
    assert response.status_code == 200, response.content
    data = response.json()
    assert set(data) == REFUND_FIELDS
    assert data["refund_id"].startswith("ref_")
    assert (data["payment_id"], data["business_id"], data["brand_id"]) == (paid.id, business.id, business.id)
    assert (data["amount"], data["currency"], data["destination"], data["status"]) == (
        1000,
        "USD",
        "gateway",
        "succeeded",
    )
    assert (data["is_partial"], data["reason"], data["metadata"]) == (False, "Customer asked", {"ticket": 42})
    assert data["customer"]["customer_id"] == customer.id
    assert payment_of(paid).status == PaymentStatus.REFUNDED
    payment = api.get(f"/api/payments/{paid.id}").json()
    assert (payment["status"], payment["payment_status"], payment["refund_status"]) == (
        "succeeded",
        "refunded",
        "full",
    )
    assert [r["refund_id"] for r in payment["refunds"]] == [data["refund_id"]]
    assert not LedgerEntry.objects.exists()  # through the gateway: the wallet is untouched
    assert api.get(f"/api/refunds/{data['refund_id']}").json() == data


def test_partial_refunds_up_to_exactly_the_paid_amount(api, paid):
    amounts = [100, 250, 649, 1]
    for index, amount in enumerate(amounts):
        data = refund(api, paid, amount=amount).json()
        assert (data["amount"], data["is_partial"], data["status"]) == (amount, True, "succeeded")
        refund_status = api.get(f"/api/payments/{paid.id}").json()["refund_status"]
        assert refund_status == ("full" if index == len(amounts) - 1 else "partial")
    assert sum(Refund.objects.values_list("amount", flat=True)) == 1000
    assert payment_of(paid).status == PaymentStatus.REFUNDED
    before = billing_rows()
    error = assert_error(refund(api, paid, amount=1), 400, "REFUND_EXCEEDS_PAYMENT")
    assert error["refundable"] == 0
    assert_error(refund(api, paid), 400, "REFUND_EXCEEDS_PAYMENT")  # nothing left: "everything" is nothing
    assert billing_rows() == before


def test_no_amount_refunds_what_is_left(api, paid):
    refund(api, paid, amount=300)
    data = refund(api, paid).json()
    assert (data["amount"], data["is_partial"]) == (700, True)
    assert payment_of(paid).status == PaymentStatus.REFUNDED


def test_two_refunds_that_together_exceed_the_payment(api, paid):
    assert refund(api, paid, amount=600).status_code == 200
    before = billing_rows()
    error = assert_error(refund(api, paid, amount=500), 400, "REFUND_EXCEEDS_PAYMENT")
    assert error["refundable"] == 400 and "400 of 1000" in error["message"]
    assert billing_rows() == before
    assert payment_of(paid).status == PaymentStatus.SUCCEEDED


def test_refund_to_the_wallet_is_a_ledger_credit(api, customer, paid):
    data = refund(api, paid, amount=400, destination="wallet").json()
    assert (data["destination"], data["status"], data["amount"]) == ("wallet", "succeeded", 400)
    assert wallet_balance(customer) == 400
    entry = LedgerEntry.objects.get()
    assert (entry.is_credit, entry.amount, entry.event_type, entry.reference_object_id, entry.currency) == (
        True,
        400,
        "refund",
        data["refund_id"],
        "USD",
    )
    # The rest to the wallet too: everything left by default.
    rest = refund(api, paid, destination="wallet").json()
    assert rest["amount"] == 600 and wallet_balance(customer) == 1000
    assert payment_of(paid).status == PaymentStatus.REFUNDED


def test_gateway_refund_is_limited_to_the_card_charged_part(api, sandbox, customer):
    """$35 period paid $12 from the wallet and $23 by card: the card can get back at most $23."""
    payment = subscription_payment(sandbox, customer, wallet=1200)
    assert (payment.total_amount, payment.wallet_amount, payment.gateway_amount) == (3500, 1200, 2300)
    before = billing_rows()
    error = assert_error(refund(api, payment, amount=2400), 400, "REFUND_EXCEEDS_PAYMENT")
    assert error["refundable_to_gateway"] == 2300
    assert billing_rows() == before
    # No amount, through the gateway: the card part only.
    data = refund(api, payment).json()
    assert (data["amount"], data["destination"], data["is_partial"]) == (2300, "gateway", True)
    assert_error(refund(api, payment, amount=1), 400, "REFUND_EXCEEDS_PAYMENT")
    # The wallet part goes back to the wallet.
    assert wallet_balance(customer) == 0
    data = refund(api, payment, destination="wallet").json()
    assert data["amount"] == 1200 and wallet_balance(customer) == 1200
    assert payment_of(payment).status == PaymentStatus.REFUNDED


def test_gateway_refund_of_what_the_wallet_paid_says_so(api, sandbox, customer):
    """After the card part is refunded, a gateway refund without an amount names the wallet part
    instead of claiming nothing is left."""
    payment = subscription_payment(sandbox, customer, wallet=1200)
    assert refund(api, payment).json()["amount"] == 2300
    before = billing_rows()
    error = assert_error(refund(api, payment), 400, "REFUND_EXCEEDS_PAYMENT")
    assert "refund it to the wallet" in error["message"] and "1200" in error["message"]
    assert (error["refundable"], error["refundable_to_gateway"]) == (1200, 0)
    assert billing_rows() == before


def test_a_wallet_refund_may_exceed_the_card_part(api, sandbox, customer):
    payment = subscription_payment(sandbox, customer, wallet=1200)
    data = refund(api, payment, amount=3000, destination="wallet").json()
    assert data["status"] == "succeeded" and wallet_balance(customer) == 3000


def test_refund_of_a_wallet_top_up_takes_the_credits_back(api, sandbox, customer):
    top_up = one_time_product(sandbox, price=2000, wallet_top_up=True)
    payment = purchase(sandbox, customer, top_up, payment_method=card(customer))
    assert wallet_balance(customer) == 2000
    before = billing_rows()
    assert_error(refund(api, payment, destination="wallet"), 400, "PAYMENT_NOT_REFUNDABLE")
    assert billing_rows() == before
    data = refund(api, payment, amount=500).json()
    assert data["status"] == "succeeded" and wallet_balance(customer) == 1500
    debit = LedgerEntry.objects.get(is_credit=False)
    assert (debit.amount, debit.event_type, debit.reference_object_id) == (500, "refund", data["refund_id"])
    # Spent credits cannot be refunded to the card.
    wallet_debit(customer=customer, currency="USD", amount=1400, reason="usage")
    before = billing_rows()
    assert_error(refund(api, payment, amount=200), 400, "INSUFFICIENT_WALLET_FUNDS")
    assert billing_rows() == before


def test_refund_on_the_manual_gateway_stays_pending(api, business, customer):
    from metering.services.payments import payment_mark_paid

    payment = payment_mark_paid(payment=purchase(business, customer))
    data = refund(api, payment, amount=1000).json()
    assert (data["status"], data["destination"]) == ("pending", "gateway")
    assert payment_of(payment).status == PaymentStatus.SUCCEEDED  # not refunded until the money moved
    assert api.get(f"/api/payments/{payment.id}").json()["refund_status"] is None
    assert_error(refund(api, payment, amount=1), 400, "REFUND_EXCEEDS_PAYMENT")  # pending counts


def test_refunds_by_line_item(api, paid):
    product_id = paid.product_id
    data = refund(api, paid, items=[{"item_id": product_id, "amount": 300, "tax_inclusive": True}]).json()
    assert (data["amount"], data["is_partial"]) == (300, True)
    data = refund(api, paid, items=[{"item_id": product_id}]).json()  # the rest of the item
    assert data["amount"] == 700
    assert payment_of(paid).status == PaymentStatus.REFUNDED


def test_refund_in_the_payment_currency(api, paid):
    assert refund(api, paid, amount=100, currency="USD").status_code == 200
    before = billing_rows()
    assert_error(refund(api, paid, amount=100, currency="EUR"), 400, "UNSUPPORTED_CURRENCY")
    assert billing_rows() == before


# --- refused refunds write nothing ----------------------------------------------------------------------


@pytest.fixture
def refused(api, paid):
    def check(fields, status, code, payment=paid):
        before = billing_rows()
        error = assert_error(refund(api, payment, **fields), status, code)
        assert billing_rows() == before
        return error

    return check


@pytest.mark.parametrize(
    "amount", [0, -1, -1000, 1.5, 100.0, "100", True, [100], {"v": 1}, MAX_AMOUNT + 1, 2**64]
)
def test_bad_amount_is_422(refused, amount):
    error = refused({"amount": amount}, 422, "INVALID_REQUEST_BODY")
    assert "amount" in error["errors"]


def test_amount_above_the_payment_but_in_range_is_400(refused):
    refused({"amount": 1001}, 400, "REFUND_EXCEEDS_PAYMENT")
    refused({"amount": MAX_AMOUNT}, 400, "REFUND_EXCEEDS_PAYMENT")


def test_null_amount_means_everything(api, paid):
    assert refund(api, paid, amount=None).json()["amount"] == 1000


@pytest.mark.parametrize("destination", ["card", "WALLET", "", None, 1, "bank"])
def test_unknown_destination_is_422(refused, destination):
    refused({"destination": destination}, 422, "INVALID_REQUEST_BODY")


@pytest.mark.parametrize(
    ("fields", "status", "code"),
    [
        ({"reason": "x" * 3001}, 422, "INVALID_REQUEST_BODY"),
        ({"reason": 5}, 422, "INVALID_REQUEST_BODY"),
        ({"metadata": {"a": [1]}}, 422, "INVALID_REQUEST_BODY"),
        ({"metadata": {f"k{i}": 1 for i in range(51)}}, 422, "MAXIMUM_KEYS_REACHED"),
        ({"currency": "usd"}, 422, "INVALID_REQUEST_BODY"),
        ({"items": []}, 422, "INVALID_REQUEST_BODY"),
        ({"items": [{"amount": 5}]}, 422, "INVALID_REQUEST_BODY"),
        ({"items": [{"item_id": "pdt_nope"}]}, 400, "INVALID_REQUEST_PARAMETERS"),
        ({"items": [{"item_id": "x", "amount": 0}]}, 422, "INVALID_REQUEST_BODY"),
        ({"items": [{"item_id": "x", "amount": "5"}]}, 422, "INVALID_REQUEST_BODY"),
        ({"items": "all"}, 422, "INVALID_REQUEST_BODY"),
    ],
)
def test_bad_fields_are_refused(refused, fields, status, code):
    refused(fields, status, code)


def test_bad_items_of_the_payment(refused, paid):
    item = paid.product_id
    refused({"items": [{"item_id": item, "amount": 1001}]}, 400, "REFUND_EXCEEDS_PAYMENT")
    refused({"items": [{"item_id": item}, {"item_id": item}]}, 422, "INVALID_REQUEST_BODY")
    refused({"items": [{"item_id": item}], "amount": 100}, 422, "INVALID_REQUEST_BODY")


def test_unknown_or_foreign_payment_is_404(api, other_api, paid):
    before = billing_rows()
    assert_error(post_json(api, "/api/refunds", {"payment_id": "pay_nope"}), 404, "NOT_FOUND")
    assert_error(post_json(other_api, "/api/refunds", {"payment_id": paid.id}), 404, "NOT_FOUND")
    for body in ({}, {"payment_id": None}, {"payment_id": 5}, []):
        assert_error(post_json(api, "/api/refunds", body), 422, "INVALID_REQUEST_BODY")
    assert_error(
        api.generic("POST", "/api/refunds", b"{", content_type="application/json"),
        422,
        "INVALID_REQUEST_BODY",
    )
    assert billing_rows() == before


def test_pending_and_failed_payments_are_not_refundable(api, business, sandbox, customer, refused):
    failed = purchase(sandbox, customer, payment_method=card(customer, DECLINED_CARD))
    assert failed.status == PaymentStatus.FAILED
    refused({}, 400, "PAYMENT_NOT_REFUNDABLE", payment=failed)
    refused({"amount": 10, "destination": "wallet"}, 400, "PAYMENT_NOT_REFUNDABLE", payment=failed)
    business.payment_gateway = "manual"
    business.save(update_fields=["payment_gateway"])
    pending = purchase(business, customer)
    assert pending.status == PaymentStatus.PENDING
    refused({"amount": 10}, 400, "PAYMENT_NOT_REFUNDABLE", payment=pending)


def test_a_read_only_key_cannot_refund(paid, business):
    from rest_framework.test import APIClient

    from dodo_billing.services import api_key_create

    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {api_key_create(business=business, name='ro', can_write=False)[1]}"
    )
    before = billing_rows()
    assert_error(refund(client, paid), 403, "FORBIDDEN")
    assert billing_rows() == before


# --- retrieve and list ----------------------------------------------------------------------------------


def test_retrieve_unknown_or_foreign_refund_is_404(api, other_api, paid):
    created = refund_create(payment=paid, amount=100)
    assert api.get(f"/api/refunds/{created.id}").status_code == 200
    assert_error(other_api.get(f"/api/refunds/{created.id}"), 404, "NOT_FOUND")
    assert_error(api.get("/api/refunds/ref_nope"), 404, "NOT_FOUND")


def test_list_newest_first_with_filters(api, other_api, sandbox, customer, make_customer):
    other = make_customer()
    first_payment = purchase(sandbox, customer, payment_method=card(customer))
    second_payment = purchase(sandbox, other, payment_method=card(other))
    subscription = subscription_payment(sandbox, customer)
    now = timezone.now()
    a = refund_create(payment=first_payment, amount=100)
    b = refund_create(payment=second_payment, amount=200, destination="wallet")
    c = refund_create(payment=subscription, amount=300)
    for index, created in enumerate([a, b, c]):
        Refund.objects.filter(pk=created.pk).update(created_at=now - timedelta(hours=3 - index))

    def ids(**params):
        response = api.get("/api/refunds", params)
        assert response.status_code == 200, response.content
        assert set(response.json()) == {"items"}
        return [item["refund_id"] for item in response.json()["items"]]

    assert ids() == [c.id, b.id, a.id]
    assert ids(payment_id=first_payment.id) == [a.id]
    assert ids(customer_id=customer.id) == [c.id, a.id]
    assert ids(subscription_id=subscription.subscription_id) == [c.id]
    assert ids(status="succeeded") == [c.id, b.id, a.id]
    assert ids(status="pending") == [] and ids(status="review") == []
    assert ids(destination="wallet") == [b.id]
    assert ids(created_at_gte=(now - timedelta(hours=2, minutes=1)).isoformat()) == [c.id, b.id]
    assert ids(created_at_lte=(now - timedelta(hours=2)).isoformat()) == [b.id, a.id]
    assert ids(page_size=2) == [c.id, b.id] and ids(page_size=2, page_number=1) == [a.id]
    assert ids(page_number=3) == []
    assert other_api.get("/api/refunds").json() == {"items": []}
    item = api.get("/api/refunds", {"page_size": 1}).json()["items"][0]
    assert set(item) == REFUND_FIELDS


@pytest.mark.parametrize(
    "params",
    [
        {"page_size": 0},
        {"page_size": 101},
        {"page_number": -1},
        {"page_number": "x"},
        {"status": "done"},
        {"destination": "card"},
        {"created_at_gte": "not a date"},
    ],
)
def test_bad_list_params_are_422(api, params):
    assert_error(api.get("/api/refunds", params), 422, "INVALID_QUERY_PARAMS")


# --- problems found in the models (strict xfail: they pass once fixed) ----------------------------------


def test_a_reason_of_3000_characters_is_accepted(api, paid):
    response = refund(api, paid, reason="r" * 3000)
    assert response.status_code == 200, response.content


def test_a_pending_manual_refund_can_be_settled(business, customer):
    from metering.services import payments as payment_services

    settle = [
        name for name in dir(payment_services) if name.startswith("refund_") and name != "refund_create"
    ]
    assert settle, "no refund_* service besides refund_create"
