"""Usage reads: the project's usage selectors against the same queries as plain SQL.

What it measures
----------------
Billing reads usage two ways, both in ``metering.selectors``:

* ``meter_usage(meter, customer, start, end)``  – one customer's usage of a meter over a period
  (an invoice line, the customer portal); target: **p50 ≤ 20 ms** for a filtered meter;
* ``meter_usage_by_customer(meter, start, end)`` – every customer's usage of a meter in one query
  (the billing run); target: **≤ 10 s**.

On a data set of ``--events`` events (default 10,000,000) of one business over ``--customers``
customers (default 50,000), 20 event names, spread evenly over September–November 2026 (written in
time order, as ingestion would), with metadata ``{"model", "tokens", "region", "cached"}``, it
measures November 2026 for two meters created through ``metering.services.meter_create``:

* ``filtered sum`` – event ``llm.tokens``, sum of ``tokens``, filter ``model = "gpt-4" AND (region
  = "us-east-1" OR region = "eu-west-1")`` (matches about 10% of the event's rows);
* ``count``        – event ``api.request``, count, no filter.

Customers' activity is skewed (Zipf, exponent ``--skew``, default 1.0): a few customers send most
events, as in real usage-based billing; the 200 customers timed are drawn uniformly, so p50 is a
typical customer and the heaviest customer is timed separately.

For each meter it prints: ``meter_usage`` for 200 random customers (after 20 untimed ones) as
p50/p95/p99 ms; ``meter_usage_by_customer`` for the month, 3 runs, each and the best/median; the
same two queries written by hand as plain SQL and run through psycopg (the raw PostgreSQL figure
for the same work); and the EXPLAIN (ANALYZE, BUFFERS) summary of the SQL the selectors sent (which
index, how many rows and buffers). It checks that the selectors agree with each other and with the
plain SQL (all customers exactly; 20 customers one by one) and exits non-zero on a mismatch. Then
a comparison table, PASS/FAIL per target, and a Markdown snippet for docs/benchmarks.md.

How to run
----------
From the project root, with PostgreSQL reachable::

    .venv/bin/python benchmarks/usage.py              # builds the data set (minutes), then measures
    .venv/bin/python benchmarks/usage.py --reuse      # measures on the data set already loaded
    .venv/bin/python benchmarks/usage.py --events 500000 --customers 5000

The database named in ``--database-url`` is DROPPED and recreated unless ``--reuse`` finds the same
data set in it (same events, customers, skew and seed, fully loaded); it is always kept at the end,
so that the next ``--reuse`` run skips loading.

Loading: migrate, then the business through ``business_get_or_create``, customers by COPY, and
events by COPY from 2 processes in parallel (each generates its half of the period) into a table
whose secondary indexes and unique constraint were dropped first; they are then recreated from
the definitions the migrations created (read from the catalog before dropping them, so they are
exactly the migrated ones), each build timed, and VACUUM ANALYZE runs before any measurement.
"""

import argparse
import itertools
import json
import math
import multiprocessing
import random
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import common
from common import EVENT_NAMES, MODELS, REGIONS

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/dodo_billing_usage_bench"
BUSINESS_NAME = "Usage benchmark"
DATASET_VERSION = 1  # bump when the generated data changes, so --reuse reloads
DEFAULT_SEED = 1
DATASET_TABLE = "usage_bench_dataset"  # the marker row of a completely loaded data set
PERIOD_START = datetime(2026, 9, 1, tzinfo=UTC)
PERIOD_END = datetime(2026, 12, 1, tzinfo=UTC)
MONTH_START = datetime(2026, 11, 1, tzinfo=UTC)
MONTH_END = datetime(2026, 12, 1, tzinfo=UTC)
LOADERS = 2
SUM_EVENT, SUM_KEY, FILTER_MODEL, FILTER_REGIONS = "llm.tokens", "tokens", "gpt-4", ("us-east-1", "eu-west-1")
COUNT_EVENT = "api.request"
METERS = ("filtered sum", "count")
POSTGRES_SETTINGS = (
    "server_version",
    "shared_buffers",
    "work_mem",
    "effective_cache_size",
    "random_page_cost",
    "max_parallel_workers_per_gather",
    "jit",
)
SAMPLE = 200  # customers timed one by one
WARMUP = 20  # customers queried first, untimed
CHECKED = 20  # customers whose three results are compared
ALL_RUNS = 3
TARGET_ONE_P50_MS = 20.0
TARGET_ALL_S = 10.0
EVENT_COLUMNS = 'business_id, customer_id, event_id, event_name, "timestamp", metadata, ingested_at'

