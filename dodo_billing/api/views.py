"""Base classes and shared endpoints of the REST API."""

import django_filters
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, inline_serializer
from rest_framework import serializers
from rest_framework.views import APIView

from dodo_billing.api.pagination import PageNumberPagination
from dodo_billing.errors import InvalidQueryParams, InvalidRequestBody
from dodo_billing.validation import nul_parameters

ErrorSerializer = inline_serializer(
    "Error",
    fields={
        "code": serializers.CharField(help_text="UPPER_SNAKE error code, e.g. NOT_FOUND."),
        "message": serializers.CharField(),
    },
)


def error_responses(*statuses: int) -> dict:
    """OpenAPI responses for the given error statuses, all in the contract's error shape."""
    return {status: OpenApiResponse(ErrorSerializer) for status in statuses}


class BusinessAPIView(APIView):
    """An API view whose every query is scoped to the business of the request's API key."""

    @property
    def business(self):
        return self.request.user.business

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)  # authentication, permissions, rate limits first
        # Every query parameter, not only a FilterSet's: PostgreSQL cannot compare text with NUL.
        names = nul_parameters(request.query_params)
        if names:
            raise InvalidQueryParams(
                "; ".join(f"{name}: NUL characters are not allowed." for name in names),
                extra={"errors": {name: ["NUL characters are not allowed."] for name in names}},
            )

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        for name, value in getattr(request, "rate_limit_headers", {}).items():
            response[name] = value
        return response

    def validated(self, serializer_class, data, **kwargs) -> dict:
        """Validate a request body; anything that is not a JSON object is a 422 too."""
        if not isinstance(data, dict):
            raise InvalidRequestBody("The request body must be a JSON object.")
        serializer = serializer_class(data=data, **kwargs)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def paginated(self, queryset, serializer_class):
        """One page of ``queryset`` as the contract's ``{"items": [...]}``."""
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(queryset, self.request, view=self)
        return paginator.get_paginated_response(serializer_class(page, many=True).data)


@csrf_exempt
def api_not_found(request, *args, **kwargs):
    """Catch-all for unknown ``/api/…`` paths: JSON 404, never an HTML page or a redirect."""
    response = JsonResponse({"code": "NOT_FOUND", "message": f"No API route for {request.path}"}, status=404)
    response["x-should-retry"] = "false"
    return response


def filterset_parameters(filterset_class) -> list[OpenApiParameter]:
    """OpenAPI query parameters for a FilterSet, so the schema documents what the selector accepts."""
    parameters = []
    for name, filter_ in filterset_class.base_filters.items():
        schema: dict = {"type": "string"}
        if isinstance(filter_, django_filters.IsoDateTimeFilter):
            schema = {"type": "string", "format": "date-time"}
        elif isinstance(filter_, django_filters.BooleanFilter):
            schema = {"type": "boolean"}
        elif isinstance(filter_, django_filters.ChoiceFilter):
            schema = {"type": "string", "enum": [value for value, _ in filter_.extra["choices"]]}
        parameters.append(
            OpenApiParameter(
                name,
                type=schema,
                location=OpenApiParameter.QUERY,
                required=False,
                description=str(filter_.extra.get("help_text", "")),
            )
        )
    return parameters
