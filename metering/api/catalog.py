"""REST API of the catalog and subscriptions: products, subscriptions, usage history, payment methods.

Representations follow the SDK's types (``Product``, ``ProductListResponse``, ``Subscription``,
``SubscriptionListResponse``, ``SubscriptionCreateResponse``,
``SubscriptionRetrieveUsageHistoryResponse``, ``CustomerRetrievePaymentMethodsResponse``); the
subscription itself is ``metering.api.payloads.SubscriptionSerializer``, shared with webhooks.

Contract fields this server cannot honour (discounts, add-ons, entitlements, trials, …) are accepted
only with their neutral value (absent, null, 0, false, []); anything else is a 400 naming the field,
never silently dropped. docs/billing_api.md lists them.
"""

import re
from collections.abc import Callable

from django.db import transaction
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.response import Response

from customers.api.serializers import CustomerCreateSerializer
from customers.selectors import customer_get
from customers.services import customer_create
from dodo_billing.api.fields import MetadataField, StrictCharField, StrictChoiceField, StrictIntegerField
from dodo_billing.api.views import BusinessAPIView, error_responses, filterset_parameters
from dodo_billing.datetimes import parse_datetime_utc
from dodo_billing.errors import InvalidQueryParams, InvalidRequestBody, InvalidRequestParameters
from metering.api.payloads import (
    BILLING_ADDRESS_SCHEMA,
    CustomerLimitedSerializer,
    SubscriptionSerializer,
    decimal_string,
)
from metering.filtersets import ProductFilterSet, SubscriptionFilterSet
from metering.gateways import SANDBOX_CARDS
from metering.models import PriceType, Product, ProductMeter, SubscriptionStatus, TaxCategory, TimeInterval
from metering.selectors import (
    payment_method_get,
    payment_method_list,
    product_get,
    product_list,
    subscription_get,
    subscription_list,
    subscription_usage_history,
)
from metering.services.billing import (
    payment_method_create,
    product_archive,
    product_create,
    product_unarchive,
    product_update,
    subscription_cancel,
    subscription_create,
    subscription_update,
)

LOCALE = OpenApiParameter(
    "locale", str, OpenApiParameter.QUERY, required=False, description="Accepted; ignored."
)
DECIMAL_STRING = re.compile(r"^[0-9]+(\.[0-9]+)?$")


# --- contract fields without support here: only their neutral value is accepted -------------------


def _absent(value) -> bool:
    return value is None


def _empty(value) -> bool:
    return value is None or value == []


def _zero(value) -> bool:
    return value is None or (type(value) is int and value == 0)


def _false(value) -> bool:
    return value is None or value is False


def reject_unsupported(
    data: dict, rules: dict[str, Callable], *, prefix: str = "", codes: dict[str, str] | None = None
) -> None:
    """400 for the first field of ``rules`` that ``data`` holds with a value other than its neutral one."""
    for field, neutral in rules.items():
        if field in data and not neutral(data[field]):
            raise InvalidRequestParameters(
                f"{prefix}{field}: not supported by this server (send it absent, null, 0, false or []).",
                code=(codes or {}).get(field),
                extra={"field": f"{prefix}{field}"},
            )


PRODUCT_UNSUPPORTED = {
    "addons": _empty,
    "credit_entitlements": _empty,
    "digital_product_delivery": _absent,
    "entitlements": _empty,
    "image_id": _absent,
    "pricing_mode": _absent,
}
PRICE_UNSUPPORTED = {
    "discount": _zero,
    "discount_bps": _zero,
    "pay_what_you_want": _false,
    "purchasing_power_parity": _false,
    "trial_amount": _absent,
}
PRICE_METER_UNSUPPORTED = {"credit_entitlement_id": _absent, "meter_units_per_credit": _absent}
SUBSCRIPTION_CREATE_UNSUPPORTED = {
    "addons": _empty,
    "customer_business_name": _absent,
    "discount_code": _absent,
    "discount_codes": _empty,
    "on_demand": _absent,
    "one_time_product_cart": _empty,
    "payment_link": _false,
    "tax_id": _absent,
    "trial_period_days": _zero,
}
USAGE_BASED_CODES = {
    "addons": "ADDONS_IN_USAGE_BASED_BILLING_NOT_SUPPORTED",
    "on_demand": "ON_DEMAND_USAGE_BASED_BILLING_NOT_SUPPORTED",
}
SUBSCRIPTION_UPDATE_UNSUPPORTED = {
    "credit_entitlement_cart": _empty,
    "customer_business_name": _absent,
    "customer_name": _absent,
    "disable_on_demand": _absent,
    "next_billing_date": _absent,
    "pause": _false,
    "subscription_period_count": _absent,
    "subscription_period_interval": _absent,
    "tax_id": _absent,
}


