"""ledger: accounts, transactions and postings, invoices, distributions, payouts

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 21:50:00

Besides the tables, triggers make the journal append-only and balanced on SQLite and PostgreSQL alike:

- ``ledger_postings`` and ``ledger_transactions`` refuse UPDATE and DELETE (corrections are reversing
  transactions);
- a posting cannot be added to a transaction whose row exists (the transaction row seals its postings);
- inserting a transaction row checks that it has at least two postings and that they sum to zero per
  currency. Postings reference their transaction through a deferred foreign key, so they are written first
  and a posting without its transaction row fails at commit.
"""

# ruff: noqa: S608 - the SQL below is built from constants in this file, never from input

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import fairtrain.db.base

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_IMMUTABLE = "ledger: % rows are immutable; post a reversing transaction instead"
_SEALED = "ledger: the transaction already has its row; post a new transaction instead"
_UNBALANCED = "ledger: unbalanced transaction; it needs two or more postings summing to zero per currency"

_UNBALANCED_CONDITION = """
    (SELECT count(*) FROM ledger_postings WHERE transaction_id = NEW.id) < 2
    OR EXISTS (
        SELECT 1 FROM ledger_postings WHERE transaction_id = NEW.id GROUP BY currency HAVING sum(amount) <> 0
    )
"""

_SQLITE_TRIGGERS = {
    "ledger_postings_no_update": f"BEFORE UPDATE ON ledger_postings "
    f"BEGIN SELECT RAISE(ABORT, '{_IMMUTABLE.replace('%', 'ledger_postings')}'); END",
    "ledger_postings_no_delete": f"BEFORE DELETE ON ledger_postings "
    f"BEGIN SELECT RAISE(ABORT, '{_IMMUTABLE.replace('%', 'ledger_postings')}'); END",
    "ledger_transactions_no_update": f"BEFORE UPDATE ON ledger_transactions "
    f"BEGIN SELECT RAISE(ABORT, '{_IMMUTABLE.replace('%', 'ledger_transactions')}'); END",
    "ledger_transactions_no_delete": f"BEFORE DELETE ON ledger_transactions "
    f"BEGIN SELECT RAISE(ABORT, '{_IMMUTABLE.replace('%', 'ledger_transactions')}'); END",
    "ledger_postings_sealed": "BEFORE INSERT ON ledger_postings "
    "WHEN EXISTS (SELECT 1 FROM ledger_transactions WHERE id = NEW.transaction_id) "
    f"BEGIN SELECT RAISE(ABORT, '{_SEALED}'); END",
    "ledger_transactions_balanced": f"AFTER INSERT ON ledger_transactions WHEN {_UNBALANCED_CONDITION} "
    f"BEGIN SELECT RAISE(ABORT, '{_UNBALANCED}'); END",
}

# SQLSTATE 23000 (integrity_constraint_violation): drivers raise it as an IntegrityError, as SQLite does.
_POSTGRES_FUNCTIONS = {
    "ledger_refuse_change": f"""
        BEGIN
            RAISE EXCEPTION '{_IMMUTABLE}', TG_TABLE_NAME USING ERRCODE = 'integrity_constraint_violation';
        END
    """,
    "ledger_posting_unsealed": f"""
        BEGIN
            IF EXISTS (SELECT 1 FROM ledger_transactions WHERE id = NEW.transaction_id) THEN
                RAISE EXCEPTION '{_SEALED}' USING ERRCODE = 'integrity_constraint_violation';
            END IF;
            RETURN NEW;
        END
    """,
    "ledger_transaction_balanced": f"""
        BEGIN
            IF {_UNBALANCED_CONDITION} THEN
                RAISE EXCEPTION '{_UNBALANCED}' USING ERRCODE = 'integrity_constraint_violation';
            END IF;
            RETURN NULL;
        END
    """,
}
_POSTGRES_TRIGGERS = {
    "ledger_postings_immutable": "BEFORE UPDATE OR DELETE ON ledger_postings "
    "FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()",
    "ledger_transactions_immutable": "BEFORE UPDATE OR DELETE ON ledger_transactions "
    "FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()",
    "ledger_postings_sealed": "BEFORE INSERT ON ledger_postings "
    "FOR EACH ROW EXECUTE FUNCTION ledger_posting_unsealed()",
    "ledger_transactions_balanced": "AFTER INSERT ON ledger_transactions "
    "FOR EACH ROW EXECUTE FUNCTION ledger_transaction_balanced()",
}


