"""JSON API for billing and the books (issue 5): invoices and their payments, usage reports and royalty
statements, creator statements, the trial balance, payout batches, and payment-provider webhooks.

Routes stay thin: ``fairtrain.licensing.billing`` and ``fairtrain.ledger`` decide. Every call that moves
money needs an ``Idempotency-Key`` header (400 without one); a retry with the same key gets the first
answer again, with the same status code and ``Idempotent-Replayed: true``; the same key with a different
request is refused (409 ``idempotency_key_reused``). Amounts are decimal strings in the currency's unit
(``"1185.18"``), parsed exactly: fractions of a minor unit, negative or absurd amounts and unknown
currencies are refused (422).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import Response

from fairtrain.accounts.models import Role, User
from fairtrain.accounts.schemas import ApiError, Page
from fairtrain.errors import FairtrainError, Forbidden, InvalidInput, NotFound
from fairtrain.ledger.errors import UnknownPayout
from fairtrain.ledger.idempotency import fingerprint, idempotent
from fairtrain.ledger.journal import trial_balance
from fairtrain.ledger.models import Invoice, Payment, Payout, PayoutBatch
from fairtrain.ledger.payments import PaymentInstructions, PaymentProvider
from fairtrain.ledger.payouts import create_payout_batch, mark_payout_failed, mark_payout_sent, payouts_csv
from fairtrain.ledger.statements import SourceLine, Statement, StatementEntry, creator_statement
from fairtrain.licensing import billing
from fairtrain.licensing.billing_models import RoyaltyStatement, UsageReport
from fairtrain.money import check_currency, format_amount, parse_amount
from fairtrain.rights.policy import format_micros
from fairtrain.web.catalog_api import owned_creator
from fairtrain.web.deps import ApiUserDep, DbDep, SettingsDep

__all__ = [
    "IDEMPOTENCY_KEY_MAX",
    "IdempotencyKeyRequired",
    "InvoicePublic",
    "MoneyPublic",
    "StatementPublic",
    "check_idempotency_key",
    "invoice_public",
    "money",
    "providers",
    "router",
    "statement_period",
]

IDEMPOTENCY_KEY_MAX = 200


def _error(description: str) -> dict[str, object]:
    return {"description": description, "model": ApiError}


router = APIRouter(
    prefix="/api/v1",
    tags=["billing"],
    responses={
        401: _error("No valid API token or session"),
        404: _error("No such invoice, deal, batch or payout (or not yours to see)"),
        422: _error("Invalid request: an amount, a currency, a period or a field"),
    },
)
_MONEY: dict[int | str, dict[str, object]] = {
    400: _error("No Idempotency-Key header (code `idempotency_key_required`)"),
    403: _error("Not allowed for this user"),
    409: _error("Already paid or billed, or the key was used for another request"),
}
_OPERATOR: dict[int | str, dict[str, object]] = {403: _error("Only an operator may do this")}

Limit = Annotated[int, Query(ge=1, le=500, description="Items per page.")]
Offset = Annotated[int, Query(ge=0, description="Items to skip.")]
IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Any unique text (1–200 characters); send the same key again to retry safely.",
    ),
]


async def _raw_body(request: Request) -> bytes:
    return await request.body()


RawBodyDep = Annotated[bytes, Depends(_raw_body)]


class IdempotencyKeyRequired(FairtrainError):
    status_code = 400
    code = "idempotency_key_required"


def check_idempotency_key(value: str | None) -> str:
    if value is None or not value.strip():
        raise IdempotencyKeyRequired(
            "this request moves money: send an Idempotency-Key header (any unique text) and send the same "
            "key again when you retry it"
        )
    value = value.strip()
    if len(value) > IDEMPOTENCY_KEY_MAX or not value.isprintable():
        raise IdempotencyKeyRequired(f"an Idempotency-Key is 1 to {IDEMPOTENCY_KEY_MAX} printable characters")
    return value


def _operator(user: User) -> None:
    if not user.has_role(Role.OPERATOR):
        raise Forbidden("only an operator may do this")


def providers(request: Request) -> dict[str, PaymentProvider]:
    """The payment providers of this app (built from the settings once; tests may add their own)."""
    found: dict[str, PaymentProvider] | None = getattr(request.app.state, "payment_providers", None)
    if found is None:
        found = billing.payment_providers(request.app.state.settings)
        request.app.state.payment_providers = found
    return found


def _once(
    db: Session,
    *,
    user: User,
    key: str | None,
    operation: str,
    request: Mapping[str, object],
    status_code: int,
    fn: Callable[[str], BaseModel],
) -> JSONResponse:
    """Run ``fn`` once per (user, key) and answer with its first result; ``fn`` gets a key for the services
    below, derived from the caller's, so two users' keys never collide."""
    key = check_idempotency_key(key)
    ran = False

    def run() -> dict[str, Any]:
        nonlocal ran
        ran = True
        return {"status": status_code, "body": fn(f"api:{user.id}:{key}").model_dump(mode="json")}

    result = idempotent(
        db, key=key, scope=f"api.{operation}:{user.id}", fingerprint=fingerprint(**request), fn=run
    )
    headers = {} if ran else {"Idempotent-Replayed": "true"}
    return JSONResponse(result["body"], status_code=result["status"], headers=headers)


# --- schemas -------------------------------------------------------------------------------------------


class MoneyPublic(BaseModel):
    amount: str = Field(examples=["1185.18"], description="Decimal, in the currency's unit.")
    minor: int = Field(examples=[118518], description="The same in minor units (cents).")
    currency: str = Field(examples=["USD"])


def money(minor: int, currency: str) -> MoneyPublic:
    number, _ = format_amount(minor, currency).split(" ")
    return MoneyPublic(amount=number, minor=minor, currency=currency)


class InvoiceLinePublic(BaseModel):
    description: str
    quantity: int
    unit_price: str = Field(examples=["0.015"], description="Price of one unit; may be finer than a cent.")
    amount: MoneyPublic


class PaymentPublic(BaseModel):
    id: str
    provider: str
    reference: str = Field(description="The provider's or the bank's id for the payment.")
    amount: MoneyPublic
    fee: MoneyPublic = Field(description="What the bank or processor kept.")
    applied: MoneyPublic = Field(description="The part that settled the invoice.")
    excess: MoneyPublic = Field(description="Over-payment, credited to the licensee.")
    received_at: datetime


class PaymentInstructionsPublic(BaseModel):
    provider: str
    reference: str = Field(description="Quote it on the transfer.")
    amount: MoneyPublic
    text: str
    details: dict[str, str]
    url: str | None = None


class InvoicePublic(BaseModel):
    id: str
    reference: str = Field(examples=["FT-3KF9Q2M7X0V5B8ND"])
    status: str = Field(examples=["issued"], description="issued, paid or void")
    licensee_org_id: str
    deal_id: str | None
    deal_title: str | None
    period_start: date
    period_end: date
    currency: str
    total: MoneyPublic
    amount_paid: MoneyPublic
    balance_due: MoneyPublic
    issued_at: datetime | None
    due_on: date | None
    paid_at: datetime | None
    distribution_id: str | None = Field(description="The distribution run the payment went into.")
    lines: list[InvoiceLinePublic]
    payments: list[PaymentPublic]
    instructions: list[PaymentInstructionsPublic] = Field(
        description="How to pay, per payment provider, while something is due."
    )


def _payment_public(payment: Payment) -> PaymentPublic:
    return PaymentPublic(
        id=payment.id,
        provider=payment.provider,
        reference=payment.external_id,
        amount=money(payment.amount, payment.currency),
        fee=money(payment.fee, payment.currency),
        applied=money(payment.applied, payment.currency),
        excess=money(payment.excess, payment.currency),
        received_at=payment.received_at,
    )


def _instructions_public(found: PaymentInstructions) -> PaymentInstructionsPublic:
    return PaymentInstructionsPublic(
        provider=found.provider,
        reference=found.reference,
        amount=money(found.amount, found.currency),
        text=found.text,
        details=found.details,
        url=found.url,
    )


def invoice_public(
    db: Session, invoice: Invoice, payment_providers: Mapping[str, PaymentProvider]
) -> InvoicePublic:
    deal = billing.invoice_deal(db, invoice)
    currency = invoice.currency
    instructions = []
    if invoice.status == "issued" and invoice.balance_due > 0:
        for provider in payment_providers.values():
            try:
                instructions.append(_instructions_public(provider.instructions(invoice)))
            except NotImplementedError:  # a provider that only takes webhooks
                continue
    return InvoicePublic(
        id=invoice.id,
        reference=invoice.reference,
        status=invoice.status,
        licensee_org_id=invoice.licensee_org_id,
        deal_id=deal.id if deal else None,
        deal_title=deal.offer.title if deal else None,
        period_start=invoice.period_start,
        period_end=invoice.period_end,
        currency=currency,
        total=money(invoice.total, currency),
        amount_paid=money(invoice.amount_paid, currency),
        balance_due=money(invoice.balance_due, currency),
        issued_at=invoice.issued_at,
        due_on=invoice.due_on,
        paid_at=invoice.paid_at,
        distribution_id=invoice.distribution_id,
        lines=[
            InvoiceLinePublic(
                description=line.description,
                quantity=line.quantity,
                unit_price=format_micros(line.unit_price_micros),
                amount=money(line.amount, currency),
            )
            for line in invoice.lines
        ],
        payments=[_payment_public(payment) for payment in invoice.payments],
        instructions=instructions,
    )


class PaymentCreate(BaseModel):
    """Money received for an invoice, in the invoice's currency (an operator's "mark paid")."""

    model_config = ConfigDict(extra="forbid")

    amount: str = Field(examples=["1185.18"], description="What arrived, before the bank's fee.")
    fee: str = Field("0", examples=["2.50"], description="What the bank or processor kept.")
    currency: str | None = Field(None, examples=["USD"], description="If given, must be the invoice's.")
    reference: str | None = Field(
        None,
        max_length=200,
        examples=["TRX-88"],
        description="The bank's id for the transfer; one transfer is recorded once. Default: from the key.",
    )
    received_at: AwareDatetime | None = Field(None, description="When the money arrived; default: now.")


class InvoicePaymentPublic(BaseModel):
    payment: PaymentPublic
    invoice: InvoicePublic
    distribution_id: str | None = Field(description="The distribution run, once the invoice is paid.")


class UsageItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    asset_id: str = Field(examples=["ast_3kf9q2m7x0v5b8nd"], max_length=32)
    count: StrictInt = Field(ge=0, examples=[1200], description="Requests or uses in the period.")


class UsageReportCreate(BaseModel):
    """A per-crawl or per-use deal's usage in one ended calendar month (clipped to the deal's term)."""

    model_config = ConfigDict(extra="forbid")

    period_start: date = Field(examples=["2026-10-01"])
    period_end: date = Field(examples=["2026-10-31"])
    items: list[UsageItem] = Field(max_length=100_000)


class UsageReportPublic(BaseModel):
    id: str
    deal_id: str
    period_start: date
    period_end: date
    quantity: int
    invoice: InvoicePublic | None = Field(description="None when nothing was used.")


class RoyaltyStatementCreate(BaseModel):
    """A royalty deal's reported model revenue for one ended period."""

    model_config = ConfigDict(extra="forbid")

    period_start: date
    period_end: date
    revenue: str = Field(examples=["250000.00"], description="Model revenue in the period.")
    currency: str | None = Field(None, examples=["USD"], description="If given, must be the deal's.")


