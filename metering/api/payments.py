"""REST API for payments, refunds and invoice PDFs (the SDK's ``payments``, ``refunds`` and
``invoices.payments`` resources). Representations come from ``metering.api.payloads``; every write
goes through ``metering.services.payments``. docs/payments_api.md records the decisions."""

import secrets

from django.db import transaction
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response

from customers.api.serializers import phone_validator
from customers.selectors import customer_get
from customers.services import customer_create
from dodo_billing.api.fields import (
    AmountField,
    CurrencyField,
    EmailField,
    MetadataField,
    StrictCharField,
    StrictChoiceField,
    StrictIntegerField,
)
from dodo_billing.api.views import BusinessAPIView, error_responses, filterset_parameters
from dodo_billing.errors import InvalidQueryParams, InvalidRequestParameters
from dodo_billing.money import CURRENCIES, MAX_AMOUNT
from metering.api.payloads import (
    BILLING_ADDRESS_SCHEMA,
    WIRE_PAYMENT_STATUS,
    CustomerLimitedSerializer,
    PaymentSerializer,
    RefundSerializer,
    decimal_string,
)
from metering.filtersets import PaymentFilterSet, RefundFilterSet
from metering.invoice_pdf import invoice_pdf_filename, render_invoice_pdf
from metering.models import REFUND_REASON_MAX_LENGTH, Refund
from metering.selectors.billing import payment_method_get, product_get
from metering.selectors.payments import (
    invoice_for_payment,
    payment_get,
    payment_line_items,
    payment_list,
    payment_retry_state,
    refund_amount_for_items,
    refund_get,
    refund_list,
)
from metering.services.payments import (
    payment_create_one_time,
    payment_mark_paid,
    payment_retry,
    refund_create,
)

INTENT_STATUS_SCHEMA = {"type": "string", "nullable": True, "description": "The contract's IntentStatus."}

# --- serializers: requests --------------------------------------------------------------------------


class NewCustomerSerializer(serializers.Serializer):
    email = EmailField()
    name = StrictCharField(max_length=255, required=False, allow_null=True, help_text="Default: the email.")
    phone_number = StrictCharField(
        max_length=32, required=False, allow_null=True, validators=[phone_validator]
    )


class AttachExistingCustomerSerializer(serializers.Serializer):
    customer_id = StrictCharField()


@extend_schema_field(
    {
        "oneOf": [
            {
                "type": "object",
                "required": ["customer_id"],
                "properties": {"customer_id": {"type": "string"}},
            },
            {
                "type": "object",
                "required": ["email"],
                "properties": {
                    "email": {"type": "string", "format": "email"},
                    "name": {"type": "string", "nullable": True},
                    "phone_number": {"type": "string", "nullable": True},
                },
            },
        ]
    }
)
class CustomerRequestField(serializers.Field):
    """``{"customer_id"}`` attaches an existing customer; ``{"email", "name"?, "phone_number"?}``
    creates one."""

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError(
                'Must be an object: {"customer_id": …} or a new customer {"email": …, "name": …}.'
            )
        serializer_class = (
            AttachExistingCustomerSerializer if "customer_id" in data else NewCustomerSerializer
        )
        serializer = serializer_class(data=data)
        if not serializer.is_valid():
            raise serializers.ValidationError(serializer.errors)
        return dict(serializer.validated_data)


@extend_schema_field(BILLING_ADDRESS_SCHEMA)
class BillingField(serializers.JSONField):
    """Checked by ``dodo_billing.countries.check_billing_address`` in the service."""


class CartItemSerializer(serializers.Serializer):
    product_id = StrictCharField()
    quantity = StrictIntegerField(help_text="Must be 1.")
    amount = StrictIntegerField(
        required=False,
        allow_null=True,
        min_value=0,
        max_value=MAX_AMOUNT,
        help_text="Pay-what-you-want amount: accepted and ignored (no product has pay-what-you-want).",
    )


