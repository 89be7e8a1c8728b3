from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fairtrain.errors import InvalidInput
from fairtrain.money import (
    MAX_MINOR_UNITS,
    Money,
    allocate,
    check_currency,
    currency_exponent,
    format_amount,
    minor_from_micros,
    parse_amount,
)


@pytest.mark.parametrize(("code", "exponent"), [("USD", 2), ("JPY", 0), ("BHD", 3), ("eur", 2), ("CLF", 4)])
def test_currency_exponent_comes_from_iso_4217(code: str, exponent: int) -> None:
    assert currency_exponent(code) == exponent


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("ZZZ", "not an ISO 4217 currency"),
        ("US", "three letters"),
        ("US D", "three letters"),
        ("", "three letters"),
        ("XAU", "no minor unit"),
    ],
)
def test_unknown_currencies_are_refused(code: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        currency_exponent(code)


def test_check_currency_normalises() -> None:
    assert check_currency(" usd ") == "USD"


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("12.50", "USD", 1250),
        ("12.5", "USD", 1250),
        ("12", "USD", 1200),
        ("0.01", "USD", 1),
        ("1.000", "USD", 100),  # trailing zeros are not fractions of a cent
        (" 7 ", "usd", 700),
        ("100", "JPY", 100),
        ("100.0", "JPY", 100),
        ("1.234", "BHD", 1234),
        ("0", "EUR", 0),
        ("100000000000", "USD", MAX_MINOR_UNITS),
    ],
)
def test_parse_amount_is_exact(text: str, currency: str, minor: int) -> None:
    assert parse_amount(text, currency) == minor


@pytest.mark.parametrize(
    ("text", "currency", "message"),
    [
        ("1.005", "USD", "fractions of a minor unit"),
        ("1.5", "JPY", "fractions of a minor unit; JPY amounts have a whole unit"),
        ("1.2345", "BHD", "BHD amounts have 3 decimal places"),
        ("-1.00", "USD", "cannot be negative"),
        ("NaN", "USD", "not a finite amount"),
        ("inf", "USD", "not a finite amount"),
        ("-Infinity", "USD", "not a finite amount"),
        ("100000000000.01", "USD", "larger than any amount"),
        ("1e3", "USD", "not an amount of money"),
        ("1,000.00", "USD", "not an amount of money"),
        ("12.50 USD", "USD", "not an amount of money"),
        ("twelve", "USD", "not an amount of money"),
        ("", "USD", "not an amount of money"),
        (".5", "USD", "not an amount of money"),
        ("+5", "USD", "not an amount of money"),
        ("9" * 100, "USD", "not an amount of money"),
        ("1.00", "ZZZ", "not an ISO 4217 currency"),
    ],
)
def test_parse_amount_refuses_bad_input_by_name(text: str, currency: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_amount(text, currency)


def test_parse_amount_refuses_floats() -> None:
    with pytest.raises(InvalidInput, match="give it as text"):
        parse_amount(12.5, "USD")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("minor", "currency", "text"),
    [
        (1250, "USD", "12.50 USD"),
        (5, "USD", "0.05 USD"),
        (0, "USD", "0.00 USD"),
        (-1250, "USD", "-12.50 USD"),
        (100, "JPY", "100 JPY"),
        (-5, "BHD", "-0.005 BHD"),
        (12345, "CLF", "1.2345 CLF"),
    ],
)
def test_format_amount(minor: int, currency: str, text: str) -> None:
    assert format_amount(minor, currency) == text


@given(st.integers(0, MAX_MINOR_UNITS), st.sampled_from(["USD", "JPY", "BHD", "EUR", "CLF"]))
def test_format_and_parse_round_trip(minor: int, currency: str) -> None:
    number, code = format_amount(minor, currency).split(" ")
    assert code == currency
    assert parse_amount(number, code) == minor