# The same questions as the selectors ask, written by hand. A meter filter's string condition is
# true only for a JSON string equal to the value, which is exactly what jsonb containment tests;
# a sum adds the values that are JSON numbers.
_FILTERED = (
    "business_id = %(business)s AND event_name = %(event)s "
    'AND "timestamp" >= %(start)s AND "timestamp" < %(end)s '
    "AND metadata @> %(model)s::jsonb "
    "AND (metadata @> %(region_a)s::jsonb OR metadata @> %(region_b)s::jsonb)"
)
_UNFILTERED = (
    "business_id = %(business)s AND event_name = %(event)s "
    'AND "timestamp" >= %(start)s AND "timestamp" < %(end)s'
)
_SUM = (
    f"sum((metadata ->> '{SUM_KEY}')::numeric) "
    f"FILTER (WHERE jsonb_typeof(metadata -> '{SUM_KEY}') = 'number')"
)
PLAIN_SQL = {
    (
        "filtered sum",
        "one",
    ): f"SELECT {_SUM} FROM metering_event WHERE {_FILTERED} AND customer_id = %(customer)s",
    (
        "filtered sum",
        "all",
    ): f"SELECT customer_id, {_SUM} FROM metering_event WHERE {_FILTERED} GROUP BY customer_id",
    (
        "count",
        "one",
    ): f"SELECT count(*) FROM metering_event WHERE {_UNFILTERED} AND customer_id = %(customer)s",
    (
        "count",
        "all",
    ): f"SELECT customer_id, count(*) FROM metering_event WHERE {_UNFILTERED} GROUP BY customer_id",
}


# --- The data set (loader processes use the standard library and psycopg only) ----------------------


@dataclass(frozen=True)
class DataSpec:
    events: int
    customers: int
    skew: float
    seed: int


def period_hours() -> int:
    return int((PERIOD_END - PERIOD_START) / timedelta(hours=1))


def _load_events(url: str, business_id: str, customer_ids: list[str], spec: DataSpec, hours: range) -> None:
    """COPY the events of ``hours`` (indices into the period) in time order, one transaction.

    Hour h holds events ``events*h//H … events*(h+1)//H - 1`` (H hours in all), so the loaders
    together write every event once; ``customer_ids`` is in rank order (the first is the busiest).
    """
    import psycopg

    rng = random.Random(spec.seed * 1_000_003 + hours.start)
    cum_weights = list(itertools.accumulate(1 / (rank + 1) ** spec.skew for rank in range(len(customer_ids))))
    total_hours = period_hours()
    names = EVENT_NAMES
    with (
        psycopg.connect(url) as conn,
        conn.cursor() as cursor,
        cursor.copy(f"COPY metering_event ({EVENT_COLUMNS}) FROM STDIN") as copy,
    ):
        lines: list[str] = []
        for hour in hours:
            first = spec.events * hour // total_hours
            count = spec.events * (hour + 1) // total_hours - first
            prefix = (PERIOD_START + timedelta(hours=hour)).strftime("%Y-%m-%d %H")
            offsets = sorted(rng.randrange(3_600_000_000) for _ in range(count))
            customers = rng.choices(customer_ids, cum_weights=cum_weights, k=count)
            for number, (offset, customer) in enumerate(zip(offsets, customers, strict=True)):
                bits = rng.getrandbits(64)
                minute, micro = divmod(offset, 60_000_000)
                second, micro = divmod(micro, 1_000_000)
                stamp = f"{prefix}:{minute:02d}:{second:02d}.{micro:06d}+00"
                metadata = (
                    f'{{"model": "{MODELS[bits % 5]}", "tokens": {1 + (bits >> 17) % 4000}, '
                    f'"region": "{REGIONS[(bits >> 8) % 4]}", '
                    f'"cached": {"true" if bits >> 16 & 1 else "false"}}}'
                )
                lines.append(
                    f"{business_id}\t{customer}\tevt_{bits >> 24:010x}{first + number:08x}\t"
                    f"{names[(bits >> 32) % 20]}\t{stamp}\t{metadata}\t{stamp}\n"
                )
            if len(lines) >= 20_000:
                copy.write("".join(lines))
                lines.clear()
        if lines:
            copy.write("".join(lines))


