"""Reads for health checks and metrics: each is one bounded query, so a probe or a scrape stays
cheap however large the tables grow."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Min, Sum
from django.utils import timezone

from dodo_billing.models import Heartbeat, WebhookDelivery, WebhookDeliveryStatus

HEARTBEAT_PREFIX = "queue:"


def heartbeat_name(queue: str) -> str:
    return f"{HEARTBEAT_PREFIX}{queue}"


def heartbeats_stale(*, max_age: timedelta, now: datetime | None = None) -> dict[str, datetime | None]:
    """Queues (of CELERY_TASK_QUEUES) whose heartbeat is missing or older than ``max_age``: each
    with its last heartbeat, or None when there never was one."""
    now = now or timezone.now()
    queues = list(settings.CELERY_TASK_QUEUES)
    seen = dict(
        Heartbeat.objects.filter(name__in=[heartbeat_name(q) for q in queues]).values_list("name", "beat_at")
    )
    stale = {}
    for queue in queues:
        beat_at = seen.get(heartbeat_name(queue))
        if beat_at is None or now - beat_at > max_age:
            stale[queue] = beat_at
    return stale


def heartbeat_ages(*, now: datetime | None = None) -> dict[str, float]:
    """Seconds since each queue's last heartbeat (queues that never had one are left out)."""
    now = now or timezone.now()
    rows = Heartbeat.objects.filter(name__startswith=HEARTBEAT_PREFIX).values_list("name", "beat_at")
    return {name.removeprefix(HEARTBEAT_PREFIX): (now - beat_at).total_seconds() for name, beat_at in rows}


def bounded_count(queryset, limit: int) -> int:
    """``min(count, limit)``, counting at most ``limit`` rows (SELECT count(*) FROM (... LIMIT n))."""
    return queryset.values("pk")[:limit].count()


def webhook_deliveries_overdue(*, now: datetime | None = None):
    """Pending deliveries whose attempt is due now (the partial index ``webhookdelivery_due``)."""
    now = now or timezone.now()
    return WebhookDelivery.objects.filter(status=WebhookDeliveryStatus.PENDING, next_attempt_at__lte=now)


def webhook_backlog_summary(*, now: datetime | None = None) -> dict:
    """Pending deliveries: how many, and the age in seconds of the oldest (0 when none)."""
    now = now or timezone.now()
    pending = WebhookDelivery.objects.filter(status=WebhookDeliveryStatus.PENDING).aggregate(
        count=Count("pk"), oldest=Min("created_at")
    )
    oldest = pending["oldest"]
    return {"pending": pending["count"], "oldest_age": (now - oldest).total_seconds() if oldest else 0.0}


def webhook_deliveries_failed_since(*, since: datetime) -> int:
    """Deliveries that gave up (failed) since ``since``."""
    return WebhookDelivery.objects.filter(status=WebhookDeliveryStatus.FAILED, updated_at__gte=since).count()


def wallet_liabilities() -> dict[str, int]:
    """What the business owes its customers: the sum of wallet balances, per currency, minor units."""
    from django.apps import apps

    wallet = apps.get_model("wallets", "Wallet")
    rows = wallet.objects.values("currency").annotate(total=Sum("balance")).order_by("currency")
    return {row["currency"]: int(row["total"] or 0) for row in rows}


def payments_by_status(*, statuses) -> dict[str, int]:
    """Number of payments in each of ``statuses`` (the unfinished ones: pending, processing, failed)."""
    from django.apps import apps

    payment = apps.get_model("metering", "Payment")
    rows = payment.objects.filter(status__in=statuses).values("status").annotate(n=Count("pk")).order_by()
    counts = dict.fromkeys(statuses, 0)
    counts.update({row["status"]: row["n"] for row in rows})
    return counts
