"""The Wallet Ledger tab of a customer's detail page: balances, the ledger table (sorting, filters,
CSV, flat queries) and the add/deduct credits form (major units, idempotent double submit,
insufficient funds and every bad input writing nothing, another business's customer a 404)."""

import re

import pytest
from django.test import Client

from dodo_billing.services import user_preference_set
from tests.dashboard import assert_queries_flat, assert_sorts_both_ways, csv_rows
from wallets.models import LedgerEntry, Wallet
from wallets.services import wallet_credit, wallet_debit
from wallets.tables import LedgerEntryTable

pytestmark = pytest.mark.django_db


def url(customer):
    return f"/customers/{customer.id}/wallet"


def ledger_rows():
    return sorted(LedgerEntry.objects.values_list("id", "amount", "is_credit", "after_balance"))


def balances():
    return sorted(Wallet.objects.values_list("customer_id", "currency", "balance", "entry_count"))


def form_key(html: str) -> str:
    return re.search(r'name="idempotency_key" value="([^"]+)"', html).group(1)


def adjust(client, customer, key=None, **fields):
    if key is None:
        key = form_key(client.get(url(customer)).content.decode())
    data = {
        "direction": "credit",
        "currency": "USD",
        "amount": "12.50",
        "reason": "Goodwill",
        "idempotency_key": key,
    }
    data.update(fields)
    return client.post(url(customer), data)


def test_tab_shows_balances_form_and_empty_ledger(staff_client, customer):
    response = staff_client.get(url(customer))
    assert response.status_code == 200
    html = response.content.decode()
    assert "USD wallet" in html and "INR wallet" in html and "$0.00" in html
    assert "No ledger entries yet" in html
    assert 'name="idempotency_key"' in html and 'aria-current="page"' in html and "Wallet Ledger" in html


def test_each_rendering_has_a_new_key(staff_client, customer):
    first = form_key(staff_client.get(url(customer)).content.decode())
    second = form_key(staff_client.get(url(customer)).content.decode())
    assert first != second


def test_add_credits_in_major_units(staff_client, customer):
    response = adjust(staff_client, customer, amount="12.50", reason="Welcome bonus")
    assert response.status_code == 302 and response["Location"] == url(customer)
    entry = LedgerEntry.objects.get()
    assert (entry.amount, entry.is_credit, entry.currency, entry.reason, entry.event_type) == (
        1250, True, "USD", "Welcome bonus", "merchant_adjustment"
    )  # fmt: skip
    assert entry.idempotency_key.startswith("dashboard-")
    html = staff_client.get(url(customer)).content.decode()
    assert "Added $12.50. The USD balance is now $12.50." in html
    assert "Welcome bonus" in html and "+$12.50" in html


def test_deduct_credits_and_inr(staff_client, customer):
    adjust(staff_client, customer, currency="INR", amount="1,000.25")
    response = adjust(staff_client, customer, direction="debit", currency="INR", amount="0.25", reason="Fix")
    assert response.status_code == 302
    assert Wallet.objects.get(customer=customer, currency="INR").balance == 100000
    html = staff_client.get(url(customer)).content.decode()
    assert "Deducted ₹0.25" in html and "−₹0.25" in html


def test_double_submit_writes_one_entry(staff_client, customer):
    key = form_key(staff_client.get(url(customer)).content.decode())
    assert adjust(staff_client, customer, key=key).status_code == 302
    response = adjust(staff_client, customer, key=key)
    assert response.status_code == 302
    assert LedgerEntry.objects.count() == 1
    assert Wallet.objects.get(customer=customer, currency="USD").balance == 1250
    html = staff_client.get(url(customer)).content.decode()
    assert "already recorded" in html and "changed nothing" in html


def test_a_reused_key_with_other_values_is_refused(staff_client, customer):
    key = form_key(staff_client.get(url(customer)).content.decode())
    adjust(staff_client, customer, key=key)
    before = (ledger_rows(), balances())
    adjust(staff_client, customer, key=key, amount="99")
    assert (ledger_rows(), balances()) == before
    assert "already submitted with other values" in staff_client.get(url(customer)).content.decode()