def load_events_parallel(url: str, business_id: str, customer_ids: list[str], spec: DataSpec) -> None:
    total_hours = period_hours()
    bounds = [total_hours * i // LOADERS for i in range(LOADERS + 1)]
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(
            target=_load_events,
            args=(url, business_id, customer_ids, spec, range(bounds[i], bounds[i + 1])),
        )
        for i in range(LOADERS)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    failed = [process.exitcode for process in processes if process.exitcode != 0]
    if failed:
        raise SystemExit(f"event loaders failed with exit codes {failed}")


# --- Database ------------------------------------------------------------------------------------


def find_dataset(url: str, spec: DataSpec) -> dict | None:
    """The marker row of a completely loaded data set equal to ``spec``, or None."""
    import psycopg

    try:
        conn = psycopg.connect(url, autocommit=True)
    except psycopg.OperationalError:
        return None
    with conn:
        if conn.execute("SELECT to_regclass(%s)", (DATASET_TABLE,)).fetchone()[0] is None:
            return None
        cursor = conn.execute(f"SELECT * FROM {DATASET_TABLE}")
        row = cursor.fetchone()
        if row is None:
            return None
        marker = dict(zip([column.name for column in cursor.description], row, strict=True))
    wanted = {
        "version": DATASET_VERSION,
        "events": spec.events,
        "customers": spec.customers,
        "seed": spec.seed,
    }
    if any(marker[key] != value for key, value in wanted.items()) or marker["skew"] != spec.skew:
        return None
    return marker


_SECONDARY_INDEXES_SQL = """
SELECT ic.relname, pg_get_indexdef(i.indexrelid), con.conname, pg_get_constraintdef(con.oid)
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid
WHERE i.indrelid = 'metering_event'::regclass AND NOT i.indisprimary
ORDER BY ic.relname
"""


def secondary_indexes(conn) -> list[tuple[str, str, str | None, str | None]]:
    """(index, CREATE INDEX statement, constraint or None, constraint definition or None) of every
    index on metering_event except its primary key, as the migrations created them."""
    return conn.execute(_SECONDARY_INDEXES_SQL).fetchall()


def drop_indexes(conn, indexes) -> None:
    from psycopg import sql

    for name, _, constraint, _ in indexes:
        if constraint:
            conn.execute(
                sql.SQL("ALTER TABLE metering_event DROP CONSTRAINT {}").format(sql.Identifier(constraint))
            )
        else:
            conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))


def create_indexes(conn, indexes) -> list[tuple[str, float]]:
    from psycopg import sql

    timings = []
    for name, definition, constraint, constraint_definition in indexes:
        started = time.monotonic()
        if constraint:
            conn.execute(
                sql.SQL("ALTER TABLE metering_event ADD CONSTRAINT {} {}").format(
                    sql.Identifier(constraint), sql.SQL(constraint_definition)
                )
            )
        else:
            conn.execute(sql.SQL(definition))
        timings.append((name, time.monotonic() - started))
    return timings


def load_dataset(url: str, spec: DataSpec, rng: random.Random) -> dict:
    """Everything from an empty database to a measured-ready data set; returns the marker row."""
    import psycopg

    from dodo_billing.ids import new_public_id
    from dodo_billing.services import business_get_or_create

    business, _ = business_get_or_create(name=BUSINESS_NAME)
    customer_ids = [new_public_id("cus") for _ in range(spec.customers)]
    rng.shuffle(customer_ids)  # rank order: the first is the busiest customer
    created = datetime(2026, 8, 1, tzinfo=UTC)
    with psycopg.connect(url, autocommit=True) as conn:
        started = time.monotonic()
        with conn.cursor().copy(
            "COPY customers_customer (id, business_id, name, email, metadata, created_at, updated_at) "
            "FROM STDIN"
        ) as copy:
            for number, customer_id in enumerate(customer_ids):
                copy.write_row(
                    (
                        customer_id,
                        business.id,
                        f"Bench customer {number}",
                        f"bench{number}@example.com",
                        "{}",
                        created,
                        created,
                    )
                )
        customers_seconds = time.monotonic() - started

        indexes = secondary_indexes(conn)
        print("  metering_event's secondary indexes, as migrated (dropped for the load, then rebuilt):")
        for _, definition, constraint, constraint_definition in indexes:
            print(
                f"    {definition}"
                + (f"  [constraint {constraint}: {constraint_definition}]" if constraint else "")
            )
        check_model_indexes(indexes)
        drop_indexes(conn, indexes)

        started = time.monotonic()
        load_events_parallel(url, business.id, customer_ids, spec)
        load_seconds = time.monotonic() - started
        print(
            f"  loaded {spec.customers:,} customers in {customers_seconds:.1f} s; {spec.events:,} events in "
            f"{load_seconds:.1f} s ({spec.events / load_seconds:,.0f} rows/s, COPY from {LOADERS} processes)"
        )

        conn.execute("SET maintenance_work_mem = '1GB'")
        started = time.monotonic()
        timings = create_indexes(conn, indexes)
        index_seconds = time.monotonic() - started
        for name, seconds in timings:
            print(f"  built {name} in {seconds:.1f} s")
        rebuilt = secondary_indexes(conn)
        if rebuilt != indexes:
            raise SystemExit(f"rebuilt indexes differ from the migrated ones:\n{rebuilt}\n{indexes}")
        print(f"  indexes rebuilt in {index_seconds:.1f} s, identical to the migrated definitions")

        started = time.monotonic()
        conn.execute("VACUUM ANALYZE metering_event")
        conn.execute("VACUUM ANALYZE customers_customer")
        vacuum_seconds = time.monotonic() - started
        print(f"  VACUUM ANALYZE in {vacuum_seconds:.1f} s")

        conn.execute(
            f"CREATE TABLE {DATASET_TABLE} (version int, events bigint, customers int, skew float8, "
            "seed int, "
            "business_id text, heaviest_customer text, customers_seconds float8, load_seconds float8, "
            "index_seconds float8, vacuum_seconds float8, loaded_at timestamptz)"
        )
        conn.execute(
            f"INSERT INTO {DATASET_TABLE} VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, now())",
            (
                DATASET_VERSION,
                spec.events,
                spec.customers,
                spec.skew,
                spec.seed,
                business.id,
                customer_ids[0],
                customers_seconds,
                load_seconds,
                index_seconds,
                vacuum_seconds,
            ),
        )
    return find_dataset(url, spec)


