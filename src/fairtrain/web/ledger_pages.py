"""Money pages: a licensee's invoices (``/invoices``), a creator's statements (``/statements``, with CSV and
PDF), and the operator's books (``/books``: trial balance, unpaid invoices to mark paid, billing run, payout
batches). Routes stay thin; ``fairtrain.licensing.billing`` and ``fairtrain.ledger`` decide.

Forms that move money carry a one-time idempotency key made when the page is drawn, so a double click or a
resubmitted form records the payment or the batch once.
"""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from fairtrain.accounts import service as accounts
from fairtrain.accounts.models import CreatorProfile, LicenseeOrg, Role, User
from fairtrain.config import Settings
from fairtrain.errors import FairtrainError, Forbidden, NotFound
from fairtrain.ledger.journal import trial_balance
from fairtrain.ledger.models import Account, Invoice, PayoutBatch
from fairtrain.ledger.payouts import create_payout_batch, mark_payout_failed, mark_payout_sent, payouts_csv
from fairtrain.ledger.statements import Statement, creator_statement, statement_csv, statement_pdf
from fairtrain.licensing import billing
from fairtrain.licensing.deals import list_deals
from fairtrain.money import check_currency, format_amount, parse_amount
from fairtrain.rights.policy import format_micros
from fairtrain.web.catalog_api import owned_creator
from fairtrain.web.deps import DbDep, SettingsDep, UserDep
from fairtrain.web.ledger_api import check_idempotency_key, csv_response, providers, statement_period
from fairtrain.web.security import check_csrf
from fairtrain.web.templating import render

__all__ = ["router"]

router = APIRouter(dependencies=[Depends(check_csrf)], include_in_schema=False)

FromQuery = Annotated[date | None, Query(alias="from")]
ToQuery = Annotated[date | None, Query(alias="to")]


def _form_key() -> str:
    return secrets.token_urlsafe(18)


def _operator(user: User) -> None:
    if not user.has_role(Role.OPERATOR):
        raise Forbidden("the books are for operators")


def _money(minor: int, currency: str) -> str:
    return format_amount(minor, currency)


# --- invoices (licensees) -----------------------------------------------------------------------------


@router.get("/invoices")
def invoices_page(request: Request, db: DbDep, user: UserDep) -> Response:
    invoices = billing.visible_invoices(db, user, limit=200)
    orgs = accounts.orgs_of(db, user)
    return render(
        request,
        "invoices.html",
        {
            "invoices": invoices,
            "titles": billing.source_titles(db, ((i.source_type, i.source_id) for i in invoices)),
            "orgs": [(org, list_deals(db, org=org, limit=100)) for org in orgs],
            "operator": user.has_role(Role.OPERATOR),
            "money": _money,
        },
    )


@router.get("/invoices/{invoice_id}")
def invoice_page(request: Request, db: DbDep, user: UserDep, invoice_id: str) -> Response:
    invoice = billing.visible_invoice(db, user, invoice_id)
    return _invoice_page(request, db, user, invoice)


