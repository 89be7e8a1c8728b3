from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session
from tests.licensing.helpers import NOW, World, terms

from fairtrain.errors import InvalidInput
from fairtrain.licensing.offers import create_offer, revise_offer, update_offer, withdraw_offer
from fairtrain.licensing.rsl import (
    RSL_NAMESPACE,
    license_element,
    license_fragment,
    offer_license_elements,
    offer_url,
    offers_version,
    parse_license,
)
from fairtrain.licensing.selection import Selection
from fairtrain.licensing.terms import Fee
from fairtrain.rights.policy import CONCRETE_USAGES, PAYMENT_TYPES, USER_TYPES

NS = f"{{{RSL_NAMESPACE}}}"
BASE = "https://example.com"
# RSL 1.0's elements that may appear inside a <license>, and the attribute values we may write.
_LICENSE_CHILDREN = {"permits", "prohibits", "payment", "legal"}
_PAYMENT_CHILDREN = {"amount", "standard", "custom"}


def _check_vocabulary(element: ET.Element) -> None:
    assert element.tag == NS + "license"
    for child in element:
        name = child.tag.removeprefix(NS)
        assert child.tag.startswith(NS) and name in _LICENSE_CHILDREN, child.tag
        if name in ("permits", "prohibits"):
            kind = child.get("type")
            words = (child.text or "").split()
            assert words and " ".join(words) == child.text  # space-separated, never commas
            if kind == "usage":
                assert set(words) <= set(CONCRETE_USAGES) | {"all", "ai-all"}
            elif kind == "user":
                assert set(words) <= set(USER_TYPES)
            else:
                assert kind == "geo" and all(len(w) == 2 and w.isupper() for w in words)
        if name == "payment":
            assert child.get("type") in PAYMENT_TYPES
            for part in child:
                assert part.tag.removeprefix(NS) in _PAYMENT_CHILDREN


def _round_trip(elements: list[ET.Element]) -> list[ET.Element]:
    """Put the elements in a license.xml document as signals.license_xml does, serialise and parse it back."""
    ET.register_namespace("", RSL_NAMESPACE)
    root = ET.Element(NS + "rsl")
    content = ET.SubElement(root, NS + "content", url="/@mira/*", server=f"{BASE}/rsl")
    content.extend(elements)
    text = ET.tostring(root, encoding="unicode")
    assert text.startswith(f'<rsl xmlns="{RSL_NAMESPACE}">')
    parsed = ET.fromstring(text)
    assert parsed.tag == NS + "rsl"
    found = parsed.findall(f"{NS}content/{NS}license")
    for element in found:
        _check_vocabulary(element)
    return found


@pytest.mark.parametrize(
    ("fee", "payment", "amount"),
    [
        (Fee("flat", currency="USD", amount_minor=500_000), "purchase", "5000.00"),
        (Fee("recurring", currency="JPY", amount_minor=90_000, interval="monthly"), "subscription", "90000"),
        (Fee("royalty", currency="EUR", royalty_bp=1000), "training", None),
        (Fee("per-crawl", currency="USD", price_micros=15_000), "crawl", "0.015"),
        (Fee("per-use", currency="GBP", price_micros=2_500_000), "use", "2.50"),
        (Fee("free"), "free", None),
    ],
)
def test_each_fee_model_as_rsl(fee: Fee, payment: str, amount: str | None) -> None:
    element = license_element(
        terms(fee=fee, usages=["ai-train", "ai-input"], user_types=["commercial"], territories=["EU", "US"]),
        rate_card_url=offer_url(BASE, "ofr_x"),
    )
    [parsed] = _round_trip([element])
    permits = {p.get("type"): p.text for p in parsed.findall(NS + "permits")}
    assert permits == {"usage": "ai-input ai-train", "user": "commercial", "geo": "EU US"}
    pay = parsed.find(NS + "payment")
    assert pay is not None and pay.get("type") == payment
    amount_element = pay.find(NS + "amount")
    if amount is None:
        assert amount_element is None
    else:
        assert amount_element is not None and amount_element.text == amount
        assert amount_element.get("currency") == fee.currency
    custom = pay.find(NS + "custom")
    assert (custom.text if custom is not None else None) == (f"{BASE}/offers/ofr_x" if fee.paid else None)


