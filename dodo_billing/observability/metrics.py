"""The product's Prometheus counters and histograms (prometheus-client).

Processes count what they do here; ``/metrics`` (views.py) adds the gauges read from the database
and the broker at scrape time (collectors.py). With ``PROMETHEUS_MULTIPROC_DIR`` set in the
environment of every process (gunicorn's workers, Celery workers), each process writes its values
to files in that folder and a scrape of any web worker sums them all: the numbers are the same
whichever worker answers. This module imports nothing of the project, so any layer may count.
"""

from prometheus_client import Counter, Histogram

HTTP_REQUESTS = Counter(
    "dodo_http_requests",
    "HTTP requests answered, by route pattern and status.",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "dodo_http_request_duration_seconds",
    "Time to answer an HTTP request, by route pattern.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
LEDGER_ENTRIES = Counter("dodo_ledger_entries_written", "Ledger entries committed (credits and debits).")
EVENTS_INGESTED = Counter("dodo_events_ingested", "Usage events stored by the ingest API.")
EVENTS_DEDUPLICATED = Counter(
    "dodo_events_deduplicated", "Usage events skipped as repeats of a stored event_id."
)
INGEST_BATCH_SIZE = Histogram(
    "dodo_ingest_batch_size",
    "Events per ingest request.",
    buckets=(1, 5, 10, 50, 100, 250, 500, 1000),
)
BILLING_PERIODS = Counter(
    "dodo_billing_periods", "Subscription-periods the billing tasks finished, by outcome.", ["outcome"]
)
PAYMENT_OUTCOMES = Counter(
    "dodo_payment_outcomes", "Payments reaching a status (payment.* events committed).", ["status"]
)
EMAILS = Counter("dodo_emails", "Emails to customers, by kind and outcome.", ["kind", "outcome"])
RETENTION_PRUNED = Counter("dodo_retention_pruned_rows", "Rows deleted by the retention task.", ["table"])


def events_ingested(*, received: int, stored: int) -> None:
    """One ingest request: ``received`` events, of which ``stored`` were new."""
    INGEST_BATCH_SIZE.observe(received)
    EVENTS_INGESTED.inc(stored)
    EVENTS_DEDUPLICATED.inc(received - stored)


def billing_period_finished(*, billed: bool) -> None:
    BILLING_PERIODS.labels("billed" if billed else "failed").inc()
