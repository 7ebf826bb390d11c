"""Ledger invariants 1–3, 5 and 7 of DESIGN.md, checked against the database itself."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dodo_billing.errors import InsufficientWalletFunds, UnsupportedCurrency
from wallets.models import EventType, LedgerEntry, Wallet
from wallets.selectors import wallet_reconcile
from wallets.services import wallet_credit, wallet_debit, wallet_ledger_entry_create

pytestmark = pytest.mark.django_db


def reconcile():
    out, err = StringIO(), StringIO()
    try:
        call_command("reconcile_wallets", stdout=out, stderr=err)
    except CommandError as exc:
        return exc.returncode, out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


def raw_entry(customer, wallet, **fields):
    """Insert a USD credit entry directly, bypassing the service, to probe database guards."""
    values = {"seq": 1, "amount": 10, "is_credit": True, "before_balance": 0, "after_balance": 10, **fields}
    entry = LedgerEntry(
        business_id=customer.business_id,
        customer=customer,
        wallet=wallet,
        currency="USD",
        event_type=EventType.MERCHANT_ADJUSTMENT,
        **values,
    )
    with transaction.atomic():
        entry.save(force_insert=True)


def test_entries_chain_and_balance_is_their_sum(customer):
    wallet_credit(customer=customer, currency="USD", amount=1000)
    wallet_debit(customer=customer, currency="USD", amount=400)
    wallet_credit(customer=customer, currency="USD", amount=5)
    entries = list(LedgerEntry.objects.filter(customer=customer).order_by("seq"))
    assert [(e.seq, e.before_balance, e.after_balance) for e in entries] == [
        (1, 0, 1000),
        (2, 1000, 600),
        (3, 600, 605),
    ]
    wallet = Wallet.objects.get(customer=customer, currency="USD")
    assert wallet.balance == 605 == sum(e.amount if e.is_credit else -e.amount for e in entries)
    assert wallet.entry_count == 3
    assert reconcile()[0] == 0


def test_service_refuses_overdraft_and_writes_nothing(customer):
    wallet_credit(customer=customer, currency="INR", amount=10)
    with pytest.raises(InsufficientWalletFunds):
        wallet_debit(customer=customer, currency="INR", amount=11)
    assert LedgerEntry.objects.filter(customer=customer).count() == 1
    assert Wallet.objects.get(customer=customer, currency="INR").balance == 10


def test_service_refuses_unsupported_currency(customer):
    with pytest.raises(UnsupportedCurrency):
        wallet_credit(customer=customer, currency="EUR", amount=10)
    assert not LedgerEntry.objects.exists()


def test_wallet_for_a_newly_enabled_currency_is_created_on_first_use(customer, settings):
    settings.WALLET_CURRENCIES = ["USD", "INR", "EUR"]
    assert not Wallet.objects.filter(customer=customer, currency="EUR").exists()
    result = wallet_credit(customer=customer, currency="EUR", amount=99)
    assert result.wallet.currency == "EUR" and result.wallet.balance == 99


def test_system_entries_carry_event_type_and_reference(customer):
    wallet_credit(customer=customer, currency="USD", amount=100)
    result = wallet_debit(
        customer=customer,
        currency="USD",
        amount=60,
        event_type=EventType.PAYMENT,
        reference_object_id="pay_123",
    )
    assert (result.entry.event_type, result.entry.reference_object_id) == ("payment", "pay_123")


def test_database_rejects_negative_balance(customer):
    wallet = Wallet.objects.get(customer=customer, currency="USD")
    with pytest.raises(IntegrityError), transaction.atomic():
        Wallet.objects.filter(pk=wallet.pk).update(balance=-1)


def test_database_rejects_inconsistent_entry(customer):
    wallet = Wallet.objects.get(customer=customer, currency="USD")
    with pytest.raises(IntegrityError):
        raw_entry(customer, wallet, after_balance=11)  # not before + amount


def test_database_rejects_duplicate_seq(customer):
    first = wallet_credit(customer=customer, currency="USD", amount=10).entry
    with pytest.raises(IntegrityError):
        raw_entry(customer, first.wallet, seq=1)


@pytest.mark.postgres
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE wallets_ledgerentry SET amount = amount + 1 WHERE id = %s",
        "UPDATE wallets_ledgerentry SET reason = 'edited' WHERE id = %s",
        "DELETE FROM wallets_ledgerentry WHERE id = %s",
    ],
)
def test_trigger_rejects_raw_update_and_delete(customer, sql):
    entry = wallet_credit(customer=customer, currency="USD", amount=10, reason="original").entry
    with (
        pytest.raises(IntegrityError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, [entry.id])
    entry.refresh_from_db()
    assert (entry.amount, entry.reason) == (10, "original")


@pytest.mark.postgres
def test_trigger_rejects_entry_that_does_not_continue_the_chain(customer):
    first = wallet_credit(customer=customer, currency="USD", amount=10).entry
    with pytest.raises(IntegrityError, match="starts at 7"):
        raw_entry(customer, first.wallet, seq=2, amount=5, before_balance=7, after_balance=12)  # stood at 10


@pytest.mark.postgres
def test_trigger_rejects_balance_change_without_entry(customer):
    wallet = wallet_credit(customer=customer, currency="USD", amount=10).wallet
    with pytest.raises(IntegrityError, match="newest ledger entry"), transaction.atomic():
        Wallet.objects.filter(pk=wallet.pk).update(balance=1_000_000)
    assert Wallet.objects.get(pk=wallet.pk).balance == 10


def _corrupt_balance(wallet, balance):
    """Simulate corruption behind the services' back (triggers off for this one statement)."""
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("UPDATE wallets_wallet SET balance = %s WHERE id = %s", [balance, wallet.pk])


