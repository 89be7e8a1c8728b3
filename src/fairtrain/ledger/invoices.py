"""Invoices to licensees: drafted with lines, issued (posted), paid (see ``payments``), or voided.

A line is ``quantity`` × ``unit_price_micros``: prices are in micros (millionths of the major unit) because
a per-crawl price is often a fraction of a cent (0.015 USD = 15,000 micros). Each line's exact product is
rounded once to minor units, half away from zero (``money.minor_from_micros``); the invoice total is the sum
of its rounded lines, so what the licensee reads adds up.

Issuing posts the total from the licensee's receivable into the pool of the invoice's source and period:

    Dr receivable:<org_id>                              total
    Cr pool:<source_type>:<source_id>:<start>/<end>     total

Voiding an issued invoice that has no payment posts the reversal of that transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fairtrain.accounts.models import LicenseeOrg
from fairtrain.db.base import new_id, utcnow
from fairtrain.db.engine import lock_row
from fairtrain.errors import InvalidInput, NotFound
from fairtrain.ledger.errors import InvoiceStateError, PoolAlreadyDistributed, UnknownInvoice
from fairtrain.ledger.idempotency import fingerprint, idempotent
from fairtrain.ledger.journal import get_account, post, post_reversal
from fairtrain.ledger.models import DistributionRun, Invoice, InvoiceLine, InvoiceStatus, Transaction
from fairtrain.money import MAX_MINOR_UNITS, check_currency, minor_from_micros

__all__ = [
    "DEFAULT_DUE_DAYS",
    "InvoiceLineDraft",
    "add_line",
    "create_invoice",
    "get_invoice",
    "invoice_by_reference",
    "issue_invoice",
    "licensee_invoices",
    "line_amount",
    "lock_invoice",
    "pool_code",
    "receivable_code",
    "void_invoice",
]

DEFAULT_DUE_DAYS = 30
_MAX_QUANTITY = 10**12
_MAX_UNIT_PRICE_MICROS = MAX_MINOR_UNITS * 10_000  # a unit price up to the largest amount in micros


@dataclass(frozen=True)
class InvoiceLineDraft:
    description: str
    quantity: int
    unit_price_micros: int


def receivable_code(licensee_org_id: str) -> str:
    return f"receivable:{licensee_org_id}"


def pool_code(source_type: str, source_id: str, period_start: date, period_end: date) -> str:
    """The pool of one source's income for one period, e.g. ``pool:deal:del_…:2026-01-01/2026-01-31``."""
    return f"pool:{source_type}:{source_id}:{period_start.isoformat()}/{period_end.isoformat()}"


def line_amount(quantity: int, unit_price_micros: int, currency: str) -> int:
    """Minor units of a line: quantity × unit price in micros, rounded once, half away from zero."""
    for value, what, limit in (
        (quantity, "quantity", _MAX_QUANTITY),
        (unit_price_micros, "unit price", _MAX_UNIT_PRICE_MICROS),
    ):
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidInput(f"the {what} must be an integer, got {value!r}")
        if value < 0 or value > limit:
            raise InvalidInput(f"the {what} {value} is negative or absurd")
    if quantity == 0:
        raise InvalidInput("the quantity must be at least 1")
    amount = minor_from_micros(quantity * unit_price_micros, currency)
    if amount > MAX_MINOR_UNITS:
        raise InvalidInput("the line's amount is larger than any amount fairtrain accepts")
    return amount


def create_invoice(
    session: Session,
    *,
    licensee_org_id: str,
    currency: str,
    source_type: str,
    source_id: str,
    period_start: date,
    period_end: date,
    lines: Sequence[InvoiceLineDraft] = (),
    memo: str = "",
) -> Invoice:
    """A draft invoice (nothing is posted until ``issue_invoice``)."""
    currency = check_currency(currency)
    if session.get(LicenseeOrg, licensee_org_id) is None:
        raise NotFound(f"no licensee organisation {licensee_org_id}")
    for value, what, limit in ((source_type, "source type", 32), (source_id, "source id", 64)):
        if not value or len(value) > limit or ":" in value or not value.isprintable():
            raise InvalidInput(f"the {what} must be 1 to {limit} printable characters without ':'")
    if period_end < period_start:
        raise InvalidInput(f"the period ends ({period_end}) before it starts ({period_start})")
    invoice_id = new_id("inv")
    invoice = Invoice(
        id=invoice_id,
        licensee_org_id=licensee_org_id,
        currency=currency,
        status=InvoiceStatus.DRAFT,
        reference="FT-" + invoice_id.removeprefix("inv_").upper(),
        source_type=source_type,
        source_id=source_id,
        period_start=period_start,
        period_end=period_end,
        memo=memo.strip(),
        total=0,
        amount_paid=0,
    )
    session.add(invoice)
    for line in lines:
        add_line(session, invoice, line)
    session.flush()
    return invoice


def add_line(session: Session, invoice: Invoice, line: InvoiceLineDraft) -> InvoiceLine:
    if invoice.status != InvoiceStatus.DRAFT:
        raise InvoiceStateError(f"invoice {invoice.id} is {invoice.status}; only a draft takes new lines")
    description = " ".join(line.description.split())
    if not description or len(description) > 500:
        raise InvalidInput("a line needs a description of 1 to 500 characters")
    row = InvoiceLine(
        position=len(invoice.lines) + 1,
        description=description,
        quantity=line.quantity,
        unit_price_micros=line.unit_price_micros,
        amount=line_amount(line.quantity, line.unit_price_micros, invoice.currency),
    )
    invoice.lines.append(row)
    invoice.total = sum(existing.amount for existing in invoice.lines)
    if invoice.total > MAX_MINOR_UNITS:
        raise InvalidInput("the invoice total is larger than any amount fairtrain accepts")
    return row


