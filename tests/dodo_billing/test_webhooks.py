"""Webhooks outbox and delivery: emit, delivery to a real local HTTP receiver, signatures the official
SDK verifies, retries and backoff, idempotent tasks, the sweeper, wallet events, admin, a real worker.

``Receiver`` is a threading HTTP server on 127.0.0.1 that records every request it gets; nothing
in these tests mocks the database, the broker or HTTP. Tests that run tasks inline set Celery's
``task_always_eager`` (the ``eager`` fixture), so nested ``apply_async`` calls run in-process.
"""

import base64
import json
import socket
import threading
import time
import typing
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.admin.utils import quote
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone
from standardwebhooks import Webhook, WebhookVerificationError

from dodo_billing.celery import app
from dodo_billing.errors import InvalidRequestBody
from dodo_billing.models import (
    WEBHOOK_EVENT_TYPES,
    WebhookDelivery,
    WebhookDeliveryAttempt,
    WebhookEndpoint,
    WebhookEvent,
)
from dodo_billing.webhooks import delivery as delivery_module
from dodo_billing.webhooks.delivery import (
    Deferred,
    retry_delay,
    webhook_deliveries_due,
    webhook_delivery_claim,
)
from dodo_billing.webhooks.endpoints import (
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_update,
)
from dodo_billing.webhooks.outbox import webhook_event_emit
from dodo_billing.webhooks.tasks import deliver_webhook, sweep_webhook_deliveries
from tests.stack import Receiver
from wallets.models import Wallet
from wallets.services import wallet_credit, wallet_debit, wallet_set_low_balance_threshold


@pytest.fixture(autouse=True)
def private_targets(settings):
    """The receivers here listen on 127.0.0.1: allowed as on a self-hosted install that turns
    WEBHOOK_ALLOW_PRIVATE_TARGETS on (tests/dodo_billing/test_webhook_egress.py tests it off)."""
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def make_receiver():
    servers = []

    def make(**kwargs):
        servers.append(Receiver(**kwargs))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


@pytest.fixture
def eager():
    """Run Celery tasks in-process (configuration of the real app, not a mock of it)."""
    saved = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager = app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = saved


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/nobody-listens"


def make_due(delivery_id: int) -> None:
    """Pretend the scheduled time has come (test setup: moves the clock of one row)."""
    WebhookDelivery.objects.filter(pk=delivery_id).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )


def emit_committed(business, event_type="payment.succeeded", data=None) -> WebhookEvent | None:
    """Emit in a transaction whose on-commit callbacks never run here (a plain django_db test)."""
    before = set(WebhookEvent.objects.values_list("id", flat=True))
    with transaction.atomic():
        webhook_event_emit(business=business, event_type=event_type, data=data or {"payload_type": "Payment"})
    return WebhookEvent.objects.exclude(id__in=before).first()


def verify(request, secret):
    return Webhook(secret).verify(request["body"], request["headers"])


# --- Event types and emit ----------------------------------------------------------------------


def test_known_event_types_are_the_sdks_payment_refund_subscription_types_plus_wallet_events():
    from dodopayments.types.webhook_event_type import WebhookEventType

    sdk = [
        t
        for t in typing.get_args(WebhookEventType)
        if t.split(".")[0] in {"payment", "refund", "subscription"}
    ]
    assert len(sdk) == 18
    assert list(WEBHOOK_EVENT_TYPES) == [*sdk, "wallet.balance_low", "wallet.ledger_entry.created"]


@pytest.mark.django_db
def test_emit_without_a_wanting_endpoint_costs_one_query_and_writes_nothing(
    business, other_business, django_assert_num_queries
):
    webhook_endpoint_create(business=business, url="https://example.com/off", disabled=True)
    webhook_endpoint_create(
        business=business, url="https://example.com/refunds", filter_types=["refund.failed"]
    )
    deleted = webhook_endpoint_create(business=business, url="https://example.com/deleted")
    webhook_endpoint_delete(endpoint=deleted)
    webhook_endpoint_create(business=other_business, url="https://example.com/other")
    calls = []

    with transaction.atomic(), django_assert_num_queries(1):
        webhook_event_emit(
            business=business, event_type="payment.succeeded", data=lambda: calls.append(1) or {}
        )
    assert calls == []  # the lazy data was never built
    assert WebhookEvent.objects.count() == 0 and WebhookDelivery.objects.count() == 0


