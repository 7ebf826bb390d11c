"""Money: currencies, exponents, the one rounding rule, conversion and formatting.

Amounts of money are ``int`` minor units (cents, paise, yen) beside an ISO-4217 code. Exponents
and formatting come from Babel's CLDR data, never from a table of our own. A ``Decimal`` amount
becomes integer minor units in exactly one place, :func:`round_to_minor_units`, which rounds half
to even ("banker's rounding": unbiased across many invoices, and the IEEE 754 default).
"""

from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from functools import cache

from babel.numbers import format_currency, get_currency_precision
from django.db import models

# The largest amount the API accepts or a wallet may hold: the largest integer a JSON number
# carries exactly in every client (JavaScript's Number.MAX_SAFE_INTEGER, 2**53 - 1).
MAX_AMOUNT = 2**53 - 1

ROUNDING = ROUND_HALF_EVEN

# The API contract's Currency enum (ISO-4217, upper case).
CURRENCIES: tuple[str, ...] = (
    "AED",
    "ALL",
    "AMD",
    "ANG",
    "AOA",
    "ARS",
    "AUD",
    "AWG",
    "AZN",
    "BAM",
    "BBD",
    "BDT",
    "BGN",
    "BHD",
    "BIF",
    "BMD",
    "BND",
    "BOB",
    "BRL",
    "BSD",
    "BWP",
    "BYN",
    "BZD",
    "CAD",
    "CHF",
    "CLP",
    "CNY",
    "COP",
    "CRC",
    "CUP",
    "CVE",
    "CZK",
    "DJF",
    "DKK",
    "DOP",
    "DZD",
    "EGP",
    "ETB",
    "EUR",
    "FJD",
    "FKP",
    "GBP",
    "GEL",
    "GHS",
    "GIP",
    "GMD",
    "GNF",
    "GTQ",
    "GYD",
    "HKD",
    "HNL",
    "HRK",
    "HTG",
    "HUF",
    "IDR",
    "ILS",
    "INR",
    "IQD",
    "JMD",
    "JOD",
    "JPY",
    "KES",
    "KGS",
    "KHR",
    "KMF",
    "KRW",
    "KWD",
    "KYD",
    "KZT",
    "LAK",
    "LBP",
    "LKR",
    "LRD",
    "LSL",
    "LYD",
    "MAD",
    "MDL",
    "MGA",
    "MKD",
    "MMK",
    "MNT",
    "MOP",
    "MRU",
    "MUR",
    "MVR",
    "MWK",
    "MXN",
    "MYR",
    "MZN",
    "NAD",
    "NGN",
    "NIO",
    "NOK",
    "NPR",
    "NZD",
    "OMR",
    "PAB",
    "PEN",
    "PGK",
    "PHP",
    "PKR",
    "PLN",
    "PYG",
    "QAR",
    "RON",
    "RSD",
    "RUB",
    "RWF",
    "SAR",
    "SBD",
    "SCR",
    "SEK",
    "SGD",
    "SHP",
    "SLE",
    "SLL",
    "SOS",
    "SRD",
    "SSP",
    "STN",
    "SVC",
    "SZL",
    "THB",
    "TND",
    "TOP",
    "TRY",
    "TTD",
    "TWD",
    "TZS",
    "UAH",
    "UGX",
    "USD",
    "UYU",
    "UZS",
    "VES",
    "VND",
    "VUV",
    "WST",
    "XAF",
    "XCD",
    "XOF",
    "XPF",
    "YER",
    "ZAR",
    "ZMW",
)
CURRENCY_CHOICES = [(code, code) for code in CURRENCIES]


class CurrencyField(models.CharField):
    """An ISO-4217 code of ``CURRENCIES`` (forms and admin offer the list). Migrations record the
    field without its choices, so a change to the list is not a schema change and writes none."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_length", 3)
        kwargs.setdefault("choices", CURRENCY_CHOICES)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("choices", None)
        if kwargs.get("max_length") == 3:
            del kwargs["max_length"]
        return name, path, args, kwargs


@cache
def currency_exponent(currency: str) -> int:
    """Digits after the decimal point of ``currency``'s minor unit (USD 2, JPY 0, KWD 3)."""
    return get_currency_precision(currency)


def round_to_minor_units(amount: Decimal) -> int:
    """The one rounding rule: a Decimal amount already in minor units → int, half to even.

    Exact for any finite amount, however large (the context's precision grows with it); whether
    the result is an amount the product can hold (``MAX_AMOUNT``) is the caller's question."""
    with localcontext() as context:
        context.prec = max(context.prec, amount.adjusted() + 2)
        return int(amount.quantize(Decimal(1), rounding=ROUNDING))


def minor_to_major(amount: int, currency: str) -> Decimal:
    return Decimal(amount).scaleb(-currency_exponent(currency))


def major_to_minor(amount: Decimal, currency: str) -> Decimal:
    """Exact (unrounded) minor units of a major-unit amount; round with round_to_minor_units."""
    return Decimal(amount).scaleb(currency_exponent(currency))


def convert_total(balances: list[tuple[int, str]], *, to_currency: str, rates: dict[str, Decimal]) -> int:
    """Sum minor-unit amounts in several currencies into ``to_currency`` minor units.

    ``rates`` maps a currency to the value of one of its major units in ``to_currency`` major
    units. Each amount is converted exactly and the sum is rounded once. A currency without a
    rate raises ``KeyError`` naming it.
    """
    total = Decimal(0)
    for amount, currency in balances:
        if not amount:
            continue
        rate = Decimal(1) if currency == to_currency else rates[currency]
        total += minor_to_major(amount, currency) * rate
    return round_to_minor_units(major_to_minor(total, to_currency))


def format_money(amount: int, currency: str, locale: str = "en_US") -> str:
    """``1500, "USD"`` → ``$15.00``; ``150000, "INR"`` in ``en_IN`` → ``₹1,500.00``."""
    return format_currency(minor_to_major(amount, currency), currency, locale=locale)
