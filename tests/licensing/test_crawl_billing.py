"""Pay-per-crawl billing: the gateway's charges -> monthly invoices -> payment -> distribution -> statements.

Charges are written straight into ``billing_crawl_charges``, as the gateway writes them.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from tests.licensing.helpers import World, race

from fairtrain.accounts.models import LicenseeOrg
from fairtrain.catalog import service as catalog
from fairtrain.db.engine import make_engine, make_sessionmaker
from fairtrain.ledger.distribution import Payee
from fairtrain.ledger.invoices import line_amount
from fairtrain.ledger.journal import check_integrity, owed, trial_balance
from fairtrain.ledger.models import Account, DistributionRun, Invoice
from fairtrain.ledger.payments import ManualProvider, record_payment
from fairtrain.ledger.statements import creator_statement
from fairtrain.licensing.billing import bill_due, distribute_settled, pay_invoice, source_titles
from fairtrain.licensing.billing_models import CrawlCharge
from fairtrain.licensing.crawl_billing import (
    bill_crawl_charges,
    crawl_charges,
    distribute_crawl_invoice,
    monthly_crawl_totals,
)
from fairtrain.licensing.crawlers import register_crawler

FEE_BP = 1_500
MANUAL = ManualProvider()
CENT = 10_000  # micros
_requests = itertools.count(1)


@pytest.fixture(autouse=True)
def books_balance(request: pytest.FixtureRequest) -> Iterator[None]:
    """After every test: the books are intact and balance to zero per currency."""
    url: str = request.getfixturevalue("database_url")
    yield
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as session:
            problems = check_integrity(session)
            totals = trial_balance(session).totals
    finally:
        engine.dispose()
    assert problems == []
    assert all(total == 0 for total in totals.values()), totals


def charge(
    db: Session,
    org: LicenseeOrg,
    asset_id: str,
    creator_id: str,
    price_micros: int,
    at: datetime,
    *,
    currency: str = "USD",
    crawler: str = "gptbot",
) -> CrawlCharge:
    """One charge as the gateway writes it."""
    row = CrawlCharge(
        request_id=f"req-{next(_requests)}",
        org_id=org.id,
        crawler=crawler,
        creator_id=creator_id,
        asset_id=asset_id,
        path=f"/works/{asset_id}",
        price_micros=price_micros,
        currency=currency,
        bytes=1000,
        occurred_at=at,
    )
    db.add(row)
    db.flush()
    return row


def jan(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 1, day, hour, tzinfo=UTC)


def pay(db: Session, invoice: Invoice) -> Invoice:
    result = pay_invoice(
        db,
        invoice_id=invoice.id,
        amount=invoice.balance_due,
        provider=MANUAL,
        external_id=f"TRX-{invoice.id}",
        idempotency_key=f"pay-{invoice.id}",
        fee_bp=FEE_BP,
    )
    db.commit()
    return result.invoice


def payable(db: Session, code: str, currency: str = "USD") -> int:
    account = db.scalar(select(Account).where(Account.code == code, Account.currency == currency))
    return 0 if account is None else owed(db, account)


def unbilled(db: Session) -> int:
    return len(db.scalars(select(CrawlCharge).where(CrawlCharge.invoice_id.is_(None))).all())


def test_a_month_is_billed_per_org_creator_and_currency(db: Session, world: World) -> None:
    mira, ola = world.mira.id, world.ola.id
    photo, other = world.photos[0].id, world.photos[1].id
    for day in (3, 4, 5):
        charge(db, world.org, photo, mira, CENT, jan(day))  # three at USD 0.01
    charge(db, world.org, other, mira, 15_000, jan(31, 23))  # one at USD 0.015, the month's last hour
    charge(db, world.org, world.ola_assets[0].id, ola, 20_000, jan(7))
    charge(db, world.org, photo, mira, 5_000, jan(8), currency="EUR")
    charge(db, world.other_org, photo, mira, CENT, jan(9))
    charge(db, world.org, photo, mira, CENT, datetime(2026, 2, 1, 0, tzinfo=UTC))  # this month: waits
    db.commit()

    issued = bill_crawl_charges(db, today=date(2026, 2, 10))
    db.commit()
    by_key = {(i.licensee_org_id, i.source_id, i.currency): i for i in issued}
    assert len(issued) == 4
    assert set(by_key) == {
        (world.org.id, mira, "USD"),
        (world.org.id, mira, "EUR"),
        (world.org.id, ola, "USD"),
        (world.other_org.id, mira, "USD"),
    }
    invoice = by_key[(world.org.id, mira, "USD")]
    assert (invoice.status, invoice.source_type) == ("issued", "crawl")
    assert (invoice.period_start, invoice.period_end) == (date(2026, 1, 1), date(2026, 1, 31))
    assert invoice.memo == "Pay per crawl, Mira, January 2026"
    assert invoice.due_on == date(2026, 3, 12)
    # One line per price, each rounded once (half away from zero): 3 × 0.01 = 0.03, 1 × 0.015 = 0.02.
    assert [
        (line.description, line.quantity, line.unit_price_micros, line.amount) for line in invoice.lines
    ] == [
        ("3 crawls at 0.01 USD", 3, 10_000, 3),
        ("1 crawl at 0.015 USD", 1, 15_000, 2),
    ]
    assert invoice.total == line_amount(3, CENT, "USD") + line_amount(1, 15_000, "USD") == 5
    assert by_key[(world.org.id, mira, "EUR")].total == 1  # EUR 0.005 rounds up to a cent
    assert by_key[(world.org.id, ola, "USD")].memo == "Pay per crawl, Ola, January 2026"
    marked = db.scalars(select(CrawlCharge).where(CrawlCharge.invoice_id == invoice.id)).all()
    assert len(marked) == 4

    # Idempotent: nothing new, however often it runs; this month's charge waits for the month to end.
    assert bill_crawl_charges(db, today=date(2026, 2, 11)) == []
    assert bill_due(db, today=date(2026, 2, 28)) == []
    assert unbilled(db) == 1
    [february] = bill_due(db, today=date(2026, 3, 1))
    db.commit()
    assert (february.period_start, february.period_end, february.total) == (
        date(2026, 2, 1),
        date(2026, 2, 28),
        1,
    )
    assert unbilled(db) == 0
    assert source_titles(db, [("crawl", mira), ("crawl", ola)]) == {
        mira: "Pay per crawl, Mira",
        ola: "Pay per crawl, Ola",
    }
    for row in db.scalars(select(Invoice).where(Invoice.status == "issued")).all():
        pay(db, row)


def test_paid_pool_is_distributed_by_what_each_work_was_charged(db: Session, world: World) -> None:
    """Mira's first photo is a quarter Jo Park's; a charged work deleted since goes to Mira alone."""
    catalog.set_rightsholders(
        db, asset=world.photos[0], holders=[("Mira Jensen", 7_500, world.mira.id), ("Jo Park", 2_500, None)]
    )
    mira = world.mira.id
    for day in (2, 3, 4):
        charge(db, world.org, world.photos[0].id, mira, 10_000_000, jan(day))  # USD 10.00 each
    charge(db, world.org, world.photos[1].id, mira, 10_000_000, jan(5))
    charge(db, world.org, "ast_deleted0000000000", mira, 10_000_000, jan(6))
    db.commit()
    [invoice] = bill_due(db, today=date(2026, 2, 1))
    db.commit()
    assert invoice.total == 5_000

    paid = pay(db, invoice)
    assert paid.status == "paid" and paid.distribution_id is not None
    run = db.get(DistributionRun, paid.distribution_id)
    assert run is not None
    assert (run.source_type, run.source_id, run.pool_amount, run.fee_amount) == ("crawl", mira, 5_000, 750)
    # Net 42.50: Mira 3/5 × 3/4 + 1/5 + 1/5 = 17/20 of it, Jo Park 3/20; the tied half cent goes to the
    # larger share (largest remainder).
    assert payable(db, f"payable:{mira}") == 3_613
    assert payable(db, Payee.outside("Jo Park").account_code) == 637
    assert payable(db, "platform:revenue") == 750
    assert distribute_crawl_invoice(db, invoice.id, fee_bp=0) is run  # once
    assert distribute_settled(db, fee_bp=FEE_BP) == []

    today = datetime.now(UTC).date()
    statement = creator_statement(db, mira, currency="USD", period_start=today, period_end=today)
    [source] = statement.sources
    assert (source.source_type, source.source_id, source.source_period) == (
        "crawl",
        mira,
        "2026-01-01/2026-01-31",
    )
    assert (source.gross, source.fee, source.to_co_holders, source.credited) == (5_000, 750, 637, 3_613)
    assert sorted((a.asset_id, a.amount) for a in source.assets) == sorted(
        [(world.photos[0].id, 3_000), (world.photos[1].id, 1_000), ("ast_deleted0000000000", 1_000)]
    )


def test_a_pool_of_two_organisations_waits_for_both(db: Session, world: World) -> None:
    mira = world.mira.id
    charge(db, world.org, world.photos[0].id, mira, 1_000_000, jan(10))
    charge(db, world.other_org, world.photos[1].id, mira, 3_000_000, jan(11))
    db.commit()
    first, second = sorted(bill_due(db, today=date(2026, 2, 2)), key=lambda i: i.total)
    db.commit()
    assert (first.licensee_org_id, first.total, second.licensee_org_id, second.total) == (
        world.org.id,
        100,
        world.other_org.id,
        300,
    )
    assert pay(db, first).distribution_id is None  # Other AI has not paid for the month yet
    assert payable(db, f"payable:{mira}") == 0
    paid = pay(db, second)
    assert paid.distribution_id is not None
    db.refresh(first)
    assert first.distribution_id == paid.distribution_id
    assert payable(db, f"payable:{mira}") == 400 - 400 * FEE_BP // 10_000


def test_payments_recorded_elsewhere_are_distributed_by_the_sweep(db: Session, world: World) -> None:
    charge(db, world.org, world.photos[0].id, world.mira.id, 2_000_000, jan(20))
    db.commit()
    [invoice] = bill_due(db, today=date(2026, 2, 1))
    record_payment(db, invoice, amount=200, provider=MANUAL, external_id="T-1", idempotency_key="k-1")
    db.commit()
    [run] = distribute_settled(db, fee_bp=FEE_BP)
    db.commit()
    assert (run.source_type, run.pool_amount) == ("crawl", 200)
    assert payable(db, f"payable:{world.mira.id}") == 170


def test_a_late_charge_goes_to_the_next_open_month(db: Session, world: World) -> None:
    mira = world.mira.id
    charge(db, world.org, world.photos[0].id, mira, 1_000_000, jan(10))
    db.commit()
    [january] = bill_due(db, today=date(2026, 2, 1))
    db.commit()
    pay(db, january)  # January's pool is distributed
    # A retried batch delivers one more January charge afterwards.
    charge(db, world.org, world.photos[1].id, mira, 2_000_000, jan(31, 23))
    db.commit()
    assert bill_due(db, today=date(2026, 2, 15)) == []  # February has not ended: it waits
    [late] = bill_due(db, today=date(2026, 3, 1))
    db.commit()
    assert (late.period_start, late.total) == (date(2026, 2, 1), 200)
    assert [line.description for line in late.lines] == ["1 crawl at 2.00 USD, crawled in January 2026"]
    assert late.memo == "Pay per crawl, Mira, February 2026"
    pay(db, late)
    assert payable(db, f"payable:{mira}") == 85 + 170


def test_less_than_a_cent_in_a_month_is_not_invoiced(db: Session, world: World) -> None:
    charge(db, world.org, world.photos[0].id, world.mira.id, 4_000, jan(10))  # USD 0.004
    db.commit()
    assert bill_due(db, today=date(2026, 2, 1)) == []
    db.commit()
    assert unbilled(db) == 1
    assert db.scalars(select(Invoice)).all() == []


def test_concurrent_runs_bill_a_month_once(
    db: Session, db_factory: sessionmaker[Session], world: World
) -> None:
    """Billing runs on their own connections race over the same charges: they are invoiced once (on
    SQLite a run that loses the race for the writer lock fails and is simply run again)."""
    for day in range(1, 11):
        charge(db, world.org, world.photos[day % 3].id, world.mira.id, CENT, jan(day))
    db.commit()
    outcomes = race(db_factory, lambda session: bill_crawl_charges(session, today=date(2026, 2, 3)))
    assert outcomes.count("issued 1") == 1, outcomes
    assert all(outcome in ("issued 0", "issued 1", "retry") for outcome in outcomes), outcomes
    db.expire_all()
    [invoice] = db.scalars(select(Invoice)).all()
    assert invoice.total == 10
    assert unbilled(db) == 0
    pay(db, invoice)


def test_what_a_licensee_reads(db: Session, world: World) -> None:
    register_crawler(db, org=world.org, agent="gptbot")
    for day in (1, 2, 3):
        charge(db, world.org, world.photos[0].id, world.mira.id, 15_000, jan(day))
    charge(db, world.org, world.photos[0].id, world.mira.id, CENT, datetime(2026, 2, 2, tzinfo=UTC))
    charge(db, world.org, world.photos[0].id, world.mira.id, 20_000, jan(4), currency="EUR")
    charge(db, world.other_org, world.photos[0].id, world.mira.id, CENT, jan(5))
    db.commit()
    rows, total = crawl_charges(db, world.org.id, limit=2)
    assert total == 5 and len(rows) == 2
    assert rows[0].occurred_at.replace(tzinfo=UTC) == datetime(2026, 2, 2, tzinfo=UTC)  # newest first
    january, n = crawl_charges(
        db, world.org.id, since=datetime(2026, 1, 1, tzinfo=UTC), until=datetime(2026, 2, 1, tzinfo=UTC)
    )
    assert n == 4 and len(january) == 4
    later, n = crawl_charges(db, world.org.id, since=jan(3), offset=1)
    assert n == 3 and len(later) == 2
    totals = monthly_crawl_totals(db, world.org.id, today=date(2026, 2, 20))
    assert [(t.words, t.currency, t.count, t.total) for t in totals] == [
        ("February 2026", "USD", 1, "0.01 USD"),
        ("January 2026", "EUR", 1, "0.02 EUR"),
        ("January 2026", "USD", 3, "0.045 USD"),
    ]
    assert monthly_crawl_totals(db, world.org.id, today=date(2027, 6, 1)) == []
