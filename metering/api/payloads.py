"""The contract's representations of billing objects: API responses and webhook ``data`` alike.

Fields the contract requires but this product has no concept of are given their neutral value and
documented in docs/billing.md: ``brand_id`` is the business id (one brand per business), ``addons``,
``disputes`` and the credit-entitlement carts are empty lists, ``payment_provider`` is ``"dodo"``.
"""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from dodo_billing.api.fields import MetadataField
from metering.models import Payment, PaymentStatus, RefundStatus

# Our payment statuses on the wire: the SDK's IntentStatus has no "pending" or "refunded"; a
# pending payment waits for the merchant (manual gateway) and a refunded one had succeeded.
WIRE_PAYMENT_STATUS = {
    PaymentStatus.PENDING: "requires_merchant_action",
    PaymentStatus.PROCESSING: "processing",
    PaymentStatus.SUCCEEDED: "succeeded",
    PaymentStatus.FAILED: "failed",
    PaymentStatus.REFUNDED: "succeeded",
}

BILLING_ADDRESS_SCHEMA = {
    "type": "object",
    "required": ["country"],
    "properties": {
        "country": {"type": "string"},
        "city": {"type": "string", "nullable": True},
        "state": {"type": "string", "nullable": True},
        "street": {"type": "string", "nullable": True},
        "zipcode": {"type": "string", "nullable": True},
    },
}


def billing_address(data: dict | None) -> dict:
    data = data or {}
    return {field: data.get(field) for field in ("country", "city", "state", "street", "zipcode")}


class CustomerLimitedSerializer(serializers.Serializer):
    customer_id = serializers.CharField(source="id")
    email = serializers.CharField()
    name = serializers.CharField()
    metadata = MetadataField()
    phone_number = serializers.CharField(allow_null=True)


class MeterCartItemSerializer(serializers.Serializer):
    meter_id = serializers.CharField()
    name = serializers.CharField(source="meter.name")
    description = serializers.CharField(source="meter.description", allow_null=True)
    measurement_unit = serializers.CharField(source="meter.measurement_unit")
    currency = serializers.CharField(source="subscription.currency")
    free_threshold = serializers.IntegerField()
    price_per_unit = serializers.SerializerMethodField()

    def get_price_per_unit(self, item) -> str:
        return decimal_string(item.price_per_unit)


def decimal_string(value) -> str:
    """A Decimal as the contract's decimal string, without exponent or trailing zeros: "0.02", "1500"."""
    text = format(value.normalize(), "f")
    return text


class SubscriptionSerializer(serializers.Serializer):
    subscription_id = serializers.CharField(source="id")
    business_id = serializers.CharField()
    brand_id = serializers.CharField(source="business_id")
    product_id = serializers.CharField()
    customer = CustomerLimitedSerializer()
    status = serializers.CharField()
    quantity = serializers.IntegerField()
    currency = serializers.CharField()
    recurring_pre_tax_amount = serializers.IntegerField(source="recurring_amount")
    included_credits = serializers.IntegerField()
    payment_frequency_count = serializers.IntegerField()
    payment_frequency_interval = serializers.CharField()
    subscription_period_count = serializers.IntegerField()
    subscription_period_interval = serializers.CharField()
    previous_billing_date = serializers.DateTimeField()
    next_billing_date = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    cancel_at_next_billing_date = serializers.BooleanField()
    cancelled_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    metadata = MetadataField()
    billing = serializers.SerializerMethodField()
    meters = MeterCartItemSerializer(source="subscription_meters", many=True)
    payment_method_id = serializers.CharField(allow_null=True)
    has_payment_method = serializers.SerializerMethodField()
    on_demand = serializers.SerializerMethodField()
    tax_inclusive = serializers.SerializerMethodField()
    trial_period_days = serializers.SerializerMethodField()
    addons = serializers.SerializerMethodField()
    credit_entitlement_cart = serializers.SerializerMethodField()
    meter_credit_entitlement_cart = serializers.SerializerMethodField()
    product_name = serializers.CharField(source="product.name")

    @extend_schema_field(BILLING_ADDRESS_SCHEMA)
    def get_billing(self, subscription) -> dict:
        return billing_address(subscription.billing)

    def get_has_payment_method(self, subscription) -> bool:
        return subscription.payment_method_id is not None

    def get_on_demand(self, subscription) -> bool:
        return False

    def get_tax_inclusive(self, subscription) -> bool:
        return bool(subscription.product.tax_inclusive)

    def get_trial_period_days(self, subscription) -> int:
        return subscription.trial_period_days

    @extend_schema_field({"type": "array", "items": {"type": "object"}})
    def get_addons(self, subscription) -> list:
        return []

    @extend_schema_field({"type": "array", "items": {"type": "object"}})
    def get_credit_entitlement_cart(self, subscription) -> list:
        return []

    @extend_schema_field({"type": "array", "items": {"type": "object"}})
    def get_meter_credit_entitlement_cart(self, subscription) -> list:
        return []


class RefundSerializer(serializers.Serializer):
    refund_id = serializers.CharField(source="id")
    payment_id = serializers.CharField()
    business_id = serializers.CharField()
    brand_id = serializers.CharField(source="business_id")
    customer = CustomerLimitedSerializer()
    amount = serializers.IntegerField()
    currency = serializers.CharField()
    destination = serializers.CharField()
    status = serializers.ChoiceField(choices=RefundStatus.choices)
    is_partial = serializers.SerializerMethodField()
    reason = serializers.CharField(allow_null=True)
    metadata = MetadataField()
    created_at = serializers.DateTimeField()

    def get_is_partial(self, refund) -> bool:
        return refund.amount < refund.payment.total_amount