class RoyaltyStatementPublic(BaseModel):
    id: str
    deal_id: str
    period_start: date
    period_end: date
    revenue: MoneyPublic
    royalty_bp: int
    royalty: MoneyPublic
    minimum: MoneyPublic
    amount: MoneyPublic = Field(description="The larger of the royalty and the minimum guarantee.")
    invoice: InvoicePublic | None


class AssetPublic(BaseModel):
    asset_id: str
    title: str
    amount: MoneyPublic


class SourcePublic(BaseModel):
    source_type: str
    source_id: str
    title: str | None
    period: str = Field(examples=["2026-01-01/2026-01-31"])
    gross: MoneyPublic
    fee: MoneyPublic
    net: MoneyPublic
    to_co_holders: MoneyPublic
    from_co_holders: MoneyPublic
    credited: MoneyPublic
    assets: list[AssetPublic]


class EntryPublic(BaseModel):
    at: datetime
    kind: str = Field(examples=["earnings"], description="earnings, payout, payout returned, correction")
    description: str
    amount: MoneyPublic


class StatementPublic(BaseModel):
    creator_id: str
    creator_name: str
    currency: str
    period_start: date
    period_end: date
    opening_balance: MoneyPublic
    gross: MoneyPublic
    fees: MoneyPublic
    earnings: MoneyPublic
    payouts: MoneyPublic
    corrections: MoneyPublic
    closing_balance: MoneyPublic
    sources: list[SourcePublic]
    entries: list[EntryPublic]


