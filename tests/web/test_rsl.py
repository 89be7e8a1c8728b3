"""The RSL licence server over HTTP: /rsl/token, /rsl/introspect, /rsl/jwks.json and its metadata."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy.orm import Session

from fairtrain.accounts import service as accounts
from fairtrain.accounts.models import Role
from fairtrain.accounts.tokens import create_api_token
from fairtrain.config import Settings
from fairtrain.licensing.clients import create_client, get_client, revoke_client
from fairtrain.licensing.deals import Side, accept, get_deal, request_deal, terminate
from fairtrain.licensing.keys import VerificationKeys
from fairtrain.licensing.models import Deal
from fairtrain.licensing.offers import create_offer
from fairtrain.licensing.olp import rotate_signing_key
from fairtrain.licensing.selection import Selection
from fairtrain.licensing.tokens import verify_license_token
from tests.licensing.helpers import World, build_world, terms

BASE = "http://testserver"
LICENSE = '<license xmlns="https://rslstandard.org/rsl"><permits type="usage">ai-train</permits></license>'


class Setup:
    def __init__(self, world: World, deal: Deal, client_id: str, secret: str, operator_token: str) -> None:
        self.world, self.deal, self.client_id, self.secret = world, deal, client_id, secret
        self.operator_token = operator_token

    @property
    def basic(self) -> dict[str, str]:
        return {"Authorization": _basic(f"{self.client_id}:{self.secret}")}


def _basic(text: str | bytes) -> str:
    raw = text.encode() if isinstance(text, str) else text
    return "Basic " + base64.b64encode(raw).decode()


@pytest.fixture
def setup(db: Session) -> Setup:
    """A licensee with an active deal on @mira's photos (real time: the app issues at the real time)."""
    world = build_world(db)
    offer = create_offer(
        db, seller=world.mira, title="Photos", terms=terms(), selection=Selection(kinds=("image",))
    )
    deal = request_deal(db, offer_version=offer.current, org=world.org)
    accept(db, deal=deal, side=Side.SELLER)
    client, secret = create_client(db, org=world.org, name="crawler")
    accounts.grant_role(db, user=world.operator, role=Role.OPERATOR)
    _, operator_token = create_api_token(db, user=world.operator, name="gateway")
    db.commit()
    assert deal.status == "active"
    return Setup(world, deal, client.id, secret, operator_token)


def _token(client: TestClient, setup: Setup, **form: str) -> Any:
    fields = {"grant_type": "client_credentials", "license": LICENSE, "resource": f"{BASE}/@mira/*", **form}
    return client.post("/rsl/token", data=fields, headers=setup.basic)


