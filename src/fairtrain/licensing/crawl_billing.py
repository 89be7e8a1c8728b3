"""Pay-per-crawl billing: the gateway's charges become monthly invoices, a paid invoice is distributed.

The gateway writes one ``CrawlCharge`` for every successful paid crawl (STANDARDS §2), charged to the
organisation that registered the crawler (``licensing.crawlers``). Once a calendar month (UTC) has ended,
``bill_crawl_charges`` (run by ``billing.bill_due``, i.e. ``fairtrain billing tick``) issues one invoice per
(organisation, creator, currency) for that month:

- source ``crawl``, source id the creator's id, period the month: the ledger's pool of a creator's crawl
  income for a month, fed by the invoices of every organisation that crawled the creator's works;
- one line per price: ``quantity`` crawls × the price in micros, rounded once per line
  (``ledger.invoices.line_amount``: half away from zero), so 3 crawls at 0.01 and 1 at 0.015 USD come to
  0.03 + 0.02 = 0.05 USD;
- each charge notes the invoice that billed it, so a charge is billed once however often billing runs.

A charge that arrives after its month's pool has been distributed (a batch retried across midnight) is
billed in the next month whose pool is still open, its line saying when it was crawled. A month whose
charges round to nothing (under one minor unit) is not invoiced. Charges on an invoice that is voided stay
with it: they are written off, not billed again.

Once every invoice of a pool is paid, ``distribute_crawl_invoice`` splits it: the platform fee, then the
creator's net among each work's rightsholders as the catalogue records them at that moment, each work
weighing what was charged for it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.orm import Session

from fairtrain.accounts.models import CreatorProfile, LicenseeOrg
from fairtrain.catalog.models import Asset
from fairtrain.db.base import utcnow
from fairtrain.errors import InvalidInput
from fairtrain.ledger.distribution import BASIS_POINTS, Payee, asset_splits, payee_weights, run_distribution
from fairtrain.ledger.invoices import (
    DEFAULT_DUE_DAYS,
    InvoiceLineDraft,
    add_line,
    create_invoice,
    get_invoice,
    issue_invoice,
    pool_code,
)
from fairtrain.ledger.models import DistributionRun, Invoice, InvoiceStatus
from fairtrain.licensing.billing_models import CrawlCharge
from fairtrain.rights.policy import format_micros

__all__ = [
    "CRAWL_SOURCE",
    "MonthTotal",
    "bill_crawl_charges",
    "crawl_charges",
    "crawl_titles",
    "distribute_crawl_invoice",
    "month_words",
    "monthly_crawl_totals",
]

CRAWL_SOURCE = "crawl"
RULE = "pay per crawl: each work by what was charged for it"
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


# --- months --------------------------------------------------------------------------------------------


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def _next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def _month_of(moment: datetime) -> date:
    return moment.astimezone(UTC).date().replace(day=1)


def _month_end(month: date) -> date:
    return _next_month(month) - timedelta(days=1)


def month_words(month: date) -> str:
    """``2026-01-01`` -> ``January 2026`` (the same in every locale)."""
    return f"{_MONTHS[month.month - 1]} {month.year}"


def _aware(moment: datetime) -> datetime:
    # SQLite gives back naive datetimes; they are UTC (DESIGN: time is timezone-aware UTC).
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# --- billing -------------------------------------------------------------------------------------------


def _lock_org(session: Session, org_id: str) -> None:
    """Serialise crawl billing per organisation until commit, as ``billing._lock_deal`` does per deal: an
    UPDATE that changes nothing takes the row lock on PostgreSQL and the write lock on SQLite before
    anything is read. It does not block the gateway, whose inserts only take a key-share lock on the row."""
    session.execute(
        update(LicenseeOrg)
        .where(LicenseeOrg.id == org_id)
        .values(created_at=LicenseeOrg.created_at)
        .execution_options(synchronize_session=False)
    )


def _unbilled(org_id: str, cutoff: datetime) -> tuple[ColumnElement[bool], ...]:
    return (
        CrawlCharge.org_id == org_id,
        CrawlCharge.invoice_id.is_(None),
        CrawlCharge.occurred_at < cutoff,
    )


def _distributed(session: Session, creator_id: str, month: date, currency: str) -> bool:
    found = session.scalar(
        select(DistributionRun.id).where(
            DistributionRun.source_type == CRAWL_SOURCE,
            DistributionRun.source_id == creator_id,
            DistributionRun.period_start == month,
            DistributionRun.period_end == _month_end(month),
            DistributionRun.currency == currency,
        )
    )
    return found is not None


def _open_month(session: Session, creator_id: str, month: date, currency: str, current: date) -> date | None:
    """The month to bill ``month``'s charges in: itself, or, once its pool has been distributed, the
    first later ended month whose pool is still open (None: none has ended yet)."""
    while month < current:
        if not _distributed(session, creator_id, month, currency):
            return month
        month = _next_month(month)
    return None


def _creator_name(session: Session, creator_id: str) -> str:
    creator = session.get(CreatorProfile, creator_id)
    return creator.display_name if creator is not None else creator_id


def _bill_group(
    session: Session,
    *,
    org_id: str,
    creator_id: str,
    currency: str,
    crawled: date,
    current: date,
    today: date,
) -> Invoice | None:
    """Invoice the org's unbilled charges for the creator's works crawled in month ``crawled``."""
    period = _open_month(session, creator_id, crawled, currency, current)
    if period is None:
        return None
    invoice = create_invoice(
        session,
        licensee_org_id=org_id,
        currency=currency,
        source_type=CRAWL_SOURCE,
        source_id=creator_id,
        period_start=period,
        period_end=_month_end(period),
        memo=f"Pay per crawl, {_creator_name(session, creator_id)}, {month_words(period)}",
    )
    # Claim the charges first and price what was claimed: a charge the gateway adds meanwhile is either
    # on this invoice or left for the next run, never marked billed without being billed.
    session.execute(
        update(CrawlCharge)
        .where(
            *_unbilled(org_id, _midnight(_next_month(crawled))),
            CrawlCharge.occurred_at >= _midnight(crawled),
            CrawlCharge.creator_id == creator_id,
            CrawlCharge.currency == currency,
        )
        .values(invoice_id=invoice.id)
        .execution_options(synchronize_session=False)
    )
    prices = session.execute(
        select(CrawlCharge.price_micros, func.count(CrawlCharge.id))
        .where(CrawlCharge.invoice_id == invoice.id)
        .group_by(CrawlCharge.price_micros)
        .order_by(CrawlCharge.price_micros)
    ).all()
    late = "" if period == crawled else f", crawled in {month_words(crawled)}"
    for price, count in prices:
        if price > 0:
            words = "crawl" if count == 1 else "crawls"
            description = f"{count:,} {words} at {format_micros(price)} {currency}{late}"
            add_line(session, invoice, InvoiceLineDraft(description, int(count), int(price)))
    session.flush()
    if invoice.total <= 0:
        # Less than one minor unit in the month: nothing to invoice; the charges wait, unbilled.
        session.execute(
            update(CrawlCharge)
            .where(CrawlCharge.invoice_id == invoice.id)
            .values(invoice_id=None)
            .execution_options(synchronize_session=False)
        )
        session.delete(invoice)
        session.flush()
        return None
    return issue_invoice(
        session,
        invoice,
        idempotency_key=f"crawl-billing:{invoice.id}",
        due_on=today + timedelta(days=DEFAULT_DUE_DAYS),
    )


def _bill_org(session: Session, org_id: str, *, current: date, today: date) -> list[Invoice]:
    _lock_org(session, org_id)  # then read: another run may have billed it meanwhile
    cutoff = _midnight(current)
    issued: list[Invoice] = []
    first = session.scalar(select(func.min(CrawlCharge.occurred_at)).where(*_unbilled(org_id, cutoff)))
    while first is not None:
        month = _month_of(_aware(first))
        following = _midnight(_next_month(month))
        groups = session.execute(
            select(CrawlCharge.creator_id, CrawlCharge.currency)
            .where(*_unbilled(org_id, following), CrawlCharge.occurred_at >= _midnight(month))
            .group_by(CrawlCharge.creator_id, CrawlCharge.currency)
            .order_by(CrawlCharge.creator_id, CrawlCharge.currency)
        ).all()
        for creator_id, currency in groups:
            invoice = _bill_group(
                session,
                org_id=org_id,
                creator_id=creator_id,
                currency=currency,
                crawled=month,
                current=current,
                today=today,
            )
            if invoice is not None:
                issued.append(invoice)
        first = session.scalar(
            select(func.min(CrawlCharge.occurred_at)).where(
                *_unbilled(org_id, cutoff), CrawlCharge.occurred_at >= following
            )
        )
    return issued


def bill_crawl_charges(session: Session, *, today: date | None = None) -> list[Invoice]:
    """Invoice every ended month's unbilled crawl charges: one invoice per (organisation, creator,
    currency) and month, issued at once. Safe to run any number of times, also concurrently."""
    today = today or utcnow().date()
    current = today.replace(day=1)
    org_ids = session.scalars(
        select(CrawlCharge.org_id)
        .where(CrawlCharge.invoice_id.is_(None), CrawlCharge.occurred_at < _midnight(current))
        .group_by(CrawlCharge.org_id)
        .order_by(CrawlCharge.org_id)
    ).all()
    issued: list[Invoice] = []
    for org_id in org_ids:
        issued += _bill_org(session, org_id, current=current, today=today)
    return issued


# --- distribution --------------------------------------------------------------------------------------


def _pool(invoice: Invoice) -> tuple[ColumnElement[bool], ...]:
    return (
        Invoice.source_type == invoice.source_type,
        Invoice.source_id == invoice.source_id,
        Invoice.period_start == invoice.period_start,
        Invoice.period_end == invoice.period_end,
        Invoice.currency == invoice.currency,
    )


def distribute_crawl_invoice(session: Session, invoice_id: str, *, fee_bp: int) -> DistributionRun | None:
    """Distribute the pool of a paid crawl invoice, once: the run if there is (now) one; None while the
    pool cannot be distributed yet (another organisation's invoice for the month unpaid, the creator
    gone) or the invoice is not a paid crawl invoice.

    Each work weighs what was charged for it in the pool's invoices; its share goes to its rightsholders as
    the catalogue records them now (a work deleted since goes to the creator alone).
    """
    invoice = get_invoice(session, invoice_id)
    if invoice.source_type != CRAWL_SOURCE or invoice.status != InvoiceStatus.PAID:
        return None
    if invoice.distribution_id is not None:
        return session.get(DistributionRun, invoice.distribution_id)
    unpaid = session.scalar(
        select(func.count(Invoice.id)).where(*_pool(invoice), Invoice.status == InvoiceStatus.ISSUED)
    )
    creator_id = invoice.source_id
    if unpaid or session.get(CreatorProfile, creator_id) is None:
        return None
    paid = select(Invoice.id).where(*_pool(invoice), Invoice.status == InvoiceStatus.PAID)
    charged = {
        asset_id: Fraction(int(total))
        for asset_id, total in session.execute(
            select(CrawlCharge.asset_id, func.sum(CrawlCharge.price_micros))
            .where(CrawlCharge.invoice_id.in_(paid))
            .group_by(CrawlCharge.asset_id)
        )
        if total
    }
    if not charged:
        return None  # an invoice made by hand with source "crawl": an operator distributes it
    existing = set(session.scalars(select(Asset.id).where(Asset.id.in_(charged))))
    holders: dict[str, dict[Payee, int]] = {
        asset_id: {Payee.creator(creator_id): BASIS_POINTS}
        for asset_id in charged
        if asset_id not in existing
    }
    holders.update(asset_splits(session, existing))
    code = pool_code(CRAWL_SOURCE, creator_id, invoice.period_start, invoice.period_end)
    return run_distribution(
        session,
        source_type=CRAWL_SOURCE,
        source_id=creator_id,
        period_start=invoice.period_start,
        period_end=invoice.period_end,
        currency=invoice.currency,
        fee_bp=fee_bp,
        weights={creator_id: 1},
        splits={creator_id: payee_weights(charged, holders)},
        contributions={creator_id: charged},
        rule=RULE,
        idempotency_key=f"crawl-billing:{code}:{invoice.currency}",
    )


# --- what licensees and pages read ---------------------------------------------------------------------


def crawl_titles(session: Session, creator_ids: Iterable[str]) -> dict[str, str]:
    """What a crawl pool is called on invoices and statements, by creator id: ``Pay per crawl, Mira``."""
    ids = set(creator_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(CreatorProfile.id, CreatorProfile.display_name).where(CreatorProfile.id.in_(ids))
    )
    names: dict[str, str] = {row.id: row.display_name for row in rows}
    return {creator_id: f"Pay per crawl, {names.get(creator_id, creator_id)}" for creator_id in ids}


def _window(org_id: str, since: datetime | None, until: datetime | None) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [CrawlCharge.org_id == org_id]
    if since is not None:
        where.append(CrawlCharge.occurred_at >= since)
    if until is not None:
        where.append(CrawlCharge.occurred_at < until)
    return where


def crawl_charges(
    session: Session,
    org_id: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[CrawlCharge], int]:
    """The organisation's charges from ``since`` (inclusive) to ``until`` (exclusive), newest first, and
    how many there are in all."""
    for moment in (since, until):
        if moment is not None and moment.tzinfo is None:
            raise InvalidInput("give times with a timezone (UTC: a trailing Z)")
    if since is not None and until is not None and until < since:
        raise InvalidInput(
            f"the window ends ({until:%Y-%m-%d %H:%M}) before it starts ({since:%Y-%m-%d %H:%M})"
        )
    where = _window(org_id, since, until)
    total = int(session.scalar(select(func.count(CrawlCharge.id)).where(*where)) or 0)
    rows = session.scalars(
        select(CrawlCharge)
        .where(*where)
        .order_by(CrawlCharge.occurred_at.desc(), CrawlCharge.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return list(rows), total


@dataclass(frozen=True)
class MonthTotal:
    """One month's crawl charges of an organisation in one currency."""

    month: date
    currency: str
    count: int
    total_micros: int

    @property
    def words(self) -> str:
        return month_words(self.month)

    @property
    def total(self) -> str:
        return f"{format_micros(self.total_micros)} {self.currency}"


def monthly_crawl_totals(
    session: Session, org_id: str, *, months: int = 12, today: date | None = None
) -> list[MonthTotal]:
    """Count and sum of the organisation's charges per month and currency, the last ``months`` months
    (this one included), newest first; months without charges are left out. One indexed query a month."""
    month = (today or utcnow().date()).replace(day=1)
    totals: list[MonthTotal] = []
    for _ in range(months):
        rows = session.execute(
            select(CrawlCharge.currency, func.count(CrawlCharge.id), func.sum(CrawlCharge.price_micros))
            .where(*_window(org_id, _midnight(month), _midnight(_next_month(month))))
            .group_by(CrawlCharge.currency)
            .order_by(CrawlCharge.currency)
        ).all()
        totals += [MonthTotal(month, currency, int(n), int(s or 0)) for currency, n, s in rows]
        month = (month - timedelta(days=1)).replace(day=1)
    return totals
