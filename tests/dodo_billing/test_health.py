"""/health/live and /health/ready: answers, who sees the details, and each check turning the answer
to 503. The checks run in threads of their own, so the data they read is committed
(transactional tests). Stopping PostgreSQL and Redis is in test_faults.py."""

import sys
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from dodo_billing.models import Heartbeat, WebhookDelivery, WebhookEvent
from dodo_billing.observability import health
from dodo_billing.observability.services import heartbeat_record
from dodo_billing.webhooks.endpoints import webhook_endpoint_create
from tests.stack import Process, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def beating(db):
    """Every queue has a fresh heartbeat."""
    for queue in settings.CELERY_TASK_QUEUES:
        heartbeat_record(queue=queue)


def ready(client, **headers):
    response = client.get("/health/ready", **headers)
    assert response["Content-Type"] == "application/json"
    assert "no-cache" in response["Cache-Control"]
    return response.status_code, response.json()


def test_live_needs_nothing(client):
    response = client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ready_answers_ok_without_details_to_anyone(client, beating):
    assert ready(client) == (200, {"status": "ok"})


def test_ready_details_need_the_token(client, beating, settings):
    settings.HEALTH_TOKEN = "health-secret"
    assert ready(client, HTTP_AUTHORIZATION="Bearer wrong") == (200, {"status": "ok"})
    status, body = ready(client, HTTP_AUTHORIZATION="Bearer health-secret")
    assert status == 200
    assert set(body["checks"]) == {
        "database",
        "migrations",
        "broker",
        "heartbeat",
        "webhook_backlog",
        "billing_backlog",
    }
    assert all(check["status"] == "ok" for check in body["checks"].values())


def test_ready_details_for_an_internal_network(client, beating, settings):
    settings.OPS_INTERNAL_NETWORKS = ["10.0.0.0/8"]
    assert "checks" not in ready(client)[1]  # the test client is 127.0.0.1
    assert "checks" in ready(client, REMOTE_ADDR="10.1.2.3")[1]


def test_stale_heartbeat_is_unavailable(client, beating, settings):
    settings.HEALTH_TOKEN = "t"
    Heartbeat.objects.filter(name="queue:webhooks").update(beat_at=timezone.now() - timedelta(minutes=10))
    status, body = ready(client, HTTP_AUTHORIZATION="Bearer t")
    assert status == 503 and body["status"] == "unavailable"
    assert body["checks"]["heartbeat"]["status"] == "unavailable"
    assert "webhooks" in body["checks"]["heartbeat"]["error"]
    assert "celery" not in body["checks"]["heartbeat"]["error"]
    settings.HEALTH_HEARTBEAT_MAX_AGE_SECONDS = 0  # not checked
    assert ready(client)[0] == 200


def test_webhook_backlog_over_the_threshold(client, beating, business, settings):
    settings.HEALTH_TOKEN = "t"
    endpoint = webhook_endpoint_create(business=business, url="https://example.com/hooks")
    event = WebhookEvent.objects.create(business=business, type="payment.succeeded", payload="{}")
    WebhookDelivery.objects.create(event=event, endpoint=endpoint, next_attempt_at=timezone.now())
    assert ready(client)[0] == 200
    settings.HEALTH_WEBHOOK_BACKLOG_MAX = 0
    status, body = ready(client, HTTP_AUTHORIZATION="Bearer t")
    assert status == 503
    assert body["checks"]["webhook_backlog"]["error"] == "more than 0 webhook deliveries are due"


@pytest.mark.postgres
def test_billing_backlog_over_the_threshold(client, beating, business, settings):
    from tests.metering.test_billing_worker import due_subscriptions

    settings.HEALTH_TOKEN = "t"
    due_subscriptions(business, 2)
    assert ready(client)[0] == 200
    settings.HEALTH_BILLING_BACKLOG_MAX = 1
    status, body = ready(client, HTTP_AUTHORIZATION="Bearer t")
    assert status == 503
    assert "subscription periods" in body["checks"]["billing_backlog"]["error"]


def test_unapplied_migration_is_unavailable(client, beating, settings, monkeypatch):
    settings.HEALTH_TOKEN = "t"
    monkeypatch.setattr(health.Migrations, "_applied", False)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, app, name, applied FROM django_migrations WHERE app = 'dodo_billing' "
            "ORDER BY name DESC LIMIT 1"
        )
        row = cursor.fetchone()
        cursor.execute("DELETE FROM django_migrations WHERE id = %s", [row[0]])
    try:
        status, body = ready(client, HTTP_AUTHORIZATION="Bearer t")
    finally:
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO django_migrations (id, app, name, applied) VALUES (%s, %s, %s, %s)", row
            )
    assert status == 503
    assert body["checks"]["migrations"]["error"] == "1 migration(s) not applied"
    assert ready(client)[0] == 200


def test_broker_down_is_unavailable(client, beating, settings):
    settings.HEALTH_TOKEN = "t"
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    status, body = ready(client, HTTP_AUTHORIZATION="Bearer t")
    assert status == 503
    assert body["checks"]["broker"]["status"] == "unavailable"
    assert body["checks"]["database"]["status"] == "ok"


@pytest.mark.postgres
def test_beat_and_a_worker_keep_every_queue_beating(client, celery_workers, settings, tmp_path):
    """Real beat and a real worker: beat enqueues a heartbeat on each queue, the worker records it."""
    import os

    celery_workers()
    db = settings.DATABASES["default"]
    host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}:{db['PASSWORD']}@{host}/{db['NAME']}",
        "HEARTBEAT_SECONDS": "1",
        "DODO_RUN_DIR": str(tmp_path),
    }
    argv = [sys.executable, "-m", "celery", "-A", "dodo_billing", "beat", "-s", str(tmp_path / "beat")]
    assert ready(client)[0] == 503  # no heartbeat yet
    beat = Process("beat", [*argv, "--loglevel=INFO"], env, tmp_path)
    try:
        beat.wait_for("beat: Starting")
        wait_until(lambda: Heartbeat.objects.count() == 3, 30, what="a heartbeat on every queue")
        assert ready(client)[0] == 200
        first = dict(Heartbeat.objects.values_list("name", "beat_at"))
        wait_until(
            lambda: all(h.beat_at > first[h.name] for h in Heartbeat.objects.all()),
            30,
            what="newer heartbeats",
        )
    finally:
        beat.stop()