def _introspect(client: TestClient, token: str, headers: dict[str, str]) -> dict[str, Any]:
    response = client.post("/rsl/introspect", data={"token": token}, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    answer: dict[str, Any] = response.json()
    return answer


def _error(response: Any) -> tuple[int, str]:
    body = response.json()
    assert set(body) == {"error", "error_description"} and body["error_description"], body
    assert response.headers["cache-control"] == "no-store"
    return response.status_code, body["error"]


def test_happy_path(client: TestClient, setup: Setup, settings: Settings) -> None:
    response = _token(client, setup)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "License" and body["expires_in"] == settings.rsl_token_lifetime == 900
    access_token = body["access_token"]
    # A resource server fetches the JWKS and verifies with joserfc alone...
    jwks = client.get("/rsl/jwks.json")
    assert jwks.status_code == 200 and jwks.headers["content-type"] == "application/jwk-set+json"
    assert all("d" not in key for key in jwks.json()["keys"])
    decoded = jwt.decode(access_token, KeySet.import_key_set(jwks.json()), algorithms=["ES256"])
    claims = decoded.claims
    assert decoded.header["kid"] == jwks.json()["keys"][0]["kid"]
    assert (claims["iss"], claims["aud"], claims["sub"]) == (f"{BASE}/rsl", BASE, setup.client_id)
    assert (claims["org"], claims["deal"], claims["scope"], claims["usage"]) == (
        setup.world.org.id,
        setup.deal.id,
        "/@mira/*",
        ["ai-train"],
    )
    assert claims["exp"] - claims["iat"] == 900 and claims["nbf"] == claims["iat"] and claims["jti"]
    # ...or with fairtrain's own offline check.
    token = verify_license_token(access_token, keys=VerificationKeys.from_jwks(jwks.text), audience=BASE)
    assert token.deal_id == setup.deal.id
    # Introspection: the client for its own token, the operator for any.
    answer = _introspect(client, access_token, setup.basic)
    assert (
        answer["active"] is True
        and answer["deal"] == setup.deal.id
        and answer["client_id"] == setup.client_id
    )
    operator = {"Authorization": f"Bearer {setup.operator_token}"}
    assert _introspect(client, access_token, operator)["active"] is True
    assert _introspect(client, "not-a-token", setup.basic) == {"active": False}


def test_metadata_advertises_the_endpoints(client: TestClient) -> None:
    response = client.get("/.well-known/oauth-authorization-server/rsl")
    assert response.status_code == 200
    assert response.json()["issuer"] == f"{BASE}/rsl"
    assert response.json()["jwks_uri"] == f"{BASE}/rsl/jwks.json"
    assert response.json()["token_endpoint"] == f"{BASE}/rsl/token"
    assert response.json()["introspection_endpoint"] == f"{BASE}/rsl/introspect"
    assert client.get("/api/openapi.json").json()["paths"]["/rsl/token"]["post"]["requestBody"]


def test_form_credentials_are_accepted_too(client: TestClient, setup: Setup) -> None:
    fields = {
        "grant_type": "client_credentials",
        "license": LICENSE,
        "resource": "/@mira/*",
        "client_id": setup.client_id,
        "client_secret": setup.secret,
    }
    response = client.post("/rsl/token", data=fields)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("form", "expected"),
    [
        ({"grant_type": "password"}, (400, "unsupported_grant_type")),
        ({"grant_type": ""}, (400, "invalid_request")),  # empty = missing
        ({"resource": ""}, (400, "invalid_request")),
        ({"license": ""}, (400, "invalid_request")),
        ({"license": "<license"}, (400, "invalid_license")),
        ({"license": "<rsl xmlns='https://rslstandard.org/rsl'/>"}, (400, "invalid_license")),
        ({"license_type": "application/json"}, (400, "invalid_license")),
        ({"resource": "https://elsewhere.example/@mira/*"}, (400, "invalid_resource")),
        ({"resource": "/@nobody/*"}, (400, "invalid_resource")),
        ({"resource": "/@ola/*"}, (403, "unauthorized_client")),
        (
            {"license": LICENSE.replace("ai-train", "ai-input")},
            (403, "unauthorized_client"),
        ),
    ],
)
def test_error_codes(
    client: TestClient, setup: Setup, form: dict[str, str], expected: tuple[int, str]
) -> None:
    assert _error(_token(client, setup, **form)) == expected


def test_bad_requests(client: TestClient, setup: Setup) -> None:
    fields = f"grant_type=client_credentials&license={LICENSE}&resource=/@mira/*"
    form = {"Content-Type": "application/x-www-form-urlencoded", **setup.basic}
    assert _error(client.post("/rsl/token", content=fields + "&grant_type=x", headers=form)) == (
        400,
        "invalid_request",
    )
    assert _error(
        client.post("/rsl/token", json={"grant_type": "client_credentials"}, headers=setup.basic)
    ) == (
        400,
        "invalid_request",
    )
    huge = fields + "&x=" + "a" * (64 * 1024)
    assert _error(client.post("/rsl/token", content=huge, headers=form)) == (400, "invalid_request")

    def chunks() -> Any:
        yield fields.encode()
        for _ in range(100):
            yield b"a" * 1024  # no Content-Length: the limit holds while the body streams in

    assert _error(client.post("/rsl/token", content=chunks(), headers=form)) == (400, "invalid_request")
    assert _error(client.post("/rsl/token", content=b"\xff\xfe=\x00", headers=form)) == (
        400,
        "invalid_request",
    )


def test_client_authentication(client: TestClient, setup: Setup) -> None:
    fields = {"grant_type": "client_credentials", "license": LICENSE, "resource": "/@mira/*"}
    for authorization in [
        _basic(f"{setup.client_id}:ftcs_wrong"),
        _basic(f"ftc_nosuchclient:{setup.secret}"),
        "Basic %%%not-base64",
        _basic("no-colon-here"),
        _basic(b"\xff:\xfe"),
        "Bearer " + setup.secret,
        "Basic",
        "",
    ]:
        response = client.post("/rsl/token", data=fields, headers={"Authorization": authorization})
        assert _error(response) == (401, "invalid_client"), authorization
        assert response.headers["www-authenticate"] == 'Basic realm="rsl"'
    response = client.post("/rsl/token", data=fields)
    assert _error(response) == (401, "invalid_client")
    twice = [("Authorization", setup.basic["Authorization"])] * 2
    assert _error(client.post("/rsl/token", data=fields, headers=twice)) == (401, "invalid_client")
    both = {**fields, "client_id": setup.client_id, "client_secret": setup.secret}
    assert _error(client.post("/rsl/token", data=both, headers=setup.basic)) == (401, "invalid_client")


