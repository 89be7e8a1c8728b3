"""Tables owned by licensing: API clients of licensee organisations, offers and their versions, deals with
their events and frozen asset lists, and the agreements accepted deals produce."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    false,
    text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fairtrain.accounts.models import Collective, CreatorProfile, LicenseeOrg
from fairtrain.db.base import Base, IdPrimaryKey, utcnow

__all__ = [
    "DEAL_STATES",
    "SELLER_KINDS",
    "Agreement",
    "ApiClient",
    "CrawlerAccount",
    "Deal",
    "DealAsset",
    "DealEvent",
    "Offer",
    "OfferVersion",
]

SELLER_KINDS = ("creator", "collective")
DEAL_STATES = (
    "proposed",
    "countered",
    "accepted",
    "active",
    "expired",
    "terminated",
    "declined",
    "withdrawn",
)
SIDES = ("licensee", "seller", "system")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


_ONE_SELLER = (
    "(seller_kind = 'creator' AND creator_id IS NOT NULL AND collective_id IS NULL) OR "
    "(seller_kind = 'collective' AND collective_id IS NOT NULL AND creator_id IS NULL)"
)


class ApiClient(Base):
    """A licensee organisation's machine credentials: the id is public, only the secret's SHA-256 is kept."""

    __tablename__ = "licensing_api_clients"

    id: Mapped[str] = IdPrimaryKey("ftc")  # the client id
    org_id: Mapped[str] = mapped_column(ForeignKey("licensee_orgs.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    secret_hash: Mapped[str] = mapped_column(String(64))
    secret_hint: Mapped[str] = mapped_column(String(16))
    # Bumped by every rotation, so tokens can name the secret they were issued under.
    generation: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))
    created_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    rotated_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    org: Mapped[LicenseeOrg] = relationship(lazy="joined")


class CrawlerAccount(Base):
    """A crawler a licensee organisation pays for: pay-per-crawl charges of that crawler go on its invoices.

    ``agent`` is what the gateway proves about a request: the Web Bot Auth signature agent's origin
    (``https://crawler.example``) or the registry name of a crawler verified by IP prefix list or reverse DNS
    (``GPTBot``). Stored in lower case; one organisation per agent at a time.
    """

    __tablename__ = "licensing_crawler_accounts"
    __table_args__ = (
        Index(
            "uq_licensing_crawler_accounts_agent_live",
            "agent",
            unique=True,
            sqlite_where=text("revoked_at IS NULL"),
            postgresql_where=text("revoked_at IS NULL"),
        ),
    )

    id: Mapped[str] = IdPrimaryKey("cra")
    org_id: Mapped[str] = mapped_column(ForeignKey("licensee_orgs.id", ondelete="CASCADE"), index=True)
    agent: Mapped[str] = mapped_column(String(255))
    max_price_micros: Mapped[int | None] = mapped_column(BigInteger)  # the most it accepts per crawl, if set
    created_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]

    org: Mapped[LicenseeOrg] = relationship(lazy="joined")


class Offer(Base):
    """A seller's standing offer; its terms and selection live in versions, the newest being current."""

    __tablename__ = "licensing_offers"
    __table_args__ = (
        CheckConstraint(_ONE_SELLER, name="one_seller"),
        CheckConstraint(_in("status", ("open", "withdrawn")), name="status_known"),
    )

    id: Mapped[str] = IdPrimaryKey("ofr")
    seller_kind: Mapped[str] = mapped_column(String(16))
    creator_id: Mapped[str | None] = mapped_column(ForeignKey("creators.id", ondelete="CASCADE"), index=True)
    collective_id: Mapped[str | None] = mapped_column(
        ForeignKey("collectives.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    public: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    status: Mapped[str] = mapped_column(String(16), default="open", server_default="open")
    current_version: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    withdrawn_at: Mapped[datetime | None]

    creator: Mapped[CreatorProfile | None] = relationship(lazy="joined")
    collective: Mapped[Collective | None] = relationship(lazy="joined")
    versions: Mapped[list[OfferVersion]] = relationship(
        back_populates="offer", order_by="OfferVersion.version", cascade="all, delete-orphan"
    )

    @property
    def seller_name(self) -> str:
        if self.creator is not None:
            return self.creator.display_name
        assert self.collective is not None
        return self.collective.name

    @property
    def current(self) -> OfferVersion:
        return next(v for v in self.versions if v.version == self.current_version)


class OfferVersion(Base):
    """One immutable wording of an offer: terms and selection as canonical JSON."""

    __tablename__ = "licensing_offer_versions"
    __table_args__ = (Index("uq_licensing_offer_versions_offer_version", "offer_id", "version", unique=True),)

    id: Mapped[str] = IdPrimaryKey("ofv")
    offer_id: Mapped[str] = mapped_column(ForeignKey("licensing_offers.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    terms: Mapped[dict[str, Any]] = mapped_column(JSON)
    selection: Mapped[dict[str, Any]] = mapped_column(JSON)
    note: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    offer: Mapped[Offer] = relationship(back_populates="versions", lazy="joined")


class Deal(Base):
    """A licensee's deal on an offer version, from proposal to its end. ``terms`` are the terms on the table
    (or, once accepted, the agreed ones); ``starts_at``/``ends_at`` the current term, set at acceptance."""

    __tablename__ = "licensing_deals"
    __table_args__ = (
        CheckConstraint(_ONE_SELLER, name="one_seller"),
        CheckConstraint(_in("status", DEAL_STATES), name="status_known"),
        CheckConstraint("ends_at IS NULL OR starts_at IS NULL OR ends_at > starts_at", name="term_order"),
        Index("ix_licensing_deals_org_status", "org_id", "status"),
        Index("ix_licensing_deals_status_ends", "status", "ends_at"),
    )

    id: Mapped[str] = IdPrimaryKey("deal")
    offer_id: Mapped[str] = mapped_column(ForeignKey("licensing_offers.id", ondelete="RESTRICT"), index=True)
    offer_version_id: Mapped[str] = mapped_column(
        ForeignKey("licensing_offer_versions.id", ondelete="RESTRICT")
    )
    org_id: Mapped[str] = mapped_column(ForeignKey("licensee_orgs.id", ondelete="RESTRICT"))
    seller_kind: Mapped[str] = mapped_column(String(16))
    creator_id: Mapped[str | None] = mapped_column(ForeignKey("creators.id", ondelete="RESTRICT"), index=True)
    collective_id: Mapped[str | None] = mapped_column(
        ForeignKey("collectives.id", ondelete="RESTRICT"), index=True
    )
    status: Mapped[str] = mapped_column(String(16))
    terms: Mapped[dict[str, Any]] = mapped_column(JSON)
    terms_from: Mapped[str] = mapped_column(String(16))  # licensee | seller: who put the terms on the table
    exclusive: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    auto_renew: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    starts_at: Mapped[datetime | None]
    ends_at: Mapped[datetime | None]
    term_seconds: Mapped[int | None] = mapped_column(BigInteger)  # one term's length, for renewals
    renewals: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    requested_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    accepted_at: Mapped[datetime | None]
    activated_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    end_reason: Mapped[str | None] = mapped_column(Text)
    asset_count: Mapped[int | None]
    selection_sha256: Mapped[str | None] = mapped_column(String(64))
    agreement_sha256: Mapped[str | None] = mapped_column(String(64))

    offer: Mapped[Offer] = relationship(lazy="joined")
    offer_version: Mapped[OfferVersion] = relationship(lazy="joined")
    org: Mapped[LicenseeOrg] = relationship(lazy="joined")
    events: Mapped[list[DealEvent]] = relationship(
        back_populates="deal", order_by="DealEvent.seq", cascade="all, delete-orphan"
    )
    assets: Mapped[list[DealAsset]] = relationship(
        back_populates="deal", order_by="DealAsset.position", cascade="all, delete-orphan"
    )
    agreement: Mapped[Agreement | None] = relationship(back_populates="deal", cascade="all, delete-orphan")


class DealEvent(Base):
    """One step of a deal: who took it (side and user), when, why, and the terms on the table after it."""

    __tablename__ = "licensing_deal_events"
    __table_args__ = (
        Index("uq_licensing_deal_events_deal_seq", "deal_id", "seq", unique=True),
        CheckConstraint(_in("side", SIDES), name="side_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    deal_id: Mapped[str] = mapped_column(ForeignKey("licensing_deals.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(24))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    side: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reason: Mapped[str] = mapped_column(Text, default="", server_default="")
    terms: Mapped[dict[str, Any]] = mapped_column(JSON)
    at: Mapped[datetime] = mapped_column(default=utcnow)

    deal: Mapped[Deal] = relationship(back_populates="events")


class DealAsset(Base):
    """One work as it was when the deal was accepted. No foreign key to the asset or creator: the record must
    outlive both, since it is what was licensed."""

    __tablename__ = "licensing_deal_assets"

    deal_id: Mapped[str] = mapped_column(
        ForeignKey("licensing_deals.id", ondelete="CASCADE"), primary_key=True
    )
    asset_id: Mapped[str] = mapped_column(String(32), primary_key=True, index=True)
    position: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(500))
    kind: Mapped[str] = mapped_column(String(16))
    creator_id: Mapped[str] = mapped_column(String(32), index=True)
    creator_handle: Mapped[str] = mapped_column(String(32))
    creator_name: Mapped[str] = mapped_column(String(200))
    # [{"name": ..., "share_bp": ..., "creator_id": ...}], summing to 10,000; the creator alone when none
    # were recorded.
    rightsholders: Mapped[list[dict[str, Any]]] = mapped_column(JSON)

    deal: Mapped[Deal] = relationship(back_populates="assets")


class Agreement(Base):
    """The licence agreement of an accepted deal: the frozen data it is rendered from and the hashes of its
    renderings, recorded at acceptance."""

    __tablename__ = "licensing_agreements"

    deal_id: Mapped[str] = mapped_column(
        ForeignKey("licensing_deals.id", ondelete="CASCADE"), primary_key=True
    )
    template_version: Mapped[int] = mapped_column(Integer)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    data_sha256: Mapped[str] = mapped_column(String(64))
    html_sha256: Mapped[str] = mapped_column(String(64))
    pdf_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    deal: Mapped[Deal] = relationship(back_populates="agreement")
