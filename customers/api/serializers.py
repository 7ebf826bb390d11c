from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from dodo_billing.api.fields import LOCALES, EmailField, MetadataField, StrictCharField, StrictChoiceField

phone_validator = RegexValidator(
    r"^\+?[0-9][0-9 ().-]{3,30}$",
    "Enter a phone number: digits with an optional leading +, spaces, dots, dashes or brackets.",
)


class CustomerSerializer(serializers.Serializer):
    """The contract's Customer object."""

    business_id = serializers.CharField()
    customer_id = serializers.CharField(source="id")
    name = serializers.CharField()
    email = serializers.CharField()
    phone_number = serializers.CharField(allow_null=True)
    metadata = MetadataField()
    preferred_locale = serializers.ChoiceField(choices=LOCALES, allow_null=True)
    created_at = serializers.DateTimeField()
    blocked_at = serializers.SerializerMethodField()
    blocklist_entry_id = serializers.SerializerMethodField()

    @extend_schema_field({"type": "string", "format": "date-time", "nullable": True})
    def get_blocked_at(self, obj):
        return None

    @extend_schema_field({"type": "string", "nullable": True})
    def get_blocklist_entry_id(self, obj):
        return None


class CustomerCreateSerializer(serializers.Serializer):
    email = EmailField()
    name = StrictCharField(max_length=255)
    metadata = MetadataField(required=False)
    phone_number = StrictCharField(
        max_length=32, required=False, allow_null=True, validators=[phone_validator]
    )
    preferred_locale = StrictChoiceField(choices=LOCALES, required=False, allow_null=True)


class CustomerUpdateSerializer(serializers.Serializer):
    """Every field optional; omitted = unchanged, null = cleared (name and email cannot be cleared)."""

    email = EmailField(required=False)
    name = StrictCharField(max_length=255, required=False)
    metadata = MetadataField(required=False, allow_null=True)
    phone_number = StrictCharField(
        max_length=32, required=False, allow_null=True, validators=[phone_validator]
    )
    preferred_locale = StrictChoiceField(choices=LOCALES, required=False, allow_null=True)
