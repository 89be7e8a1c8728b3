from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from tests.licensing.helpers import terms

from fairtrain.errors import InvalidInput
from fairtrain.licensing.terms import (
    Fee,
    Terms,
    format_minor,
    parse_unit_price,
    territories_cover,
    territories_intersect,
)

START = datetime(2027, 1, 1, tzinfo=UTC)


def test_defaults_are_protective_and_round_trip_through_json() -> None:
    t = terms(usages="ai-all", territories=["gb", "EU"], user_types=["commercial"])
    assert t.usages == ("ai-input", "ai-index", "ai-train")
    assert t.territories == ("EU", "GB")
    assert t.no_verbatim and t.no_style_imitation and t.audit
    assert t.at_expiry == "delete" and t.deletion_days == 30
    assert t.governing_law == "England and Wales"
    assert Terms.from_dict(t.as_dict()) == t
    assert Terms.from_dict(t.as_dict()).as_dict() == t.as_dict()


@pytest.mark.parametrize(
    ("fee", "message"),
    [
        ({"model": "flat", "currency": "USD", "amount_minor": 12.5}, "whole number"),
        ({"model": "flat", "currency": "USD", "amount_minor": -100}, "cannot be negative"),
        ({"model": "flat", "currency": "USD", "amount_minor": 0}, "above zero"),
        ({"model": "flat", "currency": "USD", "amount_minor": 10**15}, "larger than any amount"),
        ({"model": "flat", "currency": "USD", "amount_minor": True}, "whole number"),
        ({"model": "flat", "currency": "ZZZ", "amount_minor": 100}, "not an ISO 4217 currency"),
        ({"model": "flat", "currency": "XAU", "amount_minor": 100}, "no minor unit"),
        ({"model": "flat", "amount_minor": 100}, "needs currency"),
        ({"model": "recurring", "currency": "EUR", "amount_minor": 100}, "needs interval"),
        (
            {"model": "recurring", "currency": "EUR", "amount_minor": 100, "interval": "weekly"},
            "unknown interval",
        ),
        ({"model": "royalty", "currency": "EUR", "royalty_bp": 10_001}, "between 0 % and 100 %"),
        ({"model": "royalty", "currency": "EUR", "royalty_bp": -5}, "between 0 % and 100 %"),
        ({"model": "royalty", "currency": "EUR", "royalty_bp": 0}, "minimum guarantee"),
        ({"model": "per-crawl", "currency": "USD", "price_micros": 0}, "above zero"),
        ({"model": "per-crawl", "currency": "USD", "price_micros": 5_000 * 1_000_000}, "not plausible"),
        ({"model": "per-use", "currency": "USD", "amount_minor": 100}, "has no amount minor"),
        ({"model": "free", "currency": "USD"}, "has no currency"),
        ({"model": "barter"}, "unknown fee model"),
        ({"model": "flat", "currency": "USD", "amount_minor": 100, "tip": 1}, "unknown fee field"),
    ],
)
def test_bad_fees_are_refused_with_a_clear_message(fee: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        Terms.from_dict({"usages": ["ai-train"], "fee": fee})


def test_good_fees() -> None:
    royalty = Fee("royalty", currency="eur", royalty_bp=1250, minimum_minor=100_000)
    assert (royalty.currency, royalty.interval) == ("EUR", "yearly")
    assert royalty.describe() == "12.5 % of reported model revenue, at least EUR 1000.00 yearly"
    assert Fee("per-crawl", currency="USD", price_micros=15_000).describe() == "USD 0.015 per request"
    assert Fee("flat", currency="JPY", amount_minor=5000).describe() == "JPY 5000 once"
    assert (
        Fee("recurring", currency="BHD", amount_minor=1_500, interval="monthly").describe()
        == "BHD 1.500 monthly"
    )


def test_amount_parsing_is_exact() -> None:
    assert parse_unit_price("0.015", "usd") == 15_000
    with pytest.raises(InvalidInput, match="six decimals"):
        parse_unit_price("0.0000001", "USD")
    with pytest.raises(InvalidInput, match="not an amount of money"):
        parse_unit_price("-1", "USD")
    with pytest.raises(InvalidInput, match="ISO 4217"):
        parse_unit_price("1", "QQQ")
    assert format_minor(125_050, "USD") == "1250.50"
    assert format_minor(7, "JPY") == "7"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"usages": []}, "at least one usage"),
        ({"usages": ["ai-dance"]}, "unknown usage"),
        ({"user_types": ["robots"]}, "unknown user type"),
        ({"territories": ["XX"]}, "not an ISO 3166-1"),
        ({"territories": ["GBR"]}, "not an ISO 3166-1"),
        ({"start": START, "end": START - timedelta(days=1)}, "ends .* before it starts"),
        ({"start": START, "end": START}, "ends .* before it starts"),
        ({"start": datetime(2027, 1, 1)}, "time zone"),
        ({"start": "yesterday"}, "ISO 8601"),
        ({"end": START, "duration_days": 30}, "either an end or a duration"),
        ({"duration_days": 0}, "1 to"),
        ({"auto_renew": True}, "needs a length"),
        ({"auto_renew": True, "start": START, "end": START + timedelta(hours=1)}, "at least one day"),
        ({"fee": Fee("attribution")}, "needs the attribution text"),
        ({"at_expiry": "keep-everything"}, "data-at-expiry"),
        ({"deletion_days": 0}, "deletion days"),
        ({"distribution": "mixed"}, "item-count weight"),
        ({"distribution": "mixed", "distribution_items_bp": 10_000}, "item-count weight"),
        ({"distribution": "items", "distribution_items_bp": 5_000}, "only a mixed"),
        ({"distribution": "lottery"}, "distribution rule"),
        ({"governing_law": " "}, "governing law"),
        ({"exclusive": "yes"}, "true or false"),
    ],
)
def test_bad_terms_are_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        terms(**changes)


def test_unknown_terms_are_refused() -> None:
    data = terms().as_dict() | {"perpetual": True}
    with pytest.raises(InvalidInput, match="unknown term"):
        Terms.from_dict(data)


def test_term_resolution_and_renewal_period() -> None:
    accepted = datetime(2027, 3, 1, 9, 30, 15, 123, tzinfo=UTC)
    assert terms().resolve_term(accepted) == (accepted.replace(microsecond=0), None)
    year = terms(duration_days=365, auto_renew=True)
    assert year.resolve_term(accepted)[1] == accepted.replace(microsecond=0) + timedelta(days=365)
    assert year.renewal_period == timedelta(days=365)
    fixed = terms(start=START, end=START + timedelta(days=31), auto_renew=True)
    assert fixed.resolve_term(accepted) == (START, START + timedelta(days=31))
    assert fixed.renewal_period == timedelta(days=31)


def test_territories() -> None:
    assert territories_cover((), "US")
    assert territories_cover(("EU",), "DE")
    assert territories_cover(("EU",), "EU")
    assert not territories_cover(("DE", "FR"), "EU")
    assert not territories_cover(("GB",), "US")
    assert territories_intersect(("EU",), ("FR",))
    assert not territories_intersect(("EU",), ("GB", "US"))
    assert territories_intersect((), ("GB",))
