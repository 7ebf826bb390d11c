"""Cycle billing throughput: 10,000 subscriptions × 3 meters over 10 million events, two workers.

What it measures
----------------
On the 10-million-event data set of ``usage.py`` (50,000 customers, 20 event names, September to
November 2026; loaded once and reused), it creates ``--subscriptions`` usage-based subscriptions
(default 10,000) to one product with three meters — a filtered sum of tokens, a count of requests
and a max of tokens, each with a price per unit and a free threshold — all anchored on 1 October
2026 and running for one monthly period, so the one period they have (October, the data set's
middle month) has ended and is the only one that can ever be billed, whatever day the benchmark
runs (the subscriptions expire when it is billed). Half of the customers hold money in their USD
wallet; every customer has a sandbox test card.

Then two real Celery worker processes (``--pool=solo``, on Redis) bill them: the benchmark sends
the beat task ``bill_due_subscriptions`` once, which enqueues one ``bill_subscription_periods``
task per 25 subscription-periods, and measures the time until every period has its invoice. Each
period is the real billing transaction of its own: lock the subscription, one usage query for its
three meters, the invoice and its lines, included credits, the wallet debit, the sandbox charge,
the next period.

It also reads, from /proc, the CPU time the two workers and their PostgreSQL backends spent on the
first run (per subscription-period), and how busy the machine's CPUs were meanwhile from whatever
ran on them: the time depends on what else the machine is doing, the CPU per period much less.

Then the re-run: the beat task again (nothing is due any more) and, on top, every period's billing
message once more (as if every message were delivered twice); afterwards it checks
that nothing was billed twice — one invoice per subscription-period, at most one wallet debit per
customer, one gateway charge per payment, the ledger reconciles — and exits non-zero otherwise.

The raw PostgreSQL figure for the same work: the three meters' usage of every subscribed customer
for October computed by three set-based queries, and the invoices, lines and payments written by
``INSERT … SELECT`` into scratch tables, timed on the same database after a CHECKPOINT, three
times (the median is compared).

Target: **≤ 60 s** for the first run, and the re-run bills nothing twice.

How to run
----------
From the project root, with PostgreSQL and Redis reachable::

    .venv/bin/python benchmarks/usage.py --reuse     # once: builds the 10 M-event data set if needed
    .venv/bin/python benchmarks/billing.py           # bills 10,000 subscriptions with 2 workers
    .venv/bin/python benchmarks/billing.py --subscriptions 2000 --workers 2

The billing rows of an earlier run (products, subscriptions, invoices, payments, wallets, ledger)
are removed at the start, so runs repeat; the events and customers are kept.
"""

import argparse
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from decimal import Decimal

import common
import usage