def check_model_indexes(indexes) -> None:
    """The model's indexes and constraints are the ones in the database (no migration pending)."""
    from metering.models import Event

    in_model = {index.name for index in Event._meta.indexes} | {c.name for c in Event._meta.constraints}
    in_database = {name for name, _, _, _ in indexes} | {c for _, _, c, _ in indexes if c}
    if not in_model <= in_database:
        raise SystemExit(
            f"Event's indexes {sorted(in_model - in_database)} are not in the database: migrate first"
        )


def dataset_sizes(conn) -> str:
    table, indexes = conn.execute(
        "SELECT pg_table_size('metering_event'), pg_indexes_size('metering_event')"
    ).fetchone()
    parts = [f"metering_event {table / 2**30:.2f} GB heap+TOAST, {indexes / 2**30:.2f} GB indexes ("]
    rows = conn.execute(
        "SELECT c.relname, pg_relation_size(c.oid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE i.indrelid = 'metering_event'::regclass ORDER BY c.relname"
    ).fetchall()
    parts.append(", ".join(f"{name} {size / 2**20:,.0f} MB" for name, size in rows) + ")")
    return "".join(parts)


# --- Django side: meters, selectors, EXPLAIN ---------------------------------------------------------


def create_meters(business_id: str) -> dict:
    """The two meters, through the service (which validates and normalizes the filter)."""
    from dodo_billing.models import Business
    from metering.services import meter_create

    business = Business.objects.get(id=business_id)
    region_filter = {
        "conjunction": "or",
        "clauses": [{"key": "region", "operator": "equals", "value": region} for region in FILTER_REGIONS],
    }
    model_filter = {
        "conjunction": "and",
        "clauses": [{"key": "model", "operator": "equals", "value": FILTER_MODEL}],
    }
    return {
        "filtered sum": meter_create(
            business=business,
            name=f"Bench {FILTER_MODEL} tokens in {' + '.join(FILTER_REGIONS)}",
            event_name=SUM_EVENT,
            measurement_unit="tokens",
            aggregation={"type": "sum", "key": SUM_KEY},
            filter={"conjunction": "and", "clauses": [model_filter, region_filter]},
        ),
        "count": meter_create(
            business=business,
            name="Bench API requests",
            event_name=COUNT_EVENT,
            measurement_unit="requests",
            aggregation={"type": "count"},
        ),
    }


def plain_params(meter_name: str, business_id: str, customer_id: str | None = None) -> dict:
    params = {
        "business": business_id,
        "event": SUM_EVENT if meter_name == "filtered sum" else COUNT_EVENT,
        "start": MONTH_START,
        "end": MONTH_END,
        "model": json.dumps({"model": FILTER_MODEL}),
        "region_a": json.dumps({"region": FILTER_REGIONS[0]}),
        "region_b": json.dumps({"region": FILTER_REGIONS[1]}),
    }
    if customer_id is not None:
        params["customer"] = customer_id
    return params


def _number(value) -> Decimal:
    return Decimal(0) if value is None else Decimal(value)


def selector_one(meter, customer) -> Decimal:
    from metering.selectors import meter_usage

    return meter_usage(meter=meter, customer=customer, start=MONTH_START, end=MONTH_END)