def test_introspection_authentication(client: TestClient, setup: Setup, db: Session) -> None:
    access_token = _token(client, setup).json()["access_token"]
    response = client.post("/rsl/introspect", data={"token": access_token})
    assert _error(response) == (401, "invalid_client")
    bad = {"Authorization": "Bearer ftp_nosuchtoken"}
    assert _error(client.post("/rsl/introspect", data={"token": access_token}, headers=bad)) == (
        401,
        "invalid_client",
    )
    _, fan_token = create_api_token(db, user=setup.world.stranger, name="mine")
    db.commit()
    fan = {"Authorization": f"Bearer {fan_token}"}
    assert _error(client.post("/rsl/introspect", data={"token": access_token}, headers=fan)) == (
        403,
        "unauthorized_client",
    )
    # Another client of the same organisation learns nothing about this one's token.
    other_client, other_secret = create_client(db, org=setup.world.org, name="other")
    db.commit()
    other = {"Authorization": _basic(f"{other_client.id}:{other_secret}")}
    assert _introspect(client, access_token, other) == {"active": False}
    assert _error(client.post("/rsl/introspect", data={}, headers=setup.basic)) == (400, "invalid_request")


def test_revoking_the_client(client: TestClient, setup: Setup, db: Session) -> None:
    access_token = _token(client, setup).json()["access_token"]
    operator = {"Authorization": f"Bearer {setup.operator_token}"}
    assert _introspect(client, access_token, operator)["active"] is True
    revoke_client(db, client=get_client(db, setup.client_id))
    db.commit()
    assert _introspect(client, access_token, operator) == {"active": False}
    assert _error(_token(client, setup)) == (401, "invalid_client")


def test_terminating_the_deal(client: TestClient, setup: Setup, db: Session) -> None:
    access_token = _token(client, setup).json()["access_token"]
    terminate(db, deal=get_deal(db, setup.deal.id), side=Side.SELLER, reason="breach")
    db.commit()
    assert _introspect(client, access_token, setup.basic) == {"active": False}
    assert _error(_token(client, setup)) == (403, "unauthorized_client")


def test_key_rotation(client: TestClient, setup: Setup, settings: Settings) -> None:
    before = _token(client, setup).json()["access_token"]
    old_kid = client.get("/rsl/jwks.json").json()["keys"][0]["kid"]
    new_kid = rotate_signing_key(settings)  # e.g. from another process: the app picks it up from disk
    assert new_kid != old_kid
    after = _token(client, setup).json()["access_token"]
    jwks = client.get("/rsl/jwks.json").json()
    assert [k["kid"] for k in jwks["keys"]] == [new_kid, old_kid]
    keys = VerificationKeys.from_jwks(jwks)
    assert verify_license_token(before, keys=keys, audience=BASE).kid == old_kid
    assert verify_license_token(after, keys=keys, audience=BASE).kid == new_kid
    assert _introspect(client, before, setup.basic)["active"] is True


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"=",
        b"&&&",
        b"grant_type",
        b"license=%3C%21DOCTYPE%20x%20%5B%3C%21ENTITY%20a%20SYSTEM%20%22file%3A%2F%2F%2Fetc%2Fpasswd%22%3E%5D%3E"
        b"%3Clicense%3E%26a%3B%3C%2Flicense%3E&grant_type=client_credentials&resource=/@mira/*",
        b"grant_type=client_credentials&resource=%00&license=x",
        b"\x00\x01\x02",
    ],
)
def test_garbage_never_breaks_the_server(client: TestClient, setup: Setup, body: bytes) -> None:
    headers = {"Content-Type": "application/x-www-form-urlencoded", **setup.basic}
    for path in ("/rsl/token", "/rsl/introspect"):
        response = client.post(path, content=body, headers=headers)
        assert 400 <= response.status_code < 500, (path, response.text)
        assert response.json()["error"] in {"invalid_request", "invalid_license", "invalid_resource"}


def test_an_unexpected_failure_is_an_oauth_server_error(
    client: TestClient, setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("fairtrain.web.rsl.token_request", broken)
    response = _token(client, setup)
    assert _error(response) == (500, "server_error")
    assert "boom" not in response.text
