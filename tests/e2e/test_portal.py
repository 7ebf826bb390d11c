"""The customer portal in a real browser: open a link, see balances, download an invoice, cancel a
subscription, update the profile, sign out; used and expired links are refused; a tampered
invoice id is a 404."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from customers.models import Customer
from metering.ingestion import EventIn
from metering.models import SubscriptionStatus
from metering.services import events_insert, meter_create
from metering.services.billing import subscription_create
from tests.e2e.conftest import screenshot
from tests.metering.test_payments_api import BILLING, card, usage_product
from tests.portal.conftest import billing_history, make_link

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def shop(business, customer):
    """Jane at Acme Compute: a licensed purchase, a monthly plan, a usage-based plan with usage
    this period, prepaid credits and a low-balance threshold on her USD wallet."""
    payment, plan = billing_history(business, customer, top_up=2500)
    meter = meter_create(
        business=business,
        name="Tokens",
        event_name="llm",
        measurement_unit="tokens",
        aggregation={"type": "sum", "key": "tokens"},
    )
    api_plan = subscription_create(
        business=business,
        customer=customer,
        product=usage_product(
            business, [{"meter_id": meter.id, "price_per_unit": "0.02", "free_threshold": 1000}]
        ),
        payment_method=card(customer),
        billing=BILLING,
        now=timezone.now() - timedelta(days=3),
    )
    events_insert(
        business=business,
        events=[
            EventIn(event_id=f"e{i}", customer_id=customer.id, event_name="llm", metadata={"tokens": 750})
            for i in range(4)
        ],
        timestamps=[timezone.now() - timedelta(hours=i + 1) for i in range(4)],
        ingested_at=timezone.now(),
    )
    wallet = customer.wallets.get(currency="USD")
    wallet.low_balance_threshold = 5000
    wallet.save(update_fields=["low_balance_threshold"])
    return {"payment": payment, "plan": plan, "api_plan": api_plan}


def open_portal(page, customer, **kwargs):
    _, _, token = make_link(customer, base_url="/", return_url="https://shop.example.com/account", **kwargs)
    page.goto(f"/portal/open/{token}")
    expect(page.get_by_role("heading", name="Acme Compute")).to_be_visible()
    page.get_by_role("button", name="Continue to your account").click()
    expect(page.get_by_role("heading", name="Hello, Jane Doe")).to_be_visible()
    return token


def nav(page, name):
    page.get_by_role("navigation", name="Account sections").get_by_role("link", name=name).click()


def test_customer_manages_their_account(anonymous_page, customer, shop, tmp_path):
    page = anonymous_page
    page.on("dialog", lambda dialog: dialog.accept())
    token = open_portal(page, customer)
    expect(page.get_by_test_id("balance-USD")).to_contain_text("$25.00")
    expect(page.get_by_text("Your USD balance is low")).to_be_visible()
    expect(page.get_by_role("link", name="Back to Acme Compute")).to_have_attribute(
        "href", "https://shop.example.com/account"
    )
    screenshot(page, "portal_overview")

    # Billing history and the invoice PDF.
    nav(page, "Billing history")
    expect(page.get_by_role("heading", name="Billing history")).to_be_visible()
    payment = shop["payment"]
    with page.expect_download() as download_info:
        page.locator(f'tr[data-payment-id="{payment.id}"]').get_by_role("link", name="Invoice").click()
    download = download_info.value
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    assert download.suggested_filename.endswith(".pdf")
    assert path.read_bytes().startswith(b"%PDF")
    screenshot(page, "portal_billing")

    # Subscriptions: usage this period, then cancel the monthly plan now.
    nav(page, "Subscriptions")
    api_card = page.locator(f'[data-subscription-id="{shop["api_plan"].id}"]')
    expect(api_card.get_by_role("cell", name="3,000 tokens")).to_be_visible()
    screenshot(page, "portal_subscriptions")
    plan_card = page.locator(f'[data-subscription-id="{shop["plan"].id}"]')
    plan_card.get_by_role("button", name="Cancel now").click()
    expect(page.get_by_role("alert")).to_contain_text("Monthly plan is cancelled")
    shop["plan"].refresh_from_db()
    assert shop["plan"].status == SubscriptionStatus.CANCELLED

    # License keys with a copy button.
    nav(page, "License keys")
    key = customer.license_keys.get()
    expect(page.get_by_text(key.key)).to_be_visible()
    expect(page.get_by_role("button", name="Copy license key for Desktop app")).to_be_visible()
    screenshot(page, "portal_license_keys")

    # Wallet ledger with balances before and after.
    nav(page, "Wallet")
    expect(page.get_by_role("cell", name="Prepaid credits")).to_be_visible()
    screenshot(page, "portal_wallet")

    # Profile: a bad email is shown next to the field and saves nothing; a good one saves.
    nav(page, "Profile")
    page.get_by_label("Email").fill("not an email")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator("#id_email_error")).to_contain_text("valid email")
    expect(page.get_by_label("Email")).to_have_class("form-control is-invalid")
    assert Customer.objects.get(pk=customer.pk).email == "jane@example.com"
    page.get_by_label("Name").fill("Jane Q. Doe")
    page.get_by_label("Email").fill("jane.q@example.com")
    page.get_by_label("Phone number").fill("+1 415 555 0100")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("alert")).to_contain_text("Your details were saved")
    screenshot(page, "portal_profile")
    customer.refresh_from_db()
    assert (customer.name, customer.email, customer.phone_number) == (
        "Jane Q. Doe",
        "jane.q@example.com",
        "+1 415 555 0100",
    )

    # Sign out: the portal is closed, and the used link does not open it again.
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="You're signed out")).to_be_visible()
    page.goto("/portal/")
    expect(page.get_by_role("heading", name="You're not signed in")).to_be_visible()
    page.goto(f"/portal/open/{token}")
    expect(page.get_by_role("heading", name="This link can't be used")).to_be_visible()


def test_expired_and_reused_links_are_refused(anonymous_page, browser, live_server, customer, settings):
    page = anonymous_page
    token = open_portal(page, customer)
    # The same link in another browser (a forwarded email) is refused.
    other = browser.new_context(base_url=live_server.url)
    try:
        second = other.new_page()
        second.goto(f"/portal/open/{token}")
        expect(second.get_by_role("heading", name="This link can't be used")).to_be_visible()
        second.goto("/portal/")
        expect(second.get_by_role("heading", name="You're not signed in")).to_be_visible()
    finally:
        other.close()
    settings.PORTAL_LINK_MAX_AGE = 0
    _, _, expired = make_link(customer, base_url="/")
    page.goto(f"/portal/open/{expired}")
    expect(page.get_by_role("heading", name="This link can't be used")).to_be_visible()
    screenshot(page, "portal_link_refused")


def test_tampered_invoice_id_is_404(anonymous_page, business, customer, make_customer, shop):
    page = anonymous_page
    mallory = make_customer(name="Mallory", email="mallory@example.com")
    other_payment, _ = billing_history(business, mallory, top_up=0)
    open_portal(page, customer)
    response = page.goto(f"/portal/billing/{other_payment.id}/invoice.pdf")
    assert response.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    response = page.goto(f"/portal/billing/{shop['payment'].id}x/invoice.pdf")
    assert response.status == 404


def test_portal_on_a_phone(anonymous_page, customer, shop):
    page = anonymous_page
    page.set_viewport_size({"width": 390, "height": 844})
    open_portal(page, customer)
    expect(page.get_by_test_id("balance-USD")).to_be_visible()
    nav(page, "Subscriptions")
    expect(page.get_by_role("heading", name="Subscriptions")).to_be_visible()
    screenshot(page, "portal_phone")
