"""The product's own ledger keys (top-up:, payment:, refund:, refund-failed:) live apart from the
client's idempotency keys: a client who sends one of them as its idempotency_key gets an ordinary
entry, and the payment or refund that needs the key later still writes its own."""

import pytest
from django.apps import apps as django_apps
from django.db import connection

from dodo_billing.errors import IdempotencyKeyReused
from metering.models import Payment
from metering.services.payments import payment_mark_paid, refund_create, refund_mark_failed
from tests.conftest import assert_error, post_json
from tests.metering.test_payments_api import body, create, one_time_product
from wallets.models import EventType, LedgerEntry, Wallet
from wallets.services import wallet_credit

pytestmark = pytest.mark.django_db


def entries_url(customer):
    return f"/api/customers/{customer.id}/wallets/ledger-entries"


def balance(customer):
    return Wallet.objects.get(customer=customer, currency="USD").balance


def test_a_client_cannot_take_a_top_ups_key(api, business, customer):
    top_up = one_time_product(business, price=700, wallet_top_up=True)
    payment_id = create(api, body(customer, top_up)).json()["payment_id"]  # manual gateway: pending
    taken = post_json(
        api,
        entries_url(customer),
        {"amount": 1, "currency": "USD", "entry_type": "credit", "idempotency_key": f"top-up:{payment_id}"},
    )
    assert taken.status_code == 200, taken.content
    response = post_json(api, f"/api/payments/{payment_id}/mark-paid", "")
    assert response.status_code == 200, response.content
    assert balance(customer) == 701
    system = LedgerEntry.objects.get(reference_object_id=payment_id)
    assert (system.system_key, system.idempotency_key, system.amount) == (f"top-up:{payment_id}", None, 700)
    client = LedgerEntry.objects.get(idempotency_key=f"top-up:{payment_id}")
    assert (client.system_key, client.amount) == (None, 1)
    # The client's key is still the client's: a repeat with other parameters is its own 409.
    error = assert_error(
        post_json(
            api,
            entries_url(customer),
            {
                "amount": 2,
                "currency": "USD",
                "entry_type": "credit",
                "idempotency_key": f"top-up:{payment_id}",
            },
        ),
        409,
        "IDEMPOTENCY_KEY_ALREADY_USED",
    )
    assert error["ledger_entry_id"] == client.id
    assert LedgerEntry.objects.count() == 2


def test_a_client_cannot_take_a_failed_refunds_key(api, business, customer):
    top_up = one_time_product(business, price=700, wallet_top_up=True)
    payment_id = create(api, body(customer, top_up)).json()["payment_id"]
    payment = payment_mark_paid(payment=Payment.objects.get(pk=payment_id))
    refund = refund_create(payment=payment, amount=300)  # manual gateway: credits taken back, refund pending
    assert balance(customer) == 400
    taken = post_json(
        api,
        entries_url(customer),
        {
            "amount": 5,
            "currency": "USD",
            "entry_type": "credit",
            "idempotency_key": f"refund-failed:{refund.id}",
        },
    )
    assert taken.status_code == 200, taken.content
    refund_mark_failed(refund=refund)  # the credits taken back are given back
    assert balance(customer) == 705
    assert LedgerEntry.objects.get(system_key=f"refund-failed:{refund.id}").amount == 300


def test_a_system_key_is_used_once(customer):
    wallet_credit(customer=customer, currency="USD", amount=100, system_key="top-up:pay_1")
    with pytest.raises(IdempotencyKeyReused, match="system key 'top-up:pay_1'") as reused:
        wallet_credit(customer=customer, currency="USD", amount=100, system_key="top-up:pay_1")
    assert reused.value.extra["same_parameters"] is True
    assert balance(customer) == 100 and LedgerEntry.objects.count() == 1


def test_an_entry_has_one_key_namespace(customer):
    with pytest.raises(ValueError, match="not both"):
        wallet_credit(customer=customer, currency="USD", amount=1, idempotency_key="a", system_key="b")
    assert not LedgerEntry.objects.exists()


def test_the_migration_moves_only_keys_the_product_wrote(customer):
    """Entries written before the system_key column held the product's keys in idempotency_key."""
    from importlib import import_module

    migration = import_module("wallets.migrations.0004_ledgerentry_system_key")

    def old_entry(key, event_type, reference):
        write = wallet_credit(
            customer=customer,
            currency="USD",
            amount=10,
            event_type=event_type,
            reference_object_id=reference,
            idempotency_key=key,
        )
        return write.entry.pk

    system = [
        old_entry("top-up:pay_a", EventType.PAYMENT, "pay_a"),
        old_entry("payment:pay_b", EventType.PAYMENT, "pay_b"),
        old_entry("refund:ref_c", EventType.REFUND, "ref_c"),
        old_entry("refund-failed:ref_d", EventType.REFUND_REVERSAL, "ref_d"),
    ]
    client = [
        old_entry("top-up:pay_x", EventType.MERCHANT_ADJUSTMENT, None),  # a client's, by its type
        old_entry("top-up:pay_y", EventType.PAYMENT, "pay_z"),  # not the entry's own reference
        old_entry("welcome-jane", EventType.MERCHANT_ADJUSTMENT, None),
    ]
    if connection.vendor == "postgresql":  # the inserts' deferred checks, before ALTER TABLE
        connection.cursor().execute("SET CONSTRAINTS ALL IMMEDIATE")
    with connection.schema_editor(atomic=False) as editor:
        migration.forward(django_apps, editor)
    rows = {entry.pk: (entry.idempotency_key, entry.system_key) for entry in LedgerEntry.objects.all()}
    assert [rows[pk] for pk in system] == [
        (None, "top-up:pay_a"),
        (None, "payment:pay_b"),
        (None, "refund:ref_c"),
        (None, "refund-failed:ref_d"),
    ]
    assert [rows[pk] for pk in client] == [
        ("top-up:pay_x", None),
        ("top-up:pay_y", None),
        ("welcome-jane", None),
    ]
    # The ledger is append-only again afterwards.
    if connection.vendor == "postgresql":
        from django.db import DatabaseError, transaction

        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            LedgerEntry.objects.filter(pk=system[0]).update(reason="changed")
