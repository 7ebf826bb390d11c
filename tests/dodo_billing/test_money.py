from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dodo_billing.money import (
    CURRENCIES,
    convert_total,
    currency_exponent,
    format_money,
    major_to_minor,
    minor_to_major,
    round_to_minor_units,
)


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        ("0.5", 0),
        ("1.5", 2),
        ("2.5", 2),
        ("2.5000001", 3),
        ("-0.5", 0),
        ("-1.5", -2),
        ("3000", 3000),
        ("7.49", 7),
    ],
)
def test_rounding_is_half_to_even(amount, expected):
    assert round_to_minor_units(Decimal(amount)) == expected


def test_exponents_come_from_cldr():
    assert (currency_exponent("USD"), currency_exponent("INR")) == (2, 2)
    assert currency_exponent("JPY") == 0
    assert currency_exponent("KWD") == 3


def test_contract_currency_list():
    assert len(CURRENCIES) == 145
    assert {"USD", "INR", "EUR", "JPY"} <= set(CURRENCIES)
    assert all(code.isupper() and len(code) == 3 for code in CURRENCIES)


def test_major_minor_conversions():
    assert minor_to_major(1550, "USD") == Decimal("15.50")
    assert minor_to_major(1550, "JPY") == Decimal("1550")
    assert major_to_minor(Decimal("12.345"), "KWD") == Decimal("12345")


def test_convert_total_rounds_once():
    rates = {"INR": Decimal("0.0114")}
    # 1,000.00 INR = 11.40 USD; plus 2.50 USD
    assert convert_total([(100_000, "INR"), (250, "USD")], to_currency="USD", rates=rates) == 1390
    # Three amounts each worth 0.3333 cents: rounded once (1), not one by one (0 + 0 + 0).
    rates = {"INR": Decimal("0.003333")}
    assert convert_total([(100, "INR"), (100, "INR"), (100, "INR")], to_currency="USD", rates=rates) == 1


def test_convert_total_names_missing_rate():
    with pytest.raises(KeyError, match="EUR"):
        convert_total([(100, "EUR")], to_currency="USD", rates={})


def test_format_money():
    assert format_money(1500, "USD") == "$15.00"
    assert format_money(150000, "INR", locale="en_IN") == "₹1,500.00"
    assert format_money(5, "JPY") == "¥5"


@given(st.integers(min_value=-(2**53), max_value=2**53), st.sampled_from(["USD", "INR", "JPY", "KWD"]))
def test_minor_major_round_trip(amount, currency):
    assert round_to_minor_units(major_to_minor(minor_to_major(amount, currency), currency)) == amount
