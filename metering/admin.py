from django.contrib import admin, messages

from dodo_billing.pagination import BoundedCountPaginator
from metering.forms import MeterAdminForm
from metering.models import Event, Meter
from metering.services import meter_archive, meter_create, meter_unarchive, meter_update


@admin.register(Meter)
class MeterAdmin(admin.ModelAdmin):
    form = MeterAdminForm
    list_display = ["name", "id", "event_name", "aggregation_type", "aggregation_key", "measurement_unit",
                    "business", "archived", "created_at"]  # fmt: skip
    list_filter = ["business", "aggregation_type", ("archived_at", admin.EmptyFieldListFilter)]
    search_fields = ["id", "name", "event_name"]
    readonly_fields = ["id", "created_at", "updated_at", "archived_at"]
    actions = ["archive", "unarchive"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return self.readonly_fields
        return [
            *self.readonly_fields,
            "business",
            "event_name",
            "aggregation_type",
            "aggregation_key",
            "filter",
        ]

    @admin.display(boolean=True, description="Archived")
    def archived(self, obj):
        return obj.is_archived

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            meter_update(
                meter=obj,
                **{
                    field: data[field]
                    for field in ("name", "description", "measurement_unit")
                    if field in data
                },
            )
            return
        created = meter_create(
            business=data["business"],
            name=data["name"],
            event_name=data["event_name"],
            measurement_unit=data["measurement_unit"],
            description=data.get("description") or None,
            aggregation={"type": data["aggregation_type"], "key": data.get("aggregation_key")},
            filter=data.get("filter"),
        )
        obj.pk = created.pk
        obj._state.adding = False

    def has_delete_permission(self, request, obj=None):
        return False  # archive instead: invoices refer to meters

    @admin.action(description="Archive selected meters")
    def archive(self, request, queryset):
        for meter in queryset:
            meter_archive(meter=meter)
        self.message_user(request, f"Archived {queryset.count()} meter(s).", messages.SUCCESS)

    @admin.action(description="Unarchive selected meters")
    def unarchive(self, request, queryset):
        for meter in queryset:
            meter_unarchive(meter=meter)
        self.message_user(request, f"Unarchived {queryset.count()} meter(s).", messages.SUCCESS)


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    """Read-only. Built for millions of rows: exact-match search, bounded counts, no slow filters."""

    list_display = ["event_id", "event_name", "customer_id", "timestamp", "ingested_at"]
    list_filter = ["business"]
    search_fields = ["=event_id", "=customer__id", "=event_name"]
    paginator = BoundedCountPaginator
    show_full_result_count = False
    list_per_page = 50

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