def test_reconcile_names_the_offending_wallet(customer, make_customer):
    healthy = make_customer()
    wallet_credit(customer=healthy, currency="USD", amount=50)
    wallet = wallet_credit(customer=customer, currency="USD", amount=100).wallet
    _corrupt_balance(wallet, 90)
    code, _out, err = reconcile()
    assert code == 1
    assert f"{customer.id} USD" in err and "balance 90 != credits 100" in err
    assert healthy.id not in err
    wallets, entries, problems = wallet_reconcile()
    assert (wallets, entries) == (4, 2) and len(problems) == 1


def test_reconcile_detects_a_broken_chain(customer):
    wallet = wallet_credit(customer=customer, currency="USD", amount=100).wallet
    wallet_debit(customer=customer, currency="USD", amount=30)
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("UPDATE wallets_ledgerentry SET before_balance = 90, after_balance = 60 WHERE seq = 2")
        cursor.execute("UPDATE wallets_wallet SET balance = 60 WHERE id = %s", [wallet.pk])
    code, _, err = reconcile()
    assert code == 1
    assert "ledger chain broken" in err and "seq 2" in err


def test_reconcile_clean_prints_ok(customer):
    wallet_credit(customer=customer, currency="INR", amount=100)
    code, out, _ = reconcile()
    assert code == 0 and "OK: 2 wallets and 1 ledger entries" in out


operations = st.lists(
    st.tuples(st.sampled_from(["USD", "INR"]), st.booleans(), st.integers(min_value=1, max_value=1000)),
    min_size=1,
    max_size=40,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations)
def test_random_credits_and_debits_match_a_simple_model(customer, ops):
    with transaction.atomic():
        model = {"USD": 0, "INR": 0}
        for currency, is_credit, amount in ops:
            if is_credit or model[currency] >= amount:
                wallet_ledger_entry_create(
                    customer=customer, currency=currency, amount=amount, is_credit=is_credit
                )
                model[currency] += amount if is_credit else -amount
            else:
                with pytest.raises(InsufficientWalletFunds):
                    wallet_debit(customer=customer, currency=currency, amount=amount)
        balances = dict(Wallet.objects.filter(customer=customer).values_list("currency", "balance"))
        assert balances == model
        assert wallet_reconcile(customer_ids=[customer.id])[2] == []
        transaction.set_rollback(True)
