"""Reads of wallets and ledger entries, and the reconciliation check of the ledger invariants."""

import logging
from dataclasses import dataclass

from django.db.models import Count, F, Q, Sum, Value, Window
from django.db.models.functions import Coalesce, Lag

from dodo_billing.filtersets import apply_filters
from dodo_billing.money import convert_total
from dodo_billing.selectors import exchange_rates_usd
from wallets.filtersets import LedgerEntryFilterSet
from wallets.models import LedgerEntry, Wallet
from wallets.services import supported_currencies

logger = logging.getLogger(__name__)


def wallet_list(*, customer) -> list[Wallet]:
    """The customer's wallets, in the order of settings.WALLET_CURRENCIES, then others by code."""
    order = {currency: index for index, currency in enumerate(supported_currencies())}
    wallets = list(Wallet.objects.filter(customer=customer))
    return sorted(wallets, key=lambda wallet: (order.get(wallet.currency, len(order)), wallet.currency))


def wallets_total_usd(*, wallets) -> int:
    """Sum of the wallets' balances in US cents, at the operators' exchange rates.

    A currency without a rate cannot be converted: it is left out of the total and logged (the
    system check dodo_billing.W001 warns about it at start-up).
    """
    balances = [(wallet.balance, wallet.currency) for wallet in wallets if wallet.balance]
    if not balances:
        return 0
    rates = exchange_rates_usd()
    missing = {currency for _, currency in balances if currency != "USD" and currency not in rates}
    if missing:
        logger.warning("No exchange rate for %s: left out of total_balance_usd", ", ".join(sorted(missing)))
        balances = [(amount, currency) for amount, currency in balances if currency not in missing]
    return convert_total(balances, to_currency="USD", rates=rates)


def ledger_entry_list(*, customer, filters=None):
    """The customer's entries, newest first, narrowed by LedgerEntryFilterSet parameters."""
    queryset = LedgerEntry.objects.filter(customer=customer).order_by("-created_at", "-seq", "-id")
    return apply_filters(LedgerEntryFilterSet, filters or {}, queryset)


@dataclass(frozen=True)
class ReconcileProblem:
    customer_id: str
    currency: str
    problem: str

    def __str__(self):
        return f"{self.customer_id} {self.currency}: {self.problem}"


def wallet_reconcile(*, business=None, customer_ids=None) -> tuple[int, int, list[ReconcileProblem]]:
    """Check invariants 1 and 2 for every wallet (or those of a business / some customers).

    Returns (wallets checked, entries checked, problems). Two set-based queries, no per-row loop
    in Python: one sums every wallet's entries, one compares each entry with the one before it.
    """
    wallets = Wallet.objects.all()
    entries = LedgerEntry.objects.all()
    if business is not None:
        wallets = wallets.filter(customer__business=business)
        entries = entries.filter(business=business)
    if customer_ids:
        wallets = wallets.filter(customer_id__in=customer_ids)
        entries = entries.filter(customer_id__in=customer_ids)

    problems: list[ReconcileProblem] = []
    totals = wallets.annotate(
        credits=Coalesce(Sum("entries__amount", filter=Q(entries__is_credit=True)), Value(0)),
        debits=Coalesce(Sum("entries__amount", filter=Q(entries__is_credit=False)), Value(0)),
        entries_counted=Count("entries"),
    ).values_list("customer_id", "currency", "balance", "entry_count", "credits", "debits", "entries_counted")
    wallet_count = 0
    entry_count = 0
    for customer_id, currency, balance, stored_count, credits, debits, counted in totals.iterator():
        wallet_count += 1
        entry_count += counted
        if balance < 0:
            problems.append(ReconcileProblem(customer_id, currency, f"negative balance {balance}"))
        if balance != credits - debits:
            problems.append(
                ReconcileProblem(
                    customer_id,
                    currency,
                    f"balance {balance} != credits {credits} - debits {debits} = {credits - debits}",
                )
            )
        if stored_count != counted:
            problems.append(
                ReconcileProblem(customer_id, currency, f"entry_count {stored_count} but {counted} entries")
            )

    chained = entries.annotate(
        prev_after=Window(Lag("after_balance"), partition_by=[F("wallet_id")], order_by=F("seq").asc()),
        prev_seq=Window(Lag("seq"), partition_by=[F("wallet_id")], order_by=F("seq").asc()),
    )
    broken = chained.filter(
        Q(prev_seq__isnull=True) & (~Q(seq=1) | ~Q(before_balance=0))
        | Q(prev_seq__isnull=False) & (~Q(seq=F("prev_seq") + 1) | ~Q(before_balance=F("prev_after")))
        | Q(is_credit=True) & ~Q(after_balance=F("before_balance") + F("amount"))
        | Q(is_credit=False) & ~Q(after_balance=F("before_balance") - F("amount"))
    ).values_list(
        "customer_id", "currency", "id", "seq", "prev_seq", "prev_after", "before_balance", "after_balance"
    )
    for customer_id, currency, entry_id, seq, prev_seq, prev_after, before, after in broken.iterator():
        previous = (
            "no previous entry" if prev_seq is None else f"previous seq {prev_seq} ended at {prev_after}"
        )
        problems.append(
            ReconcileProblem(
                customer_id,
                currency,
                f"ledger chain broken at entry {entry_id} (seq {seq}: {before} -> {after}; {previous})",
            )
        )
    return wallet_count, entry_count, problems


def wallet_balances_by_currency(*, business) -> list[dict]:
    """Outstanding wallet balances of the business per currency: total and wallets holding funds."""
    return list(
        Wallet.objects.filter(customer__business=business)
        .values("currency")
        .annotate(total=Sum("balance"), funded=Count("id", filter=Q(balance__gt=0)))
        .order_by("currency")
    )


def ledger_entry_recent(*, business, limit: int = 10):
    return (
        LedgerEntry.objects.filter(business=business)
        .select_related("customer")
        .order_by("-created_at")[:limit]
    )