class PaymentCreateSerializer(serializers.Serializer):
    billing = BillingField()
    customer = CustomerRequestField()
    product_cart = CartItemSerializer(many=True, min_length=1, max_length=100)
    payment_method_id = StrictCharField(required=False, allow_null=True)
    metadata = MetadataField(required=False)
    billing_currency = CurrencyField(
        required=False, allow_null=True, help_text="If given, must be the product's currency."
    )
    discount_code = StrictCharField(required=False, allow_null=True, help_text="Not supported: refused.")
    discount_codes = serializers.ListField(
        child=StrictCharField(), required=False, allow_null=True, help_text="Not supported: refused."
    )


class RefundItemSerializer(serializers.Serializer):
    item_id = StrictCharField(help_text="A line item's items_id (GET /payments/{id}/line-items).")
    amount = AmountField(required=False, allow_null=True, help_text="Default: all that is left of the item.")
    tax_inclusive = serializers.BooleanField(required=False, help_text="Accepted; there is no tax.")


class RefundCreateSerializer(serializers.Serializer):
    payment_id = StrictCharField()
    reason = StrictCharField(
        required=False, allow_null=True, allow_blank=True, max_length=REFUND_REASON_MAX_LENGTH
    )
    metadata = MetadataField(required=False)
    items = RefundItemSerializer(many=True, required=False, allow_null=True, min_length=1, max_length=100)
    currency = CurrencyField(required=False, allow_null=True, help_text="If given, the payment's currency.")
    amount = AmountField(
        required=False,
        allow_null=True,
        help_text="Extension: minor units to refund. Absent: everything refundable (or the items).",
    )
    destination = StrictChoiceField(
        choices=Refund.Destination.choices,
        required=False,
        help_text="Extension: gateway (default; back to the payment method) or wallet.",
    )

    def validate(self, data):
        if data.get("amount") is not None and data.get("items"):
            raise serializers.ValidationError({"amount": ["Give amount or items, not both."]})
        return data


# --- serializers: responses -------------------------------------------------------------------------


class PaymentListItemSerializer(PaymentSerializer):
    """The contract's PaymentListResponse: a Payment plus ``has_license_key``."""

    has_license_key = serializers.SerializerMethodField()

    def get_has_license_key(self, payment) -> bool:
        return False


class PaymentCreateResponseSerializer(serializers.Serializer):
    payment_id = serializers.CharField(source="id")
    client_secret = serializers.SerializerMethodField()
    customer = CustomerLimitedSerializer()
    metadata = MetadataField()
    total_amount = serializers.IntegerField()
    currency = serializers.CharField()
    status = serializers.SerializerMethodField()
    payment_status = serializers.CharField(source="status")
    invoice_id = serializers.CharField()
    product_cart = serializers.SerializerMethodField()
    payment_link = serializers.SerializerMethodField()
    expires_on = serializers.SerializerMethodField()
    discount_id = serializers.SerializerMethodField()
    discount_ids = serializers.SerializerMethodField()

    def get_client_secret(self, payment) -> str:
        # Opaque and random; there is no hosted checkout to load with it (docs/payments_api.md).
        return f"{payment.id}_secret_{secrets.token_urlsafe(24)}"

    @extend_schema_field(INTENT_STATUS_SCHEMA)
    def get_status(self, payment):
        return WIRE_PAYMENT_STATUS[payment.status]

    @extend_schema_field({"type": "array", "items": {"type": "object"}})
    def get_product_cart(self, payment) -> list:
        return [{"product_id": payment.product_id, "quantity": 1, "amount": payment.total_amount}]

    @extend_schema_field({"type": "string", "nullable": True})
    def get_payment_link(self, payment):
        return None

    @extend_schema_field({"type": "string", "format": "date-time", "nullable": True})
    def get_expires_on(self, payment):
        return None

    @extend_schema_field({"type": "string", "nullable": True})
    def get_discount_id(self, payment):
        return None

    @extend_schema_field({"type": "array", "items": {"type": "string"}})
    def get_discount_ids(self, payment) -> list:
        return []


