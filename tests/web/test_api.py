from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from fairtrain.accounts import service
from fairtrain.accounts.demo import seed_demo
from fairtrain.accounts.tokens import create_api_token


@pytest.fixture
def tokens(db: Session) -> dict[str, str]:
    seed_demo(db, min_password_length=10)
    result = {}
    for email in ("mira@demo.example.com", "jonas@demo.example.com", "operator@demo.example.com"):
        user = service.get_user_by_email(db, email)
        result[email.split("@")[0]] = create_api_token(db, user=user, name="test")[1]
    db.commit()
    return result


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_me_needs_a_token(client: TestClient, tokens: dict[str, str]) -> None:
    anonymous = client.get("/api/v1/me")
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == "Bearer"
    assert "Bearer" in anonymous.json()["detail"]
    forged = client.get("/api/v1/me", headers=_auth("ftp_forged"))
    assert forged.status_code == 401 and forged.json()["code"] == "invalid_token"
    assert forged.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    malformed = client.get("/api/v1/me", headers={"Authorization": "Basic Zm9vOmJhcg=="})
    assert malformed.status_code == 401


def test_me(client: TestClient, tokens: dict[str, str]) -> None:
    me = client.get("/api/v1/me", headers=_auth(tokens["mira"])).json()
    assert me["email"] == "mira@demo.example.com"
    assert me["roles"] == ["creator"]
    assert me["creator"]["handle"] == "mira"
    assert me["creator"]["url"] == "http://testserver/@mira"
    assert me["id"].startswith("usr_")
    assert me["created_at"].endswith(("Z", "+00:00"))


def test_creators_list_and_get(client: TestClient, tokens: dict[str, str]) -> None:
    page = client.get("/api/v1/creators").json()
    assert page["total"] == 2
    assert [c["handle"] for c in page["items"]] == ["jonas", "mira"]
    assert "legal_name" not in page["items"][0]
    second = client.get("/api/v1/creators", params={"limit": 1, "offset": 1}).json()
    assert [c["handle"] for c in second["items"]] == ["mira"] and second["limit"] == 1
    assert client.get("/api/v1/creators/mira").json()["display_name"] == "Mira Okafor"
    missing = client.get("/api/v1/creators/nobody")
    assert missing.status_code == 404 and missing.json()["code"] == "unknown_creator"
    bad = client.get("/api/v1/creators", params={"limit": 0})
    assert bad.status_code == 422 and "limit" in bad.json()["detail"]


def test_collectives_list_and_get(client: TestClient, tokens: dict[str, str]) -> None:
    page = client.get("/api/v1/collectives").json()
    assert page["total"] == 1
    collective = client.get("/api/v1/collectives/northern-light").json()
    assert collective["name"] == "Northern Light Collective"
    assert sorted(m["creator"]["handle"] for m in collective["members"]) == ["jonas", "mira"]
    assert all(m["left_at"] is None for m in collective["members"])
    assert client.get("/api/v1/collectives/none").status_code == 404


def test_update_creator_by_owner_operator_not_others(client: TestClient, tokens: dict[str, str]) -> None:
    ok = client.patch("/api/v1/creators/mira", json={"bio": "New bio."}, headers=_auth(tokens["mira"]))
    assert ok.status_code == 200 and ok.json()["bio"] == "New bio."
    assert ok.json()["display_name"] == "Mira Okafor"  # untouched
    other = client.patch("/api/v1/creators/mira", json={"bio": "Hacked"}, headers=_auth(tokens["jonas"]))
    assert other.status_code == 403
    op = client.patch(
        "/api/v1/creators/mira", json={"display_name": "Mira"}, headers=_auth(tokens["operator"])
    )
    assert op.status_code == 200
    assert client.patch("/api/v1/creators/mira", json={"bio": "x"}).status_code == 401


def test_malformed_and_invalid_json_get_422_with_a_message(
    client: TestClient, tokens: dict[str, str]
) -> None:
    headers = {**_auth(tokens["mira"]), "content-type": "application/json"}
    broken = client.patch("/api/v1/creators/mira", content=b'{"bio": ', headers=headers)
    assert broken.status_code == 422
    assert broken.json()["detail"] == "the request body is not valid JSON"
    wrong = client.patch("/api/v1/creators/mira", json={"display_name": ""}, headers=headers)
    assert wrong.status_code == 422 and "display_name" in wrong.json()["detail"]
    unknown = client.patch("/api/v1/creators/mira", json={"handle": "x"}, headers=headers)
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["loc"] == ["body", "handle"]
    assert client.get("/api/v1/creators/mira").json()["display_name"] == "Mira Okafor"


def test_session_cookie_works_for_reads_but_writes_need_csrf(
    client: TestClient, tokens: dict[str, str]
) -> None:
    from tests.helpers import csrf, log_in

    log_in(client, "mira@demo.example.com", "demo-creator-harbour-17")
    assert client.get("/api/v1/me").json()["email"] == "mira@demo.example.com"
    assert client.patch("/api/v1/creators/mira", json={"bio": "x"}).status_code == 403
    token = csrf(client, "/account")
    assert (
        client.patch("/api/v1/creators/mira", json={"bio": "x"}, headers={"X-CSRF-Token": token}).status_code
        == 200
    )


def test_openapi_and_docs(client: TestClient) -> None:
    spec = client.get("/api/openapi.json").json()
    assert {"/api/v1/me", "/api/v1/creators", "/api/v1/creators/{handle}", "/api/v1/collectives"} <= set(
        spec["paths"]
    )
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
    patch = spec["paths"]["/api/v1/creators/{handle}"]["patch"]["responses"]
    for status in ("401", "403", "404", "422"):
        assert patch[status]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ApiError"
        }
    docs = client.get("/api/docs")
    assert docs.status_code == 200 and "/static/vendor/swagger-ui/swagger-ui-bundle.js" in docs.text
    assert client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js").status_code == 200


def test_healthz(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"


def test_healthz_reports_an_unmigrated_database(tmp_path) -> None:
    from fairtrain.app import create_app
    from fairtrain.config import Settings

    app = create_app(Settings(data_dir=tmp_path, secret_key="k" * 40))  # type: ignore[arg-type]
    with TestClient(app) as client:
        response = client.get("/healthz")
    app.state.engine.dispose()
    assert response.status_code == 503
    assert "fairtrain init" in response.json()["database"]
