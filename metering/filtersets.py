import django_filters

from dodo_billing.filtersets import BaseFilterSet
from metering.models import Event, Meter


class MeterFilterSet(BaseFilterSet):
    archived = django_filters.BooleanFilter(
        method="filter_archived", help_text="true: only archived meters; false or absent: only active ones."
    )

    class Meta:
        model = Meter
        fields = ["archived"]

    @property
    def qs(self):
        queryset = super().qs
        if self.form.cleaned_data.get("archived") is None:  # absent: active meters only
            queryset = queryset.filter(archived_at__isnull=True)
        return queryset

    def filter_archived(self, queryset, name, value):
        return queryset.filter(archived_at__isnull=not value)


class EventFilterSet(BaseFilterSet):
    customer_id = django_filters.CharFilter(
        field_name="customer_id", help_text="Only this customer's events."
    )
    event_name = django_filters.CharFilter(field_name="event_name", help_text="Exact event name.")
    start = django_filters.IsoDateTimeFilter(
        field_name="timestamp", lookup_expr="gte", help_text="Events at or after this time."
    )
    end = django_filters.IsoDateTimeFilter(
        field_name="timestamp", lookup_expr="lt", help_text="Events before this time."
    )

    class Meta:
        model = Event
        fields = ["customer_id", "event_name", "start", "end"]
