"""``fairtrain billing …``: the operator's billing commands (mounted by ``fairtrain.cli``).

``tick`` is the one to run daily from cron: it issues every invoice that is due and distributes paid invoices
not distributed yet. The others record, for a licensee or a bank, what the API and the books page record.
Every command that moves money is idempotent: recording a transfer is keyed by its bank reference, a usage
report or a royalty statement by the deal and period.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import select

from fairtrain.accounts.models import LicenseeOrg
from fairtrain.commands import database, handles_errors, out
from fairtrain.errors import InvalidInput, NotFound
from fairtrain.ledger.invoices import invoice_by_reference
from fairtrain.ledger.models import Invoice, InvoiceStatus
from fairtrain.licensing import billing
from fairtrain.licensing.deals import get_deal
from fairtrain.money import format_amount, parse_amount

__all__ = ["billing_app"]

billing_app = typer.Typer(
    help="Billing: invoices from deal terms, payments, usage reports, royalty statements.",
    no_args_is_help=True,
)


def _day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date (YYYY-MM-DD)", param_hint=option) from None


def _describe(invoice: Invoice) -> str:
    period = f"{invoice.period_start}" + (
        f" to {invoice.period_end}" if invoice.period_end != invoice.period_start else ""
    )
    total = format_amount(invoice.total, invoice.currency)
    return f"{invoice.reference} {total} for {invoice.source_type} {invoice.source_id} {period}"


@billing_app.command("tick")
@handles_errors
def tick(
    today: Annotated[
        str | None, typer.Option(help="Bill as if it were this day (YYYY-MM-DD, UTC); default: today.")
    ] = None,
) -> None:
    """Issue every invoice that is due and distribute paid invoices not yet distributed (run daily)."""
    with database() as (settings, session):
        issued = billing.bill_due(session, today=_day(today, "--today") if today else None)
        runs = billing.distribute_settled(session, fee_bp=settings.platform_fee_bp)
        for invoice in issued:
            out.print(f"issued {_describe(invoice)}")
        for run in runs:
            out.print(
                f"distributed {run.source_type} {run.source_id} {run.period_start}/{run.period_end}: "
                f"{format_amount(run.pool_amount, run.currency)} ({run.rule})"
            )
        out.print(f"{len(issued)} invoices issued, {len(runs)} pools distributed")


@billing_app.command("invoices")
@handles_errors
def list_invoices(
    status: Annotated[str | None, typer.Option(help="issued, paid or void.")] = None,
    org: Annotated[str | None, typer.Option(help="Only this licensee organisation (by name).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Invoices, newest first."""
    with database() as (_, session):
        query = select(Invoice).where(Invoice.status != InvoiceStatus.DRAFT)
        if status is not None:
            if status not in ("issued", "paid", "void"):
                raise InvalidInput(f"unknown invoice status {status!r}; use issued, paid or void")
            query = query.where(Invoice.status == status)
        if org is not None:
            org_id = session.scalar(select(LicenseeOrg.id).where(LicenseeOrg.name == org))
            if org_id is None:
                raise NotFound(f"no licensee organisation {org!r}")
            query = query.where(Invoice.licensee_org_id == org_id)
        invoices = session.scalars(query.order_by(Invoice.issued_at.desc(), Invoice.id)).all()
        names = dict(session.execute(select(LicenseeOrg.id, LicenseeOrg.name)).all())
        rows = [
            {
                "reference": i.reference,
                "id": i.id,
                "licensee": names.get(i.licensee_org_id, i.licensee_org_id),
                "source": f"{i.source_type} {i.source_id}",
                "period": f"{i.period_start}/{i.period_end}",
                "status": i.status,
                "total": format_amount(i.total, i.currency),
                "due": format_amount(i.balance_due, i.currency),
                "due_on": i.due_on.isoformat() if i.due_on else None,
            }
            for i in invoices
        ]
    if as_json:
        out.print_json(json.dumps(rows))
        return
    table = Table("reference", "licensee", "source", "period", "status", "total", "still due", "due on")
    for row in rows:
        table.add_row(
            row["reference"],
            row["licensee"],
            row["source"],
            row["period"],
            row["status"],
            row["total"],
            row["due"] if row["status"] == "issued" else "",
            row["due_on"] or "",
        )
    out.print(table)


