"""Deals: a licensee requests a deal on an offer version (as offered, or with changed terms); the seller
accepts, counters or declines; the licensee accepts a counter, counters again or withdraws.

States::

    proposed  --seller accepts-->   accepted --start reached--> active --end reached--> expired
    proposed  --seller counters-->  countered --licensee accepts--> accepted
    countered --licensee counters--> proposed
    proposed/countered --> declined (seller) | withdrawn (licensee)
    accepted/active --> terminated (either side, with a reason)

Every step is a ``DealEvent``: who (side and user), when, why, and the terms on the table after it.
Accepting freezes the selection into ``DealAsset`` rows and records the agreement's hashes.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from fairtrain.accounts.models import (
    Collective,
    CollectiveMembership,
    CreatorProfile,
    LicenseeMember,
    LicenseeOrg,
    User,
)
from fairtrain.catalog.models import Asset
from fairtrain.db.base import utcnow
from fairtrain.errors import InvalidInput
from fairtrain.licensing.agreements import record_agreement
from fairtrain.licensing.errors import (
    ExclusiveConflict,
    InvalidTransition,
    NotAParty,
    OfferClosed,
    UnknownDeal,
)
from fairtrain.licensing.models import Deal, DealAsset, DealEvent, OfferVersion
from fairtrain.licensing.offers import (
    check_seller,
    check_terms_allowed,
    offer_selection,
    offer_terms,
    seller_of,
)
from fairtrain.licensing.selection import evaluate_selection, policy_denied, snapshot, snapshot_digest
from fairtrain.licensing.terms import Terms, territories_cover, territories_intersect
from fairtrain.rights.policy import CONCRETE_USAGES, expand

__all__ = [
    "LIVE_STATES",
    "OPEN_STATES",
    "DealWarning",
    "Side",
    "accept",
    "activate_due",
    "cancel_renewal",
    "counter",
    "covering_deal",
    "deal_terms",
    "deal_warnings",
    "decline",
    "expire_due",
    "get_deal",
    "is_active",
    "list_deals",
    "request_deal",
    "terminate",
    "withdraw",
]


class Side(enum.StrEnum):
    LICENSEE = "licensee"
    SELLER = "seller"
    SYSTEM = "system"  # activation, expiry, renewal


OPEN_STATES = ("proposed", "countered")  # under negotiation
LIVE_STATES = ("accepted", "active")  # agreed, not ended
_ASSET_ID = re.compile(r"^ast_[0-9a-z]{16}$")
_CHUNK = 500


def deal_terms(deal: Deal) -> Terms:
    return Terms.from_dict(deal.terms)


def get_deal(session: Session, deal_id: str) -> Deal:
    deal = session.get(Deal, deal_id.strip())
    if deal is None:
        raise UnknownDeal(f"no deal {deal_id}")
    return deal


def list_deals(
    session: Session,
    *,
    org: LicenseeOrg | None = None,
    seller: CreatorProfile | Collective | None = None,
    status: Iterable[str] | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Sequence[Deal]:
    """Deals newest first: an organisation's, a seller's, or all; optionally in the given states."""
    query = select(Deal)
    if org is not None:
        query = query.where(Deal.org_id == org.id)
    if isinstance(seller, CreatorProfile):
        query = query.where(Deal.creator_id == seller.id)
    elif isinstance(seller, Collective):
        query = query.where(Deal.collective_id == seller.id)
    if status is not None:
        query = query.where(Deal.status.in_(list(status)))
    query = query.order_by(Deal.created_at.desc(), Deal.id).limit(limit).offset(offset)
    return session.scalars(query).unique().all()


def is_active(deal: Deal, now: datetime | None = None) -> bool:
    """Active and inside its current term (even if ``expire_due`` has not run yet)."""
    now = now or utcnow()
    return (
        deal.status == "active"
        and deal.starts_at is not None
        and deal.starts_at <= now
        and (deal.ends_at is None or now < deal.ends_at)
    )


# --- who may take a step -------------------------------------------------------------------------------


def _check_side(session: Session, deal: Deal, side: Side, by: User | None) -> None:
    if side is Side.SYSTEM:
        raise InvalidInput("only the scheduler acts as the system")
    if by is None:
        return  # the operator's command line
    if side is Side.LICENSEE:
        if session.get(LicenseeMember, (deal.org_id, by.id)) is None:
            raise NotAParty(f"{by.email} does not belong to {deal.org.name}")
    else:
        check_seller(seller_of(deal.offer), by)


def _record(
    deal: Deal,
    *,
    action: str,
    to_status: str,
    side: Side,
    by: User | None,
    reason: str,
    now: datetime,
) -> DealEvent:
    event = DealEvent(
        seq=len(deal.events) + 1,
        action=action,
        from_status=deal.status,
        to_status=to_status,
        side=side.value,
        actor_id=by.id if by else None,
        reason=reason.strip()[:5000],
        terms=dict(deal.terms),
        at=now,
    )
    deal.events.append(event)
    deal.status = to_status
    deal.updated_at = now
    return event


def _refuse(deal: Deal, step: str) -> InvalidTransition:
    return InvalidTransition(f"deal {deal.id} is {deal.status}; it cannot be {step}")


def _check_new_terms(session: Session, deal: Deal, terms: Terms, now: datetime) -> None:
    if terms.end is not None and terms.end <= now:
        raise InvalidInput("the term has already ended")
    check_terms_allowed(session, seller=seller_of(deal.offer), terms=terms)


# --- negotiation ---------------------------------------------------------------------------------------


def request_deal(
    session: Session,
    *,
    offer_version: OfferVersion,
    org: LicenseeOrg,
    terms: Terms | None = None,
    message: str = "",
    by: User | None = None,
    now: datetime | None = None,
) -> Deal:
    """A licensee's request: on the offer's terms (``terms`` None), or proposing changed ones."""
    now = now or utcnow()
    offer = offer_version.offer
    if offer.status != "open":
        raise OfferClosed(f"offer {offer.id} is withdrawn")
    if offer_version.version != offer.current_version:
        raise InvalidInput(
            f"offer {offer.id} has changed since version {offer_version.version}; "
            f"request a deal on version {offer.current_version}"
        )
    if by is not None and session.get(LicenseeMember, (org.id, by.id)) is None:
        raise NotAParty(f"{by.email} does not belong to {org.name}")
    seller = seller_of(offer)
    offered = offer_terms(offer_version)
    wanted = terms or offered
    deal = Deal(
        offer=offer,
        offer_version=offer_version,
        org=org,
        seller_kind=offer.seller_kind,
        creator_id=offer.creator_id,
        collective_id=offer.collective_id,
        status="proposed",
        terms=wanted.as_dict(),
        terms_from=Side.LICENSEE.value,
        exclusive=wanted.exclusive,
        auto_renew=wanted.auto_renew,
        requested_by=by.id if by else None,
        created_at=now,
        updated_at=now,
    )
    if wanted != offered:
        check_terms_allowed(session, seller=seller, terms=wanted)
        if wanted.end is not None and wanted.end <= now:
            raise InvalidInput("the term has already ended")
    deal.events.append(
        DealEvent(
            seq=1,
            action="proposed" if wanted == offered else "proposed-changes",
            from_status=None,
            to_status="proposed",
            side=Side.LICENSEE.value,
            actor_id=by.id if by else None,
            reason=message.strip()[:5000],
            terms=wanted.as_dict(),
            at=now,
        )
    )
    session.add(deal)
    session.flush()
    return deal


def counter(
    session: Session,
    *,
    deal: Deal,
    side: Side,
    terms: Terms,
    reason: str = "",
    by: User | None = None,
    now: datetime | None = None,
) -> Deal:
    """Put changed terms on the table: the seller's counter-offer (-> countered), or the licensee's answer
    to one (-> proposed). The other side then accepts, counters or walks away."""
    now = now or utcnow()
    _check_side(session, deal, side, by)
    if deal.status not in OPEN_STATES:
        raise _refuse(deal, "countered")
    if terms.as_dict() == deal.terms:
        raise InvalidInput("these are the terms already on the table; accept them instead")
    _check_new_terms(session, deal, terms, now)
    deal.terms = terms.as_dict()
    deal.terms_from = side.value
    deal.exclusive, deal.auto_renew = terms.exclusive, terms.auto_renew
    to_status = "countered" if side is Side.SELLER else "proposed"
    _record(deal, action="countered", to_status=to_status, side=side, by=by, reason=reason, now=now)
    session.flush()
    return deal


def accept(
    session: Session,
    *,
    deal: Deal,
    side: Side,
    reason: str = "",
    by: User | None = None,
    now: datetime | None = None,
) -> Deal:
    """Accept the terms the other side put forward. Freezes the selection into the deal, refuses an overlap
    with an exclusive deal, records the agreement, and activates the deal when its start has come."""
    now = now or utcnow()
    _check_side(session, deal, side, by)
    if deal.status not in OPEN_STATES:
        raise _refuse(deal, "accepted")
    if deal.terms_from == side.value:
        raise InvalidTransition(
            f"the {side.value} put these terms forward; the "
            f"{'seller' if side is Side.LICENSEE else 'licensee'} accepts them"
        )
    terms = deal_terms(deal)
    seller = seller_of(deal.offer)
    check_terms_allowed(session, seller=seller, terms=terms)  # the policy may have changed meanwhile
    start, end = terms.resolve_term(now)
    if end is not None and end <= now:
        raise InvalidInput("the term has already ended")
    _lock_creators(session, deal, seller, now)
    assets = evaluate_selection(
        session, seller=seller, selection=offer_selection(deal.offer_version), usages=terms.usages
    )
    if not assets:
        raise InvalidInput("the offer's selection holds no works that may be licensed for these usages now")
    _check_exclusive(session, deal, terms, [a.id for a in assets], start, end)
    rows = snapshot(session, assets)
    deal.assets = [
        DealAsset(
            asset_id=row.asset_id,
            position=i,
            sha256=row.sha256,
            title=row.title,
            kind=row.kind,
            creator_id=row.creator_id,
            creator_handle=row.creator_handle,
            creator_name=row.creator_name,
            rightsholders=[dict(h) for h in row.rightsholders],
        )
        for i, row in enumerate(rows, start=1)
    ]
    deal.starts_at, deal.ends_at = start, end
    renewal = terms.renewal_period or ((end - start) if end is not None else None)
    deal.term_seconds = int(renewal.total_seconds()) if renewal is not None else None
    deal.exclusive, deal.auto_renew = terms.exclusive, terms.auto_renew
    deal.accepted_at = now
    deal.asset_count = len(rows)
    deal.selection_sha256 = snapshot_digest((row.asset_id, row.sha256) for row in rows)
    _record(deal, action="accepted", to_status="accepted", side=side, by=by, reason=reason, now=now)
    session.flush()
    agreement = record_agreement(session, deal=deal, now=now)
    deal.agreement_sha256 = agreement.html_sha256
    if start <= now:
        _activate(deal, now)
    session.flush()
    return deal


def decline(
    session: Session, *, deal: Deal, reason: str = "", by: User | None = None, now: datetime | None = None
) -> Deal:
    """The seller says no."""
    now = now or utcnow()
    _check_side(session, deal, Side.SELLER, by)
    if deal.status not in OPEN_STATES:
        raise _refuse(deal, "declined")
    _record(deal, action="declined", to_status="declined", side=Side.SELLER, by=by, reason=reason, now=now)
    deal.ended_at, deal.end_reason = now, reason.strip() or None
    session.flush()
    return deal


def withdraw(
    session: Session, *, deal: Deal, reason: str = "", by: User | None = None, now: datetime | None = None
) -> Deal:
    """The licensee walks away from a proposal or a counter-offer."""
    now = now or utcnow()
    _check_side(session, deal, Side.LICENSEE, by)
    if deal.status not in OPEN_STATES:
        raise _refuse(deal, "withdrawn")
    _record(
        deal, action="withdrawn", to_status="withdrawn", side=Side.LICENSEE, by=by, reason=reason, now=now
    )
    deal.ended_at, deal.end_reason = now, reason.strip() or None
    session.flush()
    return deal


def terminate(
    session: Session,
    *,
    deal: Deal,
    side: Side,
    reason: str,
    by: User | None = None,
    now: datetime | None = None,
) -> Deal:
    """End an agreed deal early, by either side, saying why. Its licence stops covering anything at once."""
    now = now or utcnow()
    _check_side(session, deal, side, by)
    if deal.status not in LIVE_STATES:
        raise _refuse(deal, "terminated")
    if not reason.strip():
        raise InvalidInput("say why the deal is terminated")
    _record(deal, action="terminated", to_status="terminated", side=side, by=by, reason=reason, now=now)
    deal.ended_at, deal.end_reason = now, reason.strip()
    session.flush()
    return deal


def cancel_renewal(
    session: Session,
    *,
    deal: Deal,
    side: Side,
    reason: str = "",
    by: User | None = None,
    now: datetime | None = None,
) -> Deal:
    """Notice of non-renewal: the deal runs to the end of its current term, then expires."""
    now = now or utcnow()
    _check_side(session, deal, side, by)
    if deal.status not in LIVE_STATES or not deal.auto_renew:
        raise InvalidTransition(f"deal {deal.id} does not renew automatically")
    deal.auto_renew = False
    _record(deal, action="renewal-cancelled", to_status=deal.status, side=side, by=by, reason=reason, now=now)
    session.flush()
    return deal


# --- time ----------------------------------------------------------------------------------------------


def _activate(deal: Deal, now: datetime) -> None:
    deal.activated_at = now
    _record(deal, action="activated", to_status="active", side=Side.SYSTEM, by=None, reason="", now=now)


def activate_due(session: Session, *, now: datetime | None = None) -> list[Deal]:
    """Accepted deals whose start has come become active."""
    now = now or utcnow()
    due = session.scalars(
        select(Deal).where(Deal.status == "accepted", Deal.starts_at <= now).order_by(Deal.starts_at, Deal.id)
    ).all()
    for deal in due:
        _activate(deal, now)
    session.flush()
    return list(due)


def expire_due(session: Session, *, now: datetime | None = None) -> list[Deal]:
    """Deals whose term has ended: renewed for another term when they auto-renew (one event per term), else
    expired. Returns the deals it changed."""
    now = now or utcnow()
    due = session.scalars(
        select(Deal)
        .where(Deal.status.in_(LIVE_STATES), Deal.ends_at.is_not(None), Deal.ends_at <= now)
        .order_by(Deal.ends_at, Deal.id)
    ).all()
    for deal in due:
        assert deal.ends_at is not None
        if deal.auto_renew and deal.term_seconds:
            period = timedelta(seconds=deal.term_seconds)
            while deal.ends_at <= now:
                deal.ends_at = deal.ends_at + period
                deal.renewals += 1
                _record(
                    deal,
                    action="renewed",
                    to_status=deal.status,
                    side=Side.SYSTEM,
                    by=None,
                    reason=f"term {deal.renewals + 1} runs to {deal.ends_at:%Y-%m-%dT%H:%M:%SZ}",
                    now=now,
                )
        else:
            ended = deal.ends_at
            _record(
                deal,
                action="expired",
                to_status="expired",
                side=Side.SYSTEM,
                by=None,
                reason=f"term ended {ended:%Y-%m-%dT%H:%M:%SZ}",
                now=now,
            )
            deal.ended_at, deal.end_reason = ended, "term ended"
    session.flush()
    return list(due)


# --- exclusivity ---------------------------------------------------------------------------------------


def _lock_creators(session: Session, deal: Deal, seller: CreatorProfile | Collective, now: datetime) -> None:
    """Serialise acceptances over the same creators' works, so two exclusive deals cannot both pass the
    overlap check. Writing the deal first opens the write transaction (on SQLite, the one writer lock, taken
    before anything is read); on PostgreSQL the creators' rows are then locked until commit."""
    session.flush()
    # An explicit statement: the ORM would skip an UPDATE that changes nothing.
    session.execute(update(Deal).where(Deal.id == deal.id).values(updated_at=now))
    if isinstance(seller, CreatorProfile):
        ids = [seller.id]
    else:
        ids = list(
            session.scalars(
                select(CollectiveMembership.creator_id).where(
                    CollectiveMembership.collective_id == seller.id, CollectiveMembership.left_at.is_(None)
                )
            )
        )
    if ids and session.get_bind().dialect.name != "sqlite":
        session.execute(
            select(CreatorProfile.id)
            .where(CreatorProfile.id.in_(sorted(ids)))
            .order_by(CreatorProfile.id)
            .with_for_update()
        )


