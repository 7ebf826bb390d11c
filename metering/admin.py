from django import forms
from django.contrib import admin, messages
from django.http import Http404, HttpResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.text import capfirst

from dodo_billing.errors import ApplicationError
from dodo_billing.forms import JSONField
from dodo_billing.money import format_money
from dodo_billing.pagination import BoundedCountPaginator
from dodo_billing.validation import metadata_problem
from metering.api.payloads import decimal_string
from metering.forms import MeterAdminForm
from metering.gateways import SANDBOX_CARDS
from metering.invoice_pdf import invoice_pdf_filename, render_invoice_pdf
from metering.models import (
    Event,
    GatewayCharge,
    Invoice,
    InvoiceLine,
    Meter,
    Payment,
    PaymentMethod,
    PriceType,
    Product,
    ProductMeter,
    Refund,
    Subscription,
    SubscriptionMeter,
    SubscriptionStatus,
)
from metering.selectors.payments import invoice_for_payment
from metering.services import meter_archive, meter_create, meter_unarchive, meter_update
from metering.services.billing import (
    _price_fields,
    payment_method_create,
    product_archive,
    product_create,
    product_unarchive,
    product_update,
    subscription_cancel,
    subscription_update,
)
from metering.services.billing_attention import subscription_billing_retry
from metering.services.payments import payment_mark_paid, payment_retry


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


# --- billing ----------------------------------------------------------------------------------------
# Every change to a product, subscription, payment or payment method goes through the billing
# services; invoices, payments, gateway charges and refunds are read-only records of money moved.


class ReadOnlyAdminMixin:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def _apply(modeladmin, request, queryset, service, verb: str) -> None:
    """Call ``service`` on each selected object; report successes and each refusal."""
    done = 0
    for obj in queryset:
        try:
            service(obj)
        except ApplicationError as exc:
            modeladmin.message_user(
                request, f"{capfirst(modeladmin.opts.verbose_name)} {obj.pk}: {exc.message}", messages.ERROR
            )
        else:
            done += 1
    if done:
        modeladmin.message_user(
            request, f"{verb} {done} {modeladmin.opts.verbose_name_plural}.", messages.SUCCESS
        )


def _money(amount, currency) -> str:
    return format_money(amount, currency) if amount is not None else "-"


def _clean_metadata(value) -> dict:
    value = value or {}
    problem = metadata_problem(value)
    if problem:
        raise forms.ValidationError(problem[1])
    return value


