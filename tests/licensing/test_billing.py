"""Billing: deal terms -> invoices -> payments -> distribution runs -> statements and payouts.

Every test ends with the books balanced (``books_balance``, also used by the web tests).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime
from fractions import Fraction
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from tests.licensing.helpers import World, race, terms
from typer.testing import CliRunner

from fairtrain.catalog import service as catalog
from fairtrain.db.engine import make_engine, make_sessionmaker
from fairtrain.errors import InvalidInput
from fairtrain.ledger.distribution import Payee, plan_distribution
from fairtrain.ledger.errors import (
    IdempotencyKeyReused,
    InvoiceNotPayable,
    MissingIdempotencyKey,
    UnknownInvoice,
)
from fairtrain.ledger.journal import check_integrity, owed, trial_balance
from fairtrain.ledger.models import Account, DistributionRun, Invoice, InvoiceStatus
from fairtrain.ledger.payments import ManualProvider, PaymentEvent, PaymentInstructions
from fairtrain.ledger.payouts import create_payout_batch
from fairtrain.ledger.statements import creator_statement
from fairtrain.licensing.billing import (
    AlreadyBilled,
    NotBillable,
    Period,
    UsageEventDraft,
    bill_deal,
    bill_due,
    deal_periods,
    distribute_invoice,
    distribute_settled,
    pay_invoice,
    receive_webhook,
    record_usage_events,
    report_usage,
    submit_royalty_statement,
    visible_invoice,
    visible_invoices,
)
from fairtrain.licensing.billing_cli import billing_app
from fairtrain.licensing.billing_models import DealInvoice, RoyaltyStatement, UsageEvent
from fairtrain.licensing.deals import Side, accept, deal_terms, request_deal, terminate
from fairtrain.licensing.errors import UnknownDeal
from fairtrain.licensing.models import Deal
from fairtrain.licensing.offers import create_offer
from fairtrain.licensing.selection import Selection
from fairtrain.licensing.terms import Fee

FEE_BP = 1_500
ACCEPTED = datetime(2026, 1, 15, 9, 30, tzinfo=UTC)
MANUAL = ManualProvider()


@pytest.fixture(autouse=True)
def books_balance(request: pytest.FixtureRequest) -> Iterator[None]:
    """After every test that touched a database: the trial balance is zero per currency."""
    if "database_url" not in request.fixturenames:
        yield
        return
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
    assert all(total == 0 for total in totals.values()), f"trial balance does not sum to zero: {totals}"


# --- setting deals up ---------------------------------------------------------------------------------


def co_own(db: Session, world: World) -> None:
    """Mira's first photo is co-owned by an outside photographer, Jo Park, for a quarter."""
    catalog.set_rightsholders(
        db, asset=world.photos[0], holders=[("Mira Jensen", 7_500, world.mira.id), ("Jo Park", 2_500, None)]
    )


def guild_deal(db: Session, world: World, *, now: datetime = ACCEPTED, **changes: object) -> Deal:
    """An accepted deal of Acme AI on the guild's whole catalogue (Mira 5 works, Ola 2), USD 1,000.00 once
    unless told otherwise."""
    changes.setdefault("fee", Fee("flat", currency="USD", amount_minor=100_000))
    offer = create_offer(
        db,
        seller=world.guild,
        title="Guild pool",
        terms=terms(**changes),
        selection=Selection(all=True),
        now=now,
    )
    deal = request_deal(db, offer_version=offer.current, org=world.org, by=world.buyer, now=now)
    accept(db, deal=deal, side=Side.SELLER, now=now)
    db.commit()
    return deal


def pay(db: Session, invoice: Invoice, key: str | None = None, amount: int | None = None) -> Invoice:
    result = pay_invoice(
        db,
        invoice_id=invoice.id,
        amount=invoice.balance_due if amount is None else amount,
        provider=MANUAL,
        external_id=f"TRX-{invoice.id}",
        idempotency_key=key or f"pay-{invoice.id}",
        fee_bp=FEE_BP,
    )
    db.commit()
    return result.invoice


