"""Offers: a seller (a creator, or a collective through its operator) offers a selection of its catalogue on
stated terms. Changing the terms or the selection makes a new version; deals point at the version they were
made on. An offer may not grant a usage the seller's AI policy denies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fairtrain.accounts.models import Collective, CreatorProfile, User
from fairtrain.catalog.models import Asset, Collection
from fairtrain.db.base import utcnow
from fairtrain.errors import InvalidInput
from fairtrain.licensing.errors import NotAParty, OfferClosed, UnknownOffer, UsageDenied
from fairtrain.licensing.models import Offer, OfferVersion
from fairtrain.licensing.selection import Selection, Seller, seller_creator_ids
from fairtrain.licensing.terms import Terms
from fairtrain.rights.policy import (
    CONCRETE_USAGES,
    Decision,
    EffectivePolicy,
    Scope,
    concrete_rules_at,
    effective_policy,
)

__all__ = [
    "Portfolio",
    "check_seller",
    "check_terms_allowed",
    "create_offer",
    "get_offer",
    "get_offer_version",
    "list_offers",
    "offer_selection",
    "offer_terms",
    "portfolio",
    "revise_offer",
    "seller_of",
    "seller_policy",
    "update_offer",
    "withdraw_offer",
]


def seller_of(offer: Offer) -> Seller:
    seller: Seller | None = offer.creator if offer.creator is not None else offer.collective
    assert seller is not None
    return seller


def offer_terms(version: OfferVersion) -> Terms:
    return Terms.from_dict(version.terms)


def offer_selection(version: OfferVersion) -> Selection:
    return Selection.from_dict(version.selection)


def check_seller(seller: Seller, by: User | None) -> None:
    """``by`` may act for the seller: the creator's own account, or the collective's operator.

    ``None`` is the operator's command line, trusted as the server's administrator.
    """
    if by is None:
        return
    if isinstance(seller, CreatorProfile):
        if seller.user_id != by.id:
            raise NotAParty(f"{by.email} does not act for @{seller.handle}")
    elif seller.operator_id != by.id:
        raise NotAParty(f"{by.email} is not the operator of {seller.name}")


def seller_policy(session: Session, seller: Seller) -> EffectivePolicy:
    """The AI policy that applies to everything the seller sells: a creator's, or a collective's own rules
    over the site's."""
    if isinstance(seller, CreatorProfile):
        return effective_policy(session, creator=seller)
    site = effective_policy(session)
    scope = Scope("collective", seller.id)
    said = concrete_rules_at(session, scope)
    decisions = {}
    for usage in CONCRETE_USAGES:
        rule = said[usage]
        decisions[usage] = Decision(usage, rule, scope) if rule is not None else site[usage]
    return EffectivePolicy(decisions)


def check_terms_allowed(session: Session, *, seller: Seller, terms: Terms) -> None:
    """Refuse terms that grant a usage the seller's policy denies."""
    policy = seller_policy(session, seller)
    denied = [u for u in terms.usages if policy.action(u) == "deny"]
    if denied:
        who = f"@{seller.handle}" if isinstance(seller, CreatorProfile) else seller.name
        raise UsageDenied(
            f"{who}'s AI policy denies {', '.join(denied)}; change the policy before offering "
            f"{'it' if len(denied) == 1 else 'them'}"
        )


def _check_selection(session: Session, *, seller: Seller, selection: Selection) -> None:
    """Every named collection and asset must be the seller's (a member's, for a collective)."""
    creator_ids = seller_creator_ids(session, seller)
    if selection.collections:
        found = set(
            session.scalars(
                select(Collection.id).where(
                    Collection.id.in_(selection.collections), Collection.creator_id.in_(creator_ids)
                )
            )
        )
        missing = [c for c in selection.collections if c not in found]
        if missing:
            raise InvalidInput(f"not a collection of this seller: {', '.join(missing[:5])}")
    if selection.assets:
        found = set()
        for start in range(0, len(selection.assets), 500):  # keep under every database's parameter limit
            chunk = selection.assets[start : start + 500]
            found |= set(
                session.scalars(
                    select(Asset.id).where(
                        Asset.id.in_(chunk), Asset.creator_id.in_(creator_ids), Asset.deleted_at.is_(None)
                    )
                )
            )
        missing = [a for a in selection.assets if a not in found]
        if missing:
            raise InvalidInput(
                f"not a live work of this seller: {', '.join(missing[:5])}"
                + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            )


def _check_terms(session: Session, *, seller: Seller, terms: Terms, now: datetime) -> None:
    if terms.end is not None and terms.end <= now:
        raise InvalidInput("the term has already ended")
    check_terms_allowed(session, seller=seller, terms=terms)


def _title(title: str) -> str:
    title = title.strip()
    if not title or len(title) > 200:
        raise InvalidInput("offer title must be 1–200 characters")
    return title


