"""``fairtrain ledger …``: the operator's commands for the books (mounted by ``fairtrain.cli``).

Money-moving commands take an idempotency key, so running one again after an interruption does not move the
money twice: recording a bank transfer is keyed by its bank reference, marking a payout by the payout, and a
payout batch by the ``--idempotency-key`` the operator gives.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from fairtrain.accounts.models import CreatorProfile
from fairtrain.commands import database, handles_errors, out
from fairtrain.errors import NotFound
from fairtrain.ledger.invoices import invoice_by_reference
from fairtrain.ledger.journal import trial_balance
from fairtrain.ledger.models import PayoutBatch
from fairtrain.ledger.payments import ManualProvider, record_payment
from fairtrain.ledger.payouts import create_payout_batch, mark_payout_failed, mark_payout_sent, payouts_csv
from fairtrain.ledger.statements import creator_statement, statement_csv, statement_pdf
from fairtrain.money import check_currency, format_amount, parse_amount

__all__ = ["ledger_app"]


ledger_app = typer.Typer(
    help="The books: trial balance, payments, payouts, statements.", no_args_is_help=True
)
payouts_app = typer.Typer(help="Payout batches to creators and rightsholders.", no_args_is_help=True)
ledger_app.add_typer(payouts_app, name="payouts")


@contextmanager
def _db() -> Iterator[Session]:
    with database() as (_, session):
        yield session


@ledger_app.command("trial-balance")
@handles_errors
def trial_balance_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Every account's balance; per currency they sum to zero (exit code 2 if they do not)."""
    with _db() as session:
        balance = trial_balance(session)
    if as_json:
        out.print_json(
            json.dumps(
                {
                    "accounts": [
                        {"code": r.code, "currency": r.currency, "kind": r.kind, "balance": r.balance}
                        for r in balance.rows
                    ],
                    "totals": balance.totals,
                    "balanced": balance.balanced,
                }
            )
        )
    else:
        table = Table("account", "kind", "debit", "credit")
        for row in balance.rows:
            amount = format_amount(abs(row.balance), row.currency)
            table.add_row(
                row.code, row.kind, amount if row.balance > 0 else "", amount if row.balance < 0 else ""
            )
        out.print(table)
        for currency, total in sorted(balance.totals.items()):
            out.print(f"{currency}: {'balanced' if total == 0 else 'OUT OF BALANCE by ' + str(total)}")
    if not balance.balanced:
        raise typer.Exit(2)


@ledger_app.command("pay")
@handles_errors
def pay(
    reference: Annotated[str, typer.Argument(help="The invoice reference quoted on the transfer (FT-…).")],
    amount: Annotated[str, typer.Argument(help="Amount received, e.g. 1185.18, in the invoice's currency.")],
    bank_reference: Annotated[
        str, typer.Option("--bank-reference", help="The bank's id for the transfer; recorded once.")
    ],
    fee: Annotated[str, typer.Option(help="What the bank kept, in the same currency.")] = "0",
) -> None:
    """Record a bank transfer against an invoice (an operator's 'mark paid')."""
    with _db() as session:
        invoice = invoice_by_reference(session, reference)
        payment = record_payment(
            session,
            invoice,
            amount=parse_amount(amount, invoice.currency),
            fee=parse_amount(fee, invoice.currency),
            provider=ManualProvider(),
            external_id=bank_reference,
            idempotency_key=f"cli:bank:{bank_reference}",
        )
        session.refresh(invoice)
        state = (
            "paid"
            if invoice.balance_due == 0
            else f"{format_amount(invoice.balance_due, invoice.currency)} due"
        )
        out.print(
            f"payment {payment.id}: {format_amount(payment.amount, payment.currency)} "
            f"on {invoice.reference} ({state})"
        )
        if payment.excess:
            out.print(
                f"over-payment of {format_amount(payment.excess, payment.currency)} credited to the licensee"
            )