def payable(db: Session, code: str, currency: str = "USD") -> int:
    account = db.scalar(select(Account).where(Account.code == code, Account.currency == currency))
    return 0 if account is None else owed(db, account)


def jo() -> str:
    return Payee.outside("Jo Park").account_code


# --- flat fee, end to end -----------------------------------------------------------------------------


def test_flat_deal_invoice_payment_distribution_statement_payout(db: Session, world: World) -> None:
    co_own(db, world)
    deal = guild_deal(db, world)
    assert deal.status == "active"

    [invoice] = bill_due(db, today=date(2026, 1, 16))
    db.commit()
    assert bill_due(db, today=date(2026, 1, 17)) == []  # billed once
    assert (invoice.status, invoice.total, invoice.currency) == ("issued", 100_000, "USD")
    assert (invoice.source_type, invoice.source_id) == ("deal", deal.id)
    assert (invoice.period_start, invoice.period_end) == (date(2026, 1, 15), date(2026, 1, 15))
    assert invoice.due_on == date(2026, 2, 15)  # the terms' 30 days
    assert [line.description for line in invoice.lines] == ["Licence fee, one-off: Guild pool"]
    assert invoice.licensee_org_id == world.org.id

    paid = pay(db, invoice)
    assert paid.status == "paid"
    run = db.get(DistributionRun, paid.distribution_id)
    assert run is not None and run.rule == "items" and run.fee_bp == FEE_BP
    # 1,000.00 by item count, Mira 5 : Ola 2 in one largest-remainder step: 714.285… / 285.714…, the cent
    # left over to Mira. Fee 15 % rounded down per creator; Jo Park gets a quarter of one of Mira's five
    # works: 1/20 of her net, by largest remainder again.
    shares = {share.creator_id: (share.gross, share.fee, share.net) for share in run.shares}
    assert shares == {world.mira.id: (71_429, 10_714, 60_715), world.ola.id: (28_571, 4_285, 24_286)}
    assert run.fee_amount == 14_999
    assert payable(db, f"payable:{world.mira.id}") == 57_679
    assert payable(db, jo()) == 3_036
    assert payable(db, f"payable:{world.ola.id}") == 24_286
    assert payable(db, "platform:revenue") == 14_999
    assert 57_679 + 3_036 + 24_286 + 14_999 == 100_000

    # Reproducible: the stored inputs give the same numbers, and distributing again posts nothing.
    replan = plan_distribution(
        run.pool_amount,
        fee_bp=run.fee_bp,
        weights={c: Fraction(w) for c, w in run.inputs["weights"].items()},
    )
    assert {s.creator_id: (s.gross, s.fee, s.net) for s in replan.shares} == shares
    assert distribute_invoice(db, invoice.id, fee_bp=FEE_BP) is run
    assert distribute_invoice(db, invoice.id, fee_bp=0) is run  # a changed setting does not redo it
    assert distribute_settled(db, fee_bp=FEE_BP) == []

    today = datetime.now(UTC).date()
    statement = creator_statement(db, world.mira.id, currency="USD", period_start=today, period_end=today)
    assert (statement.gross, statement.fees, statement.earnings) == (71_429, 10_714, 57_679)
    [source] = statement.sources
    assert (source.source_id, source.to_co_holders, source.credited) == (deal.id, 3_036, 57_679)
    assert sorted(a.amount for a in source.assets) == [14_285, 14_286, 14_286, 14_286, 14_286]
    assert sum(a.amount for a in source.assets) == 71_429

    batch = create_payout_batch(db, currency="USD", minimum=30_000, idempotency_key="batch-1")
    db.commit()
    assert {(p.creator_id, p.amount) for p in batch.payouts} == {(world.mira.id, 57_679)}
    assert payable(db, f"payable:{world.ola.id}") == 24_286  # under the minimum: carried forward
    assert payable(db, jo()) == 3_036
    after = creator_statement(db, world.mira.id, currency="USD", period_start=today, period_end=today)
    assert (after.payouts, after.closing_balance) == (57_679, 0)


