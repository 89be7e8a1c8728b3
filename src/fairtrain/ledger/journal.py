"""The double-entry journal: accounts, balanced immutable transactions, reversals, balances.

Sign convention: a debit is a positive amount, a credit a negative one; every transaction's postings sum to
zero per currency. So an asset's balance is positive when it holds money, and a liability's (a creator's
payable, a pool) is negative while money is owed; ``owed`` gives the latter as a positive number.

Accounts are named by stable codes; the first segment says what the account is (``account_kind``):

=====================================  =========  =================================================
code                                   kind       what it holds
=====================================  =========  =================================================
``receivable:<org_id>``                asset      what a licensee owes on issued invoices
``cash:<provider>``                    asset      money received (``cash:bank`` for bank transfers)
``credit:<org_id>``                    liability  a licensee's over-payments, to refund or apply
``pool:<source>:<id>:<start>/<end>``   liability  one source's (a deal's) income for one period
``payable:<crt_id>``                   liability  what is owed to a creator
``payable:holder:<digest>``            liability  what is owed to a rightsholder without an account
``payouts:in-transit``                 liability  payouts handed to the bank, not yet confirmed
``platform:revenue``                   revenue    the platform's fee
``fees:processor``                     expense    what payment processors kept
``equity:<name>``                      equity     opening balances, owner's money
=====================================  =========  =================================================
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from fairtrain.db.base import new_id, utcnow
from fairtrain.errors import InvalidInput
from fairtrain.ledger.errors import AlreadyPosted, AlreadyReversed, UnbalancedTransaction, UnknownTransaction
from fairtrain.ledger.idempotency import fingerprint, idempotent
from fairtrain.ledger.models import Account, AccountKind, Posting, Transaction
from fairtrain.money import MAX_MINOR_UNITS, check_currency

__all__ = [
    "CASH_BANK",
    "IN_TRANSIT",
    "PLATFORM_REVENUE",
    "PROCESSOR_FEES",
    "TrialBalance",
    "TrialBalanceRow",
    "account_kind",
    "balance",
    "check_integrity",
    "get_account",
    "lock_accounts",
    "owed",
    "post",
    "post_reversal",
    "reverse",
    "trial_balance",
]

PLATFORM_REVENUE = "platform:revenue"
PROCESSOR_FEES = "fees:processor"
IN_TRANSIT = "payouts:in-transit"
CASH_BANK = "cash:bank"

_KINDS = {
    "receivable": AccountKind.ASSET,
    "cash": AccountKind.ASSET,
    "credit": AccountKind.LIABILITY,
    "pool": AccountKind.LIABILITY,
    "payable": AccountKind.LIABILITY,
    "payouts": AccountKind.LIABILITY,
    "platform": AccountKind.REVENUE,
    "fees": AccountKind.EXPENSE,
    "equity": AccountKind.EQUITY,
}


# Transactions that belong to a record with a state of its own, and the operation that undoes them.
_UNDONE_BY = {
    "invoice.issue": "voiding the invoice",
    "invoice.void": "issuing a new invoice",
    "payment": "a refund (not yet supported: credit the licensee by hand with a manual entry)",
    "distribution": "nothing yet: a distribution run is final",
    "payout": "marking each payout failed",
    "payout.sent": "nothing: the money has left",
    "payout.failed": "a new payout batch",
}


def account_kind(code: str) -> AccountKind:
    """The kind of account a code names, from its first segment."""
    prefix, _, rest = code.partition(":")
    if prefix not in _KINDS or not rest:
        raise InvalidInput(
            f"{code!r} is not a ledger account code; codes look like {', '.join(p + ':…' for p in _KINDS)}"
        )
    return _KINDS[prefix]


def get_account(
    session: Session,
    code: str,
    currency: str,
    *,
    name: str = "",
    creator_id: str | None = None,
    licensee_org_id: str | None = None,
) -> Account:
    """The account with this code and currency, created on first use (safely under concurrency)."""
    currency = check_currency(currency)
    kind = account_kind(code)
    if len(code) > 200:
        raise InvalidInput(f"account code {code[:40]!r}... is longer than 200 characters")
    found = _find(session, code, currency)
    if found is not None:
        return found
    values = {
        "id": new_id("acc"),
        "code": code,
        "currency": currency,
        "kind": kind.value,
        "name": name,
        "creator_id": creator_id,
        "licensee_org_id": licensee_org_id,
        "created_at": utcnow(),
    }
    table: Any = Account.__table__
    # A concurrent first use of the same account inserts nothing here and reads the other's row instead.
    if session.get_bind().dialect.name == "postgresql":
        statement: Any = postgresql.insert(table).values(values).on_conflict_do_nothing()
    else:
        statement = sqlite.insert(table).values(values).on_conflict_do_nothing()
    session.execute(statement)
    found = _find(session, code, currency)
    assert found is not None
    return found


def _find(session: Session, code: str, currency: str) -> Account | None:
    return session.scalar(select(Account).where(Account.code == code, Account.currency == currency))


def lock_accounts(session: Session, accounts: Iterable[Account]) -> None:
    """Hold row locks on these accounts until commit (PostgreSQL; SQLite serialises writers anyway)."""
    ids = sorted({account.id for account in accounts})  # a fixed order, so two lockers cannot deadlock
    if ids:
        session.execute(select(Account.id).where(Account.id.in_(ids)).order_by(Account.id).with_for_update())


def post(
    session: Session,
    *,
    kind: str,
    legs: Sequence[tuple[Account, int]],
    memo: str = "",
    idempotency_key: str | None = None,
    reverses: Transaction | None = None,
    ref_type: str | None = None,
    ref_id: str | None = None,
) -> Transaction:
    """Write one balanced transaction: ``legs`` are (account, signed amount), debits positive.

    Checked here and again by the database: two or more non-zero integer amounts, summing to zero per
    currency. ``idempotency_key`` names the operation (``invoice.issue:inv_…``) so it is posted only once.
    """
    if len(legs) < 2:
        raise InvalidInput("a transaction needs at least two postings")
    sums: dict[str, int] = {}
    for account, amount in legs:
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise InvalidInput(f"posting to {account.code} is {amount!r}; amounts are integer minor units")
        if amount == 0 or abs(amount) > MAX_MINOR_UNITS:
            raise InvalidInput(f"posting to {account.code} is {amount}; amounts are non-zero and not absurd")
        sums[account.currency] = sums.get(account.currency, 0) + amount
    unbalanced = {currency: total for currency, total in sums.items() if total != 0}
    if unbalanced:
        raise UnbalancedTransaction(f"postings do not balance: they sum to {unbalanced} instead of zero")
    if idempotency_key is not None and session.scalar(
        select(Transaction.id).where(Transaction.idempotency_key == idempotency_key)
    ):
        raise AlreadyPosted(f"{idempotency_key} has already been posted")
    transaction_id = new_id("ltx")
    # Postings first, then the transaction row: inserting it seals them and makes the database check the
    # balance (see migration 0006). The foreign key from postings to transactions is deferred for this.
    session.add_all(
        [
            Posting(
                transaction_id=transaction_id, account_id=account.id, currency=account.currency, amount=amount
            )
            for account, amount in legs
        ]
    )
    session.flush()
    transaction = Transaction(
        id=transaction_id,
        kind=kind,
        memo=memo,
        idempotency_key=idempotency_key,
        reverses_id=reverses.id if reverses is not None else None,
        ref_type=ref_type,
        ref_id=ref_id,
        created_at=utcnow(),
    )
    session.add(transaction)
    session.flush()
    return transaction


def reverse(
    session: Session, transaction: Transaction | str, *, idempotency_key: str, memo: str = ""
) -> Transaction:
    """Post the exact opposite of a manual transaction (once): the correction the append-only journal allows.

    Transactions made by invoices, payments, runs and payouts are undone by those records' own operations.
    """
    transaction_id = transaction if isinstance(transaction, str) else transaction.id

    def run() -> dict[str, Any]:
        original = session.get(Transaction, transaction_id)
        if original is None:
            raise UnknownTransaction(f"no ledger transaction {transaction_id}")
        if original.kind in _UNDONE_BY:
            # Reversing these alone would leave the invoice, run or payout saying otherwise.
            raise InvalidInput(f"a {original.kind} transaction is undone by {_UNDONE_BY[original.kind]}")
        reversal = post_reversal(session, original, memo=memo)
        return {"transaction_id": reversal.id}

    result = idempotent(
        session,
        key=idempotency_key,
        scope="ledger.reverse",
        fingerprint=fingerprint(transaction=transaction_id, memo=memo),
        fn=run,
    )
    reversal = session.get(Transaction, result["transaction_id"])
    assert reversal is not None
    return reversal


def post_reversal(
    session: Session, original: Transaction, *, memo: str = "", kind: str = "reversal"
) -> Transaction:
    """Post the reversal of ``original`` once, for callers that already hold an idempotency key."""
    if session.scalar(select(Transaction.id).where(Transaction.reverses_id == original.id)):
        raise AlreadyReversed(f"ledger transaction {original.id} has already been reversed")
    accounts = {
        a.id: a
        for a in session.scalars(
            select(Account).where(Account.id.in_({p.account_id for p in original.postings}))
        )
    }
    return post(
        session,
        kind=kind,
        legs=[(accounts[p.account_id], -p.amount) for p in original.postings],
        memo=memo or f"reverses {original.id}: {original.memo}".rstrip(": "),
        reverses=original,
        idempotency_key=f"reverse:{original.id}",
        ref_type=original.ref_type,
        ref_id=original.ref_id,
    )


def balance(session: Session, account: Account, *, before: datetime | None = None) -> int:
    """Signed balance (debits − credits) of the account, of transactions made before ``before`` if given."""
    statement = select(func.coalesce(func.sum(Posting.amount), 0)).where(Posting.account_id == account.id)
    if before is not None:
        statement = statement.join(Transaction, Transaction.id == Posting.transaction_id).where(
            Transaction.created_at < before
        )
    return int(session.scalar(statement) or 0)


def owed(session: Session, account: Account, *, before: datetime | None = None) -> int:
    """What a liability account owes (its credit balance) as a positive number."""
    return -balance(session, account, before=before)


@dataclass(frozen=True)
class TrialBalanceRow:
    code: str
    currency: str
    kind: str
    balance: int


@dataclass(frozen=True)
class TrialBalance:
    """Every account's balance; per currency they must sum to zero."""

    rows: list[TrialBalanceRow]
    totals: dict[str, int] = field(default_factory=dict)

    @property
    def balanced(self) -> bool:
        return all(total == 0 for total in self.totals.values())