@pytest.mark.django_db
def test_emit_writes_one_event_and_a_delivery_per_matching_endpoint(business, other_business):
    every = webhook_endpoint_create(business=business, url="https://example.com/all")
    payments = webhook_endpoint_create(
        business=business, url="https://example.com/pay", filter_types=["payment.succeeded", "payment.failed"]
    )
    webhook_endpoint_create(
        business=business, url="https://example.com/refunds", filter_types=["refund.failed"]
    )
    webhook_endpoint_create(business=business, url="https://example.com/off", disabled=True)
    webhook_endpoint_create(business=other_business, url="https://example.com/other")
    data = {"payload_type": "Payment", "payment_id": "pay_1", "total_amount": 1200, "note": "naïve \x00"}

    with transaction.atomic():
        webhook_event_emit(business=business.pk, event_type="payment.succeeded", data=data)

    event = WebhookEvent.objects.get()
    assert event.id.startswith("evt_") and event.business_id == business.pk
    envelope = json.loads(event.payload)
    assert set(envelope) == {"business_id", "type", "timestamp", "data"}
    assert envelope["business_id"] == business.pk and envelope["type"] == "payment.succeeded"
    assert envelope["data"] == data
    stamp = datetime.fromisoformat(envelope["timestamp"].replace("Z", "+00:00"))
    assert abs(stamp - timezone.now()) < timedelta(seconds=5)
    deliveries = WebhookDelivery.objects.filter(event=event)
    assert {d.endpoint_id for d in deliveries} == {every.id, payments.id}
    assert {d.status for d in deliveries} == {"pending"} and {d.attempts for d in deliveries} == {0}


@pytest.mark.django_db
def test_emit_rejects_an_unknown_event_type(business):
    webhook_endpoint_create(business=business, url="https://example.com/all")
    for event_type in ("payment.refunded", "dispute.opened", "webhook.test", ""):
        with pytest.raises(ValueError, match="Unknown webhook event type"):
            webhook_event_emit(business=business, event_type=event_type, data={})
    assert WebhookEvent.objects.count() == 0


