from django.contrib import admin

from customers.forms import CustomerAdminForm
from customers.models import Customer, SavedReport
from customers.services import customer_create, customer_update
from wallets.models import Wallet


class WalletInline(admin.TabularInline):
    model = Wallet
    fields = ["currency", "balance", "entry_count", "updated_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    form = CustomerAdminForm
    list_display = ["name", "email", "id", "business", "phone_number", "created_at"]
    list_filter = ["business", "preferred_locale"]
    search_fields = ["id", "email", "name", "phone_number"]
    readonly_fields = ["id", "created_at", "updated_at"]
    fields = ["id", "business", "name", "email", "phone_number", "preferred_locale", "metadata", "created_at"]
    autocomplete_fields = ["business"]
    inlines = [WalletInline]
    date_hierarchy = "created_at"

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "business"] if obj else self.readonly_fields

    def save_model(self, request, obj, form, change):
        data = {
            field: form.cleaned_data[field] for field in ("name", "email", "phone_number", "preferred_locale")
        }
        data["phone_number"] = data["phone_number"] or None
        data["preferred_locale"] = data["preferred_locale"] or None
        data["metadata"] = form.cleaned_data.get("metadata") or {}
        if change:
            customer_update(customer=obj, **data)
        else:
            created = customer_create(business=form.cleaned_data["business"], **data)
            obj.pk = created.pk
            obj._state.adding = False

    def has_delete_permission(self, request, obj=None):
        return False  # customers own ledger history; there is no delete in the API either


@admin.register(SavedReport)
class SavedReportAdmin(admin.ModelAdmin):
    """Report builder definitions saved by merchants' staff (the dashboard edits them)."""

    list_display = ["name", "dataset", "business", "created_by", "created_at", "updated_at"]
    list_filter = ["dataset", "business"]
    search_fields = ["name", "business__name", "created_by__username"]
    list_select_related = ["business", "created_by"]
    readonly_fields = ["created_by", "created_at", "updated_at"]
    fields = ["business", "name", "dataset", "definition", "created_by", "created_at", "updated_at"]
    autocomplete_fields = ["business"]
    date_hierarchy = "created_at"

    def get_readonly_fields(self, request, obj=None):
        # A definition belongs to its dataset: changing either here would break it.
        return [*self.readonly_fields, "business", "dataset"] if obj else self.readonly_fields
