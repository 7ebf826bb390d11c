"""Cycle billing with real Celery workers on the real broker and PostgreSQL, including a SIGKILL."""

import time
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Count
from django.utils import timezone

from customers.services import customer_create
from metering.ingestion import EventIn
from metering.models import GatewayCharge, Invoice, Payment, Subscription
from metering.services import events_insert, meter_create
from metering.services.billing import payment_method_create, product_create, subscription_create
from metering.tasks import bill_due_subscriptions
from wallets.models import LedgerEntry
from wallets.selectors import wallet_reconcile
from wallets.services import wallet_credit

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def due_subscriptions(business, count):
    """``count`` customers, each with wallet money, a good card, usage, and a period that ended."""
    business.payment_gateway = "sandbox"
    business.save(update_fields=["payment_gateway"])
    started = timezone.now() - timedelta(days=45)
    meter = meter_create(
        business=business,
        name="Calls",
        event_name="api",
        measurement_unit="calls",
        aggregation={"type": "count"},
    )
    product = product_create(
        business=business,
        name="Pay as you go",
        price={
            "type": "usage_based_price",
            "currency": "USD",
            "fixed_price": 300,
            "payment_frequency_count": 1,
            "payment_frequency_interval": "Month",
            "subscription_period_count": 1,
            "subscription_period_interval": "Year",
            "meters": [{"meter_id": meter.id, "price_per_unit": "25", "free_threshold": 2}],
        },
    )
    subscriptions = []
    for n in range(count):
        customer = customer_create(business=business, name=f"C{n}", email=f"c{n}@example.com")
        wallet_credit(customer=customer, currency="USD", amount=100)
        card = payment_method_create(customer=customer, card_number="4242424242424242")
        subscription = subscription_create(
            business=business,
            customer=customer,
            product=product,
            payment_method=card,
            billing={"country": "IN"},
            now=started,
        )
        events = [
            EventIn(event_id=f"{customer.id}-{i}", customer_id=customer.id, event_name="api")
            for i in range(5)
        ]
        events_insert(
            business=business,
            events=events,
            timestamps=[started + timedelta(days=1)] * 5,
            ingested_at=started,
        )
        subscriptions.append(subscription)
    return subscriptions


def wait_until(predicate, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError("timed out")


def test_a_real_worker_bills_a_due_subscription(celery_workers, business):
    [subscription] = due_subscriptions(business, 1)
    worker = celery_workers()
    bill_due_subscriptions.delay()
    worker.wait_for(f"Billed {subscription.id}")
    invoice = Invoice.objects.get(subscription=subscription)
    assert invoice.subtotal == 300 + 3 * 25
    payment = invoice.payment
    assert (payment.wallet_amount, payment.gateway_amount, payment.status) == (100, 275, "succeeded")
    subscription.refresh_from_db()
    assert subscription.period_index == 1


def test_killing_the_worker_mid_run_then_rerunning_bills_each_period_exactly_once(celery_workers, business):
    subscriptions = due_subscriptions(business, 60)
    first = celery_workers()
    bill_due_subscriptions.delay()
    first.wait_for("Billed sub_", count=10)
    first.kill()  # SIGKILL in the middle of the run: no warm shutdown, tasks cut off
    billed_before = Invoice.objects.count()
    assert 10 <= billed_before < len(subscriptions), billed_before

    second = celery_workers()
    bill_due_subscriptions.delay()  # the re-run: enqueue every period still due
    wait_until(lambda: Invoice.objects.count() == len(subscriptions))
    second.wait_for("Enqueued billing", count=1)
    time.sleep(1)  # let duplicate deliveries of already billed periods run: they must do nothing

    ids = [s.id for s in subscriptions]
    per_subscription = dict(
        Invoice.objects.filter(subscription_id__in=ids).values_list("subscription_id").annotate(n=Count("id"))
    )
    assert per_subscription == dict.fromkeys(ids, 1)
    debits = (
        LedgerEntry.objects.filter(is_credit=False, event_type="payment")
        .values_list("customer_id")
        .annotate(n=Count("id"))
    )
    assert sorted(n for _, n in debits) == [1] * len(subscriptions)
    charges = GatewayCharge.objects.values_list("payment_id").annotate(n=Count("id"))
    assert sorted(n for _, n in charges) == [1] * len(subscriptions)
    assert Payment.objects.filter(status="succeeded").count() == len(subscriptions)
    assert set(Subscription.objects.filter(id__in=ids).values_list("period_index", flat=True)) == {1}
    assert wallet_reconcile()[2] == []


def test_a_worker_keeps_its_database_connection_between_tasks(celery_workers, business):
    """One connection serves the beat task and every billing task after it (CONN_MAX_AGE applies,
    as in web requests), instead of a new PostgreSQL connection per task."""
    due_subscriptions(business, 3)
    worker = celery_workers()
    bill_due_subscriptions.delay()
    worker.wait_for("Billed sub_", count=3)
    first_billed = Invoice.objects.order_by("created_at").values_list("created_at", flat=True).first()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT backend_start FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        )
        others = [row[0] for row in cursor.fetchall()]
    assert len(others) == 1, others  # the worker's, still open after its last task
    assert others[0] < first_billed
