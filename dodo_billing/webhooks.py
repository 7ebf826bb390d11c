"""Outbound webhooks: endpoint services and selectors, the outbox, and delivery bookkeeping.

Flow (docs/webhooks.md has the merchant's view):

1. A service that changes something calls ``webhook_event_emit`` inside its own transaction. When
   an enabled endpoint of the business wants the event type, one WebhookEvent row (the exact JSON
   body to send) and one WebhookDelivery per such endpoint are written in that transaction, and
   ``transaction.on_commit`` enqueues one ``deliver_webhook`` task per delivery. A rollback leaves
   nothing behind and sends nothing.
2. ``deliver_webhook`` (dodo_billing/tasks.py) claims the delivery (``webhook_delivery_claim``: row
   lock, due check, a lease, an attempt row), POSTs outside any transaction, then records the
   outcome (``webhook_delivery_record``): 2xx → succeeded; otherwise the next attempt is scheduled
   with exponential backoff, and after the last retry the delivery is failed.
3. Every 30 s ``sweep_webhook_deliveries`` re-enqueues deliveries that are due but have no task in
   flight: long backoffs, tasks lost with a broker or a killed worker (the lease runs out).
"""

import base64
import binascii
import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, connections, router, transaction
from django.db.models import Q
from django.utils import timezone

from dodo_billing.datetimes import to_utc
from dodo_billing.errors import (
    IdempotencyKeyReused,
    InvalidQueryParams,
    InvalidRequestBody,
    InvalidRequestParameters,
    NotFound,
    validate_fields,
)
from dodo_billing.models import (
    WEBHOOK_EVENT_TYPES,
    WEBHOOK_TEST_EVENT_TYPE,
    WebhookDelivery,
    WebhookDeliveryAttempt,
    WebhookDeliveryStatus,
    WebhookEndpoint,
    WebhookEvent,
)
from dodo_billing.signals import event_recorded

logger = logging.getLogger(__name__)

__all__ = ["WEBHOOK_EVENT_TYPES", "webhook_event_emit"]

# Delivery policy (contract §9): 10 s timeout; up to 10 retries after the first attempt, the n-th
# retry RETRY_BASE_SECONDS·RETRY_FACTOR^(n-1) after the attempt before it, at most 6 hours apart:
# 6 s, 18 s, 54 s, 2.7 min, 8.1 min, 24 min, 73 min, 3.6 h, 6 h, 6 h (≈ 17.8 h in all).
DELIVERY_TIMEOUT_SECONDS = 10
MAX_RETRIES = 10
RETRY_BASE_SECONDS = 6
RETRY_FACTOR = 3
RETRY_MAX_DELAY_SECONDS = 6 * 60 * 60
# A claimed attempt that has not reported back by then (worker killed) is due again.
LEASE_SECONDS = settings.WEBHOOK_LEASE_SECONDS
# Deliveries whose first task has not run this long after they were written are re-enqueued.
NEVER_RAN_GRACE_SECONDS = settings.WEBHOOK_NEVER_RAN_GRACE_SECONDS
SWEEP_BATCH_SIZE = 1000
# Retries due sooner than this are enqueued with a countdown; later ones are left to the sweeper
# (long ETAs sit in worker memory and outlive the broker's visibility timeout).
COUNTDOWN_MAX_SECONDS = 600
RESPONSE_BODY_MAX_CHARS = 2000
ERROR_MAX_CHARS = 1000

LIST_DEFAULT_LIMIT = 10
LIST_MAX_LIMIT = 100

# Header names whose values GET /webhooks/{id}/headers does not reveal.
_SENSITIVE_HEADER_NAMES = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
_SENSITIVE_HEADER_PARTS = ("auth", "secret", "token", "password", "passwd", "api-key", "apikey", "api_key")


def retry_delay(retry_number: int) -> timedelta:
    """The wait before the ``retry_number``-th retry (1-based)."""
    seconds = RETRY_BASE_SECONDS * RETRY_FACTOR ** (retry_number - 1)
    return timedelta(seconds=min(seconds, RETRY_MAX_DELAY_SECONDS))


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _clean_text(text: str, limit: int) -> str:
    """Text as stored in the log: at most ``limit`` characters, no NUL (PostgreSQL text refuses it)."""
    return text[:limit].replace("\x00", "\ufffd")


