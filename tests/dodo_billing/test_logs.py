"""Logs: request ids (accepted, made, returned, on every line, carried into Celery tasks), JSON
lines with LOG_FORMAT=json, and no secret (API keys, bogus keys, portal tokens) in any line of a
real gunicorn's log."""

import json
import os
import sys

import httpx
import pytest

from dodo_billing.observability.logs import redact, request_id_for
from dodo_billing.services import api_key_create, business_get_or_create
from dodo_billing.webhooks.endpoints import webhook_endpoint_create
from portal.services import portal_link_create
from tests.conftest import post_json
from tests.stack import Process, Receiver, free_port, wait_until


def test_request_id_is_taken_when_sane_and_made_otherwise():
    assert request_id_for("req-123.abc") == "req-123.abc"
    for bad in (None, "", "x" * 129, "two words", "line\nbreak", "é"):
        made = request_id_for(bad)
        assert made != bad and len(made) == 32


def test_redact_masks_every_kind_of_secret():
    key = "dbk_AbCdEfGhIjKl_" + "s" * 43
    text = redact(
        f"key {key} header Bearer abc.def token=xyz /portal/open/T0k3n?x=1 whsec_QUJD password=hunter2"
    )
    assert "s" * 43 not in text and "dbk_AbCdEfGhIjKl_[redacted]" in text
    for secret in ("abc.def", "xyz", "T0k3n", "QUJD", "hunter2"):
        assert secret not in text


@pytest.mark.django_db
def test_the_response_carries_the_request_id(client):
    response = client.get("/health/live", HTTP_X_REQUEST_ID="trace-7")
    assert response["X-Request-ID"] == "trace-7"
    made = client.get("/health/live", HTTP_X_REQUEST_ID="not valid!")["X-Request-ID"]
    assert made != "not valid!" and len(made) == 32
    assert client.get("/health/live")["X-Request-ID"] != made


def _test_database_url() -> str:
    from django.conf import settings

    db = settings.DATABASES["default"]
    host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{host}/{db['NAME']}"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_json_logs_of_api_requests_hold_no_secret(tmp_path):
    business, _ = business_get_or_create(name="Logs")
    _, key = api_key_create(business=business, name="logs")
    bogus = "dbk_ZZZZZZZZZZZZ_S3cr3tBogusKeyThatMustNeverBeLogged"
    malformed = "NotEvenAKey-butStillSecret-987"
    env = {
        **os.environ,
        "DATABASE_URL": _test_database_url(),
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "DEBUG",
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
        "1",
    ]
    server = Process("gunicorn", argv, env, tmp_path)
    base = f"http://127.0.0.1:{port}"
    try:
        server.wait_for("Booting worker")
        wait_until(lambda: _answers(f"{base}/health/live"), 30, what="gunicorn")
        with httpx.Client(base_url=base, timeout=30) as http:
            good = {"Authorization": f"Bearer {key}"}
            created = http.post("/api/customers", json={"email": "a@example.com", "name": "A"}, headers=good)
            assert created.status_code == 200
            customer_id = created.json()["customer_id"]
            ledger = f"/api/customers/{customer_id}/wallets/ledger-entries"
            body = {"amount": 5, "currency": "USD", "entry_type": "credit"}
            written = http.post(ledger, json=body, headers={**good, "X-Request-ID": "ledger-write-1"})
            assert written.status_code == 200 and written.headers["X-Request-ID"] == "ledger-write-1"
            assert http.get("/api/customers", headers={"Authorization": f"Bearer {bogus}"}).status_code == 401
            assert (
                http.get("/api/customers", headers={"Authorization": f"Bearer {malformed}"}).status_code
                == 401
            )
            assert http.get("/api/customers", headers={"Authorization": malformed}).status_code == 401
            assert http.get(f"/api/customers?api_key={key}").status_code == 401
        from customers.models import Customer

        _, url = portal_link_create(customer=Customer.objects.get(id=customer_id), base_url=base)
        token = url.rsplit("/", 1)[1]
        assert httpx.get(url, follow_redirects=False).status_code < 500  # the link's path holds its token
    finally:
        server.stop()
    log = server.log()
    secret = key.split("_", 2)[2]
    for needle in (secret, "S3cr3tBogusKeyThatMustNeverBeLogged", "butStillSecret-987", token):
        assert needle not in log
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert lines, log[-2000:]
    ours = [line for line in lines if line.get("request_id") == "ledger-write-1"]
    assert any(line["logger"] == "dodo_billing.access" and line["status"] == 200 for line in ours), ours
    unauthorized = [
        line for line in lines if line.get("status_code") == 401 and line["logger"] == "django.request"
    ]
    assert len(unauthorized) == 4 and all(line["request_id"] for line in unauthorized)


@pytest.fixture
def json_logs(monkeypatch):
    """Processes started after this (the Celery worker) log JSON lines."""
    monkeypatch.setenv("LOG_FORMAT", "json")


@pytest.mark.postgres
def test_a_task_enqueued_by_a_request_logs_the_request_id(
    json_logs, celery_workers, api, customer, business, settings
):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True  # the receiver listens on 127.0.0.1
    receiver = Receiver()
    try:
        webhook_endpoint_create(business=business, url=receiver.url)
        worker = celery_workers()
        body = {"amount": 7, "currency": "USD", "entry_type": "credit"}
        response = post_json(
            api, f"/api/customers/{customer.id}/wallets/ledger-entries", body, HTTP_X_REQUEST_ID="trace-me-42"
        )
        assert response.status_code == 200
        receiver.wait_for(1, timeout=30)
        worker.wait_for("Webhook delivery", timeout=30)
    finally:
        receiver.close()
    lines = [json.loads(line) for line in worker.log().splitlines() if line.startswith("{")]
    delivered = [line for line in lines if line["message"].startswith("Webhook delivery")]
    assert delivered and all(line["request_id"] == "trace-me-42" for line in delivered), delivered


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False