def test_paying_twice_or_with_a_reused_key(db: Session, world: World) -> None:
    deal = guild_deal(db, world)
    [invoice] = bill_deal(db, deal, today=date(2026, 1, 15))
    db.commit()
    first = pay_invoice(
        db,
        invoice_id=invoice.id,
        amount=100_000,
        provider=MANUAL,
        external_id="TRX-1",
        idempotency_key="k-1",
        fee_bp=FEE_BP,
    )
    db.commit()
    again = pay_invoice(
        db,
        invoice_id=invoice.id,
        amount=100_000,
        provider=MANUAL,
        external_id="TRX-1",
        idempotency_key="k-1",
        fee_bp=FEE_BP,
    )
    assert again.payment.id == first.payment.id and again.distribution is first.distribution
    with pytest.raises(IdempotencyKeyReused):
        pay_invoice(
            db,
            invoice_id=invoice.id,
            amount=90_000,
            provider=MANUAL,
            external_id="TRX-1",
            idempotency_key="k-1",
            fee_bp=FEE_BP,
        )
    db.rollback()
    with pytest.raises(InvoiceNotPayable, match="already paid"):
        pay_invoice(
            db,
            invoice_id=invoice.id,
            amount=100,
            provider=MANUAL,
            external_id="TRX-2",
            idempotency_key="k-2",
            fee_bp=FEE_BP,
        )
    db.rollback()
    with pytest.raises(MissingIdempotencyKey):
        pay_invoice(
            db,
            invoice_id=invoice.id,
            amount=100,
            provider=MANUAL,
            external_id="TRX-3",
            idempotency_key=" ",
            fee_bp=FEE_BP,
        )
    db.rollback()


def test_partial_payment_distributes_only_once_settled(db: Session, world: World) -> None:
    deal = guild_deal(db, world)
    [invoice] = bill_deal(db, deal, today=date(2026, 1, 15))
    db.commit()
    assert pay(db, invoice, key="part-1", amount=40_000).status == "issued"
    assert invoice.distribution_id is None
    assert payable(db, f"payable:{world.mira.id}") == 0
    paid = pay_invoice(
        db,
        invoice_id=invoice.id,
        amount=60_000,
        provider=MANUAL,
        external_id="TRX-rest",
        idempotency_key="part-2",
        fee_bp=FEE_BP,
    )
    db.commit()
    assert paid.invoice.status == "paid" and paid.distribution is not None
    assert paid.distribution.pool_amount == 100_000


def test_free_and_attribution_deals_bill_nothing(db: Session, world: World) -> None:
    free = guild_deal(db, world, fee=Fee("free"))
    assert bill_deal(db, free, today=date(2026, 6, 1)) == []
    credit = guild_deal(db, world, fee=Fee("attribution"), attribution="Works by The Guild")
    assert bill_due(db, today=date(2026, 6, 1)) == []
    assert credit.status == "active"


def test_concurrent_ticks_bill_a_period_once(
    db: Session, db_factory: sessionmaker[Session], world: World
) -> None:
    """Billing runs on their own connections race over the same due invoice: it is issued once (on SQLite a
    run that loses the race for the writer lock fails and is simply run again)."""
    guild_deal(db, world)
    outcomes = race(db_factory, lambda session: bill_due(session, today=date(2026, 1, 20)))
    assert outcomes.count("issued 1") == 1
    assert all(outcome in ("issued 0", "issued 1", "retry") for outcome in outcomes), outcomes
    db.expire_all()
    [invoice] = db.scalars(select(Invoice)).all()
    assert bill_due(db, today=date(2026, 1, 21)) == []
    pay(db, invoice)


# --- recurring ----------------------------------------------------------------------------------------


