"""Billing: a deal's fee becomes invoices, a paid invoice becomes a distribution run (issue 5).

Layer 3: it reads deals and their terms (licensing) and drives the ledger (layer 2), which knows nothing
about deals beyond a *source* (``deal``, ``deal_…``) and a *period*. See docs/billing.md.

What each fee model bills, and when (every period of a deal is billed once, by one invoice, recorded in
``billing_deal_invoices``):

============  ===================================================  =======================================
fee           periods                                              invoiced
============  ===================================================  =======================================
flat          one: the first term (or the first day, open-ended)    at acceptance (``bill_due``)
recurring     monthly or yearly from the first day of the term      in advance, when a period starts
per-crawl,    calendar months (UTC), clipped to the term            when the licensee reports the usage of
per-use                                                              an ended month, or by ``bill_due``
                                                                     once it has ended, from metered events
royalty       monthly or yearly from the first day of the term      when the licensee submits the royalty
                                                                     statement of an ended period
============  ===================================================  =======================================

A paid invoice is distributed at once (``distribute_invoice``): the platform fee from settings, then the
deal's published rule — item count, metered usage, or the weighted mix — over the works the deal froze at
acceptance, each work's share split among its rightsholders as they were frozen too.

Pay-per-crawl charges of verified crawlers outside any deal are billed and distributed by
``crawl_billing``; ``bill_due`` and ``distribute_settled`` run it too, so one cron job does both.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction
from typing import Any

from sqlalchemy import ColumnElement, func, insert, select, update
from sqlalchemy.orm import Session

from fairtrain.accounts.models import CreatorProfile, LicenseeMember, Role, User
from fairtrain.accounts.service import orgs_of
from fairtrain.config import Settings
from fairtrain.db.base import utcnow
from fairtrain.errors import Conflict, InvalidInput
from fairtrain.ledger.distribution import BASIS_POINTS, Payee, mix_weights, payee_weights, run_distribution
from fairtrain.ledger.errors import UnknownInvoice
from fairtrain.ledger.idempotency import fingerprint, idempotent
from fairtrain.ledger.invoices import (
    InvoiceLineDraft,
    create_invoice,
    get_invoice,
    issue_invoice,
    pool_code,
)
from fairtrain.ledger.models import Account, DistributionRun, Invoice, InvoiceStatus, Payment, PayoutBatch
from fairtrain.ledger.payments import (
    ManualProvider,
    PaymentProvider,
    apply_payment_event,
    record_payment,
)
from fairtrain.licensing.billing_models import (
    Charge,
    DealInvoice,
    RoyaltyStatement,
    UsageEvent,
    UsageKind,
    UsageReport,
)
from fairtrain.licensing.crawl_billing import (
    CRAWL_SOURCE,
    bill_crawl_charges,
    crawl_titles,
    distribute_crawl_invoice,
)
from fairtrain.licensing.deals import deal_terms
from fairtrain.licensing.errors import UnknownDeal
from fairtrain.licensing.models import Deal, DealAsset
from fairtrain.licensing.terms import FeeModel, Terms
from fairtrain.money import MAX_MINOR_UNITS, currency_exponent, format_amount
from fairtrain.rights.policy import format_micros

__all__ = [
    "BILLABLE_STATES",
    "AlreadyBilled",
    "BillingResult",
    "DistributionInputs",
    "NotBillable",
    "PaymentResult",
    "Period",
    "UsageEventDraft",
    "bill_deal",
    "bill_due",
    "count_payout_batches",
    "count_visible_invoices",
    "creator_currencies",
    "deal_currency",
    "deal_invoices",
    "deal_periods",
    "deal_titles",
    "distribute_invoice",
    "distribute_settled",
    "distribution_inputs",
    "find_period",
    "invoice_deal",
    "licensee_deal",
    "pay_invoice",
    "payment_providers",
    "receive_webhook",
    "record_usage_events",
    "report_usage",
    "source_titles",
    "submit_royalty_statement",
    "visible_invoice",
    "visible_invoices",
]

BILLABLE_STATES = ("accepted", "active", "expired", "terminated")
_METERED = (FeeModel.PER_CRAWL, FeeModel.PER_USE)
_MAX_COUNT = 10**12  # uses of one work in one period; more is a typing mistake
_MAX_REPORT_LINES = 100_000


class AlreadyBilled(Conflict):
    """The deal's period already has its invoice (or its report or statement)."""

    code = "already_billed"


class NotBillable(InvalidInput):
    """The deal's fee does not take this kind of report, or the period is not one of the deal's."""

    code = "not_billable"


