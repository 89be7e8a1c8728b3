"""Payouts: batches of what creators (and outside rightsholders) are owed, a CSV for the bank, sent or failed.

``create_payout_batch`` takes every payable account in one currency whose balance is at or over the minimum
and moves it in one transaction:

    Dr payable:<crt_id> (each)     its balance
    Cr payouts:in-transit          the batch total

Balances under the minimum stay where they are and carry forward to the next batch. When the bank confirms
a payout: Dr payouts:in-transit / Cr cash:bank (``mark_payout_sent``); when it bounces the money goes back to
the payable: Dr payouts:in-transit / Cr payable:<crt_id> (``mark_payout_failed``).
"""

from __future__ import annotations

import csv
import io
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fairtrain.accounts.models import CreatorProfile
from fairtrain.db.base import new_id, utcnow
from fairtrain.db.engine import lock_row
from fairtrain.errors import InvalidInput
from fairtrain.ledger.errors import PayoutStateError, UnknownPayout
from fairtrain.ledger.idempotency import fingerprint, idempotent
from fairtrain.ledger.journal import CASH_BANK, IN_TRANSIT, get_account, lock_accounts, post
from fairtrain.ledger.models import Account, Payout, PayoutBatch, PayoutStatus, Posting
from fairtrain.money import MAX_MINOR_UNITS, check_currency, format_amount

__all__ = [
    "CSV_COLUMNS",
    "create_payout_batch",
    "get_payout",
    "mark_payout_failed",
    "mark_payout_sent",
    "payouts_csv",
]

CSV_COLUMNS = ("reference", "payee_id", "name", "amount", "currency", "amount_minor", "payout_id")


def create_payout_batch(
    session: Session, *, currency: str, minimum: int, idempotency_key: str
) -> PayoutBatch:
    """Pay out every payable in ``currency`` owing at least ``minimum`` minor units (and more than zero)."""
    currency = check_currency(currency)
    if isinstance(minimum, bool) or not isinstance(minimum, int) or not 0 <= minimum <= MAX_MINOR_UNITS:
        raise InvalidInput(f"the payout minimum is a non-negative number of minor units, got {minimum!r}")

    def run() -> dict[str, Any]:
        payables = list(
            session.scalars(
                select(Account)
                .where(Account.code.like("payable:%"), Account.currency == currency)
                .order_by(Account.id)
            )
        )
        # Locked so two batches at once cannot pay one balance twice (PostgreSQL; SQLite has one writer).
        lock_accounts(session, payables)
        balances: dict[str, int] = {
            account_id: int(total)
            for account_id, total in session.execute(
                select(Posting.account_id, func.sum(Posting.amount))
                .where(Posting.account_id.in_([a.id for a in payables]))
                .group_by(Posting.account_id)
            )
        }
        due = [(a, -int(balances.get(a.id, 0))) for a in payables]
        due = [(account, amount) for account, amount in due if amount > 0 and amount >= minimum]
        batch = PayoutBatch(
            id=new_id("pob"), currency=currency, minimum=minimum, total=sum(a for _, a in due)
        )
        session.add(batch)
        session.flush()
        if due:
            transit = get_account(session, IN_TRANSIT, currency)
            transaction = post(
                session,
                kind="payout",
                legs=[*((account, amount) for account, amount in due), (transit, -batch.total)],
                memo=f"payout batch {batch.id}",
                idempotency_key=f"payout.batch:{batch.id}",
                ref_type="payout_batch",
                ref_id=batch.id,
            )
            batch.transaction_id = transaction.id
        for account, amount in due:
            payout_id = new_id("pyo")
            session.add(
                Payout(
                    id=payout_id,
                    batch_id=batch.id,
                    account_id=account.id,
                    creator_id=account.creator_id,
                    payee_name=_payee_name(session, account),
                    currency=currency,
                    amount=amount,
                    reference="FT-PO-" + payout_id.removeprefix("pyo_").upper(),
                    status=PayoutStatus.IN_TRANSIT,
                )
            )
        session.flush()
        return {"batch_id": batch.id}

    result = idempotent(
        session,
        key=idempotency_key,
        scope="ledger.payout.batch",
        fingerprint=fingerprint(currency=currency, minimum=minimum),
        fn=run,
    )
    batch = session.get(PayoutBatch, result["batch_id"])
    assert batch is not None
    return batch