def _create_guards() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, body in _POSTGRES_FUNCTIONS.items():
            op.execute(f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ {body} $$")
        for name, definition in _POSTGRES_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {definition}")
    else:
        for name, definition in _SQLITE_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {definition}")


def _drop_guards() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, definition in _POSTGRES_TRIGGERS.items():
            table = definition.split(" ON ", 1)[1].split()[0]
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        for name in _POSTGRES_FUNCTIONS:
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    else:
        for name in _SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")


def upgrade() -> None:
    op.create_table(
        "ledger_idempotency_keys",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("scope", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("created_at", fairtrain.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_idempotency_keys")),
        sa.UniqueConstraint("scope", "key", name=op.f("uq_ledger_idempotency_keys_scope_key")),
    )
    op.create_table(
        "ledger_transactions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("memo", sa.Text(), server_default="", nullable=False),
        sa.Column("created_at", fairtrain.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reverses_id", sa.String(length=32), nullable=True),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("ref_type", sa.String(length=32), nullable=True),
        sa.Column("ref_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["reverses_id"],
            ["ledger_transactions.id"],
            name=op.f("fk_ledger_transactions_reverses_id_ledger_transactions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_transactions")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_ledger_transactions_idempotency_key")),
        sa.UniqueConstraint("reverses_id", name=op.f("uq_ledger_transactions_reverses_id")),
    )
    with op.batch_alter_table("ledger_transactions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_transactions_created_at"), ["created_at"], unique=False)
        batch_op.create_index("ix_ledger_transactions_ref", ["ref_type", "ref_id"], unique=False)

    op.create_table(
        "ledger_payout_batches",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("minimum", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("created_at", fairtrain.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("transaction_id", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["ledger_transactions.id"],
            name=op.f("fk_ledger_payout_batches_transaction_id_ledger_transactions"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_payout_batches")),
    )
    op.create_table(
        "ledger_accounts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("code", sa.String(length=200), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), server_default="", nullable=False),
        sa.Column("creator_id", sa.String(length=32), nullable=True),
        sa.Column("licensee_org_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", fairtrain.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('asset', 'liability', 'revenue', 'expense', 'equity')",
            name=op.f("ck_ledger_accounts_kind_known"),
        ),
        sa.CheckConstraint("length(currency) = 3", name=op.f("ck_ledger_accounts_currency_code")),
        sa.ForeignKeyConstraint(
            ["creator_id"],
            ["creators.id"],
            name=op.f("fk_ledger_accounts_creator_id_creators"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["licensee_org_id"],
            ["licensee_orgs.id"],
            name=op.f("fk_ledger_accounts_licensee_org_id_licensee_orgs"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_accounts")),
        sa.UniqueConstraint("code", "currency", name=op.f("uq_ledger_accounts_code_currency")),
        sa.UniqueConstraint("id", "currency", name=op.f("uq_ledger_accounts_id_currency")),
    )
    with op.batch_alter_table("ledger_accounts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_accounts_creator_id"), ["creator_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_ledger_accounts_licensee_org_id"), ["licensee_org_id"], unique=False
        )

    op.create_table(
        "ledger_distribution_runs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("source_type", sa.String(length=32), nullable=False),
        sa.Column("source_id", sa.String(length=64), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("pool_account_id", sa.String(length=32), nullable=False),
        sa.Column("pool_amount", sa.BigInteger(), nullable=False),
        sa.Column("fee_bp", sa.Integer(), nullable=False),
        sa.Column("fee_amount", sa.BigInteger(), nullable=False),
        sa.Column("rule", sa.String(length=200), nullable=False),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.Column("inputs_digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", fairtrain.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("transaction_id", sa.String(length=32), nullable=False),
        sa.CheckConstraint(
            "fee_bp BETWEEN 0 AND 10000", name=op.f("ck_ledger_distribution_runs_fee_bp_range")
        ),
        sa.ForeignKeyConstraint(
            ["pool_account_id"],
            ["ledger_accounts.id"],
            name=op.f("fk_ledger_distribution_runs_pool_account_id_ledger_accounts"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["ledger_transactions.id"],
            name=op.f("fk_ledger_distribution_runs_transaction_id_ledger_transactions"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_distribution_runs")),
    )
    with op.batch_alter_table("ledger_distribution_runs", schema=None) as batch_op:
        batch_op.create_index(
            "uq_ledger_distribution_runs_pool",
            ["source_type", "source_id", "period_start", "period_end", "currency"],
            unique=True,
        )

    op.create_table(
        "ledger_payouts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("batch_id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("creator_id", sa.String(length=32), nullable=True),
        sa.Column("payee_name", sa.String(length=200), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("reference", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", fairtrain.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("settled_at", fairtrain.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("settle_transaction_id", sa.String(length=32), nullable=True),
        sa.CheckConstraint(
            "status IN ('in_transit', 'sent', 'failed')", name=op.f("ck_ledger_payouts_status_known")
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_ledger_payouts_amount_positive")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["ledger_accounts.id"],
            name=op.f("fk_ledger_payouts_account_id_ledger_accounts"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["ledger_payout_batches.id"],
            name=op.f("fk_ledger_payouts_batch_id_ledger_payout_batches"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["creator_id"],
            ["creators.id"],
            name=op.f("fk_ledger_payouts_creator_id_creators"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["settle_transaction_id"],
            ["ledger_transactions.id"],
            name=op.f("fk_ledger_payouts_settle_transaction_id_ledger_transactions"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_payouts")),
        sa.UniqueConstraint("reference", name=op.f("uq_ledger_payouts_reference")),
    )
    with op.batch_alter_table("ledger_payouts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_payouts_account_id"), ["account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ledger_payouts_batch_id"), ["batch_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ledger_payouts_creator_id"), ["creator_id"], unique=False)

    op.create_table(
        "ledger_postings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("transaction_id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("amount <> 0", name=op.f("ck_ledger_postings_amount_not_zero")),
        sa.ForeignKeyConstraint(
            ["account_id", "currency"],
            ["ledger_accounts.id", "ledger_accounts.currency"],
            name=op.f("fk_ledger_postings_account_id_ledger_accounts"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["ledger_transactions.id"],
            name=op.f("fk_ledger_postings_transaction_id_ledger_transactions"),
            ondelete="RESTRICT",
            initially="DEFERRED",
            deferrable=True,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_postings")),
    )
    with op.batch_alter_table("ledger_postings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_postings_account_id"), ["account_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_ledger_postings_transaction_id"), ["transaction_id"], unique=False
        )

    op.create_table(
        "ledger_distribution_assets",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("creator_id", sa.String(length=32), nullable=False),
        sa.Column("asset_id", sa.String(length=32), nullable=False),
        sa.Column("weight", sa.Text(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["ledger_distribution_runs.id"],
            name=op.f("fk_ledger_distribution_assets_run_id_ledger_distribution_runs"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_distribution_assets")),
    )
    with op.batch_alter_table("ledger_distribution_assets", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ledger_distribution_assets_creator_id"), ["creator_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_ledger_distribution_assets_run_id"), ["run_id"], unique=False)

    op.create_table(
        "ledger_distribution_payees",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("creator_id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("weight", sa.Text(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["ledger_accounts.id"],
            name=op.f("fk_ledger_distribution_payees_account_id_ledger_accounts"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["ledger_distribution_runs.id"],
            name=op.f("fk_ledger_distribution_payees_run_id_ledger_distribution_runs"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_distribution_payees")),
    )
    with op.batch_alter_table("ledger_distribution_payees", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ledger_distribution_payees_account_id"), ["account_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_ledger_distribution_payees_run_id"), ["run_id"], unique=False)

    op.create_table(
        "ledger_distribution_shares",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("creator_id", sa.String(length=32), nullable=False),
        sa.Column("weight", sa.Text(), nullable=False),
        sa.Column("gross", sa.BigInteger(), nullable=False),
        sa.Column("fee", sa.BigInteger(), nullable=False),
        sa.Column("net", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["creator_id"],
            ["creators.id"],
            name=op.f("fk_ledger_distribution_shares_creator_id_creators"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["ledger_distribution_runs.id"],
            name=op.f("fk_ledger_distribution_shares_run_id_ledger_distribution_runs"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_distribution_shares")),
    )
    with op.batch_alter_table("ledger_distribution_shares", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ledger_distribution_shares_creator_id"), ["creator_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_ledger_distribution_shares_run_id"), ["run_id"], unique=False)

    op.create_table(
        "ledger_invoices",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("licensee_org_id", sa.String(length=32), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reference", sa.String(length=32), nullable=False),
        sa.Column("source_type", sa.String(length=32), nullable=False),
        sa.Column("source_id", sa.String(length=64), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("memo", sa.Text(), server_default="", nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("amount_paid", sa.BigInteger(), nullable=False),
        sa.Column("created_at", fairtrain.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("issued_at", fairtrain.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("paid_at", fairtrain.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("voided_at", fairtrain.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("void_reason", sa.Text(), nullable=True),
        sa.Column("issue_transaction_id", sa.String(length=32), nullable=True),
        sa.Column("distribution_id", sa.String(length=32), nullable=True),
        sa.CheckConstraint(
            "status IN ('draft', 'issued', 'paid', 'void')", name=op.f("ck_ledger_invoices_status_known")
        ),
        sa.CheckConstraint("period_end >= period_start", name=op.f("ck_ledger_invoices_period_ordered")),
        sa.CheckConstraint(
            "total >= 0 AND amount_paid >= 0", name=op.f("ck_ledger_invoices_amounts_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["distribution_id"],
            ["ledger_distribution_runs.id"],
            name=op.f("fk_ledger_invoices_distribution_id_ledger_distribution_runs"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["issue_transaction_id"],
            ["ledger_transactions.id"],
            name=op.f("fk_ledger_invoices_issue_transaction_id_ledger_transactions"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["licensee_org_id"],
            ["licensee_orgs.id"],
            name=op.f("fk_ledger_invoices_licensee_org_id_licensee_orgs"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_invoices")),
        sa.UniqueConstraint("reference", name=op.f("uq_ledger_invoices_reference")),
    )
    with op.batch_alter_table("ledger_invoices", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ledger_invoices_distribution_id"), ["distribution_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_ledger_invoices_licensee_org_id"), ["licensee_org_id"], unique=False
        )
        batch_op.create_index(
            "ix_ledger_invoices_source", ["source_type", "source_id", "period_start"], unique=False
        )

    op.create_table(
        "ledger_invoice_lines",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("invoice_id", sa.String(length=32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("unit_price_micros", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_ledger_invoice_lines_quantity_positive")),
        sa.CheckConstraint(
            "unit_price_micros >= 0 AND amount >= 0",
            name=op.f("ck_ledger_invoice_lines_amounts_not_negative"),
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["ledger_invoices.id"],
            name=op.f("fk_ledger_invoice_lines_invoice_id_ledger_invoices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_invoice_lines")),
    )
    with op.batch_alter_table("ledger_invoice_lines", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_invoice_lines_invoice_id"), ["invoice_id"], unique=False)

    op.create_table(
        "ledger_payments",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("invoice_id", sa.String(length=32), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("fee", sa.BigInteger(), nullable=False),
        sa.Column("applied", sa.BigInteger(), nullable=False),
        sa.Column("excess", sa.BigInteger(), nullable=False),
        sa.Column("received_at", fairtrain.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", fairtrain.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("transaction_id", sa.String(length=32), nullable=False),
        sa.CheckConstraint(
            "amount > 0 AND fee >= 0 AND fee <= amount", name=op.f("ck_ledger_payments_amounts_valid")
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["ledger_invoices.id"],
            name=op.f("fk_ledger_payments_invoice_id_ledger_invoices"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["ledger_transactions.id"],
            name=op.f("fk_ledger_payments_transaction_id_ledger_transactions"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_payments")),
        sa.UniqueConstraint("provider", "external_id", name=op.f("uq_ledger_payments_provider_external_id")),
    )
    with op.batch_alter_table("ledger_payments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_payments_invoice_id"), ["invoice_id"], unique=False)
    _create_guards()


def downgrade() -> None:
    _drop_guards()
    with op.batch_alter_table("ledger_payments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_payments_invoice_id"))

    op.drop_table("ledger_payments")
    with op.batch_alter_table("ledger_invoice_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_invoice_lines_invoice_id"))

    op.drop_table("ledger_invoice_lines")
    with op.batch_alter_table("ledger_invoices", schema=None) as batch_op:
        batch_op.drop_index("ix_ledger_invoices_source")
        batch_op.drop_index(batch_op.f("ix_ledger_invoices_licensee_org_id"))
        batch_op.drop_index(batch_op.f("ix_ledger_invoices_distribution_id"))

    op.drop_table("ledger_invoices")
    with op.batch_alter_table("ledger_distribution_shares", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_distribution_shares_run_id"))
        batch_op.drop_index(batch_op.f("ix_ledger_distribution_shares_creator_id"))

    op.drop_table("ledger_distribution_shares")
    with op.batch_alter_table("ledger_distribution_payees", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_distribution_payees_run_id"))
        batch_op.drop_index(batch_op.f("ix_ledger_distribution_payees_account_id"))

    op.drop_table("ledger_distribution_payees")
    with op.batch_alter_table("ledger_distribution_assets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_distribution_assets_run_id"))
        batch_op.drop_index(batch_op.f("ix_ledger_distribution_assets_creator_id"))

    op.drop_table("ledger_distribution_assets")
    with op.batch_alter_table("ledger_postings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_postings_transaction_id"))
        batch_op.drop_index(batch_op.f("ix_ledger_postings_account_id"))

    op.drop_table("ledger_postings")
    with op.batch_alter_table("ledger_payouts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_payouts_creator_id"))
        batch_op.drop_index(batch_op.f("ix_ledger_payouts_batch_id"))
        batch_op.drop_index(batch_op.f("ix_ledger_payouts_account_id"))

    op.drop_table("ledger_payouts")
    with op.batch_alter_table("ledger_distribution_runs", schema=None) as batch_op:
        batch_op.drop_index("uq_ledger_distribution_runs_pool")

    op.drop_table("ledger_distribution_runs")
    with op.batch_alter_table("ledger_accounts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_accounts_licensee_org_id"))
        batch_op.drop_index(batch_op.f("ix_ledger_accounts_creator_id"))

    op.drop_table("ledger_accounts")
    op.drop_table("ledger_payout_batches")
    with op.batch_alter_table("ledger_transactions", schema=None) as batch_op:
        batch_op.drop_index("ix_ledger_transactions_ref")
        batch_op.drop_index(batch_op.f("ix_ledger_transactions_created_at"))

    op.drop_table("ledger_transactions")
    op.drop_table("ledger_idempotency_keys")
