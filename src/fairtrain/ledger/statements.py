"""Creator statements: what a creator earned, from which source and asset, what was paid out, and balances.

A statement covers whole days in UTC, ``period_start`` to ``period_end`` inclusive, in one currency. It is
read from the creator's payable account, so it always reconciles:

    closing balance = opening balance + earnings − payouts (+ corrections)

and for each distribution run that credited the creator it shows the creator's gross share of the pool, the
platform fee, the net, what went to or came from co-rightsholders, and each asset's contribution to the
gross share where the run recorded it. ``statement_csv`` and ``statement_pdf`` render the same data.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from sqlalchemy import select
from sqlalchemy.orm import Session

from fairtrain.accounts.models import CreatorProfile
from fairtrain.catalog.models import Asset
from fairtrain.errors import InvalidInput, NotFound
from fairtrain.ledger.journal import owed
from fairtrain.ledger.models import (
    Account,
    DistributionAsset,
    DistributionPayee,
    DistributionRun,
    DistributionShare,
    Posting,
    Transaction,
)
from fairtrain.money import check_currency, format_amount

__all__ = [
    "AssetLine",
    "SourceLine",
    "Statement",
    "StatementEntry",
    "creator_statement",
    "statement_csv",
    "statement_pdf",
]

_ENTRY_KINDS = {
    "distribution": "earnings",
    "payout": "payout",
    "payout.failed": "payout returned",
    "reversal": "correction",
}


@dataclass(frozen=True)
class AssetLine:
    asset_id: str
    title: str
    amount: int


@dataclass(frozen=True)
class SourceLine:
    """One distribution run that credited the creator in the period."""

    run_id: str
    source_type: str
    source_id: str
    source_period: str
    gross: int  # the creator's own share of the pool
    fee: int
    net: int
    to_co_holders: int  # part of the net paid to the creator's co-rightsholders
    from_co_holders: int  # received as a co-rightsholder of other creators' works
    credited: int  # what the creator's account received: net − to + from
    assets: list[AssetLine] = field(default_factory=list)


@dataclass(frozen=True)
class StatementEntry:
    at: datetime
    kind: str
    description: str
    amount: int  # positive: credited to the creator; negative: paid out
    transaction_id: str


@dataclass(frozen=True)
class Statement:
    creator_id: str
    creator_name: str
    currency: str
    period_start: date
    period_end: date
    opening_balance: int
    closing_balance: int
    sources: list[SourceLine]
    entries: list[StatementEntry]

    @property
    def gross(self) -> int:
        return sum(source.gross for source in self.sources)

    @property
    def fees(self) -> int:
        return sum(source.fee for source in self.sources)

    @property
    def earnings(self) -> int:
        return sum(entry.amount for entry in self.entries if entry.kind == "earnings")

    @property
    def payouts(self) -> int:
        """Paid out in the period, net of payouts that came back."""
        return -sum(entry.amount for entry in self.entries if entry.kind in ("payout", "payout returned"))

    @property
    def corrections(self) -> int:
        return sum(
            entry.amount
            for entry in self.entries
            if entry.kind not in ("earnings", "payout", "payout returned")
        )

    def summary(self) -> list[tuple[str, int]]:
        return [
            ("Opening balance", self.opening_balance),
            ("Gross share", self.gross),
            ("Platform fees", -self.fees),
            ("Earnings credited", self.earnings),
            ("Payouts", -self.payouts),
            ("Corrections", self.corrections),
            ("Closing balance", self.closing_balance),
        ]


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def creator_statement(
    session: Session, creator_id: str, *, currency: str, period_start: date, period_end: date
) -> Statement:
    """The creator's statement for whole UTC days ``period_start``..``period_end`` in ``currency``."""
    currency = check_currency(currency)
    if period_end < period_start:
        raise InvalidInput(f"the period ends ({period_end}) before it starts ({period_start})")
    creator = session.get(CreatorProfile, creator_id)
    if creator is None:
        raise NotFound(f"no creator {creator_id}")
    start, end = _midnight(period_start), _midnight(period_end + timedelta(days=1))
    account = session.scalar(
        select(Account).where(Account.code == f"payable:{creator_id}", Account.currency == currency)
    )
    name = creator.legal_name or creator.display_name
    if account is None:
        return Statement(creator_id, name, currency, period_start, period_end, 0, 0, [], [])
    rows = session.execute(
        select(Posting.amount, Transaction)
        .join(Transaction, Transaction.id == Posting.transaction_id)
        .where(
            Posting.account_id == account.id, Transaction.created_at >= start, Transaction.created_at < end
        )
        .order_by(Transaction.created_at, Transaction.id)
    ).all()
    entries: list[StatementEntry] = []
    sources: list[SourceLine] = []
    for amount, transaction in rows:
        kind = _ENTRY_KINDS.get(transaction.kind, "correction")
        entries.append(
            StatementEntry(transaction.created_at, kind, transaction.memo, -amount, transaction.id)
        )
        if transaction.kind == "distribution":
            sources.append(_source_line(session, transaction, creator_id, account, -amount))
    statement = Statement(
        creator_id=creator_id,
        creator_name=name,
        currency=currency,
        period_start=period_start,
        period_end=period_end,
        opening_balance=owed(session, account, before=start),
        closing_balance=owed(session, account, before=end),
        sources=sources,
        entries=entries,
    )
    assert statement.opening_balance + sum(e.amount for e in entries) == statement.closing_balance
    return statement


