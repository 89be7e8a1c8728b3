from __future__ import annotations

import io

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fairtrain.accounts import service
from fairtrain.accounts.demo import DEMO_LOGINS, seed_demo
from fairtrain.accounts.models import User
from tests.helpers import STRONG_PASSWORD, csrf, log_in, post_form, sign_up


@pytest.fixture
def demo(db: Session) -> None:
    seed_demo(db, min_password_length=10)
    db.commit()


def _login_as(client: TestClient, role: str) -> None:
    login = next(entry for entry in DEMO_LOGINS if entry.role == role)
    assert log_in(client, login.email, login.password).status_code == 303


def test_home_explains_and_lists_creators(client: TestClient, demo: None) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert "license it" in page.text.lower() or "licence" in page.text.lower()
    assert "/@mira" in page.text and "Mira Okafor" in page.text
    assert 'href="/signup"' in page.text


def test_static_assets_are_vendored(client: TestClient) -> None:
    for path in (
        "/static/vendor/htmx/htmx.min.js",
        "/static/vendor/pico/pico.min.css",
        "/static/css/fairtrain.css",
    ):
        assert client.get(path).status_code == 200
    # Each vendored package ships with its licence.
    assert client.get("/static/vendor/htmx/LICENSE").text.startswith("Zero-Clause BSD")
    assert "MIT" in client.get("/static/vendor/pico/LICENSE.md").text
    assert "Apache License" in client.get("/static/vendor/swagger-ui/LICENSE").text


def test_fan_sign_up_logs_in_and_sees_account(client: TestClient, db: Session) -> None:
    response = sign_up(client, "New.Fan@example.com")
    assert response.status_code == 303
    assert response.headers["location"] == "/account"
    account = client.get("/account")
    assert "new.fan@example.com" in account.text
    assert '<span class="role">fan</span>' in account.text
    assert db.scalar(select(func.count(User.id))) == 1


def test_creator_sign_up_lands_on_their_page(client: TestClient) -> None:
    response = sign_up(client, "ines@example.com", kind="creator", handle="Ines_Art")
    assert response.headers["location"] == "/@ines_art"
    page = client.get("/@ines_art")
    assert page.status_code == 200
    assert "@ines_art" in page.text
    nav = client.get("/account").text
    assert 'href="/@ines_art"' in nav


@pytest.mark.parametrize(
    ("email", "password", "handle", "kind", "status", "message"),
    [
        ("bad-email", STRONG_PASSWORD, "", "fan", 422, "invalid email"),
        ("a@example.com", "short", "", "fan", 422, "at least 10"),
        ("a@example.com", "password1234", "", "fan", 422, "too common"),
        ("a@example.com", STRONG_PASSWORD, "", "creator", 422, "needs a handle"),
        ("a@example.com", STRONG_PASSWORD, "x!", "creator", 422, "handle must be"),
        ("mira@demo.example.com", STRONG_PASSWORD, "", "fan", 409, "already exists"),
        ("a@example.com", STRONG_PASSWORD, "mira", "creator", 409, "is taken"),
    ],
)
def test_sign_up_errors_are_shown_and_create_nothing(
    client: TestClient,
    db: Session,
    demo: None,
    email: str,
    password: str,
    handle: str,
    kind: str,
    status: int,
    message: str,
) -> None:
    before = db.scalar(select(func.count(User.id)))
    response = sign_up(client, email, password, kind=kind, handle=handle)
    assert response.status_code == status
    assert message in response.text
    assert 'data-testid="error"' in response.text
    assert db.scalar(select(func.count(User.id))) == before
    assert client.get("/account", follow_redirects=False).status_code == 303  # not logged in


def test_log_in_and_out(client: TestClient, demo: None) -> None:
    response = log_in(client, "fan@demo.example.com", "demo-fan-meadow-63")
    assert response.status_code == 303
    assert "fan@demo.example.com" in client.get("/account").text
    assert post_form(client, "/logout", {}, page="/account").status_code == 303
    assert client.get("/account", follow_redirects=False).headers["location"] == "/login?next=%2Faccount"


def test_wrong_password_shows_error(client: TestClient, demo: None) -> None:
    response = log_in(client, "fan@demo.example.com", "not-the-password")
    assert response.status_code == 401
    assert "wrong email or password" in response.text
    assert client.get("/account", follow_redirects=False).status_code == 303


def test_login_redirects_back_to_next_but_never_off_site(client: TestClient, demo: None) -> None:
    page = client.get("/login?next=/operator")
    assert 'name="next" value="/operator"' in page.text
    for target, expected in [
        ("/operator", "/operator"),
        ("https://evil.example/x", "/account"),
        ("//evil", "/account"),
    ]:
        client.cookies.clear()
        response = post_form(
            client,
            "/login",
            {"email": "operator@demo.example.com", "password": DEMO_LOGINS[0].password, "next": target},
        )
        assert response.headers["location"] == expected


def test_role_aware_navigation(client: TestClient, demo: None) -> None:
    anonymous = client.get("/").text
    assert 'href="/login"' in anonymous and 'href="/operator"' not in anonymous
    _login_as(client, "fan")
    fan = client.get("/").text
    assert 'href="/account"' in fan and 'href="/operator"' not in fan and "My page" not in fan
    client.cookies.clear()
    _login_as(client, "operator")
    assert 'href="/operator"' in client.get("/").text
    client.cookies.clear()
    _login_as(client, "creator")
    assert 'href="/@mira"' in client.get("/").text


