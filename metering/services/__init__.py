"""Writes of the metering app: usage (events, meters) and billing (products, subscriptions, payments)."""

from metering.services.usage import (
    events_check,
    events_ingest,
    events_insert,
    meter_archive,
    meter_create,
    meter_unarchive,
    meter_update,
    validate_aggregation,
)

__all__ = [
    "events_check",
    "events_ingest",
    "events_insert",
    "meter_archive",
    "meter_create",
    "meter_unarchive",
    "meter_update",
    "validate_aggregation",
]
