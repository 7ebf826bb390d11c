"""Ledger model checking: hypothesis drives random credits, debits, idempotent retries and
concurrent batches through the real HTTP API (a live server) on PostgreSQL, and after every step
compares the ledger with a simple model and checks the invariants of DESIGN.md:

1. no balance is negative;  2. balance = Σ credits − Σ debits, and each entry's before → after
continues the previous one;  4. a reused idempotency key answers 409 and writes nothing;
5. a debit above the balance answers 400 INSUFFICIENT_WALLET_FUNDS and writes nothing;
6. concurrent debits serialize: k one-size debits against a balance b succeed min(k, b // size) times;
7. ``wallet_reconcile`` finds nothing wrong.
"""

import threading
from collections import Counter
from itertools import count

import httpx
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from customers.services import customer_create
from wallets.selectors import wallet_reconcile

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

CURRENCIES = ("USD", "INR")
amounts = st.integers(min_value=1, max_value=5_000)


def make_machine(live_server, api_key, business):
    serial = count()
    headers = {"Authorization": f"Bearer {api_key}"}

    class LedgerMachine(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            number = next(serial)
            self.customer = customer_create(
                business=business, name=f"Model {number}", email=f"model{number}@example.com"
            )
            self.path = f"/api/customers/{self.customer.id}/wallets/ledger-entries"
            self.http = httpx.Client(base_url=live_server.url, headers=headers, timeout=60)
            self.balance = dict.fromkeys(CURRENCIES, 0)  # the model
            self.entries = dict.fromkeys(CURRENCIES, 0)
            self.keys: dict[str, dict] = {}  # idempotency key → the body that used it

        def teardown(self):
            self.http.close()

        def post(self, body):
            response = self.http.post(self.path, json=body)
            return response.status_code, response.json()

        def _apply(self, body, status, data):
            currency, amount = body["currency"], body["amount"]
            if body["entry_type"] == "debit" and amount > self.balance[currency]:
                assert (status, data["code"]) == (400, "INSUFFICIENT_WALLET_FUNDS"), (status, data)
                return
            assert status == 200, (status, data)
            self.balance[currency] += amount if body["entry_type"] == "credit" else -amount
            self.entries[currency] += 1
            assert data["balance"] == self.balance[currency]

        @rule(
            currency=st.sampled_from(CURRENCIES),
            amount=amounts,
            entry_type=st.sampled_from(["credit", "debit"]),
        )
        def write(self, currency, amount, entry_type):
            body = {"currency": currency, "amount": amount, "entry_type": entry_type, "reason": "model"}
            self._apply(body, *self.post(body))

        @rule(
            currency=st.sampled_from(CURRENCIES),
            amount=amounts,
            entry_type=st.sampled_from(["credit", "debit"]),
        )
        def write_with_key(self, currency, amount, entry_type):
            key = f"key-{len(self.keys)}"
            body = {"currency": currency, "amount": amount, "entry_type": entry_type, "idempotency_key": key}
            status, data = self.post(body)
            self._apply(body, status, data)
            if status == 200:
                self.keys[key] = body

        @rule(data=st.data(), same=st.booleans())
        def retry_a_key(self, data, same):
            if not self.keys:
                return
            key = data.draw(st.sampled_from(sorted(self.keys)))
            body = dict(self.keys[key])
            if not same:
                body["amount"] += 1
            status, answer = self.post(body)
            assert (status, answer["code"]) == (409, "IDEMPOTENCY_KEY_ALREADY_USED"), (status, answer)

        @rule(currency=st.sampled_from(CURRENCIES), size=st.integers(1, 400), copies=st.integers(2, 8))
        def concurrent_debits(self, currency, size, copies):
            body = {"currency": currency, "amount": size, "entry_type": "debit"}
            barrier = threading.Barrier(copies)
            statuses = []

            def send():
                with httpx.Client(base_url=live_server.url, headers=headers, timeout=60) as client:
                    barrier.wait()
                    statuses.append(client.post(self.path, json=body).status_code)

            threads = [threading.Thread(target=send) for _ in range(copies)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            expected = min(copies, self.balance[currency] // size)
            assert Counter(statuses) == Counter(
                {200: expected, 400: copies - expected} if expected < copies else {200: copies}
            )
            self.balance[currency] -= expected * size
            self.entries[currency] += expected

        @invariant()
        def ledger_matches_the_model(self):
            wallets = self.http.get(f"/api/customers/{self.customer.id}/wallets").json()["items"]
            assert {w["currency"]: w["balance"] for w in wallets} == self.balance
            for currency in CURRENCIES:
                listed = self.http.get(self.path, params={"currency": currency, "page_size": 100}).json()[
                    "items"
                ]
                assert len(listed) == self.entries[currency]
                chain = list(reversed(listed))  # oldest first
                running = 0
                for entry in chain:
                    assert entry["before_balance"] == running
                    change = entry["amount"] if entry["is_credit"] else -entry["amount"]
                    running += change
                    assert entry["after_balance"] == running >= 0
                assert running == self.balance[currency]
            assert wallet_reconcile(customer_ids=[self.customer.id])[2] == []

    return LedgerMachine


def test_ledger_follows_the_model(live_server, api_key, business):
    machine = make_machine(live_server, api_key, business)
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=8,
            stateful_step_count=10,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