class ProductAdminForm(forms.ModelForm):
    """A product with the API's rules: the price fields become the contract's ``price`` object,
    checked like the API does, and the product is saved by product_create / product_update."""

    meters = JSONField(
        required=False,
        help_text='Usage-based prices only: [{"meter_id": "mtr_…", "price_per_unit": "0.02", '
        '"free_threshold": 1000}]',
    )

    class Meta:
        model = Product
        fields = [
            "business",
            "name",
            "description",
            "tax_category",
            "metadata",
            "wallet_top_up",
            "price_type",
            "currency",
            "price",
            "fixed_price",
            "included_credits",
            "tax_inclusive",
            "payment_frequency_count",
            "payment_frequency_interval",
            "subscription_period_count",
            "subscription_period_interval",
            "trial_period_days",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and not self.instance._state.adding:
            self.initial["meters"] = [
                {
                    "meter_id": pm.meter_id,
                    "price_per_unit": decimal_string(pm.price_per_unit),
                    "free_threshold": pm.free_threshold,
                }
                for pm in self.instance.product_meters.all()
            ]

    def clean_metadata(self):
        return _clean_metadata(self.cleaned_data.get("metadata"))

    def price(self) -> dict:
        data = self.cleaned_data
        kind = data.get("price_type")
        price = {"type": kind, "currency": data.get("currency"), "tax_inclusive": data.get("tax_inclusive")}
        if kind == PriceType.USAGE_BASED:
            price.update(
                fixed_price=data.get("fixed_price") or 0,
                included_credits=data.get("included_credits") or 0,
                meters=data.get("meters") or None,
            )
        else:
            price["price"] = data.get("price") or 0
        if kind != PriceType.ONE_TIME:
            for field in (
                "payment_frequency_count",
                "payment_frequency_interval",
                "subscription_period_count",
                "subscription_period_interval",
                "trial_period_days",
            ):
                price[field] = data.get(field)
        return price

    def clean(self):
        data = super().clean()
        business = data.get("business") or getattr(self.instance, "business", None)
        if business is None or self.errors:
            return data
        try:
            _price_fields(business, self.price())
        except ApplicationError as exc:
            raise forms.ValidationError(exc.message) from exc
        if data.get("wallet_top_up") and data.get("price_type") != PriceType.ONE_TIME:
            self.add_error("wallet_top_up", "wallet_top_up applies to one-time products only.")
        return data


class ProductMeterInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = ProductMeter
    fields = ["meter", "price_per_unit", "free_threshold", "position"]
    readonly_fields = fields
    extra = 0
    verbose_name = "meter (edit in the Meters field above)"


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    form = ProductAdminForm
    list_display = [
        "name",
        "id",
        "business",
        "price_type",
        "price_display",
        "currency",
        "wallet_top_up",
        "archived",
        "created_at",
    ]
    list_filter = [
        "business",
        "price_type",
        "currency",
        "wallet_top_up",
        ("archived_at", admin.EmptyFieldListFilter),
    ]
    search_fields = ["=id", "name"]
    readonly_fields = ["id", "created_at", "updated_at", "archived_at"]
    inlines = [ProductMeterInline]
    actions = ["archive", "unarchive"]

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "business"] if obj else self.readonly_fields

    @admin.display(description="Price")
    def price_display(self, obj):
        if obj.price_type == PriceType.USAGE_BASED:
            return f"{_money(obj.fixed_price, obj.currency)} + usage"
        return _money(obj.price, obj.currency)

    @admin.display(boolean=True, description="Archived")
    def archived(self, obj):
        return obj.archived_at is not None

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        fields = {
            "name": data["name"],
            "description": data.get("description") or None,
            "tax_category": data["tax_category"],
            "metadata": data.get("metadata") or {},
            "wallet_top_up": bool(data.get("wallet_top_up")),
        }
        if change:
            product_update(product=obj, price=form.price(), **fields)
            return
        created = product_create(business=data["business"], price=form.price(), **fields)
        obj.pk = created.pk
        obj._state.adding = False

    def has_delete_permission(self, request, obj=None):
        return False  # subscriptions, invoices and payments refer to products: archive instead

    @admin.action(description="Archive selected products")
    def archive(self, request, queryset):
        _apply(self, request, queryset, lambda product: product_archive(product=product), "Archived")

    @admin.action(description="Unarchive selected products")
    def unarchive(self, request, queryset):
        _apply(self, request, queryset, lambda product: product_unarchive(product=product), "Unarchived")


class SubscriptionMeterInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = SubscriptionMeter
    fields = ["meter", "price_per_unit", "free_threshold", "position"]
    readonly_fields = fields
    extra = 0


class NeedsAttentionFilter(admin.SimpleListFilter):
    title = "billing"
    parameter_name = "needs_attention"

    def lookups(self, request, model_admin):
        return [("yes", "Needs attention"), ("no", "Billing normally")]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(needs_attention_at__isnull=self.value() == "no")
        return queryset