def _payee_name(session: Session, account: Account) -> str:
    if account.creator_id is not None:
        creator = session.get(CreatorProfile, account.creator_id)
        if creator is not None:
            return creator.legal_name or creator.display_name
    return account.name or account.code


def payouts_csv(batch: PayoutBatch) -> str:
    """The batch for a bank or payment provider: one row per payout, amounts as decimals and minor units."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for payout in batch.payouts:
        number, _ = format_amount(payout.amount, payout.currency).split(" ")
        payee_id = payout.creator_id or payout.account.code
        writer.writerow(
            [
                payout.reference,
                payee_id,
                _csv_safe(payout.payee_name),
                number,
                payout.currency,
                payout.amount,
                payout.id,
            ]
        )
    return buffer.getvalue()


def _csv_safe(text: str) -> str:
    """Names are data: keep a spreadsheet from running one that starts like a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def get_payout(session: Session, payout_id: str) -> Payout:
    payout = session.get(Payout, payout_id)
    if payout is None:
        raise UnknownPayout(f"no payout {payout_id}")
    return payout


def _lock_payout(session: Session, payout_id: str) -> Payout:
    payout = lock_row(session, Payout, payout_id)
    if payout is None:
        raise UnknownPayout(f"no payout {payout_id}")
    if payout.status != PayoutStatus.IN_TRANSIT:
        raise PayoutStateError(f"payout {payout.reference} is already {payout.status}")
    return payout


def mark_payout_sent(
    session: Session, payout: Payout | str, *, idempotency_key: str, cash_account: str = CASH_BANK
) -> Payout:
    """The bank confirmed the payout: the money left ``cash_account``."""
    payout_id = payout if isinstance(payout, str) else payout.id

    def run() -> dict[str, Any]:
        locked = _lock_payout(session, payout_id)
        transaction = post(
            session,
            kind="payout.sent",
            legs=[
                (get_account(session, IN_TRANSIT, locked.currency), locked.amount),
                (get_account(session, cash_account, locked.currency), -locked.amount),
            ],
            memo=f"payout {locked.reference} sent",
            idempotency_key=f"payout.settle:{locked.id}",
            ref_type="payout",
            ref_id=locked.id,
        )
        locked.status = PayoutStatus.SENT
        locked.settled_at = utcnow()
        locked.settle_transaction_id = transaction.id
        session.flush()
        return {"payout_id": locked.id}

    idempotent(
        session,
        key=idempotency_key,
        scope="ledger.payout.sent",
        fingerprint=fingerprint(payout=payout_id, cash=cash_account),
        fn=run,
    )
    return get_payout(session, payout_id)


def mark_payout_failed(
    session: Session, payout: Payout | str, *, reason: str, idempotency_key: str
) -> Payout:
    """The payout bounced: its amount goes back to the payee's payable, to be paid in a later batch."""
    payout_id = payout if isinstance(payout, str) else payout.id
    reason = " ".join(reason.split())
    if not reason:
        raise InvalidInput("say why the payout failed")

    def run() -> dict[str, Any]:
        locked = _lock_payout(session, payout_id)
        payable = session.get(Account, locked.account_id)
        assert payable is not None
        transaction = post(
            session,
            kind="payout.failed",
            legs=[
                (get_account(session, IN_TRANSIT, locked.currency), locked.amount),
                (payable, -locked.amount),
            ],
            memo=f"payout {locked.reference} failed: {reason}",
            idempotency_key=f"payout.settle:{locked.id}",
            ref_type="payout",
            ref_id=locked.id,
        )
        locked.status = PayoutStatus.FAILED
        locked.settled_at = utcnow()
        locked.failure_reason = reason
        locked.settle_transaction_id = transaction.id
        session.flush()
        return {"payout_id": locked.id}

    idempotent(
        session,
        key=idempotency_key,
        scope="ledger.payout.failed",
        fingerprint=fingerprint(payout=payout_id, reason=reason),
        fn=run,
    )
    return get_payout(session, payout_id)
