"""catalog: tags, collections, licences, rightsholders

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 20:05:13.287213
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import fairtrain.db.base

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "collections",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("creator_id", sa.String(length=32), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("created_at", fairtrain.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["creator_id"],
            ["creators.id"],
            name=op.f("fk_collections_creator_id_creators"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collections")),
    )
    with op.batch_alter_table("collections", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_collections_creator_id"), ["creator_id"], unique=False)
        batch_op.create_index("uq_collections_creator_slug", ["creator_id", "slug"], unique=True)

    op.create_table(
        "asset_collections",
        sa.Column("asset_id", sa.String(length=32), nullable=False),
        sa.Column("collection_id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["asset_id"], ["assets.id"], name=op.f("fk_asset_collections_asset_id_assets"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["collection_id"],
            ["collections.id"],
            name=op.f("fk_asset_collections_collection_id_collections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("asset_id", "collection_id", name=op.f("pk_asset_collections")),
    )
    with op.batch_alter_table("asset_collections", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_asset_collections_collection_id"), ["collection_id"], unique=False
        )

    op.create_table(
        "asset_licences",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("asset_id", sa.String(length=32), nullable=False),
        sa.Column("licence_type", sa.String(length=120), nullable=False),
        sa.Column("licensee", sa.String(length=200), server_default="", nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=True),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.Column("notes", sa.Text(), server_default="", nullable=False),
        sa.ForeignKeyConstraint(
            ["asset_id"], ["assets.id"], name=op.f("fk_asset_licences_asset_id_assets"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_asset_licences")),
    )
    with op.batch_alter_table("asset_licences", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_asset_licences_asset_id"), ["asset_id"], unique=False)

    op.create_table(
        "asset_rightsholders",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("asset_id", sa.String(length=32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("creator_id", sa.String(length=32), nullable=True),
        sa.Column("share_bp", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["asset_id"],
            ["assets.id"],
            name=op.f("fk_asset_rightsholders_asset_id_assets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["creator_id"],
            ["creators.id"],
            name=op.f("fk_asset_rightsholders_creator_id_creators"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_asset_rightsholders")),
    )
    with op.batch_alter_table("asset_rightsholders", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_asset_rightsholders_asset_id"), ["asset_id"], unique=False)

    op.create_table(
        "asset_tags",
        sa.Column("asset_id", sa.String(length=32), nullable=False),
        sa.Column("tag", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["asset_id"], ["assets.id"], name=op.f("fk_asset_tags_asset_id_assets"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("asset_id", "tag", name=op.f("pk_asset_tags")),
    )
    with op.batch_alter_table("asset_tags", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_asset_tags_tag"), ["tag"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("asset_tags", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_asset_tags_tag"))

    op.drop_table("asset_tags")
    with op.batch_alter_table("asset_rightsholders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_asset_rightsholders_asset_id"))

    op.drop_table("asset_rightsholders")
    with op.batch_alter_table("asset_licences", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_asset_licences_asset_id"))

    op.drop_table("asset_licences")
    with op.batch_alter_table("asset_collections", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_asset_collections_collection_id"))

    op.drop_table("asset_collections")
    with op.batch_alter_table("collections", schema=None) as batch_op:
        batch_op.drop_index("uq_collections_creator_slug")
        batch_op.drop_index(batch_op.f("ix_collections_creator_id"))

    op.drop_table("collections")
