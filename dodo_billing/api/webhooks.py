"""The webhooks API (contract: ``client.webhooks`` and ``client.webhooks.headers``): serializers,
views and routes. Every call is scoped to the API key's business; another business's endpoint is
a 404. The list uses the contract's cursor pagination (``iterator``, ``limit`` →
``{"data", "iterator", "done"}``)."""

from django.urls import path
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.response import Response

from dodo_billing.api.fields import StrictCharField, StrictChoiceField, StrictIntegerField
from dodo_billing.api.views import BusinessAPIView, error_responses
from dodo_billing.errors import InvalidQueryParams
from dodo_billing.models import (
    WEBHOOK_DESCRIPTION_MAX_LENGTH,
    WEBHOOK_EVENT_TYPES,
    WEBHOOK_HEADER_VALUE_MAX_LENGTH,
    WEBHOOK_HEADERS_MAX,
    WEBHOOK_METADATA_MAX_KEYS,
    WEBHOOK_RATE_LIMIT_MAX,
    WEBHOOK_URL_MAX_LENGTH,
    validate_string_metadata,
    validate_webhook_headers,
    validate_webhook_url,
)
from dodo_billing.webhooks.endpoints import (
    LIST_DEFAULT_LIMIT,
    LIST_MAX_LIMIT,
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_get,
    webhook_endpoint_headers,
    webhook_endpoint_headers_update,
    webhook_endpoint_list,
    webhook_endpoint_update,
)

IDEMPOTENCY_KEY_MAX_LENGTH = 255

# --- Fields -------------------------------------------------------------------------------------


class StrictBooleanField(serializers.BooleanField):
    default_error_messages = {"invalid": "Must be true or false (a JSON boolean)."}

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class FilterTypesField(serializers.ListField):
    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 2 * len(WEBHOOK_EVENT_TYPES))
        kwargs.setdefault("help_text", "Event types to send; empty or omitted = every type.")
        super().__init__(child=StrictChoiceField(choices=WEBHOOK_EVENT_TYPES), **kwargs)


@extend_schema_field(
    {
        "type": "object",
        "maxProperties": WEBHOOK_METADATA_MAX_KEYS,
        "additionalProperties": {"type": "string"},
        "description": "String keys to string values; at most 50 pairs.",
    }
)
class StringMetadataField(serializers.Field):
    def __init__(self, **kwargs):
        super().__init__(validators=[validate_string_metadata], **kwargs)

    def to_internal_value(self, data):
        return data  # the validator checks shape, sizes and types

    def to_representation(self, value):
        return value or {}


@extend_schema_field(
    {
        "type": "object",
        "maxProperties": WEBHOOK_HEADERS_MAX,
        "additionalProperties": {"type": "string", "maxLength": WEBHOOK_HEADER_VALUE_MAX_LENGTH},
        "description": "Custom HTTP headers sent with every delivery.",
    }
)
class HeadersField(serializers.Field):
    def __init__(self, **kwargs):
        super().__init__(validators=[validate_webhook_headers], **kwargs)

    def to_internal_value(self, data):
        return data


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {"type": "string", "nullable": True},
        "description": "Headers to add or replace (names match case-insensitively); null removes one.",
    }
)
class HeadersPatchField(serializers.Field):
    default_error_messages = {"invalid": "Must be a JSON object of header names to string values (or null)."}

    def to_internal_value(self, data):
        if not isinstance(data, dict) or not all(
            value is None or isinstance(value, str) for value in data.values()
        ):
            self.fail("invalid")
        return data


def url_field(**kwargs):
    return StrictCharField(
        max_length=WEBHOOK_URL_MAX_LENGTH, trim_whitespace=False, validators=[validate_webhook_url], **kwargs
    )


# --- Serializers ----------------------------------------------------------------------------------


