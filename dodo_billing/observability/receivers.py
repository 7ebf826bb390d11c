"""Counters that follow the events services record in the outbox (dodo_billing.signals)."""

from django.db import transaction
from django.dispatch import receiver

from dodo_billing.observability import metrics
from dodo_billing.signals import event_recorded


@receiver(event_recorded, dispatch_uid="observability.count_event")
def count_event(sender, *, event_type: str, **kwargs) -> None:
    """Ledger entries and payment outcomes, counted when their transaction commits."""
    if event_type == "wallet.ledger_entry.created":
        transaction.on_commit(metrics.LEDGER_ENTRIES.inc)
    elif event_type.startswith("payment."):
        transaction.on_commit(metrics.PAYMENT_OUTCOMES.labels(event_type.removeprefix("payment.")).inc)
