"""Event ingestion throughput: the HTTP ingest API against raw COPY of the same rows.

What it measures
----------------
``POST /api/events/ingest`` takes 1 to 1,000 usage events per request: msgspec decodes and
type-checks the body, every event's timestamp is checked against the business's window, one query
checks that the customers belong to the business, and ``events_insert()`` stores the batch with
``ON CONFLICT (business_id, event_id) DO NOTHING``, skipping ids the business already has
(``event_id`` is the idempotency key). This script measures how many events per second the whole
stack (gunicorn → Django/DRF → PostgreSQL) ingests from several concurrent clients, and prints beside
it what PostgreSQL alone does with the same rows on the same database:

* ``HTTP``                – ``--events`` events (default 2,000,000) in 1,000-event requests from
  ``--clients`` concurrent clients; 10% of the events repeat an ``event_id`` sent at least two
  rounds of requests earlier (a client retrying), never twice within one request;
* ``COPY``                – every distinct row, ``COPY metering_event … FROM STDIN`` in 1,000-row
  transactions over as many connections as there are clients (the floor of the cost of storing
  the rows with the table's four indexes);
* ``service SQL``         – the SQL ``events_insert()`` sends to PostgreSQL, read from
  ``metering.services.usage`` when the script runs (a COPY into a temporary stage table and one ``INSERT
  … SELECT … ON CONFLICT DO NOTHING`` that empties it, or one ``INSERT … unnest(arrays) ON
  CONFLICT DO NOTHING``), replayed by psycopg with the same batches as the HTTP run, duplicates
  included, on the cursor class Django gives the service: the database's share of the HTTP path;
* ``INSERT unnest``       – one ``INSERT … SELECT FROM unnest(arrays) ON CONFLICT DO NOTHING`` per
  request's batch, arrays bound as parameters, sorted by event_id: a fixed reference.

Each path starts from an empty table (TRUNCATE) after a CHECKPOINT. The request bodies, COPY blocks
and statement parameters are all generated before the clock starts, inside the client processes, so
the load generator spends its time on the wire only. The events are realistic: 20 event names, the
business's customers, timestamps within the past day, metadata ``{"model", "tokens", "region",
"cached"}``. Every event is a pure function of (seed, index), so a duplicate is the very event sent
again and the checks can recompute what must be stored.

Afterwards it checks exactly: every request answered 200; the sum of the ``ingested_count``s, the
number of rows and the number of distinct event_ids sent are equal; the stored event_ids are
exactly the ids sent; a sample of rows holds the fields sent. The COPY and SQL runs must store the
same number of rows. The exit status is non-zero when a check fails. It prints the machine context,
where the CPU went in each run, a comparison table, PASS/FAIL for the target "HTTP ingestion
sustains ≥ 100,000 events/s" and a Markdown snippet for docs/benchmarks.md.

How to run
----------
From the project root, with PostgreSQL reachable (the database named in ``--database-url`` is
DROPPED and recreated; it must not hold anything you need)::

    .venv/bin/python benchmarks/ingest.py                            # 2,000,000 events, 8 clients
    .venv/bin/python benchmarks/ingest.py --events 200000 --customers 2000
    .venv/bin/python benchmarks/ingest.py --worker-class gthread --workers 2 --threads 4 --keep-db

Setup goes through the project (migrations, ``business_get_or_create``, ``api_key_create``); the
business's event window is widened to 30 days and its customers are bulk-created in one transaction
(no wallets: ingestion does not touch them). The server is ``gunicorn dodo_billing.wsgi`` on a free
local port, stopped at the end in every case. The load generator is a few client processes, each
running threads with one http.client connection per client (keep-alive; sync workers close it after
each response and the client reconnects) or one psycopg connection.

The benchmark database is dropped at the end unless ``--keep-db`` is given (or a check failed, so
that it can be inspected).
"""

