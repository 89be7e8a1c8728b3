"""Browser sessions (signed cookie, via Starlette's SessionMiddleware) and CSRF tokens."""

from __future__ import annotations

import hmac
import secrets

from starlette.requests import Request

from fairtrain.accounts.models import User
from fairtrain.errors import Forbidden

__all__ = ["CsrfFailed", "check_csrf", "csrf_token", "end_session", "session_user_claims", "start_session"]

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


def session_user_claims(request: Request) -> tuple[str, int] | None:
    uid, version = request.session.get("uid"), request.session.get("sv")
    if isinstance(uid, str) and isinstance(version, int):
        return uid, version
    return None
