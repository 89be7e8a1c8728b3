"""Pay-per-crawl price headers (STANDARDS §2): ``crawler-price: USD 0.01`` and the crawler's answers.

A price on the wire is an ISO 4217 code, one space, and a plain decimal amount; it is read exactly (into
micros, millionths of the unit), never through a float.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from fairtrain.errors import InvalidInput
from fairtrain.rights.policy import format_micros, parse_price

__all__ = ["Offer", "PriceError", "format_price", "parse_offer", "read_price"]

_PRICE = re.compile(r"^\s*([A-Za-z]{3})\s+(\d{1,12}(?:\.\d{1,6})?)\s*$")


class PriceError(Exception):
    """A price header the gateway cannot accept; ``code`` is the ``crawler-error`` value."""

    def __init__(self, code: str, status: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


def read_price(value: str) -> tuple[int, str]:
    """``'USD 0.01'`` -> ``(10000, 'USD')``; raises :class:`PriceError` (InvalidCrawlerPriceValue)."""
    match = _PRICE.match(value)
    if match is None:
        raise PriceError("InvalidCrawlerPriceValue", 400, f"{value[:60]!r} is not a price such as 'USD 0.01'")
    try:
        micros, currency = parse_price(match.group(2), match.group(1).upper())
    except InvalidInput as exc:
        raise PriceError("InvalidCrawlerPriceValue", 400, str(exc)) from None
    return micros, currency


def format_price(micros: int, currency: str) -> str:
    return f"{currency} {format_micros(micros)}"


@dataclass(frozen=True, slots=True)
class Offer:
    """What a crawler said it pays: an exact price (after a 402 quote) or a ceiling sent up front."""

    kind: Literal["exact", "max"]
    micros: int
    currency: str

    def accepts(self, micros: int, currency: str) -> bool:
        if currency != self.currency:
            return False
        return micros == self.micros if self.kind == "exact" else micros <= self.micros

    @property
    def error(self) -> str:
        return "InvalidCrawlerExactPrice" if self.kind == "exact" else "InvalidCrawlerMaxPrice"


def parse_offer(exact: list[str], maximum: list[str]) -> Offer | None:
    """The crawler's offer from all values of ``crawler-exact-price`` and ``crawler-max-price``.

    Both headers, or one header twice -> ``ConflictingPriceHeaders`` (400); an unreadable value ->
    ``InvalidCrawlerPriceValue`` (400); neither -> None."""
    if (exact and maximum) or len(exact) > 1 or len(maximum) > 1:
        raise PriceError(
            "ConflictingPriceHeaders", 400, "send one of crawler-exact-price and crawler-max-price, once"
        )
    if exact:
        return Offer("exact", *read_price(exact[0]))
    if maximum:
        return Offer("max", *read_price(maximum[0]))
    return None
