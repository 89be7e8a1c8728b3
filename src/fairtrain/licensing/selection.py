"""Which works an offer covers: a declarative filter over the seller's catalogue, evaluated live, and the
frozen list (ids, SHA-256, titles, creators, rightsholder shares) a deal keeps from the moment it is accepted.

A selection is either ``all`` of the seller's works, or the works matching every criterion given (any of the
collections, any of the tags, any of the kinds, within the date range), plus an explicit list of assets.
A collective's catalogue is the live works of its current members. Works whose own AI policy denies a
licensed usage are never included, whatever the filter says.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, get_args

from sqlalchemy import ColumnElement, Select, and_, or_, select
from sqlalchemy.orm import Session

from fairtrain.accounts.models import Collective, CollectiveMembership, CreatorProfile
from fairtrain.catalog.models import Asset, AssetCollection, AssetTag, Collection
from fairtrain.catalog.probe import Kind
from fairtrain.errors import InvalidInput
from fairtrain.licensing.models import OfferVersion
from fairtrain.licensing.terms import Terms
from fairtrain.rights.models import PolicyRule
from fairtrain.rights.policy import EffectivePolicy, effective_policy

__all__ = [
    "DATE_FIELDS",
    "KINDS",
    "Selection",
    "Seller",
    "SnapshotRow",
    "evaluate_selection",
    "policy_denied",
    "selection_assets",
    "selection_query",
    "seller_creator_ids",
    "snapshot",
    "snapshot_digest",
]

Seller = CreatorProfile | Collective
KINDS: tuple[str, ...] = get_args(Kind)
DATE_FIELDS = ("created", "published", "imported")
_MAX_LISTED = 100_000
_TAG_MAX = 64


def _strings(value: object, label: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    if not isinstance(value, list | tuple):
        raise InvalidInput(f"selection {label} must be a list")
    if not all(isinstance(item, str) for item in value):
        raise InvalidInput(f"selection {label} must be a list of text")
    out: list[str] = []
    for item in value:
        item = item.strip()
        if item and item not in out:
            out.append(item)
    return tuple(out)


def _day(value: object, label: str) -> date | None:
    if value is None or (isinstance(value, date) and not isinstance(value, datetime)):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            raise InvalidInput(f"selection {label} {value!r} is not a date (YYYY-MM-DD)") from None
    raise InvalidInput(f"selection {label} must be a date (YYYY-MM-DD)")


@dataclass(frozen=True)
class Selection:
    all: bool = False
    collections: tuple[str, ...] = ()  # collection ids
    tags: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    date_field: str = "created"  # the work's creation date, publication date, or import date
    since: date | None = None  # inclusive
    until: date | None = None  # inclusive
    assets: tuple[str, ...] = ()  # explicit asset ids, added to what the criteria match

    def __post_init__(self) -> None:
        if not isinstance(self.all, bool):
            raise InvalidInput("selection all must be true or false")
        object.__setattr__(self, "collections", _strings(self.collections, "collections"))
        object.__setattr__(self, "tags", tuple(t.lower() for t in _strings(self.tags, "tags")))
        object.__setattr__(self, "kinds", tuple(k.lower() for k in _strings(self.kinds, "kinds")))
        object.__setattr__(self, "assets", tuple(sorted(_strings(self.assets, "assets"))))
        object.__setattr__(self, "since", _day(self.since, "since"))
        object.__setattr__(self, "until", _day(self.until, "until"))
        for kind in self.kinds:
            if kind not in KINDS:
                raise InvalidInput(f"unknown kind {kind!r}; kinds are {', '.join(KINDS)}")
        if any(len(tag) > _TAG_MAX for tag in self.tags):
            raise InvalidInput(f"a tag is at most {_TAG_MAX} characters")
        if self.date_field not in DATE_FIELDS:
            raise InvalidInput(f"unknown date field {self.date_field!r}; use {', '.join(DATE_FIELDS)}")
        if self.since and self.until and self.until < self.since:
            raise InvalidInput(f"the date range ends ({self.until}) before it starts ({self.since})")
        if len(self.assets) > _MAX_LISTED:
            raise InvalidInput(f"list at most {_MAX_LISTED:,} assets; use collections or tags for more")
        if self.all and (self.has_criteria or self.assets):
            raise InvalidInput("a selection of all works takes no other criteria")
        if not self.all and not self.has_criteria and not self.assets:
            raise InvalidInput(
                "the selection is empty: choose all works, or collections, tags, kinds, dates or assets"
            )

    @property
    def has_criteria(self) -> bool:
        return bool(self.collections or self.tags or self.kinds or self.since or self.until)

    def as_dict(self) -> dict[str, Any]:
        return {
            "all": self.all,
            "collections": list(self.collections),
            "tags": list(self.tags),
            "kinds": list(self.kinds),
            "date_field": self.date_field,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "assets": list(self.assets),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Selection:
        if not isinstance(data, Mapping):
            raise InvalidInput("the selection must be an object")
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise InvalidInput(f"unknown selection field(s): {', '.join(sorted(unknown))}")
        return cls(**dict(data))

    def describe(self) -> str:
        """Plain words for pages and agreements."""
        if self.all:
            return "all works in the catalogue"
        parts: list[str] = []
        if self.kinds:
            parts.append("kind " + " or ".join(self.kinds))
        if self.collections:
            parts.append(f"in {len(self.collections)} named collection{'s' * (len(self.collections) > 1)}")
        if self.tags:
            parts.append("tagged " + " or ".join(self.tags))
        if self.since or self.until:
            label = {"created": "made", "published": "published", "imported": "added"}[self.date_field]
            parts.append(f"{label} {self.since or '…'} to {self.until or '…'}")
        text = "works " + ", ".join(parts) if parts else ""
        if self.assets:
            listed = f"{len(self.assets)} listed work{'s' * (len(self.assets) > 1)}"
            text = f"{text}, plus {listed}" if text else listed
        return text


def seller_creator_ids(session: Session, seller: Seller) -> list[str]:
    """Whose works the seller sells: the creator, or a collective's current members."""
    if isinstance(seller, CreatorProfile):
        return [seller.id]
    return list(
        session.scalars(
            select(CollectiveMembership.creator_id)
            .where(CollectiveMembership.collective_id == seller.id, CollectiveMembership.left_at.is_(None))
            .order_by(CollectiveMembership.creator_id)
        )
    )


