from __future__ import annotations

import csv
import io
from collections.abc import Callable

import pytest
from sqlalchemy.orm import Session

from fairtrain.accounts.models import CreatorProfile, LicenseeOrg
from fairtrain.errors import InvalidInput
from fairtrain.ledger.distribution import Payee
from fairtrain.ledger.errors import PayoutStateError
from fairtrain.ledger.journal import balance, get_account, owed
from fairtrain.ledger.models import PayoutStatus
from fairtrain.ledger.payouts import (
    CSV_COLUMNS,
    create_payout_batch,
    mark_payout_failed,
    mark_payout_sent,
    payouts_csv,
)
from tests.ledger.money_flow import distribute, paid_invoice


@pytest.fixture
def earned(
    db: Session, org: LicenseeOrg, make_creator: Callable[..., CreatorProfile]
) -> list[CreatorProfile]:
    """Ana is owed 90.00, Ben 9.00 (under a 10.00 minimum), =Eve (an outside co-holder of Ana's) 0.90."""
    ana = make_creator("ana", legal_name="Ana Lund")
    ben = make_creator("ben")
    paid_invoice(db, org, 110_000_000)  # 110.00, 10 % fee
    distribute(
        db,
        {ana.id: 100, ben.id: 10},
        splits={ana.id: {Payee.creator(ana.id): 99, Payee.outside("=Eve"): 1}},
    )
    return [ana, ben]


def test_batch_pays_those_over_the_minimum_and_carries_the_rest(db: Session, earned) -> None:
    ana, ben = earned
    assert owed(db, get_account(db, f"payable:{ana.id}", "USD")) == 8_910
    assert owed(db, get_account(db, f"payable:{ben.id}", "USD")) == 900
    batch = create_payout_batch(db, currency="USD", minimum=1_000, idempotency_key="b1")
    db.commit()
    assert batch.id.startswith("pob_") and batch.total == 8_910
    (payout,) = batch.payouts
    assert (payout.creator_id, payout.payee_name, payout.amount) == (ana.id, "Ana Lund", 8_910)
    assert payout.status == PayoutStatus.IN_TRANSIT and payout.reference.startswith("FT-PO-")
    assert owed(db, get_account(db, f"payable:{ana.id}", "USD")) == 0
    assert owed(db, get_account(db, f"payable:{ben.id}", "USD")) == 900  # carried forward
    assert owed(db, get_account(db, "payouts:in-transit", "USD")) == 8_910
    # A replay returns the batch; a new batch finds nothing new over the minimum.
    assert create_payout_batch(db, currency="USD", minimum=1_000, idempotency_key="b1").id == batch.id
    empty = create_payout_batch(db, currency="USD", minimum=1_000, idempotency_key="b2")
    db.commit()
    assert empty.payouts == [] and empty.total == 0 and empty.transaction_id is None


def test_carried_balances_are_paid_once_they_reach_the_minimum(db: Session, org: LicenseeOrg, earned) -> None:
    _, ben = earned
    create_payout_batch(db, currency="USD", minimum=1_000, idempotency_key="b1")
    db.commit()
    paid_invoice(db, org, 2_000_000, source="del_2")  # 2.00 more, all Ben's: 1.80 after the fee
    distribute(db, {ben.id: 1}, source="del_2")
    batch = create_payout_batch(db, currency="USD", minimum=1_000, idempotency_key="b2")
    db.commit()
    assert [(p.creator_id, p.amount) for p in batch.payouts] == [(ben.id, 1_080)]


def test_csv_for_the_bank(db: Session, earned) -> None:
    ana, _ = earned
    batch = create_payout_batch(db, currency="USD", minimum=0, idempotency_key="b1")
    db.commit()
    rows = list(csv.reader(io.StringIO(payouts_csv(batch))))
    assert tuple(rows[0]) == CSV_COLUMNS
    by_name = {row[2]: row for row in rows[1:]}
    assert set(by_name) == {"Ana Lund", "Ben", "'=Eve"}  # a formula-looking name is defused
    assert by_name["Ana Lund"][1:6] == [ana.id, "Ana Lund", "89.10", "USD", "8910"]
    assert by_name["Ben"][3] == "9.00"
    assert by_name["'=Eve"][1] == Payee.outside("=Eve").account_code and by_name["'=Eve"][3] == "0.90"
    assert all(row[0].startswith("FT-PO-") for row in rows[1:])


def test_sent_payouts_leave_cash(db: Session, earned) -> None:
    batch = create_payout_batch(db, currency="USD", minimum=1_000, idempotency_key="b1")
    db.commit()
    (payout,) = batch.payouts
    cash_before = balance(db, get_account(db, "cash:bank", "USD"))
    sent = mark_payout_sent(db, payout, idempotency_key="s1")
    db.commit()
    assert sent.status == PayoutStatus.SENT and sent.settled_at is not None
    assert balance(db, get_account(db, "cash:bank", "USD")) == cash_before - 8_910
    assert owed(db, get_account(db, "payouts:in-transit", "USD")) == 0
    assert mark_payout_sent(db, payout.id, idempotency_key="s1").id == payout.id  # replay
    with pytest.raises(PayoutStateError, match="already sent"):
        mark_payout_failed(db, payout, reason="bounced", idempotency_key="f1")
    db.rollback()


def test_failed_payouts_return_to_the_payable(db: Session, earned) -> None:
    ana, _ = earned
    batch = create_payout_batch(db, currency="USD", minimum=1_000, idempotency_key="b1")
    db.commit()
    (payout,) = batch.payouts
    failed = mark_payout_failed(db, payout, reason="account closed", idempotency_key="f1")
    db.commit()
    assert failed.status == PayoutStatus.FAILED and failed.failure_reason == "account closed"
    assert owed(db, get_account(db, f"payable:{ana.id}", "USD")) == 8_910
    assert owed(db, get_account(db, "payouts:in-transit", "USD")) == 0
    with pytest.raises(PayoutStateError, match="already failed"):
        mark_payout_sent(db, payout, idempotency_key="s1")
    db.rollback()
    again = create_payout_batch(db, currency="USD", minimum=1_000, idempotency_key="b2")
    db.commit()
    assert [p.amount for p in again.payouts] == [8_910]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"minimum": -1}, "non-negative"),
        ({"minimum": 1.5}, "non-negative"),
        ({"currency": "XXX"}, "minor unit"),
    ],
)
def test_bad_batches_are_refused(db: Session, arguments, message) -> None:
    with pytest.raises(InvalidInput, match=message):
        create_payout_batch(db, **{"currency": "USD", "minimum": 0, "idempotency_key": "b", **arguments})
