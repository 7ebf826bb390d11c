from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from iso4217 import Currency as Iso4217Currency

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


def test_exponents_are_iso_4217_minor_units():
    assert (currency_exponent("USD"), currency_exponent("INR")) == (2, 2)
    assert currency_exponent("JPY") == 0
    assert currency_exponent("KWD") == 3
    # CLDR's display digits say 0 for these; ISO 4217's minor units are:
    iso = {"ALL": 2, "IQD": 3, "LAK": 2, "LBP": 2, "MGA": 2, "MMK": 2, "RSD": 2, "SLL": 2, "SOS": 2, "YER": 2}
    assert {code: currency_exponent(code) for code in iso} == iso


# Codes the contract lists that ISO 4217 has since withdrawn (Netherlands Antillean guilder,
# Bulgarian lev, Croatian kuna, old Sierra Leonean leone); each had 2 minor units.
WITHDRAWN = {"ANG", "BGN", "HRK", "SLL"}


@pytest.mark.parametrize("currency", CURRENCIES)
def test_every_contract_currency_has_its_iso_4217_exponent(currency):
    try:
        expected = Iso4217Currency(currency).exponent
    except ValueError:
        assert currency in WITHDRAWN
        expected = 2
    assert currency_exponent(currency) == expected


@pytest.mark.parametrize("currency", CURRENCIES)
def test_formatting_shows_the_iso_number_of_decimals(currency):
    exponent = currency_exponent(currency)
    text = format_money(1, currency)  # the smallest amount: 0.01, 0.001 or 1
    digits = "".join(char for char in text if char.isdigit() or char == ".")
    assert digits == (f"0.{'0' * (exponent - 1)}1" if exponent else "1"), text


def test_unknown_currency_has_no_exponent():
    with pytest.raises(KeyError, match="XAU"):
        currency_exponent("XAU")  # gold: ISO gives no minor unit
    with pytest.raises(KeyError, match="QQQ"):
        currency_exponent("QQQ")


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
    assert format_money(1234, "IQD") == "IQD1.234"
    assert format_money(1050, "ALL") == "ALL10.50"
    assert format_money(-1050, "RSD", locale="de_DE") == "-10,50\xa0RSD"


@given(st.integers(min_value=-(2**53), max_value=2**53), st.sampled_from(["USD", "INR", "JPY", "KWD"]))
def test_minor_major_round_trip(amount, currency):
    assert round_to_minor_units(major_to_minor(minor_to_major(amount, currency), currency)) == amount
