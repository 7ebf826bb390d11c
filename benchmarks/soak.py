"""Soak: mixed traffic for a long stretch at half the measured capacity, then a clean bill of health.

What it does
------------
1. A fresh database (``--database-url``, DROPPED and recreated) with one business on the sandbox
   gateway, an API key, ``--customers`` customers with a card and 1,000,000.00 USD in their wallet,
   three meters, a usage-priced product with daily periods, a webhook endpoint (a receiver in this
   process answers 200), and one subscription per customer whose first period ends at a moment
   spread evenly over the soak, so that billing runs all along.
2. gunicorn (``--workers`` sync workers), two Celery workers (solo pool) and Celery beat on Redis
   (``--broker-url``), with the billing sweep every 10 s and the webhook sweep every 10 s.
3. Capacity: ``--clients`` client threads send the traffic mix as fast as they can for
   ``--capacity-seconds``; capacity is what they completed per second.
4. Soak: the same mix, open loop, at ``--fraction`` of that capacity for ``--minutes``. The mix:
   30% ledger writes (credits and debits with idempotency keys), 30% event ingestion (batches of
   10 events), 40% reads (a customer, its wallets, its ledger, its events).
5. It reports throughput, p50/p99 latency per kind of request, every non-2xx answer (target: zero
   5xx), the memory (RSS) of every process — gunicorn master and workers, Celery workers and beat,
   the PostgreSQL backends — after the first minute and at the end, billing done during the soak,
   and then checks: every period that ended is billed exactly once, every webhook delivered, and
   ``wallet_reconcile()`` finds nothing.

Run from the project root (PostgreSQL and Redis on 127.0.0.1)::

    .venv/bin/python benchmarks/soak.py                 # 10 minutes at half capacity
    .venv/bin/python benchmarks/soak.py --minutes 1     # a short check of the script itself
"""

import argparse
import json
import multiprocessing
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from datetime import timedelta
from pathlib import Path

import common

sys.path.insert(0, str(common.PROJECT_ROOT))
from tests.stack import Receiver, children

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/dodo_billing_soak_bench"
KINDS = ("ledger write", "ingest (10 events)", "read")
MIX = (0.3, 0.3, 0.4)


# --- Set-up (this process, Django on the benchmark database) ----------------------------------------


def set_up(customers: int, webhook_url: str) -> dict:
    from customers.services import customer_create
    from dodo_billing.services import api_key_create, business_get_or_create
    from dodo_billing.webhooks.endpoints import webhook_endpoint_create
    from metering.services import meter_create
    from metering.services.billing import payment_method_create, product_create
    from wallets.services import wallet_credit

    business, _ = business_get_or_create(name="Soak")
    business.payment_gateway = "sandbox"
    business.save(update_fields=["payment_gateway"])
    _, key = api_key_create(business=business, name="soak")
    webhook_endpoint_create(business=business, url=webhook_url)
    meters = [
        meter_create(
            business=business,
            name="Tokens",
            event_name="llm.tokens",
            measurement_unit="tokens",
            aggregation={"type": "sum", "key": "tokens"},
        ),
        meter_create(
            business=business,
            name="Requests",
            event_name="api.request",
            measurement_unit="calls",
            aggregation={"type": "count"},
        ),
        meter_create(
            business=business,
            name="Peak tokens",
            event_name="llm.tokens",
            measurement_unit="tokens",
            aggregation={"type": "max", "key": "tokens"},
        ),
    ]
    product = product_create(
        business=business,
        name="Daily usage",
        price={
            "type": "usage_based_price",
            "currency": "USD",
            "fixed_price": 100,
            "payment_frequency_count": 1,
            "payment_frequency_interval": "Day",
            "subscription_period_count": 1,
            "subscription_period_interval": "Year",
            "meters": [
                {"meter_id": meters[0].id, "price_per_unit": "0.01", "free_threshold": 1000},
                {"meter_id": meters[1].id, "price_per_unit": "1", "free_threshold": 10},
                {"meter_id": meters[2].id, "price_per_unit": "0.5", "free_threshold": 100},
            ],
        },
    )
    ids = []
    for n in range(customers):
        customer = customer_create(business=business, name=f"Soak {n}", email=f"soak{n}@example.com")
        wallet_credit(customer=customer, currency="USD", amount=100_000_000)
        payment_method_create(customer=customer, card_number="4242424242424242")
        ids.append(customer.id)
    return {"business": business.id, "key": key, "customers": ids, "product": product.id}


