"""Dashboard pages of metering: meters (list, create, edit, detail with a usage chart and top
customers, archive) and the events explorer.

Views are thin: a form parses the input, one service writes (the same ``meter_create`` /
``meter_update`` as the API, so the dashboard gives the API's errors), selectors read, always
scoped to the signed-in user's business. Another business's meter or event is a 404.
"""

import json
from datetime import UTC, timedelta

import django_filters
from django import forms
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.views import View
from django.views.decorators.http import require_POST
from django.views.generic import TemplateView

from dodo_billing.errors import ApplicationError, NotFound
from dodo_billing.views import BusinessViewMixin, ObjectListView, business_required
from metering.filtersets import EventFilterSet, MeterFilterSet
from metering.forms.meters import MeterCreateForm, MeterEditForm, MeterUsageForm
from metering.meter_filters import MAX_CLAUSES, MAX_DEPTH, OPERATORS
from metering.models import Meter
from metering.selectors import event_get, meter_events, meter_get, meter_usage_series
from metering.selectors.dashboard import (
    USAGE_PERIODS,
    meter_dashboard_list,
    meter_top_customers,
    meter_usage_window,
)
from metering.services import meter_archive, meter_create, meter_unarchive, meter_update
from metering.tables.meters import EventTable, MeterTable, filter_summary

EVENTS_DEFAULT_WINDOW = timedelta(hours=24)
TOP_CUSTOMERS = 10


def _meter_or_404(business, meter_id: str) -> Meter:
    try:
        return meter_get(business=business, meter_id=meter_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc


def _builder_config() -> dict:
    """What the filter builder needs to know about the rules (the server checks them anyway)."""
    return {"operators": list(OPERATORS), "maxDepth": MAX_DEPTH, "maxClauses": MAX_CLAUSES}


# --- meters ------------------------------------------------------------------------------------


class MeterListView(ObjectListView):
    table_class = MeterTable
    filterset_class = MeterFilterSet
    title = "Meters"
    export_filename = "meters.csv"
    template_name = "metering/meters/meter_list.html"

    def get_queryset(self):
        return meter_dashboard_list(business=self.business)

    def get_filterset(self, queryset):
        # Always bound: with no parameters the FilterSet's own default (active meters) applies.
        filterset = MeterFilterSet(data=self.request.GET, queryset=queryset, request=self.request)
        field = filterset.form.fields["archived"]
        field.widget = forms.Select(
            choices=[("", "Active meters"), ("true", "Archived meters")], attrs={"class": "form-select"}
        )
        field.label = "Status"
        return filterset


class MeterCreateView(BusinessViewMixin, View):
    template_name = "metering/meters/meter_form.html"

    def get(self, request):
        return self.render(MeterCreateForm())

    def post(self, request):
        form = MeterCreateForm(request.POST)
        if form.is_valid():
            try:
                meter = meter_create(business=self.business, **form.service_arguments())
            except ApplicationError as exc:
                form.add_service_error(exc)
            else:
                messages.success(request, f"Meter “{meter.name}” created.")
                return redirect("metering:meter-detail", meter.id)
        messages.error(request, "The meter was not created: correct the fields marked below.")
        return self.render(form, status=400)

    def render(self, form, status=200):
        context = {"form": form, "builder_config": _builder_config(), "title": "New meter"}
        return render(self.request, self.template_name, context, status=status)


class MeterEditView(BusinessViewMixin, View):
    template_name = "metering/meters/meter_edit.html"

    def get(self, request, meter_id):
        meter = _meter_or_404(self.business, meter_id)
        form = MeterEditForm(
            initial={
                "name": meter.name,
                "description": meter.description,
                "measurement_unit": meter.measurement_unit,
            }
        )
        return self.render(meter, form)

    def post(self, request, meter_id):
        meter = _meter_or_404(self.business, meter_id)
        form = MeterEditForm(request.POST)
        if form.is_valid():
            try:
                meter_update(meter=meter, **form.cleaned_data)
            except ApplicationError as exc:
                form.add_service_error(exc)
                meter.refresh_from_db()
            else:
                messages.success(request, f"Meter “{meter.name}” saved.")
                return redirect("metering:meter-detail", meter.id)
        messages.error(request, "The meter was not saved: correct the fields marked below.")
        return self.render(meter, form, status=400)

    def render(self, meter, form, status=200):
        context = {"form": form, "meter": meter, "filter_json": _pretty(meter.filter)}
        return render(self.request, self.template_name, context, status=status)


def quantity(value) -> str:
    """A usage quantity for people: ``Decimal("1234.500")`` → ``1,234.5``."""
    return f"{value.normalize():,f}" if value else "0"


def _pretty(value) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False) if value else ""