def _overlap(a: tuple[datetime, datetime | None], b: tuple[datetime, datetime | None]) -> bool:
    (a_start, a_end), (b_start, b_end) = a, b
    return (a_end is None or b_start < a_end) and (b_end is None or a_start < b_end)


def _check_exclusive(
    session: Session,
    deal: Deal,
    terms: Terms,
    asset_ids: Sequence[str],
    start: datetime,
    end: datetime | None,
) -> None:
    """Refuse when this deal and an agreed one share a work, overlap in time, usage and territory, and
    either is exclusive. A deal that renews automatically counts as open-ended."""
    mine = (start, None if terms.auto_renew else end)
    others: dict[str, Deal] = {}
    for i in range(0, len(asset_ids), _CHUNK):
        chunk = asset_ids[i : i + _CHUNK]
        for other in session.scalars(
            select(Deal).where(
                Deal.status.in_(LIVE_STATES),
                Deal.id != deal.id,
                Deal.id.in_(select(DealAsset.deal_id).where(DealAsset.asset_id.in_(chunk))),
            )
        ).unique():
            others[other.id] = other
    for other in sorted(others.values(), key=lambda d: d.id):
        if not (terms.exclusive or other.exclusive):
            continue
        assert other.starts_at is not None
        theirs = (other.starts_at, None if other.auto_renew else other.ends_at)
        other_terms = deal_terms(other)
        if not _overlap(mine, theirs):
            continue
        if not set(terms.usages) & set(other_terms.usages):
            continue
        if not territories_intersect(terms.territories, other_terms.territories):
            continue
        shared = session.scalars(
            select(DealAsset.asset_id).where(DealAsset.deal_id == other.id).order_by(DealAsset.asset_id)
        ).all()
        common = sorted(set(shared) & set(asset_ids))
        raise ExclusiveConflict(
            f"deal {other.id} ({'exclusive' if other.exclusive else 'non-exclusive'}, "
            f"{' '.join(sorted(set(terms.usages) & set(other_terms.usages)))}) already covers "
            f"{len(common)} of these works in an overlapping term, e.g. {', '.join(common[:3])}"
        )


