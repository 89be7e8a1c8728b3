"""Small helpers the web tests share."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from httpx2 import Response

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')

STRONG_PASSWORD = "correct-horse-battery-staple-9"


def csrf_from(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "page has no CSRF field"
    return match.group(1)


def csrf(client: TestClient, path: str = "/login") -> str:
    """The CSRF token of the client's session, read from a form page."""
    return csrf_from(client.get(path).text)


def post_form(client: TestClient, path: str, data: dict[str, str], *, page: str = "/login") -> Response:
    return client.post(path, data={**data, "csrf_token": csrf(client, page)}, follow_redirects=False)


def sign_up(
    client: TestClient, email: str, password: str = STRONG_PASSWORD, *, kind: str = "fan", handle: str = ""
) -> Response:
    return post_form(
        client,
        "/signup",
        {"email": email, "password": password, "kind": kind, "handle": handle},
        page="/signup",
    )


def log_in(client: TestClient, email: str, password: str = STRONG_PASSWORD) -> Response:
    return post_form(client, "/login", {"email": email, "password": password})


def log_in_as(client: TestClient, email: str) -> TestClient:
    """The client, logged in as ``email`` (password ``STRONG_PASSWORD``) after forgetting any other login."""
    client.cookies.clear()
    assert log_in(client, email).status_code == 303
    return client
