"""Reads of the metering app: usage (meters, events, usage queries) and billing."""

from metering.selectors.usage import (
    GRANULARITIES,
    event_get,
    event_list,
    meter_events,
    meter_get,
    meter_list,
    meter_usage,
    meter_usage_by_customer,
    meter_usage_series,
)

__all__ = [
    "GRANULARITIES",
    "event_get",
    "event_list",
    "meter_events",
    "meter_get",
    "meter_list",
    "meter_usage",
    "meter_usage_by_customer",
    "meter_usage_series",
]