@payouts_app.command("create")
@handles_errors
def payouts_create(
    currency: Annotated[str, typer.Option(help="Currency of the batch, e.g. USD.")],
    minimum: Annotated[
        str, typer.Option(help="Smallest balance paid out, e.g. 50.00; smaller ones carry forward.")
    ],
    idempotency_key: Annotated[
        str,
        typer.Option("--idempotency-key", help="Any unique text; give it again to repeat this run safely."),
    ],
    csv_path: Annotated[
        Path | None, typer.Option("--csv", help="Write the batch's CSV for the bank here.")
    ] = None,
) -> None:
    """Move every payable at or over the minimum to payouts in transit, as one batch."""
    code = check_currency(currency)
    with _db() as session:
        batch = create_payout_batch(
            session, currency=code, minimum=parse_amount(minimum, code), idempotency_key=idempotency_key
        )
        out.print(f"batch {batch.id}: {len(batch.payouts)} payouts, {format_amount(batch.total, code)}")
        if csv_path is not None:
            csv_path.write_text(payouts_csv(batch), encoding="utf-8")
            out.print(f"wrote {csv_path}")


@payouts_app.command("csv")
@handles_errors
def payouts_csv_command(
    batch_id: Annotated[str, typer.Argument(help="The batch id (pob_…).")],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="File to write; default: stdout.")
    ] = None,
) -> None:
    """A batch as CSV: reference, payee id, name, amount, currency, amount in minor units, payout id."""
    with _db() as session:
        batch = session.get(PayoutBatch, batch_id)
        if batch is None:
            raise NotFound(f"no payout batch {batch_id}")
        text = payouts_csv(batch)
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")


@payouts_app.command("sent")
@handles_errors
def payouts_sent(payout_id: Annotated[str, typer.Argument(help="The payout id (pyo_…).")]) -> None:
    """The bank confirmed a payout: the money left the bank account."""
    with _db() as session:
        payout = mark_payout_sent(session, payout_id, idempotency_key=f"cli:payout:{payout_id}:sent")
        out.print(f"payout {payout.reference}: sent")


@payouts_app.command("failed")
@handles_errors
def payouts_failed(
    payout_id: Annotated[str, typer.Argument(help="The payout id (pyo_…).")],
    reason: Annotated[str, typer.Option(help="Why it failed, as the bank said.")],
) -> None:
    """A payout bounced: its amount returns to the payee's balance for the next batch."""
    with _db() as session:
        payout = mark_payout_failed(
            session, payout_id, reason=reason, idempotency_key=f"cli:payout:{payout_id}:failed"
        )
        out.print(
            f"payout {payout.reference}: failed; "
            f"{format_amount(payout.amount, payout.currency)} is back on the balance"
        )


@ledger_app.command("statement")
@handles_errors
def statement(
    handle: Annotated[str, typer.Argument(help="The creator's handle.")],
    currency: Annotated[str, typer.Option(help="Currency, e.g. USD.")],
    start: Annotated[str, typer.Option("--from", help="First day, YYYY-MM-DD (UTC).")],
    end: Annotated[str, typer.Option("--to", help="Last day, YYYY-MM-DD (UTC), included.")],
    csv_path: Annotated[
        Path | None, typer.Option("--csv", help="Also write the statement as CSV here.")
    ] = None,
    pdf_path: Annotated[
        Path | None, typer.Option("--pdf", help="Also write the statement as PDF here.")
    ] = None,
) -> None:
    """A creator's statement for a period: gross, fees, each source and asset, payouts, balances."""
    period = (_day(start, "--from"), _day(end, "--to"))
    with _db() as session:
        creator_id = session.scalar(
            select(CreatorProfile.id).where(CreatorProfile.handle == handle.lstrip("@"))
        )
        if creator_id is None:
            raise NotFound(f"no creator @{handle.lstrip('@')}")
        result = creator_statement(
            session, creator_id, currency=currency, period_start=period[0], period_end=period[1]
        )
    table = Table(f"{result.creator_name}, {period[0]} to {period[1]}", result.currency)
    for label, amount in result.summary():
        table.add_row(label, format_amount(amount, result.currency).split(" ")[0])
    out.print(table)
    for source in result.sources:
        out.print(
            f"{source.source_type} {source.source_id} {source.source_period}: "
            f"credited {format_amount(source.credited, result.currency)}"
        )
    if csv_path is not None:
        csv_path.write_text(statement_csv(result), encoding="utf-8")
        out.print(f"wrote {csv_path}")
    if pdf_path is not None:
        pdf_path.write_bytes(statement_pdf(result))
        out.print(f"wrote {pdf_path}")


def _day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date (YYYY-MM-DD)", param_hint=option) from None
