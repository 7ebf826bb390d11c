"""The one error type of the project.

Services raise ``ApplicationError`` subclasses; the API turns each into the contract's error body
``{"code": ..., "message": ...}`` (plus any ``extra`` fields) with the class's HTTP status. The
dashboard shows the message as a flash message. Nothing else needs to know about HTTP.
"""


class ApplicationError(Exception):
    status = 400
    code = "INVALID_REQUEST_PARAMETERS"
    default_message = "The request could not be processed."
    # The SDK retries 408/409/429/5xx unless told not to; only transient errors should be retried.
    retryable = False

    def __init__(self, message: str | None = None, *, code: str | None = None, extra: dict | None = None):
        self.message = message or self.default_message
        if code:
            self.code = code
        self.extra = extra or {}
        super().__init__(self.message)

    def as_body(self) -> dict:
        return {"code": self.code, "message": self.message, **self.extra}


class InvalidRequestBody(ApplicationError):
    """Malformed JSON or a body that violates the schema (type, range, length, enum)."""

    status = 422
    code = "INVALID_REQUEST_BODY"
    default_message = "The request body is invalid."


class InvalidQueryParams(ApplicationError):
    status = 422
    code = "INVALID_QUERY_PARAMS"
    default_message = "The query parameters are invalid."


class InvalidRequestParameters(ApplicationError):
    """Well-formed, but not acceptable in context."""

    status = 400
    code = "INVALID_REQUEST_PARAMETERS"


class UnsupportedCurrency(ApplicationError):
    status = 400
    code = "UNSUPPORTED_CURRENCY"


class InsufficientWalletFunds(ApplicationError):
    status = 400
    code = "INSUFFICIENT_WALLET_FUNDS"
    default_message = "Insufficient balance for debit"


class WalletBalanceLimitExceeded(ApplicationError):
    status = 400
    code = "WALLET_BALANCE_LIMIT_EXCEEDED"


class Unauthorized(ApplicationError):
    status = 401
    code = "UNAUTHORIZED"
    default_message = "You are not authorised to perform this action"


class Forbidden(ApplicationError):
    status = 403
    code = "FORBIDDEN"
    default_message = "This API key does not allow this action"


class NotFound(ApplicationError):
    status = 404
    code = "NOT_FOUND"
    default_message = "Item not found"


class Conflict(ApplicationError):
    status = 409
    code = "CONFLICT"


class IdempotencyKeyReused(Conflict):
    code = "IDEMPOTENCY_KEY_ALREADY_USED"


class NotImplementedYet(ApplicationError):
    status = 501
    code = "NOT_IMPLEMENTED"


def validate_fields(instance) -> None:
    """Run a model's field validators (lengths, choices, formats); raise InvalidRequestBody."""
    from django.core.exceptions import ValidationError

    try:
        instance.clean_fields()
    except ValidationError as exc:
        messages = [f"{field}: {' '.join(errors)}" for field, errors in exc.message_dict.items()]
        raise InvalidRequestBody("; ".join(messages), extra={"errors": exc.message_dict}) from exc