def selector_all(meter) -> dict:
    from metering.selectors import meter_usage_by_customer

    return meter_usage_by_customer(meter=meter, start=MONTH_START, end=MONTH_END)


def plain_one(conn, meter_name: str, business_id: str, customer_id: str) -> Decimal:
    sql = PLAIN_SQL[meter_name, "one"]
    return _number(conn.execute(sql, plain_params(meter_name, business_id, customer_id)).fetchone()[0])


def plain_all(conn, meter_name: str, business_id: str) -> dict:
    rows = conn.execute(PLAIN_SQL[meter_name, "all"], plain_params(meter_name, business_id)).fetchall()
    return {customer_id: _number(value) for customer_id, value in rows}


def captured_sql(call) -> str:
    """The SQL a selector sent (the last query on metering_event), with its parameters inlined."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        call()
    queries = [query["sql"] for query in captured.captured_queries if "metering_event" in query["sql"]]
    return queries[-1]


def explain(sql: str) -> list[str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
        return [row[0] for row in cursor.fetchall()]


_PLAN_KEEP = (
    "->",
    "Index Cond",
    "Recheck Cond",
    "Rows Removed",
    "Heap Blocks",
    "Buffers",
    "Workers",
    "Planning Time",
    "Execution Time",
    "JIT",
    "Timing",
    "Batches",
)


def plan_summary(lines: list[str]) -> tuple[list[str], list[str], float]:
    """The plan's telling lines (shortened), the indexes it uses, and its execution time in ms."""
    kept = [lines[0][:150]] + [line[:150] for line in lines[1:] if any(key in line for key in _PLAN_KEEP)]
    indexes = []
    for line in lines:
        for marker in (" using ", " on "):
            if (
                "Index Scan" in line or "Index Only Scan" in line or "Bitmap Index Scan" in line
            ) and marker in line:
                name = line.split(marker, 1)[1].split()[0]
                if name not in indexes:
                    indexes.append(name)
                break
    execution = next(
        (float(line.split()[2]) for line in lines if line.startswith("Execution Time")), math.nan
    )
    return kept, indexes, execution


# --- Measurements ----------------------------------------------------------------------------------


@dataclass
class MeterFigures:
    one_selector: list[float]  # ms per customer
    one_plain: list[float]
    heavy_selector: float  # ms, median of 5
    heavy_plain: float
    heavy_events: int
    all_selector: list[float]  # s per run
    all_plain: list[float]
    customers_with_usage: int
    one_plan: tuple[list[str], list[str], float]
    heavy_plan: tuple[list[str], list[str], float]
    all_plan: tuple[list[str], list[str], float]