ANCHOR = datetime(2026, 10, 1, tzinfo=UTC)
PERIOD_END = datetime(2026, 11, 1, tzinfo=UTC)
DEFAULT_BROKER = "redis://127.0.0.1:6379/9"
RAW_RUNS = 3
BILLING_TABLES = (
    "metering_gatewaycharge",
    "metering_refund",
    "metering_payment",
    "metering_invoiceline",
    "metering_invoice",
    "metering_subscriptionmeter",
    "metering_subscription",
    "metering_paymentmethod",
    "metering_productmeter",
    "metering_product",
    "wallets_ledgerentry",
    "wallets_wallet",
    "dodo_billing_webhookdeliveryattempt",
    "dodo_billing_webhookdelivery",
    "dodo_billing_webhookevent",
)
METER_SPECS = (
    # (name, event, aggregation, key, filter, price per unit, free threshold)
    ("GPT-4 tokens", "llm.tokens", "sum", "tokens", {"model": "gpt-4"}, "0.002", 1000),
    ("API requests", "api.request", "count", None, None, "0.5", 10),
    ("Largest completion", "llm.completion", "max", "tokens", None, "0.01", 0),
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscriptions", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2, help="Celery worker processes (default 2)")
    parser.add_argument(
        "--broker-url", default=DEFAULT_BROKER, help=f"Celery broker (default {DEFAULT_BROKER})"
    )
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument(
        "--database-url",
        default="postgres://postgres@127.0.0.1:5432/dodo_billing_usage_bench",
        help="the usage benchmark's database (its data set is loaded if missing)",
    )
    return parser.parse_args()


# --- set-up ---------------------------------------------------------------------------------------


def reset_billing(conn) -> None:
    """Remove every billing row of an earlier run; events and customers stay."""
    conn.execute("TRUNCATE " + ", ".join(BILLING_TABLES) + " CASCADE")
    conn.execute("DELETE FROM metering_meter WHERE name LIKE 'Billing bench %%'")


def create_catalog(business):
    from metering.services import meter_create
    from metering.services.billing import product_create

    meters = []
    for name, event, aggregation, key, equals, _, _ in METER_SPECS:
        meter_filter = None
        if equals:
            clauses = [{"key": k, "operator": "equals", "value": v} for k, v in equals.items()]
            meter_filter = {"conjunction": "and", "clauses": clauses}
        meters.append(
            meter_create(
                business=business,
                name=f"Billing bench {name}",
                event_name=event,
                measurement_unit="units",
                aggregation={"type": aggregation, **({"key": key} if key else {})},
                filter=meter_filter,
            )
        )
    product = product_create(
        business=business,
        name="Billing bench plan",
        price={
            "type": "usage_based_price",
            "currency": "USD",
            "fixed_price": 1000,
            "included_credits": 200,
            "payment_frequency_count": 1,
            "payment_frequency_interval": "Month",
            "subscription_period_count": 1,
            "subscription_period_interval": "Month",
            "meters": [
                {"meter_id": meter.id, "price_per_unit": spec[5], "free_threshold": spec[6]}
                for meter, spec in zip(meters, METER_SPECS, strict=True)
            ],
        },
    )
    return product


def create_subscriptions(conn, business, product, customer_ids: list[str]) -> float:
    """Payment methods and subscriptions as subscription_create would make them, written in bulk."""
    from django.db import transaction

    from metering.models import PaymentMethod, Subscription, SubscriptionMeter
    from metering.periods import period_bounds, shift

    started = time.monotonic()
    start, end = period_bounds(ANCHOR, "Month", 1, 0)
    priced = list(product.product_meters.all())
    with transaction.atomic():
        methods = PaymentMethod.objects.bulk_create(
            PaymentMethod(
                business=business,
                customer_id=customer_id,
                card_number="4242424242424242",
                card_last_four="4242",
                card_network="VISA",
            )
            for customer_id in customer_ids
        )
        subscriptions = Subscription.objects.bulk_create(
            Subscription(
                business=business,
                customer_id=method.customer_id,
                product=product,
                currency="USD",
                recurring_amount=product.fixed_price,
                included_credits=product.included_credits,
                payment_frequency_count=1,
                payment_frequency_interval="Month",
                subscription_period_count=1,
                subscription_period_interval="Month",
                billing_anchor=ANCHOR,
                previous_billing_date=start,
                next_billing_date=end,
                expires_at=shift(ANCHOR, "Month", 1),
                payment_method=method,
                billing={"country": "US"},
                created_at=ANCHOR,
                updated_at=ANCHOR,
            )
            for method in methods
        )
        SubscriptionMeter.objects.bulk_create(
            SubscriptionMeter(
                subscription=subscription,
                meter_id=p.meter_id,
                price_per_unit=p.price_per_unit,
                free_threshold=p.free_threshold,
                position=p.position,
            )
            for subscription in subscriptions
            for p in priced
        )
    return time.monotonic() - started


def fund_wallets(conn, customer_ids: list[str], rng: random.Random) -> float:
    """A USD wallet with 5.00–50.00 for every other customer: wallet, first ledger entry, balance —
    in the order the ledger triggers accept (the wallet moves to its newest entry)."""
    from dodo_billing.ids import new_public_id

    started = time.monotonic()
    funded = customer_ids[::2]
    amounts = [rng.randint(500, 5000) for _ in funded]
    with conn.transaction():
        conn.execute(
            "INSERT INTO wallets_wallet (customer_id, currency, balance, entry_count, created_at, updated_at) "
            "SELECT unnest(%s::text[]), 'USD', 0, 0, now(), now()",
            (funded,),
        )
        # The connection runs nothing else while its COPY is open: read what the rows need first.
        wallets = dict(
            conn.execute(
                "SELECT customer_id, id FROM wallets_wallet WHERE customer_id = ANY(%s)", (funded,)
            ).fetchall()
        )
        business_id = conn.execute(
            "SELECT business_id FROM customers_customer WHERE id = %s", (funded[0],)
        ).fetchone()[0]
        now = datetime.now(UTC)
        with conn.cursor().copy(
            "COPY wallets_ledgerentry (id, business_id, customer_id, wallet_id, currency, seq, amount, is_credit, "
            "before_balance, after_balance, event_type, reason, created_at) FROM STDIN"
        ) as copy:
            for customer_id, amount in zip(funded, amounts, strict=True):
                copy.write_row(
                    (
                        new_public_id("wle"),
                        business_id,
                        customer_id,
                        wallets[customer_id],
                        "USD",
                        1,
                        amount,
                        True,
                        0,
                        amount,
                        "merchant_adjustment",
                        "Billing bench top-up",
                        now,
                    )
                )
        conn.execute(
            "UPDATE wallets_wallet w SET balance = e.after_balance, entry_count = 1 "
            "FROM wallets_ledgerentry e WHERE e.wallet_id = w.id AND w.customer_id = ANY(%s)",
            (funded,),
        )
    return time.monotonic() - started


# --- the run ----------------------------------------------------------------------------------------


WORKER_APPLICATION_NAME = "billing-bench-worker"


def start_workers(count: int, url: str, broker: str) -> list[subprocess.Popen]:
    separator = "&" if "?" in url else "?"
    env = {
        **os.environ,
        # Named, so that the CPU time of the workers' PostgreSQL backends can be found.
        "DATABASE_URL": f"{url}{separator}application_name={WORKER_APPLICATION_NAME}",
        "CELERY_BROKER_URL": broker,
        "DEBUG": "0",
        "LOG_LEVEL": "WARNING",
        "DB_CONN_MAX_AGE": "600",
    }
    workers = []
    for index in range(count):
        log = open(f"/tmp/billing-bench-worker{index}.log", "w")  # noqa: SIM115 (closed with the process)
        workers.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "dodo_billing",
                    "worker",
                    "--pool=solo",
                    "--loglevel=WARNING",
                    "-n",
                    f"bench{index}@%h",
                    "--without-gossip",
                    "--without-mingle",
                ],
                cwd=common.PROJECT_ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
    return workers