def test_recurring_schedule_two_periods_tick_is_idempotent(db: Session, world: World) -> None:
    accepted = datetime(2026, 1, 31, 8, 0, tzinfo=UTC)
    deal = guild_deal(
        db, world, now=accepted, fee=Fee("recurring", currency="EUR", amount_minor=25_000, interval="monthly")
    )
    [first] = bill_due(db, today=date(2026, 2, 10))
    db.commit()
    assert bill_due(db, today=date(2026, 2, 10)) == []
    assert bill_due(db, today=date(2026, 2, 27)) == []
    assert (first.period_start, first.period_end, first.currency) == (
        date(2026, 1, 31),
        date(2026, 2, 27),
        "EUR",
    )
    [second] = bill_due(db, today=date(2026, 2, 28))  # 31 January + 1 month = 28 February
    db.commit()
    assert bill_due(db, today=date(2026, 3, 15)) == []
    assert (second.period_start, second.period_end) == (date(2026, 2, 28), date(2026, 3, 30))
    assert "Licence fee, monthly, 2026-02-28 to 2026-03-30" in second.lines[0].description
    rows = db.scalars(select(DealInvoice).where(DealInvoice.deal_id == deal.id)).all()
    assert [(r.charge, r.invoice_id) for r in rows] == [("recurring", first.id), ("recurring", second.id)]

    # Each period is its own pool and is distributed when its invoice is paid.
    pay(db, second)
    pay(db, first)
    assert first.distribution_id != second.distribution_id
    runs = [db.get(DistributionRun, invoice.distribution_id) for invoice in (first, second)]
    assert [run.pool_amount for run in runs if run is not None] == [25_000, 25_000]

    # A terminated deal is billed no period that starts after its end.
    terminate(db, deal=deal, side=Side.LICENSEE, reason="budget", now=datetime(2026, 4, 2, tzinfo=UTC))
    db.commit()
    [third] = bill_due(db, today=date(2026, 12, 1))
    db.commit()
    assert (third.period_start, third.period_end) == (date(2026, 3, 31), date(2026, 4, 1))
    assert bill_due(db, today=date(2026, 12, 1)) == []
    pay(db, third)


def test_yearly_periods_and_an_auto_renewing_flat_term() -> None:
    deal = Deal(
        id="deal_x",
        starts_at=datetime(2024, 2, 29, 12, tzinfo=UTC),
        ends_at=None,
        ended_at=None,
        term_seconds=365 * 86_400,
    )
    yearly = terms(fee=Fee("royalty", currency="USD", royalty_bp=1_000, minimum_minor=0, interval="yearly"))
    assert deal_periods(deal, yearly, through=date(2026, 3, 1)) == [
        Period(date(2024, 2, 29), date(2025, 2, 27)),
        Period(date(2025, 2, 28), date(2026, 2, 27)),
        Period(date(2026, 2, 28), date(2027, 2, 27)),
    ]
    flat = terms()
    assert deal_periods(deal, flat, through=date(2030, 1, 1)) == [
        Period(date(2024, 2, 29), date(2025, 2, 28))
    ]
    monthly_use = terms(fee=Fee("per-use", currency="USD", price_micros=1))
    assert deal_periods(deal, monthly_use, through=date(2024, 4, 1))[:2] == [
        Period(date(2024, 2, 29), date(2024, 2, 29)),
        Period(date(2024, 3, 1), date(2024, 3, 31)),
    ]


# --- metered usage ------------------------------------------------------------------------------------


def per_use_deal(db: Session, world: World, **changes: object) -> Deal:
    changes.setdefault("fee", Fee("per-use", currency="USD", price_micros=50_000))  # 0.05 USD a use
    return guild_deal(db, world, now=datetime(2026, 3, 10, 14, 0, tzinfo=UTC), **changes)