import argparse
import array
import http.client
import json
import math
import os
import random
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import common
from common import EVENT_NAMES, MODELS, REGIONS

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/dodo_billing_ingest_bench"
BUSINESS_NAME = "Ingest benchmark"
BATCH_SIZE = 1000  # events per request, rows per COPY/INSERT transaction
DUPLICATE_SHARE = 0.10
DUPLICATE_ROUND_GAP = 2  # a duplicate repeats an event of a request at least this many rounds earlier
TARGET_RATE = 100_000  # events/s over HTTP
EVENT_WINDOW_PAST_SECONDS = 30 * 86400
TIMESTAMP_SPREAD_US = 86400 * 10**6  # timestamps within the past day
COPY_SQL = (
    'COPY metering_event (business_id, customer_id, event_id, event_name, "timestamp", metadata, '
    "ingested_at) FROM STDIN"
)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
PATHS = ("HTTP", "COPY", "service SQL", "INSERT unnest")
POSTGRES_SETTINGS = (
    "server_version",
    "synchronous_commit",
    "fsync",
    "wal_sync_method",
    "shared_buffers",
    "max_wal_size",
)
# The one-statement batch insert: parameter arrays unnested into INSERT … ON CONFLICT DO NOTHING, as
# events_insert() sent it when ingestion was first written; a fixed reference next to whatever the
# service does now.
INSERT_UNNEST_SQL = """
INSERT INTO metering_event
    (business_id, customer_id, event_id, event_name, "timestamp", metadata, ingested_at)
SELECT %s, u.customer_id, u.event_id, u.event_name, u.ts, u.metadata::jsonb, %s
FROM unnest(%s::text[], %s::text[], %s::text[], %s::timestamptz[], %s::text[])
    AS u(customer_id, event_id, event_name, ts, metadata)
ON CONFLICT (business_id, event_id) DO NOTHING
"""


# --- The events: a pure function of (seed, index) ------------------------------------------------

_MASK64 = (1 << 64) - 1


def _mix(value: int) -> int:
    """splitmix64's finalizer: a cheap, well-spread 64-bit hash."""
    value = (value + 0x9E3779B97F4A7C15) & _MASK64
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK64
    return value ^ (value >> 31)


@dataclass(frozen=True)
class Workload:
    """What every client process needs to regenerate any event; pickled to them."""

    seed: int
    newest_us: int  # microseconds since the epoch: the newest timestamp generated
    customer_ids: tuple[str, ...]
    business_id: str
    ingested_at: str  # for COPY, which cannot call now() per row

    def event(self, index: int) -> tuple[str, str, str, datetime, str]:
        """(event_id, customer_id, event_name, timestamp, metadata JSON) of distinct event ``index``."""
        h1 = _mix((self.seed << 40) ^ index)
        h2 = _mix(h1)
        h3 = _mix(h2)
        event_id = f"evt_{h1 >> 16:012x}{index:08x}"  # random-looking, unique by its suffix
        customer_id = self.customer_ids[h2 % len(self.customer_ids)]
        event_name = EVENT_NAMES[(h2 >> 32) % len(EVENT_NAMES)]
        timestamp = EPOCH + timedelta(microseconds=self.newest_us - h3 % TIMESTAMP_SPREAD_US)
        metadata = (
            f'{{"model":"{MODELS[(h3 >> 40) % len(MODELS)]}","tokens":{1 + (h2 >> 48) % 4000},'
            f'"region":"{REGIONS[(h3 >> 50) % len(REGIONS)]}","cached":{"true" if h3 >> 63 else "false"}}}'
        )
        return event_id, customer_id, event_name, timestamp, metadata

    def event_id(self, index: int) -> str:
        return f"evt_{_mix((self.seed << 40) ^ index) >> 16:012x}{index:08x}"

    def json(self, index: int) -> str:
        event_id, customer_id, event_name, timestamp, metadata = self.event(index)
        return (
            f'{{"event_id":"{event_id}","customer_id":"{customer_id}","event_name":"{event_name}",'
            f'"timestamp":"{timestamp.isoformat(timespec="microseconds")}","metadata":{metadata}}}'
        )

    def copy_line(self, index: int) -> str:
        # No generated value holds a tab, newline or backslash, so no COPY escaping is needed.
        event_id, customer_id, event_name, timestamp, metadata = self.event(index)
        stamp = timestamp.isoformat(timespec="microseconds")
        return (
            f"{self.business_id}\t{customer_id}\t{event_id}\t{event_name}\t{stamp}\t{metadata}\t"
            f"{self.ingested_at}\n"
        )


@dataclass
class Plan:
    """The requests: per client, its events' indices in sending order and the size of each request."""

    clients: list[tuple[array.array, array.array]]
    events: int  # events sent, duplicates included
    distinct: int  # distinct event_ids sent: indices 0 … distinct-1
    duplicates: int
    requests: int