# --- periods ------------------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Period:
    """Whole UTC days, ``start`` to ``end`` inclusive."""

    start: date
    end: date

    def __str__(self) -> str:
        return f"{self.start.isoformat()} to {self.end.isoformat()}"

    @property
    def since(self) -> datetime:
        return _midnight(self.start)

    @property
    def until(self) -> datetime:
        """The first instant after the period."""
        return _midnight(self.end + timedelta(days=1))


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def _add_months(day: date, months: int) -> date:
    """The same day ``months`` later, clipped to the month's end (31 January + 1 month = 28 February)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _term_days(deal: Deal) -> tuple[date, date | None]:
    """First and last UTC day the deal covers (None: no end), ended early by a termination."""
    if deal.starts_at is None:
        raise NotBillable(f"deal {deal.id} has not been accepted")
    first = deal.starts_at.astimezone(UTC).date()
    ends = [moment for moment in (deal.ends_at, deal.ended_at) if moment is not None]
    last = (min(ends) - timedelta(microseconds=1)).astimezone(UTC).date() if ends else None
    return first, last


def deal_periods(deal: Deal, terms: Terms, *, through: date) -> list[Period]:
    """The deal's billing periods that start on or before ``through`` (see the module's table)."""
    first, last = _term_days(deal)
    if last is not None and last < first:
        return []  # ended before it started
    model = FeeModel(terms.fee.model)
    if model is FeeModel.FLAT:
        assert deal.starts_at is not None
        if deal.term_seconds:
            term_end = deal.starts_at + timedelta(seconds=deal.term_seconds) - timedelta(microseconds=1)
            return [Period(first, max(first, term_end.astimezone(UTC).date()))]
        return [Period(first, first)]
    if model in (FeeModel.RECURRING, FeeModel.ROYALTY):
        step = 1 if terms.fee.interval == "monthly" else 12
        starts = (_add_months(first, k * step) for k in range(100_000))
    elif model in _METERED:
        month = first.replace(day=1)
        starts = (max(first, _add_months(month, k)) for k in range(100_000))
    else:
        return []
    periods: list[Period] = []
    start = next(starts)
    while start <= through and (last is None or start <= last):
        following = next(starts)
        end = following - timedelta(days=1)
        periods.append(Period(start, end if last is None else min(end, last)))
        start = following
    return periods


def find_period(deal: Deal, terms: Terms, start: date, end: date) -> Period:
    """The deal's billing period ``start``–``end``, or ``NotBillable`` naming the period that is."""
    for period in deal_periods(deal, terms, through=start):
        if period.start <= start <= period.end:
            if (period.start, period.end) != (start, end):
                raise NotBillable(
                    f"deal {deal.id} is billed {_period_words(terms)}; the period holding {start} is {period}"
                )
            return period
    raise NotBillable(f"{start} is not in the term of deal {deal.id}")


def _period_words(terms: Terms) -> str:
    if terms.fee.model in _METERED:
        return "by calendar month"
    return f"{terms.fee.interval} from the start of its term"


# --- invoices ----------------------------------------------------------------------------------------


def _to_micros(minor: int, currency: str) -> int:
    scale: int = 10 ** (6 - currency_exponent(currency))  # ISO 4217 exponents are at most 4
    return minor * scale


def _lock_deal(session: Session, deal_id: str) -> Deal:
    """The deal with fresh values, locked for billing until commit.

    An UPDATE that changes nothing takes the row lock on PostgreSQL and the write lock on SQLite before
    anything is read, so two ticks or reports bill a period once (the unique index is the last guard)."""
    session.execute(
        update(Deal)
        .where(Deal.id == deal_id)
        .values(updated_at=Deal.updated_at)
        .execution_options(synchronize_session=False)
    )
    deal = session.scalar(select(Deal).where(Deal.id == deal_id).execution_options(populate_existing=True))
    if deal is None:
        raise UnknownDeal(f"no deal {deal_id}")
    return deal


def _billed(session: Session, deal_id: str) -> dict[date, DealInvoice]:
    rows = session.scalars(select(DealInvoice).where(DealInvoice.deal_id == deal_id))
    return {row.period_start: row for row in rows}


def _issue(
    session: Session,
    *,
    deal: Deal,
    terms: Terms,
    charge: Charge,
    period: Period,
    lines: Sequence[InvoiceLineDraft],
    today: date,
) -> Invoice:
    currency = terms.fee.currency
    assert currency is not None
    invoice = create_invoice(
        session,
        licensee_org_id=deal.org_id,
        currency=currency,
        source_type="deal",
        source_id=deal.id,
        period_start=period.start,
        period_end=period.end,
        lines=lines,
        memo=f"{deal.offer.title} ({deal.id})",
    )
    issue_invoice(
        session,
        invoice,
        idempotency_key=f"billing:{deal.id}:{period.start.isoformat()}",
        due_on=today + timedelta(days=terms.payment_due_days),
    )
    session.add(
        DealInvoice(
            deal_id=deal.id,
            charge=charge.value,
            period_start=period.start,
            period_end=period.end,
            invoice_id=invoice.id,
        )
    )
    session.flush()
    return invoice