# --- what a deal covers --------------------------------------------------------------------------------


def _resource(session: Session, resource: str | Asset) -> tuple[str | None, str | None]:
    """(asset id, creator id) named by an asset, an asset id, or a URL or path under ``/@handle/``."""
    if isinstance(resource, Asset):
        return resource.id, resource.creator_id
    value = resource.strip()
    if _ASSET_ID.match(value):
        return value, None
    path = urlsplit(value).path if "://" in value else value
    segments = [s for s in path.split("/") if s]
    if not segments or not segments[0].startswith("@"):
        return None, None
    handle = segments[0][1:].rstrip("*$").lower()
    creator_id = session.scalar(select(CreatorProfile.id).where(CreatorProfile.handle == handle))
    if creator_id is None:
        return None, None
    asset_id = next((s for s in segments[1:] if _ASSET_ID.match(s.split(".")[0])), None)
    return (asset_id.split(".")[0] if asset_id else None), creator_id


def covering_deal(
    session: Session,
    *,
    org_id: str,
    resource_url_or_asset: str | Asset,
    usage: str,
    user_type: str | None = None,
    territory: str | None = None,
    now: datetime | None = None,
) -> Deal | None:
    """An active deal of ``org_id`` that licenses ``usage`` (``ai-all``/``all`` = each of theirs) of the
    resource now: an asset (object or id), a URL or path naming one under ``/@handle/``, or a creator's
    path (``/@handle/*``: any of that creator's works). ``user_type`` and ``territory`` are checked when
    given. The earliest accepted deal wins; None when nothing covers it."""
    if usage not in CONCRETE_USAGES and usage not in ("all", "ai-all"):
        raise InvalidInput(f"unknown usage {usage!r}; use {', '.join(CONCRETE_USAGES)}")
    now = now or utcnow()
    asset_id, creator_id = _resource(session, resource_url_or_asset)
    query = select(Deal).where(
        Deal.org_id == org_id,
        Deal.status == "active",
        Deal.starts_at <= now,
        or_(Deal.ends_at.is_(None), Deal.ends_at > now),
    )
    if asset_id is not None:
        held = select(DealAsset.deal_id).where(DealAsset.asset_id == asset_id)
        if creator_id is not None:
            held = held.where(DealAsset.creator_id == creator_id)
    elif creator_id is not None:
        held = select(DealAsset.deal_id).where(DealAsset.creator_id == creator_id)
    else:
        return None
    wanted = set(expand(usage))
    for deal in session.scalars(query.where(Deal.id.in_(held)).order_by(Deal.accepted_at, Deal.id)).unique():
        terms = deal_terms(deal)
        if not wanted <= set(terms.usages):
            continue
        if user_type is not None and terms.user_types and user_type not in terms.user_types:
            continue
        if territory is not None and not territories_cover(terms.territories, territory):
            continue
        return deal
    return None