def _invoice_page(
    request: Request,
    db: Session,
    user: User,
    invoice: Invoice,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    instructions = []
    if invoice.status == "issued" and invoice.balance_due > 0:
        for provider in providers(request).values():
            try:
                instructions.append(provider.instructions(invoice))
            except NotImplementedError:
                continue
    return render(
        request,
        "invoice.html",
        {
            "invoice": invoice,
            "deal": billing.invoice_deal(db, invoice),
            "org": db.get(LicenseeOrg, invoice.licensee_org_id),
            "instructions": instructions,
            "operator": user.has_role(Role.OPERATOR),
            "form_key": _form_key(),
            "money": _money,
            "unit_price": format_micros,
            "error": error,
            "notice": request.query_params.get("notice"),
        },
        status_code=status_code,
    )


# --- statements (creators) ----------------------------------------------------------------------------


def _statement_subject(db: Session, user: User, creator: str | None) -> CreatorProfile | None:
    """The creator whose statement is asked for; None: an operator without a creator profile must pick."""
    if not creator and user.creator is None and user.has_role(Role.OPERATOR):
        return None
    return owned_creator(db, user, creator or None)


def _presets(today: date, query: dict[str, str]) -> list[tuple[str, str]]:
    """(label, query string) of the usual periods, keeping the currency and creator."""
    first = today.replace(day=1)
    last_month_end = first - timedelta(days=1)
    periods = [
        ("This month", first, today),
        ("Last month", last_month_end.replace(day=1), last_month_end),
        ("This year", today.replace(month=1, day=1), today),
    ]
    return [
        (label, urlencode({**query, "from": since.isoformat(), "to": until.isoformat()}))
        for label, since, until in periods
    ]


@router.get("/statements")
def statements_page(
    request: Request,
    db: DbDep,
    user: UserDep,
    start: FromQuery = None,
    end: ToQuery = None,
    currency: str | None = None,
    creator: str | None = None,
) -> Response:
    owner = _statement_subject(db, user, creator)
    if owner is None:
        return render(
            request,
            "statements.html",
            {"statement": None, "creators": accounts.list_creators(db, limit=500)},
        )
    period = statement_period(start, end)
    currencies = billing.creator_currencies(db, owner.id)
    code = check_currency(currency) if currency else (currencies or ["USD"])[0]
    statement = creator_statement(db, owner.id, currency=code, period_start=period[0], period_end=period[1])
    query = {"from": period[0].isoformat(), "to": period[1].isoformat(), "currency": code}
    if owner.user_id != user.id:
        query["creator"] = owner.handle
    return render(
        request,
        "statements.html",
        {
            "statement": statement,
            "owner": owner,
            "currencies": sorted({*currencies, code}),
            "query": query,
            "presets": _presets(datetime.now(UTC).date(), query),
            "query_string": urlencode(query),
            "titles": billing.source_titles(db, ((s.source_type, s.source_id) for s in statement.sources)),
            "money": _money,
        },
    )


@router.get("/statements.csv")
def statement_csv_file(
    db: DbDep,
    user: UserDep,
    start: FromQuery = None,
    end: ToQuery = None,
    currency: str | None = None,
    creator: str | None = None,
) -> Response:
    owner = owned_creator(db, user, creator or None)
    name, statement = _statement_for(db, owner, start, end, currency)
    return csv_response(statement_csv(statement), f"{name}.csv")


@router.get("/statements.pdf")
def statement_pdf_file(
    db: DbDep,
    user: UserDep,
    start: FromQuery = None,
    end: ToQuery = None,
    currency: str | None = None,
    creator: str | None = None,
) -> Response:
    owner = owned_creator(db, user, creator or None)
    name, statement = _statement_for(db, owner, start, end, currency)
    return Response(
        statement_pdf(statement),
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{name}.pdf"', "Cache-Control": "no-store"},
    )


def _statement_for(
    db: Session, owner: CreatorProfile, start: date | None, end: date | None, currency: str | None
) -> tuple[str, Statement]:
    period = statement_period(start, end)
    code = check_currency(currency) if currency else (billing.creator_currencies(db, owner.id) or ["USD"])[0]
    statement = creator_statement(db, owner.id, currency=code, period_start=period[0], period_end=period[1])
    return f"statement-{owner.handle}-{period[0]}-{period[1]}-{code}", statement


# --- the books (operators) ----------------------------------------------------------------------------


def _books(
    request: Request,
    db: Session,
    settings: Settings,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    balance = trial_balance(db)
    unpaid = billing.visible_invoices(db, request.state.user, status="issued", limit=500)
    undistributed = db.scalars(
        select(Invoice).where(
            Invoice.source_type.in_(("deal", "crawl")),
            Invoice.status == "paid",
            Invoice.distribution_id.is_(None),
        )
    ).all()
    batches = db.scalars(select(PayoutBatch).order_by(PayoutBatch.created_at.desc()).limit(20)).all()
    currencies = sorted(
        set(db.scalars(select(Account.currency).where(Account.code.like("payable:%")))) or {"USD"}
    )
    minimums = {}
    for code in currencies:
        try:
            minimums[code] = format_amount(settings.payout_minimum_for(code), code).split(" ")[0]
        except FairtrainError:
            minimums[code] = ""
    return render(
        request,
        "books.html",
        {
            "balance": balance,
            "unpaid": [(invoice, _form_key()) for invoice in unpaid],
            "titles": billing.source_titles(db, ((i.source_type, i.source_id) for i in unpaid)),
            "orgs": _org_names(db, {invoice.licensee_org_id for invoice in unpaid}),
            "undistributed": undistributed,
            "batches": batches,
            "currencies": currencies,
            "minimums": minimums,
            "batch_key": _form_key(),
            "fee_bp": settings.platform_fee_bp,
            "money": _money,
            "error": error,
            "notice": request.query_params.get("notice"),
        },
        status_code=status_code,
    )


def _org_names(db: Session, ids: set[str]) -> dict[str, str]:
    if not ids:
        return {}
    rows = db.execute(select(LicenseeOrg.id, LicenseeOrg.name).where(LicenseeOrg.id.in_(ids)))
    return {row.id: row.name for row in rows}


@router.get("/books")
def books_page(request: Request, db: DbDep, settings: SettingsDep, user: UserDep) -> Response:
    _operator(user)
    return _books(request, db, settings)


@router.post("/books/invoices/{invoice_id}/pay")
def mark_paid(
    request: Request,
    db: DbDep,
    settings: SettingsDep,
    user: UserDep,
    invoice_id: str,
    idempotency_key: Annotated[str, Form()] = "",
    amount: Annotated[str, Form()] = "",
    fee: Annotated[str, Form()] = "",
    reference: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """An operator records a bank transfer: the invoice is paid and, for a deal, distributed."""
    _operator(user)
    form_key = check_idempotency_key(idempotency_key)
    key = f"web:{user.id}:{form_key}"
    invoice = billing.visible_invoice(db, user, invoice_id)
    try:
        result = billing.pay_invoice(
            db,
            invoice_id=invoice.id,
            amount=parse_amount(amount, invoice.currency) if amount.strip() else invoice.balance_due,
            fee=parse_amount(fee, invoice.currency) if fee.strip() else 0,
            provider=providers(request)["manual"],
            # Without the bank's reference, the form's own key names the transfer (recorded once).
            external_id=reference.strip() or f"{invoice.reference}/{form_key[:12]}",
            idempotency_key=key,
            fee_bp=settings.platform_fee_bp,
        )
    except FairtrainError as exc:
        db.rollback()
        return _books(
            request, db, settings, error=f"{invoice.reference}: {exc.message}", status_code=exc.status_code
        )
    outcome = "distributed" if result.distribution is not None else result.invoice.status
    return RedirectResponse(f"/books?notice=paid:{invoice.reference}:{outcome}", status_code=303)


@router.post("/books/tick")
def run_billing(request: Request, db: DbDep, settings: SettingsDep, user: UserDep) -> Response:
    """What ``fairtrain billing tick`` does: issue due invoices, distribute paid ones not yet distributed."""
    _operator(user)
    issued = billing.bill_due(db)
    runs = billing.distribute_settled(db, fee_bp=settings.platform_fee_bp)
    return RedirectResponse(f"/books?notice=tick:{len(issued)}:{len(runs)}", status_code=303)


@router.post("/books/payout-batches")
def create_batch(
    request: Request,
    db: DbDep,
    settings: SettingsDep,
    user: UserDep,
    currency: Annotated[str, Form()] = "",
    minimum: Annotated[str, Form()] = "",
    idempotency_key: Annotated[str, Form()] = "",
) -> Response:
    _operator(user)
    key = f"web:{user.id}:{check_idempotency_key(idempotency_key)}"
    try:
        code = check_currency(currency)
        least = parse_amount(minimum, code) if minimum.strip() else settings.payout_minimum_for(code)
        batch = create_payout_batch(db, currency=code, minimum=least, idempotency_key=key)
    except FairtrainError as exc:
        db.rollback()
        return _books(
            request, db, settings, error=f"Payout batch: {exc.message}", status_code=exc.status_code
        )
    return RedirectResponse(f"/books/payout-batches/{batch.id}", status_code=303)


def _batch(db: Session, batch_id: str) -> PayoutBatch:
    batch = db.get(PayoutBatch, batch_id)
    if batch is None:
        raise NotFound(f"no payout batch {batch_id}")
    return batch


@router.get("/books/payout-batches/{batch_id}")
def batch_page(request: Request, db: DbDep, user: UserDep, batch_id: str) -> Response:
    _operator(user)
    batch = _batch(db, batch_id)
    return render(
        request,
        "payouts.html",
        {
            "batch": batch,
            "rows": [(payout, _form_key()) for payout in batch.payouts],
            "money": _money,
            "notice": request.query_params.get("notice"),
        },
    )


@router.get("/books/payout-batches/{batch_id}/csv")
def batch_csv(db: DbDep, user: UserDep, batch_id: str) -> Response:
    _operator(user)
    return csv_response(payouts_csv(_batch(db, batch_id)), f"payouts-{batch_id}.csv")


@router.post("/books/payouts/{payout_id}/{outcome}")
def settle_payout(
    db: DbDep,
    user: UserDep,
    payout_id: str,
    outcome: str,
    idempotency_key: Annotated[str, Form()] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """The bank's answer for one payout: ``sent``, or ``failed`` with the reason."""
    _operator(user)
    key = f"web:{user.id}:{check_idempotency_key(idempotency_key)}"
    if outcome == "sent":
        payout = mark_payout_sent(db, payout_id, idempotency_key=key)
    elif outcome == "failed":
        payout = mark_payout_failed(db, payout_id, reason=reason, idempotency_key=key)
    else:
        raise NotFound(f"a payout is marked sent or failed, not {outcome!r}")
    return RedirectResponse(
        f"/books/payout-batches/{payout.batch_id}?notice={outcome}:{payout.reference}", status_code=303
    )
