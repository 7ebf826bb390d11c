"""Faults: processes killed with SIGKILL and servers restarted in the middle of real work.

Everything runs for real on a private stack (tests/stack.py): its own PostgreSQL cluster and Redis
server, gunicorn, Celery workers and beat started from this checkout. After each fault the tests
check, in the database, that nothing was lost or done twice (ledger entries, invoices, wallet
debits, gateway charges, webhook deliveries), that ``reconcile_wallets`` finds nothing, and that the
system got on with its work by itself: no test restarts a queue or re-sends a task by hand.
"""

import random
import threading
import time
import uuid
from collections import Counter

import httpx
import pytest

from tests.stack import Receiver, Stack, children, sigkill, wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.faults]


@pytest.fixture(scope="module")
def stack():
    stack = Stack()
    yield stack
    stack.close()


class LedgerLoad:
    """Clients writing ledger entries through the API as an SDK would: every write has an
    idempotency key and is retried, with the same key, on a connection error or a 5xx, until the
    API gives an answer. A 409 naming the same parameters means an earlier try was applied."""

    def __init__(self, base_url: str, key: str, customers: list[str], threads: int = 4, writes: int = 40):
        self.base_url = base_url
        self.key = key
        self.customers = customers
        self.writes = writes
        self.applied: dict[str, tuple[str, bool, int]] = {}  # idempotency key -> (customer, credit, amount)
        self.retries = 0
        self.statuses: Counter = Counter()  # every answer's status, retries included
        self.failures: list[str] = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(n,)) for n in range(threads)]

    def start(self) -> "LedgerLoad":
        for thread in self.threads:
            thread.start()
        return self

    def join(self, timeout: float = 180) -> None:
        for thread in self.threads:
            thread.join(timeout)
        assert not any(thread.is_alive() for thread in self.threads), "clients still running"
        assert not self.failures, self.failures[:5]

    def _run(self, number: int) -> None:
        rng = random.Random(number)
        with httpx.Client(base_url=self.base_url, headers={"Authorization": f"Bearer {self.key}"}) as client:
            for i in range(self.writes):
                customer = rng.choice(self.customers)
                credit = i % 3 != 2
                amount = rng.randint(1, 500)
                key = f"load-{number}-{i}-{uuid.uuid4().hex[:8]}"
                body = {
                    "amount": amount,
                    "currency": "USD",
                    "entry_type": "credit" if credit else "debit",
                    "idempotency_key": key,
                    "reason": "fault test",
                }
                if self._write(client, customer, body):
                    with self.lock:
                        self.applied[key] = (customer, credit, amount)
                time.sleep(0.01)

    def _write(self, client: httpx.Client, customer: str, body: dict) -> bool:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                response = client.post(
                    f"/api/customers/{customer}/wallets/ledger-entries", json=body, timeout=15
                )
            except httpx.TransportError:
                response = None
            if response is not None:
                with self.lock:
                    self.statuses[response.status_code] += 1
            if response is not None and response.status_code < 500:
                if response.status_code == 200:
                    return True
                if response.status_code == 409 and response.json().get("same_parameters"):
                    return True
                self.failures.append(f"{response.status_code} {response.text[:300]}")
                return False
            with self.lock:
                self.retries += 1
            time.sleep(0.2)
        self.failures.append(f"no answer for {body['idempotency_key']} in 90 s")
        return False