def _fixed_line(deal: Deal, terms: Terms, period: Period) -> InvoiceLineDraft:
    fee = terms.fee
    assert fee.currency is not None
    assert fee.amount_minor is not None
    if fee.model == FeeModel.FLAT:
        words = f"Licence fee, one-off: {deal.offer.title}"
    else:
        words = f"Licence fee, {fee.interval}, {period}: {deal.offer.title}"
    return InvoiceLineDraft(words, 1, _to_micros(fee.amount_minor, fee.currency))


def _usage_events(session: Session, deal: Deal, period: Period) -> list[UsageEvent]:
    return list(
        session.scalars(
            select(UsageEvent)
            .where(
                UsageEvent.deal_id == deal.id,
                UsageEvent.invoice_id.is_(None),
                UsageEvent.occurred_at >= period.since,
                UsageEvent.occurred_at < period.until,
            )
            .order_by(UsageEvent.id)
        )
    )


def _usage_lines(terms: Terms, events: Sequence[UsageEvent]) -> list[InvoiceLineDraft]:
    """One line per (kind, unit price): the deal's price, or the price a gateway quoted per request."""
    fee = terms.fee
    assert fee.price_micros is not None
    assert fee.currency is not None
    counts: dict[tuple[str, int], int] = {}
    for event in events:
        key = (event.kind, fee.price_micros if event.price_micros is None else event.price_micros)
        counts[key] = counts.get(key, 0) + event.quantity
    words = {UsageKind.CRAWL: ("request", "requests"), UsageKind.USE: ("reported use", "reported uses")}
    return [
        InvoiceLineDraft(
            f"{quantity:,} {words[UsageKind(kind)][quantity != 1]} at {format_micros(price)} {fee.currency}",
            quantity,
            price,
        )
        for (kind, price), quantity in sorted(counts.items())
        if price > 0
    ]


def _issue_usage(
    session: Session, *, deal: Deal, terms: Terms, period: Period, today: date
) -> Invoice | None:
    events = _usage_events(session, deal, period)
    lines = _usage_lines(terms, events)
    if not lines:
        return None
    invoice = _issue(
        session, deal=deal, terms=terms, charge=Charge.USAGE, period=period, lines=lines, today=today
    )
    for event in events:
        event.invoice_id = invoice.id
    session.flush()
    return invoice


def _due(deal: Deal, terms: Terms, billed: Mapping[date, DealInvoice], today: date) -> list[Period]:
    """Periods to invoice now that are not invoiced yet (metered ones: only once they have ended)."""
    model = FeeModel(terms.fee.model)
    if model is FeeModel.FLAT:
        periods = deal_periods(deal, terms, through=date.max)[:1]
    elif model is FeeModel.RECURRING:
        periods = deal_periods(deal, terms, through=today)
    elif model in _METERED:
        periods = [p for p in deal_periods(deal, terms, through=today) if p.end < today]
    else:
        return []  # royalty: the licensee's statement triggers it; attribution, free: nothing to bill
    return [period for period in periods if period.start not in billed]


def bill_deal(session: Session, deal: Deal | str, *, today: date | None = None) -> list[Invoice]:
    """Issue the deal's invoices that are due and not yet issued; safe to run any number of times."""
    today = today or utcnow().date()
    deal_id = deal if isinstance(deal, str) else deal.id
    found = session.get(Deal, deal_id)
    if found is None:
        raise UnknownDeal(f"no deal {deal_id}")
    if found.status not in BILLABLE_STATES or found.starts_at is None:
        return []
    terms = deal_terms(found)
    if not terms.fee.paid or not _due(found, terms, _billed(session, deal_id), today):
        return []
    locked = _lock_deal(session, deal_id)  # then look again: another tick may have billed it meanwhile
    issued: list[Invoice] = []
    for period in _due(locked, terms, _billed(session, deal_id), today):
        if terms.fee.model in _METERED:
            invoice = _issue_usage(session, deal=locked, terms=terms, period=period, today=today)
            if invoice is not None:
                issued.append(invoice)
        else:
            line = _fixed_line(locked, terms, period)
            charge = Charge.FLAT if terms.fee.model == FeeModel.FLAT else Charge.RECURRING
            issued.append(
                _issue(
                    session, deal=locked, terms=terms, charge=charge, period=period, lines=[line], today=today
                )
            )
    return issued


