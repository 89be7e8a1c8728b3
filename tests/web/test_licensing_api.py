"""The licensing JSON API: offers, licensees and API clients, deals and agreements (SQLite and PostgreSQL)."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fairtrain.accounts import service as accounts
from fairtrain.accounts.demo import seed_demo
from fairtrain.accounts.models import Role
from fairtrain.accounts.tokens import create_api_token
from fairtrain.licensing.clients import authenticate_client
from fairtrain.licensing.errors import InvalidClient
from fairtrain.licensing.models import Deal, Offer
from fairtrain.rights.policy import Rule, Scope, set_rule
from tests.helpers import STRONG_PASSWORD, csrf, log_in
from tests.licensing.helpers import make_asset

TERMS: dict[str, Any] = {
    "usages": ["ai-train"],
    "fee": {"model": "flat", "currency": "USD", "amount_minor": 500_000},
    "duration_days": 365,
}


@dataclass
class Demo:
    tokens: dict[str, dict[str, str]]
    org_id: str
    asset_ids: list[str]

    def auth(self, who: str) -> dict[str, str]:
        return self.tokens[who]


@pytest.fixture
def demo(db: Session) -> Demo:
    seed_demo(db, min_password_length=10)
    mira = accounts.get_creator(db, "mira")
    assets = [make_asset(db, mira, f"harbour-{i}") for i in range(3)]
    tokens = {}
    for who in ("mira", "jonas", "fan", "licensing", "operator"):
        user = accounts.get_user_by_email(db, f"{who}@demo.example.com")
        tokens[who] = {"Authorization": f"Bearer {create_api_token(db, user=user, name='t')[1]}"}
    org = accounts.get_licensee_org(db, "Example AI Lab")
    db.commit()
    return Demo(tokens, org.id, [a.id for a in assets])


def _offer(client: TestClient, demo: Demo, **changes: Any) -> dict[str, Any]:
    body = {"title": "Harbour photos for training", "terms": TERMS, **changes}
    response = client.post("/api/v1/offers", json=body, headers=demo.auth("mira"))
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_a_licensee_accepts_an_offer_through_the_api_and_gets_the_agreement(
    client: TestClient, demo: Demo, db: Session
) -> None:
    offer = _offer(client, demo)
    assert offer["status"] == "open" and offer["version"] == 1 and offer["seller"]["handle"] == "mira"
    assert offer["url"] == f"http://testserver/offers/{offer['id']}"
    assert offer["terms"]["fee"]["description"] == "USD 5000.00 once"
    assert offer["terms"]["rsl_payment"] == "purchase"
    assert offer["portfolio"] == {"creators": 1, "works": 3, "by_kind": {"image": 3}}
    assert '<permits type="usage">ai-train</permits>' in offer["rsl_license"]
    listing = client.get("/api/v1/offers").json()  # public: no credentials
    assert listing["total"] == 1 and [o["id"] for o in listing["items"]] == [offer["id"]]

    # The licensee's organisation and an API client, its secret shown once.
    (org,) = client.get("/api/v1/licensees/me", headers=demo.auth("licensing")).json()
    assert org["id"] == demo.org_id and [m["email"] for m in org["members"]] == ["licensing@demo.example.com"]
    created = client.post(
        f"/api/v1/licensees/{demo.org_id}/clients", json={"name": "crawler"}, headers=demo.auth("licensing")
    )
    assert created.status_code == 201
    secret = created.json()["client_secret"]
    assert secret.startswith("ftcs_") and created.json()["secret_hint"] == secret[:9]
    again = client.get("/api/v1/licensees/me", headers=demo.auth("licensing")).text
    assert secret not in again and created.json()["id"] in again
    assert authenticate_client(db, created.json()["id"], secret).org_id == demo.org_id
    db.rollback()  # authenticating wrote last_used_at: let go of SQLite's write lock

    requested = client.post(
        "/api/v1/deals",
        json={"offer_id": offer["id"], "message": "for our model"},
        headers=demo.auth("licensing"),
    )
    assert requested.status_code == 201, requested.text
    deal = requested.json()
    assert deal["status"] == "proposed" and deal["terms_from"] == "licensee" and deal["agreement"] is None
    assert deal["your_sides"] == ["licensee"]
    assert {(a["action"], a["side"]) for a in deal["actions"]} == {
        ("counter", "licensee"),
        ("withdraw", "licensee"),
    }
    assert deal["events"][0]["actor"] == "you" and deal["events"][0]["reason"] == "for our model"

    mine = client.get("/api/v1/deals", headers=demo.auth("mira")).json()
    assert mine["total"] == 1 and mine["items"][0]["id"] == deal["id"]
    accepted = client.post(f"/api/v1/deals/{deal['id']}/accept", headers=demo.auth("mira"))
    assert accepted.status_code == 200, accepted.text
    deal = accepted.json()
    assert deal["status"] == "active" and deal["asset_count"] == 3 and deal["selection_sha256"]
    assert [e["action"] for e in deal["events"]] == ["proposed", "accepted", "activated"]
    assert deal["events"][0]["actor"] == "licensing@demo.example.com (Example AI Lab)"
    agreement = deal["agreement"]
    assert agreement["pdf_url"] == f"http://testserver/api/v1/deals/{deal['id']}/agreement.pdf"

    pdf = client.get(f"/api/v1/deals/{deal['id']}/agreement.pdf", headers=demo.auth("licensing"))
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert (
        pdf.content.startswith(b"%PDF") and hashlib.sha256(pdf.content).hexdigest() == agreement["pdf_sha256"]
    )
    html = client.get(f"/api/v1/deals/{deal['id']}/agreement", headers=demo.auth("licensing"))
    assert html.headers["content-type"].startswith("text/html")
    digest = hashlib.sha256(html.content).digest()
    assert digest.hex() == agreement["sha256"]
    assert html.headers["repr-digest"] == f"sha-256=:{base64.b64encode(digest).decode()}:"
    for asset_id in demo.asset_ids:
        assert asset_id in html.text

    # ... and a working RSL licence token for the licensed works, verifiable offline against the JWKS.
    basic = "Basic " + base64.b64encode(f"{created.json()['id']}:{secret}".encode()).decode()
    license_element = (
        '<license xmlns="https://rslstandard.org/rsl"><permits type="usage">ai-train</permits></license>'
    )
    issued = client.post(
        "/rsl/token",
        data={"grant_type": "client_credentials", "license": license_element, "resource": "/@mira/*"},
        headers={"Authorization": basic},
    )
    assert issued.status_code == 200, issued.text
    assert issued.json()["token_type"] == "License" and issued.json()["expires_in"] > 0
    token = issued.json()["access_token"]
    keys = KeySet.import_key_set(client.get("/rsl/jwks.json").json())
    claims = jwt.decode(token, keys).claims
    assert (
        claims["deal"] == deal["id"]
        and claims["usage"] == ["ai-train"]
        and claims["aud"] == "http://testserver"
    )
    introspected = client.post(
        "/rsl/introspect", data={"token": token}, headers={"Authorization": basic}
    ).json()
    assert introspected["active"] is True
    # A use the deal does not cover gets no token.
    refused = client.post(
        "/rsl/token",
        data={
            "grant_type": "client_credentials",
            "license": license_element.replace("ai-train", "ai-input"),
            "resource": "/@mira/*",
        },
        headers={"Authorization": basic},
    )
    assert refused.status_code == 403 and refused.json()["error"] == "unauthorized_client"


def test_negotiation_counter_accept_and_terminate(client: TestClient, demo: Demo) -> None:
    offer = _offer(client, demo)
    cheaper = {**TERMS, "fee": {"model": "flat", "currency": "USD", "amount_minor": 300_000}}
    deal = client.post(
        "/api/v1/deals", json={"offer_id": offer["id"], "terms": cheaper}, headers=demo.auth("licensing")
    ).json()
    assert (
        deal["terms"]["fee"]["amount_minor"] == 300_000 and deal["events"][0]["action"] == "proposed-changes"
    )

    middle = {**TERMS, "fee": {"model": "flat", "currency": "USD", "amount_minor": 400_000}}
    countered = client.post(
        f"/api/v1/deals/{deal['id']}/counter",
        json={"terms": middle, "reason": "meet in the middle"},
        headers=demo.auth("mira"),
    )
    assert countered.status_code == 200, countered.text
    assert countered.json()["status"] == "countered" and countered.json()["terms_from"] == "seller"
    # The seller cannot accept its own counter-offer.
    refused = client.post(f"/api/v1/deals/{deal['id']}/accept", headers=demo.auth("mira"))
    assert refused.status_code == 409 and refused.json()["code"] == "invalid_transition"

    accepted = client.post(
        f"/api/v1/deals/{deal['id']}/accept", json={"reason": "agreed"}, headers=demo.auth("licensing")
    ).json()
    assert accepted["status"] == "active" and accepted["terms"]["fee"]["amount_minor"] == 400_000
    seen_by_licensee = [e["actor"] for e in accepted["events"]]
    assert seen_by_licensee[1] == "Mira Okafor"  # the seller's staff email stays with the seller
    seen_by_seller = client.get(f"/api/v1/deals/{deal['id']}", headers=demo.auth("mira")).json()
    assert seen_by_seller["events"][1]["actor"] == "you"

    no_reason = client.post(f"/api/v1/deals/{deal['id']}/terminate", json={}, headers=demo.auth("licensing"))
    assert no_reason.status_code == 422
    ended = client.post(
        f"/api/v1/deals/{deal['id']}/terminate",
        json={"reason": "model retired"},
        headers=demo.auth("licensing"),
    ).json()
    assert (
        ended["status"] == "terminated" and ended["end_reason"] == "model retired" and ended["actions"] == []
    )
    terminated = client.get(
        "/api/v1/deals", params={"status": "terminated"}, headers=demo.auth("mira")
    ).json()
    assert terminated["total"] == 1
    assert (
        client.get("/api/v1/deals", params={"status": "active"}, headers=demo.auth("mira")).json()["total"]
        == 0
    )


def test_decline_and_withdraw(client: TestClient, demo: Demo) -> None:
    offer = _offer(client, demo)
    first = client.post(
        "/api/v1/deals", json={"offer_id": offer["id"]}, headers=demo.auth("licensing")
    ).json()
    wrong_side = client.post(f"/api/v1/deals/{first['id']}/decline", headers=demo.auth("licensing"))
    assert wrong_side.status_code == 403 and wrong_side.json()["code"] == "not_a_party"
    declined = client.post(
        f"/api/v1/deals/{first['id']}/decline", json={"reason": "not now"}, headers=demo.auth("mira")
    )
    assert declined.json()["status"] == "declined"
    second = client.post(
        "/api/v1/deals", json={"offer_id": offer["id"]}, headers=demo.auth("licensing")
    ).json()
    withdrawn = client.post(f"/api/v1/deals/{second['id']}/withdraw", headers=demo.auth("licensing"))
    assert withdrawn.json()["status"] == "withdrawn"
    again = client.post(f"/api/v1/deals/{second['id']}/accept", headers=demo.auth("mira"))
    assert again.status_code == 409


def test_versions_updates_and_withdrawal(client: TestClient, demo: Demo) -> None:
    offer = _offer(client, demo)
    yearly = {
        **TERMS,
        "fee": {"model": "recurring", "currency": "EUR", "amount_minor": 120_000, "interval": "yearly"},
    }
    revised = client.post(
        f"/api/v1/offers/{offer['id']}/versions",
        json={"terms": yearly, "note": "yearly now"},
        headers=demo.auth("mira"),
    )
    assert revised.status_code == 201, revised.text
    body = revised.json()
    assert body["current_version"] == 2 and body["terms"]["fee"]["description"] == "EUR 1200.00 yearly"
    assert [v["note"] for v in body["versions"]] == ["", "yearly now"]
    first = client.get(f"/api/v1/offers/{offer['id']}", params={"version": 1}).json()
    assert first["version"] == 1 and first["terms"]["fee"]["model"] == "flat"
    assert client.get(f"/api/v1/offers/{offer['id']}", params={"version": 9}).status_code == 404

    # A request on a version that is no longer current is refused.
    stale = client.post(
        "/api/v1/deals", json={"offer_id": offer["id"], "offer_version": 1}, headers=demo.auth("licensing")
    )
    assert stale.status_code == 422 and "version 2" in stale.json()["detail"]

    hidden = client.patch(f"/api/v1/offers/{offer['id']}", json={"public": False}, headers=demo.auth("mira"))
    assert hidden.json()["public"] is False
    assert client.get("/api/v1/offers").json()["total"] == 0
    assert client.get(f"/api/v1/offers/{offer['id']}").status_code == 200  # unlisted, reachable by its id

    withdrawn = client.post(f"/api/v1/offers/{offer['id']}/withdraw", headers=demo.auth("mira"))
    assert withdrawn.json()["status"] == "withdrawn" and withdrawn.json()["withdrawn_at"]
    closed = client.post("/api/v1/deals", json={"offer_id": offer["id"]}, headers=demo.auth("licensing"))
    assert closed.status_code == 409 and closed.json()["code"] == "offer_closed"
    # The seller still sees its unlisted and withdrawn offers; others see only public open ones.
    assert (
        client.get("/api/v1/offers", params={"seller": "@mira"}, headers=demo.auth("mira")).json()["total"]
        == 1
    )
    assert (
        client.get("/api/v1/offers", params={"seller": "@mira"}, headers=demo.auth("jonas")).json()["total"]
        == 0
    )


def test_a_collective_operator_offers_for_the_collective(client: TestClient, demo: Demo) -> None:
    pooled = {**TERMS, "distribution": "mixed", "distribution_items_bp": 7000}
    created = client.post(
        "/api/v1/offers",
        json={"seller": "northern-light", "title": "Pool", "terms": pooled},
        headers=demo.auth("operator"),
    )
    assert created.status_code == 201, created.text
    assert created.json()["seller"] == {
        "kind": "collective",
        "id": created.json()["seller"]["id"],
        "handle": "northern-light",
        "name": "Northern Light Collective",
        "url": "http://testserver/collectives/northern-light",
    }
    assert "<standard>" in created.json()["rsl_license"]
    by_member = client.post(
        "/api/v1/offers",
        json={"seller": "northern-light", "title": "Pool", "terms": TERMS},
        headers=demo.auth("mira"),
    )
    assert by_member.status_code == 403


def test_who_may_do_what(client: TestClient, demo: Demo, db: Session) -> None:
    offer = _offer(client, demo)
    assert client.post("/api/v1/offers", json={"title": "x", "terms": TERMS}).status_code == 401
    fan = client.post("/api/v1/offers", json={"title": "x", "terms": TERMS}, headers=demo.auth("fan"))
    assert fan.status_code == 403
    foreign = client.post(
        f"/api/v1/offers/{offer['id']}/versions",
        json={"note": "x", "terms": TERMS},
        headers=demo.auth("jonas"),
    )
    assert foreign.status_code == 403 and foreign.json()["code"] == "not_a_party"
    assert (
        client.post(f"/api/v1/offers/{offer['id']}/withdraw", headers=demo.auth("jonas")).status_code == 403
    )
    not_licensee = client.post("/api/v1/deals", json={"offer_id": offer["id"]}, headers=demo.auth("jonas"))
    assert not_licensee.status_code == 403

    deal = client.post("/api/v1/deals", json={"offer_id": offer["id"]}, headers=demo.auth("licensing")).json()
    # Someone else's deal does not exist for them; an operator sees it but is no party to it.
    for path in ("", "/agreement", "/agreement.pdf"):
        missing = client.get(f"/api/v1/deals/{deal['id']}{path}", headers=demo.auth("jonas"))
        assert missing.status_code == 404 and missing.json()["code"] == "unknown_deal"
    assert client.post(f"/api/v1/deals/{deal['id']}/accept", headers=demo.auth("jonas")).status_code == 404
    assert client.get("/api/v1/deals", headers=demo.auth("jonas")).json()["total"] == 0
    seen = client.get(f"/api/v1/deals/{deal['id']}", headers=demo.auth("operator")).json()
    assert seen["your_sides"] == [] and seen["actions"] == []
    assert client.post(f"/api/v1/deals/{deal['id']}/accept", headers=demo.auth("operator")).status_code == 403
    # No agreement before acceptance.
    assert (
        client.get(f"/api/v1/deals/{deal['id']}/agreement", headers=demo.auth("licensing")).status_code == 404
    )
    # Other organisations' clients: not found.
    assert (
        client.post(
            f"/api/v1/licensees/{demo.org_id}/clients", json={"name": "x"}, headers=demo.auth("jonas")
        )
    ).status_code == 404

    # With the browser session instead of a token, changes need the CSRF token.
    log_in(client, "mira@demo.example.com", "demo-creator-harbour-17")
    no_csrf = client.post(f"/api/v1/offers/{offer['id']}/withdraw")
    assert no_csrf.status_code == 403 and no_csrf.json()["code"] == "csrf_failed"
    token = csrf(client, "/account")
    assert (
        client.post(f"/api/v1/offers/{offer['id']}/withdraw", headers={"X-CSRF-Token": token}).status_code
        == 200
    )


@pytest.mark.parametrize(
    ("terms", "fragment"),
    [
        ({**TERMS, "fee": {"model": "flat", "currency": "USD", "amount_minor": 12.5}}, "valid integer"),
        ({**TERMS, "fee": {"model": "flat", "currency": "XYZ", "amount_minor": 100}}, "XYZ"),
        ({**TERMS, "fee": {"model": "flat", "currency": "USD", "amount_minor": -5}}, "negative"),
        ({**TERMS, "fee": {"model": "flat", "currency": "USD"}}, "needs amount minor"),
        ({**TERMS, "usages": ["ai-dance"]}, "usages"),
        ({**TERMS, "start": "2030-01-01T00:00:00"}, "timezone"),
        ({**TERMS, "end": "2030-01-01T00:00:00Z"}, "either an end or a duration"),
        ({**TERMS, "surprise": True}, "surprise"),
    ],
)
def test_invalid_terms_are_refused_and_nothing_is_stored(
    client: TestClient, demo: Demo, db: Session, terms: dict[str, Any], fragment: str
) -> None:
    response = client.post("/api/v1/offers", json={"title": "x", "terms": terms}, headers=demo.auth("mira"))
    assert response.status_code == 422, response.text
    assert fragment in response.json()["detail"] and response.json()["code"] in {
        "validation_error",
        "invalid_input",
    }
    assert db.scalar(select(func.count(Offer.id))) == 0


def test_an_offer_the_policy_refuses_is_not_stored(client: TestClient, demo: Demo, db: Session) -> None:
    mira = accounts.get_creator(db, "mira")
    set_rule(db, scope=Scope("creator", mira.id), usage="ai-train", rule=Rule("deny"), changed_by=None)
    db.commit()
    response = client.post("/api/v1/offers", json={"title": "x", "terms": TERMS}, headers=demo.auth("mira"))
    assert response.status_code == 422 and response.json()["code"] == "usage_denied"
    assert "denies ai-train" in response.json()["detail"]
    assert db.scalar(select(func.count(Offer.id))) == 0
    bad_selection = client.post(
        "/api/v1/offers",
        json={"title": "x", "terms": {**TERMS, "usages": ["search"]}, "selection": {"assets": ["ast_nope"]}},
        headers=demo.auth("mira"),
    )
    assert bad_selection.status_code == 422 and "ast_nope" in bad_selection.json()["detail"]
    empty = client.post(
        "/api/v1/offers", json={"title": "x", "terms": TERMS, "selection": {}}, headers=demo.auth("mira")
    )
    assert empty.status_code == 422 and "selection is empty" in empty.json()["detail"]


def test_register_a_licensee_and_manage_clients(client: TestClient, demo: Demo, db: Session) -> None:
    user = accounts.create_user(
        db, email="dana@lab.example", password=STRONG_PASSWORD, roles=[Role.LICENSEE], min_password_length=10
    )
    dana = {"Authorization": f"Bearer {create_api_token(db, user=user, name='t')[1]}"}
    db.commit()
    assert client.get("/api/v1/licensees/me", headers=dana).json() == []
    body = {
        "name": "Lab Two",
        "contact_name": "Dana",
        "contact_email": "dana@lab.example",
        "billing_email": "bills@lab.example",
    }
    fan = client.post("/api/v1/licensees", json=body, headers=demo.auth("fan"))
    assert fan.status_code == 403
    registered = client.post("/api/v1/licensees", json=body, headers=dana)
    assert registered.status_code == 201, registered.text
    org = registered.json()
    assert org["name"] == "Lab Two" and [m["email"] for m in org["members"]] == ["dana@lab.example"]
    assert client.post("/api/v1/licensees", json=body, headers=dana).status_code == 409
    bad_email = client.post(
        "/api/v1/licensees", json={**body, "name": "Lab 3", "billing_email": "nope"}, headers=dana
    )
    assert bad_email.status_code == 422

    created = client.post(
        f"/api/v1/licensees/{org['id']}/clients", json={"name": "crawler"}, headers=dana
    ).json()
    client_id, first = created["id"], created["client_secret"]
    rotated = client.post(f"/api/v1/licensees/{org['id']}/clients/{client_id}/rotate", headers=dana).json()
    assert rotated["generation"] == 2 and rotated["client_secret"] != first
    with pytest.raises(InvalidClient):
        authenticate_client(db, client_id, first)
    assert authenticate_client(db, client_id, rotated["client_secret"]).id == client_id
    db.rollback()
    revoked = client.post(f"/api/v1/licensees/{org['id']}/clients/{client_id}/revoke", headers=dana).json()
    assert revoked["revoked_at"] is not None and "client_secret" not in revoked
    with pytest.raises(InvalidClient):
        authenticate_client(db, client_id, rotated["client_secret"])
    assert (
        client.post(f"/api/v1/licensees/{org['id']}/clients/{client_id}/rotate", headers=dana).status_code
        == 422
    )
    assert client.get("/api/v1/licensees/me", headers=dana).json()[0]["clients"] == []
    # Members: an existing account joins (and gets the licensee role).
    added = client.post(
        f"/api/v1/licensees/{org['id']}/members", json={"email": "fan@demo.example.com"}, headers=dana
    )
    assert added.status_code == 201 and len(added.json()["members"]) == 2
    assert Role.LICENSEE in accounts.get_user_by_email(db, "fan@demo.example.com").roles
    assert db.scalar(select(func.count(Deal.id))) == 0
