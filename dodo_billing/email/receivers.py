"""Receipts follow the events services record (dodo_billing.signals): payment.succeeded,
payment.failed and wallet.balance_low enqueue an email after commit when the business emails its
customers."""

from functools import partial

from django.db import transaction
from django.dispatch import receiver

from dodo_billing.email.tasks import email_enqueue
from dodo_billing.models import Business
from dodo_billing.signals import event_recorded

KINDS = {
    "payment.succeeded": "payment_succeeded",
    "payment.failed": "payment_failed",
    "wallet.balance_low": "balance_low",
}


def _emails_customers(business) -> bool:
    if isinstance(business, Business):
        return business.customer_emails
    return Business.objects.filter(pk=business, customer_emails=True).exists()


@receiver(event_recorded, dispatch_uid="email.receipts")
def email_receipt(sender, *, business, event_type: str, data, **kwargs) -> None:
    kind = KINDS.get(event_type)
    if kind is None or not _emails_customers(business):
        return
    payload = data() if callable(data) else data
    if kind == "balance_low":
        params = {key: payload[key] for key in ("customer_id", "currency", "balance", "threshold")}
    else:
        params = {"payment_id": payload["payment_id"]}
    transaction.on_commit(partial(email_enqueue, kind, params))
