"""Ledger write throughput: the HTTP API against the same write done as raw SQL.

What it measures
----------------
Every wallet debit is one transaction: lock the wallet row (SELECT … FOR UPDATE), append the
ledger entry that continues the wallet's chain, move the wallet's balance, commit. Writes to one
wallet therefore serialize on its row lock. This script measures how many such entries per second
the whole stack (gunicorn → Django/DRF → PostgreSQL) achieves, and compares it with the same
three statements sent straight to PostgreSQL by psycopg, on the same database, with the same
concurrency and duration. The ledger triggers of ``wallets/migrations/0002`` run in both paths.

Two scenarios, each run once over HTTP and once as raw SQL (HTTP first):

* ``hot wallet``  – every request debits the USD wallet of ONE customer (worst case: all writers
  queue on one row lock, so the time the lock is held bounds the rate);
* ``spread``      – each request debits a random one of 1,000 customers' USD wallets (the lock
  rarely conflicts; the rate is bounded by CPU and commit latency).

Each hot-wallet run uses a wallet of its own, and every run starts after VACUUM and CHECKPOINT, so
that no run inherits the dead row versions or the pending checkpoint of the one before. A short
untimed HTTP warm-up first lets every gunicorn worker open its database connection.

For each run it reports requests sent, successes, failures by status, entries/s, and p50/p99
latency; then a comparison table, PASS/FAIL for the target "HTTP on one hot wallet reaches at
least 25% of the raw-SQL rate measured in the same run", a Markdown snippet for
docs/benchmarks.md, and the result of the ledger invariant checks (``wallet_reconcile`` plus exact
entry counts and balances). The exit status is non-zero when an invariant is violated.

How to run
----------
From the project root, with PostgreSQL reachable (the database named in ``--database-url`` is
DROPPED and recreated; it must not hold anything you need)::

    .venv/bin/python benchmarks/ledger.py                  # 15 s per run, 16 clients
    .venv/bin/python benchmarks/ledger.py --seconds 10 --clients 32
    .venv/bin/python benchmarks/ledger.py --worker-class gthread --workers 2 --threads 4 --keep-db

Setup goes through the project's own services (business, API key, 1,000 customers with their
wallets, a starting credit per USD wallet). The server is ``gunicorn dodo_billing.wsgi`` on a free
local port, stopped at the end in every case. The load generator uses a few client processes, each
running threads with one persistent connection per client – http.client with keep-alive (sync
workers close it after each response and the client reconnects), or psycopg – so that it takes
little CPU from the server and the database on a small machine. Latency is measured per request,
from sending it to reading the whole answer.

Server configuration: by default 2 × CPUs gunicorn *sync* workers. The HTTP path is CPU-bound
(Python), so more concurrency inside gunicorn does not add throughput on a small machine; and with
several threads per worker the request that holds a wallet's row lock competes for its worker's
GIL with the others, which stretches the time the lock is held and lowers the hot-wallet rate
(measured on 2 cores: 4 × 1 sync ≈ 4 × 1 gthread ≈ 180/s, 2 workers × 4 gthread threads ≈ 110/s).
``--worker-class gthread --threads N`` tries other set-ups; every option is printed with the results.

The benchmark database is dropped at the end unless ``--keep-db`` is given (or an invariant check
failed, so that it can be inspected).
"""

import argparse
import http.client
import json
import math
import multiprocessing
import random
import string
import sys
import time
from collections import Counter
from dataclasses import dataclass, field

import common

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/dodo_billing_bench"
CUSTOMER_COUNT = 1000
STARTING_BALANCE = 10**12  # minor units per USD wallet: far more than any run can debit
BUSINESS_NAME = "Ledger benchmark"
TARGET_RATIO = 0.25
ALPHANUMERICS = string.ascii_letters + string.digits
POSTGRES_SETTINGS = ("server_version", "synchronous_commit", "fsync", "wal_sync_method", "shared_buffers")
DEBIT_BODY = json.dumps({"amount": 1, "currency": "USD", "entry_type": "debit"}).encode()

SQL_LOCK = (
    "SELECT id, balance, entry_count FROM wallets_wallet "
    "WHERE customer_id = %s AND currency = 'USD' FOR UPDATE"
)
SQL_INSERT = (
    "INSERT INTO wallets_ledgerentry (id, business_id, customer_id, wallet_id, currency, seq, amount, "
    "is_credit, before_balance, after_balance, event_type, reason, reference_object_id, "
    "idempotency_key, request_hash, created_at) "
    "VALUES (%s, %s, %s, %s, 'USD', %s, 1, false, %s, %s, 'merchant_adjustment', "
    "NULL, NULL, NULL, NULL, now())"
)
SQL_UPDATE = "UPDATE wallets_wallet SET balance = %s, entry_count = %s, updated_at = now() WHERE id = %s"


