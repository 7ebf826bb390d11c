"""Gauges computed when /metrics is scraped: facts of the database and the broker.

Each figure is one query (bounded by an index or a statement time limit on PostgreSQL) or one
broker call, kept for ``METRICS_CACHE_SECONDS`` per process so frequent scrapes cost little. A
source that does not answer leaves its gauges out and sets ``dodo_metrics_source_up`` to 0.
"""

import logging
import threading
import time
from datetime import timedelta

from django.apps import apps
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily

from dodo_billing.observability import selectors

logger = logging.getLogger(__name__)

UNFINISHED_PAYMENT_STATUSES = ("pending", "processing", "failed")
DUE_PERIODS_LIMIT = 100_000


def periods_needing_attention() -> int | None:
    """Subscription-periods that billing could not bill and that wait for a person, or None while
    the models do not record such a state (then the gauge is left out)."""
    subscription = apps.get_model("metering", "Subscription")
    fields = {field.name: field for field in subscription._meta.get_fields()}
    if "needs_attention_at" in fields:  # set when billing gave up on the period (partial index)
        return subscription.objects.filter(needs_attention_at__isnull=False).count()
    if "needs_attention" in fields:
        return subscription.objects.filter(needs_attention=True).count()
    statuses = {value for value, _ in fields["status"].choices or ()}
    if "needs_attention" in statuses:
        return subscription.objects.filter(status="needs_attention").count()
    return None


def _database_facts() -> list[GaugeMetricFamily]:
    from metering.services.billing import subscriptions_due

    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                timeout_ms = int(settings.METRICS_QUERY_TIMEOUT_SECONDS * 1000)
                cursor.execute(f"SET LOCAL statement_timeout = {timeout_ms}")
        liabilities = selectors.wallet_liabilities()
        payments = selectors.payments_by_status(statuses=UNFINISHED_PAYMENT_STATUSES)
        webhooks = selectors.webhook_backlog_summary()
        failed = selectors.webhook_deliveries_failed_since(since=timezone.now() - timedelta(hours=24))
        due = len(subscriptions_due(limit=DUE_PERIODS_LIMIT))
        attention = periods_needing_attention()
        heartbeats = selectors.heartbeat_ages()
    families = []
    gauge = GaugeMetricFamily(
        "dodo_wallet_liabilities",
        "Sum of wallet balances (owed to customers), minor units.",
        labels=["currency"],
    )
    for currency, total in liabilities.items():
        gauge.add_metric([currency], total)
    families.append(gauge)
    gauge = GaugeMetricFamily("dodo_payments", "Payments not finished, by status.", labels=["status"])
    for status, count in payments.items():
        gauge.add_metric([status], count)
    families.append(gauge)
    families.append(
        GaugeMetricFamily(
            "dodo_webhook_deliveries_pending",
            "Webhook deliveries not yet delivered.",
            value=webhooks["pending"],
        )
    )
    families.append(
        GaugeMetricFamily(
            "dodo_webhook_delivery_oldest_pending_age_seconds",
            "Age of the oldest pending webhook delivery (0 when none).",
            value=webhooks["oldest_age"],
        )
    )
    families.append(
        GaugeMetricFamily(
            "dodo_webhook_deliveries_failed_24h",
            "Webhook deliveries that gave up in the last 24 hours.",
            value=failed,
        )
    )
    families.append(
        GaugeMetricFamily(
            "dodo_billing_periods_due",
            f"Subscription-periods that ended and are not billed (counted up to {DUE_PERIODS_LIMIT}).",
            value=due,
        )
    )
    if attention is not None:
        families.append(
            GaugeMetricFamily(
                "dodo_billing_periods_needing_attention",
                "Subscription-periods that could not be billed and wait for a person.",
                value=attention,
            )
        )
    gauge = GaugeMetricFamily(
        "dodo_heartbeat_age_seconds", "Seconds since each Celery queue's last heartbeat.", labels=["queue"]
    )
    for queue, age in sorted(heartbeats.items()):
        gauge.add_metric([queue], age)
    families.append(gauge)
    return families


def queue_length(channel, queue: str) -> int:
    """Messages waiting in ``queue`` (a passive declare; a queue that does not exist holds none)."""
    try:
        return channel.queue_declare(queue=queue, passive=True).message_count
    except Exception as exc:  # kombu: the queue was never declared, or the transport says NOT_FOUND
        if "NOT_FOUND" in str(exc) or "no queue" in str(exc).lower():
            return 0
        raise


def _broker_facts() -> list[GaugeMetricFamily]:
    from dodo_billing.celery import app

    gauge = GaugeMetricFamily(
        "dodo_celery_queue_length", "Messages waiting in each Celery queue.", labels=["queue"]
    )
    with app.connection_for_read(settings.CELERY_BROKER_URL) as conn:
        conn.ensure_connection(max_retries=1, timeout=settings.METRICS_QUERY_TIMEOUT_SECONDS)
        channel = conn.default_channel
        for queue in settings.CELERY_TASK_QUEUES:
            gauge.add_metric([queue], queue_length(channel, queue))
    return [gauge]


class ScrapeTimeCollector:
    """A prometheus-client collector of the database and broker facts, cached per process."""

    sources = {"database": _database_facts, "broker": _broker_facts}
    _cache: dict[str, tuple[float, list]] = {}
    _lock = threading.Lock()

    def collect(self):
        up = GaugeMetricFamily(
            "dodo_metrics_source_up", "1 when the source answered the scrape's queries.", labels=["source"]
        )
        for name, read in self.sources.items():
            families = self._read(name, read)
            up.add_metric([name], 0 if families is None else 1)
            yield from families or []
        yield up

    def _read(self, name: str, read) -> list | None:
        with self._lock:
            cached = self._cache.get(name)
            if cached and time.monotonic() - cached[0] < settings.METRICS_CACHE_SECONDS:
                return cached[1]
            try:
                families = read()
            except Exception:
                logger.warning("Metrics: could not read the %s's figures", name, exc_info=True)
                families = None
            self._cache[name] = (time.monotonic(), families)
            return families