def cpu_seconds(pids) -> float:
    """User + system CPU time of processes on this machine (Linux /proc), children not included."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def machine_busy_seconds() -> float:
    """CPU-seconds all cores spent not idle since boot (/proc/stat), whoever used them."""
    with open("/proc/stat") as stat:
        fields = [int(value) for value in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class BackendCpu:
    """CPU time of the workers' PostgreSQL backends over a run, sampled twice a second on a
    connection of its own: a backend that closes meanwhile (a worker reconnects now and then)
    keeps the CPU time of its last sample."""

    def __init__(self, url: str):
        import psycopg

        self._conn = psycopg.connect(url, autocommit=True)
        self._start = self._sample()
        self._latest = dict(self._start)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _sample(self) -> dict[int, float]:
        rows = self._conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (WORKER_APPLICATION_NAME,)
        )
        return {pid: cpu_seconds([pid]) for (pid,) in rows}

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self._latest.update(self._sample())

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        self._latest.update(self._sample())
        self._conn.close()
        return sum(cpu - self._start.get(pid, 0) for pid, cpu in self._latest.items())


def wait_ready(app, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        replies = app.control.ping(timeout=1.0) or []
        if len(replies) >= count:
            return
    raise SystemExit(f"only {len(replies)} of {count} workers answered within {timeout:.0f} s")


def queue_length(broker: str) -> int:
    """Messages waiting in every queue the workers consume (CELERY_TASK_QUEUES)."""
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(broker)
    return sum(client.llen(name) for name in settings.CELERY_TASK_QUEUES)


def wait_for_invoices(conn, expected: int, timeout: float = 1800) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if conn.execute("SELECT count(*) FROM metering_invoice").fetchone()[0] >= expected:
            return time.monotonic() - started
        time.sleep(0.1)
    raise SystemExit(f"not all {expected} periods billed within {timeout:.0f} s")


def wait_idle(app, broker: str, timeout: float = 600) -> None:
    """Until the queue is empty and no worker runs a task."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        active = app.control.inspect(timeout=1.0).active() or {}
        if queue_length(broker) == 0 and not any(active.values()):
            return
        time.sleep(0.2)
    raise SystemExit("the workers did not become idle")


# --- raw PostgreSQL figure --------------------------------------------------------------------------