def test_usage_report_is_invoiced_and_distributed_by_usage(db: Session, world: World) -> None:
    deal = per_use_deal(db, world, distribution="usage")
    counts = {world.photos[0].id: 100, world.ola_assets[0].id: 333, world.texts[1].id: 0}
    result = report_usage(
        db,
        deal_id=deal.id,
        period_start=date(2026, 3, 10),
        period_end=date(2026, 3, 31),
        counts=counts,
        by=world.buyer,
        idempotency_key="usage-march",
        today=date(2026, 4, 2),
    )
    db.commit()
    invoice = result.invoice
    assert invoice is not None and result.record_id.startswith("urp_")
    assert [(line.description, line.quantity, line.amount) for line in invoice.lines] == [
        ("433 reported uses at 0.05 USD", 433, 2_165)
    ]
    events = db.scalars(select(UsageEvent).where(UsageEvent.deal_id == deal.id)).all()
    assert {(e.asset_id, e.quantity, e.invoice_id) for e in events} == {
        (world.photos[0].id, 100, invoice.id),
        (world.ola_assets[0].id, 333, invoice.id),
    }
    # A replay returns the first result; a changed report under the same key is refused.
    replay = report_usage(
        db,
        deal_id=deal.id,
        period_start=date(2026, 3, 10),
        period_end=date(2026, 3, 31),
        counts=counts,
        by=world.buyer,
        idempotency_key="usage-march",
        today=date(2026, 4, 2),
    )
    assert replay.record_id == result.record_id and replay.invoice is invoice
    with pytest.raises(IdempotencyKeyReused):
        report_usage(
            db,
            deal_id=deal.id,
            period_start=date(2026, 3, 10),
            period_end=date(2026, 3, 31),
            counts={world.photos[0].id: 101},
            by=world.buyer,
            idempotency_key="usage-march",
            today=date(2026, 4, 2),
        )
    db.rollback()
    with pytest.raises(AlreadyBilled):
        report_usage(
            db,
            deal_id=deal.id,
            period_start=date(2026, 3, 10),
            period_end=date(2026, 3, 31),
            counts={world.photos[0].id: 1},
            by=world.buyer,
            idempotency_key="usage-march-again",
            today=date(2026, 4, 2),
        )
    db.rollback()

    paid = pay(db, invoice)
    run = db.get(DistributionRun, paid.distribution_id)
    assert run is not None and run.rule == "usage"
    # 21.65 by usage 100 : 333 -> Mira 5.00 (499.99…), Ola 16.65; fee 15 % rounded down.
    assert {s.creator_id: (s.gross, s.fee) for s in run.shares} == {
        world.mira.id: (500, 75),
        world.ola.id: (1_665, 249),
    }
    assert {a.asset_id: a.amount for a in run.assets} == {
        world.photos[0].id: 500,
        world.ola_assets[0].id: 1_665,
    }


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (
            date(2026, 3, 10),
            date(2026, 3, 30),
            "by calendar month; the period holding 2026-03-10 is 2026-03-10 to ",
        ),
        (date(2026, 4, 5), date(2026, 4, 30), "the period holding 2026-04-05 is 2026-04-01 to 2026-04-30"),
        (date(2026, 3, 1), date(2026, 3, 31), "2026-03-01 is not in the term"),
        (date(2026, 12, 1), date(2026, 12, 31), "can be submitted from 2027-01-01, once it has ended"),
    ],
    ids=["shorter-than-the-month", "mid-month", "before-the-term", "not-yet-ended"],
)
def test_usage_report_periods_are_checked(
    db: Session, world: World, start: date, end: date, message: str
) -> None:
    deal = per_use_deal(db, world)
    with pytest.raises(NotBillable, match=message):
        report_usage(
            db,
            deal_id=deal.id,
            period_start=start,
            period_end=end,
            counts={world.photos[0].id: 1},
            idempotency_key="k",
            today=date(2026, 12, 2) if start.month != 12 else date(2026, 12, 15),
        )
    db.rollback()


def test_usage_report_refusals(db: Session, world: World) -> None:
    deal = per_use_deal(db, world)
    march = {"deal_id": deal.id, "period_start": date(2026, 3, 10), "period_end": date(2026, 3, 31)}
    bad_counts: list[Mapping[str, object]] = [{world.photos[0].id: -1}, {world.photos[0].id: 1.5}]
    for counts in bad_counts:
        with pytest.raises(InvalidInput, match=r"whole number|negative"):
            report_usage(db, **march, counts=counts, idempotency_key="k", today=date(2026, 4, 1))  # type: ignore[arg-type]
    other = guild_deal(db, world, fee=Fee("free"))
    with pytest.raises(InvalidInput, match="does not license ast_nope"):
        report_usage(db, **march, counts={"ast_nope": 2}, idempotency_key="k", today=date(2026, 4, 1))
    db.rollback()
    with pytest.raises(UnknownDeal):  # someone else's deal does not exist for them
        report_usage(db, **march, counts={}, by=world.stranger, idempotency_key="k2", today=date(2026, 4, 1))
    db.rollback()
    with pytest.raises(NotBillable, match="takes no usage reports"):
        report_usage(
            db,
            deal_id=other.id,
            period_start=date(2026, 1, 15),
            period_end=date(2026, 1, 31),
            counts={},
            idempotency_key="k3",
            today=date(2026, 4, 1),
        )
    db.rollback()
    # Nothing used: recorded, nothing to invoice.
    empty = report_usage(db, **march, counts={}, by=world.buyer, idempotency_key="k4", today=date(2026, 4, 1))
    db.commit()
    assert empty.invoice is None