class LineItemSerializer(serializers.Serializer):
    items_id = serializers.CharField()
    name = serializers.CharField(source="line.description")
    description = serializers.SerializerMethodField()
    amount = serializers.IntegerField(source="line.amount")
    refundable_amount = serializers.IntegerField()
    tax = serializers.SerializerMethodField()
    kind = serializers.CharField(source="line.kind", help_text="Extension: fixed, usage or one_time.")

    @extend_schema_field({"type": "string", "nullable": True})
    def get_description(self, item):
        line = item.line
        if line.kind != "usage":
            return None
        return (
            f"{decimal_string(line.consumed_units)} consumed, {line.free_threshold} free, "
            f"{decimal_string(line.chargeable_units)} chargeable at {decimal_string(line.price_per_unit)} "
            "per unit (minor units)"
        )

    def get_tax(self, item) -> int:
        return 0


class LineItemsResponseSerializer(serializers.Serializer):
    currency = serializers.CharField()
    items = LineItemSerializer(many=True)
    partial_refund_allowed = serializers.BooleanField()


class RetryStateSerializer(serializers.Serializer):
    can_retry = serializers.BooleanField()
    sends_allowed = serializers.IntegerField()
    sends_used = serializers.IntegerField()
    reason = serializers.CharField(allow_null=True)
    automatic_retry_number = serializers.IntegerField(allow_null=True)
    automatic_retry_total = serializers.IntegerField()
    next_automatic_retry_at = serializers.DateTimeField(allow_null=True)
    retry_available_at = serializers.DateTimeField(allow_null=True)


class ManualRetrySerializer(serializers.Serializer):
    payment_id = serializers.CharField()
    invoice_id = serializers.CharField()
    is_manual_retry = serializers.BooleanField()
    retry_attempt = serializers.IntegerField()
    sends_allowed = serializers.IntegerField()
    sends_used = serializers.IntegerField()
    retry_available_at = serializers.DateTimeField(allow_null=True)
    status = serializers.CharField(allow_null=True)


# --- views: payments --------------------------------------------------------------------------------


class PaymentListCreateView(BusinessAPIView):
    @extend_schema(
        operation_id="payments_list",
        summary="List payments, newest first",
        parameters=filterset_parameters(PaymentFilterSet),
        responses={200: PaymentListItemSerializer(many=True), **error_responses(401, 422)},
    )
    def get(self, request):
        return self.paginated(
            payment_list(business=self.business, filters=request.query_params), PaymentListItemSerializer
        )

    @extend_schema(
        operation_id="payments_create",
        summary="Buy one one-time product (quantity 1), charged through the business's gateway",
        description=(
            "customer is {customer_id} or a new customer {email, name?, phone_number?}. A wallet_top_up "
            "product credits the customer's wallet once the payment succeeds. Everything is one "
            "transaction: a rejected request creates no customer, invoice or payment."
        ),
        request=PaymentCreateSerializer,
        responses={200: PaymentCreateResponseSerializer, **error_responses(400, 401, 403, 404, 422)},
    )
    def post(self, request):
        data = self.validated(PaymentCreateSerializer, request.data)
        cart = data["product_cart"]
        if len(cart) != 1:
            raise InvalidRequestParameters(
                f"product_cart: exactly one product per payment is supported, got {len(cart)}."
            )
        if cart[0]["quantity"] != 1:
            raise InvalidRequestParameters(
                f"product_cart[0].quantity: only quantity 1 is supported, got {cart[0]['quantity']}.",
                code="INVALID_QUANTITY",
            )
        if data.get("discount_code") or data.get("discount_codes"):
            raise InvalidRequestParameters("Discount codes are not supported.", code="UNSUPPORTED_ACTION")
        with transaction.atomic():  # a customer created here is rolled back with a refused payment
            product = product_get(business=self.business, product_id=cart[0]["product_id"])
            if data.get("billing_currency") not in (None, product.currency):
                raise InvalidRequestParameters(
                    f"billing_currency: product {product.id} is sold in {product.currency} only.",
                    code="UNSUPPORTED_CURRENCY",
                )
            payment_method = None
            if data.get("payment_method_id") is not None:
                payment_method = payment_method_get(
                    business=self.business, payment_method_id=data["payment_method_id"]
                )
            customer_data = data["customer"]
            if "customer_id" in customer_data:
                customer = customer_get(business=self.business, customer_id=customer_data["customer_id"])
            else:
                customer = customer_create(
                    business=self.business,
                    email=customer_data["email"],
                    name=customer_data.get("name") or customer_data["email"],
                    phone_number=customer_data.get("phone_number"),
                )
            payment = payment_create_one_time(
                business=self.business,
                customer=customer,
                product=product,
                billing=data["billing"],
                payment_method=payment_method,
                metadata=data.get("metadata") or None,
            )
        payment = payment_get(business=self.business, payment_id=payment.id)
        return Response(PaymentCreateResponseSerializer(payment).data)