def test_operator_page_needs_the_role(client: TestClient, demo: None) -> None:
    _login_as(client, "fan")
    denied = client.get("/operator")
    assert denied.status_code == 403
    assert "needs the operator role" in denied.text
    client.cookies.clear()
    _login_as(client, "operator")
    page = client.get("/operator")
    assert page.status_code == 200
    assert "licensing@demo.example.com" in page.text and "Northern Light Collective" in page.text


def test_creator_and_collective_pages(client: TestClient, demo: None) -> None:
    page = client.get("/@Mira")
    assert page.status_code == 200
    assert "Mira Okafor" in page.text and "Northern Light Collective" in page.text
    assert "Mira A. Okafor" not in page.text  # the legal name stays private
    collective = client.get("/collectives/northern-light")
    assert "Jonas Berg" in collective.text
    assert "Mira Okafor" in client.get("/creators").text
    assert "Northern Light" in client.get("/collectives").text
    missing = client.get("/@nobody")
    assert missing.status_code == 404
    assert "no creator @nobody" in missing.text


def test_change_password_ends_other_sessions(client: TestClient, app, demo: None) -> None:
    _login_as(client, "fan")
    with TestClient(app) as other:
        _login_as(other, "fan")
        wrong = post_form(
            client,
            "/account/password",
            {"current_password": "nope", "new_password": "a-brand-new-secret-5"},
            page="/account",
        )
        assert wrong.status_code == 401 and "current password is wrong" in wrong.text
        ok = post_form(
            client,
            "/account/password",
            {"current_password": "demo-fan-meadow-63", "new_password": "a-brand-new-secret-5"},
            page="/account",
        )
        assert ok.headers["location"] == "/account?notice=password-changed"
        assert client.get("/account").status_code == 200  # this browser stays in
        assert other.get("/account", follow_redirects=False).status_code == 303  # the other is logged out
    client.cookies.clear()
    assert log_in(client, "fan@demo.example.com", "a-brand-new-secret-5").status_code == 303


def test_creator_edits_profile_and_uploads_avatar(client: TestClient, demo: None) -> None:
    _login_as(client, "creator")
    response = post_form(
        client,
        "/account/profile",
        {"display_name": "Mira O.", "legal_name": "", "bio": "Harbours."},
        page="/account",
    )
    assert response.status_code == 303
    assert "Mira O." in client.get("/@mira").text
    assert client.get("/@mira/avatar").status_code == 404
    image = io.BytesIO()
    Image.new("RGB", (400, 300), (10, 120, 90)).save(image, "JPEG")
    upload = client.post(
        "/account/avatar",
        data={"csrf_token": csrf(client, "/account")},
        files={"avatar": ("me.jpg", image.getvalue(), "image/jpeg")},
        follow_redirects=False,
    )
    assert upload.status_code == 303
    avatar = client.get("/@mira/avatar")
    assert avatar.status_code == 200 and avatar.headers["content-type"] == "image/webp"
    bad = client.post(
        "/account/avatar",
        data={"csrf_token": csrf(client, "/account")},
        files={"avatar": ("x.jpg", b"not an image", "image/jpeg")},
    )
    assert bad.status_code == 422 and "not a JPEG" in bad.text
    assert client.get("/@mira/avatar").content == avatar.content


def test_api_token_shown_once_then_revoked(client: TestClient, demo: None) -> None:
    _login_as(client, "licensee")
    page = post_form(client, "/account/tokens", {"name": "crawler"}, page="/account")
    assert page.status_code == 200
    secret = page.text.split('data-testid="new-token">', 1)[1].split("<", 1)[0]
    assert secret.startswith("ftp_")
    assert secret not in client.get("/account").text  # never shown again
    headers = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/me", headers=headers).json()["email"] == "licensing@demo.example.com"
    token_id = client.get("/account").text.split("/account/tokens/", 1)[1].split("/revoke", 1)[0]
    assert post_form(client, f"/account/tokens/{token_id}/revoke", {}, page="/account").status_code == 303
    client.cookies.clear()
    assert client.get("/api/v1/me", headers=headers).status_code == 401


def test_session_cookie_flags(client: TestClient, demo: None) -> None:
    response = log_in(client, "fan@demo.example.com", "demo-fan-meadow-63")
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie


def test_cookie_is_secure_when_base_url_is_https(settings, demo: None) -> None:
    from fairtrain.app import create_app

    app = create_app(settings.model_copy(update={"base_url": "https://art.example.org"}))
    with TestClient(app, base_url="https://testserver") as client:
        response = log_in(client, "fan@demo.example.com", "demo-fan-meadow-63")
        assert "secure" in response.headers["set-cookie"].lower()
    app.state.engine.dispose()


def test_unknown_user_session_is_dropped(client: TestClient, db: Session, demo: None) -> None:
    _login_as(client, "fan")
    user = service.get_user_by_email(db, "fan@demo.example.com")
    db.delete(user)
    db.commit()
    assert client.get("/account", follow_redirects=False).status_code == 303


def test_handle_check_fragment(client: TestClient, demo: None) -> None:
    assert "is available" in client.get("/signup/handle-check", params={"handle": "New_One"}).text
    assert "@mira is taken" in client.get("/signup/handle-check", params={"handle": "Mira"}).text
    bad = client.get("/signup/handle-check", params={"handle": "<script>"}).text
    assert "handle must be" in bad and "<script>" not in bad
    assert "reserved" in client.get("/signup/handle-check", params={"handle": "admin"}).text


def test_public_pages_set_no_session_cookie(client: TestClient, demo: None) -> None:
    for path in ("/", "/@mira", "/creators", "/collectives/northern-light"):
        assert "set-cookie" not in client.get(path).headers, path
    assert "set-cookie" in client.get("/login").headers  # a form page starts a session for its CSRF token