# --- Load generation (runs in spawned client processes; standard library + psycopg only) -----------


@dataclass(frozen=True)
class LoadSpec:
    """What one run does; pickled to every client process."""

    kind: str  # "http" or "sql"
    customer_ids: tuple[str, ...]  # one id = hot wallet; many = spread at random
    host: str = ""
    port: int = 0
    secret: str = ""
    database_url: str = ""
    business_id: str = ""
    timeout: float = 60.0


@dataclass
class LoadResult(common.ClientResult):
    """Figures of one client thread, or several merged."""

    sent: int = 0
    ok: int = 0
    uncertain: int = 0  # transport/commit errors: the write may or may not have happened
    debits: Counter = field(default_factory=Counter)  # customer id -> successful debits

    def merge(self, other: "LoadResult") -> None:
        super().merge(other)
        self.sent += other.sent
        self.ok += other.ok
        self.uncertain += other.uncertain
        self.debits.update(other.debits)


def _pick(rng: random.Random, items: tuple[str, ...]) -> str:
    return items[0] if len(items) == 1 else items[rng.randrange(len(items))]


def _http_client(spec: LoadSpec, rng, barrier, go, deadline, result: LoadResult) -> None:
    conn = http.client.HTTPConnection(spec.host, spec.port, timeout=spec.timeout)
    conn.connect()
    headers = common.api_headers(spec.secret)
    paths = {cid: f"/api/customers/{cid}/wallets/ledger-entries" for cid in spec.customer_ids}

    def debit_until_deadline() -> None:
        end_at = deadline.value
        perf = time.perf_counter
        while time.time() < end_at:
            customer_id = _pick(rng, spec.customer_ids)
            result.sent += 1
            started = perf()
            try:
                conn.request("POST", paths[customer_id], body=DEBIT_BODY, headers=headers)
                response = conn.getresponse()
                response.read()
            except (OSError, http.client.HTTPException) as exc:
                result.failures[type(exc).__name__] += 1
                result.uncertain += 1
                conn.close()  # the next request reconnects
                continue
            result.latencies.append(perf() - started)
            if response.status == 200:
                result.ok += 1
                result.debits[customer_id] += 1
            else:
                result.failures[str(response.status)] += 1

    try:
        common.timed_client(result, barrier, go, debit_until_deadline)
    finally:
        conn.close()


def _sql_client(spec: LoadSpec, rng, barrier, go, deadline, result: LoadResult) -> None:
    import psycopg

    conn = psycopg.connect(spec.database_url)
    cursor = conn.cursor()

    def debit_until_deadline() -> None:
        nonlocal conn, cursor
        end_at = deadline.value
        perf = time.perf_counter
        while time.time() < end_at:
            customer_id = _pick(rng, spec.customer_ids)
            entry_id = "wle_" + "".join(rng.choices(ALPHANUMERICS, k=21))
            result.sent += 1
            started = perf()
            committing = False
            try:
                cursor.execute(SQL_LOCK, (customer_id,))
                wallet_id, balance, entry_count = cursor.fetchone()
                seq, after = entry_count + 1, balance - 1
                cursor.execute(
                    SQL_INSERT,
                    (entry_id, spec.business_id, customer_id, wallet_id, seq, balance, after),
                )
                cursor.execute(SQL_UPDATE, (after, seq, wallet_id))
                committing = True
                conn.commit()
            except psycopg.Error as exc:
                result.failures[type(exc).__name__] += 1
                if committing:
                    result.uncertain += 1
                if conn.closed:
                    conn = psycopg.connect(spec.database_url)
                    cursor = conn.cursor()
                else:
                    conn.rollback()
                continue
            result.latencies.append(perf() - started)
            result.ok += 1
            result.debits[customer_id] += 1

    try:
        common.timed_client(result, barrier, go, debit_until_deadline)
    finally:
        conn.close()


def _client_process(spec: LoadSpec, threads: int, seed: int, deadline, barrier, go, results) -> None:
    """One client process: ``threads`` clients, each with its own connection; sends back one result."""
    client = _http_client if spec.kind == "http" else _sql_client
    outcomes = [LoadResult() for _ in range(threads)]

    def body(index: int) -> None:
        client(spec, random.Random(seed * 1000 + index), barrier, go, deadline, outcomes[index])

    common.serve_clients(outcomes, body, LoadResult(), barrier, go, results)


