"""Offers in RSL 1.0 (STANDARDS §1): each offer version as a ``<license>`` element for the seller's
license.xml, and the reading of a ``<license>`` a client sends to the licence server (``POST /rsl/token``).

Only RSL 1.0 vocabulary is written. Reading also accepts the legacy 0.9 draft (``train-ai``, ``ai-use``,
comma-separated lists, ``type="inference"``).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from lxml import etree
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fairtrain.accounts.models import CollectiveMembership, CreatorProfile
from fairtrain.db.base import utcnow
from fairtrain.errors import InvalidInput
from fairtrain.licensing.models import Offer
from fairtrain.licensing.selection import Selection, selection_query
from fairtrain.licensing.terms import FeeModel, Terms, format_minor
from fairtrain.rights.policy import CONCRETE_USAGES, PAYMENT_TYPES, USER_TYPES, expand, format_micros
from fairtrain.rights.signals import RSL_NAMESPACE

__all__ = [
    "RSL_NAMESPACE",
    "RequestedLicense",
    "license_element",
    "license_fragment",
    "offer_license_elements",
    "offer_url",
    "offers_version",
    "parse_license",
    "payment_type",
]

_NS = f"{{{RSL_NAMESPACE}}}"
_LEGACY_USAGES = {"train-ai": "ai-train", "ai-use": "ai-input"}
_LEGACY_PAYMENTS = {"inference": "use"}
_MAX_LICENSE_CHARS = 20_000
_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, huge_tree=False, remove_comments=True, load_dtd=False
)


def offer_url(base_url: str, offer_id: str) -> str:
    """Where people and clients read an offer in full and request a deal (the web layer serves it)."""
    return f"{base_url.rstrip('/')}/offers/{offer_id}"


def payment_type(terms: Terms) -> str:
    """The RSL payment type of a fee model. A royalty is paid per training (or, without training, per use)."""
    match FeeModel(terms.fee.model):
        case FeeModel.FLAT:
            return "purchase"
        case FeeModel.RECURRING:
            return "subscription"
        case FeeModel.ROYALTY:
            return "training" if "ai-train" in terms.usages else "use"
        case FeeModel.PER_CRAWL:
            return "crawl"
        case FeeModel.PER_USE:
            return "use"
        case FeeModel.ATTRIBUTION:
            return "attribution"
        case FeeModel.FREE:
            return "free"


def license_element(terms: Terms, *, rate_card_url: str | None = None, shared: bool = False) -> ET.Element:
    """One ``<license>``: permitted usages, user types and territories, and the payment with its amount.

    ``rate_card_url`` (the offer's page) goes in ``<custom>``, or in ``<standard>`` for a ``shared`` licence
    such as a collective's, which every member's works are offered under.
    """
    element = ET.Element(f"{_NS}license")
    ET.SubElement(element, f"{_NS}permits", type="usage").text = " ".join(terms.usages)
    if terms.user_types:
        ET.SubElement(element, f"{_NS}permits", type="user").text = " ".join(terms.user_types)
    if terms.territories:
        ET.SubElement(element, f"{_NS}permits", type="geo").text = " ".join(terms.territories)
    fee = terms.fee
    payment = ET.SubElement(element, f"{_NS}payment", type=payment_type(terms))
    if fee.currency is not None:
        if fee.amount_minor is not None:
            amount = format_minor(fee.amount_minor, fee.currency)
        elif fee.price_micros is not None:
            amount = format_micros(fee.price_micros)
        else:
            amount = None  # a royalty is a rate, not an amount: the rate card says it
        if amount is not None:
            ET.SubElement(payment, f"{_NS}amount", currency=fee.currency).text = amount
    if rate_card_url is not None and fee.paid:
        ET.SubElement(payment, f"{_NS}standard" if shared else f"{_NS}custom").text = rate_card_url
    return element


def _listed(offer: Offer, now: datetime) -> Terms | None:
    terms = Terms.from_dict(offer.current.terms)
    return None if terms.end is not None and terms.end <= now else terms


def offer_license_elements(
    session: Session, *, creator: CreatorProfile, base_url: str, now: datetime | None = None
) -> list[ET.Element]:
    """The ``<license>`` elements of every public open offer covering ``creator``'s works, to add to the
    creator's ``<content url="/@handle/*">`` in license.xml: the creator's own offers, then those of the
    collectives they belong to whose selection takes in some of their works (as shared licences)."""
    now = now or utcnow()
    elements: list[ET.Element] = []
    own = session.scalars(
        select(Offer)
        .where(Offer.creator_id == creator.id, Offer.public.is_(True), Offer.status == "open")
        .order_by(Offer.created_at, Offer.id)
    ).unique()
    for offer in own:
        if (terms := _listed(offer, now)) is not None:
            elements.append(license_element(terms, rate_card_url=offer_url(base_url, offer.id)))
    collective_ids = select(CollectiveMembership.collective_id).where(
        CollectiveMembership.creator_id == creator.id, CollectiveMembership.left_at.is_(None)
    )
    shared = session.scalars(
        select(Offer)
        .where(Offer.collective_id.in_(collective_ids), Offer.public.is_(True), Offer.status == "open")
        .order_by(Offer.created_at, Offer.id)
    ).unique()
    for offer in shared:
        terms = _listed(offer, now)
        selection = Selection.from_dict(offer.current.selection)
        if terms is None or not session.scalar(select(selection_query([creator.id], selection).exists())):
            continue
        elements.append(license_element(terms, rate_card_url=offer_url(base_url, offer.id), shared=True))
    return elements


def offers_version(session: Session) -> tuple[int, str]:
    """Moves whenever an offer is created, revised, re-worded or withdrawn: a cache key for license.xml."""
    count, latest = session.execute(select(func.count(Offer.id), func.max(Offer.updated_at))).one()
    return int(count), str(latest)


@dataclass(frozen=True)
class RequestedLicense:
    """What a client's ``<license>`` asks for, in RSL 1.0 terms (legacy tokens translated)."""

    usages: tuple[str, ...]  # concrete usages permitted; shorthands expanded
    prohibited: tuple[str, ...]
    user_types: tuple[str, ...]
    territories: tuple[str, ...]
    payment: str | None
    amount: str | None
    currency: str | None


def _words(text: str | None) -> list[str]:
    return [w for w in (text or "").replace(",", " ").split() if w]


def parse_license(text: str) -> RequestedLicense:
    """Read one ``<license>`` element (RSL 1.0, or the legacy 0.9 draft); ``InvalidInput`` when it is not
    one or uses unknown vocabulary."""
    if len(text) > _MAX_LICENSE_CHARS:
        raise InvalidInput("the license element is too long")
    try:
        root = etree.fromstring(text.strip().encode(), parser=_PARSER)
    except etree.XMLSyntaxError as exc:
        raise InvalidInput(f"the license is not well-formed XML: {exc}") from None
    namespace = etree.QName(root).namespace
    if etree.QName(root).localname != "license" or namespace not in (RSL_NAMESPACE, None):
        raise InvalidInput(f"expected an RSL <license> element in {RSL_NAMESPACE}")
    prefix = f"{{{namespace}}}" if namespace else ""
    usages: set[str] = set()
    prohibited: set[str] = set()
    user_types: list[str] = []
    territories: list[str] = []
    for tag, into_usages in (("permits", usages), ("prohibits", prohibited)):
        for element in root.iterfind(f"{prefix}{tag}"):
            kind = element.get("type", "usage")
            for word in _words(element.text):
                if kind == "usage":
                    word = _LEGACY_USAGES.get(word.lower(), word.lower())
                    if word not in CONCRETE_USAGES and word not in ("all", "ai-all"):
                        raise InvalidInput(f"unknown usage {word!r} in the license")
                    into_usages.update(expand(word))
                elif kind == "user" and tag == "permits":
                    if word.lower() not in USER_TYPES:
                        raise InvalidInput(f"unknown user type {word!r} in the license")
                    user_types.append(word.lower())
                elif kind == "geo" and tag == "permits":
                    territories.append(word.upper())
                elif kind not in ("user", "geo"):
                    raise InvalidInput(f"unknown {tag} type {kind!r} in the license")
    payment = root.find(f"{prefix}payment")
    pay_type = amount = currency = None
    if payment is not None:
        pay_type = payment.get("type", "purchase").lower()
        pay_type = _LEGACY_PAYMENTS.get(pay_type, pay_type)
        if pay_type not in PAYMENT_TYPES:
            raise InvalidInput(f"unknown payment type {pay_type!r} in the license")
        amount_element = payment.find(f"{prefix}amount")
        if amount_element is not None:
            amount = (amount_element.text or "").strip() or None
            currency = amount_element.get("currency")
    return RequestedLicense(
        usages=tuple(u for u in CONCRETE_USAGES if u in usages),
        prohibited=tuple(u for u in CONCRETE_USAGES if u in prohibited),
        user_types=tuple(dict.fromkeys(user_types)),
        territories=tuple(dict.fromkeys(territories)),
        payment=pay_type,
        amount=amount,
        currency=currency,
    )


def license_fragment(elements: Sequence[ET.Element]) -> str:
    """Elements as text (for a page or a test), with the RSL namespace as the default."""
    ET.register_namespace("", RSL_NAMESPACE)
    return "".join(ET.tostring(e, encoding="unicode") for e in elements)