def trial_balance(session: Session) -> TrialBalance:
    statement = (
        select(Account.code, Account.currency, Account.kind, func.sum(Posting.amount))
        .join(Posting, Posting.account_id == Account.id)
        .group_by(Account.code, Account.currency, Account.kind)
        .order_by(Account.currency, Account.code)
    )
    rows = [
        TrialBalanceRow(code, currency, kind, int(total))
        for code, currency, kind, total in session.execute(statement)
    ]
    totals: dict[str, int] = {}
    for row in rows:
        totals[row.currency] = totals.get(row.currency, 0) + row.balance
    return TrialBalance(rows=rows, totals=totals)


def check_integrity(session: Session) -> list[str]:
    """Problems the database should have made impossible: unbalanced transactions, postings without one."""
    problems = [
        f"transaction {tid} does not balance in {currency}: {total}"
        for tid, currency, total in session.execute(
            select(Posting.transaction_id, Posting.currency, func.sum(Posting.amount))
            .group_by(Posting.transaction_id, Posting.currency)
            .having(func.sum(Posting.amount) != 0)
        )
    ]
    problems += [
        f"posting {pid} has no transaction"
        for (pid,) in session.execute(
            select(Posting.id)
            .outerjoin(Transaction, Transaction.id == Posting.transaction_id)
            .where(Transaction.id.is_(None))
        )
    ]
    return problems