RAW_USAGE = """
CREATE TEMP TABLE bench_usage AS
SELECT s.id AS subscription_id, s.customer_id,
       coalesce(u1.v, 0) AS tokens, coalesce(u2.v, 0) AS requests, coalesce(u3.v, 0) AS biggest
FROM metering_subscription s
LEFT JOIN (SELECT customer_id, sum((metadata->>'tokens')::numeric) AS v FROM metering_event
           WHERE business_id = %(b)s AND event_name = 'llm.tokens' AND "timestamp" >= %(s)s AND "timestamp" < %(e)s
             AND metadata->>'model' = 'gpt-4' AND jsonb_typeof(metadata->'tokens') = 'number'
           GROUP BY customer_id) u1 ON u1.customer_id = s.customer_id
LEFT JOIN (SELECT customer_id, count(*) AS v FROM metering_event
           WHERE business_id = %(b)s AND event_name = 'api.request' AND "timestamp" >= %(s)s AND "timestamp" < %(e)s
           GROUP BY customer_id) u2 ON u2.customer_id = s.customer_id
LEFT JOIN (SELECT customer_id, max((metadata->>'tokens')::numeric) AS v FROM metering_event
           WHERE business_id = %(b)s AND event_name = 'llm.completion' AND "timestamp" >= %(s)s AND "timestamp" < %(e)s
             AND jsonb_typeof(metadata->'tokens') = 'number'
           GROUP BY customer_id) u3 ON u3.customer_id = s.customer_id
"""
RAW_WRITES = """
CREATE TEMP TABLE bench_invoice AS
SELECT subscription_id, customer_id,
       1000 + round(greatest(tokens - 1000, 0) * 0.002) + round(greatest(requests - 10, 0) * 0.5)
            + round(biggest * 0.01) AS subtotal
FROM bench_usage;
CREATE TEMP TABLE bench_line AS
SELECT subscription_id, k, v FROM bench_usage, LATERAL (VALUES (1, tokens), (2, requests), (3, biggest)) AS t(k, v);
CREATE TEMP TABLE bench_payment AS SELECT subscription_id, greatest(subtotal - 200, 0) AS amount FROM bench_invoice;
"""


def raw_postgres(conn, business_id: str) -> float:
    started = time.monotonic()
    with conn.transaction():
        conn.execute(RAW_USAGE, {"b": business_id, "s": ANCHOR, "e": PERIOD_END})
        for statement in RAW_WRITES.split(";"):
            if statement.strip():
                conn.execute(statement)
        elapsed = time.monotonic() - started
        conn.execute("DROP TABLE bench_usage, bench_invoice, bench_line, bench_payment")
    return elapsed


# --- checks -------------------------------------------------------------------------------------------


def check(conn, expected: int) -> list[str]:
    from wallets.selectors import wallet_reconcile

    problems = []
    invoices = conn.execute(
        "SELECT count(*), count(DISTINCT (subscription_id, period_start)) FROM metering_invoice"
    ).fetchone()
    if invoices != (expected, expected):
        problems.append(f"invoices {invoices[0]} for {invoices[1]} subscription-periods, expected {expected}")
    doubled = conn.execute(
        "SELECT count(*) FROM (SELECT customer_id FROM wallets_ledgerentry WHERE NOT is_credit "
        "GROUP BY customer_id HAVING count(*) > 1) d"
    ).fetchone()[0]
    if doubled:
        problems.append(f"{doubled} customers debited more than once")
    charges = conn.execute(
        "SELECT count(*), count(DISTINCT payment_id) FROM metering_gatewaycharge"
    ).fetchone()
    if charges[0] != charges[1]:
        problems.append(f"{charges[0]} gateway charges for {charges[1]} payments")
    unbilled = conn.execute("SELECT count(*) FROM metering_subscription WHERE period_index <> 1").fetchone()[
        0
    ]
    if unbilled:
        problems.append(f"{unbilled} subscriptions not moved to their next period exactly once")
    problems += [str(problem) for problem in wallet_reconcile()[2]]
    return problems