@pytest.mark.django_db
def test_a_rolled_back_transaction_records_and_enqueues_nothing(business, django_capture_on_commit_callbacks):
    webhook_endpoint_create(business=business, url="https://example.com/all")
    with (
        django_capture_on_commit_callbacks() as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        webhook_event_emit(business=business, event_type="refund.succeeded", data={"payload_type": "Refund"})
        assert WebhookDelivery.objects.count() == 1
        raise RuntimeError("the change failed")
    assert callbacks == []
    assert WebhookEvent.objects.count() == 0 and WebhookDelivery.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_the_delivery_is_sent_after_commit_and_not_before(business, receiver, eager):
    endpoint = webhook_endpoint_create(business=business, url=receiver.url, headers={"X-Merchant": "acme"})
    with transaction.atomic():
        webhook_event_emit(
            business=business, event_type="subscription.active", data={"payload_type": "Subscription"}
        )
        time.sleep(0.3)
        assert receiver.requests == []  # nothing leaves before the transaction commits
    (request,) = receiver.wait_for(1)
    delivery = WebhookDelivery.objects.get()
    assert delivery.endpoint_id == endpoint.id
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("succeeded", 1, 200)
    assert delivery.next_attempt_at is None and delivery.last_response_body == "answer 200"
    (attempt,) = WebhookDeliveryAttempt.objects.filter(delivery=delivery)
    assert (attempt.number, attempt.status_code, attempt.succeeded) == (1, 200, True)
    assert attempt.finished_at is not None and attempt.duration_ms is not None and attempt.error == ""
    assert json.loads(request["body"])["type"] == "subscription.active"


# --- Signed delivery ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_delivery_headers_and_a_signature_that_the_official_sdk_verifies(business, receiver, eager):
    from dodopayments import DodoPayments

    endpoint = webhook_endpoint_create(
        business=business, url=receiver.url, headers={"X-Merchant": "acme", "Authorization": "Bearer t0k"}
    )
    event = emit_committed(business, "payment.succeeded", {"payload_type": "Payment", "payment_id": "pay_1"})
    delivery = WebhookDelivery.objects.get(event=event)
    assert deliver_webhook(delivery.pk) == "succeeded"

    (request,) = receiver.requests
    headers = request["headers"]
    assert request["path"] == "/hooks"
    assert request["body"] == event.payload
    assert headers["content-type"] == "application/json"
    assert headers["x-merchant"] == "acme" and headers["authorization"] == "Bearer t0k"
    assert headers["webhook-id"] == event.id
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 10
    assert headers["webhook-signature"].startswith("v1,")

    client = DodoPayments(bearer_token="unused", base_url="http://127.0.0.1:9/api")
    unwrapped = client.webhooks.unwrap(request["body"], headers=headers, key=endpoint.secret)
    assert unwrapped.type == "payment.succeeded" and unwrapped.business_id == business.pk
    assert unwrapped.data.payment_id == "pay_1"
    assert verify(request, endpoint.secret)["data"]["payment_id"] == "pay_1"

    tampered = request["body"].replace("pay_1", "pay_2")
    with pytest.raises(WebhookVerificationError):
        client.webhooks.unwrap(tampered, headers=headers, key=endpoint.secret)
    other_secret = webhook_endpoint_create(business=business, url="https://example.com/x").secret
    with pytest.raises(WebhookVerificationError):
        client.webhooks.unwrap(request["body"], headers=headers, key=other_secret)
    with pytest.raises(WebhookVerificationError):
        client.webhooks.unwrap(
            request["body"], headers={**headers, "webhook-id": "evt_other"}, key=endpoint.secret
        )


def test_the_signing_secret_is_in_standard_webhooks_format():
    from dodo_billing.models import new_webhook_secret

    secrets_ = {new_webhook_secret() for _ in range(50)}
    assert len(secrets_) == 50
    for secret in secrets_:
        assert secret.startswith("whsec_")
        assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 24


# --- Retries, backoff, failure ----------------------------------------------------------------


def test_the_backoff_schedule_starts_at_6_seconds_and_is_capped_at_6_hours():
    delays = [retry_delay(n).total_seconds() for n in range(1, 11)]
    assert delays == [6, 18, 54, 162, 486, 1458, 4374, 13122, 21600, 21600]


@pytest.mark.django_db
def test_non_2xx_answers_are_retried_with_backoff_then_the_delivery_fails(business, make_receiver, eager):
    receiver = make_receiver(statuses=[500] * 5 + [404, 302, 503, 410, 400, 500, 200])
    endpoint = webhook_endpoint_create(business=business, url=receiver.url)
    delivery = WebhookDelivery.objects.get(event=emit_committed(business))

    for attempt in range(1, 12):
        if attempt > 1:
            make_due(delivery.pk)
        before = timezone.now()
        status = deliver_webhook(delivery.pk)
        delivery.refresh_from_db()
        assert delivery.attempts == attempt and len(receiver.requests) == attempt
        if attempt <= 10:
            assert status == "pending" and delivery.status == "pending"
            expected = retry_delay(attempt)
            assert before + expected <= delivery.next_attempt_at <= timezone.now() + expected
        else:
            assert status == "failed" and delivery.status == "failed" and delivery.next_attempt_at is None
    assert delivery.last_status_code == 500 and delivery.last_error == "The endpoint answered HTTP 500."
    assert delivery.last_response_body == "answer 500"
    log = list(WebhookDeliveryAttempt.objects.filter(delivery=delivery).order_by("number"))
    assert [a.number for a in log] == list(range(1, 12))
    assert [a.status_code for a in log] == [500] * 5 + [404, 302, 503, 410, 400, 500]
    assert not any(a.succeeded for a in log) and all(a.endpoint_id == endpoint.id for a in log)
    # The same event id on every try, so a receiver can de-duplicate.
    assert {r["headers"]["webhook-id"] for r in receiver.requests} == {delivery.event_id}

    make_due(delivery.pk)
    assert deliver_webhook(delivery.pk) == "skipped"  # failed is final for the automatic schedule
    assert len(receiver.requests) == 11


@pytest.mark.django_db
def test_a_retry_that_succeeds_completes_the_delivery_with_a_fresh_valid_signature(
    business, make_receiver, eager
):
    receiver = make_receiver(statuses=[502, 200])
    endpoint = webhook_endpoint_create(business=business, url=receiver.url)
    delivery = WebhookDelivery.objects.get(event=emit_committed(business))
    assert deliver_webhook(delivery.pk) == "pending"
    assert deliver_webhook(delivery.pk) == "skipped"  # not due yet: nothing sent
    make_due(delivery.pk)
    assert deliver_webhook(delivery.pk) == "succeeded"
    first, second = receiver.requests
    assert first["headers"]["webhook-id"] == second["headers"]["webhook-id"]
    assert verify(first, endpoint.secret) == verify(second, endpoint.secret)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code, delivery.last_error) == (
        "succeeded",
        2,
        200,
        "",
    )