def check_price(price) -> None:
    """What the billing service does not check itself: the wire format of ``price_per_unit``, fields of
    another price type, and contract fields without support. The service checks the rest."""
    if not isinstance(price, dict):
        return  # the service answers with the expected shape
    reject_unsupported(price, PRICE_UNSUPPORTED, prefix="price.")
    if price.get("tax_inclusive") is not None and not isinstance(price["tax_inclusive"], bool):
        raise InvalidRequestBody("price.tax_inclusive: true, false or null.")
    usage_based = price.get("type") == PriceType.USAGE_BASED
    if not usage_based and not _zero(price.get("included_credits")):
        raise InvalidRequestBody("price.included_credits: only a usage_based_price has included credits.")
    meters = price.get("meters")
    if not usage_based and not _empty(meters):
        raise InvalidRequestBody("price.meters: only a usage_based_price has meters.")
    if isinstance(meters, list):
        for index, item in enumerate(meters):
            if not isinstance(item, dict):
                continue  # the service names the bad item
            reject_unsupported(item, PRICE_METER_UNSUPPORTED, prefix=f"price.meters[{index}].")
            ppu = item.get("price_per_unit")
            if isinstance(ppu, str) and not DECIMAL_STRING.match(ppu):
                raise InvalidRequestBody(
                    f'price.meters[{index}].price_per_unit: a decimal string of digits, e.g. "0.02".'
                )


def check_brand(data: dict, business) -> None:
    brand_id = data.get("brand_id")
    if brand_id is not None and brand_id != business.id:
        raise InvalidRequestParameters(
            f"brand_id: the only brand of this business is {business.id}.", extra={"field": "brand_id"}
        )


# --- serializers: products ------------------------------------------------------------------------


class StrictBooleanField(serializers.BooleanField):
    default_error_messages = {"invalid": "Must be true or false (a JSON boolean)."}

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


_PERIODIC = {
    "payment_frequency_count": {"type": "integer", "minimum": 1},
    "payment_frequency_interval": {"type": "string", "enum": list(TimeInterval.values)},
    "subscription_period_count": {"type": "integer", "minimum": 1},
    "subscription_period_interval": {"type": "string", "enum": list(TimeInterval.values)},
}
METER_PRICE_SCHEMA = {
    "type": "object",
    "required": ["meter_id"],
    "properties": {
        "meter_id": {"type": "string"},
        "price_per_unit": {
            "type": "string",
            "description": "Minor units per unit, > 0, at most 5 digits before the point and 12 after.",
        },
        "free_threshold": {"type": "integer", "minimum": 0, "nullable": True},
        "name": {"type": "string", "nullable": True, "readOnly": True},
        "description": {"type": "string", "nullable": True, "readOnly": True},
        "measurement_unit": {"type": "string", "nullable": True, "readOnly": True},
    },
}
PRICE_SCHEMA = {
    "oneOf": [
        {
            "type": "object",
            "title": "one_time_price",
            "required": ["type", "currency", "price"],
            "properties": {
                "type": {"type": "string", "enum": ["one_time_price"]},
                "currency": {"type": "string"},
                "price": {"type": "integer", "minimum": 0},
                "tax_inclusive": {"type": "boolean", "nullable": True},
            },
        },
        {
            "type": "object",
            "title": "recurring_price",
            "required": ["type", "currency", "price", *_PERIODIC],
            "properties": {
                "type": {"type": "string", "enum": ["recurring_price"]},
                "currency": {"type": "string"},
                "price": {"type": "integer", "minimum": 0},
                **_PERIODIC,
                "tax_inclusive": {"type": "boolean", "nullable": True},
            },
        },
        {
            "type": "object",
            "title": "usage_based_price",
            "required": ["type", "currency", "fixed_price", *_PERIODIC],
            "properties": {
                "type": {"type": "string", "enum": ["usage_based_price"]},
                "currency": {"type": "string"},
                "fixed_price": {"type": "integer", "minimum": 0},
                **_PERIODIC,
                "meters": {"type": "array", "maxItems": 10, "items": METER_PRICE_SCHEMA, "nullable": True},
                "included_credits": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "Extension: allowance per cycle in minor units, spent before the wallet.",
                },
                "tax_inclusive": {"type": "boolean", "nullable": True},
            },
        },
    ],
    "discriminator": {"propertyName": "type"},
}