class RefundListItemSerializer(serializers.Serializer):
    refund_id = serializers.CharField(source="id")
    payment_id = serializers.CharField()
    business_id = serializers.CharField()
    amount = serializers.IntegerField()
    currency = serializers.CharField()
    status = serializers.ChoiceField(choices=RefundStatus.choices)
    is_partial = serializers.SerializerMethodField()
    reason = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()

    def get_is_partial(self, refund) -> bool:
        return refund.amount < refund.payment.total_amount


class PaymentSerializer(serializers.Serializer):
    payment_id = serializers.CharField(source="id")
    business_id = serializers.CharField()
    brand_id = serializers.CharField(source="business_id")
    customer = CustomerLimitedSerializer()
    subscription_id = serializers.CharField(allow_null=True)
    subscription_ids = serializers.SerializerMethodField()
    invoice_id = serializers.CharField()
    currency = serializers.CharField()
    total_amount = serializers.IntegerField()
    wallet_amount = serializers.IntegerField(help_text="Paid from the customer's wallet.")
    gateway_amount = serializers.IntegerField(help_text="Charged through the payment gateway.")
    settlement_amount = serializers.IntegerField(source="total_amount")
    settlement_currency = serializers.CharField(source="currency")
    status = serializers.SerializerMethodField()
    payment_status = serializers.CharField(
        source="status", help_text="pending, processing, succeeded, failed or refunded."
    )
    refund_status = serializers.SerializerMethodField()
    pricing_type = serializers.CharField()
    includes_usage = serializers.SerializerMethodField()
    gateway = serializers.CharField()
    payment_provider = serializers.SerializerMethodField()
    payment_method_id = serializers.CharField(allow_null=True)
    payment_method = serializers.SerializerMethodField()
    payment_method_type = serializers.SerializerMethodField()
    card_last_four = serializers.SerializerMethodField()
    card_network = serializers.SerializerMethodField()
    retry_attempt = serializers.SerializerMethodField(
        help_text="Retries after the first charge (0 = the original)."
    )
    error_code = serializers.CharField(allow_null=True)
    error_message = serializers.CharField(allow_null=True)
    billing = serializers.SerializerMethodField()
    metadata = MetadataField()
    refunds = RefundListItemSerializer(many=True)
    service_periods = serializers.SerializerMethodField()
    product_cart = serializers.SerializerMethodField()
    digital_products_delivered = serializers.SerializerMethodField()
    disputes = serializers.SerializerMethodField()
    is_multi_subscription = serializers.SerializerMethodField()
    is_update_payment_method = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_retry_attempt(self, payment: Payment) -> int:
        return max(payment.retry_attempt - 1, 0)

    def get_subscription_ids(self, payment: Payment) -> list[str]:
        return [payment.subscription_id] if payment.subscription_id else []

    def get_status(self, payment: Payment) -> str:
        return WIRE_PAYMENT_STATUS[payment.status]

    @extend_schema_field({"type": "string", "enum": ["partial", "full"], "nullable": True})
    def get_refund_status(self, payment: Payment):
        refunded = sum(r.amount for r in payment.refunds.all() if r.status == RefundStatus.SUCCEEDED)
        if not refunded:
            return None
        return "full" if refunded >= payment.total_amount else "partial"

    def get_includes_usage(self, payment: Payment) -> bool:
        return payment.pricing_type == "usage_based_price"

    def get_payment_provider(self, payment: Payment) -> str:
        return "dodo"

    @extend_schema_field({"type": "string", "nullable": True})
    def get_payment_method(self, payment: Payment):
        return "card" if payment.payment_method_id else ("wallet" if payment.gateway_amount == 0 else None)

    @extend_schema_field({"type": "string", "nullable": True})
    def get_payment_method_type(self, payment: Payment):
        return "credit" if payment.payment_method_id else None

    @extend_schema_field({"type": "string", "nullable": True})
    def get_card_last_four(self, payment: Payment):
        return payment.payment_method.card_last_four if payment.payment_method_id else None

    @extend_schema_field({"type": "string", "nullable": True})
    def get_card_network(self, payment: Payment):
        return payment.payment_method.card_network.lower() if payment.payment_method_id else None

    @extend_schema_field(BILLING_ADDRESS_SCHEMA)
    def get_billing(self, payment: Payment) -> dict:
        return billing_address(payment.billing)

    @extend_schema_field({"type": "array", "items": {"type": "object"}})
    def get_service_periods(self, payment: Payment) -> list:
        invoice = payment.invoice
        paid = payment.status in (PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED)
        if not paid or not payment.subscription_id or invoice.period_start is None:
            return []
        return [
            {
                "subscription_id": payment.subscription_id,
                "starts_at": serializers.DateTimeField().to_representation(invoice.period_start),
                "ends_at": serializers.DateTimeField().to_representation(invoice.period_end),
                "proration_factor": "1",
            }
        ]

    @extend_schema_field({"type": "array", "items": {"type": "object"}, "nullable": True})
    def get_product_cart(self, payment: Payment):
        return [{"product_id": payment.product_id, "quantity": 1}] if payment.product_id else None

    def get_digital_products_delivered(self, payment: Payment) -> bool:
        return False

    @extend_schema_field({"type": "array", "items": {"type": "object"}})
    def get_disputes(self, payment: Payment) -> list:
        return []

    def get_is_multi_subscription(self, payment: Payment) -> bool:
        return False

    def get_is_update_payment_method(self, payment: Payment) -> bool:
        return False


def payment_data(payment) -> dict:
    return {**PaymentSerializer(payment).data, "payload_type": "Payment"}


def subscription_data(subscription) -> dict:
    return {**SubscriptionSerializer(subscription).data, "payload_type": "Subscription"}


def refund_data(refund) -> dict:
    return {**RefundSerializer(refund).data, "payload_type": "Refund"}
