"""System checks: configuration mistakes found at start-up instead of in a customer's request."""

from django.conf import settings
from django.core import checks

from dodo_billing.money import CURRENCIES


@checks.register()
def wallet_currencies_check(app_configs, **kwargs):
    errors = []
    for currency in settings.WALLET_CURRENCIES:
        if currency not in CURRENCIES:
            errors.append(
                checks.Error(
                    f"WALLET_CURRENCIES has {currency!r}, which is not an ISO-4217 code in upper case.",
                    id="dodo_billing.E001",
                )
            )
    return errors


@checks.register(checks.Tags.database, deploy=True)
def exchange_rates_check(app_configs, **kwargs):
    from django.db import DatabaseError

    from dodo_billing.models import ExchangeRate

    try:
        known = set(ExchangeRate.objects.values_list("currency", flat=True))
    except DatabaseError:
        return []  # not migrated yet
    return [
        checks.Warning(
            f"No exchange rate for wallet currency {currency}: total_balance_usd leaves it out.",
            hint="Add it in admin under Exchange rates.",
            id="dodo_billing.W001",
        )
        for currency in settings.WALLET_CURRENCIES
        if currency != "USD" and currency not in known
    ]