def meter_price_data(priced: ProductMeter) -> dict:
    return {
        "meter_id": priced.meter_id,
        "name": priced.meter.name,
        "description": priced.meter.description,
        "measurement_unit": priced.meter.measurement_unit,
        "price_per_unit": decimal_string(priced.price_per_unit),
        "free_threshold": priced.free_threshold,
        "credit_entitlement_id": None,
        "meter_units_per_credit": None,
    }


def price_data(product: Product) -> dict:
    """The contract's price union for a product (neutral values for what is not supported)."""
    data = {
        "type": product.price_type,
        "currency": product.currency,
        "discount": 0,
        "discount_bps": 0,
        "purchasing_power_parity": False,
        "tax_inclusive": product.tax_inclusive,
    }
    if product.price_type == PriceType.ONE_TIME:
        return {**data, "price": product.price, "pay_what_you_want": False, "suggested_price": None}
    data.update(
        payment_frequency_count=product.payment_frequency_count,
        payment_frequency_interval=product.payment_frequency_interval,
        subscription_period_count=product.subscription_period_count,
        subscription_period_interval=product.subscription_period_interval,
    )
    if product.price_type == PriceType.RECURRING:
        return {**data, "price": product.price, "trial_period_days": product.trial_period_days}
    return {
        **data,
        "fixed_price": product.fixed_price,
        "included_credits": product.included_credits,
        "meters": [meter_price_data(priced) for priced in product.product_meters.all()],
    }


class ProductSerializer(serializers.Serializer):
    """The SDK's ``Product``."""

    product_id = serializers.CharField(source="id")
    business_id = serializers.CharField()
    brand_id = serializers.CharField(source="business_id")
    name = serializers.CharField()
    description = serializers.CharField(allow_null=True)
    tax_category = serializers.CharField()
    is_recurring = serializers.BooleanField()
    price = serializers.SerializerMethodField()
    metadata = MetadataField()
    wallet_top_up = serializers.BooleanField(help_text="Extension: a paid purchase credits the wallet.")
    archived = serializers.SerializerMethodField(help_text="Extension: archived products are not sold.")
    credit_entitlements = serializers.SerializerMethodField()
    entitlements = serializers.SerializerMethodField()
    addons = serializers.SerializerMethodField()
    license_key_enabled = serializers.SerializerMethodField()
    image = serializers.SerializerMethodField()
    pricing_mode = serializers.SerializerMethodField()
    product_collection_id = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    @extend_schema_field(PRICE_SCHEMA)
    def get_price(self, product) -> dict:
        return price_data(product)

    def get_archived(self, product) -> bool:
        return product.archived_at is not None

    @extend_schema_field({"type": "array", "items": {"type": "object"}})
    def get_credit_entitlements(self, product) -> list:
        return []

    @extend_schema_field({"type": "array", "items": {"type": "object"}})
    def get_entitlements(self, product) -> list:
        return []

    @extend_schema_field({"type": "array", "items": {"type": "string"}})
    def get_addons(self, product) -> list:
        return []

    def get_license_key_enabled(self, product) -> bool:
        return product.license_key_enabled

    @extend_schema_field({"type": "string", "nullable": True})
    def get_image(self, product):
        return None

    @extend_schema_field({"type": "string", "nullable": True})
    def get_pricing_mode(self, product):
        return None

    @extend_schema_field({"type": "string", "nullable": True})
    def get_product_collection_id(self, product):
        return None


class ProductListItemSerializer(serializers.Serializer):
    """The SDK's ``ProductListResponse``: ``price`` is the amount, ``price_detail`` the union."""

    product_id = serializers.CharField(source="id")
    business_id = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField(allow_null=True)
    tax_category = serializers.CharField()
    is_recurring = serializers.BooleanField()
    currency = serializers.CharField()
    price = serializers.SerializerMethodField()
    price_detail = serializers.SerializerMethodField()
    tax_inclusive = serializers.BooleanField(allow_null=True)
    metadata = MetadataField()
    wallet_top_up = serializers.BooleanField()
    entitlements = serializers.SerializerMethodField()
    image = serializers.SerializerMethodField()
    pricing_mode = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_price(self, product) -> int:
        return product.fixed_price if product.price_type == PriceType.USAGE_BASED else product.price

    @extend_schema_field(PRICE_SCHEMA)
    def get_price_detail(self, product) -> dict:
        return price_data(product)

    @extend_schema_field({"type": "array", "items": {"type": "object"}})
    def get_entitlements(self, product) -> list:
        return []

    @extend_schema_field({"type": "string", "nullable": True})
    def get_image(self, product):
        return None

    @extend_schema_field({"type": "string", "nullable": True})
    def get_pricing_mode(self, product):
        return None


