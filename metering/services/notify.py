"""Webhook events of the billing flow, recorded in the outbox inside the caller's transaction."""

from dodo_billing.webhooks.outbox import webhook_event_emit


def emit(
    business, event_type: str, *, payment=None, subscription=None, refund=None, extra: dict | None = None
) -> None:
    """Emit ``event_type`` with the API representation of the object it is about as ``data``
    (and the fields of ``extra`` beside it).

    The representation is built only if an endpoint of the business wants the event."""
    from metering.api.payloads import payment_data, refund_data, subscription_data

    if payment is not None:
        build = lambda: payment_data(payment)  # noqa: E731
    elif subscription is not None:
        build = lambda: subscription_data(subscription)  # noqa: E731
    else:
        build = lambda: refund_data(refund)  # noqa: E731
    data = (lambda: {**build(), **extra}) if extra else build
    webhook_event_emit(business=business, event_type=event_type, data=data)