@pytest.mark.django_db
def test_a_connection_error_is_logged_and_retried(business, eager):
    webhook_endpoint_create(business=business, url=closed_port_url())
    delivery = WebhookDelivery.objects.get(event=emit_committed(business))
    before = timezone.now()
    assert deliver_webhook(delivery.pk) == "pending"
    delivery.refresh_from_db()
    assert delivery.last_status_code is None and "ConnectError" in delivery.last_error
    assert before + timedelta(seconds=6) <= delivery.next_attempt_at <= timezone.now() + timedelta(seconds=6)
    (attempt,) = WebhookDeliveryAttempt.objects.filter(delivery=delivery)
    assert attempt.status_code is None and "ConnectError" in attempt.error and attempt.finished_at


@pytest.mark.django_db
def test_a_slow_endpoint_times_out(business, make_receiver, eager, monkeypatch):
    monkeypatch.setattr(delivery_module, "DELIVERY_TIMEOUT_SECONDS", 0.3)  # the real limit is 10 s
    receiver = make_receiver(delay=2)
    webhook_endpoint_create(business=business, url=receiver.url)
    delivery = WebhookDelivery.objects.get(event=emit_committed(business))
    started = time.monotonic()
    assert deliver_webhook(delivery.pk) == "pending"
    assert time.monotonic() - started < 1.5
    delivery.refresh_from_db()
    assert delivery.last_error.startswith("Timed out") and delivery.last_status_code is None


# --- At most once per success, and nothing lost ------------------------------------------------


@pytest.mark.django_db
def test_running_the_task_twice_sends_once(business, receiver, eager):
    webhook_endpoint_create(business=business, url=receiver.url)
    delivery = WebhookDelivery.objects.get(event=emit_committed(business))
    assert deliver_webhook(delivery.pk) == "succeeded"
    assert deliver_webhook(delivery.pk) == "skipped"
    make_due(delivery.pk)  # even when a stale schedule says it is due
    assert deliver_webhook(delivery.pk) == "skipped"
    assert len(receiver.requests) == 1
    assert WebhookDelivery.objects.get(pk=delivery.pk).attempts == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_tasks_for_one_delivery_send_it_once(business, make_receiver, eager):
    receiver = make_receiver(statuses=[500, 200], delay=0.5)
    webhook_endpoint_create(business=business, url=receiver.url)
    delivery = WebhookDelivery.objects.get(event=emit_committed(business))  # commits: attempt 1 → 500
    assert WebhookDelivery.objects.get(pk=delivery.pk).attempts == 1 and len(receiver.requests) == 1
    make_due(delivery.pk)
    results, barrier = [], threading.Barrier(4)

    def run():
        barrier.wait()
        try:
            results.append(deliver_webhook(delivery.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results) == ["skipped", "skipped", "skipped", "succeeded"]
    assert len(receiver.requests) == 2
    assert WebhookDeliveryAttempt.objects.filter(delivery=delivery).count() == 2


@pytest.mark.django_db
def test_an_attempt_whose_worker_died_is_retried_after_its_lease(business, receiver, eager):
    webhook_endpoint_create(business=business, url=receiver.url)
    delivery = WebhookDelivery.objects.get(event=emit_committed(business))
    claim = webhook_delivery_claim(delivery_id=delivery.pk)  # a worker claims it, then is killed
    assert claim.number == 1
    assert deliver_webhook(delivery.pk) == "skipped"  # the lease keeps duplicates away
    assert webhook_deliveries_due() == []
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )
    assert webhook_deliveries_due() == [delivery.pk]
    assert sweep_webhook_deliveries() == 1
    assert len(receiver.requests) == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("succeeded", 2)
    first, second = WebhookDeliveryAttempt.objects.filter(delivery=delivery).order_by("number")
    assert first.finished_at is None and first.status_code is None  # the log shows the lost try
    assert second.status_code == 200


