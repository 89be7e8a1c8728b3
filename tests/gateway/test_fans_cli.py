"""``fairtrain fans``: tiers, subscriptions, recording a fan's transfer, and the daily tick."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from typer.testing import CliRunner

from fairtrain.accounts import service as accounts
from fairtrain.cli import app
from fairtrain.db.base import utcnow
from fairtrain.db.engine import make_engine, make_sessionmaker, transaction
from fairtrain.gateway import subscriptions as subs


def _run(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result.output


def _subscribe(database_url: str, email: str, tier_id: str) -> str:
    engine = make_engine(database_url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            fan = accounts.get_user_by_email(session, email)
            subscription = subs.subscribe(session, fan=fan, tier=subs.get_tier(session, tier_id))
            [payment] = subs.subscription_payments(session, subscription)
            return payment.reference
    finally:
        engine.dispose()


def test_tiers_subscriptions_pay_and_tick(env: Path, database_url: str) -> None:
    created = _run("fans", "tiers", "create", "mira", "Supporter", "--price", "5.00", "--currency", "usd")
    match = re.search(
        r"created tier (tier_\w+) 'Supporter' for @mira: 5\.00 USD a month, every work", created
    )
    assert match, created
    tier_id = match.group(1)
    refused = _run("fans", "tiers", "create", "mira", "Cheap", "--price", "0.001", code=1)
    assert "error:" in refused and "fractions of a minor unit" in refused
    listing = _run("fans", "tiers", "list", "mira")
    assert "Supporter" in listing and "5.00 USD" in listing and "every work" in listing

    _run("users", "create", "fan@example.com", "--no-password")
    reference = _subscribe(database_url, "fan@example.com", tier_id)
    pending = _run("fans", "subscriptions", "list", "--creator", "mira")
    assert "fan@example.com" in pending and "pending" in pending and reference in pending

    wrong = _run("fans", "pay", reference, "--amount", "4.00", code=1)
    assert f"{reference} is for 5.00 USD, not 4.00 USD" in wrong
    paid = _run("fans", "pay", reference.lower(), "--amount", "5.00", "--bank-reference", "TRX-9")
    assert f"{reference} paid: fan@example.com subscribes to 'Supporter'" in paid
    assert "distributed 5.00 USD: platform fee 0.75 USD" in paid
    again = _run("fans", "pay", reference, "--amount", "5.00", "--bank-reference", "TRX-10", code=1)
    assert "already paid" in again
    active = _run("fans", "subscriptions", "list", "--status", "active")
    assert "fan@example.com" in active

    today = utcnow().date()
    assert "0 renewals opened" in _run("fans", "tick", "--now", f"{today.isoformat()}T00:00")
    day = (today + timedelta(days=28)).isoformat()
    ticked = _run("fans", "tick", "--now", f"{day}T12:00:00+00:00")
    assert "opened FT-SUB-" in ticked and "1 renewals opened, 0 lapsed, 0 ended" in ticked
    assert "unknown status" in _run("fans", "subscriptions", "list", "--status", "gone", code=1)

    assert "retired" in _run("fans", "tiers", "retire", tier_id)
    assert "Supporter" not in _run("fans", "tiers", "list", "mira")
    assert "retired" in _run("fans", "tiers", "list", "mira", "--all")
