"""Wallets and ledger entries are read-only everywhere: balances move only through ledger services.

The one editable wallet field is its low-balance alert threshold (a webhook setting)."""

from django.contrib import admin

from wallets.models import LedgerEntry, Wallet
from wallets.services import wallet_set_low_balance_threshold


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Wallet)
class WalletAdmin(ReadOnlyAdmin):
    """Only the low-balance alert threshold is editable, through its service."""

    list_display = ["customer", "currency", "balance", "low_balance_threshold", "entry_count", "updated_at"]
    list_filter = ["currency", "customer__business"]
    search_fields = ["customer__id", "customer__email", "customer__name"]
    list_select_related = ["customer"]
    fields = [
        "customer",
        "currency",
        "balance",
        "entry_count",
        "low_balance_threshold",
        "created_at",
        "updated_at",
    ]
    readonly_fields = ["customer", "currency", "balance", "entry_count", "created_at", "updated_at"]

    def has_change_permission(self, request, obj=None):
        return admin.ModelAdmin.has_change_permission(self, request, obj)  # undo ReadOnlyAdmin

    def save_model(self, request, obj, form, change):
        wallet_set_low_balance_threshold(wallet=obj, threshold=form.cleaned_data["low_balance_threshold"])


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = [
        "id", "customer_id", "currency", "direction", "amount", "before_balance", "after_balance",
        "event_type", "reason", "created_at",
    ]  # fmt: skip
    list_filter = ["currency", "is_credit", "event_type", "business"]
    search_fields = [
        "id",
        "customer__id",
        "customer__email",
        "idempotency_key",
        "system_key",
        "reference_object_id",
    ]
    date_hierarchy = "created_at"
    show_full_result_count = False

    @admin.display(description="Direction")
    def direction(self, obj):
        return "credit" if obj.is_credit else "debit"
