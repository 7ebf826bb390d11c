"""Decoding and validating usage events, shared by the ingest API and ``import_events``.

Events are decoded and type-checked by msgspec in C (about a microsecond per event), so a batch of
1,000 costs about a millisecond before any Python runs per event. Every error names the event's
index and the field.
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

import msgspec

from dodo_billing.errors import ApplicationError, InvalidRequestBody
from dodo_billing.validation import METADATA_MAX_KEYS, METADATA_MAX_VALUE_LENGTH
from metering.models import EVENT_ID_MAX_LENGTH, EVENT_NAME_MAX_LENGTH

MAX_EVENTS_PER_REQUEST = 1000

MetadataKey = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
MetadataValue = Annotated[str, msgspec.Meta(max_length=METADATA_MAX_VALUE_LENGTH)] | int | float | bool


class EventIn(msgspec.Struct):
    event_id: Annotated[str, msgspec.Meta(min_length=1, max_length=EVENT_ID_MAX_LENGTH)]
    customer_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    event_name: Annotated[str, msgspec.Meta(min_length=1, max_length=EVENT_NAME_MAX_LENGTH)]
    timestamp: datetime | None = None
    metadata: (
        Annotated[dict[MetadataKey, MetadataValue], msgspec.Meta(max_length=METADATA_MAX_KEYS)] | None
    ) = None


class IngestBody(msgspec.Struct):
    events: Annotated[list[EventIn], msgspec.Meta(min_length=1, max_length=MAX_EVENTS_PER_REQUEST)]


_body_decoder = msgspec.json.Decoder(IngestBody)
_event_decoder = msgspec.json.Decoder(EventIn)
_encode = msgspec.json.encode
_PATH = re.compile(r"\$(?:\.events)?(?:\[(?P<index>\d+)\])?(?:\.(?P<field>\w+))?")


class EventRejected(ApplicationError):
    """A 400 about one event of a batch; the body names ``index`` and ``field``."""

    status = 400

    def __init__(self, message, *, index, field, code):
        super().__init__(
            f"events[{index}].{field}: {message}", code=code, extra={"index": index, "field": field}
        )


def _schema_error(exc: msgspec.ValidationError, *, index_offset: int = 0) -> InvalidRequestBody:
    text = str(exc)
    message, _, path = text.rpartition(" - at `")
    path = path.rstrip("`")
    match = _PATH.match(path)
    index = match and match.group("index")
    field = match and match.group("field")
    extra = {}
    if index is not None:
        extra["index"] = int(index) + index_offset
    if field:
        extra["field"] = field
    code = "INVALID_REQUEST_BODY"
    if field == "metadata" and "of length <=" in message and "object" in message:
        code = "MAXIMUM_KEYS_REACHED"
    where = f"events[{extra['index']}]" + (f".{field}" if field else "") if "index" in extra else path
    return InvalidRequestBody(f"{where}: {message or text}", code=code, extra=extra)


def decode_ingest_body(body: bytes) -> list[EventIn]:
    """The events of an ingest request body, or a 422 naming the event index and field."""
    if not body:
        raise InvalidRequestBody('The request body must be {"events": [...]} with 1 to 1000 events.')
    try:
        return _body_decoder.decode(body).events
    except msgspec.ValidationError as exc:
        raise _schema_error(exc) from None
    except msgspec.DecodeError as exc:
        raise InvalidRequestBody(f"Malformed JSON: {exc}") from None


def decode_event(data: bytes | dict) -> EventIn:
    """One event (an NDJSON line or a dict), or InvalidRequestBody naming the field."""
    try:
        if isinstance(data, bytes | str):
            return _event_decoder.decode(data)
        return msgspec.convert(data, EventIn, strict=False)
    except msgspec.ValidationError as exc:
        raise _schema_error(exc) from None
    except msgspec.DecodeError as exc:
        raise InvalidRequestBody(f"Malformed JSON: {exc}") from None


@dataclass(frozen=True)
class EventWindow:
    """The accepted timestamps: [now - past, now + future]."""

    now: datetime
    past: timedelta
    future: timedelta

    @classmethod
    def for_business(cls, business, now: datetime) -> "EventWindow":
        return cls(
            now=now,
            past=timedelta(seconds=business.event_window_past_seconds),
            future=timedelta(seconds=business.event_window_future_seconds),
        )

    def problem(self, timestamp: datetime) -> str | None:
        if timestamp < self.now - self.past:
            return (
                f"{timestamp.isoformat()} is more than {_span(self.past)} in the past; widen the business's "
                "event window to backfill."
            )
        if timestamp > self.now + self.future:
            return f"{timestamp.isoformat()} is more than {_span(self.future)} in the future."
        return None


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} seconds"


def event_timestamp(event: EventIn, window: EventWindow) -> datetime:
    """The event's timestamp in UTC (receipt time when absent; a naive one is UTC)."""
    timestamp = event.timestamp
    if timestamp is None:
        return window.now
    if timestamp.tzinfo is None:
        return timestamp.replace(tzinfo=UTC)
    return timestamp.astimezone(UTC)


def encode_metadata(metadata: dict | None) -> str | None:
    return None if metadata is None else _encode(metadata).decode()
