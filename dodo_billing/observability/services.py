"""Writes of operations: heartbeats."""

from datetime import datetime

from django.utils import timezone

from dodo_billing.models import Heartbeat
from dodo_billing.observability.selectors import heartbeat_name


def heartbeat_record(*, queue: str, now: datetime | None = None) -> Heartbeat:
    """Upsert ``queue``'s heartbeat to now (one statement; no transaction needed)."""
    heartbeat, _ = Heartbeat.objects.update_or_create(
        name=heartbeat_name(queue), defaults={"beat_at": now or timezone.now()}
    )
    return heartbeat