# --- Endpoints: selectors ----------------------------------------------------------------------


def webhook_endpoint_get(*, business, webhook_id: str) -> WebhookEndpoint:
    """The business's endpoint, or NOT_FOUND (also for a deleted one or another business's)."""
    endpoint = WebhookEndpoint.objects.filter(
        business=business, id=webhook_id, deleted_at__isnull=True
    ).first()
    if endpoint is None:
        raise NotFound("Webhook not found", extra={"webhook_id": webhook_id})
    return endpoint


@dataclass(frozen=True)
class CursorPage:
    items: list
    iterator: str | None
    done: bool


def _encode_iterator(endpoint: WebhookEndpoint) -> str:
    raw = f"{endpoint.created_at.isoformat()}|{endpoint.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_iterator(iterator: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(iterator + "=" * (-len(iterator) % 4)).decode()
        created, endpoint_id = raw.split("|", 1)
        created_at = datetime.fromisoformat(created)
        if created_at.tzinfo is None or not endpoint_id or "\x00" in endpoint_id:
            raise ValueError(iterator)
        created_at = to_utc(created_at)  # in range: a forged one may overflow or not be storable
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidQueryParams("iterator is not one that GET /webhooks returned.") from None
    return created_at, endpoint_id


def webhook_endpoint_list(
    *, business, iterator: str | None = None, limit: int = LIST_DEFAULT_LIMIT
) -> CursorPage:
    """The business's endpoints, newest first, ``limit`` at a time after the cursor ``iterator``.

    ``iterator`` is null and ``done`` true on the last page.
    """
    if not 1 <= limit <= LIST_MAX_LIMIT:
        raise InvalidQueryParams(f"limit must be between 1 and {LIST_MAX_LIMIT}, got {limit}.")
    endpoints = WebhookEndpoint.objects.filter(business=business, deleted_at__isnull=True).order_by(
        "-created_at", "-id"
    )
    if iterator:
        created_at, endpoint_id = _decode_iterator(iterator)
        endpoints = endpoints.filter(
            Q(created_at__lt=created_at) | Q(created_at=created_at, id__lt=endpoint_id)
        )
    rows = list(endpoints[: limit + 1])
    items, done = rows[:limit], len(rows) <= limit
    return CursorPage(items=items, iterator=None if done else _encode_iterator(items[-1]), done=done)


def header_is_sensitive(name: str) -> bool:
    lower = name.lower()
    return lower in _SENSITIVE_HEADER_NAMES or any(part in lower for part in _SENSITIVE_HEADER_PARTS)


def webhook_endpoint_headers(*, endpoint: WebhookEndpoint) -> dict:
    """``{"headers": {name: value}, "sensitive": [name, ...]}``: sensitive values are never shown."""
    headers = {name: value for name, value in endpoint.headers.items() if not header_is_sensitive(name)}
    sensitive = sorted(name for name in endpoint.headers if header_is_sensitive(name))
    return {"headers": headers, "sensitive": sensitive}


# --- Endpoints: services -----------------------------------------------------------------------

ENDPOINT_UPDATABLE_FIELDS = ("url", "description", "disabled", "filter_types", "metadata", "rate_limit")


def _dedupe(items) -> list:
    return list(dict.fromkeys(items))


def _normalized(field: str, value):
    """A PATCH's null clears a field to its default; filter types lose duplicates."""
    if field == "url" and value is None:
        raise InvalidRequestBody("url: the URL cannot be cleared.", extra={"errors": {"url": ["Required."]}})
    defaults = {"description": "", "disabled": False, "filter_types": [], "metadata": {}, "headers": {}}
    if value is None and field in defaults:
        return defaults[field]
    if field == "filter_types" and isinstance(value, list):
        return _dedupe(value)
    return value


def _request_hash(params: dict) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()


