"""A report definition's period: presets resolved again each time a report runs, or custom dates,
as inclusive UTC dates or a half-open UTC range, and the time buckets (day, week, month) it spans.
"""

import calendar
from datetime import UTC, date, datetime, time, timedelta

from django.utils import timezone

from dodo_billing.datetimes import check_date
from dodo_billing.errors import InvalidQueryParams

MAX_PERIOD_DAYS = 3 * 366

PERIODS = {
    "last_7_days": "Last 7 days",
    "last_30_days": "Last 30 days",
    "this_month": "This month",
    "last_month": "Last month",
    "custom": "Custom dates",
}


def add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    return date(day.year + month // 12, month % 12 + 1, 1)


def period_dates(definition: dict, *, today: date | None = None) -> tuple[date, date]:
    """The inclusive first and last UTC dates of a definition's period."""
    today = today or timezone.now().astimezone(UTC).date()
    preset = definition.get("period") or "last_30_days"
    if preset == "last_7_days":
        return today - timedelta(days=6), today
    if preset == "last_30_days":
        return today - timedelta(days=29), today
    if preset == "this_month":
        first = today.replace(day=1)
        return first, first.replace(day=calendar.monthrange(first.year, first.month)[1])
    if preset == "last_month":
        first = add_months(today.replace(day=1), -1)
        return first, first.replace(day=calendar.monthrange(first.year, first.month)[1])
    if preset != "custom":
        raise InvalidQueryParams(f"Unknown period {preset!r}.")
    try:
        start, end = date.fromisoformat(definition["start"]), date.fromisoformat(definition["end"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidQueryParams("A custom period needs start and end dates (YYYY-MM-DD).") from exc
    for name, day in (("start", start), ("end", end)):
        try:
            check_date(day)
        except ValueError as exc:  # its last midnight must be representable
            raise InvalidQueryParams(f"The period's {name}: {exc}") from None
    if start > end:
        raise InvalidQueryParams("The period's start must not be after its end.")
    if (end - start).days + 1 > MAX_PERIOD_DAYS:
        raise InvalidQueryParams(f"The period is longer than {MAX_PERIOD_DAYS} days.")
    return start, end


def period_bounds(definition: dict, *, today: date | None = None) -> tuple[datetime, datetime]:
    """[start, end) in UTC: from the first date's midnight to the midnight after the last."""
    first, last = period_dates(definition, today=today)
    return (
        datetime.combine(first, time(), tzinfo=UTC),
        datetime.combine(last + timedelta(days=1), time(), tzinfo=UTC),
    )


def period_buckets(trunc: str, start: datetime, end: datetime) -> list[date]:
    """The first date of each day, week (Monday) or month that [start, end) touches."""
    day = start.date()
    if trunc == "week":
        day -= timedelta(days=day.weekday())
    elif trunc == "month":
        day = day.replace(day=1)
    buckets = []
    while day < end.date():
        buckets.append(day)
        day = add_months(day, 1) if trunc == "month" else day + timedelta(days=7 if trunc == "week" else 1)
    return buckets
