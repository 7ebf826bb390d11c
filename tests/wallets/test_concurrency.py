"""Invariants 4 and 6 under real concurrency: threads, HTTP requests to a live server, PostgreSQL."""

import threading
from collections import Counter

import httpx
import pytest

from wallets.models import LedgerEntry, Wallet
from wallets.selectors import wallet_reconcile
from wallets.services import wallet_credit

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def fire(live_server, api_key, requests):
    """Send every (path, json) at once from its own thread; return the responses in order."""
    barrier = threading.Barrier(len(requests))
    results = [None] * len(requests)
    headers = {"Authorization": f"Bearer {api_key}"}

    def worker(index, path, body):
        with httpx.Client(base_url=live_server.url, headers=headers, timeout=60) as client:
            barrier.wait()
            response = client.post(path, json=body)
            results[index] = (response.status_code, response.json())

    threads = [
        threading.Thread(target=worker, args=(i, path, body)) for i, (path, body) in enumerate(requests)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_fifty_one_unit_debits_on_thirty_succeed_exactly_thirty_times(live_server, api_key, customer):
    wallet_credit(customer=customer, currency="USD", amount=30)
    path = f"/api/customers/{customer.id}/wallets/ledger-entries"
    results = fire(
        live_server, api_key, [(path, {"amount": 1, "currency": "USD", "entry_type": "debit"})] * 50
    )
    statuses = Counter(status for status, _ in results)
    assert statuses == {200: 30, 400: 20}
    assert {body["code"] for status, body in results if status == 400} == {"INSUFFICIENT_WALLET_FUNDS"}
    assert sorted(body["balance"] for status, body in results if status == 200) == list(range(30))
    assert Wallet.objects.get(customer=customer, currency="USD").balance == 0
    assert LedgerEntry.objects.filter(customer=customer, is_credit=False).count() == 30
    assert wallet_reconcile()[2] == []


def test_twenty_requests_with_one_idempotency_key_make_one_entry(live_server, api_key, customer):
    path = f"/api/customers/{customer.id}/wallets/ledger-entries"
    body = {"amount": 250, "currency": "INR", "entry_type": "credit", "idempotency_key": "order-42"}
    results = fire(live_server, api_key, [(path, body)] * 20)
    statuses = Counter(status for status, _ in results)
    assert statuses == {200: 1, 409: 19}
    entry = LedgerEntry.objects.get(customer=customer)
    conflicts = [body for status, body in results if status == 409]
    assert all(
        c["code"] == "IDEMPOTENCY_KEY_ALREADY_USED" and c["ledger_entry_id"] == entry.id for c in conflicts
    )
    assert all(c["same_parameters"] is True for c in conflicts)
    assert Wallet.objects.get(customer=customer, currency="INR").balance == 250
    assert wallet_reconcile()[2] == []


def test_same_key_debits_racing_an_empty_wallet_answer_409_not_400(live_server, api_key, customer):
    wallet_credit(customer=customer, currency="USD", amount=100)
    path = f"/api/customers/{customer.id}/wallets/ledger-entries"
    body = {"amount": 100, "currency": "USD", "entry_type": "debit", "idempotency_key": "drain"}
    results = fire(live_server, api_key, [(path, body)] * 10)
    assert Counter(status for status, _ in results) == {200: 1, 409: 9}
    assert Wallet.objects.get(customer=customer, currency="USD").balance == 0


def test_concurrent_credits_and_debits_across_two_currencies(live_server, api_key, make_customer):
    customers = [make_customer() for _ in range(2)]
    for c in customers:
        wallet_credit(customer=c, currency="USD", amount=1000)
        wallet_credit(customer=c, currency="INR", amount=1000)
    requests = []
    for c in customers:
        path = f"/api/customers/{c.id}/wallets/ledger-entries"
        for currency in ("USD", "INR"):
            requests += [(path, {"amount": 7, "currency": currency, "entry_type": "credit"})] * 6
            requests += [(path, {"amount": 3, "currency": currency, "entry_type": "debit"})] * 6
    results = fire(live_server, api_key, requests)
    assert all(status == 200 for status, _ in results), results
    for c in customers:
        balances = dict(Wallet.objects.filter(customer=c).values_list("currency", "balance"))
        assert balances == {"USD": 1000 + 6 * 7 - 6 * 3, "INR": 1000 + 6 * 7 - 6 * 3}
        assert Wallet.objects.get(customer=c, currency="USD").entry_count == 13
    assert wallet_reconcile()[2] == []