def bill_due(session: Session, *, today: date | None = None) -> list[Invoice]:
    """Every agreed deal's due invoices and the ended months' crawl charges (``fairtrain billing tick``,
    run daily from cron)."""
    today = today or utcnow().date()
    deal_ids = session.scalars(
        select(Deal.id)
        .where(Deal.status.in_(BILLABLE_STATES), Deal.accepted_at.is_not(None))
        .order_by(Deal.accepted_at, Deal.id)
    ).all()
    issued: list[Invoice] = []
    for deal_id in deal_ids:
        issued += bill_deal(session, deal_id, today=today)
    issued += bill_crawl_charges(session, today=today)
    return issued


# --- what licensees report --------------------------------------------------------------------------


def _check_licensee(session: Session, deal: Deal, by: User | None) -> None:
    """The licensee's own people (or an operator, or the command line, ``by`` None) report for a deal;
    anyone else is told there is no such deal."""
    if by is None or by.has_role(Role.OPERATOR):
        return
    if session.get(LicenseeMember, (deal.org_id, by.id)) is None:
        raise UnknownDeal(f"no deal {deal.id}")


def _ended(period: Period, today: date, what: str) -> None:
    if period.end >= today:
        raise NotBillable(
            f"{what} for {period} can be submitted from {period.end + timedelta(days=1)}, once it has ended"
        )


@dataclass(frozen=True)
class BillingResult:
    """A report or statement and the invoice it produced (None when it came to nothing)."""

    record_id: str
    invoice: Invoice | None


def _check_counts(counts: Mapping[str, int]) -> dict[str, int]:
    if len(counts) > _MAX_REPORT_LINES:
        raise InvalidInput(f"a report lists at most {_MAX_REPORT_LINES:,} works")
    clean: dict[str, int] = {}
    for asset_id, count in counts.items():
        if isinstance(count, bool) or not isinstance(count, int):
            raise InvalidInput(f"the count for {asset_id} must be a whole number, got {count!r}")
        if count < 0 or count > _MAX_COUNT:
            raise InvalidInput(f"the count for {asset_id} is negative or absurd: {count}")
        if count:
            clean[asset_id.strip()] = count
    return clean


def report_usage(
    session: Session,
    *,
    deal_id: str,
    period_start: date,
    period_end: date,
    counts: Mapping[str, int],
    idempotency_key: str,
    by: User | None = None,
    today: date | None = None,
) -> BillingResult:
    """A licensee's usage of each licensed work (asset id -> requests or uses) in one ended calendar month
    of a per-crawl or per-use deal: recorded, and invoiced at once with whatever the gateway metered."""
    today = today or utcnow().date()
    clean = _check_counts(counts)

    def run() -> dict[str, Any]:
        deal = _lock_deal(session, deal_id)
        _check_licensee(session, deal, by)
        terms = deal_terms(deal)
        if deal.starts_at is None or terms.fee.model not in _METERED:
            raise NotBillable(f"deal {deal.id} is billed {terms.fee.describe()}; it takes no usage reports")
        period = find_period(deal, terms, period_start, period_end)
        _ended(period, today, "usage")
        if period.start in _billed(session, deal.id):
            raise AlreadyBilled(f"the usage of deal {deal.id} for {period} has already been invoiced")
        licensed = set(session.scalars(select(DealAsset.asset_id).where(DealAsset.deal_id == deal.id)))
        strangers = sorted(set(clean) - licensed)
        if strangers:
            raise InvalidInput(
                f"deal {deal.id} does not license {', '.join(strangers[:5])}"
                + (f" and {len(strangers) - 5} more" if len(strangers) > 5 else "")
            )
        kind = UsageKind.CRAWL if terms.fee.model == FeeModel.PER_CRAWL else UsageKind.USE
        report = UsageReport(
            deal_id=deal.id,
            period_start=period.start,
            period_end=period.end,
            kind=kind.value,
            quantity=sum(clean.values()),
            reported_by=by.id if by else None,
        )
        session.add(report)
        session.flush()
        session.add_all(
            UsageEvent(
                deal_id=deal.id,
                asset_id=asset_id,
                kind=kind.value,
                quantity=count,
                bytes=0,
                occurred_at=period.since,
                report_id=report.id,
            )
            for asset_id, count in sorted(clean.items())
        )
        session.flush()
        invoice = _issue_usage(session, deal=deal, terms=terms, period=period, today=today)
        report.invoice_id = invoice.id if invoice else None
        session.flush()
        return {"record_id": report.id, "invoice_id": report.invoice_id}

    result = idempotent(
        session,
        key=idempotency_key,
        scope="billing.usage",
        fingerprint=fingerprint(
            deal=deal_id, start=period_start, end=period_end, counts=sorted(clean.items())
        ),
        fn=run,
    )
    return _result(session, result)


