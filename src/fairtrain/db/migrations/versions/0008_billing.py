"""billing: which invoice bills which deal period, metered usage, usage reports, royalty statements

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 22:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import fairtrain.db.base

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "billing_deal_invoices",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("deal_id", sa.String(length=32), nullable=False),
        sa.Column("charge", sa.String(length=16), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("invoice_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", fairtrain.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "charge IN ('flat', 'recurring', 'usage', 'royalty')",
            name=op.f("ck_billing_deal_invoices_charge_known"),
        ),
        sa.CheckConstraint(
            "period_end >= period_start", name=op.f("ck_billing_deal_invoices_period_ordered")
        ),
        sa.ForeignKeyConstraint(
            ["deal_id"],
            ["licensing_deals.id"],
            name=op.f("fk_billing_deal_invoices_deal_id_licensing_deals"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["ledger_invoices.id"],
            name=op.f("fk_billing_deal_invoices_invoice_id_ledger_invoices"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_deal_invoices")),
        sa.UniqueConstraint(
            "deal_id", "period_start", name=op.f("uq_billing_deal_invoices_deal_id_period_start")
        ),
        sa.UniqueConstraint("invoice_id", name=op.f("uq_billing_deal_invoices_invoice_id")),
    )
    op.create_index(
        op.f("ix_billing_deal_invoices_deal_id"), "billing_deal_invoices", ["deal_id"], unique=False
    )
    op.create_table(
        "billing_royalty_statements",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("deal_id", sa.String(length=32), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("revenue", sa.BigInteger(), nullable=False),
        sa.Column("royalty_bp", sa.Integer(), nullable=False),
        sa.Column("minimum", sa.BigInteger(), nullable=False),
        sa.Column("royalty", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("reported_by", sa.String(length=32), nullable=True),
        sa.Column("invoice_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", fairtrain.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "period_end >= period_start", name=op.f("ck_billing_royalty_statements_period_ordered")
        ),
        sa.CheckConstraint(
            "revenue >= 0 AND minimum >= 0 AND royalty >= 0 AND amount >= 0",
            name=op.f("ck_billing_royalty_statements_amounts_not_negative"),
        ),
        sa.CheckConstraint(
            "royalty_bp BETWEEN 0 AND 10000", name=op.f("ck_billing_royalty_statements_royalty_bp_range")
        ),
        sa.ForeignKeyConstraint(
            ["deal_id"],
            ["licensing_deals.id"],
            name=op.f("fk_billing_royalty_statements_deal_id_licensing_deals"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["ledger_invoices.id"],
            name=op.f("fk_billing_royalty_statements_invoice_id_ledger_invoices"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["reported_by"],
            ["users.id"],
            name=op.f("fk_billing_royalty_statements_reported_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_royalty_statements")),
        sa.UniqueConstraint(
            "deal_id", "period_start", name=op.f("uq_billing_royalty_statements_deal_id_period_start")
        ),
    )
    op.create_index(
        op.f("ix_billing_royalty_statements_deal_id"), "billing_royalty_statements", ["deal_id"], unique=False
    )
    op.create_table(
        "billing_usage_reports",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("deal_id", sa.String(length=32), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("reported_by", sa.String(length=32), nullable=True),
        sa.Column("invoice_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", fairtrain.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('crawl', 'use')", name=op.f("ck_billing_usage_reports_kind_known")),
        sa.CheckConstraint(
            "period_end >= period_start", name=op.f("ck_billing_usage_reports_period_ordered")
        ),
        sa.CheckConstraint("quantity >= 0", name=op.f("ck_billing_usage_reports_quantity_not_negative")),
        sa.ForeignKeyConstraint(
            ["deal_id"],
            ["licensing_deals.id"],
            name=op.f("fk_billing_usage_reports_deal_id_licensing_deals"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["ledger_invoices.id"],
            name=op.f("fk_billing_usage_reports_invoice_id_ledger_invoices"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["reported_by"],
            ["users.id"],
            name=op.f("fk_billing_usage_reports_reported_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_usage_reports")),
        sa.UniqueConstraint(
            "deal_id", "period_start", name=op.f("uq_billing_usage_reports_deal_id_period_start")
        ),
    )
    op.create_index(
        op.f("ix_billing_usage_reports_deal_id"), "billing_usage_reports", ["deal_id"], unique=False
    )
    op.create_table(
        "billing_usage_events",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("deal_id", sa.String(length=32), nullable=False),
        sa.Column("client_id", sa.String(length=32), nullable=True),
        sa.Column("asset_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("price_micros", sa.BigInteger(), nullable=True),
        sa.Column("occurred_at", fairtrain.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("report_id", sa.String(length=32), nullable=True),
        sa.Column("invoice_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", fairtrain.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('crawl', 'use')", name=op.f("ck_billing_usage_events_kind_known")),
        sa.CheckConstraint("bytes >= 0", name=op.f("ck_billing_usage_events_bytes_not_negative")),
        sa.CheckConstraint(
            "price_micros IS NULL OR price_micros >= 0",
            name=op.f("ck_billing_usage_events_price_not_negative"),
        ),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_billing_usage_events_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["licensing_api_clients.id"],
            name=op.f("fk_billing_usage_events_client_id_licensing_api_clients"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["deal_id"],
            ["licensing_deals.id"],
            name=op.f("fk_billing_usage_events_deal_id_licensing_deals"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["ledger_invoices.id"],
            name=op.f("fk_billing_usage_events_invoice_id_ledger_invoices"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["billing_usage_reports.id"],
            name=op.f("fk_billing_usage_events_report_id_billing_usage_reports"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_usage_events")),
    )
    op.create_index(
        op.f("ix_billing_usage_events_client_id"), "billing_usage_events", ["client_id"], unique=False
    )
    op.create_index(
        "ix_billing_usage_events_deal_time", "billing_usage_events", ["deal_id", "occurred_at"], unique=False
    )
    op.create_index(
        op.f("ix_billing_usage_events_invoice_id"), "billing_usage_events", ["invoice_id"], unique=False
    )
    op.create_index(
        op.f("ix_billing_usage_events_report_id"), "billing_usage_events", ["report_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_billing_usage_events_report_id"), table_name="billing_usage_events")
    op.drop_index(op.f("ix_billing_usage_events_invoice_id"), table_name="billing_usage_events")
    op.drop_index("ix_billing_usage_events_deal_time", table_name="billing_usage_events")
    op.drop_index(op.f("ix_billing_usage_events_client_id"), table_name="billing_usage_events")
    op.drop_table("billing_usage_events")
    op.drop_index(op.f("ix_billing_usage_reports_deal_id"), table_name="billing_usage_reports")
    op.drop_table("billing_usage_reports")
    op.drop_index(op.f("ix_billing_royalty_statements_deal_id"), table_name="billing_royalty_statements")
    op.drop_table("billing_royalty_statements")
    op.drop_index(op.f("ix_billing_deal_invoices_deal_id"), table_name="billing_deal_invoices")
    op.drop_table("billing_deal_invoices")
