"""Reads of customers, always scoped to one business."""

from dataclasses import dataclass

from django.db.models import Count, IntegerField, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce

from customers.filtersets import CustomerFilterSet
from customers.models import Customer
from dodo_billing.errors import NotFound
from dodo_billing.filtersets import apply_filters

ACTIVE_SUBSCRIPTION_STATUS = "active"


def customer_get(*, business, customer_id: str) -> Customer:
    """The business's customer, or NOT_FOUND (also for another business's customer)."""
    customer = Customer.objects.filter(business=business, id=customer_id).first()
    if customer is None:
        raise NotFound("Customer not found", extra={"customer_id": customer_id})
    return customer


def customer_list(*, business, filters=None):
    """The business's customers, newest first, narrowed by CustomerFilterSet parameters."""
    queryset = Customer.objects.filter(business=business).order_by("-created_at", "-id")
    return apply_filters(CustomerFilterSet, filters or {}, queryset)


def customer_count(*, business) -> int:
    return Customer.objects.filter(business=business).count()


def balance_annotation(currency: str) -> str:
    """Name of the annotation holding a customer's wallet balance in ``currency``."""
    return f"balance_{currency.lower()}"


def _active_subscriptions_subquery():
    from metering.models import Subscription

    counted = (
        Subscription.objects.filter(customer=OuterRef("pk"), status=ACTIVE_SUBSCRIPTION_STATUS)
        .order_by()
        .values("customer")
        .annotate(count=Count("*"))
        .values("count")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def customer_table_rows(*, business, balances=(), active_subscriptions: bool = False):
    """The business's customers for the dashboard table, newest first (unfiltered: the view's
    FilterSet narrows it).

    Optional columns are computed in the same query, and only when asked for: ``balances`` (a
    currency each) adds ``balance_<currency>`` (minor units; None without a wallet) and
    ``active_subscriptions`` adds their count. Each is a correlated subquery that PostgreSQL
    evaluates for the rows of the page only, through the wallet (customer, currency) and the
    subscription customer indexes: no per-row query from Python.
    """
    from wallets.models import Wallet

    queryset = Customer.objects.filter(business=business).order_by("-created_at", "-id")
    for currency in balances:
        balance = Wallet.objects.filter(customer=OuterRef("pk"), currency=currency).values("balance")[:1]
        queryset = queryset.annotate(**{balance_annotation(currency): Subquery(balance)})
    if active_subscriptions:
        queryset = queryset.annotate(active_subscriptions=_active_subscriptions_subquery())
    return queryset


@dataclass(frozen=True)
class CustomerFigures:
    wallets: list  # the customer's wallets, settings.WALLET_CURRENCIES order first
    total_balance_usd: int  # US cents at the operators' exchange rates
    ledger_entries: int
    active_subscriptions: int


def customer_figures(*, customer) -> CustomerFigures:
    """Key figures of the customer's overview: wallets, their total in USD, how many ledger
    entries they hold (from the wallets' counters, not by counting entries) and how many
    subscriptions are active. Three queries whatever the history's size."""
    from metering.models import Subscription
    from wallets.selectors import wallet_list, wallets_total_usd

    wallets = wallet_list(customer=customer)
    return CustomerFigures(
        wallets=wallets,
        total_balance_usd=wallets_total_usd(wallets=wallets),
        ledger_entries=sum(wallet.entry_count for wallet in wallets),
        active_subscriptions=Subscription.objects.filter(
            customer=customer, status=ACTIVE_SUBSCRIPTION_STATUS
        ).count(),
    )
