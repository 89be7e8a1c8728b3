"""Tables owned by the ledger: accounts, transactions and postings, idempotency keys, invoices and payments,
distribution runs, payout batches.

Amounts are signed integers of minor units: a debit is positive, a credit negative, and every transaction's
postings sum to zero per currency. Postings reference their transaction through a *deferred* foreign key, so
``journal.post`` writes the postings first and the transaction row last; the database refuses a transaction
row whose postings do not balance, a posting added to a transaction that already has its row, and any UPDATE
or DELETE of either (triggers in migration 0006, on SQLite and PostgreSQL alike).
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fairtrain.db.base import Base, IdPrimaryKey, utcnow

__all__ = [
    "Account",
    "AccountKind",
    "DistributionAsset",
    "DistributionPayee",
    "DistributionRun",
    "DistributionShare",
    "IdempotencyKey",
    "Invoice",
    "InvoiceLine",
    "InvoiceStatus",
    "Payment",
    "Payout",
    "PayoutBatch",
    "PayoutStatus",
    "Posting",
    "Transaction",
]


class AccountKind(enum.StrEnum):
    ASSET = "asset"
    LIABILITY = "liability"
    REVENUE = "revenue"
    EXPENSE = "expense"
    EQUITY = "equity"


class InvoiceStatus(enum.StrEnum):
    DRAFT = "draft"
    ISSUED = "issued"
    PAID = "paid"
    VOID = "void"


class PayoutStatus(enum.StrEnum):
    IN_TRANSIT = "in_transit"
    SENT = "sent"
    FAILED = "failed"


def _values(kind: type[enum.StrEnum]) -> str:
    return ", ".join(f"'{member.value}'" for member in kind)


class Account(Base):
    """One ledger account in one currency, named by a stable code such as ``payable:crt_…``."""

    __tablename__ = "ledger_accounts"
    __table_args__ = (
        UniqueConstraint("code", "currency"),
        # Postings name (account, currency) together, so the database checks the currency matches.
        UniqueConstraint("id", "currency"),
        CheckConstraint(f"kind IN ({_values(AccountKind)})", name="kind_known"),
        CheckConstraint("length(currency) = 3", name="currency_code"),
    )

    id: Mapped[str] = IdPrimaryKey("acc")
    code: Mapped[str] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3))
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200), default="", server_default="")
    # Money owed to a creator or by a licensee keeps them from being deleted (RESTRICT): records stay.
    creator_id: Mapped[str | None] = mapped_column(ForeignKey("creators.id", ondelete="RESTRICT"), index=True)
    licensee_org_id: Mapped[str | None] = mapped_column(
        ForeignKey("licensee_orgs.id", ondelete="RESTRICT"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Transaction(Base):
    """A balanced, immutable set of postings. Corrections are new transactions that reverse it."""

    __tablename__ = "ledger_transactions"
    __table_args__ = (Index("ix_ledger_transactions_ref", "ref_type", "ref_id"),)

    id: Mapped[str] = IdPrimaryKey("ltx")
    kind: Mapped[str] = mapped_column(String(32))
    memo: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    # A transaction is reversed at most once.
    reverses_id: Mapped[str | None] = mapped_column(ForeignKey("ledger_transactions.id"), unique=True)
    # The operation that posted it, e.g. ``invoice.issue:inv_…``: the database posts each operation once.
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    ref_type: Mapped[str | None] = mapped_column(String(32))
    ref_id: Mapped[str | None] = mapped_column(String(64))

    postings: Mapped[list[Posting]] = relationship(viewonly=True, order_by="Posting.id", lazy="selectin")


class Posting(Base):
    """One signed amount on one account: debit > 0, credit < 0, never zero."""

    __tablename__ = "ledger_postings"
    __table_args__ = (
        ForeignKeyConstraint(
            ["account_id", "currency"],
            ["ledger_accounts.id", "ledger_accounts.currency"],
            ondelete="RESTRICT",
        ),
        CheckConstraint("amount <> 0", name="amount_not_zero"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # Deferred: the postings are written before their transaction row, whose insert checks the balance.
    transaction_id: Mapped[str] = mapped_column(
        ForeignKey("ledger_transactions.id", ondelete="RESTRICT", deferrable=True, initially="DEFERRED"),
        index=True,
    )
    account_id: Mapped[str] = mapped_column(String(32), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(BigInteger)

    account: Mapped[Account] = relationship(
        viewonly=True,
        lazy="joined",
        innerjoin=True,
        foreign_keys="Posting.account_id",
        primaryjoin="Posting.account_id == Account.id",
    )


class IdempotencyKey(Base):
    """A money-moving request by its caller's key: a replay returns ``result`` instead of running again."""

    __tablename__ = "ledger_idempotency_keys"
    __table_args__ = (UniqueConstraint("scope", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))
    result: Mapped[Any | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Invoice(Base):
    """What a licensee owes for one source (e.g. a deal) and period; lines are fixed once issued."""

    __tablename__ = "ledger_invoices"
    __table_args__ = (
        Index("ix_ledger_invoices_source", "source_type", "source_id", "period_start"),
        CheckConstraint(f"status IN ({_values(InvoiceStatus)})", name="status_known"),
        CheckConstraint("period_end >= period_start", name="period_ordered"),
        CheckConstraint("total >= 0 AND amount_paid >= 0", name="amounts_not_negative"),
    )

    id: Mapped[str] = IdPrimaryKey("inv")
    licensee_org_id: Mapped[str] = mapped_column(
        ForeignKey("licensee_orgs.id", ondelete="RESTRICT"), index=True
    )
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16), default=InvoiceStatus.DRAFT)
    # Quoted on a bank transfer so the payment can be matched to the invoice.
    reference: Mapped[str] = mapped_column(String(32), unique=True)
    source_type: Mapped[str] = mapped_column(String(32))
    source_id: Mapped[str] = mapped_column(String(64))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    memo: Mapped[str] = mapped_column(Text, default="", server_default="")
    total: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_paid: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    issued_at: Mapped[datetime | None]
    due_on: Mapped[date | None] = mapped_column(Date)
    paid_at: Mapped[datetime | None]
    voided_at: Mapped[datetime | None]
    void_reason: Mapped[str | None] = mapped_column(Text)
    issue_transaction_id: Mapped[str | None] = mapped_column(
        ForeignKey("ledger_transactions.id", ondelete="RESTRICT")
    )
    distribution_id: Mapped[str | None] = mapped_column(
        ForeignKey("ledger_distribution_runs.id", ondelete="RESTRICT"), index=True
    )

    lines: Mapped[list[InvoiceLine]] = relationship(
        back_populates="invoice",
        cascade="all, delete-orphan",
        order_by="InvoiceLine.position",
        lazy="selectin",
    )
    payments: Mapped[list[Payment]] = relationship(
        back_populates="invoice", order_by="Payment.created_at", lazy="selectin"
    )

    @property
    def balance_due(self) -> int:
        return max(self.total - self.amount_paid, 0)


