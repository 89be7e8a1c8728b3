"""Pay per crawl on the web: a licensee's crawlers and crawl charges (API and /licensing), and crawl invoices
on the books, the invoice pages and the creator's statement (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from fairtrain.accounts.models import User
from fairtrain.accounts.tokens import create_api_token
from fairtrain.ledger.models import Invoice
from fairtrain.licensing.billing import bill_due
from fairtrain.licensing.crawlers import list_crawlers, register_crawler
from tests.helpers import csrf, csrf_from, log_in_as
from tests.licensing.helpers import World, build_world_with_logins
from tests.licensing.test_crawl_billing import books_balance, charge  # noqa: F401 - autouse fixture

_KEY = re.compile(r'name="idempotency_key" value="([^"]+)"')


@pytest.fixture
def world(db: Session) -> World:
    return build_world_with_logins(db)


def _token(db: Session, user: User) -> dict[str, str]:
    secret = create_api_token(db, user=user, name="t")[1]
    db.commit()
    return {"Authorization": f"Bearer {secret}"}


def _as(client: TestClient, user: User) -> TestClient:
    return log_in_as(client, user.email)


def test_a_licensee_registers_lists_and_revokes_crawlers_through_the_api(
    client: TestClient, db: Session, world: World
) -> None:
    buyer = _token(db, world.buyer)
    base = f"/api/v1/licensees/{world.org.id}/crawlers"
    made = client.post(
        base, json={"agent": "https://Crawler.Example/", "max_price_micros": 50_000}, headers=buyer
    )
    assert made.status_code == 201, made.text
    account = made.json()
    assert (account["agent"], account["max_price_micros"], account["revoked_at"]) == (
        "https://crawler.example",
        50_000,
        None,
    )
    assert client.post(base, json={"agent": "GPTBot"}, headers=buyer).json()["agent"] == "gptbot"
    assert [a["agent"] for a in client.get(base, headers=buyer).json()] == [
        "https://crawler.example",
        "gptbot",
    ]

    # Refusals name the problem and store nothing.
    unknown = client.post(base, json={"agent": "NoSuchBot"}, headers=buyer)
    assert unknown.status_code == 422 and "knows no crawler" in unknown.text
    plain = client.post(base, json={"agent": "http://crawler.example"}, headers=buyer)
    assert plain.status_code == 422 and "https origin" in plain.text
    assert client.post(base, json={"agent": "ccbot", "max_price_micros": 0}, headers=buyer).status_code == 422
    register_crawler(db, org=world.other_org, agent="ccbot")
    db.commit()
    taken = client.post(base, json={"agent": "CCBot"}, headers=buyer)
    assert taken.status_code == 409 and "another organisation" in taken.text
    assert len(list_crawlers(db, world.org)) == 2

    # Only the organisation's members (and operators) manage its crawlers.
    stranger = _token(db, world.stranger)
    assert client.get(base, headers=stranger).status_code in (403, 404)
    assert client.post(base, json={"agent": "bytespider"}, headers=stranger).status_code in (403, 404)
    other = f"/api/v1/licensees/{world.other_org.id}/crawlers"
    assert client.get(other, headers=buyer).status_code == 404
    operator = _token(db, world.operator)
    assert [a["agent"] for a in client.get(other, headers=operator).json()] == ["ccbot"]
    assert client.get(base).status_code == 401

    revoke = f"{base}/{account['id']}/revoke"
    assert client.post(f"{other}/{account['id']}/revoke", headers=operator).status_code == 404
    revoked = client.post(revoke, headers=buyer)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    assert [a["agent"] for a in client.get(base, headers=buyer).json()] == ["gptbot"]
    everything = client.get(base, params={"include_revoked": "true"}, headers=buyer).json()
    assert len(everything) == 2


def test_a_licensee_reads_its_crawl_charges(client: TestClient, db: Session, world: World) -> None:
    photo, mira = world.photos[0].id, world.mira.id
    for day in (1, 15, 31):
        charge(db, world.org, photo, mira, 15_000, datetime(2026, 1, day, 10, tzinfo=UTC))
    charge(db, world.org, photo, mira, 10_000, datetime(2026, 2, 1, 0, tzinfo=UTC))
    charge(db, world.other_org, photo, mira, 10_000, datetime(2026, 1, 2, tzinfo=UTC))
    db.commit()
    buyer = _token(db, world.buyer)
    url = f"/api/v1/licensees/{world.org.id}/crawl-charges"

    page = client.get(url, params={"limit": 2}, headers=buyer).json()
    assert (page["total"], page["limit"], page["offset"], len(page["items"])) == (4, 2, 0, 2)
    newest = page["items"][0]
    assert newest["occurred_at"] == "2026-02-01T00:00:00Z"
    assert (newest["price"], newest["price_micros"], newest["currency"], newest["invoice_id"]) == (
        "0.01",
        10_000,
        "USD",
        None,
    )
    assert newest["asset_id"] == photo and newest["path"] == f"/works/{photo}"
    # A date is a whole UTC day, "until" included.
    january = client.get(url, params={"since": "2026-01-01", "until": "2026-01-31"}, headers=buyer).json()
    assert january["total"] == 3 and {c["price"] for c in january["items"]} == {"0.015"}
    # A time is exact and "until" excludes it.
    window = {"since": "2026-01-15T10:00:00Z", "until": "2026-02-01T00:00:00+00:00"}
    assert client.get(url, params=window, headers=buyer).json()["total"] == 2
    later = client.get(url, params={"offset": 3}, headers=buyer).json()
    assert later["total"] == 4 and len(later["items"]) == 1
    naive = client.get(url, params={"since": "2026-01-01T00:00:00"}, headers=buyer)
    assert naive.status_code == 422 and "timezone" in naive.text
    assert client.get(url, params={"since": "January"}, headers=buyer).status_code == 422
    backwards = client.get(url, params={"since": "2026-02-01", "until": "2026-01-01"}, headers=buyer)
    assert backwards.status_code == 422
    other = f"/api/v1/licensees/{world.other_org.id}/crawl-charges"
    assert client.get(other, headers=buyer).status_code == 404

    # Once billed, a charge names its invoice.
    [invoice] = [i for i in bill_due(db, today=date(2026, 2, 2)) if i.licensee_org_id == world.org.id]
    db.commit()
    billed = client.get(url, params={"until": "2026-01-31"}, headers=buyer).json()
    assert {c["invoice_id"] for c in billed["items"]} == {invoice.id}


def test_the_licensing_page_registers_and_revokes_crawlers(
    client: TestClient, db: Session, world: World
) -> None:
    charge(db, world.org, world.photos[0].id, world.mira.id, 15_000, datetime.now(UTC))
    db.commit()
    _as(client, world.buyer)
    page = client.get("/licensing")
    assert page.status_code == 200 and "Crawlers you pay for" in page.text
    assert 'data-testid="crawl-months"' in page.text and "0.015 USD" in page.text
    action = f"/licensing/{world.org.id}/crawlers"
    form = {"agent": "GPTBot", "max_price": "0.05", "currency": "usd", "csrf_token": csrf_from(page.text)}
    added = client.post(action, data=form, follow_redirects=False)
    assert added.status_code == 303 and added.headers["location"].endswith("notice=crawler-added")
    shown = client.get(added.headers["location"])
    assert "<code>gptbot</code>" in shown.text and "0.05" in shown.text
    [account] = list_crawlers(db, world.org)
    assert account.max_price_micros == 50_000

    bad = client.post(
        action,
        data={
            "agent": "NoSuchBot",
            "max_price": "",
            "currency": "USD",
            "csrf_token": csrf(client, "/licensing"),
        },
    )
    assert bad.status_code == 422 and "knows no crawler" in bad.text and 'value="NoSuchBot"' in bad.text
    too_fine = client.post(
        action,
        data={
            "agent": "ccbot",
            "max_price": "0.0000001",
            "currency": "USD",
            "csrf_token": csrf(client, "/licensing"),
        },
    )
    assert too_fine.status_code == 422
    assert client.post(action, data={"agent": "ccbot"}, follow_redirects=False).status_code == 403  # no CSRF
    db.expire_all()
    assert len(list_crawlers(db, world.org)) == 1

    revoke = f"/licensing/{world.org.id}/crawlers/{account.id}/revoke"
    done = client.post(revoke, data={"csrf_token": csrf(client, "/licensing")}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"].endswith("notice=crawler-revoked")
    assert "stopped" in client.get(done.headers["location"]).text
    db.expire_all()
    assert list_crawlers(db, world.org) == []

    # Another organisation's crawler is not this member's to revoke.
    theirs = register_crawler(db, org=world.other_org, agent="ccbot")
    db.commit()
    foreign = client.post(
        f"/licensing/{world.other_org.id}/crawlers/{theirs.id}/revoke",
        data={"csrf_token": csrf(client, "/licensing")},
        follow_redirects=False,
    )
    assert foreign.status_code == 404
    db.expire_all()
    assert list_crawlers(db, world.other_org) != []


def test_crawl_invoices_on_the_books_the_invoice_page_and_the_statement(
    client: TestClient, db: Session, world: World
) -> None:
    for day in (3, 4):
        charge(
            db, world.org, world.photos[0].id, world.mira.id, 2_500_000, datetime(2026, 1, day, tzinfo=UTC)
        )
    db.commit()
    [invoice] = bill_due(db, today=date(2026, 2, 1))
    db.commit()
    assert invoice.total == 500

    books = _as(client, world.operator).get("/books")
    row = books.text[books.text.index(f'data-testid="unpaid-{invoice.reference}"') :]
    assert "Pay per crawl, Mira" in row[: row.index("</tr>")]
    action = f"/books/invoices/{invoice.id}/pay"
    start = books.text.index(f'action="{action}"')
    key = _KEY.search(books.text[start:])
    assert key is not None
    form = {"csrf_token": csrf_from(books.text), "idempotency_key": key.group(1), "amount": "5.00"}
    paid = client.post(action, data=form, follow_redirects=False)
    assert paid.headers["location"] == f"/books?notice=paid:{invoice.reference}:distributed"
    db.expire_all()
    stored = db.get(Invoice, invoice.id)
    assert stored is not None and stored.distribution_id is not None

    _as(client, world.buyer)
    listing = client.get("/invoices")
    assert "Pay per crawl, Mira, January 2026" in listing.text
    page = client.get(f"/invoices/{invoice.id}")
    assert 'data-testid="invoice-for">Pay per crawl, Mira, January 2026<' in page.text
    assert "2 crawls at 2.50 USD" in page.text and "5.00 USD" in page.text

    statement = _as(client, world.mira_user).get("/statements")
    assert "Pay per crawl, Mira" in statement.text and "4.25 USD" in statement.text  # 15 % platform fee
    api = client.get("/api/v1/statements", headers=_token(db, world.mira_user))
    assert api.status_code == 200, api.text
    [source] = api.json()["sources"]
    assert (source["source_type"], source["title"]) == ("crawl", "Pay per crawl, Mira")
