from __future__ import annotations

import json
import re
from pathlib import Path

from pypdf import PdfReader
from sqlalchemy.orm import Session
from tests.licensing.helpers import make_asset
from typer.testing import CliRunner

from fairtrain.accounts.service import get_creator, get_licensee_org
from fairtrain.cli import app as cli_app
from fairtrain.licensing.cli import licensing_app
from fairtrain.licensing.deals import request_deal
from fairtrain.licensing.offers import get_offer

runner = CliRunner()


def _run(*args: str) -> str:
    result = runner.invoke(licensing_app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_clients_offers_deals_and_agreements_from_the_command_line(env: Path, db: Session) -> None:
    result = runner.invoke(
        cli_app,
        ["licensees", "create", "Acme AI", "--contact-name", "Ada", "--contact-email", "ada@acme.example"],
    )
    assert result.exit_code == 0, result.output
    created = _run("clients", "create", "Acme AI", "crawler")
    client_id = re.search(r"client id: (ftc_\w+)", created).group(1)  # type: ignore[union-attr]
    secret = re.search(r"secret:\s+(ftcs_\S+)", created).group(1)  # type: ignore[union-attr]
    listed = _run("clients", "list", "Acme AI")
    assert client_id in listed and secret not in listed
    assert secret not in _run("clients", "rotate", client_id)
    _run("clients", "revoke", client_id)
    assert client_id not in _run("clients", "list", "Acme AI")

    terms = {"usages": ["ai-train"], "fee": {"model": "flat", "currency": "USD", "amount_minor": 100_000}}
    bad = runner.invoke(
        licensing_app, ["offers", "create", "@mira", "--title", "x", "--terms", '{"usages": []}']
    )
    assert bad.exit_code == 1 and "the terms need fee" in bad.output
    made = _run("offers", "create", "@mira", "--title", "All of it", "--terms", json.dumps(terms))
    offer_id = re.search(r"offer (ofr_\w+)", made).group(1)  # type: ignore[union-attr]
    assert "USD 1000.00 once" in _run("offers", "list", "--seller", "@mira")
    assert _run("deals", "list").count("deal_") == 0
    assert "activated 0" in _run("deals", "tick")
    missing = runner.invoke(licensing_app, ["deals", "show", "deal_nope"])
    assert missing.exit_code == 1 and "no deal deal_nope" in missing.output
    # The licensee asks through the API (here: the service); the operator answers on the command line.
    make_asset(db, get_creator(db, "mira"), "photo")
    deal = request_deal(
        db, offer_version=get_offer(db, offer_id).current, org=get_licensee_org(db, "Acme AI")
    )
    db.commit()
    accepted = _run("deals", "accept", deal.id)
    assert f"{deal.id}: active" in accepted
    shown = _run("deals", "show", deal.id)
    assert "proposed" in shown and "accepted" in shown and "activated" in shown and "works: 1" in shown
    _run("deals", "agreement", deal.id, "--out", str(env / "agreement.pdf"))
    _run("deals", "agreement", deal.id, "--out", str(env / "agreement.html"))
    assert deal.id in (env / "agreement.html").read_text()
    assert deal.id in PdfReader(env / "agreement.pdf").pages[0].extract_text()
    assert deal.id in _run("deals", "list", "--org", "Acme AI", "--status", "active")
    _run("deals", "terminate", deal.id, "--reason", "test over", "--side", "licensee")
    again = runner.invoke(licensing_app, ["deals", "terminate", deal.id, "--reason", "again"])
    assert again.exit_code == 1 and "cannot be terminated" in again.output
    _run("offers", "withdraw", offer_id)
