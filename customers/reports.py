"""The report builder: datasets declared once, a selector that runs a report definition, and the
services that save definitions by name.

A **definition** is a JSON document::

    {"dataset": "payments", "columns": ["id", "total_amount"], "filters": {"currency": "USD"},
     "group_by": "month", "aggregates": ["count", "total_amount"],
     "period": "custom", "start": "2026-01-01", "end": "2026-03-31", "meter_id": null}

* ``dataset`` names one of ``DATASETS``; every other key is checked against that dataset (the
  builder form in ``customers.forms_reports`` takes its choices from here).
* ``filters`` are parameters of the dataset model's own FilterSet (the one the API uses).
* ``period`` is a preset (``last_7_days``, ``last_30_days``, ``this_month``, ``last_month``),
  resolved again each time the report runs, or ``custom`` with inclusive UTC ``start``/``end``
  dates. Every report runs over a period of at most ``MAX_PERIOD_DAYS`` days.
* Without ``group_by`` the result lists rows (``columns``), a page at a time; with it, one row per
  group and currency holding the chosen ``aggregates``.

Money stays integer minor units beside its currency: a money aggregate is summed per currency
(grouping by currency is implied), never across currencies, and is formatted with
``dodo_billing.money.format_money``. CSV exports carry the exact major-unit amount (``12.34``)
next to its currency.
"""

import calendar
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import django_filters
from django.db import IntegrityError, transaction
from django.db.models import Case, Count, F, Q, Sum, When
from django.db.models.functions import TruncDay, TruncMonth, TruncWeek
from django.utils import timezone

from customers.filtersets import CustomerFilterSet
from customers.models import Customer, SavedReport
from dodo_billing.datetimes import check_date
from dodo_billing.errors import Conflict, InvalidQueryParams, InvalidRequestParameters, NotFound
from dodo_billing.filtersets import BaseFilterSet
from dodo_billing.money import format_money, minor_to_major
from metering.filtersets import EventFilterSet, PaymentFilterSet
from metering.models import Event, Meter, Payment
from metering.selectors.usage import (
    meter_events,
    meter_get,
    meter_usage_by_customer,
    meter_usage_series,
)
from wallets.filtersets import LedgerEntryFilterSet
from wallets.models import LedgerEntry

MAX_PERIOD_DAYS = 3 * 366
MAX_GROUPS = 500  # groups of a non-time grouping (customers, say): the largest first
PAGE_SIZE = 50
NAME_MAX_LENGTH = 100

PERIODS = {
    "last_7_days": "Last 7 days",
    "last_30_days": "Last 30 days",
    "this_month": "This month",
    "last_month": "Last month",
    "custom": "Custom dates",
}

# --- declarations -----------------------------------------------------------------------------------


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


# --- the period ------------------------------------------------------------------------------------


