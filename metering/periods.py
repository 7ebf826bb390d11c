"""Billing periods: ``anchor + k·(count × interval)``, computed from the anchor, never step by step.

Computing every boundary from the anchor means no drift: a monthly subscription that started on
Jan 31 renews on Feb 28 (or 29), Mar 31, Apr 30, … (calendar months, clamped to the month's end).
"""

from datetime import datetime

from dateutil.relativedelta import relativedelta

_UNITS = {"Day": "days", "Week": "weeks", "Month": "months", "Year": "years"}


def shift(moment: datetime, interval: str, count: int) -> datetime:
    return moment + relativedelta(**{_UNITS[interval]: count})


def period_bounds(anchor: datetime, interval: str, count: int, index: int) -> tuple[datetime, datetime]:
    """[start, end) of period ``index`` (from 0) of a schedule starting at ``anchor``."""
    return shift(anchor, interval, count * index), shift(anchor, interval, count * (index + 1))