def subscribe(data: dict, first_due: float, last_due: float) -> None:
    """One subscription per customer, its first (one-day) period ending ``first_due`` to
    ``last_due`` seconds from now, evenly spread: billing runs all through the soak."""
    from django.utils import timezone

    from customers.models import Customer
    from metering.models import PaymentMethod, Product
    from metering.services.billing import subscription_create

    product = Product.objects.get(pk=data["product"])
    cards = dict(PaymentMethod.objects.filter(business_id=data["business"]).values_list("customer_id", "pk"))
    customers = Customer.objects.in_bulk(data["customers"])
    now = timezone.now()
    count = len(data["customers"])
    for n, customer_id in enumerate(data["customers"]):
        ends = now + timedelta(seconds=first_due + (last_due - first_due) * n / max(count - 1, 1))
        subscription_create(
            business=product.business,
            customer=customers[customer_id],
            product=product,
            payment_method=PaymentMethod.objects.get(pk=cards[customer_id]),
            billing={"country": "US"},
            now=ends - timedelta(days=1),
        )


# --- Traffic (spawned client processes, standard library only) -------------------------------------


def one_request(conn_factory, key: str, customers: list[str], rng: random.Random) -> tuple[int, int]:
    """Send one request of the mix; return (kind index, HTTP status)."""
    customer = rng.choice(customers)
    roll = rng.random()
    if roll < MIX[0]:
        kind = 0
        credit = rng.random() < 0.5
        body = {
            "amount": rng.randint(1, 5_000),
            "currency": "USD",
            "entry_type": "credit" if credit else "debit",
            "idempotency_key": uuid.uuid4().hex,
            "reason": "soak",
        }
        method, path = "POST", f"/api/customers/{customer}/wallets/ledger-entries"
    elif roll < MIX[0] + MIX[1]:
        kind = 1
        events = []
        for _ in range(10):
            if rng.random() < 0.5:
                events.append({"event_name": "api.request", "metadata": {"route": "/v1/chat"}})
            else:
                events.append({"event_name": "llm.tokens", "metadata": {"tokens": rng.randint(1, 4000)}})
        for event in events:
            event.update(event_id=uuid.uuid4().hex, customer_id=customer)
        body = {"events": events}
        method, path = "POST", "/api/events/ingest"
    else:
        kind = 2
        body = None
        method, path = (
            "GET",
            rng.choice(
                [
                    f"/api/customers/{customer}",
                    f"/api/customers/{customer}/wallets",
                    f"/api/customers/{customer}/wallets/ledger-entries?page_size=10",
                    f"/api/events?customer_id={customer}&page_size=10",
                ]
            ),
        )
    conn = conn_factory()
    try:
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        response = conn.getresponse()
        response.read()
        return kind, response.status
    finally:
        conn.close()


