from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import timedelta

import pytest
from pypdf import PdfReader
from sqlalchemy.orm import Session

from fairtrain.accounts.models import CreatorProfile, LicenseeOrg
from fairtrain.catalog.models import Asset
from fairtrain.db.base import utcnow
from fairtrain.errors import InvalidInput, NotFound
from fairtrain.ledger.distribution import Payee
from fairtrain.ledger.payouts import create_payout_batch, mark_payout_failed
from fairtrain.ledger.statements import creator_statement, statement_csv, statement_pdf
from tests.ledger.money_flow import distribute, paid_invoice


def _around_now() -> dict[str, object]:
    """A period that holds everything the test just posted, even across midnight UTC."""
    today = utcnow().date()
    return {
        "currency": "USD",
        "period_start": today - timedelta(days=1),
        "period_end": today + timedelta(days=1),
    }


def _asset(db: Session, creator: CreatorProfile, title: str) -> Asset:
    asset = Asset(
        creator_id=creator.id,
        kind="image",
        mime="image/jpeg",
        size=1,
        sha256=title.encode().hex().ljust(64, "0")[:64],
        title=title,
        title_source="user",
        storage="copy",
        original_filename=f"{title}.jpg",
    )
    db.add(asset)
    db.flush()
    return asset


@pytest.fixture
def story(db: Session, org: LicenseeOrg, make_creator: Callable[..., CreatorProfile]) -> dict[str, object]:
    """Ana and Ben share a deal; Ana shares one work with Ben; a payout to Ana bounces and is paid again."""
    ana = make_creator("ana", legal_name="Ana Lund")
    ben = make_creator("ben")
    sunrise, harbour = _asset(db, ana, "Sunrise"), _asset(db, ana, "Harbour")
    db.commit()
    paid_invoice(db, org, 1_000_000_000)  # 1,000.00, 10 % fee
    distribute(
        db,
        {ana.id: 3, ben.id: 1},
        splits={ana.id: {Payee.creator(ana.id): 9, Payee.creator(ben.id): 1}},
        contributions={ana.id: {sunrise.id: 2, harbour.id: 1}},
    )
    batch = create_payout_batch(db, currency="USD", minimum=10_000, idempotency_key="b1")
    db.commit()
    (ana_payout,) = [p for p in batch.payouts if p.creator_id == ana.id]
    mark_payout_failed(db, ana_payout, reason="wrong IBAN", idempotency_key="f1")
    db.commit()
    create_payout_batch(db, currency="USD", minimum=10_000, idempotency_key="b2")
    db.commit()
    return {"ana": ana, "ben": ben, "sunrise": sunrise, "harbour": harbour}


def test_statement_shows_sources_assets_payouts_and_reconciles(db: Session, story) -> None:
    ana, ben = story["ana"], story["ben"]
    statement = creator_statement(db, ana.id, **_around_now())
    # Pool 100,000: Ana gross 75,000, fee 7,500, net 67,500: 60,750 hers, 6,750 to Ben (co-holder).
    assert statement.creator_name == "Ana Lund"
    assert (statement.gross, statement.fees, statement.earnings) == (75_000, 7_500, 60_750)
    (source,) = statement.sources
    assert (source.source_type, source.source_id, source.source_period) == (
        "deal",
        "del_1",
        "2026-01-01/2026-01-31",
    )
    assert (source.net, source.to_co_holders, source.from_co_holders, source.credited) == (
        67_500,
        6_750,
        0,
        60_750,
    )
    assert [(a.title, a.amount) for a in source.assets] == [("Sunrise", 50_000), ("Harbour", 25_000)]
    # Paid out, bounced (back to the payable), paid out again: net payouts 60,750.
    assert [e.kind for e in statement.entries] == ["earnings", "payout", "payout returned", "payout"]
    assert statement.payouts == 60_750
    assert (statement.opening_balance, statement.closing_balance) == (0, 0)

    ben_statement = creator_statement(db, ben.id, **_around_now())
    (ben_source,) = ben_statement.sources
    assert (ben_source.gross, ben_source.fee, ben_source.net) == (25_000, 2_500, 22_500)
    assert (ben_source.from_co_holders, ben_source.credited) == (6_750, 29_250)


def test_balances_carry_between_periods(db: Session, story) -> None:
    ana = story["ana"]
    after, before = utcnow().date() + timedelta(days=2), utcnow().date() - timedelta(days=2)
    later = creator_statement(db, ana.id, currency="USD", period_start=after, period_end=after)
    assert later.entries == [] and later.sources == []
    earlier = creator_statement(db, ana.id, currency="USD", period_start=before, period_end=before)
    assert (earlier.opening_balance, earlier.closing_balance) == (0, 0)
    none = creator_statement(db, ana.id, currency="EUR", period_start=before, period_end=after)
    assert none.entries == [] and none.closing_balance == 0


def test_statement_csv_and_pdf_carry_the_totals(db: Session, story) -> None:
    statement = creator_statement(db, story["ana"].id, **_around_now())
    rows = list(csv.reader(io.StringIO(statement_csv(statement))))
    assert rows[0] == ["section", "item", "detail", "amount", "currency"]
    summary = {row[1]: row[3] for row in rows if row[0] == "summary"}
    assert summary["Gross share"] == "750.00"
    assert summary["Platform fees"] == "-75.00"
    assert summary["Earnings credited"] == "607.50"
    assert summary["Payouts"] == "-607.50"
    assert summary["Closing balance"] == "0.00"
    assert ["asset", story["sunrise"].id, "Sunrise", "500.00", "USD"] in rows

    pdf = statement_pdf(statement)
    assert pdf.startswith(b"%PDF")
    reader = PdfReader(io.BytesIO(pdf))
    text = "\n".join(page.extract_text() for page in reader.pages)
    for expected in ("Statement for Ana Lund", "750.00", "-75.00", "607.50", "-607.50", "Sunrise", "del_1"):
        assert expected in text


def test_statement_refuses_bad_periods_and_unknown_creators(db: Session) -> None:
    today = utcnow().date()
    with pytest.raises(InvalidInput, match="before it starts"):
        creator_statement(
            db, "crt_x", currency="USD", period_start=today, period_end=today - timedelta(days=1)
        )
    with pytest.raises(NotFound):
        creator_statement(db, "crt_x", currency="USD", period_start=today, period_end=today)
