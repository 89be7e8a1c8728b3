"""Tables owned by billing: which invoice bills which period of a deal, metered usage, usage reports and
royalty statements.

Amounts are integers of minor units in the deal's currency; prices finer than a minor unit are micros
(millionths of the major unit), as everywhere in fairtrain.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fairtrain.db.base import Base, IdPrimaryKey, utcnow
from fairtrain.ledger.models import Invoice

__all__ = [
    "Charge",
    "CrawlCharge",
    "DealInvoice",
    "RoyaltyStatement",
    "UsageEvent",
    "UsageKind",
    "UsageReport",
]


class Charge(enum.StrEnum):
    """What an invoice of a deal charges for."""

    FLAT = "flat"
    RECURRING = "recurring"
    USAGE = "usage"
    ROYALTY = "royalty"


class UsageKind(enum.StrEnum):
    CRAWL = "crawl"  # one request for one work (per-crawl deals)
    USE = "use"  # one use the licensee reports (per-use deals)


def _values(kind: type[enum.StrEnum]) -> str:
    return ", ".join(f"'{member.value}'" for member in kind)


class DealInvoice(Base):
    """One billed period of a deal and the invoice that bills it: a deal's period is billed once."""

    __tablename__ = "billing_deal_invoices"
    __table_args__ = (
        UniqueConstraint("deal_id", "period_start"),
        CheckConstraint(f"charge IN ({_values(Charge)})", name="charge_known"),
        CheckConstraint("period_end >= period_start", name="period_ordered"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    deal_id: Mapped[str] = mapped_column(ForeignKey("licensing_deals.id", ondelete="RESTRICT"), index=True)
    charge: Mapped[str] = mapped_column(String(16))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    invoice_id: Mapped[str] = mapped_column(
        ForeignKey("ledger_invoices.id", ondelete="RESTRICT"), unique=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    invoice: Mapped[Invoice] = relationship(lazy="joined", innerjoin=True)


class UsageReport(Base):
    """A licensee's statement of how much it used each licensed work in one billing period."""

    __tablename__ = "billing_usage_reports"
    __table_args__ = (
        UniqueConstraint("deal_id", "period_start"),
        CheckConstraint(f"kind IN ({_values(UsageKind)})", name="kind_known"),
        CheckConstraint("period_end >= period_start", name="period_ordered"),
        CheckConstraint("quantity >= 0", name="quantity_not_negative"),
    )

    id: Mapped[str] = IdPrimaryKey("urp")
    deal_id: Mapped[str] = mapped_column(ForeignKey("licensing_deals.id", ondelete="RESTRICT"), index=True)
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(8))
    quantity: Mapped[int] = mapped_column(BigInteger)  # the report's total
    reported_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    invoice_id: Mapped[str | None] = mapped_column(ForeignKey("ledger_invoices.id", ondelete="RESTRICT"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class UsageEvent(Base):
    """Metered use of one licensed work under one deal: appended by a usage report (one row per work) or,
    one request at a time, by the gateway. Rows are never changed, except to note the invoice that billed
    them."""

    __tablename__ = "billing_usage_events"
    __table_args__ = (
        Index("ix_billing_usage_events_deal_time", "deal_id", "occurred_at"),
        CheckConstraint(f"kind IN ({_values(UsageKind)})", name="kind_known"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("bytes >= 0", name="bytes_not_negative"),
        CheckConstraint("price_micros IS NULL OR price_micros >= 0", name="price_not_negative"),
        Index("uq_billing_usage_events_request", "request_id", unique=True),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    deal_id: Mapped[str] = mapped_column(ForeignKey("licensing_deals.id", ondelete="RESTRICT"))
    # The gateway request that made it (None for reported usage): a retried batch never counts it twice.
    request_id: Mapped[str | None] = mapped_column(String(40))
    client_id: Mapped[str | None] = mapped_column(
        ForeignKey("licensing_api_clients.id", ondelete="SET NULL"), index=True
    )
    # No foreign key: the record outlives the asset, like the deal's own snapshot of it.
    asset_id: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(8))
    quantity: Mapped[int] = mapped_column(BigInteger)
    bytes: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # The price per unit actually quoted (a gateway's pay-per-crawl charge); None: the deal's price.
    price_micros: Mapped[int | None] = mapped_column(BigInteger)
    # A gateway's events carry their time; a report's rows are dated at the start of its period.
    occurred_at: Mapped[datetime]
    report_id: Mapped[str | None] = mapped_column(
        ForeignKey("billing_usage_reports.id", ondelete="RESTRICT"), index=True
    )
    invoice_id: Mapped[str | None] = mapped_column(
        ForeignKey("ledger_invoices.id", ondelete="RESTRICT"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RoyaltyStatement(Base):
    """A licensee's reported model revenue for one royalty period, and what it came to."""

    __tablename__ = "billing_royalty_statements"
    __table_args__ = (
        UniqueConstraint("deal_id", "period_start"),
        CheckConstraint("period_end >= period_start", name="period_ordered"),
        CheckConstraint(
            "revenue >= 0 AND minimum >= 0 AND royalty >= 0 AND amount >= 0", name="amounts_not_negative"
        ),
        CheckConstraint("royalty_bp BETWEEN 0 AND 10000", name="royalty_bp_range"),
    )

    id: Mapped[str] = IdPrimaryKey("rys")
    deal_id: Mapped[str] = mapped_column(ForeignKey("licensing_deals.id", ondelete="RESTRICT"), index=True)
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    revenue: Mapped[int] = mapped_column(BigInteger)  # reported model revenue
    royalty_bp: Mapped[int] = mapped_column(Integer)
    minimum: Mapped[int] = mapped_column(BigInteger)  # the minimum guarantee for the period
    royalty: Mapped[int] = mapped_column(BigInteger)  # royalty_bp × revenue, rounded once
    amount: Mapped[int] = mapped_column(BigInteger)  # invoiced: the larger of royalty and minimum
    reported_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    invoice_id: Mapped[str | None] = mapped_column(ForeignKey("ledger_invoices.id", ondelete="RESTRICT"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CrawlCharge(Base):
    """One pay-per-crawl charge (STANDARDS §2): a verified crawler fetched one work at a quoted price.

    Written by the gateway before the response that says ``crawler-charged`` is sent; billed monthly to the
    organisation that registered the crawler, one invoice per seller and currency, and distributed to the
    work's creator and rightsholders once paid. Rows are never changed, except to note the invoice.
    """

    __tablename__ = "billing_crawl_charges"
    __table_args__ = (
        Index("ix_billing_crawl_charges_org_time", "org_id", "occurred_at"),
        Index("ix_billing_crawl_charges_creator_time", "creator_id", "occurred_at"),
        CheckConstraint("price_micros >= 0", name="price_not_negative"),
        CheckConstraint("bytes >= 0", name="bytes_not_negative"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    # The request's own id: a retried batch never writes a charge twice.
    request_id: Mapped[str] = mapped_column(String(40), unique=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("licensee_orgs.id", ondelete="RESTRICT"))
    crawler_account_id: Mapped[str | None] = mapped_column(
        ForeignKey("licensing_crawler_accounts.id", ondelete="SET NULL")
    )
    crawler: Mapped[str] = mapped_column(String(255))
    # No foreign keys: the record outlives the work and the creator's account, like a deal's snapshot.
    creator_id: Mapped[str] = mapped_column(String(32))
    asset_id: Mapped[str] = mapped_column(String(32))
    path: Mapped[str] = mapped_column(String(1000))
    price_micros: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    bytes: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    occurred_at: Mapped[datetime]
    invoice_id: Mapped[str | None] = mapped_column(
        ForeignKey("ledger_invoices.id", ondelete="RESTRICT"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
