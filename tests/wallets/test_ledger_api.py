from decimal import Decimal

import pytest

from dodo_billing.models import ExchangeRate
from dodo_billing.money import MAX_AMOUNT
from tests.conftest import assert_error, post_json
from wallets.models import LedgerEntry, Wallet
from wallets.services import wallet_credit

pytestmark = pytest.mark.django_db

WALLET_FIELDS = {"customer_id", "currency", "balance", "created_at", "updated_at"}
ENTRY_FIELDS = {
    "id",
    "business_id",
    "customer_id",
    "currency",
    "amount",
    "is_credit",
    "before_balance",
    "after_balance",
    "event_type",
    "reason",
    "reference_object_id",
    "created_at",
}


def entries_url(customer):
    return f"/api/customers/{customer.id}/wallets/ledger-entries"


def snapshot():
    """Everything a ledger write could change."""
    return (
        sorted(Wallet.objects.values_list("customer_id", "currency", "balance", "entry_count", "updated_at")),
        sorted(LedgerEntry.objects.values_list("id", flat=True)),
    )


def test_wallets_list_zero_balances_and_total(api, customer):
    data = api.get(f"/api/customers/{customer.id}/wallets").json()
    assert set(data) == {"items", "total_balance_usd"}
    assert [(w["currency"], w["balance"]) for w in data["items"]] == [("USD", 0), ("INR", 0)]
    assert all(set(w) == WALLET_FIELDS and w["customer_id"] == customer.id for w in data["items"])
    assert data["total_balance_usd"] == 0


def test_total_balance_usd_uses_the_editable_rate_table(api, customer):
    wallet_credit(customer=customer, currency="USD", amount=1500)
    wallet_credit(customer=customer, currency="INR", amount=100_000)  # ₹1,000.00
    ExchangeRate.objects.filter(currency="INR").update(usd_per_unit=Decimal("0.0114"))
    assert api.get(f"/api/customers/{customer.id}/wallets").json()["total_balance_usd"] == 1500 + 1140
    ExchangeRate.objects.filter(currency="INR").update(usd_per_unit=Decimal("0.0125"))
    assert api.get(f"/api/customers/{customer.id}/wallets").json()["total_balance_usd"] == 1500 + 1250


def test_credit_then_debit_returns_the_wallet(api, customer):
    response = post_json(
        api,
        entries_url(customer),
        {
            "amount": 1000,
            "currency": "USD",
            "entry_type": "credit",
            "idempotency_key": "welcome",
            "reason": "Welcome",
        },
    )
    assert response.status_code == 200
    wallet = response.json()
    assert set(wallet) == WALLET_FIELDS
    assert (wallet["currency"], wallet["balance"], wallet["customer_id"]) == ("USD", 1000, customer.id)
    wallet = post_json(
        api, entries_url(customer), {"amount": 250, "currency": "USD", "entry_type": "debit"}
    ).json()
    assert wallet["balance"] == 750
    assert Wallet.objects.get(customer=customer, currency="USD").balance == 750


def test_list_entries_newest_first_with_every_field(api, customer, business):
    for amount, kind in [(1000, "credit"), (300, "debit"), (50, "credit")]:
        post_json(
            api,
            entries_url(customer),
            {"amount": amount, "currency": "USD", "entry_type": kind, "reason": kind},
        )
    post_json(api, entries_url(customer), {"amount": 9000, "currency": "INR", "entry_type": "credit"})
    items = api.get(entries_url(customer)).json()["items"]
    assert [(e["currency"], e["amount"]) for e in items] == [
        ("INR", 9000),
        ("USD", 50),
        ("USD", 300),
        ("USD", 1000),
    ]
    assert all(set(e) == ENTRY_FIELDS for e in items)
    usd = api.get(entries_url(customer), {"currency": "USD"}).json()["items"]
    assert [(e["is_credit"], e["before_balance"], e["after_balance"]) for e in usd] == [
        (True, 700, 750),
        (False, 1000, 700),
        (True, 0, 1000),
    ]
    first = usd[-1]
    assert first["id"].startswith("wle_")
    assert first["business_id"] == business.id and first["customer_id"] == customer.id
    assert first["event_type"] == "merchant_adjustment" and first["reason"] == "credit"
    assert first["reference_object_id"] is None
    assert api.get(entries_url(customer), {"currency": "INR", "page_size": 1, "page_number": 1}).json() == {
        "items": []
    }
    assert api.get(entries_url(customer), {"currency": "EUR"}).json() == {"items": []}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"amount": 0}, "amount"),
        ({"amount": -5}, "amount"),
        ({"amount": 1.5}, "amount"),
        ({"amount": 10.0}, "amount"),
        ({"amount": "100"}, "amount"),
        ({"amount": True}, "amount"),
        ({"amount": None}, "amount"),
        ({"amount": 2**53}, "amount"),
        ({"amount": 10**30}, "amount"),
        ({"currency": "usd"}, "currency"),
        ({"currency": "XYZ"}, "currency"),
        ({"currency": ""}, "currency"),
        ({"currency": 840}, "currency"),
        ({"entry_type": "refund"}, "entry_type"),
        ({"entry_type": "CREDIT"}, "entry_type"),
        ({"reason": "x" * 1001}, "reason"),
        ({"reason": 12}, "reason"),
        ({"idempotency_key": ""}, "idempotency_key"),
        ({"idempotency_key": "k" * 256}, "idempotency_key"),
    ],
)
def test_bad_entry_is_422_and_writes_nothing(api, customer, body, field):
    wallet_credit(customer=customer, currency="USD", amount=100)
    before = snapshot()
    request = {"amount": 10, "currency": "USD", "entry_type": "credit", **body}
    error = assert_error(post_json(api, entries_url(customer), request), 422, "INVALID_REQUEST_BODY")
    assert field in error["errors"], error
    assert snapshot() == before


