"""Strict serializer fields for a money API: no silent coercion of types.

DRF's stock fields turn ``"100"`` or ``100.0`` into ``100`` and ``123`` into ``"123"``; for
amounts of money that is a bug waiting to happen, so these fields accept exactly the JSON type the
contract names and answer anything else with a clear error.
"""

from django.core.validators import EmailValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from dodo_billing.money import CURRENCIES, MAX_AMOUNT
from dodo_billing.validation import METADATA_MAX_KEYS, METADATA_MAX_VALUE_LENGTH, metadata_problem

LOCALES = tuple(
    [
        "ar",
        "ca",
        "zh",
        "nl",
        "en",
        "fr",
        "de",
        "he",
        "id",
        "it",
        "ja",
        "ka",
        "ko",
        "ms",
        "pl",
        "pt",
        "ro",
        "ru",
        "es",
        "sv",
        "th",
        "tr",
    ]
)


class StrictIntegerField(serializers.IntegerField):
    default_error_messages = {
        "invalid": "Must be a whole number (a JSON integer, not a string or a fraction)."
    }

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class AmountField(StrictIntegerField):
    """A positive amount of money in minor units, at most 2**53 - 1."""

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_AMOUNT)
        kwargs.setdefault("help_text", "Amount in the currency's minor units (cents, paise), positive.")
        super().__init__(**kwargs)


class StrictCharField(serializers.CharField):
    default_error_messages = {"invalid": "Must be a string."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictChoiceField(serializers.ChoiceField):
    """A string that must be one of the choices exactly (case-sensitive)."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid_choice", input=data)
        return super().to_internal_value(data)


class CurrencyField(StrictChoiceField):
    default_error_messages = {"invalid_choice": '"{input}" is not an ISO-4217 currency code in upper case.'}

    def __init__(self, **kwargs):
        super().__init__(choices=CURRENCIES, **kwargs)


class EmailField(StrictCharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 254)
        super().__init__(**kwargs)
        self.validators.append(EmailValidator(message="Enter a valid email address."))


@extend_schema_field(
    {
        "type": "object",
        "maxProperties": METADATA_MAX_KEYS,
        "additionalProperties": {
            "oneOf": [
                {"type": "string", "maxLength": METADATA_MAX_VALUE_LENGTH},
                {"type": "number"},
                {"type": "boolean"},
            ]
        },
        "description": "Flat key/value pairs: string, number or boolean values; at most 50 keys.",
    }
)
class MetadataField(serializers.Field):
    """A flat JSON object of string keys to string, number or boolean values (≤ 50 pairs)."""

    def to_internal_value(self, data):
        problem = metadata_problem(data)
        if problem is not None:
            code, message = problem
            raise serializers.ValidationError(message, code=code)
        return data

    def to_representation(self, value):
        return value if value is not None else {}