def measure_meter(meter_name, meter, conn, business_id, customers, heaviest) -> tuple[MeterFigures, dict]:
    perf = time.perf_counter
    warm, timed = customers[:WARMUP], customers[WARMUP : WARMUP + SAMPLE]
    for customer in warm:
        selector_one(meter, customer)
        plain_one(conn, meter_name, business_id, customer.id)
    one_selector, one_plain = [], []
    for number, customer in enumerate(timed):
        # Alternate which goes first, so that neither always finds the other's pages cached.
        for which in ("selector", "plain") if number % 2 == 0 else ("plain", "selector"):
            started = perf()
            if which == "selector":
                selector_one(meter, customer)
                one_selector.append((perf() - started) * 1000)
            else:
                plain_one(conn, meter_name, business_id, customer.id)
                one_plain.append((perf() - started) * 1000)

    heavy_selector, heavy_plain = [], []
    for _ in range(5):
        started = perf()
        selector_one(meter, heaviest)
        heavy_selector.append((perf() - started) * 1000)
        started = perf()
        plain_one(conn, meter_name, business_id, heaviest.id)
        heavy_plain.append((perf() - started) * 1000)
    heavy_events = conn.execute(
        "SELECT count(*) FROM metering_event "
        'WHERE customer_id = %s AND event_name = %s AND "timestamp" >= %s '
        'AND "timestamp" < %s',
        (heaviest.id, meter.event_name, MONTH_START, MONTH_END),
    ).fetchone()[0]

    all_selector, all_plain = [], []
    by_customer = plain_result = None
    for _ in range(ALL_RUNS):
        started = perf()
        by_customer = selector_all(meter)
        all_selector.append(perf() - started)
        started = perf()
        plain_result = plain_all(conn, meter_name, business_id)
        all_plain.append(perf() - started)

    sample_customer = timed[len(timed) // 2]
    figures = MeterFigures(
        one_selector=one_selector,
        one_plain=one_plain,
        heavy_selector=statistics.median(heavy_selector),
        heavy_plain=statistics.median(heavy_plain),
        heavy_events=heavy_events,
        all_selector=all_selector,
        all_plain=all_plain,
        customers_with_usage=len(by_customer),
        one_plan=plan_summary(explain(captured_sql(lambda: selector_one(meter, sample_customer)))),
        heavy_plan=plan_summary(explain(captured_sql(lambda: selector_one(meter, heaviest)))),
        all_plan=plan_summary(explain(captured_sql(lambda: selector_all(meter)))),
    )
    return figures, {"selector": by_customer, "plain": plain_result}


def check_meter(meter_name, meter, conn, business_id, results, customer_ids, rng) -> list[str]:
    """meter_usage = meter_usage_by_customer = plain SQL: all customers at once, then 20 one by one
    (half of them customers with usage, half drawn from all customers)."""
    from customers.models import Customer

    failures = []
    by_customer, plain = results["selector"], results["plain"]
    differing = sorted(set(by_customer) ^ set(plain)) + [
        customer_id
        for customer_id in by_customer
        if customer_id in plain and by_customer[customer_id] != plain[customer_id]
    ]
    if differing:
        failures.append(
            f"{meter_name}: meter_usage_by_customer and plain SQL differ for {len(differing)} customers, "
            f"e.g. {differing[:3]}"
        )
    chosen = rng.sample(sorted(by_customer), min(CHECKED // 2, len(by_customer)))
    chosen += [customer_id for customer_id in rng.sample(customer_ids, CHECKED) if customer_id not in chosen]
    chosen = chosen[:CHECKED]
    customers = Customer.objects.in_bulk(chosen)
    wrong = 0
    for customer_id in chosen:
        one = selector_one(meter, customers[customer_id])
        listed = by_customer.get(customer_id, Decimal(0))
        raw = plain_one(conn, meter_name, business_id, customer_id)
        if not one == listed == raw:
            wrong += 1
            failures.append(
                f"{meter_name}: customer {customer_id}: meter_usage {one}, by_customer {listed}, "
                f"plain SQL {raw}"
            )
    nonzero = sum(1 for customer_id in chosen if by_customer.get(customer_id))
    print(
        f"  {meter_name}: meter_usage_by_customer {'=' if not differing else '≠'} plain SQL over all "
        f"{len(by_customer):,} customers with usage; {len(chosen)} customers ({nonzero} with usage): "
        f"meter_usage = by_customer = plain SQL for {len(chosen) - wrong}"
    )
    return failures


# --- Reporting -----------------------------------------------------------------------------------


def describe_meter(meter_name: str, meter) -> str:
    if meter_name == "filtered sum":
        return (
            f"{meter.id}: {meter.event_name}, sum of {meter.aggregation_key}, "
            f"model = {FILTER_MODEL} AND (region = {' OR region = '.join(FILTER_REGIONS)})"
        )
    return f"{meter.id}: {meter.event_name}, count, no filter"


def print_meter(meter_name: str, meter, figures: MeterFigures) -> None:
    one_s, one_p = figures.one_selector, figures.one_plain
    print(f"{meter_name} ({describe_meter(meter_name, meter)})")
    print(
        f"  one customer, {len(one_s)} random (after {WARMUP} untimed): "
        f"meter_usage p50 {common.percentile(one_s, 50):.2f} p95 {common.percentile(one_s, 95):.2f} "
        f"p99 {common.percentile(one_s, 99):.2f} max {max(one_s):.2f} ms; "
        f"plain SQL p50 {common.percentile(one_p, 50):.2f} p95 {common.percentile(one_p, 95):.2f} "
        f"p99 {common.percentile(one_p, 99):.2f} max {max(one_p):.2f} ms"
    )
    print(
        f"  heaviest customer ({figures.heavy_events:,} {meter.event_name} events in the month): meter_usage "
        f"{figures.heavy_selector:.2f} ms, plain SQL {figures.heavy_plain:.2f} ms (median of 5)"
    )
    print(
        f"  all customers ({figures.customers_with_usage:,} with usage): meter_usage_by_customer "
        f"{', '.join(f'{s:.3f}' for s in figures.all_selector)} s (best {min(figures.all_selector):.3f}, "
        f"median {statistics.median(figures.all_selector):.3f}); plain SQL "
        f"{', '.join(f'{s:.3f}' for s in figures.all_plain)} s (best {min(figures.all_plain):.3f}, "
        f"median {statistics.median(figures.all_plain):.3f})"
    )
    print("  EXPLAIN (ANALYZE, BUFFERS) of the SQL the selectors sent (summary lines):")
    for label, (lines, indexes, execution) in (
        ("one customer (a typical one)", figures.one_plan),
        ("one customer (the heaviest)", figures.heavy_plan),
        ("all customers", figures.all_plan),
    ):
        print(f"    {label}: indexes used: {', '.join(indexes) or 'none'}; execution {execution:.2f} ms")
        for line in lines:
            print(f"      {line}")


def table_rows(figures: dict[str, MeterFigures]) -> list[tuple[str, ...]]:
    rows = []
    for name in METERS:
        f = figures[name]
        one_target = f"p50 ≤ {TARGET_ONE_P50_MS:g} ms" if name == "filtered sum" else "(p50 ≤ 20 ms)"
        one_ok = common.percentile(f.one_selector, 50) <= TARGET_ONE_P50_MS
        all_ok = statistics.median(f.all_selector) <= TARGET_ALL_S
        rows += [
            (
                name,
                "one customer p50/p95/p99",
                "/".join(f"{common.percentile(f.one_selector, p):.1f}" for p in (50, 95, 99)) + " ms",
                "/".join(f"{common.percentile(f.one_plain, p):.1f}" for p in (50, 95, 99)) + " ms",
                f"{f.one_plan[2]:.2f} ms",
                one_target,
                "PASS" if one_ok else "FAIL",
            ),
            (
                name,
                "heaviest customer",
                f"{f.heavy_selector:.1f} ms",
                f"{f.heavy_plain:.1f} ms",
                f"{f.heavy_plan[2]:.2f} ms",
                "",
                "",
            ),
            (
                name,
                "all customers best/median",
                f"{min(f.all_selector):.2f}/{statistics.median(f.all_selector):.2f} s",
                f"{min(f.all_plain):.2f}/{statistics.median(f.all_plain):.2f} s",
                f"{f.all_plan[2] / 1000:.2f} s",
                f"≤ {TARGET_ALL_S:g} s",
                "PASS" if all_ok else "FAIL",
            ),
        ]
    return rows


TABLE_HEADER = ("meter", "query", "selector (Django)", "plain SQL (psycopg)", "EXPLAIN exec", "target", "")


def print_table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in [TABLE_HEADER, *rows]) for i in range(len(TABLE_HEADER))]
    line = "  ".join(f"{{:<{width}}}" for width in widths)
    print(line.format(*TABLE_HEADER))
    print("-" * (sum(widths) + 2 * (len(widths) - 1)))
    for row in rows:
        print(line.format(*row))


def markdown(rows: list[tuple[str, ...]], config: str, verdict: str) -> str:
    return common.markdown_section(
        "Usage reads",
        "usage.py",
        "| Meter | Query | Selector (Django) | Plain SQL (psycopg) | EXPLAIN execution | Target | |",
        "|---|---|---:|---:|---:|---|---|",
        rows,
        config,
        f"Targets (filtered meter: one customer p50 ≤ 20 ms; all customers ≤ 10 s): **{verdict}**",
    )


# --- Main ----------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--events", type=int, default=10_000_000, help="events in the data set (default 10,000,000)"
    )
    parser.add_argument("--customers", type=int, default=50_000, help="customers (default 50,000)")
    parser.add_argument(
        "--skew",
        type=float,
        default=1.0,
        help="Zipf exponent of customers' activity; 0 = uniform (default 1.0)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=DEFAULT_SEED,
        help=f"seed of the generated data and samples (default {DEFAULT_SEED})",
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="skip loading when the database holds this data set (same events, customers, skew, seed)",
    )
    common.add_database_options(parser, DEFAULT_DATABASE_URL, when=" unless reused", keep_db=False)
    args = parser.parse_args()
    if args.events < 1 or args.customers < WARMUP + SAMPLE or args.skew < 0:
        parser.error(
            f"--events must be positive, --customers at least {WARMUP + SAMPLE}, --skew not negative"
        )
    return args


