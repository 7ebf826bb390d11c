"""Delivery of one webhook attempt: claim it, sign it, POST it through the egress checks, record the
outcome and schedule the retry (exponential backoff), and the selection of due deliveries that the
sweep re-enqueues. The Celery tasks that run these are in ``dodo_billing.webhooks.tasks``.
"""

import logging
import time
from dataclasses import dataclass
from datetime import timedelta

import httpx
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from standardwebhooks import Webhook

from dodo_billing.egress import HostNotResolved, TargetRefused, pinned_target, private_targets_allowed
from dodo_billing.models import WebhookDelivery, WebhookDeliveryAttempt, WebhookDeliveryStatus

logger = logging.getLogger(__name__)

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

USER_AGENT = "dodo-billing-webhooks/1.0"


def retry_delay(retry_number: int) -> timedelta:
    """The wait before the ``retry_number``-th retry (1-based)."""
    seconds = RETRY_BASE_SECONDS * RETRY_FACTOR ** (retry_number - 1)
    return timedelta(seconds=min(seconds, RETRY_MAX_DELAY_SECONDS))


def _clean_text(text: str, limit: int) -> str:
    """Text as stored in the log: at most ``limit`` characters, no NUL (PostgreSQL text refuses it)."""
    return text[:limit].replace("\x00", "\ufffd")


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


def signed_headers(claim: DeliveryClaim) -> httpx.Headers:
    """The endpoint's custom headers plus the Standard Webhooks ones, signed now.

    ``webhook-id`` is the event's id (the same on every retry, so receivers can de-duplicate);
    ``webhook-timestamp`` is this attempt's time, which the signature covers.
    """
    timestamp = timezone.now().replace(microsecond=0)
    headers = httpx.Headers({"user-agent": USER_AGENT})
    headers.update(claim.headers)
    headers["content-type"] = "application/json"
    headers["webhook-id"] = claim.event_id
    headers["webhook-timestamp"] = str(int(timestamp.timestamp()))
    headers["webhook-signature"] = Webhook(claim.secret).sign(claim.event_id, timestamp, claim.payload)
    return headers


def _request_target(claim: DeliveryClaim, headers: httpx.Headers) -> tuple[str, dict]:
    """The URL to connect to and the request's extensions: unless private targets are allowed,
    the endpoint's host is resolved and checked, and the request goes to that checked address
    (``Host`` and TLS keep the name). Raises TargetRefused or HostNotResolved."""
    if private_targets_allowed():
        return claim.url, {}
    target = pinned_target(claim.url)
    headers["host"] = target.host_header
    return target.url, ({"sni_hostname": target.sni_hostname} if target.sni_hostname else {})


def post_webhook(claim: DeliveryClaim) -> AttemptOutcome:
    """One POST of the event body; never raises for network trouble (it is the outcome).

    No redirect is followed and no proxy from the environment is used: the request goes straight
    to the endpoint's (checked) address."""
    started = time.monotonic()
    status_code, error, body = None, "", ""
    try:
        headers = signed_headers(claim)
        url, extensions = _request_target(claim, headers)
        with (
            httpx.Client(timeout=DELIVERY_TIMEOUT_SECONDS, follow_redirects=False, trust_env=False) as client,
            client.stream(
                "POST", url, content=claim.payload.encode(), headers=headers, extensions=extensions
            ) as response,
        ):
            status_code = response.status_code
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                chunks.append(chunk)
                size += len(chunk)
                if (
                    size >= RESPONSE_BODY_MAX_CHARS * 4
                    or time.monotonic() - started > DELIVERY_TIMEOUT_SECONDS
                ):
                    break
            body = b"".join(chunks).decode("utf-8", errors="replace")[:RESPONSE_BODY_MAX_CHARS]
    except TargetRefused as exc:
        duration_ms = int((time.monotonic() - started) * 1000)
        return AttemptOutcome(None, str(exc), "", duration_ms, permanent=True)
    except HostNotResolved as exc:
        error = str(exc)
    except httpx.TimeoutException as exc:
        error = f"Timed out after {DELIVERY_TIMEOUT_SECONDS} s ({type(exc).__name__})."
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # e.g. a URL httpx cannot send to; recorded, retried like any failure
        logger.exception("Webhook attempt %s of delivery %s failed", claim.number, claim.delivery_id)
        error = f"{type(exc).__name__}: {exc}"
    duration_ms = int((time.monotonic() - started) * 1000)
    return AttemptOutcome(status_code=status_code, error=error, response_body=body, duration_ms=duration_ms)
