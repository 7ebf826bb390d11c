"""Writes of wallets and ledger entries. Every balance change goes through ``wallet_ledger_entry_create``
(or ``wallet_debit_up_to``, billing's "spend what the wallet holds"); both append with ``_append_entry``.

One entry is one transaction: lock the wallet row (SELECT … FOR UPDATE), append the entry that
continues its ledger, move the wallet's balance to the entry's ``after_balance``, commit. Concurrent
writes to one wallet therefore serialize on its row lock; writes to different wallets never wait
for each other. Callers that touch several wallets must lock them in ``wallet_lock_order`` order.

An idempotency key is not looked up before the insert: the entry's partial UNIQUE constraint
rejects a reused key, the write's savepoint rolls back, and only then is the earlier entry read
to answer IdempotencyKeyReused. Concurrent requests with one key therefore still make one entry.

Keys live in two namespaces (docs/decisions/0007-system-ledger-keys.md): ``idempotency_key`` is the
client's (the API, the dashboard), ``system_key`` is the product's own (``top-up:<payment id>``,
``refund:<refund id>``, …), each unique per customer in its own column. No client input reaches
``system_key``, so a client cannot take a key that a payment or refund will need.
"""

import hashlib
import json
from dataclasses import dataclass
from functools import partial

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from dodo_billing.db.compiled import CompiledQuery
from dodo_billing.errors import (
    IdempotencyKeyReused,
    InsufficientWalletFunds,
    InvalidRequestBody,
    UnsupportedCurrency,
    WalletBalanceLimitExceeded,
)
from dodo_billing.money import MAX_AMOUNT, format_money
from dodo_billing.webhooks.outbox import webhook_event_emit
from wallets.models import IDEMPOTENCY_KEY_MAX_LENGTH, REASON_MAX_LENGTH, EventType, LedgerEntry, Wallet
from wallets.payloads import ledger_entry_data, wallet_balance_low_data


@dataclass(frozen=True)
class LedgerWrite:
    wallet: Wallet
    entry: LedgerEntry


def supported_currencies() -> list[str]:
    return list(settings.WALLET_CURRENCIES)


def wallet_lock_order(wallets):
    """The one order in which several wallets are locked (by primary key) to avoid deadlocks."""
    return sorted(wallets, key=lambda wallet: wallet.pk)


def wallets_create_for_customer(*, customer) -> list[Wallet]:
    """Create the customer's missing zero-balance wallets, one per supported currency."""
    existing = set(Wallet.objects.filter(customer=customer).values_list("currency", flat=True))
    now = timezone.now()
    thresholds = customer.business.low_balance_thresholds  # the business's default per currency
    missing = [
        Wallet(
            customer=customer,
            currency=currency,
            low_balance_threshold=thresholds.get(currency),
            created_at=now,
            updated_at=now,
        )
        for currency in supported_currencies()
        if currency not in existing
    ]
    return Wallet.objects.bulk_create(missing, ignore_conflicts=True)


def _request_hash(**params) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class EntryKey:
    """An entry's key and its namespace: the column ``field`` (``idempotency_key`` for a client's
    key, ``system_key`` for the product's own) holding ``value``."""

    field: str
    value: str


def _entry_key(*, idempotency_key: str | None, system_key: str | None) -> EntryKey | None:
    if idempotency_key is not None and system_key is not None:
        raise ValueError("A ledger entry has a client's idempotency_key or a system_key, not both.")
    if system_key is not None:
        return EntryKey("system_key", system_key)
    return None if idempotency_key is None else EntryKey("idempotency_key", idempotency_key)


def _raise_if_key_used(*, customer, key: EntryKey, request_hash: str) -> None:
    earlier = (
        LedgerEntry.objects.filter(customer=customer, **{key.field: key.value})
        .only("id", "request_hash")
        .first()
    )
    if earlier is None:
        return
    same = earlier.request_hash == request_hash
    name = "idempotency key" if key.field == "idempotency_key" else "system key"
    raise IdempotencyKeyReused(
        f"The {name} {key.value!r} was already used for ledger entry {earlier.id}"
        + (" with the same parameters." if same else " with different parameters."),
        extra={key.field: key.value, "ledger_entry_id": earlier.id, "same_parameters": same},
    )


def _lock_wallet(*, customer, currency: str) -> Wallet:
    try:
        return Wallet.objects.select_for_update().get(customer=customer, currency=currency)
    except Wallet.DoesNotExist:  # a currency enabled after the customer was created
        wallets_create_for_customer(customer=customer)
        return Wallet.objects.select_for_update().get(customer=customer, currency=currency)


def _wallet_for_update(shape, *, customer_id, currency):
    # No ordering: the model's default one would join the customer, and FOR UPDATE lock its row.
    return Wallet.objects.select_for_update().filter(customer_id=customer_id, currency=currency).order_by()


