"""The contract's page-number pagination: ``page_number`` (0-based), ``page_size`` (1–100, default 10).

Responses are ``{"items": [...]}`` and nothing else; a page past the end is ``{"items": []}``
(the SDK's auto-pagination stops on the first empty page). No total is counted, so a page costs
one indexed query however large the table is.
"""

from rest_framework.pagination import BasePagination
from rest_framework.response import Response

from dodo_billing.errors import InvalidQueryParams

DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 100
MAX_PAGE_NUMBER = 2**31 - 1


def _int_param(request, name: str, default: int, minimum: int, maximum: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidQueryParams(f"{name} must be an integer, got {raw!r}.") from None
    if not minimum <= value <= maximum:
        raise InvalidQueryParams(f"{name} must be between {minimum} and {maximum}, got {value}.")
    return value


def page_params(request) -> tuple[int, int]:
    page_number = _int_param(request, "page_number", 0, 0, MAX_PAGE_NUMBER)
    page_size = _int_param(request, "page_size", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
    return page_number, page_size


class PageNumberPagination(BasePagination):
    def paginate_queryset(self, queryset, request, view=None):
        page_number, page_size = page_params(request)
        offset = page_number * page_size
        return list(queryset[offset : offset + page_size])

    def get_paginated_response(self, data):
        return Response({"items": data})

    def get_paginated_response_schema(self, schema):
        return {"type": "object", "required": ["items"], "properties": {"items": schema}}

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": "page_number",
                "in": "query",
                "required": False,
                "description": "Page to return, 0-based. A page past the end is empty.",
                "schema": {"type": "integer", "minimum": 0, "maximum": MAX_PAGE_NUMBER, "default": 0},
            },
            {
                "name": "page_size",
                "in": "query",
                "required": False,
                "description": "Items per page.",
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE, "default": 10},
            },
        ]
