"""Dashboard page render times at scale: the customers list, a customer search and a customer's
detail page with 1,000,000 customers and 1,000,000 ledger entries on PostgreSQL.

What it measures
----------------
Each page is rendered server-side through Django's test client, in this process, signed in as a
staff member of the benchmark business: URL resolving, the view, its selector and FilterSet, the
SQL, the table and the template. No network, no browser. For every page it reports p50 and p95
over ``--repeat`` renders (after a warm-up), the number of SQL queries the page runs, and the raw
PostgreSQL time of exactly those queries (the SQL captured from one render, re-sent through a
plain cursor ``--repeat`` times), with the ratio page / raw SQL at p95.

The pages:

* ``customers list``: ``/customers/``, default columns and sort (newest first), 50 rows;
* ``list + balances``: the same with the optional balance and active-subscription columns shown
  (correlated subqueries in the page's one SELECT);
* ``search (rare email fragment)``: ``/customers/?q=<fragment of one customer's email>``;
* ``search (common fragment)``: ``/customers/?q=<fragment shared by ~5% of the emails>``;
* ``customer detail``: ``/customers/<id>/`` of customers that have ledger entries.

**Target: each of list, email search and detail renders in ≤ 150 ms at p95.**

How to run
----------
From the project root, with PostgreSQL reachable (the database named in ``--database-url`` is
DROPPED and recreated, unless ``--reuse`` finds it already loaded)::

    .venv/bin/python benchmarks/dashboard.py                   # load (a few minutes) and measure
    .venv/bin/python benchmarks/dashboard.py --reuse --keep-db # measure again on the loaded data

Loading goes around the ORM: the business, its staff member and exchange rates come from the
project's services and migrations, then customers, their wallets (USD and INR each) and ledger
entries (chains of credits that reconcile: each wallet's balance and entry count equal its
entries) are streamed with COPY, with the tables' secondary indexes dropped during the load and
rebuilt after it, and the ledger triggers off for the load's session only
(``session_replication_role = replica``).
"""

import argparse
import random
import statistics
import string
import sys
import time
from datetime import UTC, datetime, timedelta

import common

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/dodo_billing_dashboard_bench"
BUSINESS_NAME = "Dashboard benchmark"
USERNAME = "bench-staff"
TARGET_MS = 150.0
POSTGRES_SETTINGS = ("server_version", "shared_buffers", "work_mem", "effective_cache_size", "jit")
FIRST_NAMES = [
    "ada",
    "grace",
    "alan",
    "katherine",
    "dorothy",
    "margaret",
    "barbara",
    "frances",
    "radia",
    "hedy",
    "edsger",
    "donald",
    "ken",
    "dennis",
    "linus",
    "guido",
    "bjarne",
    "james",
    "john",
    "mary",
    "anita",
    "shafi",
    "leslie",
    "tim",
    "vint",
    "whitfield",
    "sophie",
    "karen",
    "joan",
    "lynn",
]
LAST_NAMES = [
    "lovelace",
    "hopper",
    "turing",
    "johnson",
    "vaughan",
    "hamilton",
    "liskov",
    "allen",
    "perlman",
    "lamarr",
    "dijkstra",
    "knuth",
    "thompson",
    "ritchie",
    "torvalds",
    "rossum",
    "stroustrup",
    "gosling",
    "backus",
    "keller",
    "borg",
    "goldwasser",
    "lamport",
    "berners",
    "cerf",
    "diffie",
    "wilson",
    "jones",
    "clarke",
    "conway",
]
DOMAINS = ("example.com", "mail.example", "corp.example", "shop.example", "inbox.example") * 3 + (
    "rare.example",
)
ENTRIES_PER_WALLET = 10
ALPHABET = string.ascii_letters + string.digits


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common.add_database_options(parser, DEFAULT_DATABASE_URL, when=" unless --reuse finds it loaded")
    parser.add_argument("--customers", type=int, default=1_000_000, help="customers (default 1,000,000)")
    parser.add_argument("--entries", type=int, default=1_000_000, help="ledger entries (default 1,000,000)")
    parser.add_argument("--repeat", type=int, default=60, help="timed renders per page (default 60)")
    parser.add_argument("--reuse", action="store_true", help="reuse the database if it is already loaded")
    parser.add_argument("--seed", type=int, default=7)
    return parser.parse_args()


