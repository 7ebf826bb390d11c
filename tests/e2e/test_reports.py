"""Build and export a report in a real browser: pick a dataset, group and run it, see the table
and the chart, save it by name, reopen it from the list, and download its CSV."""

import csv
import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import expect

from customers.models import SavedReport
from metering.models import Invoice, Payment
from tests.e2e.conftest import screenshot

pytestmark = pytest.mark.django_db(transaction=True)


def pay(business, customer, amount, currency, day):
    invoice = Invoice.objects.create(
        business=business, customer=customer, currency=currency, subtotal=amount, amount_due=amount
    )
    Payment.objects.create(
        business=business,
        customer=customer,
        invoice=invoice,
        currency=currency,
        total_amount=amount,
        gateway_amount=amount,
        pricing_type="one_time_price",
        status="succeeded",
        gateway="manual",
        created_at=datetime.fromisoformat(day).replace(tzinfo=UTC),
    )


def test_build_and_export_a_report(page, business, make_customer):
    ada = make_customer(name="Ada Lovelace", email="ada@example.com")
    grace = make_customer(name="Grace Hopper", email="grace@example.com")
    pay(business, ada, 12_000, "USD", "2026-01-05T10:00:00")
    pay(business, grace, 4_550, "USD", "2026-01-20T10:00:00")
    pay(business, ada, 9_900, "USD", "2026-02-11T10:00:00")
    pay(business, grace, 150_000, "INR", "2026-02-12T10:00:00")
    pay(business, ada, 20_000, "USD", "2026-03-02T10:00:00")

    page.goto("/reports/")
    expect(page.get_by_role("heading", name="Reports", exact=True)).to_be_visible()
    expect(page.get_by_text("No saved reports yet")).to_be_visible()
    page.get_by_role("link", name="Payments Revenue by period").click()
    expect(page.get_by_role("heading", name="New payments report")).to_be_visible()

    form = page.get_by_role("form", name="Report definition")
    form.get_by_label("Period", exact=True).select_option("custom")
    form.get_by_label("From", exact=True).fill("2026-01-01")
    form.get_by_label("To", exact=True).fill("2026-03-31")
    form.get_by_label("Group by", exact=True).select_option("month")
    values = form.get_by_role("group", name="Values")
    values.get_by_role("checkbox", name="Count", exact=True).check()
    values.get_by_role("checkbox", name="Total", exact=True).check()
    form.get_by_role("button", name="Run").click()

    result = page.locator("#report-result")
    expect(result.get_by_role("row")).to_have_count(1 + 6)  # 3 months × 2 currencies
    expect(result.get_by_role("row", name="2026-01 USD 2 $165.50")).to_be_visible()
    expect(result.get_by_role("row", name="2026-02 INR 1 ₹1,500.00")).to_be_visible()
    canvas = page.locator("canvas[data-chart]")
    expect(canvas).to_be_visible()
    expect(canvas).to_have_attribute("data-drawn", "1")  # Chart.js drew it
    screenshot(page, "report_builder")

    save = page.get_by_role("form", name="Save report")
    save.get_by_role("button", name="Save report").click()
    expect(save.get_by_text("Give the report a name.")).to_be_visible()
    assert not SavedReport.objects.exists()
    page.get_by_role("form", name="Save report").get_by_label("Save this report as").fill("Monthly revenue")
    page.get_by_role("form", name="Save report").get_by_role("button", name="Save report").click()
    expect(page.get_by_role("alert").filter(has_text="Report “Monthly revenue” saved.")).to_be_visible()

    page.goto("/reports/")
    page.get_by_role("link", name="Monthly revenue").click()
    expect(page.get_by_role("heading", name="Monthly revenue")).to_be_visible()
    expect(page.get_by_role("form", name="Report definition").get_by_label("Group by")).to_have_value("month")
    expect(page.locator("#report-result").get_by_role("row", name="2026-03 USD 1 $200.00")).to_be_visible()

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Export CSV").click()
    download = download_info.value
    assert download.suggested_filename == "monthly-revenue.csv"
    rows = list(csv.reader(io.StringIO(Path(download.path()).read_text(encoding="utf-8"))))
    assert rows[0] == ["Month", "Currency", "Count", "Total"]
    assert ["2026-01-01", "USD", "2", "165.50"] in rows
    assert ["2026-02-01", "INR", "1", "1500.00"] in rows

    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    expect(page.get_by_role("heading", name="Monthly revenue")).to_be_visible()
    screenshot(page, "report_builder_phone")