def _endpoint_for_idempotency_key(
    *, business, idempotency_key: str, request_hash: str
) -> WebhookEndpoint | None:
    earlier = WebhookEndpoint.objects.filter(business=business, idempotency_key=idempotency_key).first()
    if earlier is None:
        return None
    if earlier.request_hash == request_hash and earlier.deleted_at is None:
        return earlier
    reason = "has since been deleted" if earlier.deleted_at else "was created with different parameters"
    raise IdempotencyKeyReused(
        f"The idempotency key {idempotency_key!r} was already used for webhook {earlier.id}, which {reason}.",
        extra={"idempotency_key": idempotency_key, "webhook_id": earlier.id},
    )


def webhook_endpoint_create(
    *,
    business,
    url: str,
    description: str | None = None,
    disabled: bool | None = None,
    filter_types: list[str] | None = None,
    headers: dict[str, str] | None = None,
    metadata: dict[str, str] | None = None,
    rate_limit: int | None = None,
    idempotency_key: str | None = None,
) -> WebhookEndpoint:
    """Register an endpoint with a new signing secret.

    A repeated ``idempotency_key`` with the same parameters returns the endpoint it created; with
    other parameters (or after that endpoint was deleted) it raises IdempotencyKeyReused.
    """
    params = {
        "url": url,
        "description": _normalized("description", description),
        "disabled": _normalized("disabled", disabled),
        "filter_types": _normalized("filter_types", filter_types),
        "headers": _normalized("headers", headers),
        "metadata": _normalized("metadata", metadata),
        "rate_limit": rate_limit,
    }
    endpoint = WebhookEndpoint(business=business, idempotency_key=idempotency_key, **params)
    if idempotency_key is not None:
        endpoint.request_hash = _request_hash(params)
    validate_fields(endpoint)
    if idempotency_key is not None:
        earlier = _endpoint_for_idempotency_key(
            business=business, idempotency_key=idempotency_key, request_hash=endpoint.request_hash
        )
        if earlier is not None:
            return earlier
    try:
        with transaction.atomic():
            endpoint.save(force_insert=True)
            _forget_endpoints()
    except IntegrityError:
        if idempotency_key is None:
            raise
        # A concurrent request with the same key won the race.
        earlier = _endpoint_for_idempotency_key(
            business=business, idempotency_key=idempotency_key, request_hash=endpoint.request_hash
        )
        if earlier is None:
            raise
        return earlier
    return endpoint


def _fail_pending_deliveries(*, endpoint: WebhookEndpoint, reason: str) -> int:
    return WebhookDelivery.objects.filter(endpoint=endpoint, status=WebhookDeliveryStatus.PENDING).update(
        status=WebhookDeliveryStatus.FAILED,
        next_attempt_at=None,
        last_error=reason,
        updated_at=timezone.now(),
    )


@transaction.atomic
def webhook_endpoint_update(*, endpoint: WebhookEndpoint, **changes) -> WebhookEndpoint:
    """Apply the given fields only; None clears a field (description "", filters [], metadata {},
    rate limit none, disabled false). Disabling fails the endpoint's pending deliveries."""
    unknown = set(changes) - set(ENDPOINT_UPDATABLE_FIELDS)
    if unknown:
        raise TypeError(f"webhook_endpoint_update() got unexpected fields {sorted(unknown)}")
    was_disabled = endpoint.disabled
    for field, value in changes.items():
        setattr(endpoint, field, _normalized(field, value))
    if changes:
        endpoint.updated_at = timezone.now()
        validate_fields(endpoint)
        endpoint.save(update_fields=[*changes, "updated_at"])
        _forget_endpoints()
        if endpoint.disabled and not was_disabled:
            _fail_pending_deliveries(endpoint=endpoint, reason="The endpoint was disabled.")
    return endpoint