def test_format_amount_refuses_floats() -> None:
    with pytest.raises(InvalidInput, match="integer number of minor units"):
        format_amount(12.5, "USD")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("micros", "currency", "minor"),
    [
        (15_000, "USD", 2),  # 1.5 cents rounds half away from zero
        (14_999, "USD", 1),
        (12_345_000, "USD", 1235),
        (12_340_000, "USD", 1234),
        (-15_000, "USD", -2),
        (1_500_000, "JPY", 2),
        (1_499_999, "JPY", 1),
        (1_234_500, "BHD", 1235),
        (0, "USD", 0),
    ],
)
def test_minor_from_micros_rounds_once_half_away_from_zero(micros: int, currency: str, minor: int) -> None:
    assert minor_from_micros(micros, currency) == minor


# --- allocate ------------------------------------------------------------------------------------------


def test_allocate_standards_example() -> None:
    assert allocate(70_000, {"a": 1, "b": 1, "c": 1}) == {"a": 23_334, "b": 23_333, "c": 23_333}


def test_allocate_ties_go_to_the_larger_weight_then_the_smaller_key() -> None:
    # Exact shares 3.5 / 3.5 / 3: one leftover unit; remainders 1/2, 1/2, 0 -> equal weights, key "x" wins.
    assert allocate(10, {"y": 7, "x": 7, "z": 6}) == {"x": 4, "y": 3, "z": 3}
    # Exact shares 0.5 / 1.5: equal remainders with different weights; the larger weight wins.
    assert allocate(2, {"small": 1, "big": Fraction(3)}) == {"small": 0, "big": 2}


def test_allocate_is_independent_of_the_mapping_order() -> None:
    weights = {f"crt_{i}": (i % 3) + 1 for i in range(20)}
    reordered = dict(reversed(list(weights.items())))
    assert allocate(1_001, weights) == allocate(1_001, reordered)


def test_allocate_takes_fractions() -> None:
    assert allocate(100, {"a": Fraction(1, 3), "b": Fraction(2, 3)}) == {"a": 33, "b": 67}


def test_allocate_zero_total() -> None:
    assert allocate(0, {"a": 1, "b": 2}) == {"a": 0, "b": 0}


@pytest.mark.parametrize(
    ("total", "weights", "message"),
    [
        (10, {}, "no weights"),
        (10, {"a": 0}, "must be positive"),
        (10, {"a": 1, "b": -1}, "must be positive"),
        (10, {"a": 0.5}, "ints or Fractions"),
        (10, {"a": True}, "ints or Fractions"),
        (-1, {"a": 1}, "negative total"),
        (1.5, {"a": 1}, "integer number of minor units"),
    ],
)
def test_allocate_refuses_bad_weights(total: int, weights: dict[str, int], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        allocate(total, weights)


_WEIGHT = st.one_of(
    st.integers(1, 10**9),
    st.fractions(min_value=Fraction(1, 10**6), max_value=10**6).filter(lambda f: f > 0),
)


@given(
    st.integers(0, MAX_MINOR_UNITS),
    st.dictionaries(st.text(min_size=1, max_size=8), _WEIGHT, min_size=1, max_size=30),
)
def test_allocate_parts_sum_to_the_whole_within_one_unit_of_exact(
    total: int, weights: dict[str, int | Fraction]
) -> None:
    parts = allocate(total, weights)
    assert set(parts) == set(weights)
    assert sum(parts.values()) == total
    weight_sum = sum(Fraction(w) for w in weights.values())
    for key, part in parts.items():
        exact = total * Fraction(weights[key]) / weight_sum
        assert abs(part - exact) < 1
        assert part >= 0


def test_money_arithmetic_keeps_currencies_apart() -> None:
    a = Money.parse("12.50", "usd")
    assert a == Money(1250, "USD")
    assert str(a + Money(50, "USD")) == "13.00 USD"
    assert str(-a) == "-12.50 USD"
    with pytest.raises(InvalidInput, match="cannot combine USD and EUR"):
        a - Money(1, "EUR")
    assert a.allocate({"x": 1, "y": 1}) == {"x": Money(625, "USD"), "y": Money(625, "USD")}