class InvoiceLine(Base):
    """``quantity`` × ``unit_price_micros`` (millionths of the major unit), rounded once to ``amount``."""

    __tablename__ = "ledger_invoice_lines"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("unit_price_micros >= 0 AND amount >= 0", name="amounts_not_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    invoice_id: Mapped[str] = mapped_column(ForeignKey("ledger_invoices.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(String(500))
    quantity: Mapped[int] = mapped_column(BigInteger)
    unit_price_micros: Mapped[int] = mapped_column(BigInteger)
    amount: Mapped[int] = mapped_column(BigInteger)

    invoice: Mapped[Invoice] = relationship(back_populates="lines")


class Payment(Base):
    """Money received against an invoice, once per (provider, external id)."""

    __tablename__ = "ledger_payments"
    __table_args__ = (
        UniqueConstraint("provider", "external_id"),
        CheckConstraint("amount > 0 AND fee >= 0 AND fee <= amount", name="amounts_valid"),
    )

    id: Mapped[str] = IdPrimaryKey("pay")
    invoice_id: Mapped[str] = mapped_column(ForeignKey("ledger_invoices.id", ondelete="RESTRICT"), index=True)
    provider: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(BigInteger)
    fee: Mapped[int] = mapped_column(BigInteger, default=0)
    applied: Mapped[int] = mapped_column(BigInteger)  # settles the invoice
    excess: Mapped[int] = mapped_column(BigInteger, default=0)  # over-payment, credited to the licensee
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    transaction_id: Mapped[str] = mapped_column(ForeignKey("ledger_transactions.id", ondelete="RESTRICT"))

    invoice: Mapped[Invoice] = relationship(back_populates="payments")


class DistributionRun(Base):
    """The split of one pool (source, period, currency) among platform and creators, posted once."""

    __tablename__ = "ledger_distribution_runs"
    __table_args__ = (
        Index(
            "uq_ledger_distribution_runs_pool",
            "source_type",
            "source_id",
            "period_start",
            "period_end",
            "currency",
            unique=True,
        ),
        CheckConstraint("fee_bp BETWEEN 0 AND 10000", name="fee_bp_range"),
    )

    id: Mapped[str] = IdPrimaryKey("dst")
    source_type: Mapped[str] = mapped_column(String(32))
    source_id: Mapped[str] = mapped_column(String(64))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    pool_account_id: Mapped[str] = mapped_column(ForeignKey("ledger_accounts.id", ondelete="RESTRICT"))
    pool_amount: Mapped[int] = mapped_column(BigInteger)
    fee_bp: Mapped[int] = mapped_column(Integer)
    fee_amount: Mapped[int] = mapped_column(BigInteger)
    rule: Mapped[str] = mapped_column(String(200))
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON)  # weights and splits as exact fraction strings
    inputs_digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    transaction_id: Mapped[str] = mapped_column(ForeignKey("ledger_transactions.id", ondelete="RESTRICT"))

    shares: Mapped[list[DistributionShare]] = relationship(
        back_populates="run", order_by="DistributionShare.id", lazy="selectin"
    )
    payees: Mapped[list[DistributionPayee]] = relationship(
        back_populates="run", order_by="DistributionPayee.id", lazy="selectin"
    )
    assets: Mapped[list[DistributionAsset]] = relationship(
        back_populates="run", order_by="DistributionAsset.id", lazy="selectin"
    )


