"""The customers pages in a real browser: search, columns, rows per page, open a customer, create
one; screenshots for the docs."""

import pytest
from django.core import mail
from playwright.sync_api import expect

from tests.e2e.conftest import screenshot
from wallets.services import wallet_credit

pytestmark = pytest.mark.django_db(transaction=True)


def test_search_columns_page_size_and_open_a_customer(page, make_customer, celery_eager):
    ada = make_customer(name="Ada Lovelace", email="ada@analytical.example", metadata={"plan": "pro"})
    wallet_credit(customer=ada, currency="USD", amount=42_00, reason="Welcome credit")
    make_customer(name="Grace Hopper", email="grace@navy.example", phone_number="+1 202 555 0199")
    for n in range(30):
        make_customer(name=f"Buyer {n:02d}", email=f"buyer{n}@shop.example")

    page.goto("/customers/")
    expect(page.get_by_role("heading", name="Customers")).to_be_visible()
    expect(page.get_by_test_id("table-count")).to_contain_text("1–32 of 32")
    screenshot(page, "customers")
    # Invite: after a confirmation, the customer is emailed a single-use portal link.
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Invite Ada Lovelace to the customer portal").click()
    expect(page.get_by_role("alert")).to_contain_text("A portal link was emailed to ada@analytical.example")
    assert [message.to for message in mail.outbox] == [["ada@analytical.example"]]
    assert "/portal/open/" in mail.outbox[0].body

    # Search by an email fragment.
    page.get_by_role("searchbox").fill("analytical")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.locator("tbody")).to_contain_text("Ada Lovelace")

    # Choose columns: hide Phone Number, show Balance USD; the choice survives a reload.
    page.get_by_role("button", name="Edit columns").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("checkbox", name="Phone Number").uncheck()
    dialog.get_by_role("checkbox", name="Balance USD").check()
    dialog.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert")).to_contain_text("Columns saved")
    header = page.locator("thead")
    expect(header).to_contain_text("Balance USD")
    expect(header).not_to_contain_text("Phone Number")
    expect(page.locator("tbody")).to_contain_text("$42.00")
    page.goto("/customers/")
    expect(page.locator("thead")).to_contain_text("Balance USD")
    expect(page.locator("thead")).not_to_contain_text("Phone Number")

    # Rows per page: 25, remembered on the next visit; the next page has the rest.
    page.get_by_label("Rows per page").select_option("25")
    expect(page.locator("tbody tr")).to_have_count(25)
    page.goto("/customers/")
    expect(page.locator("tbody tr")).to_have_count(25)
    page.get_by_role("link", name="Next").click()
    expect(page.locator("tbody tr")).to_have_count(7)
    expect(page).to_have_url("/customers/?page=2")
    # Export CSV downloads the current view.
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    assert download.value.suggested_filename == "customers.csv"

    # Sort by name (htmx swaps the table) and open a customer.
    page.goto("/customers/")
    page.locator("thead").get_by_role("link", name="Customer Name").click()
    expect(page.locator("tbody tr").first).to_contain_text("Ada Lovelace")
    page.locator("tbody").get_by_role("link", name="Ada Lovelace").click()
    expect(page.get_by_role("heading", name="Ada Lovelace")).to_be_visible()
    expect(page.get_by_test_id("customer-id")).to_have_text(ada.id)
    expect(page.get_by_role("link", name="About")).to_have_attribute("aria-current", "page")
    expect(page.get_by_test_id("balance-USD")).to_have_text("$42.00")
    expect(page.get_by_role("button", name="Invite Ada Lovelace to the customer portal")).to_be_enabled()
    screenshot(page, "customer_detail")


def test_create_and_edit_a_customer(page):
    page.goto("/customers/")
    expect(page.get_by_text("No customers match")).to_be_visible()
    page.get_by_role("link", name="New customer").click()
    page.get_by_label("Name").fill("Katherine Johnson")
    page.get_by_label("Email").fill("not an email")
    page.get_by_label("Metadata").fill('{"plan": ')
    page.get_by_role("button", name="Create customer").click()
    expect(page.get_by_text("Enter a valid email address.")).to_be_visible()
    expect(page.get_by_text("Not valid JSON")).to_be_visible()
    expect(page.get_by_label("Email")).to_have_class("form-control is-invalid")
    page.get_by_label("Email").fill("kj@nasa.example")
    page.get_by_label("Metadata").fill('{"plan": "pro"}')
    page.get_by_role("button", name="Create customer").click()
    expect(page.get_by_role("alert")).to_contain_text("Customer Katherine Johnson created")
    expect(page.get_by_role("heading", name="Katherine Johnson")).to_be_visible()

    page.get_by_role("link", name="Edit").click()
    page.get_by_label("Phone Number").fill("+1 757 555 0100")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("alert")).to_contain_text("saved")
    expect(page.locator("main")).to_contain_text("+1 757 555 0100")


def test_customers_on_a_phone(page, make_customer):
    make_customer(name="Ada Lovelace", email="ada@analytical.example")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/customers/")
    expect(page.get_by_role("link", name="New customer")).to_be_visible()
    expect(page.locator("tbody")).to_contain_text("Ada Lovelace")
    screenshot(page, "customers_phone")
