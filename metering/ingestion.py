"""Decoding and validating usage events, shared by the ingest API and ``import_events``.

Events are decoded and type-checked by msgspec in C (about a microsecond per event), so a batch of
1,000 costs about a millisecond before any Python runs per event. Every error names the event's
index and the field.
"""

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated

import msgspec

from dodo_billing.datetimes import to_utc
from dodo_billing.errors import ApplicationError, InvalidRequestBody
from dodo_billing.json_input import (
    NESTING_MESSAGE,
    JSONRejected,
    load_json,
    may_hold_surrogates,
    nesting_exceeds,
)
from dodo_billing.money import MAX_AMOUNT
from dodo_billing.validation import METADATA_MAX_KEYS, METADATA_MAX_VALUE_LENGTH
from metering.models import EVENT_ID_MAX_LENGTH, EVENT_NAME_MAX_LENGTH

MAX_EVENTS_PER_REQUEST = 1000

# A numeric metadata value is at most 2**53 - 1 in magnitude (9,007,199,254,740,991: the largest
# integer every JSON client carries exactly, and the largest amount of money the product holds).
# Every meter aggregates such values exactly (PostgreSQL numeric), a period's usage is priced with
# enough precision for any price the catalog accepts (metering.services.billing.usage_charge), and
# a stored usage figure (38 digits, 12 decimals) holds the sum of 10**10 such values, so no value
# can overflow a sum, a product or a column. Usage is kept to 12 decimal places (usage_number).
USAGE_VALUE_MAX = MAX_AMOUNT
UsageNumber = (
    Annotated[int, msgspec.Meta(ge=-USAGE_VALUE_MAX, le=USAGE_VALUE_MAX)]
    | Annotated[float, msgspec.Meta(ge=-USAGE_VALUE_MAX, le=USAGE_VALUE_MAX)]
)
NUMBER_RANGE_MESSAGE = (
    f"a number from -{USAGE_VALUE_MAX:,} to {USAGE_VALUE_MAX:,} (2**53 - 1, the largest integer a "
    "JSON number carries exactly)."
)

MetadataKey = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
MetadataValue = Annotated[str, msgspec.Meta(max_length=METADATA_MAX_VALUE_LENGTH)] | UsageNumber | bool


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
_ERROR = re.compile(r"(?P<message>.*?)(?: - at `(?P<at>[^`]*)`(?: in `(?P<container>[^`]*)`)?)?$", re.S)
_MISSING_FIELD = re.compile(r"missing required field `(\w+)`")
_NUMBER_RANGE = re.compile(r"^(?:Expected `(?:int|float)` [<>]=|Number out of range)")


class _RawEvent(msgspec.Struct):
    metadata: dict[str, msgspec.Raw] | None = None


_raw_body_decoder = msgspec.json.Decoder(dict[str, list[_RawEvent]])
_raw_event_decoder = msgspec.json.Decoder(_RawEvent)


def _number_out_of_range(raw: bytes) -> bool:
    if not raw or raw[:1] not in b"-0123456789":
        return False
    try:
        return abs(Decimal(raw.decode())) > USAGE_VALUE_MAX
    except (InvalidOperation, UnicodeDecodeError):
        return False


def _out_of_range_key(data, index: int | None) -> str | None:
    """The metadata key of the (first) number out of range in event ``index`` of a raw body (or in
    a raw single event when ``index`` is None); None if it cannot be told."""
    try:
        if isinstance(data, dict):
            metadata = data.get("metadata") or {}
            return next((k for k, v in metadata.items() if _number_out_of_range(str(v).encode())), None)
        if index is None:
            metadata = _raw_event_decoder.decode(data).metadata or {}
        else:
            metadata = _raw_body_decoder.decode(data)["events"][index].metadata or {}
    except (msgspec.DecodeError, msgspec.ValidationError, KeyError, IndexError):
        return None
    return next((key for key, raw in metadata.items() if _number_out_of_range(bytes(raw))), None)


class EventRejected(ApplicationError):
    """A 400 about one event of a batch; the body names ``index`` and ``field``."""

    status = 400

    def __init__(self, message, *, index, field, code):
        super().__init__(
            f"events[{index}].{field}: {message}", code=code, extra={"index": index, "field": field}
        )