_WALLET_FOR_UPDATE = CompiledQuery("wallets.lock", _wallet_for_update)


def _select_wallet_for_update(*, customer_id: str, currency: str) -> Wallet | None:
    """The customer's wallet in ``currency`` with its row locked (inside the caller's transaction),
    or None. Billing runs this for every period: compiled once per connection, then a prepared
    statement (dodo_billing.db.compiled)."""
    found = _WALLET_FOR_UPDATE.run(customer_id=customer_id, currency=currency)
    return found[0] if found else None


def _check_entry(
    *, currency: str, amount: int, reason: str | None, key: EntryKey | None, event_type: str
) -> None:
    if currency not in supported_currencies():
        raise UnsupportedCurrency(
            f"Wallets hold {', '.join(supported_currencies())}; {currency} is not supported.",
            extra={"currency": currency},
        )
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= MAX_AMOUNT:
        raise InvalidRequestBody(f"amount must be a whole number from 1 to {MAX_AMOUNT}.")
    if reason is not None and len(reason) > REASON_MAX_LENGTH:
        raise InvalidRequestBody(f"reason may be at most {REASON_MAX_LENGTH} characters.")
    if key is not None and not 0 < len(key.value) <= IDEMPOTENCY_KEY_MAX_LENGTH:
        raise InvalidRequestBody(f"{key.field} must be 1 to {IDEMPOTENCY_KEY_MAX_LENGTH} characters.")
    if event_type not in EventType.values:
        raise InvalidRequestBody(f"Unknown ledger event type {event_type!r}.")


def _append_entry(
    *,
    wallet: Wallet,
    customer,
    amount: int,
    is_credit: bool,
    event_type: str,
    reason: str | None,
    key: EntryKey | None,
    request_hash: str | None,
    reference_object_id: str | None,
) -> LedgerWrite:
    """Append one entry to a wallet whose row the caller has locked (inside the caller's savepoint).

    The idempotency key is not looked up beforehand: the partial UNIQUE constraint rejects a reused
    key at the insert, and the caller answers that IntegrityError. A write that fails for another
    reason looks the key up first, so a reused key is answered whatever else is wrong."""
    currency = wallet.currency
    before = wallet.balance
    after = before + amount if is_credit else before - amount
    if after < 0:
        if key is not None:
            _raise_if_key_used(customer=customer, key=key, request_hash=request_hash)
        raise InsufficientWalletFunds(
            f"Insufficient balance for debit: the {currency} balance is "
            f"{format_money(before, currency)}, the debit is {format_money(amount, currency)}.",
            extra={"balance": before, "currency": currency},
        )
    if after > MAX_AMOUNT:
        if key is not None:
            _raise_if_key_used(customer=customer, key=key, request_hash=request_hash)
        raise WalletBalanceLimitExceeded(
            f"A {currency} wallet may hold at most {MAX_AMOUNT} minor units.",
            extra={"balance": before, "currency": currency},
        )
    now = timezone.now()
    entry = LedgerEntry(
        business_id=customer.business_id,
        customer=customer,
        wallet=wallet,
        currency=currency,
        seq=wallet.entry_count + 1,
        amount=amount,
        is_credit=is_credit,
        before_balance=before,
        after_balance=after,
        event_type=event_type,
        reason=reason,
        reference_object_id=reference_object_id,
        request_hash=request_hash,
        created_at=now,
    )
    if key is not None:
        setattr(entry, key.field, key.value)
    entry.save(force_insert=True)
    wallet.balance = after
    wallet.entry_count = entry.seq
    wallet.updated_at = now
    wallet.save(update_fields=["balance", "entry_count", "updated_at"])
    _emit_wallet_events(wallet=wallet, entry=entry)
    return LedgerWrite(wallet=wallet, entry=entry)


def _entry_request_hash(
    *, currency, amount, is_credit, event_type, reason, reference_object_id, key: EntryKey | None
) -> str | None:
    if key is None:
        return None
    return _request_hash(
        currency=currency,
        amount=amount,
        is_credit=is_credit,
        event_type=str(event_type),
        reason=reason,
        reference_object_id=reference_object_id,
    )