def submit_royalty_statement(
    session: Session,
    *,
    deal_id: str,
    period_start: date,
    period_end: date,
    revenue: int,
    idempotency_key: str,
    by: User | None = None,
    today: date | None = None,
) -> BillingResult:
    """A licensee's reported model revenue for one ended royalty period, in the deal's currency's minor
    units: invoiced as the royalty rate × revenue (rounded once, half away from zero) or the period's
    minimum guarantee, whichever is larger."""
    today = today or utcnow().date()
    if isinstance(revenue, bool) or not isinstance(revenue, int) or not 0 <= revenue <= MAX_MINOR_UNITS:
        raise InvalidInput(f"the reported revenue must be a non-negative amount, got {revenue!r}")

    def run() -> dict[str, Any]:
        deal = _lock_deal(session, deal_id)
        _check_licensee(session, deal, by)
        terms = deal_terms(deal)
        fee = terms.fee
        if deal.starts_at is None or fee.model != FeeModel.ROYALTY:
            raise NotBillable(f"deal {deal.id} is billed {fee.describe()}; it takes no royalty statements")
        assert fee.currency is not None
        assert fee.royalty_bp is not None
        assert fee.minimum_minor is not None
        period = find_period(deal, terms, period_start, period_end)
        _ended(period, today, "the royalty statement")
        if period.start in _billed(session, deal.id) or session.scalar(
            select(RoyaltyStatement.id).where(
                RoyaltyStatement.deal_id == deal.id, RoyaltyStatement.period_start == period.start
            )
        ):
            raise AlreadyBilled(f"deal {deal.id} already has its royalty statement for {period}")
        royalty = _round_half_up(Fraction(revenue * fee.royalty_bp, BASIS_POINTS))
        amount = max(royalty, fee.minimum_minor)
        statement = RoyaltyStatement(
            deal_id=deal.id,
            period_start=period.start,
            period_end=period.end,
            currency=fee.currency,
            revenue=revenue,
            royalty_bp=fee.royalty_bp,
            minimum=fee.minimum_minor,
            royalty=royalty,
            amount=amount,
            reported_by=by.id if by else None,
        )
        session.add(statement)
        session.flush()
        if amount > 0:
            rate = f"{fee.royalty_bp / 100:g} %"
            reported = format_amount(revenue, fee.currency)
            if royalty >= fee.minimum_minor:
                words = f"Royalty: {rate} of {reported} reported model revenue, {period}"
            else:
                words = (
                    f"Minimum guarantee for {period} (royalty of {rate} of {reported} reported "
                    f"model revenue: {format_amount(royalty, fee.currency)})"
                )
            line = InvoiceLineDraft(words, 1, _to_micros(amount, fee.currency))
            invoice = _issue(
                session,
                deal=deal,
                terms=terms,
                charge=Charge.ROYALTY,
                period=period,
                lines=[line],
                today=today,
            )
            statement.invoice_id = invoice.id
            session.flush()
        return {"record_id": statement.id, "invoice_id": statement.invoice_id}

    result = idempotent(
        session,
        key=idempotency_key,
        scope="billing.royalty",
        fingerprint=fingerprint(deal=deal_id, start=period_start, end=period_end, revenue=revenue),
        fn=run,
    )
    return _result(session, result)


def _round_half_up(value: Fraction) -> int:
    """Non-negative exact value to whole minor units, half away from zero (as invoice lines round)."""
    whole, rest = divmod(value.numerator, value.denominator)
    return whole + (1 if 2 * rest >= value.denominator else 0)


def _result(session: Session, result: Mapping[str, Any]) -> BillingResult:
    invoice_id = result.get("invoice_id")
    return BillingResult(result["record_id"], get_invoice(session, invoice_id) if invoice_id else None)


@dataclass(frozen=True)
class UsageEventDraft:
    """One metered access, as the gateway will append it."""

    deal_id: str
    asset_id: str
    kind: str
    occurred_at: datetime
    quantity: int = 1
    bytes: int = 0
    price_micros: int | None = None  # what was charged per unit, if a price was quoted
    client_id: str | None = None
    request_id: str | None = None  # the gateway request's id: unique, so a retried batch never counts twice


