"""gateway

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 16:08:04.361676
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import fairtrain.db.base

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "gateway_path_daily",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("creator_id", sa.String(length=32), nullable=False),
        sa.Column("crawler", sa.String(length=255), nullable=False),
        sa.Column("path", sa.String(length=500), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("violations", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gateway_path_daily")),
        sa.UniqueConstraint(
            "day",
            "source",
            "creator_id",
            "crawler",
            "path",
            name=op.f("uq_gateway_path_daily_day_source_creator_id_crawler_path"),
        ),
    )
    with op.batch_alter_table("gateway_path_daily", schema=None) as batch_op:
        batch_op.create_index("ix_gateway_path_daily_creator_day", ["creator_id", "day"], unique=False)

    op.create_table(
        "gateway_traffic_daily",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("creator_id", sa.String(length=32), nullable=False),
        sa.Column("crawler", sa.String(length=255), nullable=False),
        sa.Column("operator", sa.String(length=120), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("client_class", sa.String(length=32), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("served", sa.BigInteger(), nullable=False),
        sa.Column("refused", sa.BigInteger(), nullable=False),
        sa.Column("quoted", sa.BigInteger(), nullable=False),
        sa.Column("charged", sa.BigInteger(), nullable=False),
        sa.Column("licensed", sa.BigInteger(), nullable=False),
        sa.Column("revenue_micros", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gateway_traffic_daily")),
        sa.UniqueConstraint(
            "day",
            "source",
            "creator_id",
            "crawler",
            "client_class",
            "currency",
            name=op.f("uq_gateway_traffic_daily_day_source_creator_id_crawler_client_class_currency"),
        ),
    )
    with op.batch_alter_table("gateway_traffic_daily", schema=None) as batch_op:
        batch_op.create_index("ix_gateway_traffic_daily_creator_day", ["creator_id", "day"], unique=False)

    op.create_table(
        "licensing_crawler_accounts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("org_id", sa.String(length=32), nullable=False),
        sa.Column("agent", sa.String(length=255), nullable=False),
        sa.Column("max_price_micros", sa.BigInteger(), nullable=True),
        sa.Column("created_by", sa.String(length=32), nullable=True),
        sa.Column("created_at", fairtrain.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", fairtrain.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_licensing_crawler_accounts_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["licensee_orgs.id"],
            name=op.f("fk_licensing_crawler_accounts_org_id_licensee_orgs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_licensing_crawler_accounts")),
    )
    with op.batch_alter_table("licensing_crawler_accounts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_licensing_crawler_accounts_org_id"), ["org_id"], unique=False)
        batch_op.create_index(
            "uq_licensing_crawler_accounts_agent_live",
            ["agent"],
            unique=True,
            sqlite_where=sa.text("revoked_at IS NULL"),
            postgresql_where=sa.text("revoked_at IS NULL"),
        )

    op.create_table(
        "gateway_tiers",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("creator_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("price_micros", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("unlocks_all", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("created_at", fairtrain.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("price_micros > 0", name=op.f("ck_gateway_tiers_price_positive")),
        sa.ForeignKeyConstraint(
            ["creator_id"],
            ["creators.id"],
            name=op.f("fk_gateway_tiers_creator_id_creators"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gateway_tiers")),
        sa.UniqueConstraint("creator_id", "name", name=op.f("uq_gateway_tiers_creator_id_name")),
    )
    with op.batch_alter_table("gateway_tiers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_gateway_tiers_creator_id"), ["creator_id"], unique=False)

    op.create_table(
        "gateway_subscriptions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tier_id", sa.String(length=32), nullable=False),
        sa.Column("fan_id", sa.String(length=32), nullable=False),
        sa.Column("creator_id", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("price_micros", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("paid_until", fairtrain.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cancel_at_period_end", sa.Boolean(), nullable=False),
        sa.Column("created_at", fairtrain.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", fairtrain.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("cancelled_at", fairtrain.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("lapsed_at", fairtrain.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'active', 'lapsed', 'cancelled')",
            name=op.f("ck_gateway_subscriptions_status_known"),
        ),
        sa.ForeignKeyConstraint(
            ["creator_id"],
            ["creators.id"],
            name=op.f("fk_gateway_subscriptions_creator_id_creators"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["fan_id"], ["users.id"], name=op.f("fk_gateway_subscriptions_fan_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tier_id"],
            ["gateway_tiers.id"],
            name=op.f("fk_gateway_subscriptions_tier_id_gateway_tiers"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gateway_subscriptions")),
    )
    with op.batch_alter_table("gateway_subscriptions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_gateway_subscriptions_creator_id"), ["creator_id"], unique=False)
        batch_op.create_index("ix_gateway_subscriptions_fan_creator", ["fan_id", "creator_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_gateway_subscriptions_tier_id"), ["tier_id"], unique=False)

    op.create_table(
        "gateway_tier_collections",
        sa.Column("tier_id", sa.String(length=32), nullable=False),
        sa.Column("collection_id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["collection_id"],
            ["collections.id"],
            name=op.f("fk_gateway_tier_collections_collection_id_collections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tier_id"],
            ["gateway_tiers.id"],
            name=op.f("fk_gateway_tier_collections_tier_id_gateway_tiers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tier_id", "collection_id", name=op.f("pk_gateway_tier_collections")),
    )
    with op.batch_alter_table("gateway_tier_collections", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_gateway_tier_collections_collection_id"), ["collection_id"], unique=False
        )

    op.create_table(
        "gateway_subscription_payments",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("subscription_id", sa.String(length=32), nullable=False),
        sa.Column("period_start", fairtrain.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("period_end", fairtrain.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("reference", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=True),
        sa.Column("external_id", sa.String(length=200), nullable=True),
        sa.Column("transaction_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", fairtrain.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("paid_at", fairtrain.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('due', 'paid', 'void')", name=op.f("ck_gateway_subscription_payments_status_known")
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_gateway_subscription_payments_amount_positive")),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["gateway_subscriptions.id"],
            name=op.f("fk_gateway_subscription_payments_subscription_id_gateway_subscriptions"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gateway_subscription_payments")),
        sa.UniqueConstraint("reference", name=op.f("uq_gateway_subscription_payments_reference")),
        sa.UniqueConstraint(
            "subscription_id",
            "period_start",
            name=op.f("uq_gateway_subscription_payments_subscription_id_period_start"),
        ),
    )
    with op.batch_alter_table("gateway_subscription_payments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_gateway_subscription_payments_subscription_id"), ["subscription_id"], unique=False
        )

    op.create_table(
        "billing_crawl_charges",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("request_id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=32), nullable=False),
        sa.Column("crawler_account_id", sa.String(length=32), nullable=True),
        sa.Column("crawler", sa.String(length=255), nullable=False),
        sa.Column("creator_id", sa.String(length=32), nullable=False),
        sa.Column("asset_id", sa.String(length=32), nullable=False),
        sa.Column("path", sa.String(length=1000), nullable=False),
        sa.Column("price_micros", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("bytes", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("occurred_at", fairtrain.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("invoice_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", fairtrain.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("bytes >= 0", name=op.f("ck_billing_crawl_charges_bytes_not_negative")),
        sa.CheckConstraint("price_micros >= 0", name=op.f("ck_billing_crawl_charges_price_not_negative")),
        sa.ForeignKeyConstraint(
            ["crawler_account_id"],
            ["licensing_crawler_accounts.id"],
            name=op.f("fk_billing_crawl_charges_crawler_account_id_licensing_crawler_accounts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["ledger_invoices.id"],
            name=op.f("fk_billing_crawl_charges_invoice_id_ledger_invoices"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["licensee_orgs.id"],
            name=op.f("fk_billing_crawl_charges_org_id_licensee_orgs"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_crawl_charges")),
        sa.UniqueConstraint("request_id", name=op.f("uq_billing_crawl_charges_request_id")),
    )
    with op.batch_alter_table("billing_crawl_charges", schema=None) as batch_op:
        batch_op.create_index(
            "ix_billing_crawl_charges_creator_time", ["creator_id", "occurred_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_billing_crawl_charges_invoice_id"), ["invoice_id"], unique=False)
        batch_op.create_index("ix_billing_crawl_charges_org_time", ["org_id", "occurred_at"], unique=False)

    with op.batch_alter_table("assets", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("access", sa.String(length=16), server_default="private", nullable=False)
        )
        batch_op.create_check_constraint("access_known", "access IN ('private', 'public', 'subscribers')")

    with op.batch_alter_table("billing_usage_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("request_id", sa.String(length=40), nullable=True))
        batch_op.create_index("uq_billing_usage_events_request", ["request_id"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("billing_usage_events", schema=None) as batch_op:
        batch_op.drop_index("uq_billing_usage_events_request")
        batch_op.drop_column("request_id")

    with op.batch_alter_table("assets", schema=None) as batch_op:
        batch_op.drop_constraint("access_known", type_="check")
        batch_op.drop_column("access")

    with op.batch_alter_table("billing_crawl_charges", schema=None) as batch_op:
        batch_op.drop_index("ix_billing_crawl_charges_org_time")
        batch_op.drop_index(batch_op.f("ix_billing_crawl_charges_invoice_id"))
        batch_op.drop_index("ix_billing_crawl_charges_creator_time")

    op.drop_table("billing_crawl_charges")
    with op.batch_alter_table("gateway_subscription_payments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gateway_subscription_payments_subscription_id"))

    op.drop_table("gateway_subscription_payments")
    with op.batch_alter_table("gateway_tier_collections", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gateway_tier_collections_collection_id"))

    op.drop_table("gateway_tier_collections")
    with op.batch_alter_table("gateway_subscriptions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gateway_subscriptions_tier_id"))
        batch_op.drop_index("ix_gateway_subscriptions_fan_creator")
        batch_op.drop_index(batch_op.f("ix_gateway_subscriptions_creator_id"))

    op.drop_table("gateway_subscriptions")
    with op.batch_alter_table("gateway_tiers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gateway_tiers_creator_id"))

    op.drop_table("gateway_tiers")
    with op.batch_alter_table("licensing_crawler_accounts", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_licensing_crawler_accounts_agent_live",
            sqlite_where=sa.text("revoked_at IS NULL"),
            postgresql_where=sa.text("revoked_at IS NULL"),
        )
        batch_op.drop_index(batch_op.f("ix_licensing_crawler_accounts_org_id"))

    op.drop_table("licensing_crawler_accounts")
    with op.batch_alter_table("gateway_traffic_daily", schema=None) as batch_op:
        batch_op.drop_index("ix_gateway_traffic_daily_creator_day")

    op.drop_table("gateway_traffic_daily")
    with op.batch_alter_table("gateway_path_daily", schema=None) as batch_op:
        batch_op.drop_index("ix_gateway_path_daily_creator_day")

    op.drop_table("gateway_path_daily")
