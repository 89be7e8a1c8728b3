"""The billing and books JSON API: invoices, payments with Idempotency-Key, usage reports, royalty
statements, statements, the trial balance, payout batches and webhooks (SQLite and PostgreSQL)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fairtrain.accounts import service as accounts
from fairtrain.accounts.models import Role
from fairtrain.accounts.tokens import create_api_token
from fairtrain.ledger.models import Invoice, Payment
from fairtrain.licensing.billing import bill_due, payment_providers
from fairtrain.licensing.models import Deal
from fairtrain.licensing.terms import Fee
from tests.licensing.helpers import World, build_world
from tests.licensing.test_billing import (  # noqa: F401 - books_balance is an autouse fixture
    FakeCardProvider,
    books_balance,
    co_own,
    guild_deal,
    per_use_deal,
    royalty_deal,
)


@dataclass
class Api:
    world: World
    client: TestClient
    tokens: dict[str, dict[str, str]]

    def get(self, path: str, who: str, **kwargs: Any) -> Any:
        return self.client.get(path, headers=self.tokens[who], **kwargs)

    def post(self, path: str, who: str, body: Any = None, *, key: str | None = None) -> Any:
        headers = dict(self.tokens[who])
        if key is not None:
            headers["Idempotency-Key"] = key
        return self.client.post(path, json=body, headers=headers)


@pytest.fixture
def api(db: Session, client: TestClient) -> Api:
    world = build_world(db)
    accounts.grant_role(db, user=world.operator, role=Role.OPERATOR)
    rival = accounts.create_user(db, email="bo@other.example", password=None, min_password_length=10)
    accounts.add_licensee_member(db, org=world.other_org, user=rival)
    users = {
        "buyer": world.buyer,
        "mira": world.mira_user,
        "operator": world.operator,
        "stranger": world.stranger,
        "rival": rival,
    }
    tokens = {
        who: {"Authorization": f"Bearer {create_api_token(db, user=user, name='test')[1]}"}
        for who, user in users.items()
    }
    db.commit()
    return Api(world, client, tokens)


def _flat_invoice(db: Session, api: Api) -> tuple[Deal, Invoice]:
    co_own(db, api.world)
    deal = guild_deal(db, api.world)
    [invoice] = bill_due(db, today=date(2026, 1, 16))
    db.commit()
    return deal, invoice


def _payments(db: Session) -> int:
    db.expire_all()
    return int(db.scalar(select(func.count(Payment.id))) or 0)


def test_flat_invoice_paid_once_with_replay_then_statement_and_payouts(db: Session, api: Api) -> None:
    deal, invoice = _flat_invoice(db, api)
    listing = api.get("/api/v1/invoices", "buyer").json()
    assert listing["total"] == 1
    [item] = listing["items"]
    assert item["reference"] == invoice.reference and item["deal_id"] == deal.id
    assert item["deal_title"] == "Guild pool" and item["status"] == "issued"
    assert item["total"] == {"amount": "1000.00", "minor": 100_000, "currency": "USD"}
    assert item["lines"] == [
        {
            "description": "Licence fee, one-off: Guild pool",
            "quantity": 1,
            "unit_price": "1000.00",
            "amount": {"amount": "1000.00", "minor": 100_000, "currency": "USD"},
        }
    ]
    [how] = item["instructions"]
    assert how["provider"] == "manual" and how["reference"] == invoice.reference
    assert f"quoting the reference {invoice.reference}" in how["text"]

    path = f"/api/v1/invoices/{invoice.id}/payments"
    body = {"amount": "1000.00", "reference": "TRX-88"}
    missing = api.post(path, "operator", body)
    assert missing.status_code == 400 and missing.json()["code"] == "idempotency_key_required"
    assert api.post(path, "operator", body, key="x" * 201).status_code == 400
    assert api.post(path, "buyer", body, key="k-1").status_code == 403  # licensees do not mark paid
    assert _payments(db) == 0

    first = api.post(path, "operator", body, key="k-1")
    assert first.status_code == 201, first.text
    paid = first.json()
    assert paid["invoice"]["status"] == "paid" and paid["invoice"]["instructions"] == []
    assert paid["payment"]["reference"] == "TRX-88" and paid["distribution_id"].startswith("dst_")
    replay = api.post(path, "operator", body, key="k-1")
    assert (replay.status_code, replay.json()) == (201, paid)
    assert replay.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    reused = api.post(path, "operator", {"amount": "999.00"}, key="k-1")
    assert (reused.status_code, reused.json()["code"]) == (409, "idempotency_key_reused")
    again = api.post(path, "operator", {"amount": "1.00"}, key="k-2")
    assert (again.status_code, again.json()["code"]) == (409, "invoice_not_payable")
    assert _payments(db) == 1

    # Mira's statement: 5 of the 7 works, 15 % fee, a quarter of one work to Jo Park.
    today = datetime.now(UTC).date().isoformat()
    statement = api.get(f"/api/v1/statements?from={today}&to={today}", "mira").json()
    assert statement["currency"] == "USD" and statement["creator_name"] == "Mira Jensen"
    assert (statement["gross"]["amount"], statement["fees"]["amount"]) == ("714.29", "107.14")
    assert (statement["earnings"]["amount"], statement["closing_balance"]["amount"]) == ("576.79", "576.79")
    [source] = statement["sources"]
    assert (source["title"], source["source_id"]) == ("Guild pool", deal.id)
    assert source["to_co_holders"]["amount"] == "30.36" and len(source["assets"]) == 5
    assert api.get("/api/v1/statements", "mira").json()["earnings"]["minor"] == 57_679  # default: this month
    assert api.get("/api/v1/statements?creator=ola", "mira").status_code == 403
    assert api.get("/api/v1/statements", "stranger").status_code == 403  # no creator profile
    ola = api.get(f"/api/v1/statements?creator=ola&from={today}&to={today}", "operator").json()
    assert ola["earnings"]["amount"] == "242.86"

    # Licensees see only their own invoices.
    assert api.get("/api/v1/invoices", "rival").json() == {"items": [], "total": 0, "limit": 50, "offset": 0}
    hidden = api.get(f"/api/v1/invoices/{invoice.id}", "rival")
    assert (hidden.status_code, hidden.json()["code"]) == (404, "unknown_invoice")
    assert api.get(f"/api/v1/invoices/{invoice.id}", "operator").json()["status"] == "paid"
    assert api.get("/api/v1/invoices?status=paid", "buyer").json()["total"] == 1

    # The books, for operators only.
    assert api.get("/api/v1/books/trial-balance", "buyer").status_code == 403
    books = api.get("/api/v1/books/trial-balance", "operator").json()
    assert books["balanced"] is True and books["totals"] == {"USD": 0}
    balances = {row["code"]: row["balance"]["minor"] for row in books["accounts"]}
    assert balances[f"payable:{api.world.mira.id}"] == -57_679
    assert balances["platform:revenue"] == -14_999 and balances["cash:bank"] == 100_000

    # Payouts: a 300.00 minimum pays Mira; Ola (242.86) and Jo Park (30.36) carry forward.
    assert api.post("/api/v1/payout-batches", "operator", {"currency": "USD"}).status_code == 400
    assert api.post("/api/v1/payout-batches", "buyer", {"currency": "USD"}, key="b").status_code == 403
    made = api.post("/api/v1/payout-batches", "operator", {"currency": "USD", "minimum": "300.00"}, key="b-1")
    assert made.status_code == 201, made.text
    batch = made.json()
    assert [(p["payee_id"], p["name"], p["amount"]["amount"]) for p in batch["payouts"]] == [
        (api.world.mira.id, "Mira Jensen", "576.79")
    ]
    assert (
        api.post(
            "/api/v1/payout-batches", "operator", {"currency": "USD", "minimum": "300.00"}, key="b-1"
        ).json()
        == batch
    )
    csv = api.get(f"/api/v1/payout-batches/{batch['id']}/csv", "operator")
    assert csv.headers["content-type"].startswith("text/csv") and ",Mira Jensen,576.79,USD,57679," in csv.text
    assert api.get("/api/v1/payout-batches", "operator").json()["total"] == 1
    [payout] = batch["payouts"]
    sent = api.post(f"/api/v1/payouts/{payout['id']}/sent", "operator", key="s-1")
    assert (sent.status_code, sent.json()["status"]) == (200, "sent")
    twice = api.post(f"/api/v1/payouts/{payout['id']}/sent", "operator", key="s-2")
    assert (twice.status_code, twice.json()["code"]) == (409, "payout_state")
    assert (
        api.get(f"/api/v1/payout-batches/{batch['id']}", "operator").json()["payouts"][0]["status"] == "sent"
    )
    balances = {
        row["code"]: row["balance"]["minor"]
        for row in api.get("/api/v1/books/trial-balance", "operator").json()["accounts"]
    }
    assert balances[f"payable:{api.world.ola.id}"] == -24_286


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"amount": "1000.005"}, "fractions of a minor unit"),
        ({"amount": "-5"}, "cannot be negative"),
        ({"amount": "1e3"}, "is not an amount of money"),
        ({"amount": "99999999999999999"}, "larger than any amount"),
        ({"amount": "10", "currency": "XYZ"}, "XYZ is not an ISO 4217 currency"),
        ({"amount": "10", "currency": "eur"}, "is in USD, not EUR"),
        ({"amount": "10", "fee": "11"}, "between 0 and the amount"),
        ({"amount": 12.5}, "amount: Input should be a valid string"),
        ({"amount": "10", "colour": "red"}, "Extra inputs are not permitted"),
    ],
    ids=[
        "fraction",
        "negative",
        "exponent",
        "absurd",
        "unknown-currency",
        "other-currency",
        "fee",
        "float",
        "extra",
    ],
)
def test_payment_amounts_are_refused_clearly(
    db: Session, api: Api, body: dict[str, Any], message: str
) -> None:
    _, invoice = _flat_invoice(db, api)
    response = api.post(f"/api/v1/invoices/{invoice.id}/payments", "operator", body, key="k")
    assert response.status_code == 422, response.text
    assert message in response.json()["detail"]
    assert _payments(db) == 0


def test_partial_payment_then_the_rest(db: Session, api: Api) -> None:
    _, invoice = _flat_invoice(db, api)
    path = f"/api/v1/invoices/{invoice.id}/payments"
    part = api.post(path, "operator", {"amount": "400.00", "fee": "2.50"}, key="p-1").json()
    assert part["invoice"]["status"] == "issued" and part["distribution_id"] is None
    assert part["invoice"]["balance_due"]["amount"] == "600.00"
    assert part["invoice"]["instructions"][0]["amount"]["amount"] == "600.00"
    rest = api.post(path, "operator", {"amount": "600.00"}, key="p-2").json()
    assert rest["invoice"]["status"] == "paid" and rest["distribution_id"] is not None


def test_usage_report_through_the_api(db: Session, api: Api) -> None:
    world = api.world
    deal = per_use_deal(db, world)
    path = f"/api/v1/deals/{deal.id}/usage"
    body = {
        "period_start": "2026-03-10",
        "period_end": "2026-03-31",
        "items": [
            {"asset_id": world.photos[0].id, "count": 100},
            {"asset_id": world.ola_assets[0].id, "count": 333},
        ],
    }
    assert api.post(path, "buyer", body).status_code == 400
    created = api.post(path, "buyer", body, key="u-1")
    assert created.status_code == 201, created.text
    report = created.json()
    assert report["quantity"] == 433 and report["id"].startswith("urp_")
    invoice = report["invoice"]
    assert invoice["total"]["amount"] == "21.65" and invoice["deal_id"] == deal.id
    assert invoice["lines"][0]["description"] == "433 reported uses at 0.05 USD"
    assert invoice["lines"][0]["unit_price"] == "0.05"
    assert api.post(path, "buyer", body, key="u-1").json() == report
    assert api.post(path, "buyer", body, key="u-2").json()["code"] == "already_billed"

    refused = {
        "rival": (404, "unknown_deal"),
        "stranger": (404, "unknown_deal"),
    }
    for who, (status, code) in refused.items():
        response = api.post(
            path, who, {**body, "period_start": "2026-04-01", "period_end": "2026-04-30"}, key="r"
        )
        assert (response.status_code, response.json()["code"]) == (status, code)
    april = {"period_start": "2026-04-01", "period_end": "2026-04-30"}
    bad = [
        ({**april, "items": [{"asset_id": world.photos[0].id, "count": -1}]}, "greater than or equal to 0"),
        ({**april, "items": [{"asset_id": world.photos[0].id, "count": 1.5}]}, "valid integer"),
        ({**april, "items": [{"asset_id": world.photos[0].id, "count": 1}] * 2}, "listed twice"),
        ({**april, "items": [{"asset_id": "ast_unknown", "count": 1}]}, "does not license ast_unknown"),
        (
            {"period_start": "2026-04-05", "period_end": "2026-04-30", "items": []},
            "the period holding 2026-04-05",
        ),
        ({"period_start": "2026-12-01", "period_end": "2026-12-31", "items": []}, "once it has ended"),
    ]
    for i, (wrong, message) in enumerate(bad):
        response = api.post(path, "buyer", wrong, key=f"bad-{i}")
        assert response.status_code == 422, response.text
        assert message in response.json()["detail"]


def test_royalty_statement_through_the_api(db: Session, api: Api) -> None:
    deal = royalty_deal(db, api.world)
    path = f"/api/v1/deals/{deal.id}/royalty-statements"
    may = {"period_start": "2026-05-01", "period_end": "2026-05-31", "revenue": "5000.00"}
    created = api.post(path, "buyer", may, key="r-1")
    assert created.status_code == 201, created.text
    statement = created.json()
    assert (statement["royalty"]["amount"], statement["minimum"]["amount"]) == ("625.00", "1000.00")
    assert statement["amount"]["amount"] == "1000.00" and statement["royalty_bp"] == 1_250
    assert statement["invoice"]["total"]["amount"] == "1000.00"
    assert api.post(path, "buyer", may, key="r-1").json() == statement
    june = {"period_start": "2026-06-01", "period_end": "2026-06-30"}
    for revenue, message in (("1.001", "fractions of a minor unit"), ("-1", "cannot be negative")):
        response = api.post(path, "buyer", {**june, "revenue": revenue}, key=f"r-{revenue}")
        assert response.status_code == 422 and message in response.json()["detail"]
    wrong = api.post(path, "buyer", {**june, "revenue": "10", "currency": "EUR"}, key="r-eur")
    assert wrong.status_code == 422 and "is in USD, not EUR" in wrong.json()["detail"]
    assert api.post(path, "rival", {**june, "revenue": "10"}, key="r-rival").status_code == 404
    flat = guild_deal(db, api.world, fee=Fee("flat", currency="USD", amount_minor=100))
    other = api.post(
        f"/api/v1/deals/{flat.id}/royalty-statements", "buyer", {**june, "revenue": "10"}, key="r-x"
    )
    assert (other.status_code, other.json()["code"]) == (422, "not_billable")


def test_payment_webhooks(db: Session, api: Api, app: FastAPI) -> None:
    _, invoice = _flat_invoice(db, api)
    app.state.payment_providers = {**payment_providers(app.state.settings), "fakecard": FakeCardProvider()}
    body = f"{invoice.id} 100000 evt_9".encode()
    unknown = api.client.post("/api/v1/payments/nobody/webhook", content=body)
    assert unknown.status_code == 404
    manual = api.client.post("/api/v1/payments/manual/webhook", content=body)
    assert manual.status_code == 422 and "no webhook" in manual.json()["detail"]
    forged = api.client.post("/api/v1/payments/fakecard/webhook", content=body)
    assert forged.status_code == 422 and "bad signature" in forged.json()["detail"]
    first = api.client.post("/api/v1/payments/fakecard/webhook", content=body, headers={"X-Signature": "ok"})
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "paid" and first.json()["distribution_id"] is not None
    again = api.client.post("/api/v1/payments/fakecard/webhook", content=body, headers={"X-Signature": "ok"})
    assert again.json() == first.json()
    assert _payments(db) == 1


def test_a_failed_payout_returns_to_the_balance(db: Session, api: Api) -> None:
    _, invoice = _flat_invoice(db, api)
    api.post(f"/api/v1/invoices/{invoice.id}/payments", "operator", {"amount": "1000.00"}, key="pay")
    batch = api.post(
        "/api/v1/payout-batches", "operator", {"currency": "USD", "minimum": "0"}, key="all"
    ).json()
    # Mira, Ola and Jo Park; the platform's fee is revenue, not a payable.
    assert sorted(p["name"] for p in batch["payouts"]) == ["Jo Park", "Mira Jensen", "Ola"]
    jo = next(p for p in batch["payouts"] if p["name"] == "Jo Park")
    assert jo["payee_id"].startswith("payable:holder:")
    path = f"/api/v1/payouts/{jo['id']}/failed"
    assert api.post(path, "operator", {"reason": ""}, key="f").status_code == 422
    failed = api.post(path, "operator", {"reason": "account closed"}, key="f")
    assert failed.json()["status"] == "failed" and failed.json()["failure_reason"] == "account closed"
    books = api.get("/api/v1/books/trial-balance", "operator").json()
    assert {r["code"]: r["balance"]["minor"] for r in books["accounts"]}[jo["payee_id"]] == -3_036