def _source_public(source: SourceLine, currency: str, titles: Mapping[str, str]) -> SourcePublic:
    return SourcePublic(
        source_type=source.source_type,
        source_id=source.source_id,
        title=titles.get(source.source_id),
        period=source.source_period,
        gross=money(source.gross, currency),
        fee=money(source.fee, currency),
        net=money(source.net, currency),
        to_co_holders=money(source.to_co_holders, currency),
        from_co_holders=money(source.from_co_holders, currency),
        credited=money(source.credited, currency),
        assets=[
            AssetPublic(asset_id=a.asset_id, title=a.title, amount=money(a.amount, currency))
            for a in source.assets
        ],
    )


def _entry_public(entry: StatementEntry, currency: str) -> EntryPublic:
    return EntryPublic(
        at=entry.at, kind=entry.kind, description=entry.description, amount=money(entry.amount, currency)
    )


def statement_public(db: Session, statement: Statement) -> StatementPublic:
    currency = statement.currency
    titles = billing.source_titles(db, ((s.source_type, s.source_id) for s in statement.sources))
    return StatementPublic(
        creator_id=statement.creator_id,
        creator_name=statement.creator_name,
        currency=currency,
        period_start=statement.period_start,
        period_end=statement.period_end,
        opening_balance=money(statement.opening_balance, currency),
        gross=money(statement.gross, currency),
        fees=money(statement.fees, currency),
        earnings=money(statement.earnings, currency),
        payouts=money(statement.payouts, currency),
        corrections=money(statement.corrections, currency),
        closing_balance=money(statement.closing_balance, currency),
        sources=[_source_public(source, currency, titles) for source in statement.sources],
        entries=[_entry_public(entry, currency) for entry in statement.entries],
    )


