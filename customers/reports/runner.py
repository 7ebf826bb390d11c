"""Runs a report definition for a business: a page of rows (the listing), every group with its
aggregates (bounded to the ``MAX_GROUPS`` largest for a non-time grouping), or the whole result as
CSV rows. Every query is scoped to the business and the definition's period.
"""

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import partial

from django.db.models import Count, F
from django.db.models.functions import TruncDay, TruncMonth, TruncWeek

from customers.models import Customer
from customers.reports.charts import bucket_label, chart_config, charted_aggregate
from customers.reports.datasets import Aggregate, Column, Dataset, Grouping, dataset_get
from customers.reports.periods import period_bounds, period_buckets
from dodo_billing.errors import InvalidQueryParams
from dodo_billing.money import format_money, minor_to_major
from metering.models import Meter
from metering.selectors.usage import (
    meter_events,
    meter_get,
    meter_usage_by_customer,
    meter_usage_series,
)

MAX_GROUPS = 500  # groups of a non-time grouping (customers, say): the largest first
PAGE_SIZE = 50
TRUNCS = {"day": TruncDay, "week": TruncWeek, "month": TruncMonth}


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


def _as_date(value):
    return value.astimezone(UTC).date() if isinstance(value, datetime) else value


def _aggregates(dataset: Dataset, definition: dict) -> list[Aggregate]:
    names = [
        name for name in definition.get("aggregates") or () if any(a.name == name for a in dataset.aggregates)
    ]
    if not names:
        raise InvalidQueryParams("Choose at least one value to aggregate.")
    return [dataset.aggregate(name) for name in names]


def _grouping(dataset: Dataset, definition: dict) -> Grouping:
    try:
        return dataset.grouping(definition["group_by"])
    except StopIteration:
        raise InvalidQueryParams(
            f"{dataset.label} cannot be grouped by {definition['group_by']!r}."
        ) from None


def _grouped_rows(
    dataset: Dataset, grouping: Grouping, aggregates: list[Aggregate], queryset, split_currency: bool
) -> tuple[list[dict], list[str]]:
    """The groups and their aggregates, with the notes to show: time buckets in order (only those
    with rows), other groups the largest first (by the first aggregate), at most MAX_GROUPS."""
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
    return rows, notes


def _group_text(grouping: Grouping, row: dict, *, for_export: bool) -> str:
    if grouping.trunc:
        return row["group"].isoformat() if for_export else bucket_label(grouping.trunc, row["group"])
    if grouping.label_accessor:
        return f"{row.get('group_label') or ''} ({row['group']})" if not for_export else str(row["group"])
    return str(grouping.labels.get(row["group"], row["group"]) if row["group"] is not None else "—")


def _metric_text(row: dict, aggregate: Aggregate, *, for_export: bool):
    value = row.get(aggregate.name) or 0
    if aggregate.kind == "money":
        currency = row["currency"]
        return minor_to_major(int(value), currency) if for_export else format_money(int(value), currency)
    return value if for_export else str(value)


def _run_grouped(dataset, business, definition, queryset, start, end, for_export=False) -> ReportResult:
    grouping = _grouping(dataset, definition)
    aggregates = _aggregates(dataset, definition)
    if dataset.needs_meter:
        return _run_usage(dataset, business, definition, grouping, queryset, start, end, for_export)
    split_currency = any(a.kind == "money" for a in aggregates) and grouping.accessor != "currency"
    rows, notes = _grouped_rows(dataset, grouping, aggregates, queryset, split_currency)
    if grouping.trunc:
        rows = _fill_buckets(rows, grouping.trunc, start, end, aggregates, split_currency)

    headers = [{"name": "group", "label": grouping.label, "numeric": False}]
    if split_currency:
        headers.append({"name": "currency", "label": "Currency", "numeric": False})
    headers += [{"name": a.name, "label": a.label, "numeric": True} for a in aggregates]
    group_text = partial(_group_text, grouping, for_export=for_export)
    table_rows = []
    for row in rows:
        cells = [group_text(row)]
        if split_currency:
            cells.append(row["currency"])
        cells += [_metric_text(row, aggregate, for_export=for_export) for aggregate in aggregates]
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
        chart=chart_config(grouping, rows, charted_aggregate(aggregates), group_text),
        chart_title=charted_aggregate(aggregates).label,
        total=len(table_rows),
        notes=notes,
    )


def _fill_buckets(rows, trunc, start, end, aggregates, split_currency):
    """Every bucket of the period, empty ones as zeros (per currency seen when split)."""
    currencies = (
        sorted({row["currency"] for row in rows if row.get("currency")}) if split_currency else [None]
    )
    found = {(row["group"], row.get("currency") if split_currency else None): row for row in rows}
    filled = []
    for bucket in period_buckets(trunc, start, end):
        for currency in currencies or [None]:
            row = found.get((bucket, currency))
            if row is None:
                row = {"group": bucket, "currency": currency, **{a.name: 0 for a in aggregates}}
            filled.append(row)
    if split_currency and not currencies:
        return []
    return filled


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
            return row["group"].isoformat() if for_export else bucket_label(grouping.trunc, row["group"])
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
        chart=chart_config(grouping, rows, aggregate, group_text),
        chart_title=label,
        total=len(table_rows),
        notes=notes,
    )