@extend_schema_field(PRICE_SCHEMA)
class PriceField(serializers.JSONField):
    """Passed through as JSON: ``check_price`` here and ``metering.services.billing`` check it."""


class ProductCreateSerializer(serializers.Serializer):
    name = StrictCharField(max_length=255)
    price = PriceField()
    tax_category = StrictChoiceField(choices=TaxCategory.choices)
    description = StrictCharField(required=False, allow_null=True, allow_blank=True, max_length=1000)
    metadata = MetadataField(required=False)
    wallet_top_up = StrictBooleanField(
        required=False, help_text="Extension (one-time prices): a paid purchase credits the wallet."
    )
    license_key_enabled = StrictBooleanField(
        required=False,
        allow_null=True,
        help_text="Each successful payment for the product issues a license key (null = false).",
    )


class ProductUpdateSerializer(serializers.Serializer):
    """Every field optional; omitted = unchanged, null = cleared (description, metadata only)."""

    name = StrictCharField(max_length=255, required=False)
    price = PriceField(required=False)
    tax_category = StrictChoiceField(choices=TaxCategory.choices, required=False)
    description = StrictCharField(required=False, allow_null=True, allow_blank=True, max_length=1000)
    metadata = MetadataField(required=False, allow_null=True)
    wallet_top_up = StrictBooleanField(required=False)
    license_key_enabled = StrictBooleanField(required=False, allow_null=True)


# --- serializers: subscriptions -------------------------------------------------------------------


class SubscriptionResponseSerializer(SubscriptionSerializer):
    """The SDK's ``Subscription`` and ``SubscriptionListResponse`` (the list needs ``discounts``)."""

    discounts = serializers.SerializerMethodField()

    @extend_schema_field({"type": "array", "items": {"type": "object"}})
    def get_discounts(self, subscription) -> list:
        return []


class SubscriptionCreateResponseSerializer(serializers.Serializer):
    """The SDK's ``SubscriptionCreateResponse``. ``payment_id`` is "": nothing is charged at creation
    (periods are billed in arrears, when they end)."""

    subscription_id = serializers.CharField(source="id")
    payment_id = serializers.SerializerMethodField()
    customer = CustomerLimitedSerializer()
    metadata = MetadataField()
    recurring_pre_tax_amount = serializers.IntegerField(source="recurring_amount")
    payment_method_required = serializers.SerializerMethodField()
    addons = serializers.SerializerMethodField()
    expires_on = serializers.DateTimeField(source="expires_at")
    client_secret = serializers.SerializerMethodField()
    discount_id = serializers.SerializerMethodField()
    payment_link = serializers.SerializerMethodField()
    # extensions
    status = serializers.CharField()
    product_id = serializers.CharField()
    payment_method_id = serializers.CharField(allow_null=True)
    previous_billing_date = serializers.DateTimeField()
    next_billing_date = serializers.DateTimeField()

    def get_payment_id(self, subscription) -> str:
        return ""

    def get_payment_method_required(self, subscription) -> bool:
        """True when the first charge will need a card: the business charges through the sandbox
        gateway and the subscription has no payment method yet."""
        return subscription.payment_method_id is None and subscription.business.payment_gateway != "manual"

    @extend_schema_field({"type": "array", "items": {"type": "object"}})
    def get_addons(self, subscription) -> list:
        return []

    @extend_schema_field({"type": "string", "nullable": True})
    def get_client_secret(self, subscription):
        return None

    @extend_schema_field({"type": "string", "nullable": True})
    def get_discount_id(self, subscription):
        return None

    @extend_schema_field({"type": "string", "nullable": True})
    def get_payment_link(self, subscription):
        return None


@extend_schema_field(BILLING_ADDRESS_SCHEMA)
class BillingField(serializers.JSONField):
    """Passed through as JSON; ``dodo_billing.countries.check_billing_address`` checks it."""