class WebhookDetailsSerializer(serializers.Serializer):
    """The contract's WebhookDetails."""

    id = serializers.CharField()
    url = serializers.CharField()
    description = serializers.CharField()
    disabled = serializers.BooleanField()
    filter_types = serializers.ListField(child=serializers.CharField())
    metadata = StringMetadataField()
    rate_limit = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class WebhookListSerializer(serializers.Serializer):
    data = WebhookDetailsSerializer(many=True)
    iterator = serializers.CharField(allow_null=True, help_text="Pass as ?iterator= for the next page.")
    done = serializers.BooleanField(help_text="True on the last page.")


class WebhookCreateSerializer(serializers.Serializer):
    url = url_field()
    description = StrictCharField(
        max_length=WEBHOOK_DESCRIPTION_MAX_LENGTH, required=False, allow_null=True, allow_blank=True
    )
    disabled = StrictBooleanField(required=False, allow_null=True)
    filter_types = FilterTypesField(required=False, allow_null=True)
    headers = HeadersField(required=False, allow_null=True)
    metadata = StringMetadataField(required=False, allow_null=True)
    rate_limit = StrictIntegerField(
        min_value=1, max_value=WEBHOOK_RATE_LIMIT_MAX, required=False, allow_null=True
    )
    idempotency_key = StrictCharField(
        max_length=IDEMPOTENCY_KEY_MAX_LENGTH, required=False, allow_null=True, trim_whitespace=False
    )


class WebhookUpdateSerializer(serializers.Serializer):
    """Every field optional; omitted = unchanged, null = cleared (the URL cannot be cleared)."""

    url = url_field(required=False)
    description = StrictCharField(
        max_length=WEBHOOK_DESCRIPTION_MAX_LENGTH, required=False, allow_null=True, allow_blank=True
    )
    disabled = StrictBooleanField(required=False, allow_null=True)
    filter_types = FilterTypesField(required=False, allow_null=True)
    metadata = StringMetadataField(required=False, allow_null=True)
    rate_limit = StrictIntegerField(
        min_value=1, max_value=WEBHOOK_RATE_LIMIT_MAX, required=False, allow_null=True
    )


class WebhookSecretSerializer(serializers.Serializer):
    secret = serializers.CharField(help_text="Standard Webhooks signing secret, whsec_…")


class WebhookHeadersSerializer(serializers.Serializer):
    headers = serializers.DictField(child=serializers.CharField(), help_text="Non-sensitive headers.")
    sensitive = serializers.ListField(
        child=serializers.CharField(), help_text="Names of headers whose values are not shown."
    )


class WebhookHeadersUpdateSerializer(serializers.Serializer):
    headers = HeadersPatchField()


# --- Views ----------------------------------------------------------------------------------------


def _limit_param(request) -> int:
    raw = request.query_params.get("limit")
    if raw is None or raw == "":
        return LIST_DEFAULT_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        raise InvalidQueryParams(f"limit must be an integer, got {raw!r}.") from None
    if not 1 <= limit <= LIST_MAX_LIMIT:
        raise InvalidQueryParams(f"limit must be between 1 and {LIST_MAX_LIMIT}, got {limit}.")
    return limit


class WebhookListCreateView(BusinessAPIView):
    @extend_schema(
        operation_id="webhooks_list",
        summary="List webhook endpoints, newest first (cursor pagination)",
        parameters=[
            OpenApiParameter("iterator", str, OpenApiParameter.QUERY, required=False),
            OpenApiParameter(
                "limit", int, OpenApiParameter.QUERY, required=False, description="1 to 100; default 10."
            ),
        ],
        responses={200: WebhookListSerializer, **error_responses(401, 422)},
    )
    def get(self, request):
        page = webhook_endpoint_list(
            business=self.business, iterator=request.query_params.get("iterator"), limit=_limit_param(request)
        )
        return Response(
            {
                "data": WebhookDetailsSerializer(page.items, many=True).data,
                "iterator": page.iterator,
                "done": page.done,
            }
        )

    @extend_schema(
        operation_id="webhooks_create",
        summary="Register a webhook endpoint (a signing secret is generated)",
        description=(
            "A repeated idempotency_key with the same parameters returns the endpoint it created; with "
            "other parameters it answers 409 IDEMPOTENCY_KEY_ALREADY_USED."
        ),
        request=WebhookCreateSerializer,
        responses={200: WebhookDetailsSerializer, **error_responses(401, 403, 409, 422)},
    )
    def post(self, request):
        data = self.validated(WebhookCreateSerializer, request.data)
        endpoint = webhook_endpoint_create(business=self.business, **data)
        return Response(WebhookDetailsSerializer(endpoint).data)