def test_attribution_and_royalty_without_training() -> None:
    attribution = license_element(terms(fee=Fee("attribution"), attribution="By Mira"))
    assert attribution.find(NS + "payment").get("type") == "attribution"  # type: ignore[union-attr]
    royalty = license_element(terms(usages=["ai-input"], fee=Fee("royalty", currency="EUR", royalty_bp=10)))
    assert royalty.find(NS + "payment").get("type") == "use"  # type: ignore[union-attr]


def test_sellers_public_offers_in_license_xml(db: Session, world: World) -> None:
    before = offers_version(db)
    own = create_offer(db, seller=world.mira, title="Own", terms=terms(), selection=Selection(all=True))
    assert offers_version(db) != before
    create_offer(
        db, seller=world.mira, title="Private", terms=terms(), selection=Selection(all=True), public=False
    )
    gone = create_offer(db, seller=world.mira, title="Gone", terms=terms(), selection=Selection(all=True))
    withdraw_offer(db, offer=gone)
    ending = terms(end=NOW + timedelta(days=1))
    create_offer(db, seller=world.mira, title="Ends", terms=ending, selection=Selection(all=True), now=NOW)
    pool = create_offer(
        db,
        seller=world.guild,
        title="Pool",
        terms=terms(usages=["ai-input"], fee=Fee("per-crawl", currency="USD", price_micros=10_000)),
        selection=Selection(kinds=("text",)),
    )
    later = NOW + timedelta(days=2)
    mira = _round_trip(offer_license_elements(db, creator=world.mira, base_url=BASE, now=later))
    assert len(mira) == 2
    assert mira[0].find(f"{NS}payment/{NS}custom").text == f"{BASE}/offers/{own.id}"  # type: ignore[union-attr]
    assert mira[1].find(f"{NS}payment/{NS}standard").text == f"{BASE}/offers/{pool.id}"  # type: ignore[union-attr]
    assert mira[1].find(f"{NS}payment/{NS}amount").text == "0.01"  # type: ignore[union-attr]
    # Ola has no texts, so the guild's text pool is not offered under her path.
    assert offer_license_elements(db, creator=world.ola, base_url=BASE, now=later) == []
    # The current version is what shows.
    revise_offer(db, offer=own, terms=terms(usages=["ai-index"]))
    update_offer(db, offer=pool, public=False)
    [changed] = _round_trip(offer_license_elements(db, creator=world.mira, base_url=BASE, now=later))
    assert changed.find(NS + "permits").text == "ai-index"  # type: ignore[union-attr]
    fragment = license_fragment([changed])
    assert fragment.startswith(f'<license xmlns="{RSL_NAMESPACE}">')


def test_parse_license_round_trip_and_legacy() -> None:
    element = license_element(
        terms(usages=["ai-train", "search"], user_types=["education"], territories=["GB"]),
        rate_card_url="https://x/offers/1",
    )
    requested = parse_license(license_fragment([element]))
    assert requested.usages == ("search", "ai-train")
    assert (requested.user_types, requested.territories) == (("education",), ("GB",))
    assert (requested.payment, requested.amount, requested.currency) == ("purchase", "5000.00", "USD")
    legacy = parse_license(
        "<license><permits type='usage'>train-ai,ai-use</permits><prohibits>search</prohibits>"
        "<payment type='inference'/></license>"
    )
    assert legacy.usages == ("ai-input", "ai-train") and legacy.prohibited == ("search",)
    assert legacy.payment == "use"
    modern = f'<license xmlns="{RSL_NAMESPACE}"><permits type="usage">ai-all</permits></license>'
    assert parse_license(modern).usages == ("ai-input", "ai-index", "ai-train")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<license><permits type='usage'>ai-dance</permits></license>", "unknown usage"),
        ("<license><permits type='user'>robot</permits></license>", "unknown user type"),
        ("<license><payment type='barter'/></license>", "unknown payment type"),
        ("<license><permits type='mood'>x</permits></license>", "unknown permits type"),
        ("<rsl/>", "expected an RSL <license>"),
        ("<license xmlns='https://example.com/other'/>", "expected an RSL <license>"),
        ("<license>", "not well-formed"),
        ("<license>" + "x" * 30_000 + "</license>", "too long"),
    ],
)
def test_parse_license_refuses_what_it_cannot_read(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_license(text)


def test_parse_license_expands_no_entities() -> None:
    text = (
        '<!DOCTYPE license [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        "<license><permits type='usage'>&x;</permits></license>"
    )
    try:
        requested = parse_license(text)
    except InvalidInput:
        return
    assert requested.usages == ()