@transaction.atomic
def webhook_endpoint_headers_update(
    *, endpoint: WebhookEndpoint, headers: dict, replace: bool = False
) -> WebhookEndpoint:
    """Add or replace the given headers (names match case-insensitively); a null value removes one.

    With ``replace`` the endpoint's headers become exactly ``headers`` (admin's form).
    """
    if not isinstance(headers, dict):
        raise InvalidRequestBody("headers must be a JSON object of header names to values.")
    locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    merged = {} if replace else dict(locked.headers)
    for name, value in headers.items():
        for existing in [key for key in merged if isinstance(name, str) and key.lower() == name.lower()]:
            del merged[existing]
        if value is not None:
            merged[name] = value
    endpoint.headers = merged
    endpoint.updated_at = timezone.now()
    validate_fields(endpoint)
    endpoint.save(update_fields=["headers", "updated_at"])
    return endpoint


@transaction.atomic
def webhook_endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    """Remove the endpoint from the API; its delivery log stays (admin shows it), pending ones fail."""
    now = timezone.now()
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(deleted_at=now, updated_at=now)
    _forget_endpoints()
    endpoint.deleted_at = endpoint.updated_at = now
    _fail_pending_deliveries(endpoint=endpoint, reason="The endpoint was deleted.")


# --- The outbox --------------------------------------------------------------------------------


def _business_id(business) -> str:
    return business if isinstance(business, str) else business.pk


def _write_event(*, business_id: str, event_type: str, data, endpoint_ids: list[str]) -> list[int]:
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
    longer registered is not used. Every endpoint service drops it too (``_forget_endpoints``),
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


def _forget_endpoints() -> None:
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
        _write_event(
            business_id=business_id,
            event_type=event_type,
            data=data() if callable(data) else data,
            endpoint_ids=endpoint_ids,
        )