def create_offer(
    session: Session,
    *,
    seller: Seller,
    title: str,
    terms: Terms,
    selection: Selection,
    description: str = "",
    public: bool = True,
    by: User | None = None,
    now: datetime | None = None,
) -> Offer:
    """A new open offer with its version 1."""
    now = now or utcnow()
    check_seller(seller, by)
    _check_terms(session, seller=seller, terms=terms, now=now)
    _check_selection(session, seller=seller, selection=selection)
    if len(description) > 10_000:
        raise InvalidInput("offer description must be at most 10,000 characters")
    offer = Offer(
        seller_kind="creator" if isinstance(seller, CreatorProfile) else "collective",
        creator=seller if isinstance(seller, CreatorProfile) else None,
        collective=seller if isinstance(seller, Collective) else None,
        title=_title(title),
        description=description.strip(),
        public=public,
        status="open",
        current_version=1,
        created_by=by.id if by else None,
        created_at=now,
        updated_at=now,
    )
    offer.versions.append(
        OfferVersion(
            version=1,
            terms=terms.as_dict(),
            selection=selection.as_dict(),
            created_by=by.id if by else None,
            created_at=now,
        )
    )
    session.add(offer)
    session.flush()
    return offer


def revise_offer(
    session: Session,
    *,
    offer: Offer,
    terms: Terms | None = None,
    selection: Selection | None = None,
    note: str = "",
    by: User | None = None,
    now: datetime | None = None,
) -> OfferVersion:
    """A new version with changed terms and/or selection; the current one when nothing changed.

    Deals already made keep the version they were made on.
    """
    now = now or utcnow()
    seller = seller_of(offer)
    check_seller(seller, by)
    if offer.status != "open":
        raise OfferClosed(f"offer {offer.id} is withdrawn")
    current = offer.current
    new_terms = terms.as_dict() if terms is not None else current.terms
    new_selection = selection.as_dict() if selection is not None else current.selection
    if new_terms == current.terms and new_selection == current.selection:
        return current
    if terms is not None:
        _check_terms(session, seller=seller, terms=terms, now=now)
    if selection is not None:
        _check_selection(session, seller=seller, selection=selection)
    version = OfferVersion(
        version=offer.current_version + 1,
        terms=new_terms,
        selection=new_selection,
        note=note.strip()[:2000],
        created_by=by.id if by else None,
        created_at=now,
    )
    offer.versions.append(version)
    offer.current_version = version.version
    offer.updated_at = now
    session.flush()
    return version


def update_offer(
    session: Session,
    *,
    offer: Offer,
    title: str | None = None,
    description: str | None = None,
    public: bool | None = None,
    by: User | None = None,
    now: datetime | None = None,
) -> Offer:
    """Change how the offer is shown (no new version: the terms are unchanged)."""
    check_seller(seller_of(offer), by)
    if title is not None:
        offer.title = _title(title)
    if description is not None:
        if len(description) > 10_000:
            raise InvalidInput("offer description must be at most 10,000 characters")
        offer.description = description.strip()
    if public is not None:
        offer.public = public
    offer.updated_at = now or utcnow()
    session.flush()
    return offer


def withdraw_offer(
    session: Session, *, offer: Offer, by: User | None = None, now: datetime | None = None
) -> Offer:
    """No new deals on it; deals already made are untouched. Idempotent."""
    check_seller(seller_of(offer), by)
    if offer.status != "withdrawn":
        now = now or utcnow()
        offer.status, offer.withdrawn_at, offer.updated_at = "withdrawn", now, now
        session.flush()
    return offer


def get_offer(session: Session, offer_id: str) -> Offer:
    offer = session.get(Offer, offer_id.strip())
    if offer is None:
        raise UnknownOffer(f"no offer {offer_id}")
    return offer


def get_offer_version(session: Session, offer_id: str, version: int | None = None) -> OfferVersion:
    """A version of an offer; its current one when ``version`` is None."""
    offer = get_offer(session, offer_id)
    wanted = offer.current_version if version is None else version
    found = next((v for v in offer.versions if v.version == wanted), None)
    if found is None:
        raise UnknownOffer(f"offer {offer_id} has no version {version}")
    return found


def list_offers(
    session: Session,
    *,
    seller: Seller | None = None,
    public_only: bool = True,
    include_withdrawn: bool = False,
    limit: int = 100,
    offset: int = 0,
) -> Sequence[Offer]:
    """Offers, newest first: a seller's, or every seller's public open ones (what a licensee browses)."""
    query = select(Offer)
    if isinstance(seller, CreatorProfile):
        query = query.where(Offer.creator_id == seller.id)
    elif isinstance(seller, Collective):
        query = query.where(Offer.collective_id == seller.id)
    if public_only:
        query = query.where(Offer.public.is_(True))
    if not include_withdrawn:
        query = query.where(Offer.status == "open")
    return (
        session.scalars(query.order_by(Offer.created_at.desc(), Offer.id).limit(limit).offset(offset))
        .unique()
        .all()
    )


@dataclass(frozen=True)
class Portfolio:
    """What a seller has to offer, at a glance: live works by kind, and how many creators made them."""

    creators: int
    works: int
    by_kind: dict[str, int]


def portfolio(session: Session, seller: Seller) -> Portfolio:
    creator_ids = seller_creator_ids(session, seller)
    rows = (
        session.execute(
            select(Asset.kind, func.count(Asset.id))
            .where(Asset.creator_id.in_(creator_ids), Asset.deleted_at.is_(None))
            .group_by(Asset.kind)
            .order_by(Asset.kind)
        ).all()
        if creator_ids
        else []
    )
    by_kind = {str(kind): int(count) for kind, count in rows}
    return Portfolio(creators=len(creator_ids), works=sum(by_kind.values()), by_kind=by_kind)
