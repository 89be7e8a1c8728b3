from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fairtrain.accounts.models import CreatorProfile
from fairtrain.db.base import new_id, utcnow
from fairtrain.errors import InvalidInput
from fairtrain.ledger.errors import (
    AlreadyPosted,
    AlreadyReversed,
    IdempotencyKeyReused,
    MissingIdempotencyKey,
    UnbalancedTransaction,
)
from fairtrain.ledger.journal import (
    account_kind,
    balance,
    get_account,
    owed,
    post,
    reverse,
    trial_balance,
)
from fairtrain.ledger.models import Account, AccountKind, Posting, Transaction


def _cash_and_equity(db: Session, currency: str = "USD") -> tuple[Account, Account]:
    return get_account(db, "cash:bank", currency), get_account(db, "equity:owner", currency)


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("receivable:org_1", AccountKind.ASSET),
        ("cash:bank", AccountKind.ASSET),
        ("pool:deal:del_1:2026-01-01/2026-01-31", AccountKind.LIABILITY),
        ("payable:crt_1", AccountKind.LIABILITY),
        ("payouts:in-transit", AccountKind.LIABILITY),
        ("platform:revenue", AccountKind.REVENUE),
        ("fees:processor", AccountKind.EXPENSE),
    ],
)
def test_account_kind_follows_the_code(code: str, kind: AccountKind) -> None:
    assert account_kind(code) == kind


@pytest.mark.parametrize("code", ["wallet:x", "payable", "payable:", ""])
def test_unknown_account_codes_are_refused(code: str) -> None:
    with pytest.raises(InvalidInput, match="not a ledger account code"):
        account_kind(code)


def test_get_account_creates_once_per_code_and_currency(db: Session) -> None:
    usd = get_account(db, "cash:bank", "usd")
    assert get_account(db, "cash:bank", "USD").id == usd.id
    eur = get_account(db, "cash:bank", "EUR")
    assert eur.id != usd.id and eur.currency == "EUR" and usd.kind == "asset"
    with pytest.raises(InvalidInput, match="ISO 4217"):
        get_account(db, "cash:bank", "ZZZ")
    db.commit()


def test_post_balanced_transaction_and_balances(db: Session) -> None:
    cash, equity = _cash_and_equity(db)
    tx = post(db, kind="opening", legs=[(cash, 10_000), (equity, -10_000)], memo="owner's money")
    db.commit()
    assert tx.id.startswith("ltx_")
    assert [(p.account.code, p.amount) for p in tx.postings] == [
        ("cash:bank", 10_000),
        ("equity:owner", -10_000),
    ]
    assert balance(db, cash) == 10_000
    assert owed(db, equity) == 10_000
    assert balance(db, cash, before=tx.created_at) == 0
    tb = trial_balance(db)
    assert tb.balanced and tb.totals == {"USD": 0}
    assert {(r.code, r.balance) for r in tb.rows} == {("cash:bank", 10_000), ("equity:owner", -10_000)}


def test_post_refuses_unbalanced_or_malformed_legs(db: Session) -> None:
    cash, equity = _cash_and_equity(db)
    eur_cash = get_account(db, "cash:bank", "EUR")
    with pytest.raises(UnbalancedTransaction, match="do not balance"):
        post(db, kind="x", legs=[(cash, 100), (equity, -99)])
    with pytest.raises(UnbalancedTransaction, match="USD"):
        post(db, kind="x", legs=[(cash, 100), (eur_cash, -100)])  # balanced in sum, not per currency
    with pytest.raises(InvalidInput, match="at least two"):
        post(db, kind="x", legs=[(cash, 0)])
    with pytest.raises(InvalidInput, match="non-zero"):
        post(db, kind="x", legs=[(cash, 0), (equity, 0)])
    with pytest.raises(InvalidInput, match="integer minor units"):
        post(db, kind="x", legs=[(cash, 1.5), (equity, -1.5)])  # type: ignore[list-item]
    db.commit()
    assert db.scalar(select(Transaction.id)) is None


def test_post_once_per_idempotency_key(db: Session) -> None:
    cash, equity = _cash_and_equity(db)
    post(db, kind="x", legs=[(cash, 5), (equity, -5)], idempotency_key="op:1")
    with pytest.raises(AlreadyPosted):
        post(db, kind="x", legs=[(cash, 5), (equity, -5)], idempotency_key="op:1")
    db.commit()


def test_reverse_posts_the_opposite_once_and_replays(db: Session) -> None:
    cash, equity = _cash_and_equity(db)
    tx = post(db, kind="opening", legs=[(cash, 700), (equity, -700)], memo="typo")
    db.commit()
    reversal = reverse(db, tx, idempotency_key="k1", memo="entered twice")
    db.commit()
    assert reversal.reverses_id == tx.id
    assert sorted(p.amount for p in reversal.postings) == [-700, 700]
    assert balance(db, cash) == 0
    assert reverse(db, tx.id, idempotency_key="k1", memo="entered twice").id == reversal.id  # replay
    with pytest.raises(AlreadyReversed):
        reverse(db, tx, idempotency_key="k2")
    db.rollback()
    with pytest.raises(IdempotencyKeyReused):
        reverse(db, tx, idempotency_key="k1", memo="another reason")
    db.rollback()
    with pytest.raises(MissingIdempotencyKey):
        reverse(db, tx, idempotency_key="  ")


