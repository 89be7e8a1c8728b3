"""CSRF, throttling, body limits, and the error pages."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fairtrain.accounts.demo import seed_demo
from fairtrain.accounts.models import User
from fairtrain.web import pages
from tests.helpers import STRONG_PASSWORD, csrf, log_in


@pytest.fixture
def demo(db: Session) -> None:
    seed_demo(db, min_password_length=10)
    db.commit()


def _form_routes() -> list[str]:
    return sorted(
        route.path.replace("{token_id}", "tok_x")
        for route in pages.router.routes
        if "POST" in getattr(route, "methods", set())
    )


@pytest.mark.parametrize("path", _form_routes())
def test_every_form_post_without_csrf_is_refused(client: TestClient, demo: None, path: str) -> None:
    log_in(client, "mira@demo.example.com", "demo-creator-harbour-17")
    for data in ({}, {"csrf_token": "forged"}):
        response = client.post(path, data=data, follow_redirects=False)
        assert response.status_code == 403, path
        assert "security token" in response.text


def test_csrf_token_from_another_session_is_refused(client: TestClient, app: FastAPI, db: Session) -> None:
    with TestClient(app) as attacker:
        token = csrf(attacker, "/signup")
    response = client.post(
        "/signup", data={"email": "v@example.com", "password": STRONG_PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 403
    assert db.scalar(select(func.count(User.id))) == 0


def test_htmx_header_token_is_accepted(client: TestClient, demo: None) -> None:
    token = csrf(client)
    response = client.post(
        "/login",
        data={"email": "fan@demo.example.com", "password": "demo-fan-meadow-63"},
        headers={"X-CSRF-Token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303


def test_login_throttled_after_five_failures(client: TestClient, app: FastAPI, demo: None) -> None:
    for _ in range(5):
        assert log_in(client, "fan@demo.example.com", "wrong-password-x").status_code == 401
    throttled = log_in(client, "fan@demo.example.com", "demo-fan-meadow-63")
    assert throttled.status_code == 429
    assert 0 < int(throttled.headers["retry-after"]) <= 900
    assert "too many failed log-ins" in throttled.text
    # Another account from the same address is not locked out.
    assert log_in(client, "mira@demo.example.com", "demo-creator-harbour-17").status_code == 303


def test_oversized_body_gets_413_and_changes_nothing(settings, demo: None, db: Session) -> None:
    from fairtrain.app import create_app

    app = create_app(settings.model_copy(update={"max_body_bytes": 1024}))
    with TestClient(app) as client:
        token = csrf(client, "/signup")
        big = {
            "email": "big@example.com",
            "password": STRONG_PASSWORD,
            "csrf_token": token,
            "pad": "x" * 5000,
        }
        response = client.post("/signup", data=big)
        assert response.status_code == 413
        assert "1,024-byte limit" in response.text
        api = client.patch("/api/v1/creators/mira", content=b"{" + b" " * 4000 + b"}")
        assert api.status_code == 413 and api.json()["code"] == "body_too_large"

        def chunks():
            for _ in range(10):
                yield b"x" * 500

        streamed = client.post(
            "/signup", content=chunks(), headers={"content-type": "application/x-www-form-urlencoded"}
        )
        assert streamed.status_code == 413
    app.state.engine.dispose()
    assert db.scalar(select(func.count(User.id)).where(User.email == "big@example.com")) == 0


def test_404_is_a_page_for_browsers_and_json_for_the_api(client: TestClient) -> None:
    page = client.get("/no/such/page")
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert "Page not found" in page.text
    api = client.get("/api/v1/nothing")
    assert api.status_code == 404 and api.json() == {
        "detail": "Nothing here at /api/v1/nothing.",
        "code": "not_found",
    }
    assert client.get("/no/such", headers={"accept": "application/json"}).json()["code"] == "not_found"


def test_500_is_a_page_and_logged(app: FastAPI, caplog: pytest.LogCaptureFixture) -> None:
    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("kaput")

    @app.get("/api/v1/boom")
    def api_boom() -> None:
        raise RuntimeError("kaput")

    with TestClient(app, raise_server_exceptions=False) as client:
        page = client.get("/boom")
        assert page.status_code == 500 and "Something went wrong" in page.text and "kaput" not in page.text
        api = client.get("/api/v1/boom")
        assert api.status_code == 500 and api.json()["code"] == "server_error"
    assert "kaput" in caplog.text


def test_405_and_422_pages(client: TestClient) -> None:
    assert client.delete("/").status_code == 405
    missing = client.post("/login", data={"csrf_token": csrf(client)})
    assert missing.status_code == 422
    assert "email" in missing.text


def test_security_headers_on_pages_errors_and_api(client: TestClient) -> None:
    for path in ("/", "/no/such/page", "/api/v1/creators", "/static/css/fairtrain.css"):
        headers = client.get(path).headers
        assert headers["x-content-type-options"] == "nosniff", path
        assert headers["x-frame-options"] == "DENY", path
        assert "strict-transport-security" not in headers  # http base URL
