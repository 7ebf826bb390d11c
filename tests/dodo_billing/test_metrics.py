"""/metrics: who may scrape it, that each figure moves with the work it counts, and that gunicorn's
workers add up (multiprocess mode) under a real gunicorn with two workers."""

import os
import sys
import threading
from pathlib import Path

import httpx
import pytest
from django.db import transaction
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from dodo_billing.celery import app
from dodo_billing.models import WebhookDelivery, WebhookEvent
from dodo_billing.webhooks.endpoints import webhook_endpoint_create
from dodo_billing.webhooks.outbox import webhook_event_emit
from metering.models import Invoice, Payment
from tests.conftest import post_json
from tests.stack import Process, free_port, wait_until

TOKEN = "metrics-token"


@pytest.fixture
def scrape(client, settings):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_CACHE_SECONDS = 0

    def read() -> dict:
        response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/plain")
        return samples(response.content.decode())

    return read


def samples(text: str) -> dict:
    """{(sample name, frozenset of labels): value}"""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(found: dict, name: str, **labels) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


@pytest.mark.django_db
def test_metrics_need_the_token_or_an_internal_address(client, settings):
    settings.METRICS_TOKEN = TOKEN
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 403  # no token: closed
    settings.OPS_INTERNAL_NETWORKS = ["192.168.0.0/16"]
    assert client.get("/metrics", REMOTE_ADDR="192.168.4.2").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="8.8.8.8").status_code == 403


@pytest.mark.django_db
def test_a_ledger_write_moves_its_counters_and_the_liabilities(
    scrape, api, customer, django_capture_on_commit_callbacks
):
    route = "api/customers/<str:customer_id>/wallets/ledger-entries"
    before = scrape()
    body = {"amount": 1234, "currency": "USD", "entry_type": "credit", "idempotency_key": "m-1"}
    with django_capture_on_commit_callbacks(execute=True):
        response = post_json(api, f"/api/customers/{customer.id}/wallets/ledger-entries", body)
    assert response.status_code == 200
    after = scrape()
    assert (
        value(after, "dodo_ledger_entries_written_total")
        == value(before, "dodo_ledger_entries_written_total") + 1
    )
    requests = {"method": "POST", "route": route, "status": "200"}
    assert (
        value(after, "dodo_http_requests_total", **requests)
        == value(before, "dodo_http_requests_total", **requests) + 1
    )
    latency = {"method": "POST", "route": route}
    count = "dodo_http_request_duration_seconds_count"
    assert value(after, count, **latency) == value(before, count, **latency) + 1
    usd = value(after, "dodo_wallet_liabilities", currency="USD") - value(
        before, "dodo_wallet_liabilities", currency="USD"
    )
    assert usd == 1234
    # A refused write (a repeated key with other parameters) writes no entry and counts none.
    body["amount"] = 1
    with django_capture_on_commit_callbacks(execute=True):
        assert post_json(api, f"/api/customers/{customer.id}/wallets/ledger-entries", body).status_code == 409
    again = scrape()
    assert value(again, "dodo_ledger_entries_written_total") == value(
        after, "dodo_ledger_entries_written_total"
    )
    conflict = {"method": "POST", "route": route, "status": "409"}
    assert (
        value(again, "dodo_http_requests_total", **conflict)
        == value(after, "dodo_http_requests_total", **conflict) + 1
    )


@pytest.mark.django_db
def test_ingestion_counts_stored_and_repeated_events_and_the_batch_size(scrape, api, customer):
    def ingest(*ids):
        events = [{"event_id": i, "customer_id": customer.id, "event_name": "api.call"} for i in ids]
        assert post_json(api, "/api/events/ingest", {"events": events}).status_code == 200

    before = scrape()
    ingest("e1", "e2")
    ingest("e2", "e3", "e4")
    after = scrape()
    assert value(after, "dodo_events_ingested_total") - value(before, "dodo_events_ingested_total") == 4
    assert (
        value(after, "dodo_events_deduplicated_total") - value(before, "dodo_events_deduplicated_total") == 1
    )
    assert value(after, "dodo_ingest_batch_size_count") - value(before, "dodo_ingest_batch_size_count") == 2
    assert value(after, "dodo_ingest_batch_size_sum") - value(before, "dodo_ingest_batch_size_sum") == 5
    assert value(after, "dodo_ingest_batch_size_bucket", le="1.0") == value(
        before, "dodo_ingest_batch_size_bucket", le="1.0"
    )


@pytest.mark.django_db
def test_payment_outcomes_count_on_commit_only(
    scrape, business, customer, django_capture_on_commit_callbacks
):
    before = scrape()
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        webhook_event_emit(business=business, event_type="payment.failed", data={"payload_type": "Payment"})
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        webhook_event_emit(business=business, event_type="payment.failed", data={"payload_type": "Payment"})
        raise RuntimeError("rolled back")
    invoice = Invoice.objects.create(
        business=business, customer=customer, currency="USD", subtotal=5, amount_due=5
    )
    Payment.objects.create(
        business=business, customer=customer, invoice=invoice, currency="USD", total_amount=5,
        gateway_amount=5, pricing_type="one_time_price", status="pending", gateway="manual",
    )  # fmt: skip
    after = scrape()
    failed = "dodo_payment_outcomes_total"
    assert value(after, failed, status="failed") == value(before, failed, status="failed") + 1
    assert (
        value(after, "dodo_payments", status="pending")
        == value(before, "dodo_payments", status="pending") + 1
    )


