"""Money: currencies, exponents, the one rounding rule, conversion and formatting.

Amounts of money are ``int`` minor units (cents, paise, yen) beside an ISO-4217 code. Exponents
are ISO 4217's minor units, from the ``iso4217`` package (ISO's own published table); codes ISO
has withdrawn but the contract still lists (ANG, BGN, HRK, SLL) take theirs from ``py-moneyed``.
Babel formats amounts, always with the ISO number of decimals: its CLDR data also has "digits",
but those are display conventions (ALL, IQD, RSD … shown without decimals), not minor units, and
are never used as exponents. Nothing here is a table of our own. A ``Decimal`` amount
becomes integer minor units in exactly one place, :func:`round_to_minor_units`, which rounds half
to even ("banker's rounding": unbiased across many invoices, and the IEEE 754 default).
"""

import copy
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from functools import cache

import moneyed
from babel import Locale
from babel.numbers import NumberPattern
from django.db import models
from iso4217 import Currency as Iso4217Currency

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
    """ISO 4217 minor-unit digits of ``currency`` (USD 2, JPY 0, KWD 3, IQD 3, ALL 2).

    From ISO's current table; a code ISO has withdrawn (still in the contract's list) falls back to
    py-moneyed's table, which keeps the minor units ISO last published for it. An unknown code
    raises ``KeyError`` naming it."""
    try:
        exponent = Iso4217Currency(currency).exponent
    except ValueError:
        try:
            sub_unit = moneyed.get_currency(currency).sub_unit
        except moneyed.CurrencyDoesNotExist:
            raise KeyError(currency) from None
        exponent = len(str(sub_unit)) - 1  # 1 → 0, 100 → 2, 1000 → 3
    if exponent is None:  # ISO's "N.A." (gold, test codes): not money this product handles
        raise KeyError(currency)
    return exponent


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


@cache
def _currency_pattern(locale: str, exponent: int) -> tuple[NumberPattern, Locale]:
    """The locale's standard currency pattern with exactly ``exponent`` decimals."""
    parsed = Locale.parse(locale)
    pattern = copy.copy(parsed.currency_formats["standard"])
    pattern.frac_prec = (exponent, exponent)
    return pattern, parsed


def format_money(amount: int, currency: str, locale: str = "en_US") -> str:
    """``1500, "USD"`` → ``$15.00``; ``150000, "INR"`` in ``en_IN`` → ``₹1,500.00``;
    ``1234, "IQD"`` → ``IQD 1.234``: the locale's symbol and layout, the ISO number of decimals."""
    exponent = currency_exponent(currency)
    pattern, parsed = _currency_pattern(locale, exponent)
    return pattern.apply(minor_to_major(amount, currency), parsed, currency=currency, currency_digits=False)
