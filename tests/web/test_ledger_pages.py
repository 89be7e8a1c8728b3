"""Money pages: /invoices for licensees, /statements for creators, /books for operators."""

from __future__ import annotations

import re
from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fairtrain.accounts.models import User
from fairtrain.ledger.models import Invoice, Payment, Payout, PayoutBatch
from fairtrain.licensing.billing import bill_due
from fairtrain.licensing.terms import Fee
from tests.helpers import csrf_from, log_in_as
from tests.licensing.helpers import World, build_world_with_logins
from tests.licensing.test_billing import books_balance, co_own, guild_deal  # noqa: F401 - autouse fixture

_KEY = re.compile(r'name="idempotency_key" value="([^"]+)"')


@pytest.fixture
def world(db: Session) -> World:
    return build_world_with_logins(db)


def _as(client: TestClient, user: User) -> TestClient:
    return log_in_as(client, user.email)


def _invoice(db: Session, world: World) -> Invoice:
    co_own(db, world)
    guild_deal(db, world)
    [invoice] = bill_due(db, today=date(2026, 1, 16))
    db.commit()
    return invoice


def _count(db: Session, model: type) -> int:
    db.expire_all()
    return int(db.scalar(select(func.count()).select_from(model)) or 0)


def _form(page: str, action: str) -> tuple[str, str]:
    """(csrf token, idempotency key) of the form posting to ``action``."""
    start = page.index(f'action="{action}"')
    form = page[start : page.index("</form>", start)]
    match = _KEY.search(form)
    assert match, f"no idempotency key in the form for {action}"
    return csrf_from(page), match.group(1)


def test_operator_marks_paid_once_and_the_creator_sees_the_statement(
    client: TestClient, db: Session, world: World
) -> None:
    invoice = _invoice(db, world)
    books = _as(client, world.operator).get("/books")
    assert books.status_code == 200
    assert f'data-testid="unpaid-{invoice.reference}"' in books.text and "Acme AI" in books.text
    assert ">Books</a>" in books.text and "balanced" in books.text
    token, key = _form(books.text, f"/books/invoices/{invoice.id}/pay")
    form = {"csrf_token": token, "idempotency_key": key, "amount": "1000.00", "reference": "TRX-88"}
    paid = client.post(f"/books/invoices/{invoice.id}/pay", data=form, follow_redirects=False)
    assert paid.status_code == 303
    assert paid.headers["location"] == f"/books?notice=paid:{invoice.reference}:distributed"
    again = client.post(f"/books/invoices/{invoice.id}/pay", data=form, follow_redirects=False)
    assert again.headers["location"] == paid.headers["location"]  # a resubmitted form pays once
    assert _count(db, Payment) == 1
    after = client.get(paid.headers["location"])
    assert "the invoice is paid and its money distributed" in after.text
    assert 'data-testid="no-unpaid"' in after.text

    page = _as(client, world.mira_user).get("/statements")
    assert page.status_code == 200 and ">Statements</a>" in page.text
    assert "576.79 USD" in page.text and "Guild pool" in page.text and "714.29 USD" in page.text
    assert "-30.36 USD" in page.text  # Jo Park's quarter of one work
    link = re.search(r'href="/statements\.csv\?([^"]+)"', page.text)
    assert link is not None
    csv = client.get(f"/statements.csv?{link.group(1).replace('&amp;', '&')}")
    assert csv.headers["content-type"].startswith("text/csv")
    assert "summary,Earnings credited,,576.79,USD" in csv.text
    pdf = client.get(f"/statements.pdf?{link.group(1).replace('&amp;', '&')}")
    assert pdf.content.startswith(b"%PDF") and "attachment" in pdf.headers["content-disposition"]
    assert client.get("/statements?creator=ola").status_code == 403
    assert client.get("/books").status_code == 403


def test_a_bad_amount_is_refused_and_nothing_is_recorded(
    client: TestClient, db: Session, world: World
) -> None:
    invoice = _invoice(db, world)
    books = _as(client, world.operator).get("/books")
    token, key = _form(books.text, f"/books/invoices/{invoice.id}/pay")
    refused = client.post(
        f"/books/invoices/{invoice.id}/pay",
        data={"csrf_token": token, "idempotency_key": key, "amount": "1000.005"},
    )
    assert refused.status_code == 422
    assert "fractions of a minor unit" in refused.text and 'data-testid="books-error"' in refused.text
    no_key = client.post(f"/books/invoices/{invoice.id}/pay", data={"csrf_token": token, "amount": "1"})
    assert no_key.status_code == 400 and "Idempotency-Key" in no_key.text
    no_csrf = client.post(f"/books/invoices/{invoice.id}/pay", data={"idempotency_key": "x", "amount": "1"})
    assert no_csrf.status_code == 403
    assert _count(db, Payment) == 0