CUSTOMER_REQUEST_SCHEMA = {
    "oneOf": [
        {"type": "object", "required": ["customer_id"], "properties": {"customer_id": {"type": "string"}}},
        {
            "type": "object",
            "required": ["email"],
            "properties": {
                "email": {"type": "string", "format": "email"},
                "name": {"type": "string", "nullable": True, "description": "Default: the email address."},
                "phone_number": {"type": "string", "nullable": True},
            },
        },
    ]
}


@extend_schema_field(CUSTOMER_REQUEST_SCHEMA)
class CustomerRequestField(serializers.JSONField):
    """``{"customer_id"}`` attaches an existing customer; ``{"email", "name"?, "phone_number"?}``
    creates one."""

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError(
                'An object: {"customer_id": …} or {"email": …, "name": …, "phone_number": …}.'
            )
        if "customer_id" in data:
            customer_id = data["customer_id"]
            if not isinstance(customer_id, str) or not customer_id:
                raise serializers.ValidationError({"customer_id": ["Must be a customer id (a string)."]})
            return {"customer_id": customer_id}
        fields = {key: data[key] for key in ("email", "name", "phone_number") if key in data}
        if fields.get("name") is None and isinstance(fields.get("email"), str):
            fields["name"] = fields["email"]
        new = CustomerCreateSerializer(data=fields)
        if not new.is_valid():
            raise serializers.ValidationError(new.errors)
        return dict(new.validated_data)


class SubscriptionCreateSerializer(serializers.Serializer):
    billing = BillingField()
    customer = CustomerRequestField()
    product_id = StrictCharField()
    quantity = StrictIntegerField(help_text="1 to 10,000; exactly 1 for a usage-based product.")
    payment_method_id = StrictCharField(
        required=False, allow_null=True, help_text="One of the customer's payment methods."
    )
    metadata = MetadataField(required=False)


CANCEL_REASONS = (
    "cancelled_by_customer",
    "cancelled_by_merchant",
    "cancelled_by_merchant_send_dunning",
    "cancelled_by_merchant_grace_period_expired",
    "dodo_team",
)
CANCELLATION_FEEDBACK = (
    "too_expensive",
    "missing_features",
    "switched_service",
    "unused",
    "customer_service",
    "low_quality",
    "too_complex",
    "other",
)


class SubscriptionUpdateSerializer(serializers.Serializer):
    """Omitted = unchanged. ``status: "cancelled"`` cancels now (or at the next billing date with
    ``cancel_at_next_billing_date: true``); no other status can be set."""

    billing = BillingField(required=False)
    metadata = MetadataField(required=False, allow_null=True, help_text="null clears it.")
    cancel_at_next_billing_date = StrictBooleanField(required=False, allow_null=True)
    status = StrictChoiceField(choices=SubscriptionStatus.choices, required=False, allow_null=True)
    payment_method_id = StrictCharField(
        required=False,
        allow_null=True,
        help_text="Extension: one of the customer's payment methods; null removes it.",
    )
    cancel_reason = StrictChoiceField(
        choices=CANCEL_REASONS, required=False, allow_null=True, help_text="Accepted; not stored."
    )
    cancellation_feedback = StrictChoiceField(
        choices=CANCELLATION_FEEDBACK, required=False, allow_null=True, help_text="Accepted; not stored."
    )
    cancellation_comment = StrictCharField(
        required=False, allow_null=True, allow_blank=True, max_length=5000, help_text="Accepted; not stored."
    )


class UsageMeterSerializer(serializers.Serializer):
    id = serializers.CharField(source="meter_id")
    name = serializers.CharField()
    consumed_units = serializers.SerializerMethodField()
    free_threshold = serializers.IntegerField()
    chargeable_units = serializers.SerializerMethodField()
    price_per_unit = serializers.SerializerMethodField()
    currency = serializers.CharField()
    total_price = serializers.IntegerField(help_text="Minor units.")

    def get_consumed_units(self, usage) -> str:
        return decimal_string(usage.consumed_units)

    def get_chargeable_units(self, usage) -> str:
        return decimal_string(usage.chargeable_units)

    def get_price_per_unit(self, usage) -> str:
        return decimal_string(usage.price_per_unit)