def _chart_config(meter: Meter, series, granularity: str) -> dict:
    """A Chart.js config for the usage series (labels in UTC; values as numbers for drawing)."""
    label_format = "%Y-%m-%d %H:00" if granularity == "hour" else "%Y-%m-%d"
    return {
        "type": "bar",
        "data": {
            "labels": [bucket.astimezone(UTC).strftime(label_format) for bucket, _ in series],
            "datasets": [
                {
                    "label": f"{meter.name} ({meter.measurement_unit})",
                    "data": [float(value) for _, value in series],
                    "backgroundColor": "rgba(59, 91, 219, 0.65)",
                    "borderColor": "#3b5bdb",
                    "borderWidth": 1,
                }
            ],
        },
        "options": {
            "responsive": True,
            "maintainAspectRatio": False,
            "animation": False,
            "plugins": {"legend": {"display": False}},
            "scales": {"y": {"beginAtZero": True}, "x": {"ticks": {"maxTicksLimit": 12}}},
        },
    }


class MeterDetailView(BusinessViewMixin, TemplateView):
    template_name = "metering/meters/meter_detail.html"

    def get_context_data(self, **kwargs):
        meter = _meter_or_404(self.business, kwargs["meter_id"])
        form = MeterUsageForm(self.request.GET if self.request.GET else None)
        period, granularity = "7d", "day"
        if form.is_bound and form.is_valid():
            period, granularity = form.cleaned_data["period"], form.cleaned_data["granularity"]
        elif not form.is_bound:
            form = MeterUsageForm(initial={"period": period, "granularity": granularity})
        start, end = meter_usage_window(period=period, granularity=granularity)
        series = meter_usage_series(meter=meter, start=start, end=end, granularity=granularity)
        total = sum((value for _, value in series), 0) if meter.aggregation_type in ("count", "sum") else None
        return super().get_context_data(
            meter=meter,
            usage_form=form,
            period=period,
            period_label=USAGE_PERIODS[period][1],
            granularity=granularity,
            start=start,
            end=end,
            series=series,
            series_total=quantity(total) if total is not None else None,
            chart=_chart_config(meter, series, granularity),
            top_customers=[
                (row.customer, quantity(row.usage))
                for row in meter_top_customers(meter=meter, start=start, end=end, limit=TOP_CUSTOMERS)
            ],
            filter_json=_pretty(meter.filter),
            filter_summary=filter_summary(meter.filter),
            events_url=reverse("metering:event-list") + f"?meter_id={meter.id}",
            **kwargs,
        )


@require_POST
@business_required
def meter_archive_view(request, business, meter_id):
    meter = _meter_or_404(business, meter_id)
    meter_archive(meter=meter)
    messages.success(request, f"Meter “{meter.name}” archived. Its usage history is kept.")
    return redirect("metering:meter-detail", meter.id)


@require_POST
@business_required
def meter_unarchive_view(request, business, meter_id):
    meter = _meter_or_404(business, meter_id)
    meter_unarchive(meter=meter)
    messages.success(request, f"Meter “{meter.name}” restored.")
    return redirect("metering:meter-detail", meter.id)


# --- events ------------------------------------------------------------------------------------