def ensure_dataset(url: str, spec: DataSpec, *, reuse: bool, seed: int) -> dict:
    """Reuse the data set already loaded in ``url`` (``reuse`` and the same spec), or recreate the
    database and load it. Django is set up on ``url`` afterwards. Returns the marker row."""
    marker = find_dataset(url, spec) if reuse else None
    if marker:
        print(
            f"Reusing the data set loaded {marker['loaded_at']:%Y-%m-%d %H:%M} UTC "
            f"(load {marker['load_seconds']:.0f} s, indexes {marker['index_seconds']:.0f} s, "
            f"VACUUM ANALYZE {marker['vacuum_seconds']:.0f} s); migrating (no-op unless a migration is new)"
        )
        common.migrate(url)
        common.django_setup(url)
        return marker
    if reuse:
        print("--reuse: the database does not hold this data set; loading it")
    print(
        f"Loading: {spec.events:,} events, {spec.customers:,} customers (Zipf {spec.skew:g}), "
        f"{len(EVENT_NAMES)} event names, "
        f"{PERIOD_START:%Y-%m-%d} – {PERIOD_END - timedelta(days=1):%Y-%m-%d}"
    )
    started = time.monotonic()
    common.recreate_database(url)
    common.migrate(url)
    print(f"  database recreated and migrated in {time.monotonic() - started:.1f} s")
    common.django_setup(url)
    return load_dataset(url, spec, random.Random(seed))


