"""Every API error leaves as ``{"code": "UPPER_SNAKE", "message": "..."}`` with the right status.

Status policy (docs/api.md has the full table):
- 401 UNAUTHORIZED: missing, malformed, unknown or revoked key.
- 403 FORBIDDEN: a read-only key on a write.
- 404 NOT_FOUND: unknown object, or an object of another business (never 403: no existence leak).
- 422 INVALID_REQUEST_BODY: malformed JSON, wrong types, missing fields, out-of-range values.
- 422 INVALID_QUERY_PARAMS: bad query parameters (page_size, page_number, dates, enums).
- 400: well-formed but not acceptable (INSUFFICIENT_WALLET_FUNDS, UNSUPPORTED_CURRENCY, …).
- 409: conflicts such as a reused idempotency key.
- 503 SERVICE_UNAVAILABLE (retryable, ``retry-after: 1``): the database was unreachable or gave up
  on the transaction; nothing was written.
Non-transient errors carry ``x-should-retry: false`` so the SDK does not repeat them.
"""

import logging

from django import db
from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework.views import set_rollback

from dodo_billing.errors import ApplicationError

logger = logging.getLogger(__name__)

# Statuses the SDK would retry by default that are transient and should stay retryable.
_RETRYABLE_STATUSES = {408, 429, 500, 502, 503, 504}


def _flatten(detail, path=()):
    """Yield ``(field path, message, code)`` for every leaf of a DRF error detail."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            yield from _flatten(value, (*path, str(key)))
    elif isinstance(detail, list):
        for index, value in enumerate(detail):
            sub = path if not isinstance(value, dict | list) else (*path, str(index))
            yield from _flatten(value, sub)
    else:
        yield ".".join(p for p in path if p != "non_field_errors"), str(detail), getattr(detail, "code", None)


def validation_error_body(detail, default_code: str) -> dict:
    leaves = list(_flatten(detail))
    code = default_code
    for _, _, leaf_code in leaves:
        # Codes already written in the contract's UPPER_SNAKE form (MAXIMUM_KEYS_REACHED, …) win.
        if leaf_code and leaf_code.isupper():
            code = leaf_code
            break
    messages = [f"{field}: {message}" if field else message for field, message, _ in leaves]
    errors: dict[str, list[str]] = {}
    for field, message, _ in leaves:
        errors.setdefault(field or "non_field_errors", []).append(message)
    return {"code": code, "message": "; ".join(messages) or "Invalid request.", "errors": errors}


def error_response(status: int, body: dict, *, retryable: bool | None = None, headers=None) -> Response:
    response = Response(body, status=status, headers=headers)
    if retryable is None:
        retryable = status in _RETRYABLE_STATUSES
    response["x-should-retry"] = "true" if retryable else "false"
    return response


def exception_handler(exc, context):
    set_rollback()
    if isinstance(exc, ApplicationError):
        return error_response(exc.status, exc.as_body(), retryable=exc.retryable)
    if isinstance(exc, RequestDataTooBig):
        return error_response(
            413,
            {
                "code": "PAYLOAD_TOO_LARGE",
                "message": f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes.",
            },
        )
    if isinstance(exc, drf.ParseError):
        return error_response(
            422, {"code": "INVALID_REQUEST_BODY", "message": f"Malformed JSON: {exc.detail}"}
        )
    if isinstance(exc, drf.ValidationError):
        return error_response(422, validation_error_body(exc.detail, "INVALID_REQUEST_BODY"))
    if isinstance(exc, drf.NotAuthenticated | drf.AuthenticationFailed):
        return error_response(401, {"code": "UNAUTHORIZED", "message": str(exc.detail)})
    if isinstance(exc, drf.PermissionDenied | DjangoPermissionDenied):
        return error_response(403, {"code": "FORBIDDEN", "message": "You do not have permission to do this."})
    if isinstance(exc, drf.NotFound | Http404):
        return error_response(404, {"code": "NOT_FOUND", "message": "Item not found"})
    if isinstance(exc, drf.MethodNotAllowed):
        return error_response(405, {"code": "METHOD_NOT_ALLOWED", "message": str(exc.detail)})
    if isinstance(exc, drf.UnsupportedMediaType):
        return error_response(
            415, {"code": "UNSUPPORTED_MEDIA_TYPE", "message": "Send the body as application/json."}
        )
    if isinstance(exc, drf.Throttled):
        wait = int(exc.wait or 1)
        return error_response(
            429,
            {"code": "TOO_MANY_REQUESTS", "message": str(exc.detail)},
            headers={"retry-after": str(max(wait, 1))},
        )
    if isinstance(exc, drf.APIException):
        return error_response(exc.status_code, {"code": "INVALID_REQUEST", "message": str(exc.detail)})
    if isinstance(exc, db.OperationalError | db.InterfaceError):
        # The database is unreachable (restarting, failing over) or gave up on this transaction
        # (deadlock, serialization failure, timeout). The transaction was rolled back, nothing was
        # written: the client may repeat the request, with the same idempotency key for a write.
        logger.warning("Database unavailable in %s: %s", context.get("view").__class__.__name__, exc)
        return error_response(
            503,
            {
                "code": "SERVICE_UNAVAILABLE",
                "message": "The service is briefly unavailable; retry the request.",
            },
            retryable=True,
            headers={"retry-after": "1"},
        )
    logger.exception("Unhandled error in %s", context.get("view").__class__.__name__)
    return error_response(500, {"code": "INTERNAL_SERVER_ERROR", "message": "Internal server error"})
