"""A customer's money in a real browser: add and deduct credits and watch the balance and ledger,
refund a payment from the Transactions History tab, cancel a subscription, the Payments page."""

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from metering.ingestion import EventIn
from metering.services import events_insert, meter_create
from metering.services.billing import subscription_create
from tests.e2e.conftest import screenshot
from tests.metering.test_payments_api import BILLING, card, purchase, usage_product, use_sandbox

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def shop(business, make_customer):
    """A sandbox business whose customer bought a $10.00 credits pack and has a usage subscription."""
    use_sandbox(business)
    customer = make_customer(name="Ada Lovelace", email="ada@example.com")
    payment = purchase(business, customer, payment_method=card(customer))
    tokens = meter_create(business=business, name="Tokens", event_name="llm", measurement_unit="tokens",
                          aggregation={"type": "sum", "key": "tokens"})  # fmt: skip
    product = usage_product(
        business, [{"meter_id": tokens.id, "price_per_unit": "2", "free_threshold": 1000}]
    )
    subscription = subscription_create(business=business, customer=customer, product=product, billing=BILLING)
    events_insert(
        business=business,
        events=[EventIn(event_id="e1", customer_id=customer.id, event_name="llm", metadata={"tokens": 1234})],
        timestamps=[subscription.previous_billing_date + timedelta(seconds=1)],
        ingested_at=subscription.previous_billing_date,
    )
    return customer, payment, subscription


def test_credits_refund_and_cancel(page, shop):
    customer, payment, _subscription = shop
    page.on("dialog", lambda dialog: dialog.accept())

    # Wallet Ledger: add, then deduct credits; the balance and the ledger follow.
    page.goto(f"/customers/{customer.id}/wallet")
    expect(page.get_by_role("link", name="Wallet Ledger")).to_have_attribute("aria-current", "page")
    usd = page.get_by_test_id("balance-USD")
    expect(usd).to_contain_text("$0.00")
    form = page.get_by_test_id("adjust-form")
    form.get_by_label("Amount").fill("25.00")
    form.get_by_label("Reason").fill("Welcome credits")
    form.get_by_role("button", name="Save adjustment").click()
    expect(page.get_by_role("alert")).to_contain_text("Added $25.00. The USD balance is now $25.00.")
    expect(usd).to_contain_text("$25.00")
    form.get_by_label("Deduct credits").check()
    form.get_by_label("Amount").fill("5.50")
    form.get_by_label("Reason").fill("Manual correction")
    form.get_by_role("button", name="Save adjustment").click()
    expect(page.get_by_role("alert")).to_contain_text("Deducted $5.50")
    expect(usd).to_contain_text("$19.50")
    ledger = page.locator("#table-block")
    expect(ledger).to_contain_text("Manual correction")
    expect(ledger).to_contain_text("−$5.50")
    expect(ledger).to_contain_text("$19.50")
    # too much: the error is shown next to the amount and nothing changes
    form.get_by_label("Deduct credits").check()
    form.get_by_label("Amount").fill("100")
    form.get_by_label("Reason").fill("Too much")
    form.get_by_role("button", name="Save adjustment").click()
    expect(form.locator(".invalid-feedback")).to_contain_text("Insufficient balance")
    expect(usd).to_contain_text("$19.50")
    form.get_by_label("Amount").fill("")
    screenshot(page, "customer_wallet")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "customer_wallet_phone")
    page.set_viewport_size({"width": 1366, "height": 900})

    # Transactions History: refund $4.00 of the payment to the wallet.
    page.get_by_role("link", name="Transactions History").click()
    row = page.locator("tr", has_text=payment.id)
    expect(row).to_contain_text("$10.00")
    row.get_by_role("link", name=re.compile("Refund")).click()
    modal = page.locator("#refund-modal")
    expect(modal).to_be_visible()
    expect(modal).to_contain_text("Left to refund: $10.00")
    modal.get_by_label("Amount").fill("4.00")
    modal.get_by_label("Destination").select_option("wallet")
    modal.get_by_label("Reason").fill("Unused credits")
    modal.get_by_role("button", name="Refund").click()
    expect(page.get_by_role("alert")).to_contain_text(
        f"Refunded $4.00 of payment {payment.id} to the wallet."
    )
    expect(page.locator("tr", has_text=payment.id)).to_contain_text("$4.00")
    screenshot(page, "customer_transactions")
    page.get_by_role("link", name="Wallet Ledger").click()
    expect(page.get_by_test_id("balance-USD")).to_contain_text("$23.50")

    # Active Subscriptions: usage so far, then cancel at the end of the period.
    page.get_by_role("link", name="Active Subscriptions").click()
    row = page.locator("tr", has_text="API Pro")
    expect(row).to_contain_text("1,234")
    screenshot(page, "customer_subscriptions")
    row.get_by_role("button", name=re.compile("Cancel subscription")).click()
    row.get_by_role("button", name="At period end").click()
    expect(page.get_by_role("alert")).to_contain_text("will end on")
    expect(page.locator("tr", has_text="API Pro")).to_contain_text("cancels at period end")

    # The Payments page lists it, linking to the customer.
    page.goto("/payments/")
    expect(page.get_by_role("heading", name="Payments")).to_be_visible()
    row = page.locator("tr", has_text=payment.id)
    expect(row).to_contain_text("Ada Lovelace")
    expect(row.get_by_role("link", name="Ada Lovelace")).to_have_attribute(
        "href", f"/customers/{customer.id}/"
    )
    screenshot(page, "payments")