@pytest.mark.parametrize("missing", ["amount", "currency", "entry_type"])
def test_missing_required_field_is_422(api, customer, missing):
    request = {"amount": 10, "currency": "USD", "entry_type": "credit"}
    del request[missing]
    before = snapshot()
    error = assert_error(post_json(api, entries_url(customer), request), 422, "INVALID_REQUEST_BODY")
    assert missing in error["errors"]
    assert snapshot() == before


def test_largest_amount_is_accepted_and_balance_cap_enforced(api, customer):
    ok = post_json(
        api, entries_url(customer), {"amount": MAX_AMOUNT, "currency": "USD", "entry_type": "credit"}
    )
    assert ok.json()["balance"] == MAX_AMOUNT
    before = snapshot()
    over = post_json(api, entries_url(customer), {"amount": 1, "currency": "USD", "entry_type": "credit"})
    assert_error(over, 400, "WALLET_BALANCE_LIMIT_EXCEEDED")
    assert snapshot() == before


def test_unsupported_currency_is_400(api, customer):
    before = snapshot()
    body = assert_error(
        post_json(api, entries_url(customer), {"amount": 10, "currency": "EUR", "entry_type": "credit"}),
        400,
        "UNSUPPORTED_CURRENCY",
    )
    assert "USD" in body["message"] and "EUR" in body["message"]
    assert snapshot() == before


def test_malformed_json_entry_is_422(api, customer):
    before = snapshot()
    assert_error(post_json(api, entries_url(customer), '{"amount": 10,'), 422, "INVALID_REQUEST_BODY")
    assert_error(post_json(api, entries_url(customer), ""), 422, "INVALID_REQUEST_BODY")
    assert snapshot() == before


def test_unknown_or_foreign_customer_is_404(api, other_api, customer):
    before = snapshot()
    body = {"amount": 10, "currency": "USD", "entry_type": "credit"}
    assert_error(post_json(api, "/api/customers/cus_nope/wallets/ledger-entries", body), 404, "NOT_FOUND")
    assert_error(post_json(other_api, entries_url(customer), body), 404, "NOT_FOUND")
    assert_error(other_api.get(entries_url(customer)), 404, "NOT_FOUND")
    assert_error(other_api.get(f"/api/customers/{customer.id}/wallets"), 404, "NOT_FOUND")
    assert snapshot() == before


def test_debit_above_balance_is_400_and_writes_nothing(api, customer):
    wallet_credit(customer=customer, currency="USD", amount=500)
    before = snapshot()
    response = post_json(
        api, entries_url(customer), {"amount": 501, "currency": "USD", "entry_type": "debit"}
    )
    body = assert_error(response, 400, "INSUFFICIENT_WALLET_FUNDS")
    assert body["balance"] == 500
    # The wallet guide's integration catches an over-debit by its message.
    assert "Insufficient balance" in body["message"]
    assert snapshot() == before
    assert (
        post_json(
            api, entries_url(customer), {"amount": 500, "currency": "USD", "entry_type": "debit"}
        ).json()["balance"]
        == 0
    )


def test_idempotency_key_reuse_is_409_naming_the_earlier_entry(api, customer):
    request = {
        "amount": 700,
        "currency": "USD",
        "entry_type": "credit",
        "idempotency_key": "topup-1",
        "reason": "r",
    }
    assert post_json(api, entries_url(customer), request).status_code == 200
    entry = LedgerEntry.objects.get(idempotency_key="topup-1")
    before = snapshot()

    same = post_json(api, entries_url(customer), request)
    body = assert_error(same, 409, "IDEMPOTENCY_KEY_ALREADY_USED")
    assert same["x-should-retry"] == "false"
    assert body["ledger_entry_id"] == entry.id and body["same_parameters"] is True
    assert entry.id in body["message"]

    different = post_json(api, entries_url(customer), {**request, "amount": 701})
    body = assert_error(different, 409, "IDEMPOTENCY_KEY_ALREADY_USED")
    assert body["same_parameters"] is False and body["ledger_entry_id"] == entry.id

    # Even a request that would now fail for another reason answers the reuse.
    debit = {"amount": 10**6, "currency": "USD", "entry_type": "debit", "idempotency_key": "topup-1"}
    assert_error(post_json(api, entries_url(customer), debit), 409, "IDEMPOTENCY_KEY_ALREADY_USED")
    assert snapshot() == before


def test_idempotency_keys_are_per_customer(api, customer, make_customer):
    other = make_customer()
    request = {"amount": 5, "currency": "USD", "entry_type": "credit", "idempotency_key": "shared"}
    assert post_json(api, entries_url(customer), request).status_code == 200
    assert post_json(api, entries_url(other), request).status_code == 200
    assert LedgerEntry.objects.filter(idempotency_key="shared").count() == 2


@pytest.mark.parametrize(
    "params", [{"currency": "usd"}, {"page_size": 101}, {"page_number": -1}, {"page_size": 0}]
)
def test_bad_list_params_are_422(api, customer, params):
    assert_error(api.get(entries_url(customer), params), 422, "INVALID_QUERY_PARAMS")