@pytest.mark.django_db
def test_the_sweeper_sends_a_delivery_whose_task_never_ran_after_a_minute(business, receiver, eager):
    webhook_endpoint_create(business=business, url=receiver.url)
    delivery = WebhookDelivery.objects.get(event=emit_committed(business))  # its task was lost
    assert webhook_deliveries_due() == []  # a fresh one: its own task is presumably queued
    assert sweep_webhook_deliveries() == 0
    WebhookDelivery.objects.filter(pk=delivery.pk).update(created_at=timezone.now() - timedelta(seconds=61))
    assert sweep_webhook_deliveries() == 1
    assert len(receiver.requests) == 1 and WebhookDelivery.objects.get(pk=delivery.pk).status == "succeeded"
    assert sweep_webhook_deliveries() == 0


def test_the_sweeper_runs_every_30_seconds_on_beat():
    from django.conf import settings

    entry = settings.CELERY_BEAT_SCHEDULE["sweep-webhook-deliveries"]
    assert entry == {"task": "dodo_billing.tasks.sweep_webhook_deliveries", "schedule": 30}
    assert entry["task"] in app.tasks and "dodo_billing.tasks.deliver_webhook" in app.tasks


@pytest.mark.django_db
def test_disabling_or_deleting_an_endpoint_fails_its_pending_deliveries(business, receiver, eager):
    first = webhook_endpoint_create(business=business, url=receiver.url)
    second = webhook_endpoint_create(business=business, url=receiver.url)
    event = emit_committed(business)
    webhook_endpoint_update(endpoint=first, disabled=True)
    webhook_endpoint_delete(endpoint=second)
    for delivery in WebhookDelivery.objects.filter(event=event):
        assert delivery.status == "failed" and delivery.next_attempt_at is None
        assert deliver_webhook(delivery.pk) == "skipped"
    assert {d.last_error for d in WebhookDelivery.objects.all()} == {
        "The endpoint was disabled.",
        "The endpoint was deleted.",
    }
    assert receiver.requests == []


@pytest.mark.django_db
def test_the_rate_limit_defers_attempts_beyond_it(business, receiver, eager):
    webhook_endpoint_create(business=business, url=receiver.url, rate_limit=1)
    one = WebhookDelivery.objects.get(event=emit_committed(business))
    two = WebhookDelivery.objects.get(event=emit_committed(business))
    assert deliver_webhook(one.pk) == "succeeded"
    assert isinstance(webhook_delivery_claim(delivery_id=two.pk), Deferred)
    two.refresh_from_db()
    assert two.attempts == 0 and two.next_attempt_at > timezone.now()
    assert len(receiver.requests) == 1
    time.sleep(1.1)
    make_due(two.pk)
    assert deliver_webhook(two.pk) == "succeeded" and len(receiver.requests) == 2


# --- Wallet events -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_every_ledger_entry_emits_its_api_representation(business, customer, api):
    endpoint = webhook_endpoint_create(business=business, url="https://example.com/all")
    entry = wallet_credit(customer=customer, currency="USD", amount=1234, reason="top-up").entry
    event = WebhookEvent.objects.get(type="wallet.ledger_entry.created")
    assert WebhookDelivery.objects.get(event=event).endpoint_id == endpoint.id
    data = json.loads(event.payload)["data"]
    listed = api.get(f"/api/customers/{customer.id}/wallets/ledger-entries").json()["items"][0]
    assert data == {**listed, "payload_type": "CustomerWalletTransaction"}
    assert data["id"] == entry.id and data["amount"] == 1234 and data["is_credit"] is True


