"""CSV formula injection: every CSV the product writes neutralises text that a spreadsheet would
run as a formula, keeps numbers as numbers, and exports money as major units beside a currency."""

import pytest
from django.utils import timezone

from dodo_billing.exports import spreadsheet_cell
from metering.models import Event
from metering.services import meter_create
from metering.services.billing import subscription_create
from tests.dashboard import csv_rows
from tests.metering.test_payments_api import (
    BILLING,
    card,
    one_time_product,
    purchase,
    recurring_product,
    use_sandbox,
)
from wallets.services import wallet_credit, wallet_debit

pytestmark = pytest.mark.django_db

# What a customer (portal name), an API client (ledger reason, event name) or a merchant's staff
# could type, and what the CSV must hold instead.
HOSTILE = {
    '=HYPERLINK("http://x")': '\'=HYPERLINK("http://x")',
    "@SUM(1)": "'@SUM(1)",
    "+1": "'+1",
    "-1+2": "'-1+2",
    "\t=1": "'\t=1",
    "\r=1": "'\r=1",
    "\n=1": "'\n=1",
    "  =1": "'  =1",
    "\uff1d1+1": "'\uff1d1+1",  # full-width equals sign
}
HARMLESS = ["Jane Doe", "a=b", "1-2", "", "—", "x@example.com"]


@pytest.mark.parametrize(("text", "written"), HOSTILE.items())
def test_formula_text_is_neutralised(text, written):
    assert spreadsheet_cell(text) == written


@pytest.mark.parametrize("text", HARMLESS)
def test_other_text_is_unchanged(text):
    assert spreadsheet_cell(text) == text


def test_numbers_stay_numbers():
    from decimal import Decimal

    assert spreadsheet_cell(-5) == -5
    assert spreadsheet_cell(Decimal("-56.20")) == "-56.20"
    assert spreadsheet_cell(Decimal("1E+3")) == "1000"
    assert spreadsheet_cell(1.5) == 1.5
    assert spreadsheet_cell(None) == ""


def cells(rows, column):
    header = rows[0]
    return [row[header.index(column)] for row in rows[1:]]


def test_customers_export(staff_client, make_customer):
    for text in HOSTILE:
        make_customer(name=text)
    rows = csv_rows(staff_client.get("/customers/", {"export": "csv"}))
    assert sorted(cells(rows, "Customer Name")) == sorted(HOSTILE.values())


@pytest.fixture
def ledger(customer):
    wallet_credit(customer=customer, currency="USD", amount=100_000, reason="top up")
    for text in HOSTILE:
        wallet_debit(customer=customer, currency="USD", amount=562, reason=text)
    return customer


def test_ledger_export(staff_client, ledger):
    rows = csv_rows(
        staff_client.get(f"/customers/{ledger.id}/wallet", {"export": "csv", "is_credit": "false"})
    )
    assert sorted(cells(rows, "Reason")) == sorted(HOSTILE.values())
    assert set(cells(rows, "Amount")) == {"-5.62"}  # a negative number, not text
    assert set(cells(rows, "Currency")) == {"USD"}


def test_report_exports(staff_client, ledger, make_customer):
    make_customer(name="@SUM(1)")
    period = {"period": "last_7_days", "group_by": "", "run": "1", "export": "csv"}
    rows = csv_rows(
        staff_client.get("/reports/new", {"dataset": "ledger", "columns": ["reason", "amount"], **period})
    )
    assert rows[0] == ["Reason", "Amount", "Currency"]  # the amount's currency, though not chosen
    debits = [row for row in rows[1:] if row[0] != "top up"]
    assert sorted(row[0] for row in debits) == sorted(HOSTILE.values())
    assert {(row[1], row[2]) for row in debits} == {("5.62", "USD")}
    rows = csv_rows(staff_client.get("/reports/new", {"dataset": "customers", "columns": ["name"], **period}))
    assert "'@SUM(1)" in cells(rows, "Name")


def test_payments_and_subscriptions_exports(staff_client, business, customer):
    sandbox = use_sandbox(business)
    product = one_time_product(sandbox, price=5620, name="=cmd|' /C calc'!A0")
    purchase(sandbox, customer, product=product, payment_method=card(customer))
    for url in ("/payments/", f"/customers/{customer.id}/transactions"):
        rows = csv_rows(staff_client.get(url, {"export": "csv", "columns": ""}))
        assert cells(rows, "Amount") == ["56.20"], url
        assert cells(rows, "Currency") == ["USD"], url
    plan = recurring_product(business, price=900)
    plan.name = "-2+3"
    plan.save(update_fields=["name"])
    subscription_create(business=business, customer=customer, product=plan, billing=BILLING)
    for url in ("/subscriptions/", f"/customers/{customer.id}/subscriptions"):
        rows = csv_rows(staff_client.get(url, {"export": "csv"}))
        assert cells(rows, "Product") == ["'-2+3"], url
        assert cells(rows, "Price per Period") == ["9.00"], url
        assert cells(rows, "Currency") == ["USD"], url


def test_meters_and_events_exports(staff_client, business, customer):
    meter_create(
        business=business,
        name="+SUM(A1)",
        event_name="=1+1",
        measurement_unit="calls",
        aggregation={"type": "count"},
    )
    Event.objects.create(
        business=business,
        customer=customer,
        event_id="@evt",
        event_name="=1+1",
        timestamp=timezone.now(),
        metadata=None,
    )
    rows = csv_rows(staff_client.get("/meters/", {"export": "csv"}))
    assert "'+SUM(A1)" in rows[1]
    rows = csv_rows(staff_client.get("/events/", {"export": "csv"}))
    assert "'@evt" in rows[1] and "'=1+1" in rows[1]


def test_every_csv_goes_through_the_one_writer():
    """No module but dodo_billing/exports.py writes CSV, so no export can skip the neutralising."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    writers = []
    for path in root.glob("*/**/*.py"):
        if path.parts[len(root.parts)] in {"tests", "benchmarks", ".venv", "node_modules"}:
            continue
        text = path.read_text()
        if "csv.writer" in text or "DictWriter" in text or "text/csv" in text:
            writers.append(str(path.relative_to(root)))
    assert writers == ["dodo_billing/exports.py"]
