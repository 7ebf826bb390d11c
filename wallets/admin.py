"""Wallets and ledger entries are read-only everywhere: balances move only through ledger services."""

from django.contrib import admin

from wallets.models import LedgerEntry, Wallet


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Wallet)
class WalletAdmin(ReadOnlyAdmin):
    list_display = ["customer", "currency", "balance", "entry_count", "updated_at"]
    list_filter = ["currency", "customer__business"]
    search_fields = ["customer__id", "customer__email", "customer__name"]
    list_select_related = ["customer"]


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = [
        "id", "customer_id", "currency", "direction", "amount", "before_balance", "after_balance",
        "event_type", "reason", "created_at",
    ]  # fmt: skip
    list_filter = ["currency", "is_credit", "event_type", "business"]
    search_fields = ["id", "customer__id", "customer__email", "idempotency_key", "reference_object_id"]
    date_hierarchy = "created_at"
    show_full_result_count = False

    @admin.display(description="Direction")
    def direction(self, obj):
        return "credit" if obj.is_credit else "debit"