def client_process(
    port: int, key: str, customers: list[str], threads: int, rate: float, seconds: float, seed: int, results
):
    """``threads`` client threads for ``seconds``: closed loop when ``rate`` is 0, else each thread
    sends on a fixed schedule of ``rate / threads`` requests per second (open loop)."""
    import http.client

    latencies = defaultdict(list)
    statuses = Counter()
    lock = threading.Lock()
    start = time.monotonic() + 0.5
    end = start + seconds

    def run(index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        interval = threads / rate if rate else 0.0
        due = start + rng.random() * interval
        mine = defaultdict(list)
        counts = Counter()
        while True:
            now = time.monotonic()
            if rate:
                if due > now:
                    time.sleep(due - now)
                due += interval
            if time.monotonic() >= end:
                break
            sent = time.monotonic()
            try:
                kind, status = one_request(
                    lambda: http.client.HTTPConnection("127.0.0.1", port, timeout=30), key, customers, rng
                )
            except OSError as exc:
                kind, status = 2, type(exc).__name__
            mine[kind].append(time.monotonic() - sent)
            counts[(kind, status)] += 1
        with lock:
            for kind, values in mine.items():
                latencies[kind].extend(values)
            statuses.update(counts)

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    results.put((dict(latencies), statuses))


def drive(port: int, key: str, customers: list[str], procs: int, threads: int, rate: float, seconds: float):
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    per_proc_rate = rate / procs if rate else 0.0
    processes = [
        context.Process(
            target=client_process, args=(port, key, customers, threads, per_proc_rate, seconds, n, results)
        )
        for n in range(procs)
    ]
    for process in processes:
        process.start()
    latencies = defaultdict(list)
    statuses = Counter()
    for _ in processes:
        got_latencies, got_statuses = results.get(timeout=seconds + 120)
        for kind, values in got_latencies.items():
            latencies[kind].extend(values)
        statuses.update(got_statuses)
    for process in processes:
        process.join()
    return latencies, statuses


# --- Processes and memory -----------------------------------------------------------------------------


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def backend_pids(connection) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return [row[0] for row in cursor.fetchall()]


def memory_snapshot(named: dict[str, int], connection) -> dict[str, float]:
    snapshot = {name: rss_mb(pid) or 0.0 for name, pid in named.items()}
    snapshot["PostgreSQL backends (sum)"] = sum(rss_mb(pid) or 0.0 for pid in backend_pids(connection))
    return snapshot


def start_celery(args, run_dir: Path, log) -> list[subprocess.Popen]:
    """Two Celery workers (solo pool) and beat; billing and webhook sweeps every 10 s."""
    env = {
        **os.environ,
        "DATABASE_URL": args.database_url,
        "CELERY_BROKER_URL": args.broker_url,
        "DODO_RUN_DIR": str(run_dir),
        "DEBUG": "0",
        "LOG_LEVEL": "WARNING",
        "BILLING_SWEEP_SECONDS": "10",
        "WEBHOOK_SWEEP_SECONDS": "10",
        "WEBHOOK_ALLOW_PRIVATE_TARGETS": "1",  # the receiver listens on 127.0.0.1
    }
    celery = [sys.executable, "-m", "celery", "-A", "dodo_billing"]
    subprocess.run(
        [*celery, "purge", "-f"], cwd=common.PROJECT_ROOT, env=env, capture_output=True, check=False
    )
    commands = [[*celery, "worker", "--pool=solo", "-n", f"soak{n}@%h", "--loglevel=WARNING"] for n in (1, 2)]
    commands.append([*celery, "beat", "--loglevel=WARNING", "-s", str(run_dir / "beat")])
    return [
        subprocess.Popen(command, cwd=common.PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        for command in commands
    ]


def soak(args, data: dict, celery: list[subprocess.Popen]) -> dict:
    """Capacity, then the soak at a fraction of it, under gunicorn; returns what was measured."""
    from django.db import connection

    from metering.models import Invoice

    config = common.ServerConfig(args.workers, "sync", 1)
    threads = max(1, args.clients // args.client_procs)
    procs = args.client_procs
    seconds = args.minutes * 60
    with common.gunicorn(config, args.database_url, "soak-gunicorn-") as (server, port, log_path):
        common.wait_until_serving(server, port, data["key"], "/api/customers?page_size=1", log_path)
        _, statuses = drive(port, data["key"], data["customers"], procs, threads, 0, args.capacity_seconds)
        capacity = sum(statuses.values()) / args.capacity_seconds
        rate = capacity * args.fraction
        print(f"Capacity: {capacity:.0f} requests/s with {procs * threads} clients in a closed loop")
        print(f"          (answers: {dict(Counter(status for (_, status) in statuses.elements()))})")
        began = time.monotonic()
        subscribe(data, 20, seconds - 20)
        print(f"Subscribed every customer in {time.monotonic() - began:.0f} s (periods end during the soak)")
        print(f"Soak: {rate:.0f} requests/s for {args.minutes:g} minutes, open loop")

        named = {"gunicorn master": server.pid}
        named.update({f"gunicorn worker {i}": pid for i, pid in enumerate(children(server.pid), 1)})
        named.update({f"celery worker {i}": process.pid for i, process in enumerate(celery[:-1], 1)})
        named["celery beat"] = celery[-1].pid
        samples: list[tuple[float, dict]] = []
        backlogs: list[tuple[float, int, int]] = []
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(10):
                samples.append((time.monotonic(), memory_snapshot(named, connection)))
                backlogs.append((time.monotonic(), *backlog(data["business"])))
            connection.close()

        sampler = threading.Thread(target=sample, daemon=True)
        billed_before = Invoice.objects.count()
        started = time.monotonic()
        sampler.start()
        latencies, statuses = drive(port, data["key"], data["customers"], procs, threads, rate, seconds)
        ended = time.monotonic()
        stop.set()
        sampler.join()
        return {
            "capacity": capacity,
            "rate": rate,
            "latencies": latencies,
            "statuses": statuses,
            "seconds": ended - started,
            "started": started,
            "samples": samples,
            "backlogs": backlogs,
            "final_memory": memory_snapshot(named, connection),
            "billed_during": Invoice.objects.count() - billed_before,
        }


def backlog(business: str) -> tuple[int, int]:
    """(periods that have ended and are not billed, webhook deliveries not yet succeeded)."""
    from django.utils import timezone

    from dodo_billing.models import WebhookDelivery
    from metering.models import Subscription

    unbilled = Subscription.objects.filter(
        business_id=business, period_index=0, next_billing_date__lte=timezone.now()
    ).count()
    return unbilled, WebhookDelivery.objects.exclude(status="succeeded").count()


def drain(business: str, timeout: float = 900) -> tuple[float, int, int]:
    """After the traffic: let the workers finish the billing and webhooks queued by then.
    Returns (seconds it took, periods still unbilled, deliveries still pending)."""
    started = time.monotonic()
    while True:
        unbilled, undelivered = backlog(business)
        if not (unbilled or undelivered) or time.monotonic() - started > timeout:
            return time.monotonic() - started, unbilled, undelivered
        time.sleep(2)


def report(data: dict, measured: dict, drained: tuple[float, int, int], receiver: Receiver) -> bool:
    from metering.models import Invoice, Payment, Subscription
    from wallets.selectors import wallet_reconcile

    seconds = measured["seconds"]
    statuses = measured["statuses"]
    latencies = measured["latencies"]
    total = sum(statuses.values())
    print()
    print(f"Soak: {total} requests in {seconds:.0f} s = {total / seconds:.1f} per second")
    print()
    print("| Request | Count | Per second | p50 ms | p99 ms |")
    print("|---|---:|---:|---:|---:|")
    rows = [(name, latencies.get(kind, [])) for kind, name in enumerate(KINDS)]
    rows.append(("all", [value for values in latencies.values() for value in values]))
    for name, values in rows:
        print(
            f"| {name} | {len(values)} | {len(values) / seconds:.1f} | "
            f"{common.percentile_ms(values, 50):.1f} | {common.percentile_ms(values, 99):.1f} |"
        )
    others = {
        f"{KINDS[kind]}: {status}": n for (kind, status), n in statuses.items() if status not in (200, 201)
    }
    five_xx = sum(n for (_, status), n in statuses.items() if not isinstance(status, int) or status >= 500)
    print()
    print(f"Answers other than 200/201: {others or 'none'}; 5xx or no answer: {five_xx}")

    samples = measured["samples"]
    final = measured["final_memory"]
    after_a_minute = next(
        (snapshot for moment, snapshot in samples if moment - measured["started"] >= 60),
        samples[0][1] if samples else final,
    )
    minutes = samples[5::6]  # one sample a minute (every 10 s), from the first minute on
    if len(minutes) > 1:
        print()
        print("RSS (MB) each minute:")
        for name in final:
            print(f"  {name}: " + " ".join(f"{snapshot.get(name, 0.0):.0f}" for _, snapshot in minutes))
    print()
    print("| Process | RSS after 1 min (MB) | RSS at the end (MB) | Growth (MB) |")
    print("|---|---:|---:|---:|")
    for name, end in final.items():
        begin = after_a_minute.get(name, 0.0)
        print(f"| {name} | {begin:.1f} | {end:.1f} | {end - begin:+.1f} |")

    drain_seconds, unbilled, undelivered = drained
    backlogs = measured["backlogs"]
    print()
    print("Backlog during the soak, each minute (ended periods not yet billed / webhook deliveries pending):")
    print(
        "  "
        + ", ".join(
            f"{(moment - measured['started']) / 60:.0f} min: {periods}/{hooks}"
            for moment, periods, hooks in backlogs[5::6]
        )
    )
    if backlogs:
        print(
            f"  largest: {max(b[1] for b in backlogs)} periods / {max(b[2] for b in backlogs)} deliveries; "
            f"drained {drain_seconds:.0f} s after the traffic stopped"
        )
    business = data["business"]
    per_subscription = Counter(
        Invoice.objects.filter(business_id=business).values_list("subscription_id", flat=True)
    )
    twice = sum(1 for n in per_subscription.values() if n > 1)
    ended = unbilled + Subscription.objects.filter(business_id=business, period_index__gte=1).count()
    payments = Payment.objects.filter(business_id=business, subscription__isnull=False)
    failed_payments = payments.exclude(status="succeeded").count()
    _, entries, problems = wallet_reconcile()
    print()
    print(
        f"Billing: {measured['billed_during']} periods billed during the soak; {ended} periods had "
        f"ended by the end, {unbilled} left unbilled, {twice} billed twice; {payments.count()} payments, "
        f"{failed_payments} not succeeded."
    )
    print(f"Webhooks: {len(receiver.requests)} received; {undelivered} deliveries not succeeded.")
    print(f"wallet_reconcile: {entries} entries, {'clean' if not problems else problems[:5]}")
    print(f"Load average after: {common.load_average()}")
    ok = five_xx == 0 and not problems and not unbilled and not twice and not undelivered
    print(
        f"Result: {'PASS' if ok else 'FAIL'} (zero 5xx, every ended period billed exactly once, "
        "every webhook delivered, reconcile clean)"
    )
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the soak (default 10)")
    parser.add_argument("--fraction", type=float, default=0.5, help="share of the capacity (default 0.5)")
    parser.add_argument("--capacity-seconds", type=float, default=30.0, help="capacity run (default 30)")
    parser.add_argument("--customers", type=int, default=1000, help="customers and subscriptions (1000)")
    parser.add_argument("--clients", type=int, default=8, help="client threads in all (default 8)")
    common.add_client_procs_option(parser)
    parser.add_argument("--workers", type=int, default=3, help="gunicorn sync workers (default 3)")
    parser.add_argument("--broker-url", default="redis://127.0.0.1:6379/8", help="Celery broker (Redis db 8)")
    common.add_database_options(parser, DEFAULT_DATABASE_URL)
    args = parser.parse_args()

    common.announce_database(args.database_url)
    print(f"Load average before: {common.load_average()}")
    run_dir = Path(tempfile.mkdtemp(prefix="dodo-soak-"))
    # This process enqueues too (set-up, on commit): on the same broker as the workers.
    os.environ.update(
        CELERY_BROKER_URL=args.broker_url, DODO_RUN_DIR=str(run_dir), WEBHOOK_ALLOW_PRIVATE_TARGETS="1"
    )
    common.fresh_database(args.database_url)
    from django.db import connection

    receiver = Receiver()
    began = time.monotonic()
    data = set_up(args.customers, receiver.url)
    print(f"Set up {args.customers} customers in {time.monotonic() - began:.0f} s")
    log = open(run_dir / "celery.log", "w")  # noqa: SIM115 (closed below)
    celery = start_celery(args, run_dir, log)
    try:
        measured = soak(args, data, celery)
        drained = drain(data["business"])
    finally:
        for process in celery:
            process.terminate()
        for process in celery:
            process.wait(timeout=30)
        log.close()
    celery_log = (run_dir / "celery.log").read_text()
    if "ERROR" in celery_log or "Traceback" in celery_log:
        print(f"\nCelery log (last 2,000 characters):\n{celery_log[-2000:]}")
    ok = report(data, measured, drained, receiver)
    connection.close()
    common.keep_or_drop_database(args.database_url, args.keep_db)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