def check_ledger(stack: Stack, load: LedgerLoad, opening_balance: int) -> None:
    """Every applied write is exactly one entry; nothing else was written; balances add up."""
    customers = load.customers
    rows = stack.postgres.query(
        "SELECT idempotency_key, customer_id, is_credit, amount FROM wallets_ledgerentry "
        "WHERE customer_id = ANY(%s) AND idempotency_key LIKE 'load-%%'",
        (customers,),
    )
    keys = [row[0] for row in rows]
    assert len(keys) == len(set(keys)), "an idempotency key was applied twice"
    assert {row[0]: (row[1], row[2], row[3]) for row in rows} == load.applied
    expected = dict.fromkeys(customers, opening_balance)
    for customer, credit, amount in load.applied.values():
        expected[customer] += amount if credit else -amount
    balances = dict(
        stack.postgres.query(
            "SELECT customer_id, balance FROM wallets_wallet "
            "WHERE customer_id = ANY(%s) AND currency = 'USD'",
            (customers,),
        )
    )
    assert balances == expected
    result = stack.reconcile()
    assert result.returncode == 0, result.stderr
    assert "reconcile" in result.stdout


def test_gunicorn_workers_killed_during_ledger_writes(stack):
    opening = 1_000_000
    data = stack.script("ledger-business", name="Kill gunicorn", customers=5, opening_balance=opening)
    server, base_url = stack.gunicorn(workers=3)
    load = LedgerLoad(base_url, data["key"], data["customers"], threads=4, writes=40).start()
    killed = 0
    for _ in range(4):
        before = len(load.applied)
        wait_until(lambda before=before: len(load.applied) > before + 10, 60, what="more writes")
        victims = children(server.pid)
        assert victims, "gunicorn has no workers"
        sigkill(random.choice(victims))
        killed += 1
    load.join()
    assert killed == 4
    assert server.log().count("Booting worker") >= 3 + killed  # the master replaced each one
    assert len(load.applied) == 4 * 40
    check_ledger(stack, load, opening)
    # And it serves as before.
    response = httpx.get(f"{base_url}/api/customers", headers={"Authorization": f"Bearer {data['key']}"})
    assert response.status_code == 200
    server.stop()


def test_postgres_restarted_during_ledger_writes(stack):
    opening = 1_000_000
    data = stack.script("ledger-business", name="Restart PostgreSQL", customers=5, opening_balance=opening)
    server, base_url = stack.gunicorn(workers=2)
    load = LedgerLoad(base_url, data["key"], data["customers"], threads=4, writes=40).start()
    wait_until(lambda: len(load.applied) >= 30, 60, what="writes before the restart")
    stack.postgres.stop("fast")  # open transactions are rolled back, every connection is cut
    time.sleep(2)  # the API is without its database for a while
    stack.postgres.start()
    load.join()
    assert load.retries > 0, "no request noticed the database was gone"
    assert len(load.applied) == 4 * 40
    check_ledger(stack, load, opening)
    # While the database was down the API answered 503 with the SDK's retry hint, never a 500.
    assert load.statuses[500] == 0, load.statuses
    assert "Internal Server Error" not in server.log()
    server.stop()


def invoices(stack: Stack, subscriptions: list[str]) -> int:
    query = "SELECT count(*) FROM metering_invoice WHERE subscription_id = ANY(%s)"
    return stack.postgres.query(query, (subscriptions,))[0][0]


def billing_checks(stack: Stack, business: str, subscriptions: list[str]) -> None:
    """One invoice per subscription-period, at most one wallet debit and one charge per payment,
    every subscription moved on once, and the wallets reconcile."""
    per_subscription = dict(
        stack.postgres.query(
            "SELECT subscription_id, count(*) FROM metering_invoice WHERE subscription_id = ANY(%s) "
            "GROUP BY subscription_id",
            (subscriptions,),
        )
    )
    assert per_subscription == dict.fromkeys(subscriptions, 1)
    [(payments, succeeded)] = stack.postgres.query(
        "SELECT count(*), count(*) FILTER (WHERE status = 'succeeded') FROM metering_payment "
        "WHERE subscription_id = ANY(%s)",
        (subscriptions,),
    )
    assert payments == succeeded == len(subscriptions)
    debits = stack.postgres.query(
        "SELECT customer_id, count(*) FROM wallets_ledgerentry WHERE business_id = %s AND NOT is_credit "
        "GROUP BY customer_id HAVING count(*) > 1",
        (business,),
    )
    assert debits == []
    charges = stack.postgres.query(
        "SELECT c.payment_id, count(*) FROM metering_gatewaycharge c JOIN metering_payment p "
        "ON p.id = c.payment_id WHERE p.subscription_id = ANY(%s) GROUP BY c.payment_id HAVING count(*) > 1",
        (subscriptions,),
    )
    assert charges == []
    periods = {
        row[0]
        for row in stack.postgres.query(
            "SELECT period_index FROM metering_subscription WHERE id = ANY(%s)", (subscriptions,)
        )
    }
    assert periods == {1}
    result = stack.reconcile()
    assert result.returncode == 0, result.stderr


