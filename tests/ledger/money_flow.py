"""Helpers that move money through the ledger the way the licensing layer will: invoice, pay, distribute."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from fractions import Fraction

from sqlalchemy.orm import Session

from fairtrain.accounts.models import LicenseeOrg
from fairtrain.ledger.distribution import Payee, run_distribution
from fairtrain.ledger.invoices import InvoiceLineDraft, create_invoice, issue_invoice
from fairtrain.ledger.models import DistributionRun, Invoice
from fairtrain.ledger.payments import ManualProvider, record_payment

JAN = (date(2026, 1, 1), date(2026, 1, 31))


def paid_invoice(
    db: Session,
    org: LicenseeOrg,
    amount_micros: int,
    *,
    source: str = "del_1",
    period: tuple[date, date] = JAN,
    currency: str = "USD",
) -> Invoice:
    invoice = create_invoice(
        db,
        licensee_org_id=org.id,
        currency=currency,
        source_type="deal",
        source_id=source,
        period_start=period[0],
        period_end=period[1],
        lines=[InvoiceLineDraft("Training licence", 1, amount_micros)],
    )
    issue_invoice(db, invoice, idempotency_key=f"issue-{invoice.id}")
    record_payment(
        db,
        invoice,
        amount=invoice.total,
        provider=ManualProvider(),
        external_id=f"bank-{invoice.id}",
        idempotency_key=f"pay-{invoice.id}",
    )
    db.commit()
    return invoice


def distribute(
    db: Session,
    weights: Mapping[str, int | Fraction],
    *,
    source: str = "del_1",
    period: tuple[date, date] = JAN,
    fee_bp: int = 1_000,
    currency: str = "USD",
    splits: Mapping[str, Mapping[Payee, int | Fraction]] | None = None,
    contributions: Mapping[str, Mapping[str, int | Fraction]] | None = None,
) -> DistributionRun:
    run = run_distribution(
        db,
        source_type="deal",
        source_id=source,
        period_start=period[0],
        period_end=period[1],
        currency=currency,
        fee_bp=fee_bp,
        weights=weights,
        splits=splits,
        contributions=contributions,
        idempotency_key=f"run-{source}-{period[0]}-{currency}",
    )
    db.commit()
    return run
