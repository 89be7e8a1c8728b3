from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from fairtrain.accounts.models import CreatorProfile, LicenseeOrg
from fairtrain.db.base import utcnow
from fairtrain.db.engine import make_sessionmaker, transaction
from fairtrain.ledger.cli import ledger_app
from fairtrain.ledger.invoices import InvoiceLineDraft, create_invoice, issue_invoice
from fairtrain.ledger.models import Invoice, Payout
from tests.ledger.money_flow import JAN, distribute

runner = CliRunner()


def _invoke(*args: str):
    return runner.invoke(ledger_app, list(args))


@pytest.fixture
def invoice(env: Path, engine: Engine) -> Invoice:
    """An issued 1,185.18 USD invoice for a deal whose pool goes to @mira (created by the env fixture)."""
    with transaction(make_sessionmaker(engine)) as session:
        org = LicenseeOrg(
            name="Acme AI", contact_name="Ada", contact_email="a@x.example", billing_email="b@x.example"
        )
        session.add(org)
        session.flush()
        invoice = create_invoice(
            session,
            licensee_org_id=org.id,
            currency="USD",
            source_type="deal",
            source_id="del_1",
            period_start=JAN[0],
            period_end=JAN[1],
            lines=[
                InvoiceLineDraft("Training licence", 1, 1_000_000_000),
                InvoiceLineDraft("Crawls", 12_345, 15_000),
            ],
        )
        issue_invoice(session, invoice, idempotency_key="issue")
    return invoice


def test_operator_records_a_transfer_pays_out_and_reads_a_statement(
    invoice: Invoice, engine: Engine, tmp_path: Path
) -> None:
    result = _invoke(
        "pay", invoice.reference.lower(), "1185.18", "--bank-reference", "TRX-1", "--fee", "2.50"
    )
    assert result.exit_code == 0, result.output
    assert "1185.18 USD" in result.output and "(paid)" in result.output
    again = _invoke("pay", invoice.reference, "1185.18", "--bank-reference", "TRX-1", "--fee", "2.50")
    assert again.exit_code == 0, again.output  # the same transfer again: the first payment, nothing new

    factory = make_sessionmaker(engine)
    with transaction(factory) as session:
        mira = session.scalar(select(CreatorProfile).where(CreatorProfile.handle == "mira"))
        distribute(session, {mira.id: 1}, fee_bp=1_500)

    csv_file = tmp_path / "batch.csv"
    result = _invoke(
        "payouts",
        "create",
        "--currency",
        "usd",
        "--minimum",
        "50",
        "--idempotency-key",
        "b1",
        "--csv",
        str(csv_file),
    )
    assert result.exit_code == 0, result.output
    assert "1 payouts, 1007.41 USD" in result.output  # 1,185.18 less a 15 % fee rounded down
    rows = list(csv.reader(io.StringIO(csv_file.read_text())))
    assert rows[1][2:5] == ["Mira Jensen", "1007.41", "USD"]
    with factory() as session:
        payout = session.scalars(select(Payout)).one()
    assert _invoke("payouts", "csv", payout.batch_id).output == csv_file.read_text()
    result = _invoke("payouts", "sent", payout.id)
    assert result.exit_code == 0 and "sent" in result.output
    result = _invoke("payouts", "failed", payout.id, "--reason", "late bounce")
    assert result.exit_code == 1 and "already sent" in result.output

    result = _invoke("trial-balance", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["balanced"] and data["totals"] == {"USD": 0}
    assert {"code": "fees:processor", "currency": "USD", "kind": "expense", "balance": 250} in data[
        "accounts"
    ]

    today = utcnow().date()
    pdf = tmp_path / "statement.pdf"
    result = _invoke(
        "statement",
        "@mira",
        "--currency",
        "USD",
        "--from",
        str(today - timedelta(days=1)),
        "--to",
        str(today + timedelta(days=1)),
        "--pdf",
        str(pdf),
    )
    assert result.exit_code == 0, result.output
    assert "1185.18" in result.output and "1007.41" in result.output
    assert "1007.41" in PdfReader(pdf).pages[0].extract_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["pay", "FT-NOPE", "1.00", "--bank-reference", "x"], "no invoice with reference"),
        (
            ["statement", "nobody", "--currency", "USD", "--from", "2026-01-01", "--to", "2026-01-31"],
            "no creator",
        ),
        (["payouts", "create", "--currency", "ZZZ", "--minimum", "1", "--idempotency-key", "k"], "ISO 4217"),
        (["payouts", "csv", "pob_missing"], "no payout batch"),
    ],
)
def test_errors_are_one_line(env: Path, args: list[str], message: str) -> None:
    result = _invoke(*args)
    assert result.exit_code == 1
    assert message in result.output


def test_amounts_with_fractions_of_a_cent_are_refused(invoice: Invoice) -> None:
    result = _invoke("pay", invoice.reference, "1185.185", "--bank-reference", "TRX-2")
    assert result.exit_code == 1 and "fractions of a minor unit" in result.output


def test_trial_balance_table(env: Path) -> None:
    result = _invoke("trial-balance")
    assert result.exit_code == 0, result.output