def _day_bounds(since: date | None, until: date | None) -> tuple[datetime | None, datetime | None]:
    low = datetime.combine(since, time(), UTC) if since else None
    high = datetime.combine(until + timedelta(days=1), time(), UTC) if until else None
    return low, high


def selection_query(creator_ids: Sequence[str], selection: Selection) -> Select[Asset]:
    """The live works of ``creator_ids`` that ``selection`` matches (before any policy check)."""
    query = select(Asset).where(Asset.creator_id.in_(creator_ids), Asset.deleted_at.is_(None))
    if selection.all:
        return query
    conditions: list[ColumnElement[bool]] = []
    if selection.has_criteria:
        matched: list[ColumnElement[bool]] = []
        if selection.kinds:
            matched.append(Asset.kind.in_(selection.kinds))
        if selection.tags:
            matched.append(Asset.tag_rows.any(AssetTag.tag.in_(selection.tags)))
        if selection.collections:
            matched.append(
                Asset.id.in_(
                    select(AssetCollection.asset_id).where(
                        AssetCollection.collection_id.in_(selection.collections)
                    )
                )
            )
        if selection.since or selection.until:
            if selection.date_field == "published":
                if selection.since:
                    matched.append(Asset.published_on >= selection.since)
                if selection.until:
                    matched.append(Asset.published_on <= selection.until)
            else:
                column = Asset.created_at if selection.date_field == "created" else Asset.imported_at
                low, high = _day_bounds(selection.since, selection.until)
                if low:
                    matched.append(column >= low)
                if high:
                    matched.append(column < high)
        conditions.append(and_(*matched))
    if selection.assets:
        conditions.append(Asset.id.in_(selection.assets))
    return query.where(or_(*conditions))


