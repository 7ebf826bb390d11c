from django.contrib import admin, messages
from django.utils.html import format_html

from dodo_billing.models import ApiKey, Business, ExchangeRate, Membership
from dodo_billing.services import api_key_create, api_key_revoke


@admin.register(Business)
class BusinessAdmin(admin.ModelAdmin):
    list_display = ["name", "id", "created_at"]
    search_fields = ["name", "id"]
    readonly_fields = ["id", "created_at"]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "business", "created_at"]
    list_filter = ["business"]
    search_fields = ["user__username", "user__email", "business__name"]
    autocomplete_fields = ["business"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are minted here (the secret is shown once, in the confirmation message) and revoked."""

    list_display = ["name", "prefix_display", "business", "can_write", "created_at", "last_used_at", "status"]
    list_filter = ["business", "can_write", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix", "business__name"]
    readonly_fields = ["prefix", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke_keys"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["business", "name", "can_write"]
        return ["business", "name", "can_write", "prefix", "created_at", "last_used_at", "revoked_at"]

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "business"] if obj else self.readonly_fields

    @admin.display(description="Key prefix")
    def prefix_display(self, obj):
        return format_html("<code>{}…</code>", obj.prefix)

    @admin.display(description="Status")
    def status(self, obj):
        return "active" if obj.revoked_at is None else "revoked"

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        api_key, secret = api_key_create(business=obj.business, name=obj.name, can_write=obj.can_write)
        obj.pk, obj.prefix, obj.created_at = api_key.pk, api_key.prefix, api_key.created_at
        obj._state.adding = False
        messages.warning(
            request,
            format_html("Copy the new API key now; it is not shown again: <code>{}</code>", secret),
        )

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead, so the key's history stays

    @admin.action(description="Revoke selected API keys")
    def revoke_keys(self, request, queryset):
        count = 0
        for api_key in queryset.filter(revoked_at__isnull=True):
            api_key_revoke(api_key=api_key)
            count += 1
        self.message_user(request, f"Revoked {count} API key(s).", messages.SUCCESS)


@admin.register(ExchangeRate)
class ExchangeRateAdmin(admin.ModelAdmin):
    list_display = ["currency", "usd_per_unit", "updated_at"]
    search_fields = ["currency"]
