"""A transaction reads its business's webhook endpoints once, however many events it emits (billing
a period emits three), and still sends every event to exactly the endpoints that exist and are
enabled at that point of the transaction."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from dodo_billing.models import WebhookDelivery, WebhookEndpoint
from dodo_billing.webhooks.endpoints import (
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_update,
)
from wallets.services import wallet_credit


def endpoint_reads(queries) -> int:
    return sum(1 for q in queries if '"dodo_billing_webhookendpoint"' in q["sql"])


def credit(customer, amount=100):
    """One ledger entry: one ``wallet.ledger_entry.created`` event."""
    return wallet_credit(customer=customer, currency="USD", amount=amount).entry


def deliveries(endpoint) -> int:
    return WebhookDelivery.objects.filter(endpoint=endpoint).count()


@pytest.mark.django_db
def test_one_endpoint_read_for_several_events_of_one_transaction(business, customer):
    endpoint = webhook_endpoint_create(business=business, url="https://example.com/hooks")
    with transaction.atomic(), CaptureQueriesContext(connection) as captured:
        for _ in range(3):
            credit(customer)
    assert endpoint_reads(captured.captured_queries) == 1
    assert deliveries(endpoint) == 3


@pytest.mark.django_db
def test_an_endpoint_created_in_the_transaction_gets_its_later_events(business, customer):
    with transaction.atomic():
        credit(customer)  # no endpoint yet: nothing to deliver, and "none" is what the cache holds
        endpoint = webhook_endpoint_create(business=business, url="https://example.com/new")
        credit(customer)
        filtered = webhook_endpoint_create(
            business=business, url="https://example.com/filtered", filter_types=["payment.succeeded"]
        )
        credit(customer)
    assert deliveries(endpoint) == 2
    assert deliveries(filtered) == 0


@pytest.mark.django_db
def test_an_endpoint_disabled_or_deleted_in_the_transaction_gets_no_later_events(business, customer):
    disabled = webhook_endpoint_create(business=business, url="https://example.com/disabled")
    deleted = webhook_endpoint_create(business=business, url="https://example.com/deleted")
    with transaction.atomic():
        credit(customer)
        webhook_endpoint_update(endpoint=disabled, disabled=True)
        webhook_endpoint_delete(endpoint=deleted)
        credit(customer)
    assert deliveries(disabled) == 1
    assert deliveries(deleted) == 1


@pytest.mark.django_db
def test_a_rolled_back_savepoint_drops_what_it_read(business, customer):
    class Abort(Exception):
        pass

    with transaction.atomic():
        with pytest.raises(Abort), transaction.atomic():
            credit(customer)  # read (no endpoints) inside the savepoint …
            raise Abort  # … which rolls back
        # Written behind the services' back, so only the rollback can have dropped the cache.
        endpoint = WebhookEndpoint.objects.create(business=business, url="https://example.com/orm")
        credit(customer)
    assert deliveries(endpoint) == 1


@pytest.mark.django_db(transaction=True)
def test_the_next_transaction_reads_the_endpoints_again(business, customer, monkeypatch):
    enqueued = []
    monkeypatch.setattr(
        "dodo_billing.webhooks.outbox.webhook_deliveries_enqueue",
        lambda delivery_ids: enqueued.extend(delivery_ids),
    )
    with transaction.atomic():
        credit(customer)
    endpoint = WebhookEndpoint.objects.create(business=business, url="https://example.com/orm")
    with transaction.atomic():
        credit(customer)
    assert deliveries(endpoint) == 1
    # Without a caller's transaction each ledger write is a transaction of its own: each reads.
    with CaptureQueriesContext(connection) as captured:
        credit(customer)
        credit(customer)
    assert endpoint_reads(captured.captured_queries) == 2
    assert deliveries(endpoint) == 3
    assert len(enqueued) == 3