# --- Loading -------------------------------------------------------------------------------------


def _loaded(url: str, args) -> bool:
    import psycopg

    try:
        with psycopg.connect(url) as conn:
            customers = conn.execute("SELECT count(*) FROM customers_customer").fetchone()[0]
            entries = conn.execute("SELECT count(*) FROM wallets_ledgerentry").fetchone()[0]
    except psycopg.Error:
        return False
    return customers >= args.customers and entries >= args.entries


def _secondary_indexes(cursor, tables: list[str]) -> list[tuple[str, str]]:
    """(name, definition) of the tables' indexes that do not back a constraint."""
    cursor.execute(
        """
        SELECT i.indexname, i.indexdef FROM pg_indexes i
        WHERE i.tablename = ANY(%s)
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
        """,
        [tables],
    )
    return cursor.fetchall()


def _public_id(rng: random.Random, prefix: str) -> str:
    return f"{prefix}_" + "".join(rng.choices(ALPHABET, k=21))


def load(args) -> None:
    from django.contrib.auth import get_user_model
    from django.db import connection

    from dodo_billing.services import business_get_or_create, membership_set

    business = business_get_or_create(name=BUSINESS_NAME)[0]
    user = get_user_model().objects.create_user(username=USERNAME, password="bench-pass-123")
    membership_set(user=user, business=business)

    rng = random.Random(args.seed)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    span = 2 * 365 * 24 * 3600
    tables = ["customers_customer", "wallets_wallet", "wallets_ledgerentry"]
    funded = min(args.customers, -(-args.entries // ENTRIES_PER_WALLET))  # customers with entries
    with connection.cursor() as django_cursor:
        cursor = django_cursor.cursor  # psycopg's own, for COPY
        cursor.execute("SET session_replication_role = replica")  # no triggers / FK checks here
        indexes = _secondary_indexes(cursor, tables)
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX "{name}"')

        began = time.monotonic()
        ids = []
        created = []
        with cursor.copy(
            "COPY customers_customer (id, business_id, name, email, phone_number, metadata, "
            "preferred_locale, created_at, updated_at) FROM STDIN"
        ) as copy:
            for n in range(args.customers):
                first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
                customer_id = _public_id(rng, "cus")
                at = start + timedelta(seconds=rng.randrange(span))
                ids.append(customer_id)
                created.append(at)
                copy.write_row(
                    (
                        customer_id,
                        business.id,
                        f"{first.title()} {last.title()}",
                        f"{first}.{last}{n}@{rng.choice(DOMAINS)}",
                        f"+1 555 {n % 10_000_000:07d}" if n % 3 else None,
                        '{"source": "benchmark"}' if n % 4 == 0 else "{}",
                        None,
                        at,
                        at,
                    )
                )
        print(f"  customers: {args.customers:,} in {time.monotonic() - began:.1f} s")

        began = time.monotonic()
        remaining = args.entries
        entries = 0
        # Wallets first (their ids are needed by the entries), then entries in a second COPY.
        wallet_rows = []
        wallet_id = 0
        chains = []  # (wallet id, customer id, created, amounts)
        for index, customer_id in enumerate(ids):
            for currency in ("USD", "INR"):
                wallet_id += 1
                amounts = []
                if currency == "USD" and index < funded and remaining > 0:
                    count = min(ENTRIES_PER_WALLET, remaining)
                    remaining -= count
                    amounts = [rng.randrange(100, 100_000) for _ in range(count)]
                    chains.append((wallet_id, customer_id, created[index], amounts))
                wallet_rows.append(
                    (wallet_id, customer_id, currency, sum(amounts), len(amounts), created[index])
                )
        with cursor.copy(
            "COPY wallets_wallet (id, customer_id, currency, balance, entry_count, created_at, updated_at) "
            "FROM STDIN"
        ) as copy:
            for wallet_id, customer_id, currency, balance, count, at in wallet_rows:
                copy.write_row((wallet_id, customer_id, currency, balance, count, at, at))
        del wallet_rows
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('wallets_wallet', 'id'), (SELECT max(id) FROM wallets_wallet))"
        )
        print(f"  wallets: {2 * args.customers:,} in {time.monotonic() - began:.1f} s")

        began = time.monotonic()
        with cursor.copy(
            "COPY wallets_ledgerentry (id, business_id, customer_id, wallet_id, currency, seq, amount, "
            "is_credit, before_balance, after_balance, event_type, reason, created_at) FROM STDIN"
        ) as copy:
            for wallet_id, customer_id, at, amounts in chains:
                balance = 0
                for seq, amount in enumerate(amounts, start=1):
                    at = at + timedelta(hours=rng.randrange(1, 240))
                    copy.write_row(
                        (
                            _public_id(rng, "wle"),
                            business.id,
                            customer_id,
                            wallet_id,
                            "USD",
                            seq,
                            amount,
                            True,
                            balance,
                            balance + amount,
                            "merchant_adjustment",
                            "Benchmark top-up",
                            at,
                        )
                    )
                    balance += amount
                    entries += 1
        print(f"  ledger entries: {entries:,} in {time.monotonic() - began:.1f} s")

        began = time.monotonic()
        for _, definition in indexes:
            cursor.execute(definition)
        cursor.execute("SET session_replication_role = DEFAULT")
        print(f"  {len(indexes)} secondary indexes rebuilt in {time.monotonic() - began:.1f} s")
    connection.close()
    import psycopg

    began = time.monotonic()
    with psycopg.connect(args.database_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    print(f"  VACUUM ANALYZE in {time.monotonic() - began:.1f} s")


# --- Measuring ------------------------------------------------------------------------------------


def _raw_times(statements: list[str], repeat: int) -> list[float]:
    from django.db import connection

    times = []
    with connection.cursor() as cursor:
        for _ in range(repeat):
            began = time.perf_counter()
            for sql in statements:
                cursor.execute(sql)
                if cursor.description is not None:
                    cursor.fetchall()
            times.append(time.perf_counter() - began)
    return times


def measure(client, label: str, urls: list[str], repeat: int) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for url in urls[:3]:  # warm-up: caches, plans, the template loader
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
    times = []
    for i in range(repeat):
        url = urls[i % len(urls)]
        began = time.perf_counter()
        response = client.get(url)
        times.append(time.perf_counter() - began)
        assert response.status_code == 200, (url, response.status_code)
    with CaptureQueriesContext(connection) as captured:
        client.get(urls[0])
    statements = [query["sql"] for query in captured.captured_queries]
    raw = _raw_times(statements, repeat)
    return {
        "label": label,
        "url": urls[0],
        "p50": common.percentile_ms(times, 50),
        "p95": common.percentile_ms(times, 95),
        "mean": statistics.fmean(times) * 1000,
        "queries": len(statements),
        "raw_p50": common.percentile_ms(raw, 50),
        "raw_p95": common.percentile_ms(raw, 95),
    }


def main() -> int:
    args = parse_args()
    url = args.database_url
    common.announce_database(url)
    if args.reuse and _loaded(url, args):
        print("Reusing the loaded database")
        common.django_setup(url)
    else:
        print(f"Loading {args.customers:,} customers and {args.entries:,} ledger entries …")
        started, migrated = common.fresh_database(url)
        print(f"  migrated in {migrated - started:.1f} s")
        load(args)
        print(f"  loaded in {time.monotonic() - started:.1f} s")

    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    from customers.models import Customer
    from customers.tables import CustomerTable
    from dodo_billing.services import user_preference_set
    from wallets.models import Wallet

    user = get_user_model().objects.get(username=USERNAME)
    client = Client()
    client.force_login(user)
    rng = random.Random(args.seed + 1)
    total = Customer.objects.count()
    funded_ids = list(
        Wallet.objects.filter(currency="USD", entry_count__gt=0).values_list("customer_id", flat=True)[:2000]
    )
    sample = rng.sample(funded_ids, min(len(funded_ids), 50))
    rare = [
        Customer.objects.filter(pk=customer_id).values_list("email", flat=True).get().split("@")[0][-12:]
        for customer_id in sample[:20]
    ]
    user_preference_set(user=user, path=CustomerTable.preference_path("columns"), value=None)
    user_preference_set(user=user, path=CustomerTable.preference_path("per_page"), value=50)

    results = [
        measure(client, "customers list", ["/customers/"], args.repeat),
        measure(client, "search (rare email fragment)", [f"/customers/?q={q}" for q in rare], args.repeat),
        measure(client, "search (common fragment)", ["/customers/?q=rare.example"], args.repeat),
        measure(client, "customer detail", [f"/customers/{c}/" for c in sample], args.repeat),
    ]
    user_preference_set(
        user=user,
        path=CustomerTable.preference_path("columns"),
        value=["id", "email", "created_at", "balance_usd", "balance_inr", "active_subscriptions"],
    )
    results.insert(1, measure(client, "list + balances", ["/customers/"], args.repeat))
    user_preference_set(user=user, path=CustomerTable.preference_path("columns"), value=None)

    settings = common.postgres_settings(connection, POSTGRES_SETTINGS)
    common.print_machine(settings, "", f"customers: {total:,}; load average {common.load_average()}")
    print()
    header = (
        f"{'page':32} {'p50 ms':>8} {'p95 ms':>8} {'queries':>8} {'raw p50':>8} {'raw p95':>8} {'ratio':>6}"
    )
    print(header)
    rows = []
    failed = []
    for r in results:
        ratio = r["p95"] / r["raw_p95"] if r["raw_p95"] else float("nan")
        print(
            f"{r['label']:32} {r['p50']:8.1f} {r['p95']:8.1f} {r['queries']:8d} "
            f"{r['raw_p50']:8.1f} {r['raw_p95']:8.1f} {ratio:6.1f}"
        )
        targeted = r["label"] in ("customers list", "search (rare email fragment)", "customer detail")
        if targeted and r["p95"] > TARGET_MS:
            failed.append(r["label"])
        rows.append(
            [
                r["label"],
                f"`{r['url'] if len(r['url']) < 40 else r['url'][:37] + '…'}`",
                f"{r['p50']:.1f}",
                f"**{r['p95']:.1f}**" if targeted else f"{r['p95']:.1f}",
                str(r["queries"]),
                f"{r['raw_p95']:.1f}",
                f"{ratio:.1f}×",
            ]
        )
    verdict = "PASS" if not failed else f"FAIL ({', '.join(failed)})"
    print(f"\nTarget: list, email search and detail ≤ {TARGET_MS:.0f} ms at p95: {verdict}")
    common.print_markdown(
        common.markdown_section(
            "Dashboard pages",
            "dashboard.py",
            "| Page | URL | p50 ms | p95 ms | SQL queries | raw SQL p95 ms | page / raw SQL (p95) |",
            "|---|---|---:|---:|---:|---:|---:|",
            rows,
            f"{total:,} customers, {args.entries:,} ledger entries; {args.repeat} renders per page through "
            f"Django's test client in one process; PostgreSQL {settings['server_version']}.",
            f"**Target: list, email search and detail ≤ {TARGET_MS:.0f} ms at p95 — {verdict}.**",
        )
    )
    connection.close()
    common.keep_or_drop_database(url, args.keep_db or args.reuse)
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())
