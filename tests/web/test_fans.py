"""Fans' pages and API: tiers on /fans and /@handle, subscribing, /subscriptions, /fans/payments, /api/v1."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fairtrain.accounts.models import User
from fairtrain.accounts.tokens import create_api_token
from fairtrain.catalog import service as catalog
from fairtrain.gateway.models import Subscription, SubscriptionPayment, SubscriptionTier
from fairtrain.ledger.models import DistributionRun
from tests.helpers import csrf_from, log_in_as
from tests.licensing.helpers import World, build_world_with_logins

_KEY = re.compile(r'name="idempotency_key" value="([^"]+)"')


@pytest.fixture
def world(db: Session) -> World:
    return build_world_with_logins(db)


def _as(client: TestClient, user: User) -> TestClient:
    return log_in_as(client, user.email)


def _count(db: Session, model: type) -> int:
    db.expire_all()
    return int(db.scalar(select(func.count()).select_from(model)) or 0)


def test_a_creator_makes_tiers_a_fan_subscribes_and_an_operator_records_the_transfer(
    client: TestClient, db: Session, world: World
) -> None:
    fans = _as(client, world.mira_user).get("/fans")
    assert fans.status_code == 200 and ">Fans</a>" in fans.text and 'data-testid="no-tiers"' in fans.text
    token = csrf_from(fans.text)
    refused = client.post(
        "/fans/tiers", data={"csrf_token": token, "name": "Supporter", "price": "5.001", "currency": "USD"}
    )
    assert refused.status_code == 422 and 'data-testid="fans-error"' in refused.text
    assert "fractions of a minor unit" in refused.text and 'value="Supporter"' in refused.text
    created = client.post(
        "/fans/tiers",
        data={"csrf_token": token, "name": "Supporter", "price": "5.00", "currency": "USD", "unlocks": "all"},
        follow_redirects=False,
    )
    assert created.status_code == 303 and created.headers["location"] == "/fans?notice=created%3ASupporter"
    series = catalog.get_collection(db, creator=world.mira, slug="series")
    data = {"csrf_token": token, "name": "Series", "price": "2", "currency": "USD", "unlocks": "some"}
    created = client.post("/fans/tiers", data={**data, "collections": [series.id]}, follow_redirects=False)
    assert created.status_code == 303
    page = client.get(created.headers["location"])
    assert "Tier “Series” created" in page.text and 'data-testid="tier-row-Supporter"' in page.text
    assert "5.00 USD" in page.text and "2.00 USD" in page.text and ">Series</td>" in page.text
    assert _count(db, SubscriptionTier) == 2
    assert client.post("/fans/tiers", data={"name": "x", "price": "1"}).status_code == 403  # no CSRF token

    client.cookies.clear()
    public = client.get("/@mira")
    assert 'data-testid="tiers"' in public.text and "Log in to subscribe" in public.text
    assert "Every work by Mira" in public.text and "The collection: Series" in public.text

    profile = _as(client, world.stranger).get("/@mira")
    tier = db.scalar(select(SubscriptionTier).where(SubscriptionTier.name == "Supporter"))
    assert tier is not None and f'action="/tiers/{tier.id}/subscribe"' in profile.text
    subscribed = client.post(
        f"/tiers/{tier.id}/subscribe", data={"csrf_token": csrf_from(profile.text)}, follow_redirects=False
    )
    assert subscribed.status_code == 303 and subscribed.headers["location"].startswith(
        "/subscriptions?notice=subscribed:sub_"
    )
    mine = client.get(subscribed.headers["location"])
    assert ">Subscriptions</a>" in mine.text and 'data-testid="subscription-state">pending<' in mine.text
    reference = re.search(r"quoting the reference (FT-SUB-\w+)\.", mine.text)
    assert reference, mine.text
    again = client.post(f"/tiers/{tier.id}/subscribe", data={"csrf_token": csrf_from(mine.text)})
    assert again.status_code == 409 and "waiting for its first payment" in again.text
    assert client.get("/fans/payments").status_code == 403

    payments = _as(client, world.operator).get("/fans/payments")
    assert f'data-testid="due-{reference.group(1)}"' in payments.text and "eve@example.com" in payments.text
    match = _KEY.search(payments.text)
    assert match
    [payment] = db.scalars(select(SubscriptionPayment)).all()
    form = {
        "csrf_token": csrf_from(payments.text),
        "idempotency_key": match.group(1),
        "amount": "4.00",
        "reference": "TRX-7",
    }
    wrong = client.post(f"/fans/payments/{payment.id}/paid", data=form)
    assert wrong.status_code == 422 and "is for 5.00 USD, not 4.00 USD" in wrong.text
    form["amount"] = "5.00"
    paid = client.post(f"/fans/payments/{payment.id}/paid", data=form, follow_redirects=False)
    assert (
        paid.status_code == 303
        and paid.headers["location"] == f"/fans/payments?notice=paid:{payment.reference}"
    )
    replay = client.post(f"/fans/payments/{payment.id}/paid", data=form, follow_redirects=False)
    assert replay.headers["location"] == paid.headers["location"]  # a resubmitted form records once
    assert _count(db, DistributionRun) == 1
    assert 'data-testid="no-due-payments"' in client.get(paid.headers["location"]).text

    mine = _as(client, world.stranger).get("/subscriptions")
    assert 'data-testid="subscription-state">active<' in mine.text and 'data-testid="paid-until"' in mine.text
    [subscription] = db.scalars(select(Subscription)).all()
    cancelled = client.post(
        f"/subscriptions/{subscription.id}/cancel",
        data={"csrf_token": csrf_from(mine.text)},
        follow_redirects=False,
    )
    assert cancelled.headers["location"] == f"/subscriptions?notice=cancelled:{subscription.id}"
    assert "Months you paid for run to their end" in client.get(cancelled.headers["location"]).text

    subscribers = _as(client, world.mira_user).get("/fans")
    row = subscribers.text.split('data-testid="subscriber-eve@example.com"')[1].split("</tr>")[0]
    assert "Supporter" in row and "active (ends)" in row
    statement = client.get("/statements")
    assert "4.25 USD" in statement.text  # 5.00 less the 15 % platform fee
    assert _as(client, world.buyer).get("/fans").status_code == 403  # not a creator


def test_the_api(client: TestClient, db: Session, world: World) -> None:
    def bearer(user: User) -> dict[str, str]:
        return {"Authorization": f"Bearer {create_api_token(db, user=user, name='test')[1]}"}

    mira, fan, operator = bearer(world.mira_user), bearer(world.stranger), bearer(world.operator)
    buyer = bearer(world.buyer)
    db.commit()
    body = {
        "name": "Series",
        "price": "3.50",
        "currency": "EUR",
        "unlocks_all": False,
        "collections": ["series"],
    }
    created = client.post("/api/v1/tiers", json=body, headers=mira)
    assert created.status_code == 201, created.text
    tier = created.json()
    assert tier["price"] == {"amount": "3.50", "minor": 350, "currency": "EUR"}
    assert tier["creator"] == "mira" and [c["slug"] for c in tier["collections"]] == ["series"]
    assert client.post("/api/v1/tiers", json={**body, "price": "-1"}, headers=mira).status_code == 422
    assert client.post("/api/v1/tiers", json=body, headers=fan).status_code == 403  # no creator profile
    assert [t["id"] for t in client.get("/api/v1/tiers", headers=mira).json()] == [tier["id"]]
    assert [t["name"] for t in client.get("/api/v1/creators/mira/tiers").json()] == ["Series"]

    subscribed = client.post(f"/api/v1/tiers/{tier['id']}/subscribe", headers=fan)
    assert subscribed.status_code == 201
    subscription = subscribed.json()
    assert subscription["status"] == "pending" and subscription["paid_until"] is None
    [instructions] = subscription["instructions"]
    [month] = subscription["payments"]
    assert instructions["reference"] == month["reference"] and month["amount"]["minor"] == 350
    assert f"quoting the reference {month['reference']}" in instructions["text"]
    assert client.post(f"/api/v1/tiers/{tier['id']}/subscribe", headers=fan).status_code == 409

    pay = f"/api/v1/subscription-payments/{month['id']}/paid"
    assert client.post(pay, json={"amount": "3.50"}, headers=fan).status_code == 403
    assert client.post(pay, json={"amount": "3.50"}, headers=operator).status_code == 400  # no key
    keyed = {**operator, "Idempotency-Key": "k-1"}
    wrong = client.post(
        pay, json={"amount": "3.50", "currency": "USD"}, headers={**keyed, "Idempotency-Key": "k-0"}
    )
    assert wrong.status_code == 422 and wrong.json()["code"] == "wrong_amount"
    paid = client.post(pay, json={"amount": "3.50", "reference": "TRX-1"}, headers=keyed)
    assert paid.status_code == 201, paid.text
    assert paid.json()["subscription"]["status"] == "active" and paid.json()["payment"]["status"] == "paid"
    replay = client.post(pay, json={"amount": "3.50", "reference": "TRX-1"}, headers=keyed)
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == paid.json()
    twice = client.post(
        pay, json={"amount": "3.50", "reference": "TRX-2"}, headers={**operator, "Idempotency-Key": "k-2"}
    )
    assert twice.status_code == 409 and twice.json()["code"] == "subscription_payment_not_due"
    assert _count(db, DistributionRun) == 1

    [mine] = client.get("/api/v1/subscriptions", headers=fan).json()
    assert mine["status"] == "active" and mine["instructions"] == []
    assert client.post(f"/api/v1/subscriptions/{mine['id']}/cancel", headers=buyer).status_code == 404
    ended = client.post(f"/api/v1/subscriptions/{mine['id']}/cancel", headers=fan)
    assert ended.status_code == 200 and ended.json()["cancel_at_period_end"] is True
    now = client.post(
        f"/api/v1/subscriptions/{mine['id']}/cancel", json={"at_period_end": False}, headers=mira
    )
    assert now.status_code == 200 and now.json()["status"] == "cancelled"

    retired = client.post(f"/api/v1/tiers/{tier['id']}/retire", headers=mira)
    assert retired.status_code == 200 and retired.json()["active"] is False
    assert client.get("/api/v1/creators/mira/tiers").json() == []
    assert client.get("/api/v1/subscriptions").status_code == 401