def policy_denied(session: Session, assets: Sequence[Asset], usages: Iterable[str]) -> dict[str, list[str]]:
    """The assets among ``assets`` whose effective AI policy denies any of ``usages``, with those usages.

    The policy of most works is their creator's; only works with rules of their own, or in a collection
    with rules, are resolved one by one.
    """
    usages = tuple(usages)
    if not assets or not usages:
        return {}
    creator_ids = sorted({a.creator_id for a in assets})
    with_rules = set(
        session.scalars(
            select(PolicyRule.scope_id)
            .join(Asset, Asset.id == PolicyRule.scope_id)
            .where(PolicyRule.scope_type == "asset", Asset.creator_id.in_(creator_ids))
        )
    )
    collections_with_rules = set(
        session.scalars(
            select(PolicyRule.scope_id)
            .join(Collection, Collection.id == PolicyRule.scope_id)
            .where(PolicyRule.scope_type == "collection", Collection.creator_id.in_(creator_ids))
        )
    )
    per_creator: dict[str, EffectivePolicy] = {}
    denied: dict[str, list[str]] = {}
    for asset in assets:
        if asset.id in with_rules or any(c.id in collections_with_rules for c in asset.collections):
            policy = effective_policy(session, asset=asset)
        else:
            if asset.creator_id not in per_creator:
                per_creator[asset.creator_id] = effective_policy(session, creator=asset.creator)
            policy = per_creator[asset.creator_id]
        refused = [u for u in usages if policy.action(u) == "deny"]
        if refused:
            denied[asset.id] = refused
    return denied


def evaluate_selection(
    session: Session, *, seller: Seller, selection: Selection, usages: Iterable[str] = ()
) -> list[Asset]:
    """The seller's live works the selection covers now, less those whose policy denies one of ``usages``;
    in catalogue order (import time, then id)."""
    creator_ids = seller_creator_ids(session, seller)
    if not creator_ids:
        return []
    assets = list(
        session.scalars(selection_query(creator_ids, selection).order_by(Asset.imported_at, Asset.id))
    )
    denied = policy_denied(session, assets, usages)
    return [a for a in assets if a.id not in denied]


def selection_assets(session: Session, offer_version: OfferVersion) -> list[Asset]:
    """What an offer version covers right now (its selection, evaluated live, for its usages)."""
    offer = offer_version.offer
    seller: Seller | None = offer.creator if offer.creator is not None else offer.collective
    assert seller is not None
    terms = Terms.from_dict(offer_version.terms)
    return evaluate_selection(
        session, seller=seller, selection=Selection.from_dict(offer_version.selection), usages=terms.usages
    )


@dataclass(frozen=True)
class SnapshotRow:
    asset_id: str
    sha256: str
    title: str
    kind: str
    creator_id: str
    creator_handle: str
    creator_name: str
    rightsholders: tuple[dict[str, Any], ...]


def snapshot(session: Session, assets: Sequence[Asset]) -> list[SnapshotRow]:
    """Each work as it is now, with its rightsholders' shares (the creator alone when none are recorded)."""
    creators = {
        c.id: c
        for c in session.scalars(
            select(CreatorProfile).where(CreatorProfile.id.in_({a.creator_id for a in assets}))
        )
    }
    rows = []
    for asset in assets:
        creator = creators[asset.creator_id]
        holders = tuple(
            {"name": h.name, "share_bp": h.share_bp, "creator_id": h.creator_id} for h in asset.rightsholders
        ) or (
            {
                "name": creator.legal_name or creator.display_name,
                "share_bp": 10_000,
                "creator_id": creator.id,
            },
        )
        rows.append(
            SnapshotRow(
                asset_id=asset.id,
                sha256=asset.sha256,
                title=asset.title,
                kind=asset.kind,
                creator_id=creator.id,
                creator_handle=creator.handle,
                creator_name=creator.legal_name or creator.display_name,
                rightsholders=holders,
            )
        )
    return rows


def snapshot_digest(pairs: Iterable[tuple[str, str]]) -> str:
    """SHA-256 of the licensed content list: one ``<asset id> <sha256>`` line per work, sorted by id.

    Anyone holding the schedule can recompute it, e.g. ``LC_ALL=C sort schedule.txt | sha256sum``.
    """
    lines = "".join(f"{asset_id} {sha256}\n" for asset_id, sha256 in sorted(pairs))
    return hashlib.sha256(lines.encode()).hexdigest()