def test_gateway_events_are_invoiced_once_the_month_has_ended(db: Session, world: World) -> None:
    deal = per_use_deal(
        db,
        world,
        fee=Fee("per-crawl", currency="USD", price_micros=15_000),
        distribution="mixed",
        distribution_items_bp=7_000,
    )
    at = datetime(2026, 4, 3, 10, tzinfo=UTC)
    record_usage_events(
        db,
        [
            UsageEventDraft(deal.id, world.photos[0].id, "crawl", at, quantity=12_345, bytes=10**6),
            UsageEventDraft(
                deal.id, world.ola_assets[1].id, "crawl", at, price_micros=20_000
            ),  # quoted price
            UsageEventDraft(deal.id, world.ola_assets[1].id, "crawl", datetime(2026, 5, 1, tzinfo=UTC)),
        ],
    )
    db.commit()
    assert bill_due(db, today=date(2026, 4, 30)) == []  # April has not ended
    [april] = bill_due(db, today=date(2026, 5, 1))
    db.commit()
    assert (april.period_start, april.period_end) == (date(2026, 4, 1), date(2026, 4, 30))
    # 12,345 × 0.015 = 185.175 -> 185.18, rounded once per line; the quoted request is its own line.
    assert [(line.description, line.amount) for line in april.lines] == [
        ("12,345 requests at 0.015 USD", 18_518),
        ("1 request at 0.02 USD", 2),
    ]
    assert bill_due(db, today=date(2026, 5, 2)) == []
    paid = pay(db, april)
    run = db.get(DistributionRun, paid.distribution_id)
    assert run is not None and run.rule == "mixed: 70 % by items, 30 % by usage"
    # Mixed: 70 % by items (Mira 5/7, Ola 2/7), 30 % by usage (Mira 12,345/12,346, Ola 1/12,346).
    mira = Fraction(7, 10) * Fraction(5, 7) + Fraction(3, 10) * Fraction(12_345, 12_346)
    assert Fraction(run.inputs["weights"][world.mira.id]) == mira


def test_usage_rule_without_usage_falls_back_on_items(db: Session, world: World) -> None:
    deal = guild_deal(db, world, distribution="usage")
    [invoice] = bill_deal(db, deal, today=date(2026, 1, 15))
    db.commit()
    run = db.get(DistributionRun, pay(db, invoice).distribution_id)
    assert run is not None and run.rule == "usage (no usage metered in the period: by items)"
    assert {s.creator_id: s.gross for s in run.shares} == {world.mira.id: 71_429, world.ola.id: 28_571}


# --- royalty ------------------------------------------------------------------------------------------


def royalty_deal(db: Session, world: World) -> Deal:
    fee = Fee("royalty", currency="USD", royalty_bp=1_250, minimum_minor=100_000, interval="monthly")
    return guild_deal(db, world, now=datetime(2026, 5, 1, tzinfo=UTC), fee=fee)


