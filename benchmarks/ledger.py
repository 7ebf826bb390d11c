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
import array
import http.client
import json
import math
import multiprocessing
import os
import queue
import random
import signal
import socket
import string
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/dodo_billing_bench"
CUSTOMER_COUNT = 1000
STARTING_BALANCE = 10**12  # minor units per USD wallet: far more than any run can debit
BUSINESS_NAME = "Ledger benchmark"
TARGET_RATIO = 0.25
ALPHANUMERICS = string.ascii_letters + string.digits
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
class LoadResult:
    """Figures of one client thread, or several merged."""

    sent: int = 0
    ok: int = 0
    failures: Counter = field(default_factory=Counter)  # HTTP status or exception name -> count
    uncertain: int = 0  # transport/commit errors: the write may or may not have happened
    latencies: array.array = field(default_factory=lambda: array.array("d"))  # seconds, all answers
    debits: Counter = field(default_factory=Counter)  # customer id -> successful debits
    first_start: float = math.inf  # wall clock
    last_end: float = 0.0

    def merge(self, other: "LoadResult") -> None:
        self.sent += other.sent
        self.ok += other.ok
        self.failures.update(other.failures)
        self.uncertain += other.uncertain
        self.latencies.extend(other.latencies)
        self.debits.update(other.debits)
        self.first_start = min(self.first_start, other.first_start)
        self.last_end = max(self.last_end, other.last_end)


def _pick(rng: random.Random, items: tuple[str, ...]) -> str:
    return items[0] if len(items) == 1 else items[rng.randrange(len(items))]


def _http_client(spec: LoadSpec, rng, barrier, go, deadline, result: LoadResult) -> None:
    conn = http.client.HTTPConnection(spec.host, spec.port, timeout=spec.timeout)
    conn.connect()
    headers = {
        "Authorization": f"Bearer {spec.secret}",
        "Content-Type": "application/json",
        "Accept": "application/json",
    }
    paths = {cid: f"/api/customers/{cid}/wallets/ledger-entries" for cid in spec.customer_ids}
    barrier.wait()
    go.wait()
    end_at = deadline.value
    perf = time.perf_counter
    result.first_start = time.time()
    try:
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
    finally:
        result.last_end = time.time()
        conn.close()


def _sql_client(spec: LoadSpec, rng, barrier, go, deadline, result: LoadResult) -> None:
    import psycopg

    conn = psycopg.connect(spec.database_url)
    cursor = conn.cursor()
    barrier.wait()
    go.wait()
    end_at = deadline.value
    perf = time.perf_counter
    result.first_start = time.time()
    try:
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
    finally:
        result.last_end = time.time()
        conn.close()