class PaymentDetailView(BusinessAPIView):
    @extend_schema(
        operation_id="payments_retrieve",
        summary="Retrieve a payment",
        responses={200: PaymentSerializer, **error_responses(401, 404)},
    )
    def get(self, request, payment_id):
        return Response(PaymentSerializer(payment_get(business=self.business, payment_id=payment_id)).data)


class PaymentLineItemsView(BusinessAPIView):
    @extend_schema(
        operation_id="payments_retrieve_line_items",
        summary="The payment's invoice lines, with what is left to refund of each",
        parameters=[
            OpenApiParameter(
                "currency",
                str,
                OpenApiParameter.QUERY,
                required=False,
                description="If given, must be the payment's currency (there is no settlement currency).",
            )
        ],
        responses={200: LineItemsResponseSerializer, **error_responses(400, 401, 404, 422)},
    )
    def get(self, request, payment_id):
        payment = payment_get(business=self.business, payment_id=payment_id)
        currency = request.query_params.get("currency")
        if currency is not None and currency not in CURRENCIES:
            raise InvalidQueryParams(f"currency: {currency!r} is not an ISO-4217 code in upper case.")
        if currency is not None and currency != payment.currency:
            raise InvalidRequestParameters(
                f"currency: payment {payment.id} was paid in {payment.currency}.", code="UNSUPPORTED_CURRENCY"
            )
        body = {
            "currency": payment.currency,
            "items": payment_line_items(payment=payment),
            "partial_refund_allowed": True,
        }
        return Response(LineItemsResponseSerializer(body).data)


class PaymentRetryView(BusinessAPIView):
    @extend_schema(
        operation_id="payments_retrieve_retry_state",
        summary="Whether a failed payment can be charged again now",
        responses={200: RetryStateSerializer, **error_responses(401, 404)},
    )
    def get(self, request, payment_id):
        payment = payment_get(business=self.business, payment_id=payment_id)
        return Response(RetryStateSerializer(payment_retry_state(payment=payment)).data)

    @extend_schema(
        operation_id="payments_retry",
        summary="Charge a failed payment again, with the subscription's current payment method",
        request=None,
        responses={200: ManualRetrySerializer, **error_responses(400, 401, 403, 404)},
    )
    def post(self, request, payment_id):
        payment = payment_get(business=self.business, payment_id=payment_id)
        state = payment_retry_state(payment=payment)
        if not state.can_retry:
            raise InvalidRequestParameters(
                f"Payment {payment.id} is {payment.status}; only failed payments are retried.",
                code=state.reason,
            )
        payment_retry(payment=payment)
        payment = payment_get(business=self.business, payment_id=payment_id)
        state = payment_retry_state(payment=payment)
        body = {
            "payment_id": payment.id,
            "invoice_id": payment.invoice_id,
            "is_manual_retry": True,
            "retry_attempt": payment.retry_attempt,
            "sends_allowed": state.sends_allowed,
            "sends_used": state.sends_used,
            "retry_available_at": None,
            "status": WIRE_PAYMENT_STATUS[payment.status],
        }
        return Response(ManualRetrySerializer(body).data)


