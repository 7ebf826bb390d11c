"""Per-API-key rate limits (DRF throttle): a burst limit per second and a limit per minute.

Counters live in Django's cache (``CACHE_URL``: Redis in production, so every web worker shares
them; the in-process default limits each worker separately) and are incremented atomically, one
key per window. Over a limit the API answers 429 ``TOO_MANY_REQUESTS`` with ``retry-after`` (whole
seconds until the window ends), which the SDK honours. Every answer to a keyed request carries
``X-RateLimit-Limit`` and ``X-RateLimit-Remaining`` for the minute window.

``API_RATE_LIMIT`` sets the limits as ``"<per minute>/min,<per second>/s"`` (default
``"6000/min,200/s"``); ``off`` turns them off.
"""

import math
import re
import time
from functools import lru_cache

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from rest_framework.throttling import BaseThrottle

UNITS = {"s": 1, "sec": 1, "second": 1, "min": 60, "minute": 60, "h": 3600, "hour": 3600}


def parse_rate_limits(value: str) -> list[tuple[int, int]]:
    """``"6000/min,200/s"`` → ``[(6000, 60), (200, 1)]``; ``"off"`` or empty → no limits."""
    value = (value or "").strip().lower()
    if value in ("", "off", "none", "0", "false"):
        return []
    limits = []
    for part in value.split(","):
        match = re.fullmatch(r"\s*(\d+)\s*/\s*([a-z]+)\s*", part)
        if match is None or match.group(2) not in UNITS or int(match.group(1)) < 1:
            raise ImproperlyConfigured(
                f"API_RATE_LIMIT: cannot read {part!r} (e.g. '6000/min,200/s' or 'off')."
            )
        limits.append((int(match.group(1)), UNITS[match.group(2)]))
    return limits


@lru_cache(maxsize=8)
def _limits(value: str) -> tuple[tuple[tuple[int, int], ...], int]:
    """The parsed limits and their longest window, read once per setting value (not per request)."""
    limits = tuple(parse_rate_limits(value))
    return limits, max((seconds for _, seconds in limits), default=0)


class ApiKeyRateThrottle(BaseThrottle):
    def __init__(self):
        self._wait = None

    def allow_request(self, request, view):
        limits, longest = _limits(settings.API_RATE_LIMIT)
        api_key = request.auth
        if not limits or api_key is None:
            return True
        now = time.time()
        headers = {}
        for limit, seconds in limits:
            window = int(now // seconds)
            key = f"ratelimit:{api_key.pk}:{seconds}:{window}"
            cache.add(key, 0, timeout=seconds + 1)
            try:
                used = cache.incr(key)
            except ValueError:  # expired between add and incr
                cache.set(key, 1, timeout=seconds + 1)
                used = 1
            if seconds == longest:
                headers = {
                    "X-RateLimit-Limit": str(limit),
                    "X-RateLimit-Remaining": str(max(limit - used, 0)),
                }
            if used > limit:
                self._wait = max((window + 1) * seconds - now, 0.001)
                request.rate_limit_headers = headers
                return False
        request.rate_limit_headers = headers
        return True

    def wait(self):
        return math.ceil(self._wait) if self._wait is not None else None