class AccountBalancePublic(BaseModel):
    code: str = Field(examples=["payable:crt_3kf9q2m7x0v5b8nd"])
    kind: str = Field(examples=["liability"])
    balance: MoneyPublic = Field(description="Debits minus credits: a liability owing money is negative.")


class TrialBalancePublic(BaseModel):
    accounts: list[AccountBalancePublic]
    totals: dict[str, int] = Field(description="Per currency, in minor units; all zero when balanced.")
    balanced: bool


class PayoutBatchCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    currency: str = Field(examples=["USD"])
    minimum: str | None = Field(
        None, examples=["50.00"], description="Default: FAIRTRAIN_PAYOUT_MINIMUM for the currency."
    )


class PayoutPublic(BaseModel):
    id: str
    reference: str = Field(description="Quote it on the transfer to the payee.")
    payee_id: str = Field(description="The creator id, or payable:holder:… for an outside rightsholder.")
    name: str
    amount: MoneyPublic
    status: str = Field(description="in_transit, sent or failed")
    settled_at: datetime | None
    failure_reason: str | None


class PayoutBatchPublic(BaseModel):
    id: str
    currency: str
    minimum: MoneyPublic
    total: MoneyPublic
    created_at: datetime
    csv_url: str
    payouts: list[PayoutPublic]


class PayoutFailure(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=2000, examples=["account closed"])


def _payout_public(payout: Payout) -> PayoutPublic:
    return PayoutPublic(
        id=payout.id,
        reference=payout.reference,
        payee_id=payout.creator_id or payout.account.code,
        name=payout.payee_name,
        amount=money(payout.amount, payout.currency),
        status=payout.status,
        settled_at=payout.settled_at,
        failure_reason=payout.failure_reason,
    )


def _batch_public(batch: PayoutBatch, base_url: str) -> PayoutBatchPublic:
    return PayoutBatchPublic(
        id=batch.id,
        currency=batch.currency,
        minimum=money(batch.minimum, batch.currency),
        total=money(batch.total, batch.currency),
        created_at=batch.created_at,
        csv_url=f"{base_url}/api/v1/payout-batches/{batch.id}/csv",
        payouts=[_payout_public(payout) for payout in batch.payouts],
    )


def _same_currency(given: str | None, expected: str, what: str) -> None:
    if given is not None and check_currency(given) != expected:
        raise InvalidInput(f"{what} is in {expected}, not {check_currency(given)}")


def statement_period(start: date | None, end: date | None) -> tuple[date, date]:
    """The period asked for; by default this calendar month up to today (UTC)."""
    today = datetime.now(UTC).date()
    end = end or today
    start = start or end.replace(day=1)
    if end < start:
        raise InvalidInput(f"the period ends ({end}) before it starts ({start})")
    return start, end