def webhook_endpoint_send_test(*, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """Send a ``webhook.test`` event to this one endpoint (whatever its filter), e.g. from admin."""
    if endpoint.deleted_at is not None or endpoint.disabled:
        raise InvalidRequestParameters("Only an enabled endpoint can receive a test event.")
    data = {
        "payload_type": "WebhookTest",
        "webhook_id": endpoint.id,
        "message": "A test event: this endpoint is reachable and can verify the signature.",
    }
    with transaction.atomic():
        (delivery_id,) = _write_event(
            business_id=endpoint.business_id,
            event_type=WEBHOOK_TEST_EVENT_TYPE,
            data=data,
            endpoint_ids=[endpoint.id],
        )
    return WebhookDelivery.objects.get(pk=delivery_id)


def webhook_deliveries_enqueue(*, delivery_ids) -> None:
    """One delivery task per id (run after commit; a broker error is logged, the sweeper recovers)."""
    from dodo_billing.tasks import deliver_webhook

    for delivery_id in delivery_ids:
        deliver_webhook.delay(delivery_id)


# --- Delivery bookkeeping (used by dodo_billing/tasks.py and admin) -----------------------------


@dataclass(frozen=True)
class DeliveryClaim:
    """Everything one HTTP attempt needs, read while the delivery row was locked."""

    delivery_id: int
    attempt_id: int
    number: int
    event_id: str
    payload: str
    url: str
    headers: dict
    secret: str


@dataclass(frozen=True)
class Deferred:
    """The endpoint's rate limit is reached: try again in ``seconds``."""

    seconds: float


@dataclass(frozen=True)
class AttemptOutcome:
    status_code: int | None
    error: str
    response_body: str
    duration_ms: int
    permanent: bool = False  # a refused target: the delivery fails now, no retries

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@transaction.atomic
def webhook_delivery_claim(*, delivery_id: int) -> DeliveryClaim | Deferred | None:
    """Start an attempt of a due, pending delivery, or say why not (None: nothing to do now).

    The row lock serializes concurrent tasks for one delivery; the claim moves ``next_attempt_at``
    a lease ahead, so a duplicate task finds the delivery not due and sends nothing, while a
    worker killed mid-request leaves the delivery due again once the lease runs out.
    """
    delivery = (
        WebhookDelivery.objects.select_for_update(of=("self",))
        .select_related("event", "endpoint")
        .filter(pk=delivery_id)
        .first()
    )
    if delivery is None or delivery.status != WebhookDeliveryStatus.PENDING:
        return None
    now = timezone.now()
    if delivery.next_attempt_at is not None and delivery.next_attempt_at > now:
        return None
    endpoint = delivery.endpoint
    if endpoint.deleted_at is not None or endpoint.disabled:
        delivery.status = WebhookDeliveryStatus.FAILED
        delivery.next_attempt_at = None
        delivery.last_error = (
            "The endpoint was deleted." if endpoint.deleted_at else "The endpoint is disabled."
        )
        delivery.updated_at = now
        delivery.save(update_fields=["status", "next_attempt_at", "last_error", "updated_at"])
        return None
    if endpoint.rate_limit:
        recent = WebhookDeliveryAttempt.objects.filter(
            endpoint=endpoint, started_at__gt=now - timedelta(seconds=1)
        ).count()
        if recent >= endpoint.rate_limit:
            delivery.next_attempt_at = now + timedelta(seconds=1)
            delivery.save(update_fields=["next_attempt_at"])
            return Deferred(seconds=1.0)
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.next_attempt_at = now + timedelta(seconds=LEASE_SECONDS)
    delivery.updated_at = now
    delivery.save(update_fields=["attempts", "last_attempt_at", "next_attempt_at", "updated_at"])
    attempt = WebhookDeliveryAttempt.objects.create(
        delivery=delivery, endpoint=endpoint, number=delivery.attempts, url=endpoint.url, started_at=now
    )
    return DeliveryClaim(
        delivery_id=delivery.pk,
        attempt_id=attempt.pk,
        number=attempt.number,
        event_id=delivery.event_id,
        payload=delivery.event.payload,
        url=endpoint.url,
        headers=dict(endpoint.headers),
        secret=endpoint.secret,
    )


@transaction.atomic
def webhook_delivery_record(*, claim: DeliveryClaim, outcome: AttemptOutcome) -> WebhookDelivery | None:
    """Log the attempt's outcome and move the delivery on: succeeded, next retry, or failed."""
    delivery = WebhookDelivery.objects.select_for_update().filter(pk=claim.delivery_id).first()
    if delivery is None:
        return None
    now = timezone.now()
    error = _clean_text(outcome.error, ERROR_MAX_CHARS)
    if not outcome.succeeded and not error and outcome.status_code is not None:
        error = f"The endpoint answered HTTP {outcome.status_code}."
    body = _clean_text(outcome.response_body, RESPONSE_BODY_MAX_CHARS)
    WebhookDeliveryAttempt.objects.filter(pk=claim.attempt_id).update(
        finished_at=now,
        duration_ms=outcome.duration_ms,
        status_code=outcome.status_code,
        succeeded=outcome.succeeded,
        error=error,
        response_body=body,
    )
    delivery.last_status_code = outcome.status_code
    delivery.last_error = error
    delivery.last_response_body = body
    delivery.updated_at = now
    if delivery.status == WebhookDeliveryStatus.PENDING or outcome.succeeded:
        if outcome.succeeded:
            delivery.status, delivery.next_attempt_at = WebhookDeliveryStatus.SUCCEEDED, None
        elif outcome.permanent or delivery.attempts > MAX_RETRIES:
            delivery.status, delivery.next_attempt_at = WebhookDeliveryStatus.FAILED, None
        else:
            delivery.next_attempt_at = now + retry_delay(delivery.attempts)
    delivery.save(
        update_fields=[
            "status",
            "next_attempt_at",
            "last_status_code",
            "last_error",
            "last_response_body",
            "updated_at",
        ]
    )
    return delivery


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


def webhook_deliveries_due(*, limit: int = SWEEP_BATCH_SIZE) -> list[int]:
    """Pending deliveries that are due and may have no task in flight, oldest due first.

    That is: a retry whose time has come (or whose attempt's lease ran out), or a first attempt
    whose task has not run a minute after the event was written.
    """
    now = timezone.now()
    return list(
        WebhookDelivery.objects.filter(status=WebhookDeliveryStatus.PENDING, next_attempt_at__lte=now)
        .filter(Q(attempts__gt=0) | Q(created_at__lte=now - timedelta(seconds=NEVER_RAN_GRACE_SECONDS)))
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