def build_plan(total: int, clients: int, rng: random.Random) -> Plan:
    """Requests of 1,000 events dealt round-robin to the clients (request b goes to client b % clients
    in round b // clients). A request of round r may repeat events first sent in rounds ≤ r-2, which
    every client has sent by then unless it runs two requests behind the others; even then the
    outcome is the same (the first copy to arrive is stored, the other skipped)."""
    count = math.ceil(total / BATCH_SIZE)
    sizes = [BATCH_SIZE] * count
    sizes[-1] = total - BATCH_SIZE * (count - 1)
    first_eligible = DUPLICATE_ROUND_GAP * clients
    eligible = max(0, count - first_eligible)
    wanted = round(total * DUPLICATE_SHARE) if eligible else 0
    per_client = [(array.array("q"), array.array("l")) for _ in range(clients)]
    round_starts: list[int] = []  # distinct events assigned before each round
    assigned = duplicates = 0
    for number, size in enumerate(sizes):
        rnd, client = divmod(number, clients)
        if client == 0:
            round_starts.append(assigned)
        repeats = sent_before = 0
        if number >= first_eligible:
            share = number - first_eligible
            sent_before = round_starts[rnd - DUPLICATE_ROUND_GAP + 1]  # distinct events of rounds ≤ rnd-2
            repeats = min(wanted // eligible + (1 if share < wanted % eligible else 0), size, sent_before)
        batch = [*range(assigned, assigned + size - repeats), *rng.sample(range(sent_before), repeats)]
        rng.shuffle(batch)
        assigned += size - repeats
        duplicates += repeats
        indices, lengths = per_client[client]
        indices.extend(batch)
        lengths.append(size)
    return Plan(per_client, total, assigned, duplicates, count)


def _batches(indices: array.array, lengths: array.array):
    start = 0
    for length in lengths:
        yield indices[start : start + length]
        start += length


# --- Load generation (runs in spawned client processes; standard library + psycopg only) -----------


@dataclass(frozen=True)
class ClientSpec:
    """One run's path and targets; pickled to every client process."""

    path: str  # one of PATHS
    workload: Workload
    host: str = ""
    port: int = 0
    secret: str = ""
    database_url: str = ""
    service_sql: tuple[str, ...] = ()  # the service's statements, see service_statements()
    timeout: float = 300.0


@dataclass
class LoadResult(common.ClientResult):
    """Figures of one client thread, or several merged."""

    requests: int = 0  # HTTP requests or transactions
    rows: int = 0  # events or rows sent
    ok: int = 0
    new: int = 0  # sum of ingested_count / rowcount
    samples: list = field(default_factory=list)  # the first failure answers, for the report

    def merge(self, other: "LoadResult") -> None:
        super().merge(other)
        self.requests += other.requests
        self.rows += other.rows
        self.ok += other.ok
        self.new += other.new
        self.samples.extend(other.samples[: max(0, 5 - len(self.samples))])


def _fail(result: LoadResult, kind: str, detail: str) -> None:
    result.failures[kind] += 1
    if len(result.samples) < 5:
        result.samples.append(f"{kind}: {detail[:300]}")


def _prepare(spec: ClientSpec, plan) -> list[tuple[int, object]]:
    """One client's payloads as (rows, payload), built before the clock starts."""
    workload = spec.workload
    if spec.path == "HTTP":
        return [
            (len(batch), ('{"events":[' + ",".join(map(workload.json, batch)) + "]}").encode())
            for batch in _batches(*plan)
        ]
    if spec.path == "COPY":
        start, stop = plan
        blocks = []
        for first in range(start, stop, BATCH_SIZE):
            last = min(first + BATCH_SIZE, stop)
            blocks.append((last - first, "".join(map(workload.copy_line, range(first, last))).encode()))
        return blocks
    ingested_at = datetime.fromisoformat(workload.ingested_at)
    payloads = []
    if spec.path == "service SQL" and len(spec.service_sql) == 3:
        # The staged service: its COPY rows in request order; the move sorts by event_id itself.
        for batch in _batches(*plan):
            rows = [(c, e, n, t, m) for e, c, n, t, m in map(workload.event, batch)]
            payloads.append((len(rows), rows))
        return payloads
    # One INSERT of parameter arrays, in the order the service sent them (sorted by event_id).
    for batch in _batches(*plan):
        events = sorted(map(workload.event, batch))
        columns = list(zip(*events, strict=True))
        event_ids, customer_ids, event_names, timestamps, metadata = (list(column) for column in columns)
        params = (
            workload.business_id,
            ingested_at,
            customer_ids,
            event_ids,
            event_names,
            timestamps,
            metadata,
        )
        payloads.append((len(events), params))
    return payloads


def _run_http(spec: ClientSpec, payloads, result: LoadResult) -> None:
    conn = http.client.HTTPConnection(spec.host, spec.port, timeout=spec.timeout)
    headers = common.api_headers(spec.secret)
    perf = time.perf_counter
    try:
        for rows, body in payloads:
            result.requests += 1
            result.rows += rows
            started = perf()
            try:
                conn.request("POST", "/api/events/ingest", body=body, headers=headers)
                response = conn.getresponse()
                answer = response.read()
            except (OSError, http.client.HTTPException) as exc:
                _fail(result, type(exc).__name__, str(exc))
                conn.close()  # the next request reconnects
                continue
            result.latencies.append(perf() - started)
            if response.status == 200:
                result.ok += 1
                result.new += json.loads(answer)["ingested_count"]
            else:
                _fail(result, str(response.status), answer.decode(errors="replace"))
    finally:
        conn.close()


def _connect(spec: ClientSpec):
    import psycopg

    # The service runs on the cursor Django hands it, a client-side binding one (psycopg.ClientCursor);
    # the fixed INSERT reference binds its arrays as parameters (psycopg's default cursor).
    factory = psycopg.ClientCursor if spec.path == "service SQL" else psycopg.Cursor
    return psycopg.connect(spec.database_url, cursor_factory=factory)


def _run_sql(spec: ClientSpec, payloads, result: LoadResult, conn) -> None:
    import psycopg

    cursor = conn.cursor()
    ingested_at = datetime.fromisoformat(spec.workload.ingested_at)
    perf = time.perf_counter
    for rows, payload in payloads:
        result.requests += 1
        result.rows += rows
        started = perf()
        try:
            if spec.path == "COPY":
                with cursor.copy(COPY_SQL) as copy:
                    copy.write(payload)
                new = rows
            elif spec.path == "service SQL" and len(spec.service_sql) == 3:
                create, copy_stage, move = spec.service_sql
                cursor.execute(create)
                with cursor.copy(copy_stage) as copy:
                    for row in payload:
                        copy.write_row(row)
                cursor.execute(move, (spec.workload.business_id, ingested_at))
                new = cursor.rowcount
            else:
                cursor.execute(
                    spec.service_sql[0] if spec.path == "service SQL" else INSERT_UNNEST_SQL, payload
                )
                new = cursor.rowcount
            conn.commit()
        except psycopg.Error as exc:
            _fail(result, type(exc).__name__, str(exc))
            if conn.closed:
                raise
            conn.rollback()
            continue
        result.latencies.append(perf() - started)
        result.ok += 1
        result.new += new


def _client_process(spec: ClientSpec, plans: list, barrier, go, results) -> None:
    """One client process: a thread per client, each with its own connection; sends back one result
    and the CPU seconds the process used while the clock ran."""
    outcomes = [LoadResult() for _ in plans]

    def body(index: int) -> None:
        conn = None
        try:
            payloads = _prepare(spec, plans[index])
            if spec.path != "HTTP":
                conn = _connect(spec)
            outcome = outcomes[index]
            if spec.path == "HTTP":
                common.timed_client(outcome, barrier, go, lambda: _run_http(spec, payloads, outcome))
            else:
                common.timed_client(outcome, barrier, go, lambda: _run_sql(spec, payloads, outcome, conn))
        finally:
            if conn is not None:
                conn.close()

    common.serve_clients(outcomes, body, LoadResult(), barrier, go, results)


def run_clients(
    spec: ClientSpec, plans: list, client_procs: int, stats_url: str, server_pid: int | None = None
):
    """Run one client per plan, spread over ``client_procs`` processes; all start together once every
    client has built its payloads. Returns the merged result, the seconds from the start to the
    last answer, and the CPU used meanwhile."""
    procs = max(1, min(client_procs, len(plans)))
    pool = common.ClientProcesses(
        _client_process, [(spec, plans[i::procs]) for i in range(procs)], len(plans)
    )
    import psycopg

    stats_conn = psycopg.connect(stats_url, autocommit=True)
    with pool.running(join_timeout=30):
        try:
            pool.wait_ready(timeout=3600, answer_timeout=60)
            before = Snapshot.take(server_pid, stats_conn)
            start = time.time()
            pool.go.set()
            merged = LoadResult()
            client_cpu = 0.0
            for result, cpu in pool.collect(timeout=24 * 3600):
                merged.merge(result)
                client_cpu += cpu
            after = Snapshot.take(server_pid, stats_conn)
        finally:
            stats_conn.close()
    elapsed = max(merged.last_end, start + 1e-9) - start
    return merged, elapsed, RunCost.between(before, after, client_cpu)


# --- Where the CPU went (Linux /proc; figures are absent elsewhere) ----------------------------------

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot."""
    try:
        fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except OSError:
        return math.nan, math.nan
    user, nice, system, idle, iowait, irq, softirq, steal = fields
    busy = user + nice + system + irq + softirq + steal
    return busy / _TICK, (busy + idle + iowait) / _TICK


def _process_tree_cpu(root: int) -> float:
    """CPU seconds of a process and its direct children (gunicorn's master and workers)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
        if int(entry.name) == root or int(fields[1]) == root:
            total += (int(fields[11]) + int(fields[12])) / _TICK  # utime + stime
    return total


_DB_STATS_SQL = (
    "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint, "
    "checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter"
)


@dataclass(frozen=True)
class Snapshot:
    busy: float
    total: float
    server: float
    wal: int  # bytes of WAL written since the cluster started (all databases)
    checkpoints: int

    @classmethod
    def take(cls, server_pid: int | None, stats_conn) -> "Snapshot":
        busy, total = _machine_cpu()
        wal, checkpoints = stats_conn.execute(_DB_STATS_SQL).fetchone()
        return cls(busy, total, _process_tree_cpu(server_pid) if server_pid else 0.0, wal, checkpoints)


@dataclass(frozen=True)
class RunCost:
    """What a run used: CPU seconds of the machine, the load generator, gunicorn and the rest
    (PostgreSQL, plus whatever else runs on the machine); WAL written and checkpoints (cluster-wide)."""

    capacity: float  # CPU seconds available (CPUs × wall time)
    busy: float
    clients: float
    server: float
    wal: int
    checkpoints: int

    @classmethod
    def between(cls, before: Snapshot, after: Snapshot, clients: float) -> "RunCost":
        return cls(
            capacity=after.total - before.total,
            busy=after.busy - before.busy,
            clients=clients,
            server=after.server - before.server,
            wal=after.wal - before.wal,
            checkpoints=after.checkpoints - before.checkpoints,
        )

    def describe(self, rows: int) -> str:
        wal = (
            f"cluster WAL {self.wal / 2**20:,.0f} MB ({self.wal / max(rows, 1):,.0f} B per new row), "
            f"{self.checkpoints} checkpoints"
        )
        if not self.capacity or math.isnan(self.capacity):
            return wal
        rest = max(0.0, self.busy - self.clients - self.server)
        parts = [f"machine busy {self.busy / self.capacity:.0%}", f"load generator {self.clients:.1f}"]
        if self.server:
            parts.append(f"gunicorn {self.server:.1f}")
        parts.append(f"PostgreSQL and others {rest:.1f}")
        return f"CPU-s of {self.capacity:.1f}: {', '.join(parts)}; {wal}"


# --- Database and server -----------------------------------------------------------------------------


def reset_events(url: str) -> None:
    """An empty events table and no checkpoint pending, as at the start of the HTTP run."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE metering_event RESTART IDENTITY")
        conn.execute("CHECKPOINT")


def warm_up(port: int, secret: str, clients: int) -> None:
    """A few concurrent reads, so that every worker has opened its database connection."""

    def reads() -> None:
        for _ in range(5):
            common.http_get(port, secret, "/api/events?limit=1")

    threads = [threading.Thread(target=reads) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


# --- Django side: setup through the services, context, checks ---------------------------------------


@dataclass(frozen=True)
class Fixture:
    business_id: str
    secret: str
    customer_ids: tuple[str, ...]


def create_fixture(customer_count: int) -> Fixture:
    """One business whose event window takes a day-old event, an API key, and its customers."""
    from django.db import transaction

    from customers.models import Customer
    from dodo_billing.services import api_key_create, business_get_or_create

    with transaction.atomic():
        business, _ = business_get_or_create(name=BUSINESS_NAME)
        business.event_window_past_seconds = EVENT_WINDOW_PAST_SECONDS
        business.save(update_fields=["event_window_past_seconds"])
        _, secret = api_key_create(business=business, name="ingest benchmark")
        customers = Customer.objects.bulk_create(
            [
                Customer(business=business, name=f"Bench customer {i}", email=f"bench{i}@example.com")
                for i in range(customer_count)
            ],
            batch_size=1000,
        )
    return Fixture(business.id, secret, tuple(customer.id for customer in customers))


def service_statements() -> tuple[tuple[str, ...], str]:
    """The SQL events_insert() sends to PostgreSQL, read from the service module, and its description:
    either one INSERT … unnest(arrays) ON CONFLICT, or a COPY into a temporary stage table followed by
    one INSERT … SELECT … ON CONFLICT that empties the stage (create, copy, move)."""
    from metering.services import usage as services

    if all(hasattr(services, name) for name in ("_CREATE_STAGE", "_COPY_STAGE", "_MOVE_STAGE")):
        statements = (services._CREATE_STAGE, services._COPY_STAGE, services._MOVE_STAGE)
        return statements, "COPY into a temporary stage table + INSERT … SELECT … ON CONFLICT DO NOTHING"
    if hasattr(services, "_INSERT_EVENTS_POSTGRES"):
        return (services._INSERT_EVENTS_POSTGRES,), "INSERT … unnest(arrays) ON CONFLICT DO NOTHING"
    raise SystemExit(
        "metering.services.usage has no known PostgreSQL insert statement; update benchmarks/ingest.py"
    )


def check_stored(url: str, plan: Plan, result: LoadResult, label: str, expected_requests: int) -> list[str]:
    """Exact counts after a run: every request or transaction succeeded, rows = distinct event_ids
    sent = the rows the server (or PostgreSQL) reported as new."""
    import psycopg

    failures = []
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT count(*) FROM metering_event").fetchone()[0]
    failed = sum(result.failures.values())
    print(
        f"  {label}: {result.ok} of {expected_requests} {'requests' if label == 'HTTP' else 'transactions'} "
        f"succeeded ({failed} failed); rows {rows}; distinct event_ids sent {plan.distinct}; "
        f"reported new {result.new}"
    )
    if result.ok != expected_requests or failed:
        failures.append(f"{label}: {failed} failures {dict(result.failures)}; first: {result.samples[:3]}")
    if not rows == plan.distinct == result.new:
        failures.append(f"{label}: rows {rows}, distinct ids sent {plan.distinct}, reported new {result.new}")
    return failures


def check_contents(
    url: str, plan: Plan, workload: Workload, business_id: str, rng: random.Random
) -> list[str]:
    """The stored event_ids are exactly the ids sent, and a sample of rows holds what was sent."""
    import psycopg

    failures = []
    expected = {workload.event_id(index) for index in range(plan.distinct)}
    with psycopg.connect(url) as conn:
        stored = [row[0] for row in conn.execute("SELECT event_id FROM metering_event")]
        unknown = sum(1 for event_id in stored if event_id not in expected)
        missing = len(expected) - (len(stored) - unknown)  # event_id is unique per business
        sample = rng.sample(range(plan.distinct), min(2000, plan.distinct))
        wanted = {workload.event_id(index): index for index in sample}
        rows = conn.execute(
            'SELECT event_id, business_id, customer_id, event_name, "timestamp", metadata '
            "FROM metering_event WHERE event_id = ANY(%s)",
            (list(wanted),),
        ).fetchall()
    wrong = 0
    for event_id, business, customer_id, event_name, timestamp, metadata in rows:
        _, want_customer, want_name, want_timestamp, want_metadata = workload.event(wanted[event_id])
        if (business, customer_id, event_name, timestamp, metadata) != (
            business_id,
            want_customer,
            want_name,
            want_timestamp,
            json.loads(want_metadata),
        ):
            wrong += 1
    print(
        f"  stored event_ids: {len(stored)}; not sent: {unknown}; sent but missing: {missing}; "
        f"sampled rows {len(rows)} of {len(wanted)}, with a field differing from what was sent: {wrong}"
    )
    if unknown or missing:
        failures.append(f"stored ids differ from the ids sent: {unknown} unknown, {missing} missing")
    if len(rows) != len(wanted) or wrong:
        failures.append(f"sampled rows: {len(rows)} of {len(wanted)} found, {wrong} with wrong fields")
    return failures


# --- Reporting -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    rows: int
    new: int
    requests: int
    elapsed: float
    p50: float
    p99: float
    cpu: RunCost

    @property
    def rate(self) -> float:  # rows (events) sent per second
        return self.rows / self.elapsed

    @property
    def new_rate(self) -> float:
        return self.new / self.elapsed

    @property
    def request_rate(self) -> float:
        return self.requests / self.elapsed


def summarize(label: str, result: LoadResult, elapsed: float, cpu: RunCost) -> Figures:
    figures = Figures(
        rows=result.rows,
        new=result.new,
        requests=result.requests,
        elapsed=elapsed,
        p50=common.percentile_ms(result.latencies, 50),
        p99=common.percentile_ms(result.latencies, 99),
        cpu=cpu,
    )
    unit = "requests" if label == "HTTP" else "transactions"
    print(
        f"  {label:<20} {figures.rows:>9} rows sent, {figures.new:>9} new in {figures.elapsed:6.2f} s: "
        f"{figures.rate:>9,.0f} rows/s, {figures.new_rate:>9,.0f} new/s, "
        f"{figures.request_rate:7.1f} {unit}/s, p50 {figures.p50:7.2f} ms, p99 {figures.p99:7.2f} ms"
    )
    print(f"  {'':<20} {cpu.describe(figures.new)}")
    return figures


LABELS = {
    "HTTP": "HTTP ingest API",
    "COPY": "COPY (raw)",
    "service SQL": "service's SQL via psycopg",
    "INSERT unnest": "INSERT unnest ON CONFLICT",
}


def print_table(results: dict[str, Figures]) -> None:
    copy_rate = results["COPY"].rate
    header = (
        f"{'path':<34} {'rows sent/s':>11} {'new rows/s':>11} {'req|txn/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'÷ COPY':>7}"
    )
    print(header)
    print("-" * len(header))
    for path in PATHS:
        figures = results[path]
        print(
            f"{LABELS[path]:<34} {figures.rate:>11,.0f} {figures.new_rate:>11,.0f} "
            f"{figures.request_rate:>9.1f} {figures.p50:>8.2f} {figures.p99:>8.2f} "
            f"{figures.rate / copy_rate:>7.1%}"
        )


def markdown(results: dict[str, Figures], config: str, verdict: str) -> str:
    copy_rate = results["COPY"].rate
    rows = []
    for path in PATHS:
        figures = results[path]
        rows.append(
            [
                LABELS[path],
                f"{figures.rate:,.0f}",
                f"{figures.new_rate:,.0f}",
                f"{figures.request_rate:.1f}",
                f"{figures.p50:.1f}",
                f"{figures.p99:.1f}",
                f"{figures.rate / copy_rate:.1%}",
            ]
        )
    return common.markdown_section(
        "Event ingestion",
        "ingest.py",
        "| Path | Rows sent/s | New rows/s | Requests or txn/s | p50 ms | p99 ms | ÷ COPY |",
        "|---|---:|---:|---:|---:|---:|---:|",
        rows,
        config,
        f"Target (HTTP ≥ {TARGET_RATE:,} events/s sustained): **{verdict}**",
    )


# --- Main ----------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--events", type=int, default=2_000_000, help="events sent, duplicates included (default 2,000,000)"
    )
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    common.add_client_procs_option(parser)
    common.add_gunicorn_options(
        parser,
        workers_default=4,
        workers_help="gunicorn worker processes (default 4)",
        worker_class_help="gunicorn worker class (default sync)",
    )
    parser.add_argument(
        "--customers", type=int, default=1000, help="customers of the business (default 1,000)"
    )
    parser.add_argument(
        "--seed", type=int, default=None, help="seed of the generated events (default: random)"
    )
    common.add_database_options(parser, DEFAULT_DATABASE_URL)
    args = parser.parse_args()
    if min(args.events, args.clients, args.client_procs, args.workers, args.threads, args.customers) < 1:
        parser.error(
            "--events, --clients, --client-procs, --workers, --threads and --customers must be positive"
        )
    return args


def main() -> int:
    args = parse_args()
    url = args.database_url
    server_config = common.ServerConfig(args.workers, args.worker_class, args.threads)
    client_procs = min(args.client_procs, args.clients)
    seed = args.seed if args.seed is not None else random.randrange(1 << 20)
    rng = random.Random(seed)

    common.announce_database(url)
    setup_started, migrated = common.fresh_database(url)
    fixture = create_fixture(args.customers)
    from django.db import connection, connections

    context = common.postgres_settings(connection, POSTGRES_SETTINGS)
    service_sql, service_variant = service_statements()
    connections.close_all()
    print(
        f"Setup: migrated, 1 business (event window widened to {EVENT_WINDOW_PAST_SECONDS // 86400} days), "
        f"1 API key, {len(fixture.customer_ids)} customers "
        f"(migrate {migrated - setup_started:.1f} s, data {time.monotonic() - migrated:.1f} s)"
    )
    now = datetime.now(UTC)
    workload = Workload(
        seed=seed,
        newest_us=(now - EPOCH) // timedelta(microseconds=1),
        customer_ids=fixture.customer_ids,
        business_id=fixture.business_id,
        ingested_at=now.isoformat(timespec="microseconds"),
    )
    planned = time.monotonic()
    plan = build_plan(args.events, args.clients, rng)
    print(
        f"Plan (seed {seed}): {plan.events:,} events in {plan.requests:,} requests of ≤ {BATCH_SIZE:,}; "
        f"{plan.distinct:,} distinct event_ids, {plan.duplicates:,} duplicates "
        f"({plan.duplicates / plan.events:.1%}) of ids sent ≥ {DUPLICATE_ROUND_GAP} rounds earlier "
        f"[{time.monotonic() - planned:.1f} s; payloads are built in the client processes before each run]"
    )
    busy_before, total_before = _machine_cpu()
    time.sleep(2)
    busy_after, total_after = _machine_cpu()
    background = (
        (busy_after - busy_before) / (total_after - total_before) if total_after > total_before else 0
    )
    common.print_machine(
        context,
        f"   load average {common.load_average()}   busy before the runs (other users): {background:.0%}",
        f"gunicorn: {server_config.describe()}, DB_CONN_MAX_AGE=600, DEBUG=0",
        f"load: {args.clients} clients in {client_procs} processes; metering_event has its primary key, "
        "the unique (business, event_id) and three secondary indexes",
        f"events_insert() on PostgreSQL: {service_variant}",
    )
    print()

    results: dict[str, Figures] = {}
    failures: list[str] = []
    print("Runs (each from an empty table after a CHECKPOINT)")
    with common.gunicorn(server_config, url, "ingest-bench-gunicorn-") as (server, port, log_path):
        common.wait_until_serving(server, port, fixture.secret, "/api/meters", log_path)
        warm_up(port, fixture.secret, args.clients)
        reset_events(url)
        spec = ClientSpec("HTTP", workload, host="127.0.0.1", port=port, secret=fixture.secret)
        result, elapsed, cpu = run_clients(spec, plan.clients, client_procs, url, server.pid)
        results["HTTP"] = summarize("HTTP", result, elapsed, cpu)
        http_result = result

    print("  checks after the HTTP run:")
    failures += check_stored(url, plan, http_result, "HTTP", plan.requests)
    failures += check_contents(url, plan, workload, fixture.business_id, rng)

    shares = [
        (plan.distinct * i // args.clients, plan.distinct * (i + 1) // args.clients)
        for i in range(args.clients)
    ]
    for path, plans in (
        ("COPY", shares),
        ("service SQL", plan.clients),
        ("INSERT unnest", plan.clients),
    ):
        reset_events(url)
        spec = ClientSpec(path, workload, database_url=url, service_sql=service_sql)
        result, elapsed, cpu = run_clients(spec, plans, client_procs, url)
        results[path] = summarize(path, result, elapsed, cpu)
        transactions = plan.requests if path != "COPY" else sum(-(-(b - a) // BATCH_SIZE) for a, b in plans)
        failures += check_stored(url, plan, result, path, transactions)

    print()
    print_table(results)
    http_figures, copy_figures = results["HTTP"], results["COPY"]
    verdict = "PASS" if http_figures.rate >= TARGET_RATE else "FAIL"
    print()
    print(
        f"HTTP {http_figures.rate:,.0f} events/s vs raw COPY {copy_figures.rate:,.0f} rows/s: "
        f"{http_figures.rate / copy_figures.rate:.1%} (stored rows: {http_figures.new_rate:,.0f}/s, "
        f"{http_figures.new_rate / copy_figures.rate:.1%} of COPY)"
    )
    print(
        f"Target: HTTP ingestion ≥ {TARGET_RATE:,} events/s sustained: {http_figures.rate:,.0f} → {verdict}"
    )

    print()
    common.print_failures("CHECKS FAILED:", failures)
    if not failures:
        print(
            "Checks: all requests and transactions succeeded; rows = distinct event_ids sent = reported new "
            "in every run; stored ids and sampled rows match what was sent"
        )

    config = (
        f"{plan.events:,} events ({plan.duplicates / plan.events:.0%} duplicates) in {BATCH_SIZE:,}-event "
        f"requests from {args.clients} clients in {client_procs} processes, {len(fixture.customer_ids):,} "
        f"customers, 20 event names; gunicorn {server_config.describe()}, DB_CONN_MAX_AGE=600; "
        f"COPY and INSERT over {args.clients} psycopg connections in {BATCH_SIZE:,}-row transactions; "
        f"PostgreSQL {context['server_version'].split()[0]} "
        f"(synchronous_commit={context['synchronous_commit']}, "
        f"fsync={context['fsync']}, shared_buffers={context['shared_buffers']}); "
        f"{common.cpu_count()} CPUs shared by load generator, gunicorn and PostgreSQL."
    )
    common.print_markdown(markdown(results, config, verdict))

    common.keep_or_drop_database(url, args.keep_db or bool(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
