"""Retention: what is old enough goes, in batches; what is recent, pending or still to be billed
stays; billed totals stay on the invoices."""

from datetime import datetime, timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from dodo_billing.models import WebhookDelivery, WebhookDeliveryAttempt, WebhookEvent
from dodo_billing.retention.services import retention_prune
from dodo_billing.retention.tasks import prune
from dodo_billing.webhooks.endpoints import webhook_endpoint_create
from metering.ingestion import EventIn
from metering.models import Event, Invoice, InvoiceLine, Subscription
from metering.services import events_insert
from portal.models import PortalLink, PortalSession

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def webhook_log(business, endpoint, *, age_days: float, status: str) -> WebhookDelivery:
    moment = days_ago(age_days)
    event = WebhookEvent.objects.create(
        business=business, type="payment.succeeded", payload="{}", created_at=moment
    )
    delivery = WebhookDelivery.objects.create(
        event=event, endpoint=endpoint, status=status, attempts=1, created_at=moment, updated_at=moment
    )
    WebhookDeliveryAttempt.objects.create(
        delivery=delivery,
        endpoint=endpoint,
        number=1,
        url=endpoint.url,
        started_at=moment,
        finished_at=moment,
    )
    return delivery


def test_old_finished_webhook_logs_go_and_the_rest_stays(business):
    endpoint = webhook_endpoint_create(business=business, url="https://example.com/hooks")
    old = [
        webhook_log(business, endpoint, age_days=40, status=s) for s in ("succeeded", "failed", "succeeded")
    ]
    pending = webhook_log(business, endpoint, age_days=40, status="pending")
    recent = webhook_log(business, endpoint, age_days=5, status="succeeded")
    deleted = retention_prune(now=NOW)
    assert (
        deleted["webhook_attempts"] == 3
        and deleted["webhook_deliveries"] == 3
        and deleted["webhook_events"] == 3
    )
    assert set(WebhookDelivery.objects.values_list("pk", flat=True)) == {pending.pk, recent.pk}
    assert WebhookDeliveryAttempt.objects.count() == 2
    assert not WebhookEvent.objects.filter(pk__in=[d.event_id for d in old]).exists()
    assert retention_prune(now=NOW)["webhook_deliveries"] == 0  # nothing left to do


def test_ended_portal_sessions_and_expired_links_go(customer):
    def link(expires_days_ago: float, *, session_end_days_ago: float | None = None):
        made = PortalLink.objects.create(
            customer=customer,
            token_digest=f"{expires_days_ago}-{session_end_days_ago}",
            created_at=days_ago(expires_days_ago + 1),
            expires_at=days_ago(expires_days_ago),
        )
        if session_end_days_ago is not None:
            PortalSession.objects.create(
                customer=customer,
                link=made,
                created_at=days_ago(session_end_days_ago + 1),
                expires_at=days_ago(session_end_days_ago),
            )
        return made

    gone = [link(60), link(60, session_end_days_ago=45)]
    kept = [link(10), link(60, session_end_days_ago=2)]  # recent link; a session that ended lately
    deleted = retention_prune(now=NOW)
    assert deleted["portal_sessions"] == 1 and deleted["portal_links"] == 2
    assert set(PortalLink.objects.values_list("pk", flat=True)) == {k.pk for k in kept}
    assert not PortalLink.objects.filter(pk__in=[g.pk for g in gone]).exists()
    assert PortalSession.objects.count() == 1


def ingest(business, customer, *stamps: datetime) -> None:
    events = [
        EventIn(event_id=f"e-{s.timestamp()}", customer_id=customer.id, event_name="api") for s in stamps
    ]
    events_insert(business=business, events=events, timestamps=list(stamps), ingested_at=NOW)


def test_events_are_kept_forever_by_default(business, customer):
    assert settings.RETENTION_EVENTS_DAYS == 0
    ingest(business, customer, days_ago(900))
    assert retention_prune(now=NOW)["events"] == 0 and Event.objects.count() == 1


@pytest.mark.postgres
def test_events_of_a_period_not_yet_billed_are_never_pruned(
    business, other_business, make_customer, settings
):
    """Retention 30 days; a subscription's current period began 60 days ago and is not billed:
    its business keeps every event from the period start on, while the other business (no
    subscription) loses everything older than 30 days. The billed invoice keeps its total."""
    from tests.metering.test_billing_worker import due_subscriptions

    settings.RETENTION_EVENTS_DAYS = 30
    settings.RETENTION_BATCH_SIZE = 2
    [subscription] = due_subscriptions(business, 1)
    Subscription.objects.filter(pk=subscription.pk).update(
        previous_billing_date=days_ago(60), next_billing_date=days_ago(-1)
    )
    customer = subscription.customer
    ingest(business, customer, days_ago(90), days_ago(80), days_ago(45), days_ago(1))
    outsider = make_customer(business=other_business)
    ingest(other_business, outsider, days_ago(90), days_ago(45), days_ago(40), days_ago(1))
    invoice = Invoice.objects.create(
        business=business, customer=customer, currency="USD", subtotal=700, amount_due=700
    )
    InvoiceLine.objects.create(invoice=invoice, kind="usage", description="90 days ago", amount=700)

    deleted = retention_prune(now=NOW)

    assert deleted["events"] == 2 + 3  # batches of 2
    kept = sorted(
        Event.objects.filter(business=business, event_id__startswith="e-").values_list("timestamp", flat=True)
    )
    assert kept == [days_ago(45), days_ago(1)]  # the unbilled period's events, though 45 days old
    assert Event.objects.filter(business=other_business).count() == 1
    assert Invoice.objects.get(pk=invoice.pk).subtotal == 700
    assert sum(line.amount for line in invoice.lines.all()) == 700


def test_batches_and_the_time_budget(business, settings):
    endpoint = webhook_endpoint_create(business=business, url="https://example.com/hooks")
    for _ in range(5):
        webhook_log(business, endpoint, age_days=40, status="succeeded")
    settings.RETENTION_BATCH_SIZE = 2
    settings.RETENTION_MAX_SECONDS = 0  # no time: nothing is deleted
    assert retention_prune(now=NOW)["webhook_attempts"] == 0
    settings.RETENTION_MAX_SECONDS = 60
    assert retention_prune(now=NOW)["webhook_attempts"] == 5


def test_beat_runs_the_task(business):
    entry = settings.CELERY_BEAT_SCHEDULE["retention-prune"]
    assert entry["task"] == prune.name
    assert prune() == {
        "webhook_attempts": 0,
        "webhook_deliveries": 0,
        "webhook_events": 0,
        "portal_sessions": 0,
        "portal_links": 0,
        "events": 0,
    }