def _client_process(spec: LoadSpec, threads: int, seed: int, barrier, go, deadline, results) -> None:
    """One client process: ``threads`` clients, each with its own connection; sends back one result."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    target = _http_client if spec.kind == "http" else _sql_client
    outcomes = [LoadResult() for _ in range(threads)]
    errors: list[str] = []

    def run(index: int) -> None:
        try:
            target(spec, random.Random(seed * 1000 + index), barrier, go, deadline, outcomes[index])
        except threading.BrokenBarrierError:
            errors.append("another client failed to start")
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
            barrier.abort()

    workers = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    merged = LoadResult()
    for outcome in outcomes:
        merged.merge(outcome)
    results.put((errors, merged))


def run_load(spec: LoadSpec, *, clients: int, client_procs: int, seconds: float) -> tuple[LoadResult, float]:
    """Run ``clients`` concurrent clients for ``seconds``; return the merged result and elapsed seconds.

    All clients connect first, then start together; requests in flight at the deadline are waited
    for and counted (they did write), so elapsed runs from the start to the last answer.
    """
    context = multiprocessing.get_context("spawn")
    procs = max(1, min(client_procs, clients))
    shares = [clients // procs + (1 if i < clients % procs else 0) for i in range(procs)]
    barrier = context.Barrier(clients + 1)
    go = context.Event()
    deadline = context.Value("d", 0.0, lock=False)
    results = context.Queue()
    processes = [
        context.Process(
            target=_client_process,
            args=(spec, share, random.randrange(1 << 30), barrier, go, deadline, results),
            daemon=True,
        )
        for share in shares
    ]
    for process in processes:
        process.start()
    try:
        try:
            barrier.wait(timeout=120)
        except threading.BrokenBarrierError:
            barrier.abort()
            go.set()
            errors: list[str] = []
            for _ in processes:
                try:
                    errors.extend(results.get(timeout=30)[0])
                except queue.Empty:
                    errors.append("a client process did not answer")
            raise RuntimeError(f"load clients failed to start: {errors}") from None
        start = time.time()
        deadline.value = start + seconds
        go.set()
        merged = LoadResult()
        problems: list[str] = []
        for _ in processes:
            errors, result = results.get(timeout=seconds + 300)
            problems.extend(errors)
            merged.merge(result)
        if problems:
            raise RuntimeError(f"load clients failed: {problems}")
        elapsed = max(merged.last_end, start + 1e-9) - start
        return merged, elapsed
    finally:
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.terminate()
                process.join()


# --- Database and server -----------------------------------------------------------------------------


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def recreate_database(url: str) -> None:
    import psycopg
    from psycopg import sql

    name = urlsplit(url).path.lstrip("/")
    if not name or name in {"postgres", "template0", "template1"}:
        raise SystemExit(f"refusing to drop database {name!r}; pass a dedicated --database-url")
    with psycopg.connect(_with_database(url, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(url: str) -> None:
    import psycopg
    from psycopg import sql

    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(_with_database(url, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def migrate(url: str) -> None:
    env = {**os.environ, "DATABASE_URL": url, "DEBUG": "0", "LOG_LEVEL": "WARNING"}
    done = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"manage.py migrate failed:\n{done.stdout}\n{done.stderr}")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class ServerConfig:
    workers: int
    worker_class: str
    threads: int

    def describe(self) -> str:
        if self.worker_class == "gthread":
            return f"{self.workers} gthread workers × {self.threads} threads (keep-alive)"
        return f"{self.workers} sync workers (no keep-alive: clients reconnect per request)"


def gunicorn_binary() -> str:
    beside_python = Path(sys.executable).parent / "gunicorn"
    return str(beside_python if beside_python.exists() else PROJECT_ROOT / ".venv" / "bin" / "gunicorn")


def start_gunicorn(config: ServerConfig, url: str, port: int, log) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DEBUG": "0",
        "DB_CONN_MAX_AGE": "600",
        "LOG_LEVEL": "WARNING",
        # Without collectstatic WhiteNoise warns once per worker; the test suite ignores it too.
        "PYTHONWARNINGS": "ignore:No directory at:UserWarning",
    }
    command = [
        gunicorn_binary(),
        "dodo_billing.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(config.workers),
        "--worker-class",
        config.worker_class,
        "--log-level",
        "warning",
    ]
    if config.worker_class == "gthread":
        command += ["--threads", str(config.threads)]
    return subprocess.Popen(
        command, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


def wait_until_serving(server: subprocess.Popen, port: int, secret: str, customer_id: str, log_path: str):
    """Block until the API answers 200 with the benchmark key, or fail with the server's log."""
    give_up = time.monotonic() + 60
    while time.monotonic() < give_up:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited with {server.returncode}:\n{Path(log_path).read_text()}")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            conn.request(
                "GET", f"/api/customers/{customer_id}/wallets", headers={"Authorization": f"Bearer {secret}"}
            )
            response = conn.getresponse()
            body = response.read()
            if response.status == 200:
                return
            raise SystemExit(f"gunicorn answered {response.status}: {body[:500]!r}")
        except OSError:
            time.sleep(0.2)
        finally:
            conn.close()
    raise SystemExit(f"gunicorn did not answer within 60 s:\n{Path(log_path).read_text()}")


def stop_gunicorn(server: subprocess.Popen) -> None:
    if server.poll() is not None:
        return
    server.terminate()  # graceful: finish in-flight requests, then stop the workers
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)  # our own process group (start_new_session)
        server.wait()


# --- Django side: setup through the services, context, invariants -----------------------------------


def django_setup(url: str) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "dodo_billing.settings"
    os.environ["DATABASE_URL"] = url
    os.environ["DEBUG"] = "0"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    if str(PROJECT_ROOT) not in sys.path:
        sys.path.insert(0, str(PROJECT_ROOT))
    import django

    django.setup()


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


def database_context() -> dict[str, str]:
    from django.db import connection

    settings = {}
    with connection.cursor() as cursor:
        for name in ("server_version", "synchronous_commit", "fsync", "wal_sync_method", "shared_buffers"):
            cursor.execute(f"SHOW {name}")
            settings[name] = cursor.fetchone()[0]
    return settings


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