# --- the database's own guards, tried with raw SQL ---------------------------------------------------


def _raw(engine: Engine, tid: str, legs: list[tuple[str, str, int]], *, header: bool = True) -> None:
    """One database transaction of raw SQL: postings (account id, currency, amount), then the row."""
    with engine.begin() as connection:
        for account_id, currency, amount in legs:
            connection.execute(
                text(
                    "INSERT INTO ledger_postings (transaction_id, account_id, currency, amount) "
                    "VALUES (:t, :a, :c, :m)"
                ),
                {"t": tid, "a": account_id, "c": currency, "m": amount},
            )
        if header:
            connection.execute(
                text(
                    "INSERT INTO ledger_transactions (id, kind, memo, created_at) VALUES (:t, 'raw', '', :at)"
                ),
                {"t": tid, "at": utcnow().replace(tzinfo=None)},
            )


@pytest.fixture
def accounts(db: Session) -> tuple[Account, Account]:
    cash, equity = _cash_and_equity(db)
    post(db, kind="opening", legs=[(cash, 1_000), (equity, -1_000)])
    db.commit()
    return cash, equity


Accounts = tuple[Account, Account]


def test_database_refuses_an_unbalanced_transaction(engine: Engine, accounts: Accounts) -> None:
    cash, equity = accounts
    with pytest.raises(IntegrityError, match="unbalanced"):
        _raw(engine, new_id("ltx"), [(cash.id, "USD", 100), (equity.id, "USD", -90)])


def test_database_refuses_a_transaction_without_postings(engine: Engine, accounts: Accounts) -> None:
    with pytest.raises(IntegrityError, match="unbalanced"):
        _raw(engine, new_id("ltx"), [])


def test_database_refuses_zero_postings(engine: Engine, accounts: Accounts) -> None:
    cash, equity = accounts
    with pytest.raises(IntegrityError):
        _raw(engine, new_id("ltx"), [(cash.id, "USD", 0), (equity.id, "USD", 0)])


def test_database_refuses_postings_without_a_transaction(engine: Engine, accounts: Accounts) -> None:
    cash, equity = accounts
    # The foreign key is deferred: the statements pass, the commit does not.
    with pytest.raises(IntegrityError):
        _raw(engine, new_id("ltx"), [(cash.id, "USD", 100), (equity.id, "USD", -100)], header=False)


def test_database_refuses_adding_to_a_sealed_transaction(engine: Engine, accounts: Accounts) -> None:
    cash, equity = accounts
    tid = new_id("ltx")
    _raw(engine, tid, [(cash.id, "USD", 100), (equity.id, "USD", -100)])
    with pytest.raises(IntegrityError, match="already has its row"):
        _raw(engine, tid, [(cash.id, "USD", 5), (equity.id, "USD", -5)], header=False)


def test_database_refuses_a_posting_in_another_currency_than_its_account(
    engine: Engine, accounts: Accounts
) -> None:
    cash, equity = accounts
    with pytest.raises(IntegrityError):
        _raw(engine, new_id("ltx"), [(cash.id, "EUR", 100), (equity.id, "EUR", -100)])


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger_postings SET amount = amount * 2",
        "DELETE FROM ledger_postings",
        "UPDATE ledger_transactions SET memo = 'edited'",
        "DELETE FROM ledger_transactions",
    ],
)
def test_database_refuses_to_change_the_journal(engine: Engine, accounts: Accounts, statement: str) -> None:
    with pytest.raises(IntegrityError, match="immutable"), engine.begin() as connection:
        connection.execute(text(statement))
    with engine.connect() as connection:
        assert connection.execute(text("SELECT sum(abs(amount)) FROM ledger_postings")).scalar() == 2_000


def test_orm_cannot_change_a_posting_either(db: Session, accounts: Accounts) -> None:
    posting = db.scalars(select(Posting)).first()
    assert posting is not None
    posting.amount = 1
    with pytest.raises(IntegrityError, match="immutable"):
        db.commit()
    db.rollback()


def test_accounts_keep_their_creator(db: Session, make_creator: Callable[..., CreatorProfile]) -> None:
    creator = make_creator("mira")
    payable = get_account(db, f"payable:{creator.id}", "USD", name="Mira", creator_id=creator.id)
    cash = get_account(db, "cash:bank", "USD")
    post(db, kind="x", legs=[(cash, 1), (payable, -1)])
    db.commit()
    db.delete(creator)
    with pytest.raises(IntegrityError):
        db.commit()
    db.rollback()


def test_domain_transactions_are_undone_by_their_own_operations(db: Session) -> None:
    cash, equity = _cash_and_equity(db)
    tx = post(db, kind="invoice.issue", legs=[(cash, 5), (equity, -5)])
    db.commit()
    with pytest.raises(InvalidInput, match="undone by voiding the invoice"):
        reverse(db, tx, idempotency_key="k")
    db.rollback()