class UsagePeriodSerializer(serializers.Serializer):
    """The SDK's ``SubscriptionRetrieveUsageHistoryResponse``: one billing period."""

    start_date = serializers.DateTimeField()
    end_date = serializers.DateTimeField()
    meters = UsageMeterSerializer(many=True)
    invoice_id = serializers.CharField(
        allow_null=True,
        help_text="Extension: the period's invoice; null for the current period (not billed).",
    )


# --- serializers: payment methods -----------------------------------------------------------------


class PaymentMethodSerializer(serializers.Serializer):
    """An item of the SDK's ``CustomerRetrievePaymentMethodsResponse``."""

    payment_method_id = serializers.CharField(source="id")
    payment_method = serializers.SerializerMethodField()
    payment_method_type = serializers.SerializerMethodField()
    card = serializers.SerializerMethodField()
    last_used_at = serializers.SerializerMethodField()
    recurring_enabled = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField(help_text="Extension.")

    def get_payment_method(self, method) -> str:
        return "card"

    def get_payment_method_type(self, method) -> str:
        return "credit"

    @extend_schema_field(
        {
            "type": "object",
            "properties": {
                "card_network": {"type": "string"},
                "last4_digits": {"type": "string"},
                "card_type": {"type": "string"},
                "card_holder_name": {"type": "string", "nullable": True},
                "card_issuing_country": {"type": "string", "nullable": True},
                "expiry_month": {"type": "string", "nullable": True},
                "expiry_year": {"type": "string", "nullable": True},
            },
        }
    )
    def get_card(self, method) -> dict:
        return {
            "card_network": method.card_network,
            "last4_digits": method.card_last_four,
            "card_type": "credit",
            "card_holder_name": None,
            "card_issuing_country": None,
            "expiry_month": None,
            "expiry_year": None,
        }

    @extend_schema_field({"type": "string", "format": "date-time", "nullable": True})
    def get_last_used_at(self, method):
        used = getattr(method, "last_used_at", None)
        return serializers.DateTimeField().to_representation(used) if used else None

    def get_recurring_enabled(self, method) -> bool:
        return True


class PaymentMethodCreateSerializer(serializers.Serializer):
    card_number = StrictCharField(
        max_length=32, help_text="A sandbox test card number (docs/billing.md); spaces and dashes allowed."
    )

    def validate_card_number(self, value):
        if re.sub(r"[ -]", "", value) not in SANDBOX_CARDS:
            raise serializers.ValidationError(
                "Only the sandbox test card numbers are accepted (real card numbers are never stored): "
                + ", ".join(SANDBOX_CARDS)
                + "."
            )
        return value


# --- views: products ------------------------------------------------------------------------------


class ProductListCreateView(BusinessAPIView):
    @extend_schema(
        operation_id="products_list",
        summary="List products, newest first",
        parameters=[*filterset_parameters(ProductFilterSet), LOCALE],
        responses={200: ProductListItemSerializer(many=True), **error_responses(401, 422)},
    )
    def get(self, request):
        return self.paginated(
            product_list(business=self.business, filters=request.query_params), ProductListItemSerializer
        )

    @extend_schema(
        operation_id="products_create",
        summary="Create a product (one-time, recurring or usage-based price)",
        request=ProductCreateSerializer,
        responses={200: ProductSerializer, **error_responses(400, 401, 403, 422)},
    )
    def post(self, request):
        data = self.validated(ProductCreateSerializer, request.data)
        reject_unsupported(request.data, PRODUCT_UNSUPPORTED)
        check_brand(request.data, self.business)
        check_price(data["price"])
        if data.get("license_key_enabled") is None:
            data.pop("license_key_enabled", None)
        product = product_create(business=self.business, **data)
        return Response(ProductSerializer(product_get(business=self.business, product_id=product.id)).data)