def run_load(spec: LoadSpec, *, clients: int, client_procs: int, seconds: float) -> tuple[LoadResult, float]:
    """Run ``clients`` concurrent clients for ``seconds``; return the merged result and elapsed seconds.

    All clients connect first, then start together; requests in flight at the deadline are waited
    for and counted (they did write), so elapsed runs from the start to the last answer.
    """
    procs = max(1, min(client_procs, clients))
    shares = [clients // procs + (1 if i < clients % procs else 0) for i in range(procs)]
    deadline = multiprocessing.get_context("spawn").Value("d", 0.0, lock=False)
    pool = common.ClientProcesses(
        _client_process, [(spec, share, random.randrange(1 << 30), deadline) for share in shares], clients
    )
    with pool.running(join_timeout=10):
        pool.wait_ready(timeout=120, answer_timeout=30)
        start = time.time()
        deadline.value = start + seconds
        pool.go.set()
        merged = LoadResult()
        for result, _ in pool.collect(timeout=seconds + 300):
            merged.merge(result)
        elapsed = max(merged.last_end, start + 1e-9) - start
        return merged, elapsed


# --- Django side: setup through the services, context, invariants -----------------------------------


@dataclass
class Fixture:
    business_id: str
    secret: str
    customer_ids: list[str]
    start_entries: int
    start_wallets: dict[int, tuple[str, str, int, int]]  # wallet id -> customer, currency, balance, count


def create_fixture() -> Fixture:
    """One business, one API key, 1,000 customers (USD + INR wallets), a starting credit per USD wallet."""
    from django.db import transaction

    from customers.services import customer_create
    from dodo_billing.services import api_key_create, business_get_or_create
    from wallets.models import LedgerEntry, Wallet
    from wallets.services import wallet_credit

    with transaction.atomic():  # one commit instead of thousands
        business, _ = business_get_or_create(name=BUSINESS_NAME)
        _, secret = api_key_create(business=business, name="ledger benchmark")
        customers = [
            customer_create(business=business, name=f"Bench customer {i}", email=f"bench{i}@example.com")
            for i in range(CUSTOMER_COUNT)
        ]
        for customer in customers:
            wallet_credit(
                customer=customer,
                currency="USD",
                amount=STARTING_BALANCE,
                reason="benchmark starting balance",
            )
    wallets = {
        wallet_id: (customer_id, currency, balance, count)
        for wallet_id, customer_id, currency, balance, count in Wallet.objects.values_list(
            "id", "customer_id", "currency", "balance", "entry_count"
        )
    }
    return Fixture(
        business_id=business.id,
        secret=secret,
        customer_ids=[customer.id for customer in customers],
        start_entries=LedgerEntry.objects.count(),
        start_wallets=wallets,
    )


def settle_database() -> None:
    """Start every run from the same state: no dead row versions left by the previous run (a hot
    wallet row leaves thousands), fresh statistics, and no checkpoint pending from earlier writes."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) wallets_wallet, wallets_ledgerentry")
        cursor.execute("CHECKPOINT")
    connection.close()


def check_invariants(fixture: Fixture, writes: int, debits: Counter, uncertain: int) -> list[str]:
    from django.db import connection

    from wallets.models import LedgerEntry, Wallet
    from wallets.selectors import wallet_reconcile

    failures = []
    wallets_checked, entries_checked, problems = wallet_reconcile()
    print(
        f"  wallet_reconcile(): {wallets_checked} wallets, {entries_checked} entries, "
        f"{len(problems)} problems"
    )
    failures += [f"reconcile: {problem}" for problem in problems[:20]]
    if len(problems) > 20:
        failures.append(f"reconcile: … and {len(problems) - 20} more")

    entries = LedgerEntry.objects.count()
    expected = fixture.start_entries + writes
    print(
        f"  ledger entries: {entries} in the database; expected {expected} "
        f"= {fixture.start_entries} at start + {writes} successful debits"
    )
    if entries != expected:
        failures.append(f"ledger has {entries} entries, expected {expected}")

    wrong = []
    current = Wallet.objects.values_list("id", "balance", "entry_count")
    for wallet_id, balance, count in current:
        customer_id, currency, start_balance, start_count = fixture.start_wallets[wallet_id]
        made = debits[customer_id] if currency == "USD" else 0
        if balance != start_balance - made or count != start_count + made:
            wrong.append(
                f"wallet {wallet_id} ({customer_id} {currency}): balance {balance}, entry_count {count}; "
                f"expected {start_balance - made}, {start_count + made}"
            )
    print(
        f"  wallet balances: {len(fixture.start_wallets) - len(wrong)} of {len(fixture.start_wallets)} "
        "equal starting balance minus their debits"
    )
    failures += wrong[:20]
    if uncertain:
        failures.append(
            f"{uncertain} requests ended in a transport or commit error; their outcome is unknown"
        )
    connection.close()
    return failures


# --- Reporting -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    sent: int
    ok: int
    failures: dict
    rate: float
    p50: float
    p99: float
    elapsed: float


def summarize(label: str, result: LoadResult, elapsed: float) -> Figures:
    figures = Figures(
        sent=result.sent,
        ok=result.ok,
        failures=dict(result.failures),
        rate=result.ok / elapsed if elapsed > 0 else 0.0,
        p50=common.percentile_ms(result.latencies, 50),
        p99=common.percentile_ms(result.latencies, 99),
        elapsed=elapsed,
    )
    failed = sum(figures.failures.values())
    detail = ", ".join(f"{code}×{count}" for code, count in sorted(figures.failures.items())) or "none"
    print(
        f"  {label:<24} sent {figures.sent:>7}  ok {figures.ok:>7}  non-200 {failed:>5} ({detail})  "
        f"{figures.rate:>8.1f} entries/s  p50 {figures.p50:7.2f} ms  p99 {figures.p99:7.2f} ms  "
        f"[{figures.elapsed:.2f} s]"
    )
    return figures


def ratio(http_figures: Figures, sql_figures: Figures) -> float:
    return http_figures.rate / sql_figures.rate if sql_figures.rate else math.nan


def print_table(results: dict[tuple[str, str], Figures]) -> None:
    header = f"{'scenario':<12} {'path':<8} {'entries/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'HTTP/raw':>9}"
    print(header)
    print("-" * len(header))
    for scenario in ("hot wallet", "spread"):
        http_figures, sql_figures = results[scenario, "HTTP"], results[scenario, "raw SQL"]
        for path, figures in (("HTTP", http_figures), ("raw SQL", sql_figures)):
            share = f"{ratio(http_figures, sql_figures):>8.1%}" if path == "HTTP" else ""
            print(
                f"{scenario:<12} {path:<8} {figures.rate:>10.1f} {figures.p50:>8.2f} "
                f"{figures.p99:>8.2f} {share:>9}"
            )


def markdown(results: dict[tuple[str, str], Figures], config: str, verdict: str) -> str:
    rows = []
    for scenario in ("hot wallet", "spread"):
        http_figures, sql_figures = results[scenario, "HTTP"], results[scenario, "raw SQL"]
        for path, figures in (("HTTP", http_figures), ("raw SQL", sql_figures)):
            share = f"{ratio(http_figures, sql_figures):.1%}" if path == "HTTP" else ""
            rows.append(
                [scenario, path, f"{figures.rate:.0f}", f"{figures.p50:.2f}", f"{figures.p99:.2f}", share]
            )
    return common.markdown_section(
        "Ledger writes",
        "ledger.py",
        "| Scenario | Path | Entries/s | p50 ms | p99 ms | HTTP / raw SQL |",
        "|---|---|---:|---:|---:|---:|",
        rows,
        config,
        f"Target (hot-wallet HTTP ≥ {TARGET_RATIO:.0%} of raw SQL): **{verdict}**",
    )


# --- Main ----------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    cpus = common.cpu_count()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=15, help="duration of each timed run (default 15)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients per run (default 16)")
    common.add_gunicorn_options(
        parser,
        workers_default=2 * cpus,
        workers_help=f"gunicorn worker processes (default 2 × CPUs = {2 * cpus})",
        worker_class_help=(
            "gunicorn worker class (default sync: one request at a time per process, see the docstring)"
        ),
    )
    common.add_client_procs_option(parser)
    parser.add_argument(
        "--warmup", type=float, default=3, help="seconds of untimed HTTP load before the runs (default 3)"
    )
    common.add_database_options(parser, DEFAULT_DATABASE_URL)
    args = parser.parse_args()
    if args.seconds <= 0 or args.clients < 1 or args.workers < 1 or args.threads < 1 or args.client_procs < 1:
        parser.error("--seconds, --clients, --workers, --threads and --client-procs must be positive")
    return args


def main() -> int:
    args = parse_args()
    url = args.database_url
    server_config = common.ServerConfig(args.workers, args.worker_class, args.threads)
    client_procs = min(args.client_procs, args.clients)

    common.announce_database(url)
    setup_started, migrated = common.fresh_database(url)
    fixture = create_fixture()
    from django.db import connection, connections

    context = common.postgres_settings(connection, POSTGRES_SETTINGS)

    connections.close_all()
    print(
        f"Setup: migrated, 1 business, 1 API key, {len(fixture.customer_ids)} customers, "
        f"{len(fixture.start_wallets)} wallets, {fixture.start_entries} starting entries "
        f"(migrate {migrated - setup_started:.1f} s, data {time.monotonic() - migrated:.1f} s)"
    )
    common.print_machine(
        context,
        "",
        f"gunicorn: {server_config.describe()}, DB_CONN_MAX_AGE=600, DEBUG=0",
        f"load: {args.clients} clients in {client_procs} processes, {args.seconds:g} s per run, "
        "debit amount 1",
    )
    print()

    # Each hot-wallet run gets a wallet of its own, so neither inherits the other's row versions.
    hot_http, hot_sql = (fixture.customer_ids[0],), (fixture.customer_ids[1],)
    spread = tuple(fixture.customer_ids)
    results: dict[tuple[str, str], Figures] = {}
    writes = 0
    debits: Counter = Counter()
    uncertain = 0
    with common.gunicorn(server_config, url, "ledger-bench-gunicorn-") as (server, port, log_path):
        probe = f"/api/customers/{hot_http[0]}/wallets"
        common.wait_until_serving(server, port, fixture.secret, probe, log_path, timeout=5)
        print(f"gunicorn serving on 127.0.0.1:{port} (pid {server.pid}, log {log_path})")
        http_spec = {"host": "127.0.0.1", "port": port, "secret": fixture.secret}
        sql_spec = {"database_url": url, "business_id": fixture.business_id}

        def record(result: LoadResult) -> None:
            nonlocal writes, uncertain
            writes += result.ok
            uncertain += result.uncertain
            debits.update(result.debits)

        if args.warmup > 0:
            warm, elapsed = run_load(
                LoadSpec("http", spread, **http_spec),
                clients=args.clients,
                client_procs=client_procs,
                seconds=args.warmup,
            )
            record(warm)
            summarize("warm-up (HTTP, spread)", warm, elapsed)

        plan = [
            ("hot wallet", "HTTP", LoadSpec("http", hot_http, **http_spec)),
            ("hot wallet", "raw SQL", LoadSpec("sql", hot_sql, **sql_spec)),
            ("spread", "HTTP", LoadSpec("http", spread, **http_spec)),
            ("spread", "raw SQL", LoadSpec("sql", spread, **sql_spec)),
        ]
        for scenario, path, spec in plan:
            settle_database()
            result, elapsed = run_load(
                spec, clients=args.clients, client_procs=client_procs, seconds=args.seconds
            )
            record(result)
            results[scenario, path] = summarize(f"{scenario}, {path}", result, elapsed)
    print("gunicorn stopped")

    print()
    print_table(results)
    hot_ratio = ratio(results["hot wallet", "HTTP"], results["hot wallet", "raw SQL"])
    verdict = "PASS" if hot_ratio >= TARGET_RATIO else "FAIL"
    print()
    print(
        f"Target: HTTP rate on one hot wallet ≥ {TARGET_RATIO:.0%} of the raw-SQL rate: "
        f"{hot_ratio:.1%} → {verdict}"
    )

    print()
    print("Invariants")
    failures = check_invariants(fixture, writes, debits, uncertain)
    common.print_failures("INVARIANTS VIOLATED:", failures)
    if not failures:
        print("  all invariants hold")

    config = (
        f"{args.clients} clients in {client_procs} client processes, {args.seconds:g} s per run, "
        f"debits of 1 on {CUSTOMER_COUNT} customers' USD wallets; gunicorn {server_config.describe()}, "
        f"DB_CONN_MAX_AGE=600; PostgreSQL {context['server_version'].split()[0]} "
        f"(synchronous_commit={context['synchronous_commit']}, fsync={context['fsync']}); "
        f"{common.cpu_count()} CPUs shared by load generator, gunicorn and PostgreSQL."
    )
    common.print_markdown(markdown(results, config, verdict))

    connections.close_all()
    common.keep_or_drop_database(url, args.keep_db or bool(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