def test_royalty_statement_with_minimum_guarantee(db: Session, world: World) -> None:
    deal = royalty_deal(db, world)
    may = submit_royalty_statement(
        db,
        deal_id=deal.id,
        period_start=date(2026, 5, 1),
        period_end=date(2026, 5, 31),
        revenue=500_000,
        by=world.buyer,
        idempotency_key="royalty-may",
        today=date(2026, 6, 3),
    )
    db.commit()
    assert may.invoice is not None and may.invoice.total == 100_000  # 12.5 % of 5,000.00 is under 1,000.00
    assert may.invoice.lines[0].description == (
        "Minimum guarantee for 2026-05-01 to 2026-05-31 (royalty of 12.5 % of 5000.00 USD reported model "
        "revenue: 625.00 USD)"
    )
    june = submit_royalty_statement(
        db,
        deal_id=deal.id,
        period_start=date(2026, 6, 1),
        period_end=date(2026, 6, 30),
        revenue=1_000_004,  # 12.5 % = 1,250.005 -> 1,250.01, half away from zero
        by=world.buyer,
        idempotency_key="royalty-june",
        today=date(2026, 7, 1),
    )
    db.commit()
    assert june.invoice is not None and june.invoice.total == 125_001
    assert june.invoice.lines[0].description.startswith("Royalty: 12.5 % of 10000.04 USD")
    rows = db.scalars(select(RoyaltyStatement).order_by(RoyaltyStatement.period_start)).all()
    assert [(r.revenue, r.royalty, r.minimum, r.amount) for r in rows] == [
        (500_000, 62_500, 100_000, 100_000),
        (1_000_004, 125_001, 100_000, 125_001),
    ]
    with pytest.raises(AlreadyBilled):
        submit_royalty_statement(
            db,
            deal_id=deal.id,
            period_start=date(2026, 6, 1),
            period_end=date(2026, 6, 30),
            revenue=1,
            idempotency_key="royalty-june-2",
            today=date(2026, 7, 1),
        )
    db.rollback()
    with pytest.raises(InvalidInput, match="non-negative"):
        submit_royalty_statement(
            db,
            deal_id=deal.id,
            period_start=date(2026, 7, 1),
            period_end=date(2026, 7, 31),
            revenue=-5,
            idempotency_key="royalty-july",
            today=date(2026, 8, 1),
        )
    assert bill_due(db, today=date(2026, 8, 1)) == []  # royalties wait for the licensee's statement
    pay(db, may.invoice)
    pay(db, june.invoice)
    assert payable(db, "platform:revenue") == 14_999 + 18_749  # 15 % of each creator's gross, rounded down


# --- payments from a provider -------------------------------------------------------------------------


class FakeCardProvider:
    """A provider whose webhook body is ``invoice_id amount event_id``, signed by the header."""

    name = "fakecard"
    cash_account = "cash:fakecard"

    def instructions(self, invoice: Invoice) -> PaymentInstructions:
        return PaymentInstructions("fakecard", invoice.id, invoice.reference, 0, "USD", "pay by card")

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> PaymentEvent:
        if headers.get("x-signature") != "ok":
            raise InvalidInput("bad signature")
        invoice_id, amount, event_id = body.decode().split()
        return PaymentEvent("fakecard", event_id, invoice_id, int(amount), "USD", fee=30)


def test_webhook_payment_is_recorded_once_and_distributed(db: Session, world: World) -> None:
    deal = guild_deal(db, world)
    [invoice] = bill_deal(db, deal, today=date(2026, 1, 15))
    db.commit()
    body = f"{invoice.id} 100000 evt_1".encode()
    with pytest.raises(InvalidInput, match="bad signature"):
        receive_webhook(db, provider=FakeCardProvider(), headers={}, body=body, fee_bp=FEE_BP)
    first = receive_webhook(
        db, provider=FakeCardProvider(), headers={"x-signature": "ok"}, body=body, fee_bp=FEE_BP
    )
    db.commit()
    again = receive_webhook(
        db, provider=FakeCardProvider(), headers={"x-signature": "ok"}, body=body, fee_bp=FEE_BP
    )
    assert again.payment.id == first.payment.id
    assert first.invoice.status == "paid" and first.distribution is not None
    assert payable(db, "fees:processor") == -30


