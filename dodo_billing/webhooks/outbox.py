"""The webhooks outbox: ``webhook_event_emit`` records an event, inside the caller's transaction,
for every enabled endpoint of the business that wants its type (``WEBHOOK_EVENT_TYPES``), and
enqueues the deliveries' tasks once that transaction commits. The enabled endpoints are read once
per transaction and business (``_TransactionEndpoints``).
"""

import json
from datetime import datetime
from functools import partial

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections, router, transaction
from django.utils import timezone

from dodo_billing.models import (
    WEBHOOK_EVENT_TYPES,
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookEndpoint,
    WebhookEvent,
)
from dodo_billing.signals import event_recorded
from dodo_billing.webhooks.tasks import deliver_webhook

__all__ = ["WEBHOOK_EVENT_TYPES", "webhook_event_emit"]


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _business_id(business) -> str:
    return business if isinstance(business, str) else business.pk


def webhook_event_write(*, business_id: str, event_type: str, data, endpoint_ids: list[str]) -> list[int]:
    """Write one event and a delivery of it to each of ``endpoint_ids`` (whatever their filters),
    in the caller's transaction; their tasks are enqueued after commit. Returns the delivery ids.

    Services emit with ``webhook_event_emit``, which chooses the endpoints; this is for a service
    that addresses endpoints itself (a test event to one endpoint)."""
    now = timezone.now()
    envelope = {"business_id": business_id, "type": event_type, "timestamp": _iso(now), "data": data}
    event = WebhookEvent(
        business_id=business_id,
        type=event_type,
        payload=json.dumps(envelope, cls=DjangoJSONEncoder, separators=(",", ":")),
        created_at=now,
    )
    event.save(force_insert=True)
    deliveries = WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(
                event=event, endpoint_id=endpoint_id, next_attempt_at=now, created_at=now, updated_at=now
            )
            for endpoint_id in endpoint_ids
        ]
    )
    delivery_ids = [delivery.pk for delivery in deliveries]
    transaction.on_commit(partial(webhook_deliveries_enqueue, delivery_ids=delivery_ids), robust=True)
    return delivery_ids


_ENABLED_ENDPOINTS_SQL = (
    'SELECT "id", "filter_types" FROM "dodo_billing_webhookendpoint" '
    'WHERE "business_id" = %s AND NOT "disabled" AND "deleted_at" IS NULL'
)


class _TransactionEndpoints:
    """The enabled endpoints ``(id, filter_types)`` per business that one transaction has read.

    A transaction that emits several events (billing a period emits three) reads its business's
    endpoints once. The object lives on the connection and is registered as the transaction's
    on-commit callback: committing runs it, which drops it; a rollback (of the transaction, or of
    the savepoint it was registered in) discards the callback, and a cache whose callback is no
    longer registered is not used. Every endpoint service drops it too (``webhook_endpoints_forget``),
    so an endpoint created, changed or deleted in the transaction counts for its next events.
    Outside a transaction nothing is cached.
    """

    __slots__ = ("alias", "rows")
    attribute = "_dodo_webhook_endpoints"

    def __init__(self, alias: str):
        self.alias = alias
        self.rows: dict[str, list[tuple[str, list]]] = {}

    def __call__(self) -> None:  # on commit
        connection = connections[self.alias]
        if getattr(connection, self.attribute, None) is self:
            setattr(connection, self.attribute, None)

    @classmethod
    def current(cls, connection) -> "_TransactionEndpoints | None":
        """This transaction's cache (made and registered on first use); None outside one."""
        if not connection.in_atomic_block:
            return None
        cache = getattr(connection, cls.attribute, None)
        if cache is None or not any(func is cache for _, func, _ in connection.run_on_commit):
            cache = cls(connection.alias)
            connection.on_commit(cache)
            setattr(connection, cls.attribute, cache)
        return cache


def webhook_endpoints_forget() -> None:
    """Endpoints changed: the transaction's next event reads them again."""
    connection = connections[router.db_for_write(WebhookEndpoint)]
    setattr(connection, _TransactionEndpoints.attribute, None)


def _enabled_endpoints(business_id: str) -> list[tuple[str, list]]:
    connection = connections[router.db_for_write(WebhookEndpoint)]
    cache = _TransactionEndpoints.current(connection)
    if cache is not None and business_id in cache.rows:
        return cache.rows[business_id]
    with connection.cursor() as cursor:
        cursor.execute(_ENABLED_ENDPOINTS_SQL, [business_id])
        rows = []
        for endpoint_id, filter_types in cursor.fetchall():
            if isinstance(filter_types, str):  # SQLite hands JSON back as text, PostgreSQL decodes it
                filter_types = json.loads(filter_types)
            rows.append((endpoint_id, filter_types))
    if cache is not None:
        cache.rows[business_id] = rows
    return rows


def _endpoints_wanting(*, business_id: str, event_type: str) -> list[str]:
    """Ids of the business's enabled endpoints whose filter is empty or names ``event_type``.

    This runs on every ledger write, with the wallet's row lock held, so it is one statement on
    the partial index ``webhookendpoint_enabled`` sent as plain SQL (building it through the ORM
    costs several times the database round trip), and once per transaction and business
    (``_TransactionEndpoints``).
    """
    return [
        endpoint_id
        for endpoint_id, filter_types in _enabled_endpoints(business_id)
        if not filter_types or event_type in filter_types
    ]


def webhook_event_emit(*, business, event_type: str, data) -> None:
    """Record one event in the outbox, inside the caller's transaction, for delivery after commit.

    ``business``: a Business or its id. ``data``: the object the event is about, already in JSON
    types (with a ``payload_type`` key), or a zero-argument callable that returns it; a callable is
    only called when some endpoint wants the event, so hot paths pay nothing to build it.

    When no enabled endpoint of the business wants ``event_type`` this costs one indexed query (the
    first event of a transaction; later ones reuse its answer) and writes nothing. An unknown
    ``event_type`` raises ValueError (a programming error).
    """
    if event_type not in WEBHOOK_EVENT_TYPES:
        raise ValueError(f"Unknown webhook event type {event_type!r}")
    event_recorded.send(sender=webhook_event_emit, business=business, event_type=event_type, data=data)
    business_id = _business_id(business)
    endpoint_ids = _endpoints_wanting(business_id=business_id, event_type=event_type)
    if not endpoint_ids:
        return
    with transaction.atomic(savepoint=False):
        webhook_event_write(
            business_id=business_id,
            event_type=event_type,
            data=data() if callable(data) else data,
            endpoint_ids=endpoint_ids,
        )


def webhook_deliveries_enqueue(*, delivery_ids) -> None:
    """One delivery task per id (run after commit; a broker error is logged, the sweeper recovers)."""
    for delivery_id in delivery_ids:
        deliver_webhook.delay(delivery_id)


def webhook_delivery_retry_now(*, delivery: WebhookDelivery) -> bool:
    """Make a pending or failed delivery due now and enqueue it (admin's "retry now").

    A failed delivery gets one more attempt; if that fails too it is failed again. Returns False
    for a delivery that already succeeded (it is never sent twice).
    """
    with transaction.atomic():
        locked = WebhookDelivery.objects.select_for_update().get(pk=delivery.pk)
        if locked.status == WebhookDeliveryStatus.SUCCEEDED:
            return False
        now = timezone.now()
        locked.status = WebhookDeliveryStatus.PENDING
        locked.next_attempt_at = now
        locked.updated_at = now
        locked.save(update_fields=["status", "next_attempt_at", "updated_at"])
        transaction.on_commit(partial(webhook_deliveries_enqueue, delivery_ids=[locked.pk]), robust=True)
    return True