def get_invoice(session: Session, invoice_id: str) -> Invoice:
    invoice = session.get(Invoice, invoice_id)
    if invoice is None:
        raise UnknownInvoice(f"no invoice {invoice_id}")
    return invoice


def invoice_by_reference(session: Session, reference: str) -> Invoice:
    """The invoice a bank transfer's reference names (case and spaces forgiven)."""
    normal = "".join(reference.split()).upper()
    invoice = session.scalar(select(Invoice).where(Invoice.reference == normal))
    if invoice is None:
        raise UnknownInvoice(f"no invoice with reference {reference!r}")
    return invoice


def lock_invoice(session: Session, invoice_id: str) -> Invoice:
    """Load the invoice under a row lock (``SELECT … FOR UPDATE`` on PostgreSQL) with fresh values."""
    invoice = lock_row(session, Invoice, invoice_id)
    if invoice is None:
        raise UnknownInvoice(f"no invoice {invoice_id}")
    return invoice


def issue_invoice(
    session: Session,
    invoice: Invoice | str,
    *,
    idempotency_key: str,
    due_on: date | None = None,
) -> Invoice:
    """Fix the invoice's lines and post its total: Dr receivable, Cr the source's pool for the period."""
    invoice_id = invoice if isinstance(invoice, str) else invoice.id

    def run() -> dict[str, Any]:
        locked = lock_invoice(session, invoice_id)
        if locked.status != InvoiceStatus.DRAFT:
            raise InvoiceStateError(f"invoice {locked.id} is already {locked.status}")
        if locked.total <= 0:
            raise InvalidInput(f"invoice {locked.id} has nothing to charge; add lines first")
        if _distributed(session, locked):
            raise PoolAlreadyDistributed(
                f"{locked.source_type} {locked.source_id} for {locked.period_start}–{locked.period_end} has "
                "already been distributed; invoice it for another period"
            )
        issued_at = utcnow()
        receivable = get_account(
            session,
            receivable_code(locked.licensee_org_id),
            locked.currency,
            licensee_org_id=locked.licensee_org_id,
        )
        pool = get_account(
            session,
            pool_code(locked.source_type, locked.source_id, locked.period_start, locked.period_end),
            locked.currency,
        )
        transaction = post(
            session,
            kind="invoice.issue",
            legs=[(receivable, locked.total), (pool, -locked.total)],
            memo=f"invoice {locked.reference}",
            idempotency_key=f"invoice.issue:{locked.id}",
            ref_type="invoice",
            ref_id=locked.id,
        )
        locked.status = InvoiceStatus.ISSUED
        locked.issued_at = issued_at
        locked.due_on = due_on or (issued_at.date() + timedelta(days=DEFAULT_DUE_DAYS))
        locked.issue_transaction_id = transaction.id
        session.flush()
        return {"invoice_id": locked.id}

    idempotent(
        session,
        key=idempotency_key,
        scope="ledger.invoice.issue",
        fingerprint=fingerprint(invoice=invoice_id, due_on=due_on),
        fn=run,
    )
    return get_invoice(session, invoice_id)


def void_invoice(session: Session, invoice: Invoice | str, *, reason: str, idempotency_key: str) -> Invoice:
    """Cancel a draft, or an issued invoice nobody has paid anything on (its posting is reversed)."""
    invoice_id = invoice if isinstance(invoice, str) else invoice.id
    reason = " ".join(reason.split())
    if not reason:
        raise InvalidInput("say why the invoice is voided")

    def run() -> dict[str, Any]:
        locked = lock_invoice(session, invoice_id)
        if locked.status == InvoiceStatus.VOID:
            raise InvoiceStateError(f"invoice {locked.id} is already void")
        if locked.status == InvoiceStatus.PAID or locked.amount_paid > 0:
            raise InvoiceStateError(f"invoice {locked.id} has payments; refund them before voiding it")
        if locked.issue_transaction_id is not None:
            original = session.get(Transaction, locked.issue_transaction_id)
            assert original is not None
            post_reversal(
                session, original, memo=f"void invoice {locked.reference}: {reason}", kind="invoice.void"
            )
        locked.status = InvoiceStatus.VOID
        locked.voided_at = utcnow()
        locked.void_reason = reason
        session.flush()
        return {"invoice_id": locked.id}

    idempotent(
        session,
        key=idempotency_key,
        scope="ledger.invoice.void",
        fingerprint=fingerprint(invoice=invoice_id, reason=reason),
        fn=run,
    )
    return get_invoice(session, invoice_id)


def licensee_invoices(session: Session, licensee_org_id: str, *, status: str | None = None) -> list[Invoice]:
    """A licensee's invoices, newest first (drafts are the operator's and are left out)."""
    statement = select(Invoice).where(
        Invoice.licensee_org_id == licensee_org_id, Invoice.status != InvoiceStatus.DRAFT
    )
    if status is not None:
        statement = statement.where(Invoice.status == status)
    return list(session.scalars(statement.order_by(Invoice.created_at.desc(), Invoice.id)))


def _distributed(session: Session, invoice: Invoice) -> bool:
    return (
        session.scalar(
            select(DistributionRun.id).where(
                DistributionRun.source_type == invoice.source_type,
                DistributionRun.source_id == invoice.source_id,
                DistributionRun.period_start == invoice.period_start,
                DistributionRun.period_end == invoice.period_end,
                DistributionRun.currency == invoice.currency,
            )
        )
        is not None
    )
