"""stamp: protected files and watermark settings

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 21:14:40.739326
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import fairtrain.db.base

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stamp_settings",
        sa.Column("creator_id", sa.String(length=32), nullable=False),
        sa.Column("visible_enabled", sa.Boolean(), nullable=False),
        sa.Column("visible_text", sa.String(length=200), nullable=True),
        sa.Column("visible_logo_sha256", sa.String(length=64), nullable=True),
        sa.Column("visible_position", sa.String(length=16), nullable=False),
        sa.Column("visible_opacity", sa.Integer(), nullable=False),
        sa.Column("visible_scale", sa.Integer(), nullable=False),
        sa.Column("updated_at", fairtrain.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "visible_position IN ('bottom-right', 'bottom-left', 'top-right', 'top-left', 'center', 'tile')",
            name=op.f("ck_stamp_settings_position_known"),
        ),
        sa.CheckConstraint(
            "visible_opacity BETWEEN 1 AND 100", name=op.f("ck_stamp_settings_opacity_percent")
        ),
        sa.CheckConstraint("visible_scale BETWEEN 2 AND 100", name=op.f("ck_stamp_settings_scale_percent")),
        sa.ForeignKeyConstraint(
            ["creator_id"],
            ["creators.id"],
            name=op.f("fk_stamp_settings_creator_id_creators"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("creator_id", name=op.f("pk_stamp_settings")),
    )
    op.create_table(
        "protected_files",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("asset_id", sa.String(length=32), nullable=False),
        sa.Column("asset_version", sa.Integer(), nullable=False),
        sa.Column("source_sha256", sa.String(length=64), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("mime", sa.String(length=120), nullable=False),
        sa.Column("steps", sa.JSON(), nullable=False),
        sa.Column("inputs_digest", sa.String(length=64), nullable=False),
        sa.Column("canary", sa.String(length=32), nullable=True),
        sa.Column("signer", sa.String(length=200), nullable=True),
        sa.Column("created_at", fairtrain.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("superseded_at", fairtrain.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["asset_id"], ["assets.id"], name=op.f("fk_protected_files_asset_id_assets"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_protected_files")),
    )
    with op.batch_alter_table("protected_files", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_protected_files_asset_id"), ["asset_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_protected_files_canary"), ["canary"], unique=False)
        batch_op.create_index(batch_op.f("ix_protected_files_sha256"), ["sha256"], unique=False)
        batch_op.create_index(
            "uq_protected_files_current",
            ["asset_id"],
            unique=True,
            sqlite_where=sa.text("superseded_at IS NULL"),
            postgresql_where=sa.text("superseded_at IS NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("protected_files", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_protected_files_current",
            sqlite_where=sa.text("superseded_at IS NULL"),
            postgresql_where=sa.text("superseded_at IS NULL"),
        )
        batch_op.drop_index(batch_op.f("ix_protected_files_sha256"))
        batch_op.drop_index(batch_op.f("ix_protected_files_canary"))
        batch_op.drop_index(batch_op.f("ix_protected_files_asset_id"))

    op.drop_table("protected_files")
    op.drop_table("stamp_settings")