def record_usage_events(session: Session, events: Sequence[UsageEventDraft]) -> int:
    """Append metered usage (the gateway's batches); billed when the period's invoice is issued."""
    now = utcnow()
    rows: list[dict[str, object]] = []
    for event in events:
        UsageKind(event.kind)  # ValueError for an unknown kind: a programming error
        if event.occurred_at.tzinfo is None:
            raise InvalidInput("usage events carry timezone-aware times")
        for value, what in ((event.quantity, "quantity"), (event.bytes, "bytes")):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value > _MAX_COUNT:
                raise InvalidInput(f"a usage event's {what} must be a non-negative whole number")
        if event.quantity == 0:
            raise InvalidInput("a usage event counts at least one use")
        if event.price_micros is not None and event.price_micros < 0:
            raise InvalidInput("a usage event's price cannot be negative")
        rows.append(
            {
                "deal_id": event.deal_id,
                "client_id": event.client_id,
                "asset_id": event.asset_id,
                "kind": event.kind,
                "quantity": event.quantity,
                "bytes": event.bytes,
                "price_micros": event.price_micros,
                "occurred_at": event.occurred_at,
                "request_id": event.request_id,
                "created_at": now,
            }
        )
    if rows:
        # One multi-row INSERT, not one unit-of-work object per event: the gateway appends thousands a second.
        session.execute(insert(UsageEvent), rows)
    return len(rows)


# --- payments and distribution ----------------------------------------------------------------------


def payment_providers(settings: Settings) -> dict[str, PaymentProvider]:
    """The providers this server takes payments through, by name (only bank transfer ships)."""
    manual = ManualProvider(
        account_holder=(settings.bank_account_holder or "").strip(),
        iban=(settings.bank_iban or "").strip(),
        bic=(settings.bank_bic or "").strip(),
        bank_name=(settings.bank_name or "").strip(),
    )
    return {manual.name: manual}


@dataclass(frozen=True)
class PaymentResult:
    payment: Payment
    invoice: Invoice
    distribution: DistributionRun | None


def pay_invoice(
    session: Session,
    *,
    invoice_id: str,
    amount: int,
    provider: PaymentProvider,
    external_id: str,
    idempotency_key: str,
    fee_bp: int,
    fee: int = 0,
    received_at: datetime | None = None,
) -> PaymentResult:
    """Record money received for an invoice (an operator's "mark paid"); a deal invoice that is now paid
    is distributed in the same transaction."""
    payment = record_payment(
        session,
        invoice_id,
        amount=amount,
        fee=fee,
        provider=provider,
        external_id=external_id,
        idempotency_key=idempotency_key,
        received_at=received_at,
    )
    run = distribute_invoice(session, invoice_id, fee_bp=fee_bp)
    return PaymentResult(payment, get_invoice(session, invoice_id), run)


def receive_webhook(
    session: Session,
    *,
    provider: PaymentProvider,
    headers: Mapping[str, str],
    body: bytes,
    fee_bp: int,
) -> PaymentResult:
    """A payment provider's notice: verified by the provider, recorded once per event, distributed."""
    event = provider.parse_webhook(headers, body)
    payment = apply_payment_event(session, provider, event)
    run = distribute_invoice(session, payment.invoice_id, fee_bp=fee_bp)
    return PaymentResult(payment, get_invoice(session, payment.invoice_id), run)


@dataclass(frozen=True)
class DistributionInputs:
    """What a deal's pool for a period is split by: creator weights, each creator's payees and assets."""

    weights: dict[str, Fraction]
    splits: dict[str, dict[Payee, Fraction]]
    contributions: dict[str, dict[str, Fraction]]
    rule: str


def _usage_by_asset(session: Session, deal: Deal, period: Period) -> dict[str, int]:
    rows = session.execute(
        select(UsageEvent.asset_id, func.sum(UsageEvent.quantity))
        .where(
            UsageEvent.deal_id == deal.id,
            UsageEvent.occurred_at >= period.since,
            UsageEvent.occurred_at < period.until,
        )
        .group_by(UsageEvent.asset_id)
    )
    return {asset_id: int(total) for asset_id, total in rows if total}


