import json

from django.apps import apps
from django.contrib import admin, messages
from django.contrib.admin.models import LogEntry
from django.utils.html import format_html

from dodo_billing.errors import ApplicationError
from dodo_billing.models import (
    ApiKey,
    Business,
    ExchangeRate,
    Heartbeat,
    Membership,
    UserPreference,
    WebhookDelivery,
    WebhookDeliveryAttempt,
    WebhookEndpoint,
    WebhookEvent,
)
from dodo_billing.services import api_key_create, api_key_revoke
from dodo_billing.webhooks.endpoints import (
    ENDPOINT_UPDATABLE_FIELDS,
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_headers_update,
    webhook_endpoint_send_test,
    webhook_endpoint_update,
)
from dodo_billing.webhooks.outbox import webhook_delivery_retry_now


@admin.register(Business)
class BusinessAdmin(admin.ModelAdmin):
    list_display = ["name", "id", "payment_gateway", "created_at"]
    list_filter = ["payment_gateway"]
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


# --- Webhooks ------------------------------------------------------------------------------------


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    """Endpoints are created and changed through the webhook services; the secret is never shown
    whole (the API's GET /webhooks/{id}/secret gives it to the merchant)."""

    list_display = ["id", "url", "business", "disabled", "event_filter", "created_at", "deleted_at"]
    list_filter = ["business", "disabled", ("deleted_at", admin.EmptyFieldListFilter)]
    search_fields = ["id", "url", "description", "business__name"]
    fields = [
        "business",
        "url",
        "description",
        "disabled",
        "filter_types",
        "metadata",
        "headers",
        "rate_limit",
        "secret_hint",
        "created_at",
        "updated_at",
        "deleted_at",
    ]
    readonly_fields = ["secret_hint", "created_at", "updated_at", "deleted_at"]
    actions = ["send_test_event", "delete_endpoints"]

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "business"] if obj else self.readonly_fields

    @admin.display(description="Events")
    def event_filter(self, obj):
        return ", ".join(obj.filter_types) if obj.filter_types else "all"

    @admin.display(description="Signing secret")
    def secret_hint(self, obj):
        return format_html("<code>{}…</code>", obj.secret[:10]) if obj.pk else "generated on save"

    def save_model(self, request, obj, form, change):
        data = {field: form.cleaned_data.get(field) for field in ENDPOINT_UPDATABLE_FIELDS}
        try:
            if change:
                # ``obj`` already holds the form's values; the services compare with what is stored.
                endpoint = WebhookEndpoint.objects.get(pk=obj.pk)
                webhook_endpoint_update(endpoint=endpoint, **data)
                webhook_endpoint_headers_update(
                    endpoint=endpoint, headers=form.cleaned_data.get("headers") or {}, replace=True
                )
            else:
                created = webhook_endpoint_create(
                    business=form.cleaned_data["business"],
                    headers=form.cleaned_data.get("headers") or {},
                    **data,
                )
                obj.pk, obj.secret, obj.created_at = created.pk, created.secret, created.created_at
                obj._state.adding = False
        except ApplicationError as exc:  # the form's validators normally catch these first
            messages.error(request, exc.message)

    def has_delete_permission(self, request, obj=None):
        return False  # the "delete" action keeps the delivery log, as the API's DELETE does

    @admin.action(description="Send a test event to the selected endpoints")
    def send_test_event(self, request, queryset):
        sent = 0
        for endpoint in queryset:
            try:
                webhook_endpoint_send_test(endpoint=endpoint)
                sent += 1
            except ApplicationError as exc:
                self.message_user(request, f"{endpoint.id}: {exc.message}", messages.WARNING)
        self.message_user(request, f"Queued a webhook.test event for {sent} endpoint(s).", messages.SUCCESS)

    @admin.action(description="Delete the selected endpoints (keep their delivery log)")
    def delete_endpoints(self, request, queryset):
        count = 0
        for endpoint in queryset.filter(deleted_at__isnull=True):
            webhook_endpoint_delete(endpoint=endpoint)
            count += 1
        self.message_user(request, f"Deleted {count} endpoint(s).", messages.SUCCESS)


