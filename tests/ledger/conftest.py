"""Ledger fixtures. After every ledger test that touched a database, the books must balance."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy.orm import Session

from fairtrain.accounts.models import CreatorProfile, LicenseeOrg
from fairtrain.db.engine import make_engine, make_sessionmaker
from fairtrain.ledger.journal import check_integrity, trial_balance


@pytest.fixture(autouse=True)
def _books_balance(request: pytest.FixtureRequest) -> Iterator[None]:
    """The trial balance sums to zero per currency, and every transaction balances, after each test."""
    if "database_url" not in request.fixturenames:
        yield
        return
    url: str = request.getfixturevalue("database_url")  # set up before, so torn down after, this fixture
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


@pytest.fixture
def make_creator(db: Session) -> Callable[..., CreatorProfile]:
    def make(handle: str, *, legal_name: str | None = None) -> CreatorProfile:
        creator = CreatorProfile(handle=handle, display_name=handle.title(), legal_name=legal_name)
        db.add(creator)
        db.flush()
        return creator

    return make


@pytest.fixture
def org(db: Session) -> LicenseeOrg:
    org = LicenseeOrg(
        name="Acme AI", contact_name="Ada", contact_email="ada@acme.example", billing_email="ap@acme.example"
    )
    db.add(org)
    db.commit()
    return org