@pytest.mark.django_db
def test_balance_low_fires_once_when_the_balance_crosses_the_threshold(business, customer):
    webhook_endpoint_create(
        business=business, url="https://example.com/low", filter_types=["wallet.balance_low"]
    )
    wallet = Wallet.objects.get(customer=customer, currency="USD")
    wallet_set_low_balance_threshold(wallet=wallet, threshold=500)

    def lows():
        return [json.loads(e.payload)["data"] for e in WebhookEvent.objects.order_by("created_at")]

    wallet_credit(customer=customer, currency="USD", amount=1000)  # 0 → 1000: rising, no alert
    wallet_debit(customer=customer, currency="USD", amount=400)  # 1000 → 600
    wallet_debit(customer=customer, currency="USD", amount=100)  # 600 → 500: at the threshold, not below
    assert lows() == []
    crossing = wallet_debit(customer=customer, currency="USD", amount=1).entry  # 500 → 499: fires
    wallet_debit(customer=customer, currency="USD", amount=99)  # 499 → 400: already below
    assert lows() == [
        {
            "payload_type": "WalletBalanceLow",
            "customer_id": customer.id,
            "currency": "USD",
            "balance": 499,
            "threshold": 500,
            "ledger_entry_id": crossing.id,
        }
    ]
    wallet_credit(customer=customer, currency="USD", amount=1000)  # 400 → 1400
    again = wallet_debit(customer=customer, currency="USD", amount=1300).entry  # 1400 → 100: fires again
    assert [(low["balance"], low["ledger_entry_id"]) for low in lows()] == [
        (499, crossing.id),
        (100, again.id),
    ]
    # Only ledger-entry events were filtered out: none of the 8 entries was sent to this endpoint.
    assert WebhookEvent.objects.filter(type="wallet.ledger_entry.created").count() == 0


@pytest.mark.django_db
def test_no_alert_without_a_threshold_or_on_a_rejected_debit(business, customer):
    webhook_endpoint_create(business=business, url="https://example.com/all")
    wallet_credit(customer=customer, currency="USD", amount=100)
    wallet_debit(customer=customer, currency="USD", amount=100)  # no threshold set: no alert
    wallet = Wallet.objects.get(customer=customer, currency="USD")
    wallet_set_low_balance_threshold(wallet=wallet, threshold=50)
    events = WebhookEvent.objects.count()
    with pytest.raises(Exception, match="Insufficient balance"):
        wallet_debit(customer=customer, currency="USD", amount=1)
    assert WebhookEvent.objects.count() == events == 2
    assert not WebhookEvent.objects.filter(type="wallet.balance_low").exists()


@pytest.mark.django_db
def test_the_low_balance_threshold_accepts_0_to_2_53_minus_1_or_none(customer):
    wallet = Wallet.objects.get(customer=customer, currency="USD")
    for bad in (-1, 2**53, True, 1.5, "5"):
        with pytest.raises(InvalidRequestBody):
            wallet_set_low_balance_threshold(wallet=wallet, threshold=bad)
    assert Wallet.objects.get(pk=wallet.pk).low_balance_threshold is None
    for good in (0, 2**53 - 1, None, 700):
        wallet_set_low_balance_threshold(wallet=wallet, threshold=good)
        assert Wallet.objects.get(pk=wallet.pk).low_balance_threshold == good
    assert Wallet.objects.get(pk=wallet.pk).balance == 0


# --- Admin -------------------------------------------------------------------------------------


@pytest.fixture
def operator(client):
    user = get_user_model().objects.create_superuser(username="op", email="op@example.com", password="pw")
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_admin_endpoints_never_show_the_secret_and_can_be_added(operator, business):
    endpoint = webhook_endpoint_create(business=business, url="https://example.com/hook")
    listing = operator.get("/admin/dodo_billing/webhookendpoint/").content.decode()
    assert endpoint.id in listing and endpoint.secret not in listing
    detail_url = f"/admin/dodo_billing/webhookendpoint/{quote(endpoint.pk)}/change/"
    detail = operator.get(detail_url).content.decode()
    assert endpoint.secret not in detail and endpoint.secret[:10] in detail

    form = {
        "business": business.pk,
        "url": "https://example.com/from-admin",
        "description": "made in admin",
        "filter_types": '["payment.succeeded"]',
        "metadata": "{}",
        "headers": '{"X-Env": "prod"}',
        "rate_limit": "",
    }
    assert operator.post("/admin/dodo_billing/webhookendpoint/add/", form).status_code == 302
    made = WebhookEndpoint.objects.get(url="https://example.com/from-admin")
    assert made.filter_types == ["payment.succeeded"] and made.headers == {"X-Env": "prod"}
    assert made.secret.startswith("whsec_") and made.id.startswith("wh_")

    bad = {**form, "url": "ftp://example.com/x", "filter_types": '["nope"]'}
    page = operator.post("/admin/dodo_billing/webhookendpoint/add/", bad)
    assert page.status_code == 200 and b"Unknown event type" in page.content
    assert not WebhookEndpoint.objects.filter(url="ftp://example.com/x").exists()


