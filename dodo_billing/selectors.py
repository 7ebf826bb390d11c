"""Reads for businesses, API keys and exchange rates."""

import hmac
from decimal import Decimal

from dodo_billing.models import ApiKey, Business, ExchangeRate, UserPreference
from dodo_billing.services import API_KEY_PREFIX, api_key_digest


def api_key_get_active(*, raw_key: str) -> ApiKey | None:
    """The active key whose secret is ``raw_key``, with its business loaded; else None."""
    if not raw_key.startswith(API_KEY_PREFIX) or raw_key.count("_") < 2:
        return None
    prefix = raw_key[: raw_key.index("_", len(API_KEY_PREFIX))]
    api_key = ApiKey.objects.select_related("business").filter(prefix=prefix).first()
    if api_key is None or not hmac.compare_digest(api_key.secret_hash, api_key_digest(raw_key)):
        return None
    if api_key.revoked_at is not None:
        return None
    return api_key


def business_for_user(*, user) -> Business | None:
    if not user.is_authenticated:
        return None
    membership = getattr(user, "membership", None)
    return membership.business if membership else None


def exchange_rates_usd() -> dict[str, Decimal]:
    return dict(ExchangeRate.objects.values_list("currency", "usd_per_unit"))


def api_key_list(*, business: Business, active: bool | None = None):
    keys = ApiKey.objects.filter(business=business).order_by("-created_at")
    if active is not None:
        keys = keys.filter(revoked_at__isnull=active)
    return keys


def user_preference_get(*, user, path: str, default=None):
    """The value at the dotted ``path`` of the user's preferences, or ``default``."""
    if user is None or not user.is_authenticated:
        return default
    data = UserPreference.objects.filter(user=user).values_list("data", flat=True).first() or {}
    for key in path.split("."):
        if not isinstance(data, dict) or key not in data:
            return default
        data = data[key]
    return data