def test_licensee_invoices_and_who_may_see_them(client: TestClient, db: Session, world: World) -> None:
    invoice = _invoice(db, world)
    listing = _as(client, world.buyer).get("/invoices")
    assert ">Invoices</a>" in listing.text and invoice.reference in listing.text
    assert "Deals of Acme AI" in listing.text and "Guild pool" in listing.text
    detail = client.get(f"/invoices/{invoice.id}")
    assert detail.status_code == 200 and 'data-testid="payment-instructions"' in detail.text
    assert f"quoting the reference {invoice.reference}" in detail.text
    assert "Mark paid" not in detail.text  # only operators record payments
    assert client.get("/books").status_code == 403
    assert client.get("/statements").status_code == 403  # no creator profile

    stranger = _as(client, world.stranger)
    assert invoice.reference not in stranger.get("/invoices").text
    assert stranger.get(f"/invoices/{invoice.id}").status_code == 404
    client.cookies.clear()
    assert client.get("/invoices", follow_redirects=False).status_code == 303  # to the log-in page

    operator_view = _as(client, world.operator).get(f"/invoices/{invoice.id}")
    assert "Mark paid" in operator_view.text


def test_payout_batch_csv_sent_and_failed(client: TestClient, db: Session, world: World) -> None:
    invoice = _invoice(db, world)
    books = _as(client, world.operator).get("/books")
    token, key = _form(books.text, f"/books/invoices/{invoice.id}/pay")
    client.post(f"/books/invoices/{invoice.id}/pay", data={"csrf_token": token, "idempotency_key": key})
    books = client.get("/books")
    token, key = _form(books.text, "/books/payout-batches")
    created = client.post(
        "/books/payout-batches",
        data={"csrf_token": token, "idempotency_key": key, "currency": "USD", "minimum": "100.00"},
        follow_redirects=False,
    )
    assert created.status_code == 303
    page = client.get(created.headers["location"])
    assert "Mira Jensen" in page.text and "Ola" in page.text and "Jo Park" not in page.text  # 30.36 carries
    batch = db.scalar(select(PayoutBatch))
    assert batch is not None and batch.total == 57_679 + 24_286
    csv = client.get(f"/books/payout-batches/{batch.id}/csv")
    assert csv.text.splitlines()[0] == "reference,payee_id,name,amount,currency,amount_minor,payout_id"
    payouts = {p.payee_name: p for p in db.scalars(select(Payout))}
    mira, ola = payouts["Mira Jensen"], payouts["Ola"]
    token, key = _form(page.text, f"/books/payouts/{mira.id}/sent")
    sent = client.post(f"/books/payouts/{mira.id}/sent", data={"csrf_token": token, "idempotency_key": key})
    assert sent.status_code == 200 and "marked sent" in sent.text
    token, key = _form(sent.text, f"/books/payouts/{ola.id}/failed")
    failed = client.post(
        f"/books/payouts/{ola.id}/failed",
        data={"csrf_token": token, "idempotency_key": key, "reason": "account closed"},
    )
    assert failed.status_code == 200 and "back on the payee" in failed.text
    db.expire_all()
    assert (db.get(Payout, mira.id).status, db.get(Payout, ola.id).status) == ("sent", "failed")  # type: ignore[union-attr]


def test_run_billing_from_the_books(client: TestClient, db: Session, world: World) -> None:
    guild_deal(db, world, fee=Fee("flat", currency="EUR", amount_minor=20_000))
    books = _as(client, world.operator).get("/books")
    assert 'data-testid="no-unpaid"' in books.text
    ran = client.post("/books/tick", data={"csrf_token": csrf_from(books.text)})
    assert ran.status_code == 200 and "1 invoice issued, 0 pools distributed" in ran.text
    assert "200.00 EUR" in ran.text
    ran = client.post("/books/tick", data={"csrf_token": csrf_from(books.text)})
    assert "0 invoices issued" in ran.text