@pytest.mark.django_db
def test_webhook_backlog_gauges(scrape, business):
    endpoint = webhook_endpoint_create(business=business, url="https://example.com/hooks")
    event = WebhookEvent.objects.create(business=business, type="payment.succeeded", payload="{}")
    delivery = WebhookDelivery.objects.create(
        event=event, endpoint=endpoint, created_at=timezone.now() - timezone.timedelta(minutes=5)
    )
    found = scrape()
    assert value(found, "dodo_webhook_deliveries_pending") == 1
    assert 299 < value(found, "dodo_webhook_delivery_oldest_pending_age_seconds") < 400
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status="failed", updated_at=timezone.now())
    found = scrape()
    assert value(found, "dodo_webhook_deliveries_pending") == 0
    assert value(found, "dodo_webhook_deliveries_failed_24h") == 1


@pytest.mark.django_db
def test_queue_depths_come_from_the_broker(scrape):
    app.control.purge()
    before = scrape()
    assert value(before, "dodo_metrics_source_up", source="broker") == 1
    app.send_task("dodo_billing.observability.tasks.heartbeat", args=["x"], queue="billing")
    app.send_task("dodo_billing.observability.tasks.heartbeat", args=["x"], queue="billing")
    after = scrape()
    depth = "dodo_celery_queue_length"
    assert value(after, depth, queue="billing") == value(before, depth, queue="billing") + 2
    assert value(after, depth, queue="webhooks") == value(before, depth, queue="webhooks")
    app.control.purge()


@pytest.mark.django_db
def test_an_unreachable_broker_leaves_its_gauges_out(scrape, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    found = scrape()
    assert value(found, "dodo_metrics_source_up", source="broker") == 0
    assert value(found, "dodo_metrics_source_up", source="database") == 1
    assert not any(name == "dodo_celery_queue_length" for name, _ in found)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_billing_periods_billed(scrape, business):
    from metering.tasks import bill_subscription_periods
    from tests.metering.test_billing_worker import due_subscriptions

    [subscription] = due_subscriptions(business, 1)
    before = scrape()
    assert value(before, "dodo_billing_periods_due") == 1
    billed = bill_subscription_periods([[subscription.id, subscription.previous_billing_date.isoformat()]])
    assert billed == 1
    after = scrape()
    periods = "dodo_billing_periods_total"
    assert value(after, periods, outcome="billed") == value(before, periods, outcome="billed") + 1
    assert value(after, "dodo_billing_periods_due") == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_gunicorn_workers_add_up(settings, tmp_path):
    """Requests spread over two worker processes; every scrape, whichever worker answers it, shows
    the sum of both."""
    from django.conf import settings as live_settings

    db = live_settings.DATABASES["default"]
    host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    multiproc = tmp_path / "prometheus"
    multiproc.mkdir()
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}:{db['PASSWORD']}@{host}/{db['NAME']}",
        "PROMETHEUS_MULTIPROC_DIR": str(multiproc),
        "METRICS_TOKEN": TOKEN,
        "DODO_RUN_DIR": str(tmp_path),
    }
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "dodo_billing.wsgi:application",
        "-b",
        f"127.0.0.1:{port}",
        "-w",
        "2",
    ]
    server = Process("gunicorn", argv, env, tmp_path)
    base = f"http://127.0.0.1:{port}"
    try:
        server.wait_for("Booting worker", count=2)
        wait_until(lambda: _answers(f"{base}/health/live"), 30, what="gunicorn")
        live = {"method": "GET", "route": "health/live", "status": "200"}
        baseline = value(_scrape(base), "dodo_http_requests_total", **live)  # the wait's probes
        requests_per_thread, threads = 15, 6

        def hammer():
            with httpx.Client() as http:
                for _ in range(requests_per_thread):
                    http.get(f"{base}/health/live", headers={"Connection": "close"})

        workers = [threading.Thread(target=hammer) for _ in range(threads)]
        for thread in workers:
            thread.start()
        for thread in workers:
            thread.join(60)
        # Both workers served requests: each wrote its own counter file.
        pids = {path.stem.rsplit("_", 1)[1] for path in Path(multiproc).glob("counter_*.db")}
        assert len(pids) == 2, pids
        expected = baseline + requests_per_thread * threads
        for _ in range(6):
            assert value(_scrape(base), "dodo_http_requests_total", **live) == expected
    finally:
        server.stop()


def _scrape(base: str) -> dict:
    response = httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    assert response.status_code == 200
    return samples(response.text)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False
