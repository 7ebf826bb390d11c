import django_filters

from dodo_billing.filtersets import BaseFilterSet, DateTimeFilter
from dodo_billing.money import CURRENCY_CHOICES
from metering.api.payloads import WIRE_PAYMENT_STATUS
from metering.models import Event, Meter, Payment, PaymentStatus, Refund, RefundStatus


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
    start = DateTimeFilter(
        field_name="timestamp", lookup_expr="gte", help_text="Events at or after this time."
    )
    end = DateTimeFilter(field_name="timestamp", lookup_expr="lt", help_text="Events before this time.")

    class Meta:
        model = Event
        fields = ["customer_id", "event_name", "start", "end"]


# The contract's IntentStatus values: the ``status`` filter of GET /payments takes these wire
# statuses (a payment's ``status`` field), not the internal ``payment_status``.
INTENT_STATUSES = (
    "succeeded",
    "failed",
    "cancelled",
    "processing",
    "requires_customer_action",
    "requires_merchant_action",
    "requires_payment_method",
    "requires_confirmation",
    "requires_capture",
    "partially_captured",
    "partially_captured_and_capturable",
)


class PaymentFilterSet(BaseFilterSet):
    customer_id = django_filters.CharFilter(
        field_name="customer_id", help_text="Only this customer's payments."
    )
    subscription_id = django_filters.CharFilter(
        field_name="subscription_id", help_text="Only this subscription's payments."
    )
    product_id = django_filters.CharFilter(
        field_name="product_id", help_text="Only purchases of this product."
    )
    brand_id = django_filters.CharFilter(
        field_name="business_id", help_text="The brand is the business (one brand per business)."
    )
    currency = django_filters.ChoiceFilter(
        choices=CURRENCY_CHOICES, help_text="Only payments in this currency."
    )
    status = django_filters.ChoiceFilter(
        choices=[(value, value) for value in INTENT_STATUSES],
        method="filter_status",
        help_text="The wire status (IntentStatus): succeeded also matches refunded payments.",
    )
    payment_status = django_filters.ChoiceFilter(
        choices=PaymentStatus.choices,
        field_name="status",
        help_text="Extension: the internal status (pending, processing, succeeded, failed, refunded).",
    )
    created_at_gte = DateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_at_lte = DateTimeFilter(field_name="created_at", lookup_expr="lte")

    class Meta:
        model = Payment
        fields = ["customer_id", "subscription_id", "product_id", "brand_id", "currency", "status",
                  "payment_status", "created_at_gte", "created_at_lte"]  # fmt: skip

    def filter_status(self, queryset, name, value):
        return queryset.filter(
            status__in=[internal for internal, wire in WIRE_PAYMENT_STATUS.items() if wire == value]
        )


class RefundFilterSet(BaseFilterSet):
    payment_id = django_filters.CharFilter(field_name="payment_id", help_text="Only this payment's refunds.")
    customer_id = django_filters.CharFilter(
        field_name="customer_id", help_text="Only this customer's refunds."
    )
    subscription_id = django_filters.CharFilter(
        field_name="payment__subscription_id", help_text="Only refunds of this subscription's payments."
    )
    status = django_filters.ChoiceFilter(
        choices=[*RefundStatus.choices, ("review", "review")],
        help_text="succeeded, failed, pending or review (never used here: matches nothing).",
    )
    destination = django_filters.ChoiceFilter(
        choices=Refund.Destination.choices, help_text="Extension: gateway or wallet."
    )
    created_at_gte = DateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_at_lte = DateTimeFilter(field_name="created_at", lookup_expr="lte")

    class Meta:
        model = Refund
        fields = ["payment_id", "customer_id", "subscription_id", "status", "destination",
                  "created_at_gte", "created_at_lte"]  # fmt: skip


# --- products and subscriptions ---------------------------------------------------------------------

from metering.models import PriceType, Product, Subscription, SubscriptionStatus  # noqa: E402


class ProductFilterSet(BaseFilterSet):
    archived = django_filters.BooleanFilter(
        method="filter_archived", help_text="true: only archived products; false or absent: only active ones."
    )
    recurring = django_filters.BooleanFilter(
        method="filter_recurring",
        help_text="true: recurring and usage-based prices only; false: one-time prices only; absent: both.",
    )
    brand_id = django_filters.CharFilter(
        field_name="business_id", help_text="The brand is the business (one brand per business)."
    )

    class Meta:
        model = Product
        fields = ["archived", "recurring", "brand_id"]

    @property
    def qs(self):
        queryset = super().qs
        if self.form.cleaned_data.get("archived") is None:  # absent: active products only
            queryset = queryset.filter(archived_at__isnull=True)
        return queryset

    def filter_archived(self, queryset, name, value):
        return queryset.filter(archived_at__isnull=not value)

    def filter_recurring(self, queryset, name, value):
        if value:
            return queryset.exclude(price_type=PriceType.ONE_TIME)
        return queryset.filter(price_type=PriceType.ONE_TIME)


class SubscriptionFilterSet(BaseFilterSet):
    customer_id = django_filters.CharFilter(
        field_name="customer_id", help_text="Only this customer's subscriptions."
    )
    product_id = django_filters.CharFilter(
        field_name="product_id", help_text="Only subscriptions to this product."
    )
    brand_id = django_filters.CharFilter(
        field_name="business_id", help_text="The brand is the business (one brand per business)."
    )
    status = django_filters.ChoiceFilter(choices=SubscriptionStatus.choices, help_text="Only this status.")
    cancel_at_next_billing_date = django_filters.BooleanFilter(
        field_name="cancel_at_next_billing_date", help_text="Only subscriptions (not) scheduled to cancel."
    )
    needs_attention = django_filters.BooleanFilter(
        field_name="needs_attention_at",
        lookup_expr="isnull",
        exclude=True,
        label="Needs attention",
        help_text="Only subscriptions whose billing gave up on a period (true) or not (false).",
    )
    created_at_gte = DateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_at_lte = DateTimeFilter(field_name="created_at", lookup_expr="lte")

    class Meta:
        model = Subscription
        fields = ["customer_id", "product_id", "brand_id", "status", "cancel_at_next_billing_date",
                  "needs_attention", "created_at_gte", "created_at_lte"]  # fmt: skip