class PaymentMarkPaidView(BusinessAPIView):
    @extend_schema(
        operation_id="payments_mark_paid",
        summary="Extension: record that a pending (or failed) payment was received outside the gateway",
        request=None,
        responses={200: PaymentSerializer, **error_responses(400, 401, 403, 404)},
    )
    def post(self, request, payment_id):
        payment_mark_paid(payment=payment_get(business=self.business, payment_id=payment_id))
        return Response(PaymentSerializer(payment_get(business=self.business, payment_id=payment_id)).data)


# --- views: refunds ---------------------------------------------------------------------------------


class RefundListCreateView(BusinessAPIView):
    @extend_schema(
        operation_id="refunds_list",
        summary="List refunds, newest first",
        parameters=filterset_parameters(RefundFilterSet),
        responses={200: RefundSerializer(many=True), **error_responses(401, 422)},
    )
    def get(self, request):
        return self.paginated(
            refund_list(business=self.business, filters=request.query_params), RefundSerializer
        )

    @extend_schema(
        operation_id="refunds_create",
        summary="Refund a succeeded payment, in full or in part, to the payment method or the wallet",
        request=RefundCreateSerializer,
        responses={200: RefundSerializer, **error_responses(400, 401, 403, 404, 422)},
    )
    def post(self, request):
        data = self.validated(RefundCreateSerializer, request.data)
        payment = payment_get(business=self.business, payment_id=data["payment_id"])
        if data.get("currency") not in (None, payment.currency):
            raise InvalidRequestParameters(
                f"currency: payment {payment.id} was paid in {payment.currency}.", code="UNSUPPORTED_CURRENCY"
            )
        amount = data.get("amount")
        if data.get("items"):
            amount = refund_amount_for_items(payment=payment, items=data["items"])
        refund = refund_create(
            payment=payment,
            amount=amount,
            destination=data.get("destination", Refund.Destination.GATEWAY),
            reason=data.get("reason") or None,
            metadata=data.get("metadata") or None,
        )
        return Response(RefundSerializer(refund_get(business=self.business, refund_id=refund.id)).data)


class RefundDetailView(BusinessAPIView):
    @extend_schema(
        operation_id="refunds_retrieve",
        summary="Retrieve a refund",
        responses={200: RefundSerializer, **error_responses(401, 404)},
    )
    def get(self, request, refund_id):
        return Response(RefundSerializer(refund_get(business=self.business, refund_id=refund_id)).data)


# --- views: invoice PDF -----------------------------------------------------------------------------


class PDFRenderer(BaseRenderer):
    """Lets content negotiation accept ``Accept: application/pdf`` (what the SDK sends); the PDF
    itself is returned as a ready HttpResponse, and errors are always rendered as JSON."""

    media_type = "application/pdf"
    format = "pdf"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data


class InvoicePaymentPDFView(BusinessAPIView):
    renderer_classes = [JSONRenderer, PDFRenderer]

    @extend_schema(
        operation_id="invoices_payments_retrieve",
        summary="The invoice of a payment, as a PDF",
        parameters=[
            OpenApiParameter(
                "token", str, OpenApiParameter.QUERY, required=False, description="Accepted; ignored."
            )
        ],
        responses={
            (200, "application/pdf"): OpenApiResponse(
                {"type": "string", "format": "binary"}, description="The PDF."
            ),
            **error_responses(401, 404),
        },
    )
    def get(self, request, payment_id):
        invoice = invoice_for_payment(business=self.business, payment_id=payment_id)
        response = HttpResponse(render_invoice_pdf(invoice), content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="{invoice_pdf_filename(invoice)}"'
        return response

    def handle_exception(self, exc):
        # Errors keep the contract's JSON shape whatever the client accepts.
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = "application/json"
        return super().handle_exception(exc)