def wallet_ledger_entry_create(
    *,
    customer,
    currency: str,
    amount: int,
    is_credit: bool,
    event_type: str = EventType.MERCHANT_ADJUSTMENT,
    reason: str | None = None,
    idempotency_key: str | None = None,
    system_key: str | None = None,
    reference_object_id: str | None = None,
) -> LedgerWrite:
    """Append one credit or debit to the customer's wallet in ``currency``; return wallet and entry.

    Raises UnsupportedCurrency, InsufficientWalletFunds (a debit above the balance),
    WalletBalanceLimitExceeded (a credit past 2**53 - 1) or IdempotencyKeyReused; each writes nothing.
    ``idempotency_key`` is a client's key; the product's own writes pass ``system_key`` instead.
    """
    key = _entry_key(idempotency_key=idempotency_key, system_key=system_key)
    _check_entry(currency=currency, amount=amount, reason=reason, key=key, event_type=event_type)
    request_hash = _entry_request_hash(
        currency=currency,
        amount=amount,
        is_credit=is_credit,
        event_type=event_type,
        reason=reason,
        reference_object_id=reference_object_id,
        key=key,
    )
    try:
        with transaction.atomic():
            wallet = _lock_wallet(customer=customer, currency=currency)
            return _append_entry(
                wallet=wallet,
                customer=customer,
                amount=amount,
                is_credit=is_credit,
                event_type=event_type,
                reason=reason,
                key=key,
                request_hash=request_hash,
                reference_object_id=reference_object_id,
            )
    except IntegrityError:
        if key is not None:  # the key's UNIQUE constraint: answer the earlier entry
            _raise_if_key_used(customer=customer, key=key, request_hash=request_hash)
        raise


def wallet_debit_up_to(
    *,
    customer,
    currency: str,
    amount: int,
    event_type: str = EventType.MERCHANT_ADJUSTMENT,
    reason: str | None = None,
    idempotency_key: str | None = None,
    system_key: str | None = None,
    reference_object_id: str | None = None,
) -> LedgerWrite | None:
    """Debit what the wallet holds, up to ``amount``: min(balance, amount), under one lock of the
    wallet row. None (nothing written) when the customer has no wallet in ``currency`` or it is
    empty. Raises like ``wallet_ledger_entry_create`` (IdempotencyKeyReused for a used key)."""
    key = _entry_key(idempotency_key=idempotency_key, system_key=system_key)
    _check_entry(currency=currency, amount=amount, reason=reason, key=key, event_type=event_type)
    # The lock is taken in the caller's transaction (no savepoint for a customer without funds);
    # only the write has a savepoint, to answer a reused key after its insert fails.
    with transaction.atomic(savepoint=False):
        wallet = _select_wallet_for_update(customer_id=customer.pk, currency=currency)
        if wallet is None or wallet.balance == 0:
            return None
        taken = min(wallet.balance, amount)
        request_hash = _entry_request_hash(
            currency=currency,
            amount=taken,
            is_credit=False,
            event_type=event_type,
            reason=reason,
            reference_object_id=reference_object_id,
            key=key,
        )
        try:
            with transaction.atomic():
                return _append_entry(
                    wallet=wallet,
                    customer=customer,
                    amount=taken,
                    is_credit=False,
                    event_type=event_type,
                    reason=reason,
                    key=key,
                    request_hash=request_hash,
                    reference_object_id=reference_object_id,
                )
        except IntegrityError as error:
            failed = error
    # Raised outside the savepoint-less block, which would otherwise doom the caller's transaction:
    # the failed insert was rolled back to its savepoint, so the transaction stays usable.
    if key is not None:
        _raise_if_key_used(customer=customer, key=key, request_hash=request_hash)
    raise failed


def _emit_wallet_events(*, wallet: Wallet, entry: LedgerEntry) -> None:
    """Webhook events of one entry, in its transaction: the entry itself, and ``wallet.balance_low``
    when the entry takes the balance from at or above the wallet's threshold to below it."""
    webhook_event_emit(
        business=entry.business_id,
        event_type="wallet.ledger_entry.created",
        data=partial(ledger_entry_data, entry),
    )
    threshold = wallet.low_balance_threshold
    if threshold is not None and entry.before_balance >= threshold > entry.after_balance:
        webhook_event_emit(
            business=entry.business_id,
            event_type="wallet.balance_low",
            data=wallet_balance_low_data(entry=entry, threshold=threshold),
        )


def wallet_set_low_balance_threshold(*, wallet: Wallet, threshold: int | None) -> Wallet:
    """Set (minor units, 0 to 2**53 - 1) or clear (None) the balance below which
    ``wallet.balance_low`` is sent. Only this field is written: balances stay with the ledger."""
    if threshold is not None and (
        isinstance(threshold, bool) or not isinstance(threshold, int) or not 0 <= threshold <= MAX_AMOUNT
    ):
        raise InvalidRequestBody(
            f"low_balance_threshold must be a whole number from 0 to {MAX_AMOUNT}, or null."
        )
    Wallet.objects.filter(pk=wallet.pk).update(low_balance_threshold=threshold)
    wallet.low_balance_threshold = threshold
    return wallet


def wallet_credit(*, customer, currency: str, amount: int, **kwargs) -> LedgerWrite:
    return wallet_ledger_entry_create(
        customer=customer, currency=currency, amount=amount, is_credit=True, **kwargs
    )


def wallet_debit(*, customer, currency: str, amount: int, **kwargs) -> LedgerWrite:
    return wallet_ledger_entry_create(
        customer=customer, currency=currency, amount=amount, is_credit=False, **kwargs
    )