def _source_line(
    session: Session, transaction: Transaction, creator_id: str, account: Account, credited: int
) -> SourceLine:
    run = session.scalar(select(DistributionRun).where(DistributionRun.transaction_id == transaction.id))
    assert run is not None, f"distribution transaction {transaction.id} has no run"
    share = session.scalar(
        select(DistributionShare).where(
            DistributionShare.run_id == run.id, DistributionShare.creator_id == creator_id
        )
    )
    payees = session.scalars(select(DistributionPayee).where(DistributionPayee.run_id == run.id)).all()
    own_kept = sum(p.amount for p in payees if p.creator_id == creator_id and p.account_id == account.id)
    from_others = sum(p.amount for p in payees if p.creator_id != creator_id and p.account_id == account.id)
    net = share.net if share else 0
    asset_rows = session.execute(
        select(DistributionAsset.asset_id, DistributionAsset.amount, Asset.title)
        .outerjoin(Asset, Asset.id == DistributionAsset.asset_id)
        .where(DistributionAsset.run_id == run.id, DistributionAsset.creator_id == creator_id)
        .order_by(DistributionAsset.id)
    ).all()
    return SourceLine(
        run_id=run.id,
        source_type=run.source_type,
        source_id=run.source_id,
        source_period=f"{run.period_start.isoformat()}/{run.period_end.isoformat()}",
        gross=share.gross if share else 0,
        fee=share.fee if share else 0,
        net=net,
        to_co_holders=net - own_kept,
        from_co_holders=from_others,
        credited=credited,
        assets=sorted(  # largest contribution first
            (AssetLine(asset_id, title or asset_id, amount) for asset_id, amount, title in asset_rows),
            key=lambda line: (-line.amount, line.title, line.asset_id),
        ),
    )


def _money(amount: int, currency: str) -> str:
    return format_amount(amount, currency).split(" ")[0]


def statement_csv(statement: Statement) -> str:
    """The statement as CSV rows: section, item, detail, amount, currency."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    currency = statement.currency
    writer.writerow(["section", "item", "detail", "amount", "currency"])
    period = f"{statement.period_start.isoformat()}/{statement.period_end.isoformat()}"
    writer.writerow(["statement", statement.creator_id, f"{statement.creator_name} {period}", "", currency])
    for label, amount in statement.summary():
        writer.writerow(["summary", label, "", _money(amount, currency), currency])
    for source in statement.sources:
        detail = f"{source.source_type} {source.source_id} {source.source_period}"
        for label, amount in (
            ("gross", source.gross),
            ("platform fee", -source.fee),
            ("to co-rightsholders", -source.to_co_holders),
            ("from co-rightsholders", source.from_co_holders),
            ("credited", source.credited),
        ):
            writer.writerow(["source", label, detail, _money(amount, currency), currency])
        for asset in source.assets:
            writer.writerow(["asset", asset.asset_id, asset.title, _money(asset.amount, currency), currency])
    for entry in statement.entries:
        writer.writerow(
            [
                "entry",
                entry.at.isoformat(),
                f"{entry.kind}: {entry.description}",
                _money(entry.amount, currency),
                currency,
            ]
        )
    return buffer.getvalue()


def statement_pdf(statement: Statement) -> bytes:
    """The statement as a one- or few-page A4 PDF (reportlab)."""
    styles = getSampleStyleSheet()
    currency = statement.currency

    def table(rows: list[list[str]], widths: list[float], numbers_from: int) -> Table:
        """A plain table whose columns from ``numbers_from`` on hold right-aligned amounts."""
        result = Table(rows, colWidths=widths, hAlign="LEFT")
        result.setStyle(
            TableStyle(
                [
                    ("FONTSIZE", (0, 0), (-1, -1), 9),
                    ("LINEBELOW", (0, 0), (-1, 0), 0.5, colors.grey),
                    ("ALIGN", (numbers_from, 0), (-1, -1), "RIGHT"),
                ]
            )
        )
        return result

    story: list[Flowable] = [
        Paragraph(escape(f"Statement for {statement.creator_name}"), styles["Title"]),
        Paragraph(
            escape(
                f"{statement.period_start.isoformat()} to {statement.period_end.isoformat()} (UTC) · "
                f"{currency} · creator {statement.creator_id}"
            ),
            styles["Normal"],
        ),
        Spacer(1, 6 * mm),
        table(
            [
                ["Summary", currency],
                *([label, _money(amount, currency)] for label, amount in statement.summary()),
            ],
            [110 * mm, 40 * mm],
            numbers_from=1,
        ),
    ]
    if statement.sources:
        rows = [["Source", "Gross", "Fee", "Co-holders", "Credited"]]
        for source in statement.sources:
            rows.append(
                [
                    f"{source.source_type} {source.source_id} {source.source_period}",
                    _money(source.gross, currency),
                    _money(-source.fee, currency),
                    _money(source.from_co_holders - source.to_co_holders, currency),
                    _money(source.credited, currency),
                ]
            )
            rows += [
                [f"    {asset.title[:60]}", _money(asset.amount, currency), "", "", ""]
                for asset in source.assets
            ]
        story += [
            Spacer(1, 6 * mm),
            table(rows, [80 * mm, 24 * mm, 24 * mm, 24 * mm, 24 * mm], numbers_from=1),
        ]
    if statement.entries:
        rows = [["Date", "Entry", "Amount"]]
        rows += [
            [
                entry.at.date().isoformat(),
                f"{entry.kind}: {entry.description}"[:70],
                _money(entry.amount, currency),
            ]
            for entry in statement.entries
        ]
        story += [Spacer(1, 6 * mm), table(rows, [25 * mm, 115 * mm, 30 * mm], numbers_from=2)]
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        title=f"Statement {statement.creator_id} {statement.period_start}–{statement.period_end}",
        author="fairtrain",
    )
    document.build(story)
    return buffer.getvalue()
