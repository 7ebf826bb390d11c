"""Validation rules shared by the API, the dashboard, admin forms and services."""

import math
from decimal import Decimal

METADATA_MAX_KEYS = 50
METADATA_MAX_KEY_LENGTH = 100
METADATA_MAX_VALUE_LENGTH = 500


def nul_parameters(data) -> list[str]:
    """The names of the parameters (a QueryDict or a dict) whose name or any value holds a NUL
    character, which PostgreSQL cannot store or even compare."""
    getlist = getattr(data, "getlist", lambda key: [data[key]])
    return [key for key in data if "\x00" in key or any("\x00" in str(value) for value in getlist(key))]


def metadata_problem(data) -> tuple[str, str] | None:
    """``(code, message)`` if ``data`` is not valid metadata, else None.

    Valid metadata is a JSON object of at most 50 pairs; keys are 1–100 characters; values are
    strings (≤ 500 characters), finite numbers or booleans — no objects, arrays or null.
    """
    if not isinstance(data, dict):
        return "INVALID_REQUEST_BODY", "Metadata must be a JSON object of key/value pairs."
    if len(data) > METADATA_MAX_KEYS:
        return "MAXIMUM_KEYS_REACHED", f"Metadata may have at most {METADATA_MAX_KEYS} keys, got {len(data)}."
    for key, value in data.items():
        if not isinstance(key, str) or not 1 <= len(key) <= METADATA_MAX_KEY_LENGTH:
            return "INVALID_REQUEST_BODY", f"Metadata keys must be 1 to {METADATA_MAX_KEY_LENGTH} characters."
        if "\x00" in key or (isinstance(value, str) and "\x00" in value):
            return "INVALID_REQUEST_BODY", f"The metadata entry {key!r} holds a NUL character (\\u0000)."
        if isinstance(value, str):
            if len(value) > METADATA_MAX_VALUE_LENGTH:
                return (
                    "INVALID_REQUEST_BODY",
                    f"The metadata value of {key!r} is longer than {METADATA_MAX_VALUE_LENGTH} characters.",
                )
        elif isinstance(value, bool | int) or (isinstance(value, float | Decimal) and math.isfinite(value)):
            continue
        else:
            return (
                "INVALID_REQUEST_BODY",
                f"The metadata value of {key!r} must be a string, number or boolean "
                "(no objects, arrays or null).",
            )
    return None