def _schema_error(exc: msgspec.ValidationError, root: str | None = None, data=None) -> InvalidRequestBody:
    """A msgspec error as a 422 that names the event index and the field.

    msgspec says ``<message> - at `$.events[3].timestamp```, ``… - at `$.metadata[...]``` for a
    metadata value, ``… - at `key` in `$.metadata``` for a metadata key, or just ``<message>``
    about the top-level object (``root`` names it in the message). A number out of range is named
    by its key (``metadata.tokens``), found in the raw ``data`` on this rare path.
    """
    parts = _ERROR.match(str(exc))
    message, key_error = parts["message"], parts["container"] is not None
    path = parts["container"] or parts["at"] or "$"
    location = _PATH.match(path)
    index, field = location["index"], location["field"] or ("events" if path == "$.events" else None)
    missing = _MISSING_FIELD.search(message)
    if missing and not field:
        field = missing[1]
    code = "INVALID_REQUEST_BODY"
    if field == "metadata" and not key_error and "of length <=" in message and "object" in message:
        code = "MAXIMUM_KEYS_REACHED"
    label = field or root or ""
    if field == "metadata" and (key_error or path.endswith("[...]")):
        label = "metadata key" if key_error else "metadata value"
        if not key_error and _NUMBER_RANGE.match(message):
            key = _out_of_range_key(data, None if index is None else int(index))
            message = NUMBER_RANGE_MESSAGE
            if key is not None:
                field = label = f"metadata.{key}"
    extra = {"field": field} if field else {}
    if index is not None:
        extra["index"] = int(index)
        label = f"events[{index}]" + (f".{label}" if field else "")
    extra["errors"] = {label or "non_field_errors": [message]}
    return InvalidRequestBody(f"{label}: {message}" if label else message, code=code, extra=extra)


def _decode(decoder, data: bytes | str, root: str | None = None):
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if nesting_exceeds(raw):  # msgspec would recurse into it (skipping an unknown field)
        raise JSONRejected(NESTING_MESSAGE)
    try:
        return decoder.decode(data)
    except msgspec.ValidationError as exc:
        raise _schema_error(exc, root, data) from None
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        _reject_surrogates(raw)
        raise InvalidRequestBody(f"Malformed JSON: {exc}") from None


def _reject_surrogates(raw: bytes) -> None:
    """msgspec refuses a lone surrogate as malformed JSON; say which event and field holds it."""
    if not may_hold_surrogates(raw):
        return
    try:
        load_json(raw)
    except JSONRejected as exc:
        location = _PATH.match(f"$.{exc.path}")
        index = location["index"]
        position = None if index is None else int(index)
        raise _invalid_field(location["field"] or exc.path, exc.reason, position) from None
    except ValueError:  # not JSON either: the decoder's own error says why
        return


def _nul_field(event: EventIn) -> str | None:
    """The first field holding a NUL character, which PostgreSQL text and jsonb cannot store."""
    for field in ("event_id", "customer_id", "event_name"):
        if "\x00" in getattr(event, field):
            return field
    if event.metadata and any(
        "\x00" in k or (isinstance(v, str) and "\x00" in v) for k, v in event.metadata.items()
    ):
        return "metadata"
    return None


def _invalid_field(field: str, message: str, index: int | None) -> InvalidRequestBody:
    """A 422 naming the field, and the event's index in the request (None: a single event)."""
    where = field if index is None else f"events[{index}].{field}"
    extra = {"field": field} if index is None else {"index": index, "field": field}
    return InvalidRequestBody(f"{where}: {message}", extra={**extra, "errors": {where: [message]}})


def _reject_nul(events: list[EventIn], index_offset: int | None = 0) -> None:
    for index, event in enumerate(events):
        field = _nul_field(event)
        if field:
            where = field if index_offset is None else f"events[{index + index_offset}].{field}"
            extra = (
                {"field": field} if index_offset is None else {"index": index + index_offset, "field": field}
            )
            message = "the NUL character (\\u0000) is not allowed."
            raise InvalidRequestBody(f"{where}: {message}", extra={**extra, "errors": {where: [message]}})


def _timestamps_to_utc(events: list[EventIn], index_offset: int | None = 0) -> None:
    """Each timestamp in UTC, or a 422 when it is out of ``dodo_billing.datetimes``' range (an
    offset can carry 9999-12-31 past Python's last year)."""
    for index, event in enumerate(events):
        if event.timestamp is not None:
            try:
                event.timestamp = to_utc(event.timestamp)
            except ValueError as exc:
                position = None if index_offset is None else index + index_offset
                raise _invalid_field("timestamp", str(exc), position) from None


def decode_ingest_body(body: bytes) -> list[EventIn]:
    """The events of an ingest request body, or a 422 naming the event index and field."""
    if not body:
        raise InvalidRequestBody('The request body must be {"events": [...]} with 1 to 1000 events.')
    events = _decode(_body_decoder, body).events
    if b"\\u0000" in body:  # rare: only then look for the event that carries it
        _reject_nul(events)
    _timestamps_to_utc(events)
    return events


def decode_event(data: bytes | str | dict) -> EventIn:
    """One event (an NDJSON line or a dict), or InvalidRequestBody naming the field."""
    if isinstance(data, dict):
        try:
            event = msgspec.convert(data, EventIn, strict=False)
        except msgspec.ValidationError as exc:
            raise _schema_error(exc, "event", data) from None
    else:
        event = _decode(_event_decoder, data, "event")
    _reject_nul([event], index_offset=None)
    _timestamps_to_utc([event], index_offset=None)
    return event


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
    """The event's timestamp in UTC (receipt time when absent; a naive one is UTC). The decoders
    have already held it to ``dodo_billing.datetimes``' range."""
    return window.now if event.timestamp is None else to_utc(event.timestamp)


def encode_metadata(metadata: dict | None) -> str | None:
    return None if metadata is None else _encode(metadata).decode()