class ProductDetailView(BusinessAPIView):
    @extend_schema(
        operation_id="products_retrieve",
        summary="Retrieve a product",
        parameters=[LOCALE],
        responses={200: ProductSerializer, **error_responses(401, 404)},
    )
    def get(self, request, product_id):
        return Response(ProductSerializer(product_get(business=self.business, product_id=product_id)).data)

    @extend_schema(
        operation_id="products_update",
        summary="Update a product; a new price applies to new subscriptions only",
        request=ProductUpdateSerializer,
        responses={200: ProductSerializer, **error_responses(400, 401, 403, 404, 422)},
    )
    def patch(self, request, product_id):
        product = product_get(business=self.business, product_id=product_id)
        data = self.validated(ProductUpdateSerializer, request.data)
        reject_unsupported(request.data, PRODUCT_UNSUPPORTED)
        check_brand(request.data, self.business)
        if "price" in data:
            check_price(data["price"])
        if "license_key_enabled" in data and data["license_key_enabled"] is None:
            data["license_key_enabled"] = False
        product_update(product=product, **data)
        return Response(ProductSerializer(product_get(business=self.business, product_id=product_id)).data)

    @extend_schema(
        operation_id="products_archive",
        summary="Archive a product (running subscriptions continue)",
        request=None,
        responses={204: OpenApiResponse(description="Archived."), **error_responses(401, 403, 404)},
    )
    def delete(self, request, product_id):
        product_archive(product=product_get(business=self.business, product_id=product_id))
        return Response(status=204)


class ProductUnarchiveView(BusinessAPIView):
    @extend_schema(
        operation_id="products_unarchive",
        summary="Unarchive a product",
        request=None,
        responses={
            200: OpenApiResponse(description="Unarchived; empty body."),
            **error_responses(401, 403, 404),
        },
    )
    def post(self, request, product_id):
        product_unarchive(product=product_get(business=self.business, product_id=product_id))
        return Response(status=200)


# --- views: subscriptions -------------------------------------------------------------------------


class SubscriptionListCreateView(BusinessAPIView):
    @extend_schema(
        operation_id="subscriptions_list",
        summary="List subscriptions, newest first",
        parameters=[*filterset_parameters(SubscriptionFilterSet), LOCALE],
        responses={200: SubscriptionResponseSerializer(many=True), **error_responses(401, 422)},
    )
    def get(self, request):
        return self.paginated(
            subscription_list(business=self.business, filters=request.query_params),
            SubscriptionResponseSerializer,
        )

    @extend_schema(
        operation_id="subscriptions_create",
        summary="Start a subscription now (its first period is billed in arrears: payment_id is empty)",
        request=SubscriptionCreateSerializer,
        responses={200: SubscriptionCreateResponseSerializer, **error_responses(400, 401, 403, 404, 422)},
    )
    def post(self, request):
        data = self.validated(SubscriptionCreateSerializer, request.data)
        product = product_get(business=self.business, product_id=data["product_id"])
        usage_based = product.price_type == PriceType.USAGE_BASED
        reject_unsupported(
            request.data, SUBSCRIPTION_CREATE_UNSUPPORTED, codes=USAGE_BASED_CODES if usage_based else None
        )
        billing_currency = request.data.get("billing_currency")
        if billing_currency is not None and billing_currency != product.currency:
            raise InvalidRequestParameters(
                f"billing_currency: this product is billed in {product.currency} only.",
                extra={"field": "billing_currency"},
            )
        payment_method_id = data.get("payment_method_id")
        with transaction.atomic():  # a new customer is only kept if the subscription starts
            if "customer_id" in data["customer"]:
                customer = customer_get(business=self.business, customer_id=data["customer"]["customer_id"])
            elif payment_method_id is not None:
                raise InvalidRequestParameters(
                    'payment_method_id needs an existing customer: send customer as {"customer_id": …}.',
                    extra={"field": "payment_method_id"},
                )
            else:
                customer = customer_create(business=self.business, **data["customer"])
            method = (
                payment_method_get(business=self.business, payment_method_id=payment_method_id)
                if payment_method_id is not None
                else None
            )
            subscription = subscription_create(
                business=self.business,
                customer=customer,
                product=product,
                quantity=data["quantity"],
                payment_method=method,
                billing=data["billing"],
                metadata=data.get("metadata"),
            )
        return Response(SubscriptionCreateResponseSerializer(subscription).data)


