from django.contrib import admin

from customers.forms import CustomerAdminForm
from customers.models import Customer
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