class _ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class WebhookDeliveryInline(_ReadOnlyInline):
    model = WebhookDelivery
    fields = ["endpoint", "status", "attempts", "next_attempt_at", "last_status_code", "last_error"]
    readonly_fields = fields
    show_change_link = True


class WebhookDeliveryAttemptInline(_ReadOnlyInline):
    model = WebhookDeliveryAttempt
    fields = [
        "number",
        "started_at",
        "duration_ms",
        "status_code",
        "succeeded",
        "error",
        "response_body",
        "url",
    ]
    readonly_fields = fields


class _ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Heartbeat)
class HeartbeatAdmin(_ReadOnlyAdmin):
    """When each Celery queue last ran its heartbeat task (what /health/ready checks)."""

    list_display = ["name", "beat_at"]
    search_fields = ["name"]


@admin.register(WebhookEvent)
class WebhookEventAdmin(_ReadOnlyAdmin):
    list_display = ["id", "type", "business", "created_at"]
    list_filter = ["type", "business"]
    search_fields = ["id", "type"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    fields = ["id", "business", "type", "created_at", "envelope"]
    readonly_fields = fields
    inlines = [WebhookDeliveryInline]

    @admin.display(description="Body sent (JSON)")
    def envelope(self, obj):
        try:
            pretty = json.dumps(json.loads(obj.payload), indent=2, ensure_ascii=False)
        except ValueError:
            pretty = obj.payload
        return format_html("<pre>{}</pre>", pretty)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(_ReadOnlyAdmin):
    """The delivery log: one row per event and endpoint, every HTTP attempt inline."""

    list_display = [
        "id",
        "event",
        "event_type",
        "endpoint",
        "status",
        "attempts",
        "last_status_code",
        "last_attempt_at",
        "next_attempt_at",
    ]
    list_filter = ["status", "event__type", "endpoint__business"]
    search_fields = ["event__id", "endpoint__id", "endpoint__url"]
    list_select_related = ["event", "endpoint"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    fields = [
        "event",
        "endpoint",
        "status",
        "attempts",
        "next_attempt_at",
        "last_attempt_at",
        "last_status_code",
        "last_error",
        "last_response_body",
        "created_at",
        "updated_at",
    ]
    readonly_fields = fields
    inlines = [WebhookDeliveryAttemptInline]
    actions = ["retry_now"]

    @admin.display(description="Type", ordering="event__type")
    def event_type(self, obj):
        return obj.event.type

    @admin.action(description="Retry the selected deliveries now")
    def retry_now(self, request, queryset):
        queued = sum(webhook_delivery_retry_now(delivery=delivery) for delivery in queryset)
        skipped = queryset.count() - queued
        self.message_user(
            request,
            f"Queued {queued} deliveries" + (f"; {skipped} had already succeeded." if skipped else "."),
            messages.SUCCESS,
        )


@admin.register(UserPreference)
class UserPreferenceAdmin(admin.ModelAdmin):
    """Dashboard users' remembered choices (columns, rows per page); deleting one resets them."""

    list_display = ["user", "tables"]
    search_fields = ["user__username", "user__email"]
    list_select_related = ["user"]
    readonly_fields = ["user"]

    def has_add_permission(self, request):
        return False  # created on first use by the dashboard

    @admin.display(description="Tables with saved choices")
    def tables(self, obj):
        return ", ".join(sorted((obj.data or {}).get("tables", {}))) or "—"


@admin.register(LogEntry)
class LogEntryAdmin(_ReadOnlyAdmin):
    """The admin's own audit trail: who changed what, when."""

    list_display = ["action_time", "user", "content_type", "object_repr", "action_flag"]
    list_filter = ["action_flag", "content_type"]
    search_fields = ["object_repr", "object_id", "user__username", "change_message"]
    list_select_related = ["user", "content_type"]
    date_hierarchy = "action_time"


if apps.is_installed("axes"):  # sign-in throttling; axes registers its other models itself
    from axes.models import AccessAttemptExpiration

    @admin.register(AccessAttemptExpiration)
    class AccessAttemptExpirationAdmin(_ReadOnlyAdmin):
        list_display = ["access_attempt", "expires_at"]
        search_fields = ["access_attempt__username", "access_attempt__ip_address"]
        list_select_related = ["access_attempt"]
        date_hierarchy = "expires_at"
