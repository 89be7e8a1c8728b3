"""Tables owned by the gateway: fans' subscription tiers and subscriptions, and crawler analytics.

Prices are micros (millionths of the currency's major unit) like every price in fairtrain; amounts that move
through the ledger are integer minor units.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fairtrain.accounts.models import CreatorProfile, User
from fairtrain.catalog.models import Collection
from fairtrain.db.base import Base, IdPrimaryKey, utcnow

__all__ = [
    "SUBSCRIPTION_STATES",
    "PathDaily",
    "Subscription",
    "SubscriptionPayment",
    "SubscriptionTier",
    "TierCollection",
    "TrafficDaily",
]

SUBSCRIPTION_STATES = ("pending", "active", "lapsed", "cancelled")


class SubscriptionTier(Base):
    """What a creator offers fans: a monthly price and what it unlocks (every work, or some collections)."""

    __tablename__ = "gateway_tiers"
    __table_args__ = (
        UniqueConstraint("creator_id", "name"),
        CheckConstraint("price_micros > 0", name="price_positive"),
    )

    id: Mapped[str] = IdPrimaryKey("tier")
    creator_id: Mapped[str] = mapped_column(ForeignKey("creators.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    price_micros: Mapped[int] = mapped_column(BigInteger)  # per month
    currency: Mapped[str] = mapped_column(String(3))
    unlocks_all: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # Retired tiers take no new fans; existing subscriptions run on until cancelled or lapsed.
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    creator: Mapped[CreatorProfile] = relationship(lazy="joined")
    collections: Mapped[list[Collection]] = relationship(
        secondary="gateway_tier_collections", lazy="selectin"
    )


class TierCollection(Base):
    """A collection a tier unlocks (when the tier does not unlock everything)."""

    __tablename__ = "gateway_tier_collections"

    tier_id: Mapped[str] = mapped_column(ForeignKey("gateway_tiers.id", ondelete="CASCADE"), primary_key=True)
    collection_id: Mapped[str] = mapped_column(
        ForeignKey("collections.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class Subscription(Base):
    """One fan's subscription to one tier.

    ``pending`` until the first payment arrives; ``active`` while paid through ``paid_until``; ``lapsed``
    when a renewal went unpaid past its grace period; ``cancelled`` by the fan or creator (access runs to
    ``paid_until`` when ``cancel_at_period_end``).
    """

    __tablename__ = "gateway_subscriptions"
    __table_args__ = (
        CheckConstraint(
            "status IN ({})".format(", ".join(f"'{state}'" for state in SUBSCRIPTION_STATES)),
            name="status_known",
        ),
        Index("ix_gateway_subscriptions_fan_creator", "fan_id", "creator_id"),
    )

    id: Mapped[str] = IdPrimaryKey("sub")
    tier_id: Mapped[str] = mapped_column(ForeignKey("gateway_tiers.id", ondelete="RESTRICT"), index=True)
    fan_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    creator_id: Mapped[str] = mapped_column(ForeignKey("creators.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    price_micros: Mapped[int] = mapped_column(BigInteger)  # the tier's price when subscribed
    currency: Mapped[str] = mapped_column(String(3))
    provider: Mapped[str] = mapped_column(String(32), default="manual")
    paid_until: Mapped[datetime | None]
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    cancelled_at: Mapped[datetime | None]
    lapsed_at: Mapped[datetime | None]

    tier: Mapped[SubscriptionTier] = relationship(lazy="joined")
    fan: Mapped[User] = relationship(lazy="joined")


class SubscriptionPayment(Base):
    """One month of a subscription: due when the period is opened, paid through the payment provider, then
    posted to the ledger and distributed to the creator like any other income."""

    __tablename__ = "gateway_subscription_payments"
    __table_args__ = (
        UniqueConstraint("subscription_id", "period_start"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("status IN ('due', 'paid', 'void')", name="status_known"),
    )

    id: Mapped[str] = IdPrimaryKey("sbp")
    subscription_id: Mapped[str] = mapped_column(
        ForeignKey("gateway_subscriptions.id", ondelete="RESTRICT"), index=True
    )
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    amount: Mapped[int] = mapped_column(BigInteger)  # minor units
    currency: Mapped[str] = mapped_column(String(3))
    reference: Mapped[str] = mapped_column(String(40), unique=True)  # what the fan quotes with a transfer
    status: Mapped[str] = mapped_column(String(8), default="due")
    provider: Mapped[str | None] = mapped_column(String(32))
    external_id: Mapped[str | None] = mapped_column(String(200))
    transaction_id: Mapped[str | None] = mapped_column(String(32))  # the ledger transaction of the payment
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    paid_at: Mapped[datetime | None]


class TrafficDaily(Base):
    """Requests per day, creator, crawler and client class: the crawler analytics' counters.

    ``creator_id`` is '' for requests that belong to no creator (site pages, robots.txt); ``crawler`` is ''
    for requests from no named crawler. ``source`` is ``gateway`` for requests served here and ``import`` for
    access logs of sites hosted elsewhere. Revenue is in ``currency`` ('' when nothing was charged).
    """

    __tablename__ = "gateway_traffic_daily"
    __table_args__ = (
        UniqueConstraint("day", "source", "creator_id", "crawler", "client_class", "currency"),
        Index("ix_gateway_traffic_daily_creator_day", "creator_id", "day"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(16), default="gateway")
    creator_id: Mapped[str] = mapped_column(String(32), default="")
    crawler: Mapped[str] = mapped_column(String(255), default="")
    operator: Mapped[str] = mapped_column(String(120), default="")
    purpose: Mapped[str] = mapped_column(String(32), default="")
    client_class: Mapped[str] = mapped_column(String(32))
    currency: Mapped[str] = mapped_column(String(3), default="")
    requests: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    served: Mapped[int] = mapped_column(BigInteger, default=0)
    refused: Mapped[int] = mapped_column(BigInteger, default=0)
    quoted: Mapped[int] = mapped_column(BigInteger, default=0)  # 401/402 answers: a licence or price asked
    charged: Mapped[int] = mapped_column(BigInteger, default=0)
    licensed: Mapped[int] = mapped_column(BigInteger, default=0)
    revenue_micros: Mapped[int] = mapped_column(BigInteger, default=0)


class PathDaily(Base):
    """Requests per day, creator, crawler and path (for top paths), with robots.txt violations: fetches of a
    path the crawler's own robots.txt group disallows."""

    __tablename__ = "gateway_path_daily"
    __table_args__ = (
        UniqueConstraint("day", "source", "creator_id", "crawler", "path"),
        Index("ix_gateway_path_daily_creator_day", "creator_id", "day"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(16), default="gateway")
    creator_id: Mapped[str] = mapped_column(String(32), default="")
    crawler: Mapped[str] = mapped_column(String(255), default="")
    path: Mapped[str] = mapped_column(String(500))
    requests: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    violations: Mapped[int] = mapped_column(BigInteger, default=0)