def distribution_inputs(session: Session, deal: Deal, period: Period) -> DistributionInputs | None:
    """The deal's published rule applied to its frozen works and the usage metered in ``period``.

    ``items``: each work weighs one; ``usage``: each work its requests or uses in the period; ``mixed``: the
    rule's item-count share by items and the rest by usage (``mix_weights``). With no usage in the period,
    usage and mixed rules fall back on item counts (the run's rule says so). A creator's weight is the sum
    of their works'. None when a creator of the deal no longer exists (the pool then waits for an operator).
    """
    terms = deal_terms(deal)
    snapshot = list(deal.assets)
    if not snapshot:
        return None
    items: dict[str, Fraction] = {row.asset_id: Fraction(1) for row in snapshot}
    licensed = set(items)
    usage = {a: n for a, n in _usage_by_asset(session, deal, period).items() if a in licensed}
    weights_by_asset: dict[str, Fraction]
    if terms.distribution == "items":
        weights_by_asset, rule = items, "items"
    elif not usage:
        weights_by_asset, rule = items, f"{terms.distribution} (no usage metered in the period: by items)"
    elif terms.distribution == "usage":
        weights_by_asset, rule = {a: Fraction(n) for a, n in usage.items()}, "usage"
    else:
        items_bp = terms.distribution_items_bp or 0
        weights_by_asset = mix_weights(items, usage, Fraction(items_bp, BASIS_POINTS))
        rule = f"mixed: {items_bp / 100:g} % by items, {(BASIS_POINTS - items_bp) / 100:g} % by usage"
    contributions: dict[str, dict[str, Fraction]] = {}
    holders: dict[str, dict[Payee, int]] = {}
    for row in snapshot:
        if row.asset_id in weights_by_asset:
            contributions.setdefault(row.creator_id, {})[row.asset_id] = weights_by_asset[row.asset_id]
            holders[row.asset_id] = {}
    creators = set(contributions)
    named = {h.get("creator_id") for row in snapshot for h in row.rightsholders if h.get("creator_id")}
    existing = set(session.scalars(select(CreatorProfile.id).where(CreatorProfile.id.in_(creators | named))))
    if creators - existing:
        return None
    for row in snapshot:
        if row.asset_id not in holders:
            continue
        split = holders[row.asset_id]
        for holder in row.rightsholders or [{"creator_id": row.creator_id, "share_bp": BASIS_POINTS}]:
            creator_id, name = holder.get("creator_id"), str(holder.get("name") or "").strip()
            if creator_id in existing:
                payee = Payee.creator(creator_id)
            elif name:
                payee = Payee.outside(name)  # a creator who has left the platform is paid by name
            else:
                payee = Payee.creator(row.creator_id)
            split[payee] = split.get(payee, 0) + int(holder["share_bp"])
    return DistributionInputs(
        weights={creator: sum(assets.values(), Fraction(0)) for creator, assets in contributions.items()},
        splits={creator: payee_weights(assets, holders) for creator, assets in contributions.items()},
        contributions=contributions,
        rule=rule,
    )


def distribute_invoice(session: Session, invoice_id: str, *, fee_bp: int) -> DistributionRun | None:
    """Distribute the pool of a paid deal (or crawl) invoice, once: the run if there is (now) one, None
    while the pool cannot be distributed yet (another invoice of the period unpaid, a creator gone)."""
    invoice = get_invoice(session, invoice_id)
    if invoice.source_type == CRAWL_SOURCE:
        return distribute_crawl_invoice(session, invoice_id, fee_bp=fee_bp)
    if invoice.source_type != "deal" or invoice.status != InvoiceStatus.PAID:
        return None
    same_pool = (
        Invoice.source_type == invoice.source_type,
        Invoice.source_id == invoice.source_id,
        Invoice.period_start == invoice.period_start,
        Invoice.period_end == invoice.period_end,
        Invoice.currency == invoice.currency,
    )
    if invoice.distribution_id is not None:
        return session.get(DistributionRun, invoice.distribution_id)
    unpaid = session.scalar(
        select(func.count(Invoice.id)).where(*same_pool, Invoice.status == InvoiceStatus.ISSUED)
    )
    deal = session.get(Deal, invoice.source_id)
    if unpaid or deal is None:
        return None
    period = Period(invoice.period_start, invoice.period_end)
    inputs = distribution_inputs(session, deal, period)
    if inputs is None:
        return None
    code = pool_code("deal", deal.id, period.start, period.end)
    return run_distribution(
        session,
        source_type="deal",
        source_id=deal.id,
        period_start=period.start,
        period_end=period.end,
        currency=invoice.currency,
        fee_bp=fee_bp,
        weights=inputs.weights,
        splits=inputs.splits,
        contributions=inputs.contributions,
        rule=inputs.rule,
        idempotency_key=f"billing:{code}:{invoice.currency}",
    )


