"""``wallet_debit_up_to`` (billing spends what the wallet holds) and the ledger write's statements:
the wallet row is locked once per write, and an idempotency key is looked up only when the insert
fails on its UNIQUE constraint."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from dodo_billing.errors import IdempotencyKeyReused, InsufficientWalletFunds
from dodo_billing.money import MAX_AMOUNT
from wallets import services as wallet_services
from wallets.models import EventType, LedgerEntry, Wallet
from wallets.selectors import wallet_reconcile
from wallets.services import wallet_credit, wallet_debit, wallet_debit_up_to, wallet_ledger_entry_create

pytestmark = pytest.mark.django_db


def wallet_locks(queries) -> int:
    """Statements that lock a wallet: the locking SELECT, or EXECUTE of its prepared statement."""
    names = wallet_services._WALLET_FOR_UPDATE.statement_names()
    return sum(
        1
        for q in queries
        if (
            '"wallets_wallet"' in q["sql"] and "FOR UPDATE" in q["sql"] and not q["sql"].startswith("PREPARE")
        )
        or any(q["sql"].startswith(f"EXECUTE {name}(") for name in names)
    )


def key_lookups(queries) -> int:
    return sum(
        1
        for q in queries
        if q["sql"].lstrip().upper().startswith("SELECT")
        and '"wallets_ledgerentry"' in q["sql"]
        and "idempotency_key" in q["sql"]
    )


def test_takes_the_whole_amount_when_the_balance_covers_it(customer):
    wallet_credit(customer=customer, currency="USD", amount=1000)
    write = wallet_debit_up_to(
        customer=customer,
        currency="USD",
        amount=300,
        event_type=EventType.PAYMENT,
        reference_object_id="pay_1",
        idempotency_key="payment:pay_1",
    )
    assert (write.entry.amount, write.entry.before_balance, write.entry.after_balance) == (300, 1000, 700)
    assert write.entry.event_type == EventType.PAYMENT and write.entry.reference_object_id == "pay_1"
    assert Wallet.objects.get(customer=customer, currency="USD").balance == 700 == write.wallet.balance


def test_takes_only_what_the_wallet_holds(customer):
    wallet_credit(customer=customer, currency="USD", amount=250)
    write = wallet_debit_up_to(customer=customer, currency="USD", amount=1000)
    assert (write.entry.amount, write.entry.after_balance) == (250, 0)
    assert Wallet.objects.get(customer=customer, currency="USD").balance == 0
    assert wallet_reconcile(customer_ids=[customer.id])[2] == []


def test_an_empty_or_missing_wallet_writes_nothing(customer, make_customer):
    assert wallet_debit_up_to(customer=customer, currency="USD", amount=100) is None
    no_wallets = make_customer()
    Wallet.objects.filter(customer=no_wallets).delete()
    assert wallet_debit_up_to(customer=no_wallets, currency="USD", amount=100) is None
    assert not Wallet.objects.filter(customer=no_wallets).exists()
    assert not LedgerEntry.objects.exists()


def test_a_reused_key_is_answered_and_writes_nothing(customer):
    wallet_credit(customer=customer, currency="USD", amount=1000)
    first = wallet_debit_up_to(customer=customer, currency="USD", amount=100, idempotency_key="k")
    with pytest.raises(IdempotencyKeyReused) as reused:
        wallet_debit_up_to(customer=customer, currency="USD", amount=100, idempotency_key="k")
    assert reused.value.extra["ledger_entry_id"] == first.entry.id
    assert reused.value.extra["same_parameters"] is True
    assert Wallet.objects.get(customer=customer, currency="USD").balance == 900
    assert LedgerEntry.objects.filter(customer=customer).count() == 2


@pytest.mark.postgres  # SQLite has no row locks (no FOR UPDATE to count)
def test_the_wallet_is_locked_once_and_the_key_not_looked_up_before_the_insert(customer):
    wallet_credit(customer=customer, currency="USD", amount=1000)
    for write in (
        lambda: wallet_debit_up_to(customer=customer, currency="USD", amount=100, idempotency_key="a"),
        lambda: wallet_debit(customer=customer, currency="USD", amount=100, idempotency_key="b"),
        lambda: wallet_credit(customer=customer, currency="USD", amount=100, idempotency_key="c"),
    ):
        with CaptureQueriesContext(connection) as captured:
            write()
        assert wallet_locks(captured.captured_queries) == 1
        assert key_lookups(captured.captured_queries) == 0
        # Only the wallet row is locked: no join (and so no lock) on the customer's row.
        assert not [q for q in captured.captured_queries if '"customers_customer"' in q["sql"]]


def test_a_reused_key_is_looked_up_after_the_insert_fails_and_the_transaction_goes_on(customer):
    wallet_credit(customer=customer, currency="USD", amount=1000, idempotency_key="once")
    with transaction.atomic():
        with CaptureQueriesContext(connection) as captured, pytest.raises(IdempotencyKeyReused):
            wallet_credit(customer=customer, currency="USD", amount=1000, idempotency_key="once")
        assert key_lookups(captured.captured_queries) == 1
        # The failed insert was rolled back to its savepoint: the caller's transaction is usable.
        wallet_credit(customer=customer, currency="USD", amount=1, idempotency_key="twice")
    assert Wallet.objects.get(customer=customer, currency="USD").balance == 1001


@pytest.mark.parametrize(("is_credit", "amount"), [(False, 50), (True, MAX_AMOUNT - 5)])
def test_a_reused_key_wins_over_another_failure(customer, is_credit, amount):
    """Insufficient funds (a debit) or the balance limit (a credit) would refuse the write anyway:
    a reused key still answers 409 first, as it did when the key was looked up before the lock."""
    wallet_credit(customer=customer, currency="USD", amount=10, idempotency_key="k")
    with pytest.raises(IdempotencyKeyReused):
        wallet_ledger_entry_create(
            customer=customer, currency="USD", amount=amount, is_credit=is_credit, idempotency_key="k"
        )
    with pytest.raises(InsufficientWalletFunds):
        wallet_debit(customer=customer, currency="USD", amount=50, idempotency_key="other")
    assert LedgerEntry.objects.filter(customer=customer).count() == 1