def _add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    return date(day.year + month // 12, month % 12 + 1, 1)


def period_dates(definition: dict, *, today: date | None = None) -> tuple[date, date]:
    """The inclusive first and last UTC dates of a definition's period."""
    today = today or timezone.now().astimezone(UTC).date()
    preset = definition.get("period") or "last_30_days"
    if preset == "last_7_days":
        return today - timedelta(days=6), today
    if preset == "last_30_days":
        return today - timedelta(days=29), today
    if preset == "this_month":
        first = today.replace(day=1)
        return first, first.replace(day=calendar.monthrange(first.year, first.month)[1])
    if preset == "last_month":
        first = _add_months(today.replace(day=1), -1)
        return first, first.replace(day=calendar.monthrange(first.year, first.month)[1])
    if preset != "custom":
        raise InvalidQueryParams(f"Unknown period {preset!r}.")
    try:
        start, end = date.fromisoformat(definition["start"]), date.fromisoformat(definition["end"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidQueryParams("A custom period needs start and end dates (YYYY-MM-DD).") from exc
    for name, day in (("start", start), ("end", end)):
        try:
            check_date(day)
        except ValueError as exc:  # its last midnight must be representable
            raise InvalidQueryParams(f"The period's {name}: {exc}") from None
    if start > end:
        raise InvalidQueryParams("The period's start must not be after its end.")
    if (end - start).days + 1 > MAX_PERIOD_DAYS:
        raise InvalidQueryParams(f"The period is longer than {MAX_PERIOD_DAYS} days.")
    return start, end


def period_bounds(definition: dict, *, today: date | None = None) -> tuple[datetime, datetime]:
    """[start, end) in UTC: from the first date's midnight to the midnight after the last."""
    first, last = period_dates(definition, today=today)
    return (
        datetime.combine(first, time(), tzinfo=UTC),
        datetime.combine(last + timedelta(days=1), time(), tzinfo=UTC),
    )


# --- running a definition --------------------------------------------------------------------------


@dataclass
class ReportResult:
    """What a report shows: headers, display rows (a page of them without grouping), a Chart.js
    config for grouped results, and the counts for paging."""

    dataset: Dataset
    headers: list[dict]  # {"name", "label", "numeric"}
    rows: list[list[str]]
    grouped: bool
    chart: dict | None = None
    total: int = 0
    total_more: bool = False
    page: int = 1
    has_next: bool = False
    notes: list[str] = field(default_factory=list)
    chart_title: str = ""
    start: datetime | None = None
    end: datetime | None = None

    @property
    def last_day(self) -> date | None:
        """The period's last (inclusive) UTC date."""
        return (self.end - timedelta(days=1)).date() if self.end else None

    @property
    def table_rows(self) -> list[list[tuple[str, bool]]]:
        """Each display row as (text, is_numeric) cells, for right-aligning numbers."""
        numeric = [header["numeric"] for header in self.headers]
        return [list(zip(row, numeric, strict=True)) for row in self.rows]


def _display(column: Column, value, record: dict) -> str:
    if value is None:
        return ""
    if column.kind == "money":
        return format_money(int(value), record[column.currency])
    if column.kind == "datetime":
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    if column.kind == "direction":
        return "credit" if value else "debit"
    if column.kind == "json":
        import json

        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def _export(column: Column, value, record: dict):
    """A listing cell for CSV: numbers stay numbers (money in major units), the rest text."""
    if value is None:
        return ""
    if column.kind == "money":
        return minor_to_major(int(value), record[column.currency])
    if column.kind in ("number", "decimal"):
        return value
    if column.kind == "datetime":
        return value.astimezone(UTC).isoformat()
    return _display(column, value, record)


def _base_queryset(dataset: Dataset, business, definition: dict, start: datetime, end: datetime):
    queryset = dataset.queryset(business).filter(
        **{f"{dataset.date_field}__gte": start, f"{dataset.date_field}__lt": end}
    )
    if dataset.needs_meter:
        queryset = meter_events(meter=_meter(business, definition), queryset=queryset)
    filters = {
        name: value for name, value in (definition.get("filters") or {}).items() if name in dataset.filters
    }
    if filters:
        filterset = dataset.filterset_class(data=filters, queryset=queryset)
        queryset = filterset.filter_or_raise()
    return queryset


def _meter(business, definition: dict) -> Meter:
    meter_id = definition.get("meter_id")
    if not meter_id:
        raise InvalidQueryParams("Choose a meter for a usage report.")
    return meter_get(business=business, meter_id=meter_id)


def _listing_columns(dataset: Dataset, definition: dict) -> list[Column]:
    names = [name for name in definition.get("columns") or () if any(c.name == name for c in dataset.columns)]
    if not names:
        raise InvalidQueryParams("Choose at least one column.")
    return [dataset.column(name) for name in names]


def _listing_paths(dataset: Dataset, columns: list[Column]) -> list[str]:
    paths = {column.path for column in columns}
    for column in columns:
        if column.kind == "money":
            paths.add(column.currency)
    return sorted(paths)


def _listing_order(dataset: Dataset) -> list[str]:
    return [f"-{dataset.date_field}", "-pk"]


def report_run(*, business, definition: dict, page: int = 1, today: date | None = None) -> ReportResult:
    """Run a definition for ``business``: a page of rows, or every group (bounded)."""
    dataset = dataset_get(definition.get("dataset", ""))
    start, end = period_bounds(definition, today=today)
    queryset = _base_queryset(dataset, business, definition, start, end)
    if definition.get("group_by"):
        result = _run_grouped(dataset, business, definition, queryset, start, end)
    else:
        result = _run_listing(dataset, definition, queryset, max(page, 1))
    result.start, result.end = start, end
    return result


def _run_listing(dataset: Dataset, definition: dict, queryset, page: int) -> ReportResult:
    columns = _listing_columns(dataset, definition)
    paths = _listing_paths(dataset, columns)
    offset = (page - 1) * PAGE_SIZE
    records = list(
        queryset.order_by(*_listing_order(dataset)).values(*paths)[offset : offset + PAGE_SIZE + 1]
    )
    has_next = len(records) > PAGE_SIZE
    records = records[:PAGE_SIZE]
    total = queryset.order_by()[:10_001].count()
    return ReportResult(
        dataset=dataset,
        headers=[
            {"name": c.name, "label": c.label, "numeric": c.kind in ("money", "number", "decimal")}
            for c in columns
        ],
        rows=[[_display(c, record[c.path], record) for c in columns] for record in records],
        grouped=False,
        total=min(total, 10_000),
        total_more=total > 10_000,
        page=page,
        has_next=has_next,
    )


def report_export_rows(*, business, definition: dict, today: date | None = None) -> Iterator[list[str]]:
    """The whole result as CSV rows, header first. Row listings are streamed from the database."""
    dataset = dataset_get(definition.get("dataset", ""))
    start, end = period_bounds(definition, today=today)
    queryset = _base_queryset(dataset, business, definition, start, end)
    if definition.get("group_by"):
        result = _run_grouped(dataset, business, definition, queryset, start, end, for_export=True)
        yield [header["label"] for header in result.headers]
        yield from result.rows
        return
    columns = _listing_columns(dataset, definition)
    paths = _listing_paths(dataset, columns)
    chosen = {column.path for column in columns}
    # Every amount has its currency beside it, chosen as a column or not.
    currencies = sorted({c.currency for c in columns if c.kind == "money" and c.currency not in chosen})
    yield [column.label for column in columns] + ["Currency" for _ in currencies]
    for record in queryset.order_by(*_listing_order(dataset)).values(*paths).iterator(chunk_size=2000):
        yield [_export(column, record[column.path], record) for column in columns] + [
            record[path] for path in currencies
        ]


# --- grouped results --------------------------------------------------------------------------------

TRUNCS = {"day": TruncDay, "week": TruncWeek, "month": TruncMonth}
PALETTE = ["#3b5bdb", "#12b886", "#f59f00", "#e8590c", "#7048e8", "#1098ad", "#d6336c", "#495057"]


def _buckets(trunc: str, start: datetime, end: datetime) -> list[date]:
    day = start.date()
    if trunc == "week":
        day -= timedelta(days=day.weekday())
    elif trunc == "month":
        day = day.replace(day=1)
    buckets = []
    while day < end.date():
        buckets.append(day)
        day = _add_months(day, 1) if trunc == "month" else day + timedelta(days=7 if trunc == "week" else 1)
    return buckets


def _bucket_label(trunc: str, bucket) -> str:
    if trunc == "hour":
        return bucket.strftime("%Y-%m-%d %H:00")
    if trunc == "month":
        return bucket.strftime("%Y-%m")
    if trunc == "week":
        return f"Week of {bucket:%Y-%m-%d}"
    return bucket.strftime("%Y-%m-%d")


def _as_date(value):
    return value.astimezone(UTC).date() if isinstance(value, datetime) else value


def _aggregates(dataset: Dataset, definition: dict) -> list[Aggregate]:
    names = [
        name for name in definition.get("aggregates") or () if any(a.name == name for a in dataset.aggregates)
    ]
    if not names:
        raise InvalidQueryParams("Choose at least one value to aggregate.")
    return [dataset.aggregate(name) for name in names]


def _run_grouped(dataset, business, definition, queryset, start, end, for_export=False) -> ReportResult:
    try:
        grouping = dataset.grouping(definition["group_by"])
    except StopIteration:
        raise InvalidQueryParams(
            f"{dataset.label} cannot be grouped by {definition['group_by']!r}."
        ) from None
    aggregates = _aggregates(dataset, definition)
    if dataset.needs_meter:
        return _run_usage(dataset, business, definition, grouping, queryset, start, end, for_export)
    split_currency = any(a.kind == "money" for a in aggregates) and grouping.accessor != "currency"
    keys = ["group"]
    annotations = {}
    if grouping.trunc:
        annotations["group"] = TRUNCS[grouping.trunc](dataset.date_field, tzinfo=UTC)
    else:
        annotations["group"] = F(grouping.accessor)
    values = queryset.annotate(**annotations)
    if grouping.label_accessor:
        values = values.annotate(group_label=F(grouping.label_accessor))
        keys.append("group_label")
    if split_currency:
        keys.append("currency")
    metrics = {a.name: (Count("pk") if a.kind == "count" else a.expression()) for a in aggregates}
    rows = values.values(*keys).annotate(**metrics)
    notes = []
    if grouping.trunc:
        rows = list(rows.order_by("group"))
    else:
        # Bounded: the largest groups first (by the first aggregate), at most MAX_GROUPS of them.
        first = aggregates[0].name
        rows = list(rows.order_by(F(first).desc(nulls_last=True), "group")[: MAX_GROUPS + 1])
        if len(rows) > MAX_GROUPS:
            rows = rows[:MAX_GROUPS]
            notes.append(f"Showing the {MAX_GROUPS} largest groups.")
    for row in rows:
        row["group"] = _as_date(row["group"]) if grouping.trunc else row["group"]
        if grouping.accessor == "currency":
            row["currency"] = row["group"]
    if grouping.trunc:
        rows = _fill_buckets(rows, grouping.trunc, start, end, aggregates, split_currency)

    headers = [{"name": "group", "label": grouping.label, "numeric": False}]
    if split_currency:
        headers.append({"name": "currency", "label": "Currency", "numeric": False})
    headers += [{"name": a.name, "label": a.label, "numeric": True} for a in aggregates]

    def group_text(row):
        if grouping.trunc:
            return row["group"].isoformat() if for_export else _bucket_label(grouping.trunc, row["group"])
        if grouping.label_accessor:
            return f"{row.get('group_label') or ''} ({row['group']})" if not for_export else str(row["group"])
        return str(grouping.labels.get(row["group"], row["group"]) if row["group"] is not None else "—")

    def metric_text(row, aggregate):
        value = row.get(aggregate.name) or 0
        if aggregate.kind == "money":
            currency = row["currency"]
            return minor_to_major(int(value), currency) if for_export else format_money(int(value), currency)
        return value if for_export else str(value)

    table_rows = []
    for row in rows:
        cells = [group_text(row)]
        if split_currency:
            cells.append(row["currency"])
        cells += [metric_text(row, aggregate) for aggregate in aggregates]
        table_rows.append(cells)
    if for_export and grouping.label_accessor:
        headers.insert(1, {"name": "group_label", "label": "Customer email", "numeric": False})
        for cells, row in zip(table_rows, rows, strict=True):
            cells.insert(1, row.get("group_label") or "")
    return ReportResult(
        dataset=dataset,
        headers=headers,
        rows=table_rows,
        grouped=True,
        chart=_chart(grouping, rows, _charted(aggregates), group_text),
        chart_title=_charted(aggregates).label,
        total=len(table_rows),
        notes=notes,
    )


def _charted(aggregates: list[Aggregate]) -> Aggregate:
    """The value the chart shows: the first amount of money chosen, else the first value."""
    return next((a for a in aggregates if a.kind == "money"), aggregates[0])


def _fill_buckets(rows, trunc, start, end, aggregates, split_currency):
    """Every bucket of the period, empty ones as zeros (per currency seen when split)."""
    currencies = (
        sorted({row["currency"] for row in rows if row.get("currency")}) if split_currency else [None]
    )
    found = {(row["group"], row.get("currency") if split_currency else None): row for row in rows}
    filled = []
    for bucket in _buckets(trunc, start, end):
        for currency in currencies or [None]:
            row = found.get((bucket, currency))
            if row is None:
                row = {"group": bucket, "currency": currency, **{a.name: 0 for a in aggregates}}
            filled.append(row)
    if split_currency and not currencies:
        return []
    return filled


def _chart(grouping: Grouping, rows: list[dict], aggregate: Aggregate, group_text) -> dict:
    labels = list(dict.fromkeys(group_text(row) for row in rows))
    series: dict[str, dict[str, float]] = {}
    for row in rows:
        value = row.get(aggregate.name) or 0
        if aggregate.kind == "money" and row.get("currency"):
            name = f"{aggregate.label} ({row['currency']})"
            number = float(minor_to_major(int(value), row["currency"]))
        else:
            name = aggregate.label
            number = float(value)
        series.setdefault(name, {})[group_text(row)] = number
    datasets = []
    for index, (name, points) in enumerate(series.items()):
        color = PALETTE[index % len(PALETTE)]
        datasets.append(
            {
                "label": name,
                "data": [points.get(label, 0) for label in labels],
                "backgroundColor": color,
                "borderColor": color,
            }
        )
    return {
        "type": "line" if grouping.trunc in ("hour", "day") else "bar",
        "data": {"labels": labels, "datasets": datasets},
        "options": {
            "responsive": True,
            "maintainAspectRatio": False,
            "animation": False,
            "scales": {"y": {"beginAtZero": True}},
            "plugins": {"legend": {"display": True, "position": "bottom"}},
        },
    }


def _usage_text(value: Decimal) -> str:
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _run_usage(dataset, business, definition, grouping, queryset, start, end, for_export) -> ReportResult:
    """A meter's usage by hour or day (every bucket) or by customer, with the usage selectors."""
    meter = _meter(business, definition)
    customer_id = (definition.get("filters") or {}).get("customer_id") or None
    customer = Customer.objects.filter(business=business, id=customer_id).first() if customer_id else None
    label = f"Usage ({meter.measurement_unit})"
    notes = []
    if grouping.trunc:
        if customer_id and customer is None:
            series = []
        else:
            series = meter_usage_series(
                meter=meter, start=start, end=end, granularity=grouping.trunc, customer=customer
            )
        rows = [{"group": bucket, "usage": value} for bucket, value in series]
    else:
        usage = meter_usage_by_customer(
            meter=meter, start=start, end=end, customer_ids=[customer_id] if customer_id else None
        )
        ranked = sorted(usage.items(), key=lambda item: (-item[1], item[0]))
        if len(ranked) > MAX_GROUPS:
            ranked = ranked[:MAX_GROUPS]
            notes.append(f"Showing the {MAX_GROUPS} largest customers.")
        emails = dict(
            Customer.objects.filter(business=business, id__in=[key for key, _ in ranked]).values_list(
                "id", "email"
            )
        )
        rows = [{"group": key, "group_label": emails.get(key, ""), "usage": value} for key, value in ranked]

    def group_text(row):
        if grouping.trunc:
            return row["group"].isoformat() if for_export else _bucket_label(grouping.trunc, row["group"])
        return str(row["group"]) if for_export else f"{row['group_label']} ({row['group']})"

    headers = [{"name": "group", "label": grouping.label, "numeric": False}]
    table_rows = [[group_text(row)] for row in rows]
    if for_export and not grouping.trunc:
        headers.append({"name": "group_label", "label": "Customer email", "numeric": False})
        for cells, row in zip(table_rows, rows, strict=True):
            cells.append(row["group_label"])
    headers.append({"name": "usage", "label": label, "numeric": True})
    for cells, row in zip(table_rows, rows, strict=True):
        cells.append(row["usage"] if for_export else _usage_text(row["usage"]))
    aggregate = Aggregate("usage", label, "usage")
    return ReportResult(
        dataset=dataset,
        headers=headers,
        rows=table_rows,
        grouped=True,
        chart=_chart(grouping, rows, aggregate, group_text),
        chart_title=label,
        total=len(table_rows),
        notes=notes,
    )


# --- saved reports ----------------------------------------------------------------------------------


class SavedReportFilterSet(BaseFilterSet):
    q = django_filters.CharFilter(field_name="name", lookup_expr="icontains", label="Search")
    dataset = django_filters.ChoiceFilter(choices=[(d.name, d.label) for d in DATASETS.values()])

    class Meta:
        model = SavedReport
        fields = ["q", "dataset"]


def saved_report_list(*, business):
    return SavedReport.objects.filter(business=business).select_related("created_by").order_by("name", "id")


def saved_report_get(*, business, report_id) -> SavedReport:
    """The business's saved report, or NOT_FOUND (also for another business's report)."""
    report = (
        SavedReport.objects.filter(business=business, pk=report_id).first()
        if str(report_id).isdigit()
        else None
    )
    if report is None:
        raise NotFound("Report not found", extra={"report_id": str(report_id)})
    return report


def _clean_name(business, name: str, exclude_id=None) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise InvalidRequestParameters("Give the report a name.")
    if len(name) > NAME_MAX_LENGTH:
        raise InvalidRequestParameters(f"A report name has at most {NAME_MAX_LENGTH} characters.")
    if "\x00" in name:  # PostgreSQL cannot compare text holding NUL
        raise InvalidRequestParameters("A report name cannot hold a NUL character.")
    taken = SavedReport.objects.filter(business=business, name__iexact=name).exclude(pk=exclude_id)
    if taken.exists():
        raise Conflict(f"A report named {name!r} already exists.")
    return name


def _check_definition(definition: dict) -> dict:
    if not isinstance(definition, dict):
        raise InvalidRequestParameters("A report definition is a JSON object.")
    dataset_get(definition.get("dataset", ""))
    period_dates(definition)  # a period that cannot run (e.g. ending 9999-12-31) is not saved
    return definition


def saved_report_create(*, business, name: str, definition: dict, user=None) -> SavedReport:
    definition = _check_definition(definition)
    with transaction.atomic():
        name = _clean_name(business, name)
        try:
            with transaction.atomic():
                return SavedReport.objects.create(
                    business=business,
                    name=name,
                    dataset=definition["dataset"],
                    definition=definition,
                    created_by=user if user is not None and user.is_authenticated else None,
                )
        except IntegrityError as exc:  # a concurrent save took the name
            raise Conflict(f"A report named {name!r} already exists.") from exc


def saved_report_update(
    *, report: SavedReport, name: str | None = None, definition: dict | None = None
) -> SavedReport:
    """Rename a report and/or replace its definition."""
    with transaction.atomic():
        if name is not None:
            report.name = _clean_name(report.business_id, name, exclude_id=report.pk)
        if definition is not None:
            report.definition = _check_definition(definition)
            report.dataset = definition["dataset"]
        try:
            with transaction.atomic():
                report.save()
        except IntegrityError as exc:
            raise Conflict(f"A report named {report.name!r} already exists.") from exc
    return report


def saved_report_delete(*, report: SavedReport) -> None:
    with transaction.atomic():
        report.delete()
