"""The report builder's datasets, each declared once: its model's rows of the business, its date,
its FilterSet (the one the API uses) and the columns, groupings and aggregates a definition may
choose. The builder form (``customers.forms_reports``) takes its choices from here.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from django.db.models import Case, F, Q, Sum, When

from customers.filtersets import CustomerFilterSet
from customers.models import Customer
from dodo_billing.errors import InvalidRequestParameters
from metering.filtersets import EventFilterSet, PaymentFilterSet
from metering.models import Event, Payment
from wallets.filtersets import LedgerEntryFilterSet
from wallets.models import LedgerEntry


@dataclass(frozen=True)
class Column:
    """A column of the row listing. ``kind``: text, datetime, money (with the ``currency``
    accessor), number, decimal, direction (a credit/debit boolean) or json."""

    name: str
    label: str
    kind: str = "text"
    accessor: str = ""
    currency: str = "currency"

    @property
    def path(self) -> str:
        return self.accessor or self.name


@dataclass(frozen=True)
class Grouping:
    """``trunc`` (day, week, month) groups by the dataset's date; otherwise by ``accessor``, with
    ``label_accessor`` naming what to show for a key (a customer's email, say)."""

    name: str
    label: str
    trunc: str = ""
    accessor: str = ""
    label_accessor: str = ""
    labels: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Aggregate:
    """``kind``: count, money (summed per currency) or usage (the meter's own aggregation)."""

    name: str
    label: str
    kind: str
    expression: Callable | None = None


@dataclass(frozen=True)
class Dataset:
    name: str
    label: str
    description: str
    icon: str
    queryset: Callable  # business -> QuerySet scoped to it
    date_field: str
    filterset_class: type
    filters: tuple[str, ...]
    columns: tuple[Column, ...]
    default_columns: tuple[str, ...]
    groupings: tuple[Grouping, ...]
    aggregates: tuple[Aggregate, ...]
    default_group_by: str = "day"
    default_aggregates: tuple[str, ...] = ("count",)
    needs_meter: bool = False

    def column(self, name: str) -> Column:
        return next(column for column in self.columns if column.name == name)

    def grouping(self, name: str) -> Grouping:
        return next(grouping for grouping in self.groupings if grouping.name == name)

    def aggregate(self, name: str) -> Aggregate:
        return next(aggregate for aggregate in self.aggregates if aggregate.name == name)

    def default_definition(self) -> dict:
        return {
            "dataset": self.name,
            "columns": list(self.default_columns),
            "filters": {},
            "group_by": self.default_group_by,
            "aggregates": list(self.default_aggregates),
            "period": "last_30_days",
            "start": None,
            "end": None,
            "meter_id": None,
        }


TIME_GROUPINGS = (
    Grouping("day", "Day", trunc="day"),
    Grouping("week", "Week", trunc="week"),
    Grouping("month", "Month", trunc="month"),
)
COUNT = Aggregate("count", "Count", "count")
CUSTOMER_GROUPING = Grouping("customer", "Customer", accessor="customer_id", label_accessor="customer__email")


def _choice_grouping(name, label, choices=None):
    return Grouping(name, label, accessor=name, labels=dict(choices or {}))


def _money_sum(field_name):
    return lambda: Sum(field_name)


def _payment_status_choices():
    from metering.models import PaymentStatus

    return PaymentStatus.choices


def _ledger_event_types():
    from wallets.models import EventType

    return EventType.choices


DATASETS: dict[str, Dataset] = {
    dataset.name: dataset
    for dataset in (
        Dataset(
            name="customers",
            label="Customers",
            description="Sign-ups over time, by locale.",
            icon="bi-people",
            queryset=lambda business: Customer.objects.filter(business=business),
            date_field="created_at",
            filterset_class=CustomerFilterSet,
            filters=("email", "name"),
            columns=(
                Column("id", "Customer ID"),
                Column("name", "Name"),
                Column("email", "Email"),
                Column("phone_number", "Phone number"),
                Column("preferred_locale", "Locale"),
                Column("created_at", "Created at (UTC)", "datetime"),
            ),
            default_columns=("id", "name", "email", "created_at"),
            groupings=(*TIME_GROUPINGS, _choice_grouping("preferred_locale", "Locale")),
            aggregates=(COUNT,),
        ),
        Dataset(
            name="payments",
            label="Payments",
            description="Revenue by period, status, currency or customer.",
            icon="bi-credit-card",
            queryset=lambda business: Payment.objects.filter(business=business),
            date_field="created_at",
            filterset_class=PaymentFilterSet,
            filters=("customer_id", "product_id", "subscription_id", "currency", "payment_status"),
            columns=(
                Column("id", "Payment ID"),
                Column("customer_id", "Customer ID"),
                Column("customer_email", "Customer email", accessor="customer__email"),
                Column("status", "Status"),
                Column("currency", "Currency"),
                Column("total_amount", "Total", "money"),
                Column("wallet_amount", "From wallet", "money"),
                Column("gateway_amount", "Charged", "money"),
                Column("pricing_type", "Pricing"),
                Column("gateway", "Gateway"),
                Column("created_at", "Created at (UTC)", "datetime"),
            ),
            default_columns=("id", "customer_email", "status", "total_amount", "created_at"),
            groupings=(
                *TIME_GROUPINGS,
                _choice_grouping("currency", "Currency"),
                _choice_grouping("status", "Status", _payment_status_choices()),
                _choice_grouping("pricing_type", "Pricing"),
                CUSTOMER_GROUPING,
            ),
            aggregates=(
                COUNT,
                Aggregate("total_amount", "Total", "money", _money_sum("total_amount")),
                Aggregate("wallet_amount", "From wallet", "money", _money_sum("wallet_amount")),
                Aggregate("gateway_amount", "Charged", "money", _money_sum("gateway_amount")),
            ),
            default_aggregates=("count", "total_amount"),
        ),
        Dataset(
            name="ledger",
            label="Ledger entries",
            description="Credits and debits of customer wallets.",
            icon="bi-journal-text",
            queryset=lambda business: LedgerEntry.objects.filter(business=business),
            date_field="created_at",
            filterset_class=LedgerEntryFilterSet,
            filters=("currency", "event_type", "is_credit"),
            columns=(
                Column("id", "Entry ID"),
                Column("customer_id", "Customer ID"),
                Column("customer_email", "Customer email", accessor="customer__email"),
                Column("currency", "Currency"),
                Column("direction", "Direction", "direction", accessor="is_credit"),
                Column("amount", "Amount", "money"),
                Column("before_balance", "Balance before", "money"),
                Column("after_balance", "Balance after", "money"),
                Column("event_type", "Event type"),
                Column("reason", "Reason"),
                Column("reference_object_id", "Reference"),
                Column("created_at", "Created at (UTC)", "datetime"),
            ),
            default_columns=("id", "customer_email", "direction", "amount", "event_type", "created_at"),
            groupings=(
                *TIME_GROUPINGS,
                _choice_grouping("currency", "Currency"),
                _choice_grouping("event_type", "Event type", _ledger_event_types()),
                Grouping(
                    "direction", "Direction", accessor="is_credit", labels={True: "credit", False: "debit"}
                ),
                CUSTOMER_GROUPING,
            ),
            aggregates=(
                COUNT,
                Aggregate("credits", "Credits", "money", lambda: Sum("amount", filter=Q(is_credit=True))),
                Aggregate("debits", "Debits", "money", lambda: Sum("amount", filter=Q(is_credit=False))),
                Aggregate(
                    "net",
                    "Net (credits − debits)",
                    "money",
                    lambda: Sum(Case(When(is_credit=True, then=F("amount")), default=-F("amount"))),
                ),
            ),
            default_aggregates=("count", "credits", "debits"),
        ),
        Dataset(
            name="usage",
            label="Usage",
            description="A meter's usage by hour, day or customer.",
            icon="bi-speedometer",
            queryset=lambda business: Event.objects.filter(business=business),
            date_field="timestamp",
            filterset_class=EventFilterSet,
            filters=("customer_id",),
            columns=(
                Column("event_id", "Event ID"),
                Column("event_name", "Event name"),
                Column("customer_id", "Customer ID"),
                Column("timestamp", "Timestamp (UTC)", "datetime"),
                Column("metadata", "Metadata", "json"),
            ),
            default_columns=("event_id", "customer_id", "timestamp", "metadata"),
            groupings=(
                Grouping("hour", "Hour", trunc="hour"),
                Grouping("day", "Day", trunc="day"),
                CUSTOMER_GROUPING,
            ),
            aggregates=(Aggregate("usage", "Usage", "usage"),),
            default_aggregates=("usage",),
            needs_meter=True,
        ),
    )
}


def dataset_get(name: str) -> Dataset:
    if name not in DATASETS:
        raise InvalidRequestParameters(f"Unknown dataset {name!r}.")
    return DATASETS[name]