class EventExplorerFilterSet(EventFilterSet):
    """The Event FilterSet plus the meter choice of ``GET /api/events?meter_id=`` (its event name
    and filter), with the dashboard's widgets."""

    meter_id = django_filters.ChoiceFilter(method="filter_meter", label="Meter", empty_label="Any meter")

    class Meta(EventFilterSet.Meta):
        fields = [*EventFilterSet.Meta.fields, "meter_id"]

    def __init__(self, *args, business=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.business = business
        self.meters = {meter.id: meter for meter in meter_dashboard_list(business=business)}
        self.filters["meter_id"].extra["choices"] = [
            (meter.id, f"{meter.name}{' (archived)' if meter.archived_at else ''}")
            for meter in self.meters.values()
        ]
        for name in ("start", "end"):
            self.filters[name].extra["widget"] = forms.DateTimeInput(
                attrs={"type": "datetime-local", "step": "1"}, format="%Y-%m-%dT%H:%M:%S"
            )
        labels = {
            "customer_id": "Customer id",
            "event_name": "Event name",
            "start": "From (UTC)",
            "end": "Before (UTC)",
        }
        for name, label in labels.items():
            self.filters[name].label = label

    @property
    def form(self):
        form = super().form
        if not getattr(form, "_styled", False):
            for field in form.fields.values():
                css = "form-select" if isinstance(field.widget, forms.Select) else "form-control"
                field.widget.attrs["class"] = css
            form._styled = True
            if self.is_bound:
                form.full_clean()
                meter = self.meters.get(form.cleaned_data.get("meter_id") or "")
                name = form.cleaned_data.get("event_name")
                if meter and name and name != meter.event_name:
                    form.add_error(
                        "event_name",
                        f"Meter “{meter.name}” counts “{meter.event_name}” events, not “{name}”.",
                    )
        return form

    def filter_meter(self, queryset, name, value):
        meter = self.meters.get(value)
        return meter_events(meter=meter, queryset=queryset) if meter else queryset.none()


class EventListView(ObjectListView):
    table_class = EventTable
    title = "Events"
    export_filename = "events.csv"
    template_name = "metering/events/event_list.html"

    def get_queryset(self):
        from metering.models import Event

        return (
            Event.objects.filter(business=self.business)
            .select_related("customer")
            .order_by("-timestamp", "-id")
        )

    def get_filterset(self, queryset):
        data = self.request.GET.copy()
        if not data.get("start") and not data.get("end"):
            # Bounded by default: the last 24 hours, so the first page and the capped count read a
            # narrow slice of the (business, timestamp) index however large the table is.
            since = (
                (timezone.now() - EVENTS_DEFAULT_WINDOW).astimezone(UTC).replace(microsecond=0, tzinfo=None)
            )
            data["start"] = since.strftime("%Y-%m-%dT%H:%M:%S")
            self.default_window = True
        else:
            self.default_window = False
        return EventExplorerFilterSet(
            data=data, queryset=queryset, request=self.request, business=self.business
        )

    def extra_context_data(self) -> dict:
        return {"default_window": getattr(self, "default_window", False), "filters_open": True}


class EventDetailView(BusinessViewMixin, TemplateView):
    template_name = "metering/events/event_detail.html"

    def get_context_data(self, **kwargs):
        try:
            event = event_get(business=self.business, event_id=kwargs["event_id"])
        except NotFound as exc:
            raise Http404(exc.message) from exc
        return super().get_context_data(
            event=event,
            metadata_json=json.dumps(event.metadata, indent=2, ensure_ascii=False, sort_keys=True)
            if event.metadata
            else "",
            **kwargs,
        )


urlpatterns = [
    path("meters/", MeterListView.as_view(), name="meter-list"),
    path("meters/new/", MeterCreateView.as_view(), name="meter-create"),
    path("meters/<str:meter_id>/", MeterDetailView.as_view(), name="meter-detail"),
    path("meters/<str:meter_id>/edit/", MeterEditView.as_view(), name="meter-edit"),
    path("meters/<str:meter_id>/archive/", meter_archive_view, name="meter-archive"),
    path("meters/<str:meter_id>/unarchive/", meter_unarchive_view, name="meter-unarchive"),
    path("events/", EventListView.as_view(), name="event-list"),
    path("events/<path:event_id>/", EventDetailView.as_view(), name="event-detail"),
]
