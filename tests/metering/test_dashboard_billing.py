"""Dashboard billing pages: the Payments and Subscriptions lists, and a customer's Transactions
History (refund, invoice PDF, mark as paid, retry) and Active Subscriptions (usage, cancel) tabs.
Every action's bad inputs write nothing; another business's objects are 404s."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from dodo_billing.services import user_preference_set
from metering.ingestion import EventIn
from metering.models import Payment, PaymentStatus, Refund, Subscription, SubscriptionStatus
from metering.services import events_insert, meter_create
from metering.services.billing import subscription_create
from metering.tables.billing import (
    CustomerPaymentTable,
    CustomerSubscriptionTable,
    PaymentTable,
    SubscriptionTable,
)
from tests.dashboard import assert_queries_flat, assert_sorts_both_ways, csv_rows, query_count
from tests.metering.test_payments_api import (
    BILLING,
    DECLINED_CARD,
    billing_rows,
    card,
    one_time_product,
    purchase,
    recurring_product,
    usage_product,
    use_sandbox,
)
from wallets.models import Wallet

pytestmark = pytest.mark.django_db


def show_all_columns(user, table_class):
    """What "Edit columns" saves when every column is ticked."""
    names = [name for name in table_class.base_columns if name not in table_class.exempt_columns]
    user_preference_set(user=user, path=table_class.preference_path("columns"), value=names)


def tx_url(customer):
    return f"/customers/{customer.id}/transactions"


def subs_url(customer):
    return f"/customers/{customer.id}/subscriptions"


@pytest.fixture
def sandbox(business):
    return use_sandbox(business)


@pytest.fixture
def paid(sandbox, customer):
    """$10.00 paid by card through the sandbox."""
    payment = purchase(sandbox, customer, payment_method=card(customer))
    assert payment.status == PaymentStatus.SUCCEEDED
    return payment


def wallet_balance(customer, currency="USD"):
    return Wallet.objects.get(customer=customer, currency=currency).balance


def subscribe(business, customer, product, **kwargs):
    return subscription_create(
        business=business, customer=customer, product=product, billing=BILLING, **kwargs
    )


# --- Transactions History tab -------------------------------------------------------------------------


def test_transactions_tab_lists_the_customers_payments(staff_client, paid, customer, make_customer, sandbox):
    someone_else = make_customer(name="Someone Else")
    other = purchase(sandbox, someone_else, payment_method=card(someone_else))
    response = staff_client.get(tx_url(customer))
    assert response.status_code == 200
    html = response.content.decode()
    assert paid.id in html and other.id not in html
    assert "$10.00" in html and "Visa •••• 4242" in html and "One time" in html
    assert 'aria-current="page"' in html and "Transactions History" in html
    assert "Refund" in html and f"/payments/{paid.id}/invoice.pdf" in html


def test_transactions_tab_empty_state(staff_client, customer):
    response = staff_client.get(tx_url(customer))
    assert response.status_code == 200
    assert "No payments yet" in response.content.decode()


def test_transactions_tab_sorts_filters_exports_and_stays_flat(
    staff_client, staff_user, sandbox, customer, paid
):
    show_all_columns(staff_user, CustomerPaymentTable)
    assert_sorts_both_ways(staff_client, tx_url(customer), CustomerPaymentTable)
    failed = purchase(sandbox, customer, payment_method=card(customer, DECLINED_CARD))
    assert failed.status == PaymentStatus.FAILED
    html = staff_client.get(tx_url(customer), {"payment_status": "failed"}).content.decode()
    assert failed.id in html and paid.id not in html
    html = staff_client.get(tx_url(customer), {"status": "succeeded"}).content.decode()
    assert paid.id in html and failed.id not in html
    rows = csv_rows(staff_client.get(tx_url(customer), {"export": "csv", "payment_status": "succeeded"}))
    assert rows[0][0] == "Payment Id" and "Actions" not in rows[0]
    assert [row[0] for row in rows[1:]] == [paid.id]

    def more():
        for _ in range(5):
            purchase(sandbox, customer, payment_method=card(customer))
        refund_url = f"{tx_url(customer)}/{paid.id}/refund"
        staff_client.post(refund_url, {"amount": "1.00", "destination": "wallet"})

    assert_queries_flat(staff_client, tx_url(customer), more)


def test_refund_part_to_the_wallet_in_major_units(staff_client, customer, paid):
    before = wallet_balance(customer)
    response = staff_client.post(
        f"{tx_url(customer)}/{paid.id}/refund",
        {"amount": "2.50", "destination": "wallet", "reason": "Goodwill"},
    )
    assert response.status_code == 302 and response["Location"] == tx_url(customer)
    refund = Refund.objects.get(payment=paid)
    assert (refund.amount, refund.destination, refund.reason) == (250, "wallet", "Goodwill")
    assert wallet_balance(customer) == before + 250
    page = staff_client.get(response["Location"]).content.decode()
    assert "Refunded $2.50 of payment" in page and "to the wallet" in page


def test_full_refund_through_the_gateway(staff_client, customer, paid):
    response = staff_client.post(
        f"{tx_url(customer)}/{paid.id}/refund", {"amount": "10", "destination": "gateway"}
    )
    assert response.status_code == 302
    assert Payment.objects.get(pk=paid.pk).status == PaymentStatus.REFUNDED
    html = staff_client.get(tx_url(customer)).content.decode()
    assert "Refunded in full" in html


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"amount": "10.01", "destination": "gateway"}, "more than is left to refund: at most $10.00"),
        ({"amount": "12.345", "destination": "wallet"}, "at most 2 decimal places"),
        ({"amount": "0", "destination": "wallet"}, "more than zero"),
        ({"amount": "-5", "destination": "wallet"}, "more than zero"),
        ({"amount": "ten", "destination": "wallet"}, "Enter an amount such as 12.50"),
        ({"amount": "", "destination": "wallet"}, "This field is required"),
        ({"amount": "1", "destination": "moon"}, "Select a valid choice"),
        ({"amount": "NaN", "destination": "wallet"}, "Enter an amount"),
    ],
)
def test_bad_refund_shows_the_error_and_writes_nothing(staff_client, customer, paid, data, message):
    before = billing_rows()
    response = staff_client.post(f"{tx_url(customer)}/{paid.id}/refund", data)
    assert response.status_code == 400
    html = response.content.decode()
    assert message in html and "is-invalid" in html and "invalid-feedback" in html
    assert billing_rows() == before


def test_refund_to_the_card_above_what_the_card_paid_names_the_limit(staff_client, sandbox, customer):
    """A payment partly refunded to the wallet: the card can only take back the rest."""
    paid = purchase(sandbox, customer, payment_method=card(customer))
    staff_client.post(f"{tx_url(customer)}/{paid.id}/refund", {"amount": "4", "destination": "wallet"})
    before = billing_rows()
    response = staff_client.post(
        f"{tx_url(customer)}/{paid.id}/refund", {"amount": "7", "destination": "gateway"}
    )
    assert response.status_code == 400
    assert "more than is left to refund: at most $6.00" in response.content.decode()
    assert billing_rows() == before


def test_refund_page_without_javascript(staff_client, customer, paid):
    response = staff_client.get(f"{tx_url(customer)}/{paid.id}/refund")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Left to refund" in html and "$10.00" in html and 'name="amount"' in html


def test_a_pending_payment_is_not_refundable(staff_client, business, customer):
    pending = purchase(business, customer)  # the manual gateway leaves it pending
    before = billing_rows()
    response = staff_client.post(
        f"{tx_url(customer)}/{pending.id}/refund", {"amount": "1", "destination": "wallet"}
    )
    assert response.status_code == 400 and "only succeeded payments are refunded" in response.content.decode()
    assert billing_rows() == before


def test_mark_a_pending_manual_payment_paid(staff_client, business, customer):
    pending = purchase(business, customer)
    assert pending.status == PaymentStatus.PENDING
    response = staff_client.post(f"{tx_url(customer)}/{pending.id}/mark-paid", {"next": tx_url(customer)})
    assert response.status_code == 302 and response["Location"] == tx_url(customer)
    assert Payment.objects.get(pk=pending.pk).status == PaymentStatus.SUCCEEDED
    assert "marked as paid" in staff_client.get(tx_url(customer)).content.decode()


def test_mark_paid_twice_says_why_and_changes_nothing(staff_client, customer, paid):
    before = billing_rows()
    response = staff_client.post(f"{tx_url(customer)}/{paid.id}/mark-paid", follow=True)
    assert "cannot be marked paid" in response.content.decode()
    assert billing_rows() == before


def test_retry_a_failed_payment(staff_client, sandbox, customer):
    failed = purchase(sandbox, customer, payment_method=card(customer, DECLINED_CARD))
    response = staff_client.post(f"{tx_url(customer)}/{failed.id}/retry", follow=True)
    assert response.status_code == 200
    failed.refresh_from_db()
    assert failed.retry_attempt == 2 and failed.status == PaymentStatus.FAILED
    assert "declined again" in response.content.decode()


def test_retry_a_succeeded_payment_is_refused(staff_client, customer, paid):
    before = billing_rows()
    response = staff_client.post(f"{tx_url(customer)}/{paid.id}/retry", follow=True)
    assert "only failed payments are retried" in response.content.decode()
    assert billing_rows() == before


def test_actions_are_post_only(staff_client, customer, paid):
    assert staff_client.get(f"{tx_url(customer)}/{paid.id}/mark-paid").status_code == 405
    assert staff_client.get(f"{tx_url(customer)}/{paid.id}/retry").status_code == 405


def test_invoice_pdf(staff_client, paid):
    response = staff_client.get(f"/payments/{paid.id}/invoice.pdf")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")


def test_another_business_is_a_404(other_staff_user, staff_client, customer, paid, make_customer):
    client = Client()
    client.force_login(other_staff_user)
    stranger = make_customer(name="Stranger")
    before = billing_rows()
    assert client.get(tx_url(customer)).status_code == 404
    assert client.get(subs_url(customer)).status_code == 404
    assert client.get(f"/payments/{paid.id}/invoice.pdf").status_code == 404
    for action in ("refund", "mark-paid", "retry"):
        assert client.post(f"{tx_url(customer)}/{paid.id}/{action}", {"amount": "1"}).status_code == 404
    assert client.get("/payments/").content.decode().count(paid.id) == 0
    # the payment must belong to the customer in the URL, too
    assert staff_client.post(f"{tx_url(stranger)}/{paid.id}/refund", {"amount": "1"}).status_code == 404
    assert staff_client.get(f"{tx_url(stranger)}/{paid.id}/refund").status_code == 404
    assert staff_client.get("/customers/cus_unknown/transactions").status_code == 404
    assert billing_rows() == before


def test_anonymous_is_sent_to_sign_in(client, customer, paid):
    response = client.post(f"{tx_url(customer)}/{paid.id}/refund", {"amount": "1", "destination": "wallet"})
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert not Refund.objects.exists()


# --- Payments list page ---------------------------------------------------------------------------


def test_payments_page_sorts_filters_exports_and_stays_flat(
    staff_client, staff_user, sandbox, make_customer, customer, paid
):
    response = staff_client.get("/payments/")
    assert response.status_code == 200
    html = response.content.decode()
    assert paid.id in html and f'href="/customers/{customer.id}/"' in html
    show_all_columns(staff_user, PaymentTable)
    assert_sorts_both_ways(staff_client, "/payments/", PaymentTable)
    bob = make_customer(name="Bob")
    failed = purchase(sandbox, bob, payment_method=card(bob, DECLINED_CARD))
    eur = purchase(sandbox, bob, product=one_time_product(sandbox, currency="EUR"), payment_method=card(bob))

    def ids(**params):
        rows = csv_rows(staff_client.get("/payments/", {"export": "csv", **params}))
        return {row[0] for row in rows[1:]}

    assert ids() == {paid.id, failed.id, eur.id}
    assert ids(customer_id=bob.id) == {failed.id, eur.id}
    assert ids(status="failed") == {failed.id}
    assert ids(payment_status="succeeded") == {paid.id, eur.id}
    assert ids(currency="EUR") == {eur.id}
    assert ids(product_id=eur.product_id) == {eur.id}
    assert ids(subscription_id="sub_none") == set()
    future = (timezone.now() + timedelta(days=1)).isoformat()
    assert ids(created_at_gte=future) == set()
    assert ids(created_at_lte=future) == {paid.id, failed.id, eur.id}
    # a bad filter shows the error and no rows
    response = staff_client.get("/payments/", {"currency": "XXX"})
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert_queries_flat(
        staff_client,
        "/payments/",
        lambda: [
            purchase(sandbox, buyer, payment_method=card(buyer))
            for buyer in [make_customer() for _ in range(5)]
        ],
    )


def test_payments_page_is_in_the_sidebar(staff_client):
    html = staff_client.get("/payments/").content.decode()
    assert 'href="/payments/" aria-current="page"' in html
    assert "No payments match." in html


# --- Subscriptions: list page and the customer's tab ----------------------------------------------------


@pytest.fixture
def metered(business, customer):
    """A usage-based subscription with a sum and a count meter, and some usage this period."""
    tokens = meter_create(business=business, name="Tokens", event_name="llm", measurement_unit="tokens",
                          aggregation={"type": "sum", "key": "tokens"})  # fmt: skip
    calls = meter_create(business=business, name="Calls", event_name="llm", measurement_unit="calls",
                         aggregation={"type": "count"})  # fmt: skip
    product = usage_product(
        business,
        [{"meter_id": tokens.id, "price_per_unit": "2", "free_threshold": 1000},
         {"meter_id": calls.id, "price_per_unit": "1", "free_threshold": 0}],
    )  # fmt: skip
    subscription = subscribe(business, customer, product)
    now = timezone.now()
    events_insert(
        business=business,
        events=[EventIn(event_id=f"e{n}", customer_id=customer.id, event_name="llm", metadata={"tokens": 700})
                for n in range(3)],
        timestamps=[subscription.previous_billing_date + timedelta(seconds=1)] * 3,
        ingested_at=now,
    )  # fmt: skip
    return subscription


def test_subscriptions_tab_shows_usage_this_period_per_meter(staff_client, customer, metered):
    response = staff_client.get(subs_url(customer))
    assert response.status_code == 200
    html = response.content.decode()
    assert metered.id in html and "API Pro" in html
    assert 'Tokens</span>: <span class="font-monospace">2,100</span> tokens' in html
    assert 'Calls</span>: <span class="font-monospace">3</span> calls' in html
    assert "(1,000 free)" in html
    rows = csv_rows(staff_client.get(subs_url(customer), {"export": "csv"}))
    assert "Tokens: 2100 tokens; Calls: 3 calls" in rows[1]


def test_subscriptions_tab_queries_do_not_grow(staff_client, staff_user, business, customer, metered):
    show_all_columns(staff_user, CustomerSubscriptionTable)
    assert_sorts_both_ways(staff_client, subs_url(customer), CustomerSubscriptionTable)
    product = metered.product

    def more():
        for _ in range(4):
            subscribe(business, customer, product)

    assert_queries_flat(staff_client, subs_url(customer), more)


def test_subscriptions_tab_hides_ended_ones_unless_asked(staff_client, business, customer, metered):
    ended = subscribe(business, customer, recurring_product(business))
    Subscription.objects.filter(pk=ended.pk).update(status=SubscriptionStatus.CANCELLED)
    html = staff_client.get(subs_url(customer)).content.decode()
    assert metered.id in html and ended.id not in html
    html = staff_client.get(subs_url(customer), {"ended": "1"}).content.decode()
    assert metered.id in html and ended.id in html
    html = staff_client.get(subs_url(customer), {"status": "cancelled"}).content.decode()
    assert metered.id not in html and ended.id in html


def test_subscriptions_tab_empty_state(staff_client, customer):
    assert "No active subscriptions." in staff_client.get(subs_url(customer)).content.decode()


def test_cancel_at_period_end(staff_client, customer, metered):
    response = staff_client.post(
        f"{subs_url(customer)}/{metered.id}/cancel", {"when": "period_end"}, follow=True
    )
    metered.refresh_from_db()
    assert metered.cancel_at_next_billing_date and metered.status == SubscriptionStatus.ACTIVE
    html = response.content.decode()
    assert "will end on" in html and "cancels at period end" in html


def test_cancel_now_bills_the_partial_period(staff_client, customer, metered):
    response = staff_client.post(f"{subs_url(customer)}/{metered.id}/cancel", {"when": "now"}, follow=True)
    metered.refresh_from_db()
    assert metered.status == SubscriptionStatus.CANCELLED
    assert metered.invoices.count() == 1  # the partial period, billed at once
    assert "is cancelled" in response.content.decode()
    assert metered.id not in staff_client.get(subs_url(customer)).content.decode()


@pytest.mark.parametrize("data", [{}, {"when": "tomorrow"}])
def test_bad_cancel_writes_nothing(staff_client, customer, metered, data):
    before = (billing_rows(), list(Subscription.objects.values_list("status", "cancel_at_next_billing_date")))
    response = staff_client.post(f"{subs_url(customer)}/{metered.id}/cancel", data, follow=True)
    assert "Choose when to cancel" in response.content.decode()
    assert (
        billing_rows(),
        list(Subscription.objects.values_list("status", "cancel_at_next_billing_date")),
    ) == before


def test_cancel_an_ended_subscription_says_so(staff_client, customer, metered):
    staff_client.post(f"{subs_url(customer)}/{metered.id}/cancel", {"when": "now"})
    response = staff_client.post(f"{subs_url(customer)}/{metered.id}/cancel", {"when": "now"}, follow=True)
    assert "is already cancelled" in response.content.decode()


def test_cancel_another_business_subscription_is_a_404(
    other_staff_user, staff_client, customer, metered, make_customer
):
    client = Client()
    client.force_login(other_staff_user)
    assert client.post(f"{subs_url(customer)}/{metered.id}/cancel", {"when": "now"}).status_code == 404
    stranger = make_customer(name="Stranger")
    assert staff_client.post(f"{subs_url(stranger)}/{metered.id}/cancel", {"when": "now"}).status_code == 404
    metered.refresh_from_db()
    assert metered.status == SubscriptionStatus.ACTIVE and not metered.cancel_at_next_billing_date


def test_subscriptions_page_sorts_filters_exports_and_stays_flat(
    staff_client, staff_user, business, customer, make_customer, metered
):
    html = staff_client.get("/subscriptions/").content.decode()
    assert metered.id in html and f'href="/customers/{customer.id}/"' in html
    show_all_columns(staff_user, SubscriptionTable)
    assert_sorts_both_ways(staff_client, "/subscriptions/", SubscriptionTable)
    bob = make_customer(name="Bob")
    monthly = recurring_product(business)
    bobs = subscribe(business, bob, monthly)
    Subscription.objects.filter(pk=bobs.pk).update(cancel_at_next_billing_date=True)

    def ids(**params):
        rows = csv_rows(staff_client.get("/subscriptions/", {"export": "csv", **params}))
        return {row[0] for row in rows[1:]}

    assert ids() == {metered.id, bobs.id}
    assert ids(customer_id=bob.id) == {bobs.id}
    assert ids(product_id=monthly.id) == {bobs.id}
    assert ids(status="active") == {metered.id, bobs.id}
    assert ids(status="cancelled") == set()
    assert ids(cancel_at_next_billing_date="true") == {bobs.id}
    future = (timezone.now() + timedelta(days=1)).isoformat()
    assert ids(created_at_gte=future) == set()
    assert ids(created_at_lte=future) == {metered.id, bobs.id}
    assert_queries_flat(
        staff_client,
        "/subscriptions/",
        lambda: [subscribe(business, make_customer(), monthly) for _ in range(5)],
    )
    count = query_count(staff_client, "/subscriptions/")
    assert count < 20
