from django.contrib import admin

from metering.models import LicenseKey
from portal.models import PortalLink, PortalSession


@admin.register(PortalLink)
class PortalLinkAdmin(admin.ModelAdmin):
    """Read-only: links are made by the API or the dashboard, and hold only a token digest."""

    list_display = ["id", "customer", "created_at", "expires_at", "used_at"]
    list_filter = ["created_at"]
    search_fields = ["id", "customer__id", "customer__email"]
    readonly_fields = ["id", "customer", "token_digest", "return_url", "created_at", "expires_at", "used_at"]
    list_select_related = ["customer"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(PortalSession)
class PortalSessionAdmin(admin.ModelAdmin):
    list_display = ["id", "customer", "created_at", "last_seen_at", "expires_at", "ended_at"]
    list_filter = ["created_at"]
    search_fields = ["id", "customer__id", "customer__email"]
    readonly_fields = ["id", "customer", "link", "created_at", "last_seen_at", "expires_at", "ended_at"]
    list_select_related = ["customer"]
    actions = ["end_sessions"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="End the selected sessions (sign the customer out)")
    def end_sessions(self, request, queryset):
        from portal.services import portal_session_end

        for session in queryset.filter(ended_at__isnull=True):
            portal_session_end(session=session)


@admin.register(LicenseKey)
class LicenseKeyAdmin(admin.ModelAdmin):
    list_display = ["id", "customer", "product", "status", "activations_limit", "created_at"]
    list_filter = ["status", "created_at"]
    search_fields = ["id", "key", "customer__id", "customer__email", "payment__id"]
    readonly_fields = ["id", "business", "customer", "payment", "product", "key", "created_at"]
    list_select_related = ["customer", "product"]

    def has_add_permission(self, request):
        return False
