"""Webhook endpoints: the selectors (one, a cursor page, the headers shown) and the services
(register, update, headers, delete, a test event) that the API and admin call. Every service that
changes an endpoint makes the outbox read the business's endpoints again in that transaction.
"""

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
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
    WEBHOOK_TEST_EVENT_TYPE,
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookEndpoint,
)
from dodo_billing.webhooks.outbox import webhook_endpoints_forget, webhook_event_write

LIST_DEFAULT_LIMIT = 10
LIST_MAX_LIMIT = 100

# Header names whose values GET /webhooks/{id}/headers does not reveal.
_SENSITIVE_HEADER_NAMES = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
_SENSITIVE_HEADER_PARTS = ("auth", "secret", "token", "password", "passwd", "api-key", "apikey", "api_key")


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
            webhook_endpoints_forget()
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
        webhook_endpoints_forget()
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
    webhook_endpoints_forget()
    endpoint.deleted_at = endpoint.updated_at = now
    _fail_pending_deliveries(endpoint=endpoint, reason="The endpoint was deleted.")


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
        (delivery_id,) = webhook_event_write(
            business_id=endpoint.business_id,
            event_type=WEBHOOK_TEST_EVENT_TYPE,
            data=data,
            endpoint_ids=[endpoint.id],
        )
    return WebhookDelivery.objects.get(pk=delivery_id)