def summary(conn) -> dict:
    row = conn.execute(
        "SELECT count(*), sum(subtotal), sum(credits_applied), sum(wallet_applied), sum(amount_due) FROM metering_invoice"
    ).fetchone()
    debits = conn.execute("SELECT count(*) FROM wallets_ledgerentry WHERE NOT is_credit").fetchone()[0]
    charges = conn.execute(
        "SELECT count(*), count(*) FILTER (WHERE outcome = 'succeeded') FROM metering_gatewaycharge"
    ).fetchone()
    lines = conn.execute("SELECT count(*) FROM metering_invoiceline").fetchone()[0]
    return {
        "invoices": row[0],
        "subtotal": row[1] or 0,
        "credits": row[2] or 0,
        "wallet": row[3] or 0,
        "due": row[4] or 0,
        "lines": lines,
        "debits": debits,
        "charges": charges[0],
        "charges_ok": charges[1],
    }


def main() -> int:
    args = parse_args()
    url = args.database_url
    os.environ["CELERY_BROKER_URL"] = args.broker_url
    common.announce_database(url)
    marker = usage.ensure_dataset(
        url, usage.DataSpec(10_000_000, 50_000, 1.0, usage.DEFAULT_SEED), reuse=True, seed=usage.DEFAULT_SEED
    )
    import psycopg

    from dodo_billing.celery import app
    from dodo_billing.models import Business
    from metering.tasks import PERIODS_PER_TASK, bill_due_subscriptions, enqueue_billing

    conn = psycopg.connect(url, autocommit=True)
    business = Business.objects.get(id=marker["business_id"])
    business.payment_gateway = "sandbox"
    business.save(update_fields=["payment_gateway"])
    reset_billing(conn)
    rng = random.Random(args.seed)
    customer_ids = [
        row[0]
        for row in conn.execute(
            "SELECT id FROM customers_customer WHERE business_id = %s ORDER BY id", (business.id,)
        )
    ]
    chosen = rng.sample(customer_ids, args.subscriptions)
    product = create_catalog(business)
    subscribe_seconds = create_subscriptions(conn, business, product, chosen)
    fund_seconds = fund_wallets(conn, chosen, rng)
    conn.execute("VACUUM ANALYZE metering_subscription")
    conn.execute("VACUUM ANALYZE wallets_wallet")
    events = conn.execute(
        'SELECT count(*) FROM metering_event WHERE customer_id = ANY(%s) AND "timestamp" >= %s AND "timestamp" < %s',
        (chosen, ANCHOR, PERIOD_END),
    ).fetchone()[0]
    print(
        f"Set-up: {args.subscriptions:,} subscriptions × {len(METER_SPECS)} meters ({subscribe_seconds:.1f} s), "
        f"{len(chosen[::2]):,} funded wallets ({fund_seconds:.1f} s); their customers sent {events:,} events "
        f"in the billed period (October 2026) out of {marker['events']:,}"
    )
    context = common.postgres_settings(
        conn, ("server_version", "synchronous_commit", "fsync", "shared_buffers", "work_mem")
    )
    load_before = common.load_average()
    common.print_machine(
        context,
        f"   load average {load_before}",
        f"workers: {args.workers} × celery --pool=solo on {args.broker_url}, "
        f"{PERIODS_PER_TASK} subscription-periods per task message",
    )
    print()

    app.conf.broker_url = args.broker_url
    app.control.purge()
    workers = start_workers(args.workers, url, args.broker_url)
    try:
        wait_ready(app, args.workers)
        worker_pids = [worker.pid for worker in workers]
        workers_cpu_before, busy_before = cpu_seconds(worker_pids), machine_busy_seconds()
        backends = BackendCpu(url)
        bill_due_subscriptions.delay()
        first = wait_for_invoices(conn, args.subscriptions)
        workers_cpu = cpu_seconds(worker_pids) - workers_cpu_before
        postgres_cpu = backends.stop()
        machine_busy = (machine_busy_seconds() - busy_before) / (first * common.cpu_count())
        load_after = common.load_average()
        first_summary = summary(conn)
        print(
            f"First run:  {args.subscriptions:,} subscription-periods billed in {first:.1f} s "
            f"({args.subscriptions / first:,.0f}/s); {first_summary['lines']:,} invoice lines, "
            f"{first_summary['debits']:,} wallet debits, {first_summary['charges']:,} gateway charges"
        )
        per_period = 1000 / args.subscriptions
        print(
            f"  CPU per subscription-period: workers {workers_cpu * per_period:.1f} ms, their PostgreSQL "
            f"backends {postgres_cpu * per_period:.1f} ms; the machine's CPUs were busy {machine_busy:.0%} "
            f"of the time (all processes, this run's and any other); load average at the end {load_after}"
        )
        wait_idle(app, args.broker_url)
        rerun_started = time.monotonic()
        bill_due_subscriptions.delay()
        rows = conn.execute("SELECT id FROM metering_subscription ORDER BY id").fetchall()
        # Every period of the first run delivered once more, in messages as the beat task sends them.
        messages = enqueue_billing([(subscription_id, ANCHOR) for (subscription_id,) in rows])
        wait_idle(app, args.broker_url)
        rerun = time.monotonic() - rerun_started
        second_summary = summary(conn)
        print(
            f"Re-run:     beat task again + {len(rows):,} periods delivered again ({messages:,} task messages) "
            f"in {rerun:.1f} s: "
            f"{second_summary['invoices'] - first_summary['invoices']} new invoices, "
            f"{second_summary['debits'] - first_summary['debits']} new debits, "
            f"{second_summary['charges'] - first_summary['charges']} new charges"
        )
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()

    conn.execute("CHECKPOINT")  # the run's dirty pages are written now, not during the timing
    raws = [raw_postgres(conn, business.id) for _ in range(RAW_RUNS)]
    raw = statistics.median(raws)
    print(
        f"Raw PostgreSQL, the same work set-based (usage of all {args.subscriptions:,} customers, "
        f"invoices, lines, payments into scratch tables), {RAW_RUNS} runs: "
        f"{', '.join(f'{seconds:.1f}' for seconds in raws)} s, median {raw:.1f} s; "
        f"the first run took {first / raw:.1f}× as long"
    )
    problems = check(conn, args.subscriptions)
    if second_summary != first_summary:
        problems.append(f"the re-run changed the totals: {first_summary} → {second_summary}")
    money = first_summary
    print(
        f"Money: subtotal {Decimal(money['subtotal']) / 100:,.2f} USD = included credits "
        f"{Decimal(money['credits']) / 100:,.2f} + wallets {Decimal(money['wallet']) / 100:,.2f} "
        f"+ cards {Decimal(money['due']) / 100:,.2f}; {money['charges_ok']:,} of {money['charges']:,} charges succeeded"
    )
    verdict = "PASS" if first <= 60 and not problems else "FAIL"
    print()
    print(f"Target: ≤ 60 s for the first run and nothing billed twice: {first:.1f} s → {verdict}")
    common.print_failures("Checks failed", problems)
    if not problems:
        print(
            "Checks: one invoice per subscription-period, at most one wallet debit per customer, one charge "
            "per payment, every subscription moved on once, the ledger reconciles"
        )
    rate = args.subscriptions / first
    new = {key: second_summary[key] - first_summary[key] for key in ("invoices", "debits", "charges")}
    snippet = common.markdown_section(
        "Cycle billing",
        "billing.py",
        "| Run | Subscription-periods | Seconds | Per second | × raw PostgreSQL | Invoices | Wallet debits | Charges |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        [
            (
                "first run",
                f"{args.subscriptions:,}",
                f"{first:.1f}",
                f"{rate:,.0f}",
                f"{first / raw:.1f}×",
                f"{first_summary['invoices']:,}",
                f"{first_summary['debits']:,}",
                f"{first_summary['charges']:,}",
            ),
            (
                "re-run (beat again + every task twice)",
                f"{new['invoices']:,} new",
                f"{rerun:.1f}",
                "—",
                "—",
                f"+{new['invoices']}",
                f"+{new['debits']}",
                f"+{new['charges']}",
            ),
            (
                f"raw PostgreSQL, set-based (median of {RAW_RUNS})",
                f"{args.subscriptions:,}",
                f"{raw:.1f}",
                f"{args.subscriptions / raw:,.0f}",
                "1.0×",
                "—",
                "—",
                "—",
            ),
        ],
        f"{args.workers} Celery worker processes (solo pool) on Redis; {len(METER_SPECS)} meters per subscription "
        f"over {marker['events']:,} events; {events:,} events of the subscribed customers in the billed month. "
        f"CPU per subscription-period: workers {workers_cpu * per_period:.1f} ms, PostgreSQL "
        f"{postgres_cpu * per_period:.1f} ms; CPUs busy {machine_busy:.0%} during the first run, load average "
        f"{load_before} before and {load_after} after.",
        f"Target (≤ 60 s, nothing billed twice): **{verdict}**",
    )
    common.print_markdown(snippet)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
