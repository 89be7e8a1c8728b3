"""Browser sessions (signed cookie, via Starlette's SessionMiddleware) and CSRF tokens."""

from __future__ import annotations

import binascii
import hmac
import json
import secrets
from base64 import b64decode

import itsdangerous
from starlette.requests import Request, cookie_parser

from fairtrain.accounts.models import User
from fairtrain.errors import Forbidden

__all__ = [
    "CsrfFailed",
    "SessionCookie",
    "check_csrf",
    "csrf_token",
    "end_session",
    "session_user_claims",
    "start_session",
]

_CSRF_KEY = "csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


class CsrfFailed(Forbidden):
    code = "csrf_failed"

    def __init__(self) -> None:
        super().__init__("the form's security token is missing or stale; reload the page and try again")


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created on first use (synchronizer-token pattern)."""
    token = request.session.get(_CSRF_KEY)
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        request.session[_CSRF_KEY] = token
    return token


async def check_csrf(request: Request) -> None:
    """Refuse an unsafe request whose form field or X-CSRF-Token header does not match the session."""
    if request.method in SAFE_METHODS:
        return
    expected = request.session.get(_CSRF_KEY)
    given = request.headers.get("x-csrf-token")
    if given is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        value = (await request.form()).get("csrf_token")
        given = value if isinstance(value, str) else None
    if not isinstance(expected, str) or not given or not hmac.compare_digest(expected, given):
        raise CsrfFailed()


def start_session(request: Request, user: User) -> None:
    """Log ``user`` in: a fresh session (new CSRF token) bound to their current session version."""
    request.session.clear()
    request.session.update({"uid": user.id, "sv": user.session_version})
    csrf_token(request)


def end_session(request: Request) -> None:
    request.session.clear()


def _claims(session: object) -> tuple[str, int] | None:
    if not isinstance(session, dict):
        return None
    uid, version = session.get("uid"), session.get("sv")
    if isinstance(uid, str) and isinstance(version, int) and not isinstance(version, bool):
        return uid, version
    return None


def session_user_claims(request: Request) -> tuple[str, int] | None:
    return _claims(request.session)


class SessionCookie:
    """Who a request's session cookie names, read the way Starlette's SessionMiddleware reads it (signed
    with the site's secret key, at most ``max_age`` seconds old), for code that answers before that
    middleware runs: the works' files (``web.gateway.MediaFront``). Read only: it never writes a cookie."""

    def __init__(self, *, secret_key: str, cookie_name: str, max_age: int | None) -> None:
        self.name = cookie_name
        self.max_age = max_age
        self._signer = itsdangerous.TimestampSigner(str(secret_key))

    def claims(self, cookie_header: str | None) -> tuple[str, int] | None:
        """(user id, session version) from a ``Cookie`` header; None without a valid session cookie."""
        if not cookie_header or self.name not in cookie_header:
            return None
        value = cookie_parser(cookie_header).get(self.name)
        if not value:
            return None
        try:
            data = self._signer.unsign(value.encode("utf-8"), max_age=self.max_age)
            return _claims(json.loads(b64decode(data)))
        except (itsdangerous.BadSignature, binascii.Error, ValueError):
            return None