def test_payments_recorded_elsewhere_are_distributed_by_the_sweep(db: Session, world: World) -> None:
    from fairtrain.ledger.payments import record_payment

    deal = guild_deal(db, world)
    [invoice] = bill_deal(db, deal, today=date(2026, 1, 15))
    record_payment(db, invoice, amount=100_000, provider=MANUAL, external_id="cli", idempotency_key="cli")
    db.commit()
    assert invoice.distribution_id is None
    [run] = distribute_settled(db, fee_bp=FEE_BP)
    db.commit()
    assert invoice.distribution_id == run.id and distribute_settled(db, fee_bp=FEE_BP) == []


# --- who sees what ------------------------------------------------------------------------------------


def test_licensees_see_only_their_invoices(db: Session, world: World) -> None:
    deal = guild_deal(db, world)
    [invoice] = bill_deal(db, deal, today=date(2026, 1, 15))
    db.commit()
    assert visible_invoices(db, world.buyer) == [invoice]
    assert visible_invoice(db, world.buyer, invoice.id) is invoice
    assert visible_invoices(db, world.stranger) == []
    assert visible_invoices(db, world.buyer, status="paid") == []
    with pytest.raises(UnknownInvoice):
        visible_invoice(db, world.stranger, invoice.id)
    with pytest.raises(InvalidInput, match="unknown invoice status"):
        visible_invoices(db, world.buyer, status="draft")
    assert invoice.status == InvoiceStatus.ISSUED and deal_terms(deal).fee.model == "flat"
    pay(db, invoice)


# --- the command line ---------------------------------------------------------------------------------


def test_billing_commands(
    db: Session, world: World, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAIRTRAIN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FAIRTRAIN_DATABASE_URL", database_url)
    flat = guild_deal(db, world)
    metered = per_use_deal(db, world)
    runner = CliRunner()

    ticked = runner.invoke(billing_app, ["tick", "--today", "2026-03-12"])
    assert ticked.exit_code == 0, ticked.output
    assert f"for deal {flat.id} 2026-01-15" in ticked.output and "1 invoices issued" in ticked.output
    assert "0 invoices issued" in runner.invoke(billing_app, ["tick", "--today", "2026-03-12"]).output
    assert runner.invoke(billing_app, ["tick", "--today", "12/03/2026"]).exit_code == 2

    db.expire_all()
    invoice = db.scalars(select(Invoice).where(Invoice.source_id == flat.id)).one()
    listed = runner.invoke(billing_app, ["invoices", "--json", "--status", "issued"])
    assert listed.exit_code == 0 and invoice.reference in listed.output and "Acme AI" in listed.output
    assert runner.invoke(billing_app, ["invoices", "--status", "draft"]).exit_code == 1

    paid = runner.invoke(billing_app, ["pay", invoice.reference, "1000.00", "--bank-reference", "TRX-1"])
    assert paid.exit_code == 0, paid.output
    assert (
        "(paid)" in paid.output
        and "distributed 1000.00 USD: platform fee 149.99 USD, 2 creators" in paid.output
    )
    again = runner.invoke(billing_app, ["pay", invoice.reference, "1000.00", "--bank-reference", "TRX-1"])
    assert again.exit_code == 0  # the same transfer is recorded once
    fraction = runner.invoke(billing_app, ["pay", invoice.reference, "1.001", "--bank-reference", "TRX-2"])
    assert fraction.exit_code == 1 and "fractions of a minor unit" in fraction.output

    photo = world.photos[1].id
    used = runner.invoke(
        billing_app, ["usage", metered.id, f"{photo}=40", "--from", "2026-03-10", "--to", "2026-03-31"]
    )
    assert used.exit_code == 0, used.output
    assert "issued FT-" in used.output and "2.00 USD" in used.output
    bad = runner.invoke(
        billing_app, ["usage", metered.id, "oops", "--from", "2026-04-01", "--to", "2026-04-30"]
    )
    assert bad.exit_code == 2
    royalty = runner.invoke(
        billing_app, ["royalty", metered.id, "--revenue", "10", "--from", "2026-04-01", "--to", "2026-04-30"]
    )
    assert royalty.exit_code == 1 and "takes no royalty statements" in royalty.output
    db.expire_all()
    for unpaid in db.scalars(select(Invoice).where(Invoice.status == "issued")):
        pay(db, unpaid)
