from __future__ import annotations

import threading
from datetime import date

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from fairtrain.db.engine import transaction
from fairtrain.ledger.errors import IdempotencyKeyReused, MissingIdempotencyKey, RequestInProgress
from fairtrain.ledger.idempotency import check_key, fingerprint, idempotent
from fairtrain.ledger.models import IdempotencyKey


def test_first_result_is_returned_on_replay(db: Session) -> None:
    calls: list[int] = []

    def work() -> dict[str, object]:
        calls.append(1)
        return {"n": len(calls)}

    assert idempotent(db, key="k", scope="test", fingerprint="f", fn=work) == {"n": 1}
    db.commit()
    assert idempotent(db, key="k", scope="test", fingerprint="f", fn=work) == {"n": 1}
    assert calls == [1]
    # The same key in another scope is another request.
    assert idempotent(db, key="k", scope="other", fingerprint="g", fn=work) == {"n": 2}
    db.commit()


def test_the_same_key_with_another_request_is_refused(db: Session) -> None:
    idempotent(db, key="k", scope="test", fingerprint="f", fn=lambda: {})
    db.commit()
    with pytest.raises(IdempotencyKeyReused, match="different test request"):
        idempotent(db, key="k", scope="test", fingerprint="other", fn=lambda: {})
    assert IdempotencyKeyReused.status_code == 409


def test_a_failed_request_frees_its_key(db: Session) -> None:
    def boom() -> dict[str, object]:
        raise ValueError("card declined")

    with pytest.raises(ValueError, match="declined"):
        idempotent(db, key="k", scope="test", fingerprint="f", fn=boom)
    db.rollback()
    assert idempotent(db, key="k", scope="test", fingerprint="f", fn=lambda: {"ok": True}) == {"ok": True}
    db.commit()


@pytest.mark.parametrize("key", [None, "", "   ", "x" * 256, "tab\there"])
def test_keys_are_required_and_sane(key) -> None:
    with pytest.raises(MissingIdempotencyKey):
        check_key(key)


def test_fingerprints_are_stable_and_order_free() -> None:
    assert fingerprint(a=1, b=date(2026, 1, 1)) == fingerprint(b=date(2026, 1, 1), a=1)
    assert fingerprint(a=1) != fingerprint(a=2)


def test_concurrent_requests_with_one_key_run_once(db_factory: sessionmaker[Session]) -> None:
    """Workers on their own connections replay one key at the same moment: the work runs exactly once."""
    workers = 5
    barrier = threading.Barrier(workers)
    ran: list[int] = []
    outcomes: list[str] = []
    lock = threading.Lock()

    def request(n: int) -> None:
        barrier.wait()
        try:
            with transaction(db_factory) as session:
                idempotent(
                    session, key="same", scope="test", fingerprint="f", fn=lambda: ran.append(n) or {"by": n}
                )
            outcome = "ran"
        except RequestInProgress:
            outcome = "in progress"  # PostgreSQL: waited on the unique key, then told to retry
        except OperationalError as error:
            outcome = "in progress" if "locked" in str(error) else f"failed: {error}"  # SQLite's one writer
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=request, args=(n,)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with db_factory() as session:
        stored = session.scalars(select(IdempotencyKey)).all()
        assert session.scalar(select(func.count()).select_from(IdempotencyKey)) == 1
    assert len(ran) == 1 and stored[0].result == {"by": ran[0]}
    assert all(outcome in ("ran", "in progress") for outcome in outcomes)
    # Retried afterwards, every one of them gets the first result.
    with transaction(db_factory) as session:
        assert idempotent(session, key="same", scope="test", fingerprint="f", fn=lambda: {"by": -1}) == {
            "by": ran[0]
        }