class WebhookDetailView(BusinessAPIView):
    @extend_schema(
        operation_id="webhooks_retrieve",
        summary="Retrieve a webhook endpoint",
        responses={200: WebhookDetailsSerializer, **error_responses(401, 404)},
    )
    def get(self, request, webhook_id):
        endpoint = webhook_endpoint_get(business=self.business, webhook_id=webhook_id)
        return Response(WebhookDetailsSerializer(endpoint).data)

    @extend_schema(
        operation_id="webhooks_update",
        summary="Update a webhook endpoint (omitted = unchanged, null = cleared)",
        request=WebhookUpdateSerializer,
        responses={200: WebhookDetailsSerializer, **error_responses(401, 403, 404, 422)},
    )
    def patch(self, request, webhook_id):
        endpoint = webhook_endpoint_get(business=self.business, webhook_id=webhook_id)
        data = self.validated(WebhookUpdateSerializer, request.data)
        return Response(WebhookDetailsSerializer(webhook_endpoint_update(endpoint=endpoint, **data)).data)

    @extend_schema(
        operation_id="webhooks_delete",
        summary="Delete a webhook endpoint (its delivery log is kept)",
        request=None,
        responses={204: OpenApiResponse(description="Deleted."), **error_responses(401, 403, 404)},
    )
    def delete(self, request, webhook_id):
        webhook_endpoint_delete(endpoint=webhook_endpoint_get(business=self.business, webhook_id=webhook_id))
        return Response(status=204)


class WebhookSecretView(BusinessAPIView):
    @extend_schema(
        operation_id="webhooks_retrieve_secret",
        summary="The endpoint's signing secret",
        responses={200: WebhookSecretSerializer, **error_responses(401, 404)},
    )
    def get(self, request, webhook_id):
        endpoint = webhook_endpoint_get(business=self.business, webhook_id=webhook_id)
        return Response({"secret": endpoint.secret})


class WebhookHeadersView(BusinessAPIView):
    @extend_schema(
        operation_id="webhooks_headers_retrieve",
        summary="The endpoint's custom headers (sensitive values hidden)",
        responses={200: WebhookHeadersSerializer, **error_responses(401, 404)},
    )
    def get(self, request, webhook_id):
        endpoint = webhook_endpoint_get(business=self.business, webhook_id=webhook_id)
        return Response(webhook_endpoint_headers(endpoint=endpoint))

    @extend_schema(
        operation_id="webhooks_headers_update",
        summary="Add, replace or (with null) remove custom headers",
        request=WebhookHeadersUpdateSerializer,
        responses={204: OpenApiResponse(description="Updated."), **error_responses(401, 403, 404, 422)},
    )
    def patch(self, request, webhook_id):
        endpoint = webhook_endpoint_get(business=self.business, webhook_id=webhook_id)
        data = self.validated(WebhookHeadersUpdateSerializer, request.data)
        webhook_endpoint_headers_update(endpoint=endpoint, headers=data["headers"])
        return Response(status=204)


urlpatterns = [
    path("webhooks", WebhookListCreateView.as_view(), name="api-webhooks"),
    path("webhooks/<str:webhook_id>", WebhookDetailView.as_view(), name="api-webhook"),
    path("webhooks/<str:webhook_id>/secret", WebhookSecretView.as_view(), name="api-webhook-secret"),
    path("webhooks/<str:webhook_id>/headers", WebhookHeadersView.as_view(), name="api-webhook-headers"),
]