class SubscriptionDetailView(BusinessAPIView):
    @extend_schema(
        operation_id="subscriptions_retrieve",
        summary="Retrieve a subscription",
        parameters=[LOCALE],
        responses={200: SubscriptionResponseSerializer, **error_responses(401, 404)},
    )
    def get(self, request, subscription_id):
        subscription = subscription_get(business=self.business, subscription_id=subscription_id)
        return Response(SubscriptionResponseSerializer(subscription).data)

    @extend_schema(
        operation_id="subscriptions_update",
        summary="Update metadata, billing address or payment method; cancel now or at the next billing date",
        request=SubscriptionUpdateSerializer,
        responses={200: SubscriptionResponseSerializer, **error_responses(400, 401, 403, 404, 422)},
    )
    def patch(self, request, subscription_id):
        subscription = subscription_get(business=self.business, subscription_id=subscription_id)
        data = self.validated(SubscriptionUpdateSerializer, request.data)
        reject_unsupported(request.data, SUBSCRIPTION_UPDATE_UNSUPPORTED)
        status = data.get("status")
        if status is not None and status != SubscriptionStatus.CANCELLED:
            raise InvalidRequestParameters(
                f'status: only "cancelled" can be set here, not {status!r}.', extra={"field": "status"}
            )
        if "billing" in data and data["billing"] is None:
            raise InvalidRequestBody("billing: a billing address cannot be cleared.")
        changes = {field: data[field] for field in ("metadata", "billing") if field in data}
        if "payment_method_id" in data:
            method_id = data["payment_method_id"]
            changes["payment_method"] = (
                payment_method_get(business=self.business, payment_method_id=method_id)
                if method_id is not None
                else None
            )
        at_period_end = data.get("cancel_at_next_billing_date")
        with transaction.atomic():  # all of the changes, or none
            if at_period_end is False and status is None:
                changes["cancel_at_next_billing_date"] = False
            if changes:
                subscription = subscription_update(subscription=subscription, **changes)
            if status == SubscriptionStatus.CANCELLED:
                subscription_cancel(subscription=subscription, at_period_end=bool(at_period_end))
            elif at_period_end:
                subscription_cancel(subscription=subscription, at_period_end=True)
        subscription = subscription_get(business=self.business, subscription_id=subscription_id)
        return Response(SubscriptionResponseSerializer(subscription).data)


def query_datetime(params, name: str):
    """An optional ISO 8601 query datetime, in UTC and in range (``dodo_billing.datetimes``)."""
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return parse_datetime_utc(raw)
    except ValueError as exc:
        raise InvalidQueryParams(f"{name}: {exc}", extra={"errors": {name: [str(exc)]}}) from None


class SubscriptionUsageHistoryView(BusinessAPIView):
    @extend_schema(
        operation_id="subscriptions_retrieve_usage_history",
        summary="Usage per billing period, newest first (the current period computed live)",
        parameters=[
            OpenApiParameter(
                "start_date",
                {"type": "string", "format": "date-time"},
                OpenApiParameter.QUERY,
                required=False,
                description="Periods that end after this time.",
            ),
            OpenApiParameter(
                "end_date",
                {"type": "string", "format": "date-time"},
                OpenApiParameter.QUERY,
                required=False,
                description="Periods that start at or before this time.",
            ),
            OpenApiParameter("meter_id", str, OpenApiParameter.QUERY, required=False),
        ],
        responses={200: UsagePeriodSerializer(many=True), **error_responses(401, 404, 422)},
    )
    def get(self, request, subscription_id):
        subscription = subscription_get(business=self.business, subscription_id=subscription_id)
        params = request.query_params
        history = subscription_usage_history(
            subscription=subscription,
            start_date=query_datetime(params, "start_date"),
            end_date=query_datetime(params, "end_date"),
            meter_id=params.get("meter_id") or None,
        )
        return self.paginated(history, UsagePeriodSerializer)


# --- views: payment methods -----------------------------------------------------------------------


class CustomerPaymentMethodsView(BusinessAPIView):
    @extend_schema(
        operation_id="customers_retrieve_payment_methods",
        summary="A customer's payment methods (not paged)",
        responses={
            200: inline_serializer("PaymentMethodList", fields={"items": PaymentMethodSerializer(many=True)}),
            **error_responses(401, 404),
        },
    )
    def get(self, request, customer_id):
        customer = customer_get(business=self.business, customer_id=customer_id)
        methods = payment_method_list(customer=customer)
        return Response({"items": PaymentMethodSerializer(methods, many=True).data})

    @extend_schema(
        operation_id="customers_create_payment_method",
        summary="Extension: add a sandbox test card to a customer",
        request=PaymentMethodCreateSerializer,
        responses={201: PaymentMethodSerializer, **error_responses(401, 403, 404, 422)},
    )
    def post(self, request, customer_id):
        customer = customer_get(business=self.business, customer_id=customer_id)
        data = self.validated(PaymentMethodCreateSerializer, request.data)
        method = payment_method_create(customer=customer, card_number=data["card_number"])
        return Response(PaymentMethodSerializer(method).data, status=201)