def main() -> int:
    args = parse_args()
    url = args.database_url
    spec = DataSpec(args.events, args.customers, args.skew, args.seed)
    rng = random.Random(args.seed)

    common.announce_database(url)
    marker = ensure_dataset(url, spec, reuse=args.reuse, seed=args.seed)
    business_id = marker["business_id"]

    import psycopg

    from customers.models import Customer

    conn = psycopg.connect(url, autocommit=True)
    started = time.monotonic()
    rows = conn.execute("SELECT count(*) FROM metering_event").fetchone()[0]
    if rows != spec.events:
        raise SystemExit(
            f"metering_event holds {rows:,} rows, expected {spec.events:,}: rerun without --reuse"
        )
    context = common.postgres_settings(conn, POSTGRES_SETTINGS)
    print(f"Data set: {rows:,} events (counted in {time.monotonic() - started:.1f} s); {dataset_sizes(conn)}")
    common.print_machine(
        context,
        f"   load average {common.load_average()} (other users' work included)",
        f"month measured: {MONTH_START:%Y-%m-%d} – {MONTH_END:%Y-%m-%d} (exclusive); selectors through "
        "Django's connection (client-side binding); plain SQL through psycopg (server-side binding)",
    )
    print()

    meters = create_meters(business_id)
    customer_ids = [
        row[0]
        for row in conn.execute(
            "SELECT id FROM customers_customer WHERE business_id = %s ORDER BY id", (business_id,)
        )
    ]
    sample_ids = rng.sample(customer_ids, WARMUP + SAMPLE)
    loaded = Customer.objects.in_bulk(sample_ids)
    sample = [loaded[customer_id] for customer_id in sample_ids]
    heaviest = Customer.objects.get(id=marker["heaviest_customer"])

    figures: dict[str, MeterFigures] = {}
    results: dict[str, dict] = {}
    for name in METERS:
        figures[name], results[name] = measure_meter(name, meters[name], conn, business_id, sample, heaviest)
        print_meter(name, meters[name], figures[name])
        print()

    print("Correctness")
    failures: list[str] = []
    for name in METERS:
        failures += check_meter(name, meters[name], conn, business_id, results[name], customer_ids, rng)
    common.print_failures("MISMATCHES:", failures)
    print()

    rows_out = table_rows(figures)
    print_table(rows_out)
    verdict = (
        "PASS"
        if all(row[-1] != "FAIL" for row in rows_out if row[0] == "filtered sum" or "all" in row[1])
        else "FAIL"
    )
    print()
    filtered = figures["filtered sum"]
    print(
        f"Targets: filtered meter, one customer p50 {common.percentile(filtered.one_selector, 50):.2f} ms ≤ "
        f"{TARGET_ONE_P50_MS:g} ms; all customers (median of {ALL_RUNS}) "
        + ", ".join(f"{name} {statistics.median(figures[name].all_selector):.2f} s" for name in METERS)
        + f" ≤ {TARGET_ALL_S:g} s → {verdict}"
    )

    config = (
        f"{spec.events:,} events of one business, {spec.customers:,} customers "
        f"(activity Zipf {spec.skew:g}), {len(EVENT_NAMES)} event names, "
        f"{PERIOD_START:%b}–{(PERIOD_END - timedelta(days=1)):%b %Y}; the month of {MONTH_START:%B %Y}; "
        f"{SAMPLE} random customers after {WARMUP} untimed, {ALL_RUNS} all-customer runs; "
        f"PostgreSQL {context['server_version'].split()[0]} (shared_buffers={context['shared_buffers']}, "
        f"work_mem={context['work_mem']}, jit={context['jit']}); {common.cpu_count()} CPUs, "
        "data in the OS page cache."
    )
    common.print_markdown(markdown(rows_out, config, verdict))

    conn.close()
    from django.db import connections

    connections.close_all()
    print(f"Benchmark database kept: {common.database_name(url)} (rerun with --reuse to skip loading)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