def percentile_ms(samples: array.array, pct: float) -> float:
    if not samples:
        return math.nan
    ordered = sorted(samples)
    index = max(0, math.ceil(pct / 100 * len(ordered)) - 1)  # nearest rank
    return ordered[index] * 1000


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
        p50=percentile_ms(result.latencies, 50),
        p99=percentile_ms(result.latencies, 99),
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
    lines = [
        f"### Ledger writes ({time.strftime('%Y-%m-%d')}, `benchmarks/ledger.py`)",
        "",
        "| Scenario | Path | Entries/s | p50 ms | p99 ms | HTTP / raw SQL |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for scenario in ("hot wallet", "spread"):
        http_figures, sql_figures = results[scenario, "HTTP"], results[scenario, "raw SQL"]
        for path, figures in (("HTTP", http_figures), ("raw SQL", sql_figures)):
            share = f"{ratio(http_figures, sql_figures):.1%}" if path == "HTTP" else ""
            lines.append(
                f"| {scenario} | {path} | {figures.rate:.0f} | {figures.p50:.2f} | {figures.p99:.2f} "
                f"| {share} |"
            )
    lines += ["", config, "", f"Target (hot-wallet HTTP ≥ {TARGET_RATIO:.0%} of raw SQL): **{verdict}**"]
    return "\n".join(lines)


# --- Main ----------------------------------------------------------------------------------------


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def parse_args() -> argparse.Namespace:
    cpus = cpu_count()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=15, help="duration of each timed run (default 15)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients per run (default 16)")
    parser.add_argument(
        "--workers",
        type=int,
        default=2 * cpus,
        help=f"gunicorn worker processes (default 2 × CPUs = {2 * cpus})",
    )
    parser.add_argument(
        "--worker-class",
        default="sync",
        choices=["sync", "gthread"],
        help="gunicorn worker class (default sync: one request at a time per process, see the docstring)",
    )
    parser.add_argument("--threads", type=int, default=1, help="threads per worker, gthread only (default 1)")
    parser.add_argument(
        "--client-procs",
        type=int,
        default=2,
        help="load-generator processes the clients are spread over (default 2)",
    )
    parser.add_argument(
        "--warmup", type=float, default=3, help="seconds of untimed HTTP load before the runs (default 3)"
    )
    parser.add_argument(
        "--database-url",
        default=DEFAULT_DATABASE_URL,
        help=f"benchmark database, DROPPED and recreated (default {DEFAULT_DATABASE_URL})",
    )
    parser.add_argument("--keep-db", action="store_true", help="keep the benchmark database afterwards")
    args = parser.parse_args()
    if args.seconds <= 0 or args.clients < 1 or args.workers < 1 or args.threads < 1 or args.client_procs < 1:
        parser.error("--seconds, --clients, --workers, --threads and --client-procs must be positive")
    return args


def main() -> int:
    args = parse_args()
    url = args.database_url
    server_config = ServerConfig(args.workers, args.worker_class, args.threads)
    client_procs = min(args.client_procs, args.clients)

    parts = urlsplit(url)
    print(f"Benchmark database: {parts.path.lstrip('/')} on {parts.hostname}:{parts.port or 5432}")
    setup_started = time.monotonic()
    recreate_database(url)
    migrate(url)
    migrated = time.monotonic()
    django_setup(url)
    fixture = create_fixture()
    context = database_context()
    from django.db import connections

    connections.close_all()
    print(
        f"Setup: migrated, 1 business, 1 API key, {len(fixture.customer_ids)} customers, "
        f"{len(fixture.start_wallets)} wallets, {fixture.start_entries} starting entries "
        f"(migrate {migrated - setup_started:.1f} s, data {time.monotonic() - migrated:.1f} s)"
    )
    print()
    print("Machine")
    print(f"  CPUs: {cpu_count()}   Python {sys.version.split()[0]}")
    print(
        f"  PostgreSQL {context['server_version']}: synchronous_commit={context['synchronous_commit']}, "
        f"fsync={context['fsync']}, wal_sync_method={context['wal_sync_method']}, "
        f"shared_buffers={context['shared_buffers']}"
    )
    print(f"  gunicorn: {server_config.describe()}, DB_CONN_MAX_AGE=600, DEBUG=0")
    print(
        f"  load: {args.clients} clients in {client_procs} processes, {args.seconds:g} s per run, "
        f"debit amount 1"
    )
    print()

    # Each hot-wallet run gets a wallet of its own, so neither inherits the other's row versions.
    hot_http, hot_sql = (fixture.customer_ids[0],), (fixture.customer_ids[1],)
    spread = tuple(fixture.customer_ids)
    results: dict[tuple[str, str], Figures] = {}
    writes = 0
    debits: Counter = Counter()
    uncertain = 0
    port = free_port()
    log = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed in finally)
        mode="w+", prefix="ledger-bench-gunicorn-", suffix=".log", delete=False
    )
    server = start_gunicorn(server_config, url, port, log)
    try:
        wait_until_serving(server, port, fixture.secret, hot_http[0], log.name)
        print(f"gunicorn serving on 127.0.0.1:{port} (pid {server.pid}, log {log.name})")
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
    finally:
        stop_gunicorn(server)
        log.close()
        server_log = Path(log.name).read_text()
        if server_log.strip():
            print(f"\ngunicorn log (last 2,000 characters of {log.name}):\n{server_log[-2000:]}")
        Path(log.name).unlink(missing_ok=True)
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
    if failures:
        print("INVARIANTS VIOLATED:")
        for failure in failures:
            print(f"  - {failure}")
    else:
        print("  all invariants hold")

    config = (
        f"{args.clients} clients in {client_procs} client processes, {args.seconds:g} s per run, "
        f"debits of 1 on {CUSTOMER_COUNT} customers' USD wallets; gunicorn {server_config.describe()}, "
        f"DB_CONN_MAX_AGE=600; PostgreSQL {context['server_version'].split()[0]} "
        f"(synchronous_commit={context['synchronous_commit']}, fsync={context['fsync']}); "
        f"{cpu_count()} CPUs shared by load generator, gunicorn and PostgreSQL."
    )
    print()
    print("Markdown for docs/benchmarks.md:")
    print()
    print(markdown(results, config, verdict))
    print()

    connections.close_all()
    if args.keep_db or failures:
        print(f"Benchmark database kept: {urlsplit(url).path.lstrip('/')}")
    else:
        drop_database(url)
        print("Benchmark database dropped (use --keep-db to keep it)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