def _batch(db: Session, batch_id: str) -> PayoutBatch:
    batch = db.get(PayoutBatch, batch_id)
    if batch is None:
        raise NotFound(f"no payout batch {batch_id}")
    return batch


# --- invoices ------------------------------------------------------------------------------------------


@router.get("/invoices", summary="Your organisations' invoices (every invoice, for an operator)")
def list_invoices(
    request: Request,
    db: DbDep,
    user: ApiUserDep,
    status: Annotated[str | None, Query(description="issued, paid or void")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[InvoicePublic]:
    items = billing.visible_invoices(db, user, status=status, limit=limit, offset=offset)
    found = providers(request)
    return Page[InvoicePublic](
        items=[invoice_public(db, invoice, found) for invoice in items],
        total=billing.count_visible_invoices(db, user, status=status),
        limit=limit,
        offset=offset,
    )


@router.get("/invoices/{invoice_id}", summary="One invoice, with how to pay it")
def get_invoice(request: Request, db: DbDep, user: ApiUserDep, invoice_id: str) -> InvoicePublic:
    return invoice_public(db, billing.visible_invoice(db, user, invoice_id), providers(request))


@router.post(
    "/invoices/{invoice_id}/payments",
    summary="Record a payment received for an invoice (operator); a paid deal invoice is distributed",
    status_code=201,
    response_model=InvoicePaymentPublic,
    responses={**_MONEY, 201: {"description": "Recorded (or, on a replay, the first answer again)"}},
)
def record_invoice_payment(
    request: Request,
    db: DbDep,
    settings: SettingsDep,
    user: ApiUserDep,
    invoice_id: str,
    body: PaymentCreate,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    _operator(user)
    invoice = billing.visible_invoice(db, user, invoice_id)
    _same_currency(body.currency, invoice.currency, f"invoice {invoice.reference}")
    amount, fee = parse_amount(body.amount, invoice.currency), parse_amount(body.fee, invoice.currency)
    manual = providers(request)["manual"]

    def pay(key: str) -> InvoicePaymentPublic:
        result = billing.pay_invoice(
            db,
            invoice_id=invoice.id,
            amount=amount,
            fee=fee,
            provider=manual,
            external_id=(body.reference or "").strip() or key,
            received_at=body.received_at,
            idempotency_key=key,
            fee_bp=settings.platform_fee_bp,
        )
        db.refresh(result.invoice)
        return InvoicePaymentPublic(
            payment=_payment_public(result.payment),
            invoice=invoice_public(db, result.invoice, providers(request)),
            distribution_id=result.distribution.id if result.distribution else None,
        )

    return _once(
        db,
        user=user,
        key=idempotency_key,
        operation="invoice.payment",
        request={"invoice": invoice.id, **body.model_dump(mode="json")},
        status_code=201,
        fn=pay,
    )


@router.post(
    "/payments/{provider}/webhook",
    summary="A payment provider's notice that money arrived (verified by the provider)",
    responses={404: _error("No such payment provider"), 422: _error("Not a valid notice")},
)
def payment_webhook(
    request: Request, db: DbDep, settings: SettingsDep, provider: str, body: RawBodyDep
) -> dict[str, Any]:
    found = providers(request).get(provider)
    if found is None:
        raise NotFound(f"no payment provider {provider!r}")
    result = billing.receive_webhook(
        db, provider=found, headers=dict(request.headers), body=body, fee_bp=settings.platform_fee_bp
    )
    return {
        "payment_id": result.payment.id,
        "invoice_id": result.invoice.id,
        "status": result.invoice.status,
        "distribution_id": result.distribution.id if result.distribution else None,
    }


# --- what licensees report -----------------------------------------------------------------------------


def _report_public(
    db: Session, report: UsageReport, found: Mapping[str, PaymentProvider]
) -> UsageReportPublic:
    invoice = db.get(Invoice, report.invoice_id) if report.invoice_id else None
    return UsageReportPublic(
        id=report.id,
        deal_id=report.deal_id,
        period_start=report.period_start,
        period_end=report.period_end,
        quantity=report.quantity,
        invoice=invoice_public(db, invoice, found) if invoice else None,
    )


@router.post(
    "/deals/{deal_id}/usage",
    summary="Report a per-crawl or per-use deal's usage for an ended month; invoiced at once",
    status_code=201,
    response_model=UsageReportPublic,
    responses=_MONEY,
)
def report_usage(
    request: Request,
    db: DbDep,
    user: ApiUserDep,
    deal_id: str,
    body: UsageReportCreate,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    counts: dict[str, int] = {}
    for item in body.items:
        if item.asset_id in counts:
            raise InvalidInput(f"{item.asset_id} is listed twice; give one count per work")
        counts[item.asset_id] = item.count

    def run(key: str) -> UsageReportPublic:
        result = billing.report_usage(
            db,
            deal_id=deal_id,
            period_start=body.period_start,
            period_end=body.period_end,
            counts=counts,
            by=user,
            idempotency_key=key,
        )
        report = db.get(UsageReport, result.record_id)
        assert report is not None
        return _report_public(db, report, providers(request))

    return _once(
        db,
        user=user,
        key=idempotency_key,
        operation="usage",
        request={"deal": deal_id, **body.model_dump(mode="json")},
        status_code=201,
        fn=run,
    )


@router.post(
    "/deals/{deal_id}/royalty-statements",
    summary="Report a royalty deal's model revenue for an ended period; invoiced at once",
    status_code=201,
    response_model=RoyaltyStatementPublic,
    responses=_MONEY,
)
def submit_royalty_statement(
    request: Request,
    db: DbDep,
    user: ApiUserDep,
    deal_id: str,
    body: RoyaltyStatementCreate,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    deal = billing.licensee_deal(db, user, deal_id)
    currency = billing.deal_currency(deal)
    _same_currency(body.currency, currency, f"deal {deal.id}")
    revenue = parse_amount(body.revenue, currency)

    def run(key: str) -> RoyaltyStatementPublic:
        result = billing.submit_royalty_statement(
            db,
            deal_id=deal.id,
            period_start=body.period_start,
            period_end=body.period_end,
            revenue=revenue,
            by=user,
            idempotency_key=key,
        )
        statement = db.get(RoyaltyStatement, result.record_id)
        assert statement is not None
        return _royalty_public(db, statement, providers(request))

    return _once(
        db,
        user=user,
        key=idempotency_key,
        operation="royalty",
        request={"deal": deal.id, **body.model_dump(mode="json")},
        status_code=201,
        fn=run,
    )


def _royalty_public(
    db: Session, statement: RoyaltyStatement, found: Mapping[str, PaymentProvider]
) -> RoyaltyStatementPublic:
    invoice = db.get(Invoice, statement.invoice_id) if statement.invoice_id else None
    currency = statement.currency
    return RoyaltyStatementPublic(
        id=statement.id,
        deal_id=statement.deal_id,
        period_start=statement.period_start,
        period_end=statement.period_end,
        revenue=money(statement.revenue, currency),
        royalty_bp=statement.royalty_bp,
        royalty=money(statement.royalty, currency),
        minimum=money(statement.minimum, currency),
        amount=money(statement.amount, currency),
        invoice=invoice_public(db, invoice, found) if invoice else None,
    )


# --- statements and books ------------------------------------------------------------------------------


@router.get(
    "/statements",
    summary="Your statement as a creator: gross, fees, each deal and work, payouts, balances",
    responses={403: _error("This account has no creator profile (or the creator is not yours)")},
)
def get_statement(
    db: DbDep,
    user: ApiUserDep,
    start: Annotated[
        date | None, Query(alias="from", description="First day (UTC); default: the 1st.")
    ] = None,
    end: Annotated[date | None, Query(alias="to", description="Last day, included; default: today.")] = None,
    currency: Annotated[str | None, Query(description="Default: the one you earn in (else USD).")] = None,
    creator: Annotated[str | None, Query(description="A creator's handle (operators).")] = None,
) -> StatementPublic:
    owner = owned_creator(db, user, creator)
    period = statement_period(start, end)
    code = check_currency(currency) if currency else (billing.creator_currencies(db, owner.id) or ["USD"])[0]
    statement = creator_statement(db, owner.id, currency=code, period_start=period[0], period_end=period[1])
    return statement_public(db, statement)


@router.get("/books/trial-balance", summary="Every account's balance; zero per currency", responses=_OPERATOR)
def get_trial_balance(user: ApiUserDep, db: DbDep) -> TrialBalancePublic:
    _operator(user)
    balance = trial_balance(db)
    return TrialBalancePublic(
        accounts=[
            AccountBalancePublic(code=row.code, kind=row.kind, balance=money(row.balance, row.currency))
            for row in balance.rows
        ],
        totals=balance.totals,
        balanced=balance.balanced,
    )


@router.get("/payout-batches", summary="Payout batches, newest first (operator)", responses=_OPERATOR)
def list_payout_batches(
    db: DbDep, settings: SettingsDep, user: ApiUserDep, limit: Limit = 50, offset: Offset = 0
) -> Page[PayoutBatchPublic]:
    _operator(user)
    batches = db.scalars(
        select(PayoutBatch)
        .order_by(PayoutBatch.created_at.desc(), PayoutBatch.id)
        .limit(limit)
        .offset(offset)
    ).all()
    return Page[PayoutBatchPublic](
        items=[_batch_public(batch, settings.base_url) for batch in batches],
        total=billing.count_payout_batches(db),
        limit=limit,
        offset=offset,
    )


@router.post(
    "/payout-batches",
    summary="Pay out every balance at or over the minimum (operator); smaller ones carry forward",
    status_code=201,
    response_model=PayoutBatchPublic,
    responses=_MONEY,
)
def create_batch(
    db: DbDep,
    settings: SettingsDep,
    user: ApiUserDep,
    body: PayoutBatchCreate,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    _operator(user)
    currency = check_currency(body.currency)
    minimum = (
        parse_amount(body.minimum, currency)
        if body.minimum is not None
        else settings.payout_minimum_for(currency)
    )

    def run(key: str) -> PayoutBatchPublic:
        batch = create_payout_batch(db, currency=currency, minimum=minimum, idempotency_key=key)
        return _batch_public(batch, settings.base_url)

    return _once(
        db,
        user=user,
        key=idempotency_key,
        operation="payout.batch",
        request={"currency": currency, "minimum": minimum},
        status_code=201,
        fn=run,
    )


@router.get("/payout-batches/{batch_id}", summary="One payout batch (operator)", responses=_OPERATOR)
def get_batch(db: DbDep, settings: SettingsDep, user: ApiUserDep, batch_id: str) -> PayoutBatchPublic:
    _operator(user)
    return _batch_public(_batch(db, batch_id), settings.base_url)


@router.get(
    "/payout-batches/{batch_id}/csv",
    summary="A payout batch as CSV for the bank (operator)",
    response_class=Response,
    responses={**_OPERATOR, 200: {"content": {"text/csv": {}}, "description": "One row per payout"}},
)
def get_batch_csv(db: DbDep, user: ApiUserDep, batch_id: str) -> Response:
    _operator(user)
    return csv_response(payouts_csv(_batch(db, batch_id)), f"payouts-{batch_id}.csv")


def csv_response(text: str, filename: str) -> Response:
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )


def _payout(db: Session, payout_id: str) -> Payout:
    payout = db.get(Payout, payout_id)
    if payout is None:
        raise UnknownPayout(f"no payout {payout_id}")
    return payout


@router.post(
    "/payouts/{payout_id}/sent",
    summary="The bank confirmed a payout (operator)",
    response_model=PayoutPublic,
    responses=_MONEY,
)
def payout_sent(
    db: DbDep, user: ApiUserDep, payout_id: str, idempotency_key: IdempotencyKeyHeader = None
) -> Response:
    _operator(user)
    payout = _payout(db, payout_id)

    def run(key: str) -> PayoutPublic:
        return _payout_public(mark_payout_sent(db, payout.id, idempotency_key=key))

    return _once(
        db,
        user=user,
        key=idempotency_key,
        operation="payout.sent",
        request={"payout": payout.id},
        status_code=200,
        fn=run,
    )


@router.post(
    "/payouts/{payout_id}/failed",
    summary="A payout bounced: its amount returns to the payee's balance (operator)",
    response_model=PayoutPublic,
    responses=_MONEY,
)
def payout_failed(
    db: DbDep,
    user: ApiUserDep,
    payout_id: str,
    body: PayoutFailure,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    _operator(user)
    payout = _payout(db, payout_id)

    def run(key: str) -> PayoutPublic:
        return _payout_public(mark_payout_failed(db, payout.id, reason=body.reason, idempotency_key=key))

    return _once(
        db,
        user=user,
        key=idempotency_key,
        operation="payout.failed",
        request={"payout": payout.id, "reason": body.reason},
        status_code=200,
        fn=run,
    )
