"""A process killed in the middle of a distribution run leaves the books as they were: all or nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fairtrain.accounts.models import CreatorProfile, LicenseeOrg
from fairtrain.ledger.distribution import run_distribution
from fairtrain.ledger.invoices import InvoiceLineDraft, create_invoice, issue_invoice, pool_code
from fairtrain.ledger.journal import get_account, owed, trial_balance
from fairtrain.ledger.models import DistributionRun, Posting, Transaction
from fairtrain.ledger.payments import ManualProvider, record_payment

JAN = (date(2026, 1, 1), date(2026, 1, 31))

# The child runs a distribution and, just before one chosen statement, tells the parent and waits to be
# killed. The pause sits inside the run's database transaction, after some of its rows were written.
_CHILD = """
import sys, time
from datetime import date
from sqlalchemy import event
from fairtrain.db.engine import make_engine, make_sessionmaker, transaction
from fairtrain.ledger.distribution import run_distribution

url, marker, pause_before, creators = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split(",")
engine = make_engine(url)

@event.listens_for(engine, "before_cursor_execute")
def pause(conn, cursor, statement, parameters, context, executemany):
    if statement.lstrip().upper().startswith("INSERT INTO " + pause_before.upper()):
        with open(marker, "w") as handle:
            handle.write("paused")
        time.sleep(600)  # killed long before this ends

with transaction(make_sessionmaker(engine)) as session:
    run_distribution(
        session,
        source_type="deal",
        source_id="del_1",
        period_start=date(2026, 1, 1),
        period_end=date(2026, 1, 31),
        currency="USD",
        fee_bp=1000,
        weights={creator: 1 for creator in creators},
        idempotency_key="crash-run",
    )
print("finished")
"""


def _wait_for(path: Path, process: subprocess.Popen[bytes]) -> None:
    for _ in range(1200):  # up to a minute for the child to import and get there
        if path.exists():
            return
        if process.poll() is not None:
            raise AssertionError(f"the child ended before pausing: {process.communicate()}")
        time.sleep(0.05)
    raise AssertionError("the child never reached the pause point")


@pytest.mark.parametrize(
    "pause_before",
    [
        "ledger_postings",  # accounts created, no posting written yet
        "ledger_transactions",  # every posting written, the transaction row not yet
        "ledger_distribution_payees",  # the transaction sealed, the run half recorded, not committed
    ],
)
def test_killed_run_leaves_all_or_nothing(
    db: Session,
    database_url: str,
    tmp_path: Path,
    org: LicenseeOrg,
    make_creator: Callable[..., CreatorProfile],
    pause_before: str,
) -> None:
    creators = [make_creator(f"c{i}") for i in range(5)]
    invoice = create_invoice(
        db,
        licensee_org_id=org.id,
        currency="USD",
        source_type="deal",
        source_id="del_1",
        period_start=JAN[0],
        period_end=JAN[1],
        lines=[InvoiceLineDraft("Training licence", 1, 1_000_000_000)],
    )
    issue_invoice(db, invoice, idempotency_key="issue")
    record_payment(
        db, invoice, amount=100_000, provider=ManualProvider(), external_id="b1", idempotency_key="pay"
    )
    db.commit()
    before = db.scalar(select(func.count()).select_from(Posting))
    script = tmp_path / "child.py"
    script.write_text(_CHILD)
    marker = tmp_path / "paused"
    ids = ",".join(creator.id for creator in creators)
    with subprocess.Popen(
        [sys.executable, str(script), database_url, str(marker), pause_before, ids],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as process:
        _wait_for(marker, process)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL

    db.expire_all()
    assert db.scalar(select(func.count()).select_from(DistributionRun)) == 0
    assert db.scalar(select(func.count()).select_from(Posting)) == before
    assert (
        db.scalar(select(func.count()).select_from(Transaction).where(Transaction.kind == "distribution"))
        == 0
    )
    assert trial_balance(db).balanced
    assert owed(db, get_account(db, pool_code("deal", "del_1", *JAN), "USD")) == 100_000
    db.commit()

    # The run can simply be done again, now to the end.
    run = run_distribution(
        db,
        source_type="deal",
        source_id="del_1",
        period_start=JAN[0],
        period_end=JAN[1],
        currency="USD",
        fee_bp=1000,
        weights={creator.id: 1 for creator in creators},
        idempotency_key="crash-run",
    )
    db.commit()
    assert run.pool_amount == 100_000 and len(run.payees) == 5
    assert owed(db, get_account(db, pool_code("deal", "del_1", *JAN), "USD")) == 0