def webhook_checks(stack: Stack, business: str, receiver: Receiver, kills: int) -> None:
    """Every event was delivered; an event is received twice only if its attempt was cut off by a
    kill (delivery is at least once, and a repeat carries the same ``webhook-id``)."""
    events = {
        row[0]
        for row in stack.postgres.query(
            "SELECT id FROM dodo_billing_webhookevent WHERE business_id = %s", (business,)
        )
    }
    assert events
    wait_until(
        lambda: (
            not stack.postgres.query(
                "SELECT 1 FROM dodo_billing_webhookdelivery d "
                "JOIN dodo_billing_webhookevent e ON e.id = d.event_id "
                "WHERE e.business_id = %s AND d.status <> 'succeeded'",
                (business,),
            )
        ),
        90,
        what="every webhook delivery to succeed",
    )
    [(deliveries,)] = stack.postgres.query(
        "SELECT count(*) FROM dodo_billing_webhookdelivery d JOIN dodo_billing_webhookevent e "
        "ON e.id = d.event_id WHERE e.business_id = %s",
        (business,),
    )
    assert deliveries == len(events)  # one delivery per event: nothing was written twice
    received = [r["headers"].get("webhook-id") for r in receiver.requests]
    received = [webhook_id for webhook_id in received if webhook_id in events]
    assert set(received) == events
    assert len(received) - len(events) <= kills


def recovered(stack: Stack, data: dict, receiver: Receiver, kills: int) -> None:
    """Wait until every period is billed, then run the billing and webhook checks."""
    subscriptions = data["subscriptions"]
    wait_until(lambda: invoices(stack, subscriptions) == len(subscriptions), 120, what="every period billed")
    billing_checks(stack, data["business"], subscriptions)
    webhook_checks(stack, data["business"], receiver, kills=kills)
    receiver.close()


def test_celery_worker_killed_during_billing_and_webhook_delivery(stack):
    receiver = Receiver(delay=0.02)  # slowish answers: a kill lands while a worker waits
    data = stack.script("billing-business", name="Kill worker", subscriptions=100, webhook_url=receiver.url)
    subscriptions = data["subscriptions"]
    first = stack.worker()
    beat = stack.beat()
    first.wait_for("Billed sub_", count=8, timeout=90)
    first.kill()
    billed = invoices(stack, subscriptions)
    assert 8 <= billed < len(subscriptions), billed
    second = stack.worker()
    second.wait_for("Webhook delivery", count=3, timeout=90)
    second.kill()  # this time in the middle of webhook deliveries
    third = stack.worker()
    recovered(stack, data, receiver, kills=2)
    for process in (third, beat):
        process.stop()


def test_redis_restarted_during_billing(stack):
    receiver = Receiver()
    data = stack.script("billing-business", name="Restart Redis", subscriptions=150, webhook_url=receiver.url)
    subscriptions = data["subscriptions"]
    worker = stack.worker()
    beat = stack.beat()
    worker.wait_for("Billed sub_", count=5, timeout=90)
    stack.redis.kill()  # every queued message is lost: Redis keeps nothing on disk
    assert invoices(stack, subscriptions) < len(subscriptions), "billing was over before the restart"
    time.sleep(2)
    stack.redis.start()
    recovered(stack, data, receiver, kills=0)
    for process in (worker, beat):
        process.stop()
