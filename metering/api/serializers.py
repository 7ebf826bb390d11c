from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from dodo_billing.api.fields import MetadataField, StrictCharField
from metering.meter_filters import OPERATORS
from metering.models import EVENT_ID_MAX_LENGTH, EVENT_NAME_MAX_LENGTH, Aggregation

CONDITION_SCHEMA = {
    "type": "object",
    "required": ["key", "operator", "value"],
    "properties": {
        "key": {"type": "string", "minLength": 1, "maxLength": 100},
        "operator": {"type": "string", "enum": list(OPERATORS)},
        "value": {"oneOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}]},
    },
}


def _filter_schema(depth: int) -> dict:
    clause = CONDITION_SCHEMA if depth == 3 else {"oneOf": [CONDITION_SCHEMA, _filter_schema(depth + 1)]}
    return {
        "type": "object",
        "required": ["conjunction", "clauses"],
        "properties": {
            "conjunction": {"type": "string", "enum": ["and", "or"]},
            "clauses": {"type": "array", "minItems": 1, "maxItems": 10, "items": clause},
        },
    }


FILTER_SCHEMA = {**_filter_schema(1), "nullable": True}
AGGREGATION_SCHEMA = {
    "type": "object",
    "required": ["type"],
    "properties": {
        "type": {"type": "string", "enum": list(Aggregation.values)},
        "key": {
            "type": "string",
            "nullable": True,
            "description": "Metadata key; required unless type is count.",
        },
    },
}


@extend_schema_field(FILTER_SCHEMA)
class MeterFilterField(serializers.JSONField):
    """Passed through as JSON; ``metering.meter_filters.validate_meter_filter`` checks it."""


@extend_schema_field(AGGREGATION_SCHEMA)
class AggregationField(serializers.JSONField):
    """Passed through as JSON; ``metering.services.validate_aggregation`` checks it."""


class MeterSerializer(serializers.Serializer):
    id = serializers.CharField()
    business_id = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField(allow_null=True)
    event_name = serializers.CharField()
    measurement_unit = serializers.CharField()
    aggregation = serializers.SerializerMethodField()
    filter = MeterFilterField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    @extend_schema_field(AGGREGATION_SCHEMA)
    def get_aggregation(self, meter):
        return {"type": meter.aggregation_type, "key": meter.aggregation_key}


class MeterCreateSerializer(serializers.Serializer):
    name = StrictCharField(max_length=255)
    event_name = StrictCharField(max_length=EVENT_NAME_MAX_LENGTH)
    measurement_unit = StrictCharField(max_length=100)
    aggregation = AggregationField()
    description = StrictCharField(required=False, allow_null=True, allow_blank=True, max_length=2000)
    filter = MeterFilterField(required=False, allow_null=True)


class MeterUpdateSerializer(serializers.Serializer):
    name = StrictCharField(max_length=255, required=False)
    measurement_unit = StrictCharField(max_length=100, required=False)
    description = StrictCharField(required=False, allow_null=True, allow_blank=True, max_length=2000)


class EventSerializer(serializers.Serializer):
    business_id = serializers.CharField()
    customer_id = serializers.CharField()
    event_id = serializers.CharField()
    event_name = serializers.CharField()
    timestamp = serializers.DateTimeField()
    metadata = MetadataField(allow_null=True)

    def to_representation(self, event):
        data = super().to_representation(event)
        data["metadata"] = event.metadata  # null stays null
        return data


class EventInputSerializer(serializers.Serializer):
    """Documents the shape of one ingested event (decoding itself is done by msgspec)."""

    event_id = StrictCharField(
        max_length=EVENT_ID_MAX_LENGTH, help_text="Your idempotency key for the event."
    )
    customer_id = StrictCharField()
    event_name = StrictCharField(max_length=EVENT_NAME_MAX_LENGTH)
    timestamp = serializers.DateTimeField(
        required=False, allow_null=True, help_text="Default: time of receipt."
    )
    metadata = MetadataField(required=False, allow_null=True)


class IngestRequestSerializer(serializers.Serializer):
    events = EventInputSerializer(many=True, min_length=1, max_length=1000)


class IngestResponseSerializer(serializers.Serializer):
    ingested_count = serializers.IntegerField(
        help_text="Events stored now; repeats of earlier event_ids excluded."
    )
