"""catalog: assets, versions, sources, fingerprints, scans

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 19:52:12.521785
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import fairtrain.db.base

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "assets",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("creator_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("mime", sa.String(length=120), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("title_source", sa.String(length=16), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("created_at", fairtrain.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_source", sa.String(length=16), nullable=True),
        sa.Column("published_on", sa.Date(), nullable=True),
        sa.Column("publication_urls", sa.JSON(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("duration_ms", sa.BigInteger(), nullable=True),
        sa.Column("word_count", sa.Integer(), nullable=True),
        sa.Column("storage", sa.String(length=16), nullable=False),
        sa.Column("original_filename", sa.String(length=1000), nullable=False),
        sa.Column("imported_at", fairtrain.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", fairtrain.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", fairtrain.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["creator_id"], ["creators.id"], name=op.f("fk_assets_creator_id_creators"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assets")),
    )
    with op.batch_alter_table("assets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_assets_creator_id"), ["creator_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_assets_sha256"), ["sha256"], unique=False)
        batch_op.create_index(
            "uq_assets_creator_sha256_live",
            ["creator_id", "sha256"],
            unique=True,
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        )

    op.create_table(
        "scans",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("creator_id", sa.String(length=32), nullable=False),
        sa.Column("roots", sa.JSON(), nullable=False),
        sa.Column("storage", sa.String(length=16), nullable=False),
        sa.Column("started_at", fairtrain.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", fairtrain.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["creator_id"], ["creators.id"], name=op.f("fk_scans_creator_id_creators"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scans")),
    )
    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_scans_creator_id"), ["creator_id"], unique=False)

    op.create_table(
        "asset_fingerprints",
        sa.Column("asset_id", sa.String(length=32), nullable=False),
        sa.Column("algorithm", sa.String(length=16), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("quality", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["asset_id"],
            ["assets.id"],
            name=op.f("fk_asset_fingerprints_asset_id_assets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("asset_id", "algorithm", name=op.f("pk_asset_fingerprints")),
    )
    op.create_table(
        "asset_sources",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("creator_id", sa.String(length=32), nullable=False),
        sa.Column("asset_id", sa.String(length=32), nullable=True),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("path_key", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("mtime_ns", sa.BigInteger(), nullable=False),
        sa.Column("inode", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("last_scan_id", sa.String(length=32), nullable=True),
        sa.Column("missing_since", fairtrain.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["asset_id"], ["assets.id"], name=op.f("fk_asset_sources_asset_id_assets"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["creator_id"],
            ["creators.id"],
            name=op.f("fk_asset_sources_creator_id_creators"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_asset_sources")),
    )
    with op.batch_alter_table("asset_sources", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_asset_sources_asset_id"), ["asset_id"], unique=False)
        batch_op.create_index("uq_asset_sources_creator_path", ["creator_id", "path_key"], unique=True)

    op.create_table(
        "asset_versions",
        sa.Column("asset_id", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("recorded_at", fairtrain.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["asset_id"], ["assets.id"], name=op.f("fk_asset_versions_asset_id_assets"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("asset_id", "version", name=op.f("pk_asset_versions")),
    )
    op.create_table(
        "scan_errors",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("scan_id", sa.String(length=32), nullable=False),
        sa.Column("creator_id", sa.String(length=32), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("at", fairtrain.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["creator_id"],
            ["creators.id"],
            name=op.f("fk_scan_errors_creator_id_creators"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["scan_id"], ["scans.id"], name=op.f("fk_scan_errors_scan_id_scans"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scan_errors")),
    )
    with op.batch_alter_table("scan_errors", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_scan_errors_creator_id"), ["creator_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_scan_errors_scan_id"), ["scan_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("scan_errors", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_scan_errors_scan_id"))
        batch_op.drop_index(batch_op.f("ix_scan_errors_creator_id"))

    op.drop_table("scan_errors")
    op.drop_table("asset_versions")
    with op.batch_alter_table("asset_sources", schema=None) as batch_op:
        batch_op.drop_index("uq_asset_sources_creator_path")
        batch_op.drop_index(batch_op.f("ix_asset_sources_asset_id"))

    op.drop_table("asset_sources")
    op.drop_table("asset_fingerprints")
    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_scans_creator_id"))

    op.drop_table("scans")
    with op.batch_alter_table("assets", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_assets_creator_sha256_live",
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        )
        batch_op.drop_index(batch_op.f("ix_assets_sha256"))
        batch_op.drop_index(batch_op.f("ix_assets_creator_id"))

    op.drop_table("assets")