def distribute_settled(session: Session, *, fee_bp: int) -> list[DistributionRun]:
    """Distribute every paid deal or crawl invoice that is not yet (e.g. paid with ``fairtrain ledger
    pay``)."""
    ids = session.scalars(
        select(Invoice.id)
        .where(
            Invoice.source_type.in_(("deal", CRAWL_SOURCE)),
            Invoice.status == InvoiceStatus.PAID,
            Invoice.distribution_id.is_(None),
        )
        .order_by(Invoice.paid_at, Invoice.id)
    ).all()
    runs: dict[str, DistributionRun] = {}
    for invoice_id in ids:
        run = distribute_invoice(session, invoice_id, fee_bp=fee_bp)
        if run is not None:
            runs[run.id] = run
    return list(runs.values())


# --- who sees what ----------------------------------------------------------------------------------


def _visible(user: User, session: Session, status: str | None) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [Invoice.status != InvoiceStatus.DRAFT]
    if not user.has_role(Role.OPERATOR):
        where.append(Invoice.licensee_org_id.in_([org.id for org in orgs_of(session, user)]))
    if status is not None:
        if status not in {s.value for s in InvoiceStatus} - {InvoiceStatus.DRAFT.value}:
            raise InvalidInput(f"unknown invoice status {status!r}; use issued, paid or void")
        where.append(Invoice.status == status)
    return where


def visible_invoices(
    session: Session, user: User, *, status: str | None = None, limit: int = 100, offset: int = 0
) -> list[Invoice]:
    """Invoices newest first: an operator's are all issued ones; a licensee's those of their
    organisations. Drafts are the operator's work in progress and never listed."""
    statement = (
        select(Invoice)
        .where(*_visible(user, session, status))
        .order_by(Invoice.issued_at.desc(), Invoice.id)
        .limit(limit)
        .offset(offset)
    )
    return list(session.scalars(statement))


def count_visible_invoices(session: Session, user: User, *, status: str | None = None) -> int:
    return int(session.scalar(select(func.count(Invoice.id)).where(*_visible(user, session, status))) or 0)


def visible_invoice(session: Session, user: User, invoice_id: str) -> Invoice:
    """The invoice if ``user`` may see it; to anyone else it does not exist."""
    invoice = session.get(Invoice, invoice_id.strip())
    if invoice is None or invoice.status == InvoiceStatus.DRAFT:
        raise UnknownInvoice(f"no invoice {invoice_id}")
    member = session.get(LicenseeMember, (invoice.licensee_org_id, user.id))
    if user.has_role(Role.OPERATOR) or member is not None:
        return invoice
    raise UnknownInvoice(f"no invoice {invoice_id}")


def invoice_deal(session: Session, invoice: Invoice) -> Deal | None:
    return session.get(Deal, invoice.source_id) if invoice.source_type == "deal" else None


def deal_invoices(session: Session, deal_id: str) -> list[DealInvoice]:
    return list(
        session.scalars(
            select(DealInvoice).where(DealInvoice.deal_id == deal_id).order_by(DealInvoice.period_start)
        )
    )


def creator_currencies(session: Session, creator_id: str) -> list[str]:
    """Currencies the creator has earned or been owed in."""
    return sorted(
        set(session.scalars(select(Account.currency).where(Account.code == f"payable:{creator_id}")))
    )


def deal_titles(session: Session, deal_ids: Iterable[str]) -> dict[str, str]:
    """Each deal's offer title, for statements and invoice lists."""
    ids = set(deal_ids)
    if not ids:
        return {}
    return {deal.id: deal.offer.title for deal in session.scalars(select(Deal).where(Deal.id.in_(ids)))}


def source_titles(session: Session, sources: Iterable[tuple[str, str]]) -> dict[str, str]:
    """What each (source type, source id) of invoices and statements is called, by source id: a deal's
    offer title, ``Pay per crawl, <creator>`` for a creator's crawl income."""
    pairs = set(sources)
    titles = deal_titles(session, (source_id for kind, source_id in pairs if kind == "deal"))
    titles.update(crawl_titles(session, (source_id for kind, source_id in pairs if kind == CRAWL_SOURCE)))
    return titles


def licensee_deal(session: Session, user: User, deal_id: str) -> Deal:
    """A deal ``user`` reports for: their organisation's (any, for an operator); to others none exists."""
    deal = session.get(Deal, deal_id.strip())
    if deal is None:
        raise UnknownDeal(f"no deal {deal_id}")
    _check_licensee(session, deal, user)
    return deal


def deal_currency(deal: Deal) -> str:
    """The currency the deal is billed in."""
    fee = deal_terms(deal).fee
    if fee.currency is None:
        raise NotBillable(f"deal {deal.id} is billed {fee.describe()}: no money changes hands")
    return fee.currency


def count_payout_batches(session: Session) -> int:
    return int(session.scalar(select(func.count(PayoutBatch.id))) or 0)
