"""Dashboard tables of metering: meters and events."""

import json

import django_tables2 as tables
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from dodo_billing.tables import BaseTable, DateTimeColumn, IdColumn
from dodo_billing.views import register_table
from metering.models import Event, Meter


def filter_summary(meter_filter) -> str:
    """``2 conditions (and)`` for a filter; ``—`` without one."""
    if not meter_filter:
        return "—"

    def count(node) -> int:
        return sum(count(c) if "clauses" in c else 1 for c in node.get("clauses", []))

    conditions = count(meter_filter)
    return f"{conditions} condition{'s' if conditions != 1 else ''} ({meter_filter.get('conjunction')})"


@register_table
class MeterTable(BaseTable):
    exempt_columns = ("name",)

    name = tables.Column(verbose_name="Name", linkify=("metering:meter-detail", [tables.A("id")]))
    id = IdColumn(verbose_name="Meter Id")
    event_name = tables.Column(verbose_name="Event Name")
    aggregation_type = tables.Column(verbose_name="Aggregation")
    measurement_unit = tables.Column(verbose_name="Unit")
    filter = tables.Column(verbose_name="Filter", orderable=False, empty_values=())
    status = tables.Column(verbose_name="Status", accessor="archived_at", empty_values=())
    created_at = DateTimeColumn(verbose_name="Created At (UTC)")
    updated_at = DateTimeColumn(verbose_name="Updated At (UTC)", orderable=False)

    class Meta(BaseTable.Meta):
        model = Meter
        fields = ("name", "id", "event_name", "aggregation_type", "measurement_unit", "filter", "status",
                  "created_at", "updated_at")  # fmt: skip
        default_columns = ("id", "event_name", "aggregation_type", "measurement_unit", "filter", "status",
                           "created_at")  # fmt: skip
        empty_text = "No meters match. Create one to turn usage events into billable quantities."

    def render_aggregation_type(self, value, record):
        if record.aggregation_key:
            return format_html(
                '{} <span class="font-monospace small">{}</span>', value, record.aggregation_key
            )
        return value

    def value_aggregation_type(self, value, record):
        return f"{value}({record.aggregation_key})" if record.aggregation_key else value

    def render_filter(self, record):
        return filter_summary(record.filter)

    def value_filter(self, record):
        return json.dumps(record.filter) if record.filter else ""

    def render_status(self, record):
        if record.archived_at:
            return mark_safe('<span class="badge badge-status status-draft">archived</span>')
        return mark_safe('<span class="badge badge-status status-active">active</span>')

    def value_status(self, record):
        return "archived" if record.archived_at else "active"


@register_table
class EventTable(BaseTable):
    """Newest first. Only time sorts: it is the order of the (business, timestamp) index, so a
    page of a 10-million-row table is an index range scan, whichever direction."""

    exempt_columns = ("event_id",)

    event_id = tables.Column(verbose_name="Event Id", orderable=False)
    event_name = tables.Column(verbose_name="Event Name", orderable=False)
    customer = tables.Column(verbose_name="Customer", accessor="customer_id", orderable=False)
    timestamp = DateTimeColumn(
        verbose_name="Timestamp (UTC)", order_by=("timestamp", "id"), format="Y-m-d H:i:s"
    )
    metadata = tables.Column(verbose_name="Metadata", orderable=False, empty_values=())
    ingested_at = DateTimeColumn(verbose_name="Ingested At (UTC)", orderable=False, format="Y-m-d H:i:s")

    class Meta(BaseTable.Meta):
        model = Event
        fields = ("event_id", "event_name", "customer", "timestamp", "metadata", "ingested_at")
        default_columns = ("event_name", "customer", "timestamp", "metadata")
        empty_text = "No events in this range. Widen the time range or clear the filters."
        order_by = ("-timestamp",)

    def render_event_id(self, value, record):
        url = reverse("metering:event-detail", args=[value])
        return format_html(
            '<a href="{}" class="font-monospace small" hx-get="{}" hx-target="#event-modal-body" '
            'hx-select="#event-detail" hx-swap="innerHTML" hx-push-url="false" '
            'data-bs-toggle="modal" data-bs-target="#event-modal">{}</a>',
            url,
            url,
            value,
        )

    def value_event_id(self, value):
        return value

    def render_customer(self, record):
        return format_html(
            '<a href="{}">{}</a><br><span class="font-monospace small text-body-secondary">{}</span>',
            reverse("customers:detail", args=[record.customer_id]),
            record.customer.name,
            record.customer_id,
        )

    def value_customer(self, record):
        return record.customer_id

    def render_metadata(self, record):
        if not record.metadata:
            return "—"
        text = json.dumps(record.metadata, separators=(", ", ": "), ensure_ascii=False)
        short = text if len(text) <= 80 else text[:79] + "…"
        return format_html('<span class="font-monospace small text-body-secondary">{}</span>', short)

    def value_metadata(self, record):
        return json.dumps(record.metadata, ensure_ascii=False) if record.metadata else ""
