"""Celery tasks of the webhooks outbox: deliver one delivery, and sweep up the ones that are due.

The bookkeeping (claim, record, schedule) lives in dodo_billing/webhooks.py; this module only
signs and sends the HTTP request.
"""

import logging
import time

import httpx
from celery import shared_task
from django.utils import timezone
from standardwebhooks import Webhook

from dodo_billing.egress import HostNotResolved, TargetRefused, pinned_target, private_targets_allowed
from dodo_billing.webhooks import (
    COUNTDOWN_MAX_SECONDS,
    DELIVERY_TIMEOUT_SECONDS,
    RESPONSE_BODY_MAX_CHARS,
    AttemptOutcome,
    Deferred,
    DeliveryClaim,
    webhook_deliveries_due,
    webhook_delivery_claim,
    webhook_delivery_record,
)

logger = logging.getLogger(__name__)

USER_AGENT = "dodo-billing-webhooks/1.0"


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


@shared_task(name="dodo_billing.tasks.deliver_webhook")
def deliver_webhook(delivery_id: int) -> str:
    """Attempt one delivery if it is pending and due; safe to run any number of times."""
    claim = webhook_delivery_claim(delivery_id=delivery_id)
    if claim is None:
        return "skipped"
    if isinstance(claim, Deferred):
        deliver_webhook.apply_async(args=[delivery_id], countdown=claim.seconds)
        return "deferred"
    outcome = post_webhook(claim)
    delivery = webhook_delivery_record(claim=claim, outcome=outcome)
    if delivery is None:
        return "gone"
    logger.info(
        "Webhook delivery %s attempt %s to %s: %s (%s)",
        delivery_id,
        claim.number,
        claim.url,
        delivery.status,
        outcome.status_code or outcome.error,
    )
    if delivery.next_attempt_at is not None and delivery.status == "pending":
        delay = (delivery.next_attempt_at - timezone.now()).total_seconds()
        if delay <= COUNTDOWN_MAX_SECONDS:
            # Slightly after the due time, so the claim never finds it a moment early.
            deliver_webhook.apply_async(args=[delivery_id], countdown=max(delay, 0) + 0.1)
    return delivery.status


@shared_task(name="dodo_billing.tasks.sweep_webhook_deliveries")
def sweep_webhook_deliveries() -> int:
    """Every 30 s (beat): enqueue due deliveries that may have no task in flight."""
    delivery_ids = webhook_deliveries_due()
    for delivery_id in delivery_ids:
        deliver_webhook.delay(delivery_id)
    if delivery_ids:
        logger.info("Re-enqueued %s due webhook deliveries", len(delivery_ids))
    return len(delivery_ids)