@dataclass(frozen=True)
class DealWarning:
    asset_id: str
    code: str  # asset-deleted | asset-changed | left-collective | policy-denies
    message: str


def deal_warnings(session: Session, deal: Deal) -> list[DealWarning]:
    """Works in an agreed deal that the seller may no longer license: deleted, changed since, made by a
    creator who left the collective, or now under a policy that denies a licensed usage. Flags only."""
    if not deal.assets:
        return []
    ids = [row.asset_id for row in deal.assets]
    live: dict[str, Asset] = {}
    for i in range(0, len(ids), _CHUNK):
        for found in session.scalars(select(Asset).where(Asset.id.in_(ids[i : i + _CHUNK]))):
            live[found.id] = found
    members: set[str] | None = None
    if deal.collective_id is not None:
        members = set(
            session.scalars(
                select(CollectiveMembership.creator_id).where(
                    CollectiveMembership.collective_id == deal.collective_id,
                    CollectiveMembership.left_at.is_(None),
                )
            )
        )
    warnings: list[DealWarning] = []
    present: list[Asset] = []
    for row in deal.assets:
        asset = live.get(row.asset_id)
        if asset is None or asset.deleted_at is not None:
            warnings.append(DealWarning(row.asset_id, "asset-deleted", f"{row.title!r} was deleted"))
            continue
        present.append(asset)
        if members is not None and row.creator_id not in members:
            warnings.append(
                DealWarning(
                    row.asset_id,
                    "left-collective",
                    f"@{row.creator_handle}, who made {row.title!r}, has left the collective",
                )
            )
        if asset.sha256 != row.sha256:
            warnings.append(
                DealWarning(row.asset_id, "asset-changed", f"{row.title!r} has changed since it was licensed")
            )
    for asset_id, usages in sorted(policy_denied(session, present, deal_terms(deal).usages).items()):
        title = live[asset_id].title
        warnings.append(
            DealWarning(asset_id, "policy-denies", f"the policy of {title!r} now denies {', '.join(usages)}")
        )
    return warnings
