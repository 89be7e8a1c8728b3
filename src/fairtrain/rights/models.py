"""Tables owned by rights: policy rules at every scope, and the history of their changes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from fairtrain.db.base import Base, utcnow

__all__ = ["PolicyChange", "PolicyRule"]

SCOPES = ("site", "collective", "creator", "collection", "asset")
USAGES = ("all", "ai-all", "search", "ai-input", "ai-index", "ai-train")
ACTIONS = ("allow", "deny", "licence")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class PolicyRule(Base):
    """What one scope says about one usage category. The site scope has ``scope_id`` ''."""

    __tablename__ = "policy_rules"
    __table_args__ = (
        Index("uq_policy_rules_scope_usage", "scope_type", "scope_id", "usage", unique=True),
        CheckConstraint(_in("scope_type", SCOPES), name="scope_known"),
        CheckConstraint(_in("usage", USAGES), name="usage_known"),
        CheckConstraint(_in("action", ACTIONS), name="action_known"),
        CheckConstraint("amount_micros IS NULL OR amount_micros >= 0", name="amount_not_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scope_type: Mapped[str] = mapped_column(String(16))
    scope_id: Mapped[str] = mapped_column(String(32))
    usage: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(16))
    # RSL payment type (purchase, subscription, training, crawl, use, ...) when action is "licence".
    payment: Mapped[str | None] = mapped_column(String(16))
    # Prices are integers in millionths of the currency unit: per-crawl prices are fractions of a cent
    # (RSL's own example is USD 0.015), which minor units cannot hold exactly.
    amount_micros: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    user_types: Mapped[list[str]] = mapped_column(JSON, default=list)  # empty: every user type
    territories: Mapped[list[str]] = mapped_column(JSON, default=list)  # empty: everywhere
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class PolicyChange(Base):
    """Who changed which rule when, from what to what (``None`` = no rule)."""

    __tablename__ = "policy_changes"
    __table_args__ = (Index("ix_policy_changes_scope", "scope_type", "scope_id", "changed_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scope_type: Mapped[str] = mapped_column(String(16))
    scope_id: Mapped[str] = mapped_column(String(32))
    usage: Mapped[str] = mapped_column(String(16))
    changed_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    old: Mapped[dict[str, object] | None] = mapped_column(JSON)
    new: Mapped[dict[str, object] | None] = mapped_column(JSON)
