"""Pruning. Each batch is one short DELETE of at most RETENTION_BATCH_SIZE rows chosen by primary
key (``DELETE … WHERE id IN (SELECT id … LIMIT n)``), in its own transaction, so no lock is held
for long and ingestion, billing and delivery go on beside it. A run stops after
RETENTION_MAX_SECONDS; the next run continues where it stopped.

Usage events are only ever deleted when they are older than RETENTION_EVENTS_DAYS **and** older
than the start of the current (not yet billed) period of every subscription of their business
that can still be billed: whatever an invoice was computed from is already on its lines, and
nothing that a future invoice needs is touched.
"""

import time
from datetime import datetime, timedelta

from django.apps import apps
from django.conf import settings
from django.db.models import Min, Q
from django.utils import timezone

from dodo_billing.models import WebhookDelivery, WebhookDeliveryAttempt, WebhookDeliveryStatus, WebhookEvent
from dodo_billing.observability import metrics

# Subscriptions that will bill no further period: their events are only history.
ENDED_SUBSCRIPTION_STATUSES = ("cancelled", "expired", "failed")


class Budget:
    """The run's time limit, shared by every table it prunes."""

    def __init__(self, seconds: float):
        self.deadline = time.monotonic() + seconds

    @property
    def spent(self) -> bool:
        return time.monotonic() >= self.deadline


def delete_in_batches(queryset, *, table: str, budget: Budget, batch_size: int | None = None) -> int:
    """Delete ``queryset``'s rows, ``batch_size`` at a time, until none is left or time runs out."""
    batch_size = batch_size or settings.RETENTION_BATCH_SIZE
    model = queryset.model
    deleted = 0
    while not budget.spent:
        ids = list(queryset.values_list("pk", flat=True)[:batch_size])
        if not ids:
            break
        count, _ = model.objects.filter(pk__in=ids).delete()
        deleted += len(ids)
        metrics.RETENTION_PRUNED.labels(table).inc(len(ids))
        if len(ids) < batch_size or not count:
            break
    return deleted


def webhook_logs_prune(*, now: datetime, budget: Budget) -> dict[str, int]:
    """Attempts, then finished deliveries, then events left without deliveries, older than
    RETENTION_WEBHOOK_DAYS. A pending delivery (and so its event) is never deleted."""
    cutoff = now - timedelta(days=settings.RETENTION_WEBHOOK_DAYS)
    finished = Q(delivery__status__in=[WebhookDeliveryStatus.SUCCEEDED, WebhookDeliveryStatus.FAILED])
    attempts = WebhookDeliveryAttempt.objects.filter(finished, started_at__lt=cutoff)
    deliveries = WebhookDelivery.objects.filter(
        status__in=[WebhookDeliveryStatus.SUCCEEDED, WebhookDeliveryStatus.FAILED], updated_at__lt=cutoff
    )
    events = WebhookEvent.objects.filter(created_at__lt=cutoff, deliveries__isnull=True)
    return {
        "webhook_attempts": delete_in_batches(attempts, table="webhook_attempts", budget=budget),
        "webhook_deliveries": delete_in_batches(deliveries, table="webhook_deliveries", budget=budget),
        "webhook_events": delete_in_batches(events, table="webhook_events", budget=budget),
    }


def portal_prune(*, now: datetime, budget: Budget) -> dict[str, int]:
    """Portal sessions that ended (signed out or expired), then links that expired, longer than
    RETENTION_PORTAL_DAYS ago."""
    cutoff = now - timedelta(days=settings.RETENTION_PORTAL_DAYS)
    session = apps.get_model("portal", "PortalSession")
    link = apps.get_model("portal", "PortalLink")
    sessions = session.objects.filter(Q(ended_at__lt=cutoff) | Q(expires_at__lt=cutoff))
    links = link.objects.filter(expires_at__lt=cutoff, session__isnull=True)
    return {
        "portal_sessions": delete_in_batches(sessions, table="portal_sessions", budget=budget),
        "portal_links": delete_in_batches(links, table="portal_links", budget=budget),
    }


def events_horizons(*, now: datetime) -> dict[str, datetime]:
    """For each business with events to consider: the time before which its events may go, the
    earlier of the retention cutoff and its live subscriptions' current period starts."""
    cutoff = now - timedelta(days=settings.RETENTION_EVENTS_DAYS)
    business = apps.get_model("dodo_billing", "Business")
    subscription = apps.get_model("metering", "Subscription")
    open_periods = dict(
        subscription.objects.exclude(status__in=ENDED_SUBSCRIPTION_STATUSES)
        .values("business_id")
        .annotate(start=Min("previous_billing_date"))
        .values_list("business_id", "start")
    )
    return {
        business_id: min(cutoff, open_periods.get(business_id, cutoff))
        for business_id in business.objects.values_list("pk", flat=True)
    }


def events_prune(*, now: datetime, budget: Budget) -> dict[str, int]:
    """Raw usage events past their horizon (nothing when RETENTION_EVENTS_DAYS is 0: kept forever)."""
    if settings.RETENTION_EVENTS_DAYS <= 0:
        return {"events": 0}
    event = apps.get_model("metering", "Event")
    deleted = 0
    for business_id, horizon in events_horizons(now=now).items():
        old = event.objects.filter(business_id=business_id, timestamp__lt=horizon)  # event_business_newest
        deleted += delete_in_batches(old, table="events", budget=budget)
    return {"events": deleted}


def retention_prune(*, now: datetime | None = None) -> dict[str, int]:
    """One run over every kind of data kept for a limited time."""
    now = now or timezone.now()
    budget = Budget(settings.RETENTION_MAX_SECONDS)
    return {
        **webhook_logs_prune(now=now, budget=budget),
        **portal_prune(now=now, budget=budget),
        **events_prune(now=now, budget=budget),
    }
