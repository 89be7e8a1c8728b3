"""Money: integer minor units with an ISO 4217 currency, exact parsing and formatting, and ``allocate``.

Amounts are never floats. An amount is an ``int`` of the currency's minor units (cents for USD, yen for JPY,
fils for BHD) next to its three-letter code; prices finer than a minor unit (a per-crawl price of 0.015 USD)
are kept in micros, millionths of the major unit, and turned into minor units once, by ``minor_from_micros``.

Splitting a sum among parties uses ``allocate`` and nothing else (STANDARDS.md §8): the largest-remainder
(Hamilton) method in exact rational arithmetic, so the parts always add up to the whole.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import TypeVar

from iso4217 import Currency

from fairtrain.errors import InvalidInput

__all__ = [
    "MAX_MINOR_UNITS",
    "MICROS",
    "Money",
    "allocate",
    "check_currency",
    "currency_exponent",
    "format_amount",
    "minor_from_micros",
    "parse_amount",
]

K = TypeVar("K", bound=Hashable)

# Larger amounts are refused as absurd: 10^13 minor units is 100 billion dollars, and it keeps every sum of a
# few million such amounts far inside a signed 64-bit column.
MAX_MINOR_UNITS = 10**13
MICROS = 1_000_000  # micros per major unit
_CODE = re.compile(r"^[A-Z]{3}$")
_NUMBER = re.compile(r"^(\d+)(?:\.(\d+))?$")
_MAX_TEXT = 40  # longer input is garbage before it is a number


def check_currency(code: str) -> str:
    """The upper-cased ISO 4217 code, if it is a currency with a minor unit; ``InvalidInput`` otherwise."""
    if not isinstance(code, str):
        raise InvalidInput(f"{code!r} is not a currency code")
    normal = code.strip().upper()
    if not _CODE.match(normal):
        raise InvalidInput(f"{code!r} is not an ISO 4217 currency code (three letters, e.g. USD)")
    try:
        currency = Currency(normal)
    except ValueError:
        raise InvalidInput(f"{normal} is not an ISO 4217 currency") from None
    if currency.exponent is None:
        # Gold, SDRs, testing codes: ISO 4217 gives them no minor unit, so they are no money to account in.
        raise InvalidInput(
            f"{normal} ({currency.currency_name}) has no minor unit and cannot be used for money"
        )
    return normal


def currency_exponent(code: str) -> int:
    """Digits after the decimal point: USD 2, JPY 0, BHD 3."""
    exponent = Currency(check_currency(code)).exponent
    assert exponent is not None  # check_currency refused the others
    return exponent


def parse_amount(text: str, currency: str) -> int:
    """'12.50', 'USD' -> 1250: an exact decimal amount to integer minor units.

    Refused with ``InvalidInput``: fractional minor units ('1.005' USD), negative, non-finite, more than
    ``MAX_MINOR_UNITS``, and anything that is not a plain decimal number (no signs, exponents or separators).
    """
    exponent = currency_exponent(currency)
    code = check_currency(currency)
    if not isinstance(text, str):
        raise InvalidInput(f"{text!r} is not an amount; give it as text, e.g. '12.50'")
    value = text.strip()
    if len(value) > _MAX_TEXT:
        raise InvalidInput(f"{value[:_MAX_TEXT]!r}... is not an amount of money")
    if value.lower().lstrip("+-") in {"nan", "inf", "infinity", "snan"}:
        raise InvalidInput(f"{value!r} is not a finite amount")
    if value.startswith("-"):
        raise InvalidInput(f"{value!r}: an amount cannot be negative")
    match = _NUMBER.match(value)
    if match is None:
        raise InvalidInput(
            f"{value!r} is not an amount of money; write digits with an optional decimal point"
        )
    whole, fraction = match.group(1), (match.group(2) or "").rstrip("0")
    if len(fraction) > exponent:
        unit = "a whole unit" if exponent == 0 else f"{exponent} decimal place{'s' * (exponent > 1)}"
        raise InvalidInput(f"{value} {code} has fractions of a minor unit; {code} amounts have {unit}")
    scale: int = 10**exponent
    minor = int(whole) * scale + (int(fraction.ljust(exponent, "0")) if exponent else 0)
    if minor > MAX_MINOR_UNITS:
        raise InvalidInput(f"{value} {code} is larger than any amount fairtrain accepts")
    return minor


def format_amount(minor: int, currency: str) -> str:
    """1250, 'USD' -> '12.50 USD'; 100, 'JPY' -> '100 JPY'; -5, 'BHD' -> '-0.005 BHD'."""
    _check_int(minor, "an amount")
    exponent = currency_exponent(currency)
    code = check_currency(currency)
    sign = "-" if minor < 0 else ""
    whole, part = divmod(abs(minor), 10**exponent)
    number = f"{whole}.{part:0{exponent}d}" if exponent else str(whole)
    return f"{sign}{number} {code}"


def minor_from_micros(micros: int, currency: str) -> int:
    """Micros of the major unit -> minor units, rounded once, half away from zero.

    15_000 micros (0.015 USD) -> 2 cents; 12_345_000 -> 1235; exact values pass unchanged.
    """
    _check_int(micros, "an amount in micros")
    exponent = currency_exponent(currency)
    step: int = 10 ** (6 - exponent)  # micros per minor unit; ISO 4217 exponents are at most 4
    whole, rest = divmod(abs(micros), step)
    if 2 * rest >= step:
        whole += 1
    return whole if micros >= 0 else -whole


def allocate(total: int, weights: Mapping[K, int | Fraction]) -> dict[K, int]:
    """Split ``total`` minor units among keys in proportion to ``weights``: largest remainder (Hamilton).

    Each part is the floor of its exact share; the units left over go one each to the largest remainders,
    ties broken by the larger weight, then by ``str(key)``. Parts sum to ``total`` and each differs from its
    exact share by less than one unit. Weights must be positive ints or Fractions (never floats).

    >>> allocate(70_000, {"a": 1, "b": 1, "c": 1})
    {'a': 23334, 'b': 23333, 'c': 23333}
    """
    _check_int(total, "the total")
    if total < 0:
        raise InvalidInput(f"cannot allocate a negative total ({total})")
    if not weights:
        raise InvalidInput("cannot allocate among nobody: no weights given")
    exact: dict[K, Fraction] = {}
    for key, weight in weights.items():
        if isinstance(weight, bool) or not isinstance(weight, int | Fraction):
            raise InvalidInput(f"weight of {key!s} is {weight!r}; weights are ints or Fractions")
        if weight <= 0:
            raise InvalidInput(f"weight of {key!s} is {weight}; weights must be positive")
        exact[key] = Fraction(weight)
    weight_sum = sum(exact.values(), Fraction(0))
    parts: dict[K, int] = {}
    remainders: dict[K, Fraction] = {}
    for key, weight in exact.items():
        share = total * weight / weight_sum
        parts[key] = share.numerator // share.denominator
        remainders[key] = share - parts[key]
    leftover = total - sum(parts.values())
    # Python's sort is stable, so sorting by the key's text first and then by (remainder, weight) gives the
    # deterministic order: largest remainder, then largest weight, then smallest str(key).
    order = sorted(exact, key=str)
    order.sort(key=lambda k: (remainders[k], exact[k]), reverse=True)
    for key in order[:leftover]:
        parts[key] += 1
    assert sum(parts.values()) == total, "allocate lost or made money"
    return parts


def _check_int(value: object, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{what} must be an integer number of minor units, got {value!r}")
    if abs(value) > MAX_MINOR_UNITS * MICROS:
        raise InvalidInput(f"{what} ({value}) is larger than any amount fairtrain accepts")


@dataclass(frozen=True, slots=True)
class Money:
    """An amount of integer minor units in one currency; arithmetic only between the same currency."""

    amount: int
    currency: str

    def __post_init__(self) -> None:
        _check_int(self.amount, "an amount")
        object.__setattr__(self, "currency", check_currency(self.currency))

    @classmethod
    def parse(cls, text: str, currency: str) -> Money:
        return cls(parse_amount(text, currency), currency)

    def __str__(self) -> str:
        return format_amount(self.amount, self.currency)

    def _same(self, other: Money) -> None:
        if self.currency != other.currency:
            raise InvalidInput(f"cannot combine {self.currency} and {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def allocate(self, weights: Mapping[K, int | Fraction]) -> dict[K, Money]:
        return {key: Money(part, self.currency) for key, part in allocate(self.amount, weights).items()}
