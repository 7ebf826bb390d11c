"""Datetimes that come from outside — query parameters, event timestamps, form fields, cursors —
read by one parser and held to one range, on every face.

ISO 8601 can write instants that Python cannot hold once they are converted to UTC
(``9999-12-31T23:59:59-23:59`` is in the year 10000 in UTC), and instants so close to the end of
Python's calendar (years 1 to 9999) that adding a day to them — a report's last day, a local
time — overflows. Every datetime from outside is therefore converted to UTC here and must lie in
``[EARLIEST, LATEST]``, a day inside either end of the calendar; dates in
``[EARLIEST.date(), LATEST.date()]``. Anything else is a clear error (422 ``INVALID_QUERY_PARAMS``
on a query parameter, 422 naming the event and field on ingest, a form error in the dashboard),
never a 500.
"""

from datetime import UTC, date, datetime

from django.core.exceptions import ValidationError
from django.utils.dateparse import parse_datetime

EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
LATEST = datetime(9999, 12, 30, 23, 59, 59, 999999, tzinfo=UTC)
RANGE_MESSAGE = "Must lie between 0001-01-02T00:00:00Z and 9999-12-30T23:59:59Z (in UTC)."
DATE_RANGE_MESSAGE = "Must lie between 0001-01-02 and 9999-12-30."
FORMAT_MESSAGE = "Enter a valid date/time in ISO 8601, such as 2025-01-31T12:00:00Z."


def to_utc(value: datetime) -> datetime:
    """``value`` in UTC (a naive one is taken as UTC), or ValueError if it is out of range."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        value = value.astimezone(UTC)
    except OverflowError:  # the offset carries it past year 9999 or before year 1
        raise ValueError(RANGE_MESSAGE) from None
    if not EARLIEST <= value <= LATEST:
        raise ValueError(RANGE_MESSAGE)
    return value


def parse_datetime_utc(text: str) -> datetime:
    """An ISO 8601 datetime (``Z``, any offset, fractions; naive = UTC) in UTC, or ValueError."""
    try:
        value = parse_datetime(text.strip())
    except ValueError:  # well-formed but impossible: 2025-02-30, an offset of 24 hours or more
        value = None
    if value is None:
        raise ValueError(FORMAT_MESSAGE)
    return to_utc(value)


def check_date(value: date) -> date:
    """``value`` if it is in range, else ValueError."""
    if not EARLIEST.date() <= value <= LATEST.date():
        raise ValueError(DATE_RANGE_MESSAGE)
    return value


def validate_date(value: date) -> None:
    """``check_date`` as a form field's validator."""
    try:
        check_date(value)
    except ValueError as exc:
        raise ValidationError(str(exc), code="out_of_range") from None