@pytest.mark.django_db
def test_admin_test_event_delivery_log_and_retry_now(operator, business, make_receiver, eager):
    receiver = make_receiver(statuses=[500])
    endpoint = webhook_endpoint_create(business=business, url=receiver.url, filter_types=["refund.failed"])
    operator.post(
        "/admin/dodo_billing/webhookendpoint/",
        {"action": "send_test_event", "_selected_action": [endpoint.pk]},
    )
    event = WebhookEvent.objects.get(type="webhook.test")
    delivery = WebhookDelivery.objects.get(event=event)
    # The test's own transaction never commits, so the on-commit task does not run: deliver here.
    assert deliver_webhook(delivery.pk) == "pending"
    assert verify(receiver.requests[0], endpoint.secret)["data"]["payload_type"] == "WebhookTest"

    for url in (
        "/admin/dodo_billing/webhookevent/",
        f"/admin/dodo_billing/webhookevent/{quote(event.pk)}/change/",
        "/admin/dodo_billing/webhookdelivery/",
    ):
        assert operator.get(url).status_code == 200
    page = operator.get(f"/admin/dodo_billing/webhookdelivery/{quote(delivery.pk)}/change/").content.decode()
    assert "answer 500" in page and "The endpoint answered HTTP 500." in page
    assert operator.get("/admin/dodo_billing/webhookdeliveryattempt/").status_code == 404  # inline only

    operator.post(
        "/admin/dodo_billing/webhookdelivery/", {"action": "retry_now", "_selected_action": [delivery.pk]}
    )
    delivery.refresh_from_db()
    assert delivery.next_attempt_at <= timezone.now()
    assert deliver_webhook(delivery.pk) == "succeeded"
    assert len(receiver.requests) == 2


@pytest.mark.django_db
def test_wallet_admin_edits_only_the_threshold(operator, customer):
    wallet_credit(customer=customer, currency="USD", amount=10)
    wallet = Wallet.objects.get(customer=customer, currency="USD")
    url = f"/admin/wallets/wallet/{quote(wallet.pk)}/change/"
    response = operator.post(url, {"low_balance_threshold": "250", "balance": 10**6, "currency": "INR"})
    assert response.status_code == 302
    wallet.refresh_from_db()
    assert (wallet.low_balance_threshold, wallet.balance, wallet.currency) == (250, 10, "USD")
    page = operator.post(url, {"low_balance_threshold": "-5"})
    assert page.status_code == 200 and Wallet.objects.get(pk=wallet.pk).low_balance_threshold == 250
    operator.post(url, {"low_balance_threshold": ""})
    assert Wallet.objects.get(pk=wallet.pk).low_balance_threshold is None


# --- A real worker -----------------------------------------------------------------------------


@pytest.mark.postgres
def test_a_real_celery_worker_delivers_a_wallet_event(celery_worker_process, business, customer, receiver):
    endpoint = webhook_endpoint_create(business=business, url=receiver.url)
    entry = wallet_credit(customer=customer, currency="USD", amount=4200).entry  # commits, enqueues
    (request,) = receiver.wait_for(1, timeout=30)
    body = verify(request, endpoint.secret)
    assert body["type"] == "wallet.ledger_entry.created" and body["data"]["id"] == entry.id
    celery_worker_process("succeeded")
    deadline = time.monotonic() + 10
    while WebhookDelivery.objects.get().status != "succeeded" and time.monotonic() < deadline:
        time.sleep(0.1)
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("succeeded", 1, 200)
    assert datetime.fromtimestamp(int(request["headers"]["webhook-timestamp"]), tz=UTC) <= timezone.now()
