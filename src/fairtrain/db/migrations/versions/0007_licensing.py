"""licensing: API clients, offers, deals, agreements

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 21:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import fairtrain.db.base

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "licensing_api_clients",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("org_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("secret_hint", sa.String(length=16), nullable=False),
        sa.Column("generation", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("created_by", sa.String(length=32), nullable=True),
        sa.Column("created_at", fairtrain.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("rotated_at", fairtrain.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", fairtrain.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", fairtrain.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_licensing_api_clients_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["licensee_orgs.id"],
            name=op.f("fk_licensing_api_clients_org_id_licensee_orgs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_licensing_api_clients")),
    )
    op.create_index(
        op.f("ix_licensing_api_clients_org_id"), "licensing_api_clients", ["org_id"], unique=False
    )
    op.create_table(
        "licensing_offers",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("seller_kind", sa.String(length=16), nullable=False),
        sa.Column("creator_id", sa.String(length=32), nullable=True),
        sa.Column("collective_id", sa.String(length=32), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("public", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="open", nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=32), nullable=True),
        sa.Column("created_at", fairtrain.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", fairtrain.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_at", fairtrain.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "(seller_kind = 'creator' AND creator_id IS NOT NULL AND collective_id IS NULL) OR (seller_kind = 'collective' AND collective_id IS NOT NULL AND creator_id IS NULL)",
            name=op.f("ck_licensing_offers_one_seller"),
        ),
        sa.CheckConstraint("status IN ('open', 'withdrawn')", name=op.f("ck_licensing_offers_status_known")),
        sa.ForeignKeyConstraint(
            ["collective_id"],
            ["collectives.id"],
            name=op.f("fk_licensing_offers_collective_id_collectives"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_licensing_offers_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["creator_id"],
            ["creators.id"],
            name=op.f("fk_licensing_offers_creator_id_creators"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_licensing_offers")),
    )
    op.create_index(
        op.f("ix_licensing_offers_collective_id"), "licensing_offers", ["collective_id"], unique=False
    )
    op.create_index(op.f("ix_licensing_offers_creator_id"), "licensing_offers", ["creator_id"], unique=False)
    op.create_table(
        "licensing_offer_versions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("offer_id", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("terms", sa.JSON(), nullable=False),
        sa.Column("selection", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), server_default="", nullable=False),
        sa.Column("created_by", sa.String(length=32), nullable=True),
        sa.Column("created_at", fairtrain.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_licensing_offer_versions_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["offer_id"],
            ["licensing_offers.id"],
            name=op.f("fk_licensing_offer_versions_offer_id_licensing_offers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_licensing_offer_versions")),
    )
    op.create_index(
        "uq_licensing_offer_versions_offer_version",
        "licensing_offer_versions",
        ["offer_id", "version"],
        unique=True,
    )
    op.create_table(
        "licensing_deals",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("offer_id", sa.String(length=32), nullable=False),
        sa.Column("offer_version_id", sa.String(length=32), nullable=False),
        sa.Column("org_id", sa.String(length=32), nullable=False),
        sa.Column("seller_kind", sa.String(length=16), nullable=False),
        sa.Column("creator_id", sa.String(length=32), nullable=True),
        sa.Column("collective_id", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("terms", sa.JSON(), nullable=False),
        sa.Column("terms_from", sa.String(length=16), nullable=False),
        sa.Column("exclusive", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("auto_renew", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("starts_at", fairtrain.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ends_at", fairtrain.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("term_seconds", sa.BigInteger(), nullable=True),
        sa.Column("renewals", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("requested_by", sa.String(length=32), nullable=True),
        sa.Column("created_at", fairtrain.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", fairtrain.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", fairtrain.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("activated_at", fairtrain.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_at", fairtrain.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.Text(), nullable=True),
        sa.Column("asset_count", sa.Integer(), nullable=True),
        sa.Column("selection_sha256", sa.String(length=64), nullable=True),
        sa.Column("agreement_sha256", sa.String(length=64), nullable=True),
        sa.CheckConstraint(
            "(seller_kind = 'creator' AND creator_id IS NOT NULL AND collective_id IS NULL) OR (seller_kind = 'collective' AND collective_id IS NOT NULL AND creator_id IS NULL)",
            name=op.f("ck_licensing_deals_one_seller"),
        ),
        sa.CheckConstraint(
            "status IN ('proposed', 'countered', 'accepted', 'active', 'expired', 'terminated', 'declined', 'withdrawn')",
            name=op.f("ck_licensing_deals_status_known"),
        ),
        sa.CheckConstraint(
            "ends_at IS NULL OR starts_at IS NULL OR ends_at > starts_at",
            name=op.f("ck_licensing_deals_term_order"),
        ),
        sa.ForeignKeyConstraint(
            ["collective_id"],
            ["collectives.id"],
            name=op.f("fk_licensing_deals_collective_id_collectives"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["creator_id"],
            ["creators.id"],
            name=op.f("fk_licensing_deals_creator_id_creators"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["offer_id"],
            ["licensing_offers.id"],
            name=op.f("fk_licensing_deals_offer_id_licensing_offers"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["offer_version_id"],
            ["licensing_offer_versions.id"],
            name=op.f("fk_licensing_deals_offer_version_id_licensing_offer_versions"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["licensee_orgs.id"],
            name=op.f("fk_licensing_deals_org_id_licensee_orgs"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["requested_by"],
            ["users.id"],
            name=op.f("fk_licensing_deals_requested_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_licensing_deals")),
    )
    op.create_index(
        op.f("ix_licensing_deals_collective_id"), "licensing_deals", ["collective_id"], unique=False
    )
    op.create_index(op.f("ix_licensing_deals_creator_id"), "licensing_deals", ["creator_id"], unique=False)
    op.create_index(op.f("ix_licensing_deals_offer_id"), "licensing_deals", ["offer_id"], unique=False)
    op.create_index("ix_licensing_deals_org_status", "licensing_deals", ["org_id", "status"], unique=False)
    op.create_index("ix_licensing_deals_status_ends", "licensing_deals", ["status", "ends_at"], unique=False)
    op.create_table(
        "licensing_agreements",
        sa.Column("deal_id", sa.String(length=32), nullable=False),
        sa.Column("template_version", sa.Integer(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("data_sha256", sa.String(length=64), nullable=False),
        sa.Column("html_sha256", sa.String(length=64), nullable=False),
        sa.Column("pdf_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", fairtrain.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["deal_id"],
            ["licensing_deals.id"],
            name=op.f("fk_licensing_agreements_deal_id_licensing_deals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("deal_id", name=op.f("pk_licensing_agreements")),
    )
    op.create_table(
        "licensing_deal_assets",
        sa.Column("deal_id", sa.String(length=32), nullable=False),
        sa.Column("asset_id", sa.String(length=32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("creator_id", sa.String(length=32), nullable=False),
        sa.Column("creator_handle", sa.String(length=32), nullable=False),
        sa.Column("creator_name", sa.String(length=200), nullable=False),
        sa.Column("rightsholders", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["deal_id"],
            ["licensing_deals.id"],
            name=op.f("fk_licensing_deal_assets_deal_id_licensing_deals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("deal_id", "asset_id", name=op.f("pk_licensing_deal_assets")),
    )
    op.create_index(
        op.f("ix_licensing_deal_assets_asset_id"), "licensing_deal_assets", ["asset_id"], unique=False
    )
    op.create_index(
        op.f("ix_licensing_deal_assets_creator_id"), "licensing_deal_assets", ["creator_id"], unique=False
    )
    op.create_table(
        "licensing_deal_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("deal_id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=24), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("side", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.String(length=32), nullable=True),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        sa.Column("terms", sa.JSON(), nullable=False),
        sa.Column("at", fairtrain.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "side IN ('licensee', 'seller', 'system')", name=op.f("ck_licensing_deal_events_side_known")
        ),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["users.id"],
            name=op.f("fk_licensing_deal_events_actor_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["deal_id"],
            ["licensing_deals.id"],
            name=op.f("fk_licensing_deal_events_deal_id_licensing_deals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_licensing_deal_events")),
    )
    op.create_index(
        "uq_licensing_deal_events_deal_seq", "licensing_deal_events", ["deal_id", "seq"], unique=True
    )


def downgrade() -> None:
    op.drop_index("uq_licensing_deal_events_deal_seq", table_name="licensing_deal_events")
    op.drop_table("licensing_deal_events")
    op.drop_index(op.f("ix_licensing_deal_assets_creator_id"), table_name="licensing_deal_assets")
    op.drop_index(op.f("ix_licensing_deal_assets_asset_id"), table_name="licensing_deal_assets")
    op.drop_table("licensing_deal_assets")
    op.drop_table("licensing_agreements")
    op.drop_index("ix_licensing_deals_status_ends", table_name="licensing_deals")
    op.drop_index("ix_licensing_deals_org_status", table_name="licensing_deals")
    op.drop_index(op.f("ix_licensing_deals_offer_id"), table_name="licensing_deals")
    op.drop_index(op.f("ix_licensing_deals_creator_id"), table_name="licensing_deals")
    op.drop_index(op.f("ix_licensing_deals_collective_id"), table_name="licensing_deals")
    op.drop_table("licensing_deals")
    op.drop_index("uq_licensing_offer_versions_offer_version", table_name="licensing_offer_versions")
    op.drop_table("licensing_offer_versions")
    op.drop_index(op.f("ix_licensing_offers_creator_id"), table_name="licensing_offers")
    op.drop_index(op.f("ix_licensing_offers_collective_id"), table_name="licensing_offers")
    op.drop_table("licensing_offers")
    op.drop_index(op.f("ix_licensing_api_clients_org_id"), table_name="licensing_api_clients")
    op.drop_table("licensing_api_clients")
