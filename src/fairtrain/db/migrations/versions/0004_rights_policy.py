"""rights: policy rules and their history

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 20:54:00.438588
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import fairtrain.db.base

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "policy_rules",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("scope_type", sa.String(length=16), nullable=False),
        sa.Column("scope_id", sa.String(length=32), nullable=False),
        sa.Column("usage", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("payment", sa.String(length=16), nullable=True),
        sa.Column("amount_micros", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("user_types", sa.JSON(), nullable=False),
        sa.Column("territories", sa.JSON(), nullable=False),
        sa.Column("updated_at", fairtrain.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "action IN ('allow', 'deny', 'licence')", name=op.f("ck_policy_rules_action_known")
        ),
        sa.CheckConstraint(
            "scope_type IN ('site', 'collective', 'creator', 'collection', 'asset')",
            name=op.f("ck_policy_rules_scope_known"),
        ),
        sa.CheckConstraint(
            "usage IN ('all', 'ai-all', 'search', 'ai-input', 'ai-index', 'ai-train')",
            name=op.f("ck_policy_rules_usage_known"),
        ),
        sa.CheckConstraint(
            "amount_micros IS NULL OR amount_micros >= 0", name=op.f("ck_policy_rules_amount_not_negative")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_rules")),
    )
    with op.batch_alter_table("policy_rules", schema=None) as batch_op:
        batch_op.create_index("uq_policy_rules_scope_usage", ["scope_type", "scope_id", "usage"], unique=True)

    op.create_table(
        "policy_changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("scope_type", sa.String(length=16), nullable=False),
        sa.Column("scope_id", sa.String(length=32), nullable=False),
        sa.Column("usage", sa.String(length=16), nullable=False),
        sa.Column("changed_by", sa.String(length=32), nullable=True),
        sa.Column("changed_at", fairtrain.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("old", sa.JSON(), nullable=True),
        sa.Column("new", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["changed_by"], ["users.id"], name=op.f("fk_policy_changes_changed_by_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_changes")),
    )
    with op.batch_alter_table("policy_changes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_policy_changes_scope", ["scope_type", "scope_id", "changed_at"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("policy_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_policy_changes_scope")

    op.drop_table("policy_changes")
    with op.batch_alter_table("policy_rules", schema=None) as batch_op:
        batch_op.drop_index("uq_policy_rules_scope_usage")

    op.drop_table("policy_rules")