class DistributionShare(Base):
    """One creator's part of a pool: its weight, gross share, platform fee and net."""

    __tablename__ = "ledger_distribution_shares"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(
        ForeignKey("ledger_distribution_runs.id", ondelete="RESTRICT"), index=True
    )
    creator_id: Mapped[str] = mapped_column(ForeignKey("creators.id", ondelete="RESTRICT"), index=True)
    weight: Mapped[str] = mapped_column(Text)  # exact fraction, e.g. "7/3"
    gross: Mapped[int] = mapped_column(BigInteger)
    fee: Mapped[int] = mapped_column(BigInteger)
    net: Mapped[int] = mapped_column(BigInteger)

    run: Mapped[DistributionRun] = relationship(back_populates="shares")


class DistributionPayee(Base):
    """What one payee account got out of one creator's net share (co-rightsholder splits)."""

    __tablename__ = "ledger_distribution_payees"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(
        ForeignKey("ledger_distribution_runs.id", ondelete="RESTRICT"), index=True
    )
    creator_id: Mapped[str] = mapped_column(String(32))  # whose share it came from
    account_id: Mapped[str] = mapped_column(ForeignKey("ledger_accounts.id", ondelete="RESTRICT"), index=True)
    weight: Mapped[str] = mapped_column(Text)
    amount: Mapped[int] = mapped_column(BigInteger)

    run: Mapped[DistributionRun] = relationship(back_populates="payees")
    account: Mapped[Account] = relationship(lazy="joined", innerjoin=True)


class DistributionAsset(Base):
    """One asset's contribution to a creator's gross share, when the caller gave per-asset weights."""

    __tablename__ = "ledger_distribution_assets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(
        ForeignKey("ledger_distribution_runs.id", ondelete="RESTRICT"), index=True
    )
    creator_id: Mapped[str] = mapped_column(String(32), index=True)
    # No foreign key: the record outlives the asset; statements show its title while it exists.
    asset_id: Mapped[str] = mapped_column(String(32))
    weight: Mapped[str] = mapped_column(Text)
    amount: Mapped[int] = mapped_column(BigInteger)

    run: Mapped[DistributionRun] = relationship(back_populates="assets")


class PayoutBatch(Base):
    """Every payable in one currency at or over the minimum, moved to payouts in transit together."""

    __tablename__ = "ledger_payout_batches"

    id: Mapped[str] = IdPrimaryKey("pob")
    currency: Mapped[str] = mapped_column(String(3))
    minimum: Mapped[int] = mapped_column(BigInteger)
    total: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    transaction_id: Mapped[str | None] = mapped_column(
        ForeignKey("ledger_transactions.id", ondelete="RESTRICT")
    )

    payouts: Mapped[list[Payout]] = relationship(
        back_populates="batch", order_by="Payout.id", lazy="selectin"
    )


class Payout(Base):
    """Money on its way to one payee: in transit, then sent (cash left) or failed (back to the payable)."""

    __tablename__ = "ledger_payouts"
    __table_args__ = (
        CheckConstraint(f"status IN ({_values(PayoutStatus)})", name="status_known"),
        CheckConstraint("amount > 0", name="amount_positive"),
    )

    id: Mapped[str] = IdPrimaryKey("pyo")
    batch_id: Mapped[str] = mapped_column(
        ForeignKey("ledger_payout_batches.id", ondelete="RESTRICT"), index=True
    )
    account_id: Mapped[str] = mapped_column(ForeignKey("ledger_accounts.id", ondelete="RESTRICT"), index=True)
    creator_id: Mapped[str | None] = mapped_column(ForeignKey("creators.id", ondelete="RESTRICT"), index=True)
    payee_name: Mapped[str] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(BigInteger)
    reference: Mapped[str] = mapped_column(String(32), unique=True)
    status: Mapped[str] = mapped_column(String(16), default=PayoutStatus.IN_TRANSIT)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    settled_at: Mapped[datetime | None]
    failure_reason: Mapped[str | None] = mapped_column(Text)
    settle_transaction_id: Mapped[str | None] = mapped_column(
        ForeignKey("ledger_transactions.id", ondelete="RESTRICT")
    )

    batch: Mapped[PayoutBatch] = relationship(back_populates="payouts")
    account: Mapped[Account] = relationship(lazy="joined", innerjoin=True)