@billing_app.command("pay")
@handles_errors
def pay(
    reference: Annotated[str, typer.Argument(help="The invoice reference quoted on the transfer (FT-…).")],
    amount: Annotated[str, typer.Argument(help="Amount received, e.g. 1185.18, in the invoice's currency.")],
    bank_reference: Annotated[
        str, typer.Option("--bank-reference", help="The bank's id for the transfer; recorded once.")
    ],
    fee: Annotated[str, typer.Option(help="What the bank kept, in the same currency.")] = "0",
) -> None:
    """Record a bank transfer against an invoice and, once a deal invoice is paid, distribute it."""
    with database() as (settings, session):
        invoice = invoice_by_reference(session, reference)
        result = billing.pay_invoice(
            session,
            invoice_id=invoice.id,
            amount=parse_amount(amount, invoice.currency),
            fee=parse_amount(fee, invoice.currency),
            provider=billing.payment_providers(settings)["manual"],
            external_id=bank_reference,
            idempotency_key=f"cli:bank:{bank_reference}",
            fee_bp=settings.platform_fee_bp,
        )
        paid = result.invoice
        state = "paid" if paid.balance_due == 0 else f"{format_amount(paid.balance_due, paid.currency)} due"
        out.print(
            f"payment {result.payment.id}: {format_amount(result.payment.amount, paid.currency)} "
            f"on {paid.reference} ({state})"
        )
        if result.distribution is not None:
            run = result.distribution
            out.print(
                f"distributed {format_amount(run.pool_amount, run.currency)}: platform fee "
                f"{format_amount(run.fee_amount, run.currency)}, {len(run.shares)} creators ({run.rule})"
            )


def _counts(pairs: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for pair in pairs:
        asset_id, sep, count = pair.partition("=")
        if not sep or not count.strip().isdigit():
            raise typer.BadParameter(f"{pair!r} is not ASSET_ID=COUNT", param_hint="COUNTS")
        if asset_id in counts:
            raise typer.BadParameter(f"{asset_id} is listed twice", param_hint="COUNTS")
        counts[asset_id.strip()] = int(count)
    return counts


@billing_app.command("usage")
@handles_errors
def usage(
    deal_id: Annotated[str, typer.Argument(help="The deal (deal_…), billed per crawl or per use.")],
    counts: Annotated[list[str], typer.Argument(help="ASSET_ID=COUNT for each work used, e.g. ast_…=120.")],
    start: Annotated[str, typer.Option("--from", help="First day of the month reported (YYYY-MM-DD).")],
    end: Annotated[str, typer.Option("--to", help="Last day of the month reported (YYYY-MM-DD).")],
) -> None:
    """Enter a licensee's usage report for an ended month; it is invoiced at once."""
    period = (_day(start, "--from"), _day(end, "--to"))
    with database() as (_, session):
        deal = get_deal(session, deal_id)
        result = billing.report_usage(
            session,
            deal_id=deal.id,
            period_start=period[0],
            period_end=period[1],
            counts=_counts(counts),
            idempotency_key=f"cli:usage:{deal.id}:{period[0]}",
        )
        out.print(f"usage report {result.record_id}")
        out.print(f"issued {_describe(result.invoice)}" if result.invoice else "nothing to invoice")


@billing_app.command("royalty")
@handles_errors
def royalty(
    deal_id: Annotated[str, typer.Argument(help="The deal (deal_…), billed as a royalty.")],
    revenue: Annotated[
        str, typer.Option(help="Reported model revenue in the deal's currency, e.g. 250000.00.")
    ],
    start: Annotated[str, typer.Option("--from", help="First day of the royalty period (YYYY-MM-DD).")],
    end: Annotated[str, typer.Option("--to", help="Last day of the royalty period (YYYY-MM-DD).")],
) -> None:
    """Enter a licensee's royalty statement for an ended period; invoiced at the royalty or the minimum."""
    period = (_day(start, "--from"), _day(end, "--to"))
    with database() as (_, session):
        deal = get_deal(session, deal_id)
        result = billing.submit_royalty_statement(
            session,
            deal_id=deal.id,
            period_start=period[0],
            period_end=period[1],
            revenue=parse_amount(revenue, billing.deal_currency(deal)),
            idempotency_key=f"cli:royalty:{deal.id}:{period[0]}",
        )
        out.print(f"royalty statement {result.record_id}")
        out.print(f"issued {_describe(result.invoice)}" if result.invoice else "nothing to invoice")