def test_insufficient_funds_shows_the_error_and_writes_nothing(staff_client, customer):
    adjust(staff_client, customer, amount="5")
    before = (ledger_rows(), balances())
    response = adjust(staff_client, customer, direction="debit", amount="5.01")
    assert response.status_code == 400
    html = response.content.decode()
    assert "Insufficient balance for debit: the USD balance is $5.00, the debit is $5.01." in html
    assert "is-invalid" in html and "Nothing was changed" in html
    assert (ledger_rows(), balances()) == before


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"amount": "12.505"}, "USD amounts have at most 2 decimal places."),
        ({"amount": "0"}, "The amount must be more than zero."),
        ({"amount": "-3"}, "The amount must be more than zero."),
        ({"amount": "abc"}, "Enter an amount such as 12.50."),
        ({"amount": "Infinity"}, "Enter an amount such as 12.50."),
        ({"amount": "1e20"}, "The amount may be at most"),
        ({"amount": ""}, "This field is required."),
        ({"currency": "EUR"}, "Select a valid choice."),
        ({"currency": "JPY", "amount": "1"}, "Select a valid choice."),
        ({"direction": "steal"}, "Select a valid choice."),
        ({"reason": ""}, "This field is required."),
        ({"reason": "   "}, "This field is required."),
        ({"reason": "x" * 1001}, "at most 1000 characters"),
        ({"idempotency_key": ""}, "reload the page"),
    ],
)
def test_bad_input_shows_the_error_and_writes_nothing(staff_client, customer, fields, message):
    before = (ledger_rows(), balances())
    response = adjust(staff_client, customer, **fields)
    assert response.status_code == 400
    html = response.content.decode()
    assert message in html and "invalid-feedback" in html
    assert (ledger_rows(), balances()) == before


def test_a_form_with_errors_keeps_its_key(staff_client, customer):
    key = form_key(staff_client.get(url(customer)).content.decode())
    response = adjust(staff_client, customer, key=key, amount="oops")
    assert form_key(response.content.decode()) == key


def test_another_business_customer_is_a_404(other_staff_user, customer):
    client = Client()
    client.force_login(other_staff_user)
    assert client.get(url(customer)).status_code == 404
    response = client.post(
        url(customer),
        {"direction": "credit", "currency": "USD", "amount": "1", "reason": "x", "idempotency_key": "k"},
    )
    assert response.status_code == 404
    assert not LedgerEntry.objects.exists()


def test_unknown_customer_is_a_404_and_anonymous_signs_in(client, staff_client, customer):
    assert staff_client.get("/customers/cus_nope/wallet").status_code == 404
    response = Client().post(url(customer), {"amount": "1"})
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_ledger_sorts_filters_exports_and_stays_flat(staff_client, staff_user, customer, make_customer):
    wallet_credit(customer=customer, currency="USD", amount=1000, reason="top up")
    wallet_debit(customer=customer, currency="USD", amount=300, reason="usage")
    wallet_credit(customer=customer, currency="INR", amount=5000, reason="rupees", event_type="refund")
    wallet_credit(customer=make_customer(), currency="USD", amount=777, reason="someone else")
    names = [name for name in LedgerEntryTable.base_columns if name not in LedgerEntryTable.exempt_columns]
    user_preference_set(user=staff_user, path=LedgerEntryTable.preference_path("columns"), value=names)
    assert_sorts_both_ways(staff_client, url(customer), LedgerEntryTable)

    def reasons(**params):
        rows = csv_rows(staff_client.get(url(customer), {"export": "csv", **params}))
        column = rows[0].index("Reason")
        return sorted(row[column] for row in rows[1:])

    assert reasons() == ["rupees", "top up", "usage"]
    assert reasons(currency="INR") == ["rupees"]
    assert reasons(event_type="refund") == ["rupees"]
    assert reasons(is_credit="false") == ["usage"]
    assert reasons(created_at_gte="2999-01-01T00:00:00Z") == []
    assert reasons(created_at_lte="2999-01-01T00:00:00Z") == ["rupees", "top up", "usage"]
    rows = csv_rows(staff_client.get(url(customer), {"export": "csv", "is_credit": "false"}))
    header = rows[0]
    assert rows[1][header.index("Amount")] == "-3.00"  # a number in major units, its currency beside it
    assert rows[1][header.index("Currency")] == "USD"
    assert rows[1][header.index("Balance Before")] == "10.00"
    assert rows[1][header.index("Balance After")] == "7.00"
    assert rows[1][header.index("Type")] == "debit"

    def more():
        for n in range(5):
            wallet_credit(customer=customer, currency="USD", amount=100 + n, reason=f"more {n}")

    assert_queries_flat(staff_client, url(customer), more)


def test_ledger_pages(staff_client, customer):
    for n in range(30):
        wallet_credit(customer=customer, currency="USD", amount=1 + n, reason=f"entry {n}")
    html = staff_client.get(url(customer), {"per_page": 25}).content.decode()
    assert "1–25 of 30" in html and 'rel="next"' in html
    html = staff_client.get(url(customer), {"per_page": 25, "page": 2}).content.decode()
    assert "26–30 of 30" in html