class SubscriptionAdminForm(forms.ModelForm):
    """What subscription_update may change: metadata, payment method, cancel at the period end."""

    class Meta:
        model = Subscription
        fields = ["metadata", "payment_method", "cancel_at_next_billing_date"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "payment_method" in self.fields:
            self.fields["payment_method"].queryset = PaymentMethod.objects.filter(
                customer_id=self.instance.customer_id
            )

    def clean_metadata(self):
        return _clean_metadata(self.cleaned_data.get("metadata"))


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    form = SubscriptionAdminForm
    list_display = [
        "id",
        "customer",
        "product",
        "status",
        "recurring_display",
        "next_billing_date",
        "cancel_at_next_billing_date",
        "attention_display",
        "business",
        "created_at",
    ]
    list_filter = [
        NeedsAttentionFilter,
        "status",
        "business",
        "payment_frequency_interval",
        "cancel_at_next_billing_date",
    ]
    search_fields = ["=id", "=customer__id", "customer__email", "=product__id", "product__name"]
    list_select_related = ["customer", "product", "business"]
    readonly_fields = [
        "id",
        "business",
        "customer",
        "product",
        "status",
        "quantity",
        "currency",
        "recurring_amount",
        "included_credits",
        "payment_frequency_count",
        "payment_frequency_interval",
        "subscription_period_count",
        "subscription_period_interval",
        "billing_anchor",
        "period_index",
        "previous_billing_date",
        "next_billing_date",
        "expires_at",
        "cancelled_at",
        "needs_attention_at",
        "billing_attempts",
        "billing_error",
        "billing",
        "created_at",
        "updated_at",
    ]
    inlines = [SubscriptionMeterInline]
    actions = ["cancel_at_period_end", "cancel_now", "retry_billing"]

    @admin.display(description="Recurring")
    def recurring_display(self, obj):
        return _money(obj.recurring_amount, obj.currency)

    @admin.display(description="Billing", ordering="needs_attention_at")
    def attention_display(self, obj):
        if obj.needs_attention_at is None:
            return "-"
        return format_html('<strong title="{}">needs attention</strong>', obj.billing_error)

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.status in (SubscriptionStatus.CANCELLED, SubscriptionStatus.EXPIRED):
            return [*self.readonly_fields, "cancel_at_next_billing_date"]  # an ended one cannot resume
        return self.readonly_fields

    def has_add_permission(self, request):
        return False  # subscriptions start through the API or the dashboard

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        changes = {field: form.cleaned_data[field] for field in form.changed_data}
        if "metadata" in changes:
            changes["metadata"] = changes["metadata"] or {}
        if changes:
            subscription_update(subscription=Subscription.objects.get(pk=obj.pk), **changes)

    @admin.action(description="Cancel at the end of the current period")
    def cancel_at_period_end(self, request, queryset):
        _apply(
            self,
            request,
            queryset,
            lambda s: subscription_cancel(subscription=s, at_period_end=True),
            "Updated",
        )

    @admin.action(description="Cancel now (bills the partial period)")
    def cancel_now(self, request, queryset):
        _apply(self, request, queryset, lambda s: subscription_cancel(subscription=s), "Cancelled")

    @admin.action(description="Retry billing (subscriptions that need attention)")
    def retry_billing(self, request, queryset):
        _apply(self, request, queryset, lambda s: subscription_billing_retry(subscription=s), "Billed")


class InvoiceLineInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = InvoiceLine
    fields = [
        "position",
        "kind",
        "description",
        "meter",
        "consumed_units",
        "free_threshold",
        "chargeable_units",
        "price_per_unit",
        "amount",
    ]
    readonly_fields = fields
    extra = 0


@admin.register(Invoice)
class InvoiceAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "customer",
        "subscription_id",
        "subtotal_display",
        "credits_applied",
        "wallet_applied",
        "amount_due",
        "currency",
        "period_start",
        "created_at",
        "pdf_link",
    ]
    list_filter = ["currency", "business"]
    search_fields = ["=id", "=customer__id", "customer__email", "=subscription__id", "=payment__id"]
    list_select_related = ["customer", "payment"]
    inlines = [InvoiceLineInline]
    paginator = BoundedCountPaginator
    show_full_result_count = False

    @admin.display(description="Subtotal")
    def subtotal_display(self, obj):
        return _money(obj.subtotal, obj.currency)

    @admin.display(description="PDF")
    def pdf_link(self, obj):
        if not hasattr(obj, "payment"):
            return "-"
        return format_html('<a href="{}">PDF</a>', reverse("admin:metering_invoice_pdf", args=[obj.pk]))

    def get_urls(self):
        view = self.admin_site.admin_view(self.pdf_view)
        return [path("<str:invoice_id>/pdf/", view, name="metering_invoice_pdf"), *super().get_urls()]

    def pdf_view(self, request, invoice_id):
        invoice = Invoice.objects.filter(pk=invoice_id).select_related("payment").first()
        if (
            invoice is None
            or not self.has_view_permission(request, invoice)
            or not hasattr(invoice, "payment")
        ):
            raise Http404("No invoice with a payment has this id.")
        invoice = invoice_for_payment(business=invoice.business, payment_id=invoice.payment.pk)
        response = HttpResponse(render_invoice_pdf(invoice), content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="{invoice_pdf_filename(invoice)}"'
        return response


class GatewayChargeInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = GatewayCharge
    fields = ["attempt", "gateway", "amount", "outcome", "error_code", "created_at", "updated_at"]
    readonly_fields = fields
    extra = 0


class RefundInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Refund
    fields = ["id", "amount", "destination", "status", "reason", "created_at"]
    readonly_fields = fields
    extra = 0
    show_change_link = True


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only; the two actions call payment_mark_paid and payment_retry."""

    list_display = [
        "id",
        "customer",
        "status",
        "total_display",
        "wallet_amount",
        "gateway_amount",
        "currency",
        "gateway",
        "retry_attempt",
        "subscription_id",
        "created_at",
    ]
    list_filter = ["status", "gateway", "currency", "pricing_type", "business"]
    search_fields = ["=id", "=customer__id", "customer__email", "=subscription__id", "=invoice__id"]
    list_select_related = ["customer"]
    inlines = [GatewayChargeInline, RefundInline]
    actions = ["mark_paid", "retry"]
    paginator = BoundedCountPaginator
    show_full_result_count = False

    @admin.display(description="Total")
    def total_display(self, obj):
        return _money(obj.total_amount, obj.currency)

    def has_billing_permission(self, request):
        return request.user.has_perm("metering.change_payment")

    @admin.action(
        description="Mark selected payments paid (received outside the gateway)", permissions=["billing"]
    )
    def mark_paid(self, request, queryset):
        _apply(self, request, queryset, lambda payment: payment_mark_paid(payment=payment), "Marked paid")

    @admin.action(description="Retry selected failed payments now", permissions=["billing"])
    def retry(self, request, queryset):
        _apply(self, request, queryset, lambda payment: payment_retry(payment=payment), "Retried")


@admin.register(GatewayCharge)
class GatewayChargeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["payment", "attempt", "gateway", "amount", "outcome", "error_code", "created_at"]
    list_filter = ["outcome", "gateway", "error_code"]
    search_fields = ["=payment__id"]
    paginator = BoundedCountPaginator
    show_full_result_count = False


@admin.register(Refund)
class RefundAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "payment",
        "customer",
        "amount_display",
        "destination",
        "status",
        "reason",
        "created_at",
    ]
    list_filter = ["status", "destination", "currency", "business"]
    search_fields = ["=id", "=payment__id", "=customer__id", "customer__email"]
    list_select_related = ["payment", "customer"]
    paginator = BoundedCountPaginator
    show_full_result_count = False

    @admin.display(description="Amount")
    def amount_display(self, obj):
        return _money(obj.amount, obj.currency)


class PaymentMethodAdminForm(forms.ModelForm):
    class Meta:
        model = PaymentMethod
        fields = ["customer", "card_number"]

    def clean_card_number(self):
        # payment_method_create stores sandbox test cards only (never a real card number).
        digits = "".join(ch for ch in self.cleaned_data["card_number"] if ch.isdigit())
        if digits not in SANDBOX_CARDS:
            raise forms.ValidationError(
                f"Only the sandbox test cards are accepted: {', '.join(SANDBOX_CARDS)}."
            )
        return digits


@admin.register(PaymentMethod)
class PaymentMethodAdmin(admin.ModelAdmin):
    """Added through payment_method_create (sandbox test cards); never edited or deleted."""

    form = PaymentMethodAdminForm
    list_display = ["id", "customer", "card_network", "card_last_four", "created_at"]
    list_filter = ["card_network", "business"]
    search_fields = ["=id", "=customer__id", "customer__email", "card_last_four"]
    list_select_related = ["customer"]
    autocomplete_fields = ["customer"]

    def get_fields(self, request, obj=None):
        return (
            ["customer", "card_number"]
            if obj is None
            else ["id", "customer", "card_network", "card_last_four", "created_at"]
        )

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.get_fields(request, obj)

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        created = payment_method_create(
            customer=form.cleaned_data["customer"], card_number=form.cleaned_data["card_number"]
        )
        obj.pk = created.pk
        obj._state.adding = False


# --- rows shown inline elsewhere, also listed on their own (read-only) ------------------------------


@admin.register(ProductMeter)
class ProductMeterAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """A product's usage prices; changed with the product (ProductAdmin), read-only here."""

    list_display = ["product", "meter", "price_per_unit", "free_threshold", "position"]
    list_filter = ["product__business"]
    search_fields = ["=product__id", "product__name", "=meter__id", "meter__name"]
    list_select_related = ["product", "meter"]


@admin.register(SubscriptionMeter)
class SubscriptionMeterAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """A subscription's usage prices, copied from its product when it started."""

    list_display = ["subscription", "meter", "price_per_unit", "free_threshold", "position"]
    list_filter = ["subscription__business"]
    search_fields = ["=subscription__id", "=subscription__customer__id", "=meter__id", "meter__name"]
    list_select_related = ["subscription", "meter"]


@admin.register(InvoiceLine)
class InvoiceLineAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Lines of invoices: records of money billed, never changed."""

    list_display = ["invoice", "kind", "description", "meter", "chargeable_units", "amount_display"]
    list_filter = ["kind", "invoice__currency", "invoice__business"]
    search_fields = ["=invoice__id", "=invoice__customer__id", "description"]
    list_select_related = ["invoice", "meter"]
    paginator = BoundedCountPaginator
    show_full_result_count = False

    @admin.display(description="Amount")
    def amount_display(self, obj):
        return _money(obj.amount, obj.invoice.currency)
